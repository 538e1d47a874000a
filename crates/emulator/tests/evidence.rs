//! The evidence corpus (`spec/evidence/`): what the vendors' own material shows their services send
//! and accept. Every response fixture must deserialize into the generated client types and pass the
//! conformance check; every request fixture is sent to the emulator, which must answer the status the
//! vendor's material expects. The emulator's own answers are checked to be complete, so the tolerant
//! response schemas hide nothing about what it sends.

use std::path::{Path, PathBuf};

use chrono::DateTime;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use streamspec_client::aioz::types as aioz;
use streamspec_client::storm::types as storm;
use streamspec_conformance::{Api, Catalog};
use streamspec_emulator::config::AiozAccount;
use streamspec_emulator::{Config, Credentials, Emulator};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fixture {
    name: String,
    api: String,
    operation: String,
    direction: Direction,
    source: Source,
    verdict: Verdict,
    note: Option<String>,
    /// For a response: its status.
    status: Option<u16>,
    /// For a request: how it is sent.
    request: Option<Request>,
    /// For a request: the status the vendor's material expects, as the emulator must answer it.
    expect_status: Option<u16>,
    /// The body (absent for a request without one).
    payload: Option<Value>,
}

#[derive(Debug, Deserialize, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Direction {
    Request,
    Response,
}

#[derive(Debug, Deserialize, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Verdict {
    Accepted,
    Refused,
}

/// A public repository at a commit, a public page, or the upstream `streamspec-conformance proxy
/// --record` recorded an answer of: where the payload came from.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Source {
    repository: Option<String>,
    path: Option<String>,
    commit: Option<String>,
    page: Option<String>,
    recorded: Option<String>,
    /// Where in the file or on the page.
    #[serde(rename = "where")]
    location: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    method: String,
    /// `{id}` is a key made for the fixture and `{stream_key}` its `stream_key`; `{streaming_key}` a
    /// key with a streaming made for the fixture, `{streaming}` (here or in the payload) that
    /// streaming; `{unknown}` a UUID nothing has.
    path: String,
    query: Option<String>,
    content_type: Option<String>,
    /// `basic` (the Go SDK), `node` (Basic and both `stream-*` headers, the Node SDK), `bearer`, `none`.
    auth: String,
    /// Which emulator account sends it (AIOZ): 1 plays the vendor tests' "anonymous" second account.
    #[serde(default)]
    account: usize,
}

fn corpus() -> Vec<Fixture> {
    fixtures_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spec/evidence"))
}

/// Every fixture in `dir`, each checked to be named after its file.
fn fixtures_in(dir: &Path) -> Vec<Fixture> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).unwrap();
            let fixture: Fixture = serde_json::from_str(&text)
                .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
            assert_eq!(
                path.file_stem().unwrap().to_str().unwrap(),
                fixture.name,
                "a fixture's file is named after it"
            );
            fixture
        })
        .collect()
}

fn api(fixture: &Fixture) -> Api {
    match fixture.api.as_str() {
        "aioz" => Api::Aioz,
        "storm" => Api::Storm,
        other => panic!("{}: unknown api {other}", fixture.name),
    }
}

#[test]
fn every_fixture_names_its_source() {
    let fixtures = corpus();
    assert!(fixtures.len() >= 30, "only {} fixtures", fixtures.len());
    fixtures.iter().for_each(assert_well_formed);
}

/// A fixture names one source and the operation it belongs to, and has what its direction needs.
fn assert_well_formed(fixture: &Fixture) {
    let source = &fixture.source;
    let in_repository = source.repository.is_some()
        && source.path.is_some()
        && source.commit.as_ref().is_some_and(|commit| commit.len() == 40);
    let on_page = source.page.as_ref().is_some_and(|page| page.starts_with("https://"));
    let recorded = source.recorded.as_ref().is_some_and(|upstream| upstream.starts_with("http"));
    assert!(
        [in_repository, on_page, recorded].iter().filter(|kind| **kind).count() == 1
            && !source.location.is_empty(),
        "{}: a source is a repository, path and commit, a page, or a recording's upstream",
        fixture.name
    );
    assert!(Catalog::get().operation(api(fixture), &fixture.operation).is_some());
    match fixture.direction {
        Direction::Response => {
            assert!(fixture.status.is_some() && fixture.payload.is_some(), "{}", fixture.name)
        }
        Direction::Request => {
            assert!(fixture.request.is_some() && fixture.expect_status.is_some())
        }
    }
    if fixture.verdict == Verdict::Refused {
        assert!(fixture.note.is_some(), "{}: a refused fixture says why", fixture.name);
    }
}

fn parses<T: DeserializeOwned>(payload: &Value) -> Result<(), String> {
    serde_json::from_value::<T>(payload.clone()).map(drop).map_err(|error| error.to_string())
}

/// Whether the generated client type for this response accepts the payload.
fn client_parses(api: Api, operation: &str, status: u16, payload: &Value) -> Result<(), String> {
    match (api, operation, status) {
        (
            Api::Aioz,
            "create_live_stream_key" | "get_live_stream_key" | "update_live_stream_key",
            200,
        ) => parses::<aioz::LiveStreamKeyResponse>(payload),
        (Api::Aioz, "list_live_stream_keys", 200) => {
            parses::<aioz::LiveStreamKeyListResponse>(payload)
        }
        (Api::Aioz, "delete_live_stream_key", 200) => {
            parses::<aioz::DeleteLiveStreamKeyResponse>(payload)
        }
        (Api::Aioz, "create_streaming" | "get_streaming", 200) => {
            parses::<aioz::StreamingResponse>(payload)
        }
        (Api::Aioz, "list_streamings" | "list_live_stream_media", 200) => {
            parses::<aioz::StreamingListResponse>(payload)
        }
        (Api::Aioz, "update_streaming" | "delete_streaming" | "delete_multicast", 200) => {
            parses::<aioz::MessageResponse>(payload)
        }
        (Api::Aioz, "get_multicast" | "upsert_multicast", 200) => {
            parses::<aioz::MulticastResponse>(payload)
        }
        (Api::Aioz, "get_streaming_statistic", 200) => {
            parses::<aioz::StreamingStatisticResponse>(payload)
        }
        (Api::Aioz, _, 400..) => parses::<aioz::ErrorResponse>(payload),
        (Api::Storm, "login", 200) => parses::<storm::LoginResponse>(payload),
        (Api::Storm, "delete_application", 200) => parses::<storm::MessageResponse>(payload),
        (Api::Storm, "get_application_settings", 200) => {
            parses::<storm::ApplicationSettingsResponse>(payload)
        }
        (Api::Storm, "update_ingest_settings", 200) => {
            parses::<storm::IngestSettingsResponse>(payload)
        }
        (Api::Storm, "create_application", 201) => parses::<storm::ApplicationResponse>(payload),
        (Api::Storm, "create_stream", 201) => parses::<storm::StreamResponse>(payload),
        (Api::Storm, _, 400..) => parses::<storm::ErrorResponse>(payload),
        _ => panic!("no client type listed for {api} {operation} {status}"),
    }
}

fn conforms(api: Api, operation: &str, status: u16, payload: &Value) -> Result<(), String> {
    let schema = Catalog::get().operation(api, operation).unwrap().response(status);
    let schema = schema.unwrap_or_else(|| panic!("{api} {operation} documents no {status}"));
    schema.validate(payload).map_err(|violations| format!("{violations:?}"))
}

#[test]
fn every_vendor_response_parses_and_conforms() {
    let responses: Vec<Fixture> =
        corpus().into_iter().filter(|f| f.direction == Direction::Response).collect();
    responses.iter().for_each(assert_response_verdict);
    assert!(responses.len() >= 10, "only {} responses", responses.len());
}

/// An accepted response parses into the client's type and conforms; a refused one does neither.
fn assert_response_verdict(fixture: &Fixture) {
    let (api, status) = (api(fixture), fixture.status.unwrap());
    let payload = fixture.payload.as_ref().unwrap();
    let parsed = client_parses(api, &fixture.operation, status, payload);
    let valid = conforms(api, &fixture.operation, status, payload);
    match fixture.verdict {
        Verdict::Accepted => {
            assert_eq!(parsed, Ok(()), "{}: the client type refuses it", fixture.name);
            assert_eq!(valid, Ok(()), "{}: the conformance check refuses it", fixture.name);
        }
        Verdict::Refused => {
            assert!(parsed.is_err() && valid.is_err(), "{}: accepted", fixture.name)
        }
    }
}

/// `streamspec-conformance proxy --record` in front of the emulator: each exchange becomes a request
/// and a response fixture of the corpus. Both pass the corpus's checks, and each request, sent to a
/// fresh emulator as the corpus sends it, gets the status the upstream answered.
#[tokio::test]
async fn fixtures_recorded_by_the_proxy_pass_the_corpus_checks() {
    use streamspec_conformance::proxy::{Proxy, ProxyOptions};
    let running = start().await;
    let dir = std::env::temp_dir().join(format!("streamspec-recorded-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let options = ProxyOptions {
        record: Some(dir.clone()),
        report: Some(dir.with_extension("jsonl")),
        ..ProxyOptions::default()
    };
    let proxy = Proxy::new(Api::Aioz, running.base.parse().unwrap(), options).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let through = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn({
        let proxy = proxy.clone();
        async move { proxy.serve(listener, std::future::pending()).await }
    });
    use reqwest::Method;
    let account = &running.credentials.aioz_accounts[0];
    let send = |method: Method, path: String, body: Option<Value>| {
        let mut request = running
            .http
            .request(method, format!("{through}/api{path}"))
            .bearer_auth(&account.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move {
            let answer = request.send().await.unwrap();
            (answer.status().as_u16(), answer.json::<Value>().await.unwrap())
        }
    };
    let (_, created) =
        send(Method::POST, "/live_streams".into(), Some(serde_json::json!({"name": "recorded"})))
            .await;
    let (id, stream_key) = (&created["data"]["id"], &created["data"]["stream_key"]);
    let (id, stream_key) = (id.as_str().unwrap(), stream_key.as_str().unwrap());
    let unknown = uuid::Uuid::new_v4();
    assert_eq!(send(Method::GET, format!("/live_streams/{unknown}"), None).await.0, 404);
    assert_eq!(send(Method::GET, "/live_streams/not-an-id".to_owned(), None).await.0, 400);
    assert_eq!(send(Method::GET, format!("/live_streams/{id}"), None).await.0, 200);
    let title = serde_json::json!({"title": "recorded"});
    let (status, streaming) =
        send(Method::POST, format!("/live_streams/{id}/streamings"), Some(title)).await;
    assert_eq!(status, 200);
    let streaming = streaming["data"]["id"].as_str().unwrap();
    let path = format!("/live_streams/{id}/streamings/{streaming}");
    assert_eq!(send(Method::GET, path, None).await.0, 200);
    let path = format!("/live_streams/multicast/{stream_key}");
    // A destination's URL carries the platform's stream key.
    let urls = serde_json::json!({"multicast_urls": ["rtmp://192.0.2.1/live/DESTINATION-KEY"]});
    assert_eq!(send(Method::POST, path, Some(urls)).await.0, 200);
    let refused = running
        .http
        .get(format!("{through}/api/live_streams"))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    let recorded = fixtures_in(&dir);
    let (requests, responses): (Vec<&Fixture>, Vec<&Fixture>) =
        recorded.iter().partition(|fixture| fixture.direction == Direction::Request);
    assert_eq!((requests.len(), responses.len()), (8, 8), "a request and an answer an exchange");
    recorded.iter().for_each(assert_well_formed);
    responses.iter().copied().for_each(assert_response_verdict);
    let text: String = recorded.iter().map(|fixture| format!("{fixture:?}")).collect();
    for secret in [stream_key, account.token.as_str(), "not-a-token", "DESTINATION-KEY"] {
        assert!(!text.contains(secret), "a credential was recorded");
    }
    let fresh = start().await;
    let requests: Vec<Fixture> =
        recorded.into_iter().filter(|f| f.direction == Direction::Request).collect();
    assert_eq!(fresh.answers_as_expected(&requests).await, 8);
    assert_eq!(proxy.summary().violations, 0);
}

/// The tolerant reader still refuses what is wrong: a value of the wrong type.
#[test]
fn a_wrong_type_in_a_vendor_response_still_fails() {
    let fixtures = corpus();
    let payload = |name: &str| fixtures.iter().find(|f| f.name == name).unwrap().payload.clone();
    let cases = [
        (
            "aioz-docs-create-response",
            "/data/save",
            Value::from("yes"),
            Api::Aioz,
            "create_live_stream_key",
            200,
        ),
        (
            "aioz-docs-create-response",
            "/data/id",
            Value::from(7),
            Api::Aioz,
            "create_live_stream_key",
            200,
        ),
        (
            "aioz-openapi-create-response",
            "/data/type",
            Value::from(3),
            Api::Aioz,
            "create_live_stream_key",
            200,
        ),
        (
            "aioz-openapi-list-response",
            "/data/total",
            Value::from("0"),
            Api::Aioz,
            "list_live_stream_keys",
            200,
        ),
        ("aioz-go-error-body", "/message", Value::from(404), Api::Aioz, "get_live_stream_key", 404),
        (
            "storm-settings-edge-response",
            "/data/type",
            Value::from(1),
            Api::Storm,
            "get_application_settings",
            200,
        ),
        ("storm-login-response", "/data/expireDate", Value::from("soon"), Api::Storm, "login", 200),
    ];
    for (name, pointer, wrong, api, operation, status) in cases {
        let mut payload = payload(name).unwrap();
        *payload.pointer_mut(pointer).unwrap() = wrong;
        assert!(
            client_parses(api, operation, status, &payload).is_err(),
            "{name} {pointer}: parsed"
        );
        assert!(conforms(api, operation, status, &payload).is_err(), "{name} {pointer}: conforms");
    }
    // And what only a real service sends parses: upper case, `null` settings, a new enum value.
    let settings: storm::ApplicationSettingsResponse =
        serde_json::from_value(payload("storm-settings-edge-response").unwrap()).unwrap();
    assert_eq!(settings.data.type_.map(|t| t.to_string()).as_deref(), Some("EDGE"));
    let created: aioz::LiveStreamKeyResponse =
        serde_json::from_value(payload("aioz-docs-create-response").unwrap()).unwrap();
    assert_eq!(created.data.display_name(), Some("live_streaming_title"));
    let unknown: aioz::LiveStreamKeyResponse =
        serde_json::from_value(payload("aioz-openapi-get-response").unwrap()).unwrap();
    assert_eq!(unknown.data.type_, Some(streamspec_types::Open::Unknown("type".to_owned())));
    let setting: storm::StringSetting =
        serde_json::from_value(serde_json::json!({"editable": true, "value": null})).unwrap();
    assert_eq!(setting.value, None);
}

struct Running {
    base: String,
    credentials: Credentials,
    http: reqwest::Client,
    storm_token: String,
}

async fn start() -> Running {
    // Two accounts: the vendor's tests run a second, "anonymous" one against the first one's keys.
    let account = |n: &str| AiozAccount {
        user_id: format!("user-{n}"),
        public_key: format!("pk-{n}"),
        secret_key: format!("sk-{n}"),
        token: format!("token-{n}"),
    };
    let config = Config {
        db: PathBuf::from(":memory:"),
        debug: true,
        aioz_accounts: vec![account("main"), account("anonymous")],
        ..Config::default()
    };
    let emulator = Emulator::new(&config).unwrap();
    let credentials = emulator.credentials().clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { emulator.serve(listener, std::future::pending()).await.unwrap() });
    let http = reqwest::Client::new();
    let user = &credentials.storm_users[0];
    let login = serde_json::json!({"username": user.username, "password": user.password});
    let answer: Value = http
        .post(format!("{base}/api/auth/login"))
        .json(&login)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let storm_token = answer["data"]["accessToken"].as_str().unwrap().to_owned();
    Running { base, credentials, http, storm_token }
}

impl Running {
    /// A request as the fixture describes it, with the credentials of the emulator's accounts.
    fn request(
        &self,
        fixture: &Fixture,
        path: &str,
        payload: Option<&Value>,
    ) -> reqwest::RequestBuilder {
        let request = fixture.request.as_ref().unwrap();
        let method = request.method.parse().unwrap();
        let mut url = format!("{}{path}", self.base);
        if let Some(query) = &request.query {
            url = format!("{url}?{query}");
        }
        let mut builder = self.http.request(method, url);
        let account = &self.credentials.aioz_accounts[request.account];
        builder = match (fixture.api.as_str(), request.auth.as_str()) {
            ("aioz", "basic") => builder.basic_auth(&account.public_key, Some(&account.secret_key)),
            ("aioz", "node") => builder
                .basic_auth(&account.public_key, Some(&account.secret_key))
                .header("stream-public-key", &account.public_key)
                .header("stream-secret-key", &account.secret_key),
            ("aioz", "bearer") => builder.bearer_auth(&account.token),
            ("storm", "bearer") => builder.bearer_auth(&self.storm_token),
            (_, "none") => builder,
            (api, auth) => panic!("{}: no auth {auth} for {api}", fixture.name),
        };
        if let Some(payload) = payload {
            builder = builder.body(serde_json::to_vec(payload).unwrap());
        }
        if let Some(content_type) = &request.content_type {
            builder = builder.header("content-type", content_type);
        }
        builder
    }

    /// Sends each request fixture, as it describes it, and checks the emulator answers its expected
    /// status with a complete body; answers how many it sent.
    async fn answers_as_expected(&self, requests: &[Fixture]) -> usize {
        for fixture in requests {
            let (path, payload) = self.fill(fixture).await;
            let response = self.request(fixture, &path, payload.as_ref()).send().await.unwrap();
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap();
            assert_eq!(Some(status), fixture.expect_status, "{}: {body}", fixture.name);
            match fixture.verdict {
                Verdict::Accepted if status == 401 => {} // the shape was accepted; the user is unknown
                Verdict::Accepted => assert!(status < 300, "{}", fixture.name),
                Verdict::Refused => assert!((400..500).contains(&status), "{}", fixture.name),
            }
            if fixture.api == "aioz" {
                assert_complete_aioz(&fixture.operation, status, &body);
            } else {
                assert_complete_storm(&fixture.operation, status, &body);
            }
        }
        requests.len()
    }

    /// `path` of account 0's AIOZ API, answering the response's `data`.
    async fn aioz_post(&self, path: &str, body: Value) -> Value {
        let account = &self.credentials.aioz_accounts[0];
        let created: Value = self
            .http
            .post(format!("{}/api{path}", self.base))
            .bearer_auth(&account.token)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        created["data"].clone()
    }

    /// A fresh key of account 0: its `id` and `stream_key`.
    async fn new_key(&self) -> (String, String) {
        let key = self.aioz_post("/live_streams", serde_json::json!({"name": "evidence"})).await;
        (key["id"].as_str().unwrap().to_owned(), key["stream_key"].as_str().unwrap().to_owned())
    }

    /// A fresh key with a streaming made on it: the key's `id` and the streaming's.
    async fn new_streaming(&self) -> (String, String) {
        let (key, _) = self.new_key().await;
        let body = serde_json::json!({"title": "evidence"});
        let streaming = self.aioz_post(&format!("/live_streams/{key}/streamings"), body).await;
        (key, streaming["id"].as_str().unwrap().to_owned())
    }

    /// The fixture's path and payload with their placeholders filled in.
    async fn fill(&self, fixture: &Fixture) -> (String, Option<Value>) {
        let path = &fixture.request.as_ref().unwrap().path;
        let payload = fixture.payload.as_ref().map(Value::to_string).unwrap_or_default();
        let both = format!("{path} {payload}");
        let mut values = vec![("{unknown}", uuid::Uuid::new_v4().to_string())];
        if both.contains("{id}") || both.contains("{stream_key}") {
            let (id, stream_key) = self.new_key().await;
            values.extend([("{id}", id), ("{stream_key}", stream_key)]);
        }
        if both.contains("{streaming") {
            let (key, streaming) = self.new_streaming().await;
            values.extend([("{streaming_key}", key), ("{streaming}", streaming)]);
        }
        let fill = |text: &str| {
            values.iter().fold(text.to_owned(), |text, (placeholder, value)| {
                text.replace(placeholder, value)
            })
        };
        let filled = fill(&payload);
        let payload = fixture.payload.as_ref().map(|_| serde_json::from_str(&filled).unwrap());
        (fill(path), payload)
    }
}

#[tokio::test]
async fn the_emulator_answers_what_the_vendors_material_expects() {
    let running = start().await;
    let requests: Vec<Fixture> =
        corpus().into_iter().filter(|f| f.direction == Direction::Request).collect();
    let checked = running.answers_as_expected(&requests).await;
    assert!(checked >= 25, "only {checked} requests");
}

/// A value the schema `schema` (of the bundle `defs`) accepts, other than its default.
fn sample(defs: &Value, schema: &Value) -> Value {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/$defs/");
        return sample(defs, &defs[name]);
    }
    if let Some(values) = schema["enum"].as_array() {
        return values.iter().find(|value| Some(*value) != schema.get("default")).unwrap().clone();
    }
    match schema["type"].as_str() {
        Some("boolean") => Value::Bool(schema["default"] != Value::Bool(true)),
        Some("integer") => Value::from(7),
        Some("string") => Value::String("kept".to_owned()),
        other => panic!("no sample for a {other:?} field; extend `sample`: {schema}"),
    }
}

/// Every field a create or an update of a key accepts is kept and answered back, read from the
/// spec's own schemas: a field added to the spec that the emulator accepts but drops fails here.
#[tokio::test]
async fn every_field_a_key_accepts_is_kept() {
    let bundle: Value =
        serde_json::from_str(include_str!("../../conformance/schemas/aioz.json")).unwrap();
    let defs = &bundle["$defs"];
    let running = start().await;
    let token = &running.credentials.aioz_accounts[0].token;
    let (id, _) = running.new_key().await;
    for (operation, path) in [
        ("create_live_stream_key", "/api/live_streams".to_owned()),
        ("update_live_stream_key", format!("/api/live_streams/{id}")),
    ] {
        let described = &bundle["x-operations"][operation];
        let method: reqwest::Method = described["method"].as_str().unwrap().parse().unwrap();
        let schema = described["request"].as_str().unwrap();
        let properties = defs[schema]["properties"].as_object().unwrap();
        let body: serde_json::Map<String, Value> =
            properties.iter().map(|(name, field)| (name.clone(), sample(defs, field))).collect();
        let answer: Value = running
            .http
            .request(method, format!("{}{path}", running.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for (name, sent) in &body {
            assert_eq!(&answer["data"][name], sent, "{operation}: `{name}` was not kept: {answer}");
        }
    }
}

/// The form every AIOZ key the emulator answers has: every field, as the descriptions say.
fn assert_complete_key(key: &Value) {
    let text = |field: &str| key[field].as_str().unwrap_or_else(|| panic!("{field} in {key}"));
    uuid::Uuid::parse_str(text("id")).unwrap();
    uuid::Uuid::parse_str(text("stream_key")).unwrap();
    assert!(!text("user_id").is_empty() && key["name"].is_string(), "{key}");
    assert!(text("rtmp_url").starts_with("rtmp://"), "{key}");
    assert!(key["save"].is_boolean(), "{key}");
    assert!(matches!(text("type"), "video" | "audio"), "{key}");
    DateTime::parse_from_rfc3339(text("created_at")).unwrap();
    DateTime::parse_from_rfc3339(text("updated_at")).unwrap();
    assert!(key.get("title").is_none(), "the emulator answers `name`, never `title`: {key}");
}

/// Every field in `fields` is there and not `null`.
fn assert_complete(value: &Value, fields: &[&str]) {
    for field in fields {
        assert!(value.get(field).is_some_and(|v| !v.is_null()), "{field} in {value}");
    }
}

fn assert_complete_streaming(streaming: &Value) {
    assert_complete(
        streaming,
        &[
            "id",
            "live_stream_key_id",
            "user_id",
            "title",
            "status",
            "save",
            "qualities",
            "type",
            "duration",
            "frame_rate",
            "audio_bitrate",
            "current_view",
            "total_view",
            "created_at",
            "updated_at",
        ],
    );
    assert_complete(&streaming["assets"], &["hls_url", "player_url", "iframe", "thumbnail_url"]);
    uuid::Uuid::parse_str(streaming["id"].as_str().unwrap()).unwrap();
    DateTime::parse_from_rfc3339(streaming["created_at"].as_str().unwrap()).unwrap();
    let status = streaming["status"].as_str().unwrap();
    assert!(matches!(status, "created" | "live" | "ended"), "{streaming}");
    // The recording is there exactly when a streaming made with `save` has ended.
    let recorded = status == "ended" && streaming["save"] == true;
    assert_eq!(streaming.get("media").is_some(), recorded, "{streaming}");
}

fn assert_complete_aioz(operation: &str, status: u16, body: &Value) {
    if status >= 400 {
        assert_eq!(body["status"], "error", "{body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
        return;
    }
    assert_eq!(body["status"], "success", "{body}");
    match operation {
        "list_live_stream_keys" => {
            assert!(body["data"]["total"].as_i64().is_some_and(|t| t >= 0), "{body}");
            body["data"]["live_stream_keys"]
                .as_array()
                .unwrap()
                .iter()
                .for_each(assert_complete_key);
        }
        "delete_live_stream_key" | "update_streaming" | "delete_streaming" | "delete_multicast" => {
            assert!(body["message"].is_string(), "{body}")
        }
        "create_streaming" | "get_streaming" => assert_complete_streaming(&body["data"]),
        "list_streamings" | "list_live_stream_media" => {
            assert!(body["data"]["total"].as_i64().is_some_and(|t| t >= 0), "{body}");
            body["data"]["media"].as_array().unwrap().iter().for_each(assert_complete_streaming);
        }
        "get_multicast" | "upsert_multicast" => assert_complete(
            &body["data"],
            &["id", "live_stream_key_id", "stream_key", "user_id", "live_stream_multicast_urls"],
        ),
        "get_streaming_statistic" => assert_complete(
            &body["data"],
            &[
                "id",
                "live_stream_media_id",
                "fps_in",
                "fps_out",
                "bitrate_in",
                "bitrate_out",
                "data_transferred",
                "current_view",
                "total_view",
            ],
        ),
        _ => assert_complete_key(&body["data"]),
    }
}

fn assert_complete_storm(operation: &str, status: u16, body: &Value) {
    if status >= 400 {
        assert!(body["message"].is_string(), "{body}");
        return;
    }
    // Every success carries `meta`; all but the settings read carry a `message` too.
    assert_eq!(body["message"].is_string(), operation != "get_application_settings", "{body}");
    // Integers, as every Storm reference page types and shows them.
    assert!(
        body["meta"]["executionTime"].is_u64() && body["meta"]["generatedAt"].is_i64(),
        "{body}"
    );
    let attributes = &body["data"]["attributes"];
    match operation {
        "update_ingest_settings" => {
            assert_complete_ingest(attributes);
            assert!(!body.to_string().contains("bd34ddawe34v51rxw6tbn"), "no secret: {body}");
        }
        "create_application" => {
            assert!(attributes["name"].is_string(), "{body}");
            assert!(matches!(
                attributes["type"].as_str(),
                Some("MONO" | "ORIGIN" | "TRANSCODE" | "EDGE")
            ));
        }
        "create_stream" => {
            assert!(attributes["streamKey"].is_string() && attributes["type"].is_string());
            assert!(attributes["source"]["authType"].is_string(), "{body}");
            assert!(attributes["source"].get("auth").is_none(), "no credentials: {body}");
        }
        "get_application_settings" => {
            assert!(body["data"]["name"].is_string(), "{body}");
            assert_eq!(body["data"]["type"], "MONO", "upper case, as Storm's reads: {body}");
            assert_complete_ingest(&body["data"]["ingestSettings"]["attributes"]);
        }
        "delete_application" => {
            assert!(body["message"].as_str().unwrap().ends_with("has been deleted"), "{body}")
        }
        other => panic!("no completeness check for {other}"),
    }
}

/// The ingest settings as the emulator answers them: the five settings, each with both parts set.
fn assert_complete_ingest(attributes: &Value) {
    for field in
        ["allowStreamIngest", "autoStreamPublish", "allowStreamOverwrite", "authorizationEnabled"]
    {
        assert!(attributes[field]["value"].is_boolean(), "{field}: {attributes}");
        assert!(attributes[field]["editable"].is_boolean(), "{field}: {attributes}");
    }
    assert!(attributes["authType"]["value"].is_string(), "{attributes}");
}
