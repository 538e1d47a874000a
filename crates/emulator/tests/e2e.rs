//! The emulator over a real socket on 127.0.0.1, driven by the generated clients: every operation of
//! both APIs, persistence across a restart, accounts kept apart, and the rate limits.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;

use futures::TryStreamExt;
use streamspec_client::aioz::types::{
    CreateLiveStreamKeyRequest, LiveStreamKeySortBy, LiveStreamKeyTypeFilter, LiveStreamType,
    SortOrder, UpdateLiveStreamKeyRequest,
};
use streamspec_client::aioz::{self, ListOptions};
use streamspec_client::storm::{self, types as storm_types};
use streamspec_client::{Error, RetryPolicy};
use streamspec_emulator::config::AiozAccount;
use streamspec_emulator::{Config, Credentials, Emulator};

struct Running {
    address: SocketAddr,
    credentials: Credentials,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops the server and waits until it has.
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.done.await.unwrap();
    }

    fn aioz(&self, account: usize) -> aioz::Client {
        let account = &self.credentials.aioz_accounts[account];
        let credentials =
            aioz::Credentials::key_pair(&account.public_key, &account.secret_key).unwrap();
        aioz::Client::builder(format!("http://{}/api", self.address), credentials)
            .retry(RetryPolicy::none())
            .build()
            .unwrap()
    }

    fn storm(&self) -> storm::Client {
        let user = &self.credentials.storm_users[0];
        let credentials = storm::Credentials::login(&user.username, &user.password).unwrap();
        storm::Client::builder(format!("http://{}", self.address), credentials)
            .retry(RetryPolicy::none())
            .build()
            .unwrap()
    }
}

async fn start(config: Config) -> Running {
    start_with(config, None).await
}

/// Serves on the test's runtime, or, given a number of threads, on threads of its own as the binary
/// does.
async fn start_with(config: Config, threads: Option<NonZeroUsize>) -> Running {
    let emulator = Emulator::new(&config).unwrap();
    let credentials = emulator.credentials().clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let stopped = async move {
        let _ = stopped.await;
    };
    let done = tokio::spawn(async move {
        match threads {
            None => emulator.serve(listener, stopped).await.unwrap(),
            Some(threads) => emulator.serve_on_threads(listener, threads, stopped).await.unwrap(),
        }
    });
    Running { address, credentials, stop: Some(stop), done }
}

fn temp_db(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("streamspec-emulator-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("db.sqlite")
}

fn config(db: PathBuf) -> Config {
    Config { db, debug: true, ..Config::default() }
}

#[tokio::test]
async fn every_aioz_operation_and_persistence_across_a_restart() {
    let db = temp_db("aioz");
    let running = start(config(db.clone())).await;
    let client = running.aioz(0);
    let mut ids = Vec::new();
    for name in ["charlie", "alpha", "bravo"] {
        let body = CreateLiveStreamKeyRequest::builder().name(name);
        let created = client.create_live_stream_key().body(body).send().await.unwrap();
        assert_eq!(created.headers()["x-ratelimit-limit"], "600");
        assert_eq!(created.data.save, Some(false), "save defaults to false");
        assert_eq!(created.data.rtmp_url.as_deref(), Some("rtmp://127.0.0.1:1935/live"));
        ids.push(created.into_inner().data.id);
    }
    let page = client
        .list_live_stream_keys()
        .sort_by(LiveStreamKeySortBy::Title)
        .order_by(SortOrder::Asc)
        .limit(2)
        .send()
        .await
        .unwrap();
    let page = page.into_inner().data.unwrap();
    let names: Vec<_> =
        page.live_stream_keys.unwrap().into_iter().map(|k| k.name.unwrap()).collect();
    assert_eq!((names, page.total), (vec!["alpha".to_owned(), "bravo".to_owned()], Some(3)));
    let found = client.list_live_stream_keys().search("rav").send().await.unwrap();
    assert_eq!(found.into_inner().data.unwrap().total, Some(1));

    let body = UpdateLiveStreamKeyRequest::builder().name("delta").save(true);
    let updated =
        client.update_live_stream_key().id(ids[0].as_str()).body(body).send().await.unwrap();
    assert!(updated.data.save == Some(true) && updated.data.updated_at > updated.data.created_at);
    client.delete_live_stream_key().id(ids[1].as_str()).send().await.unwrap();
    let gone = client.get_live_stream_key().id(ids[1].as_str()).send().await.unwrap_err();
    assert!(matches!(gone, Error::NotFound(_)));
    let credentials = running.credentials.clone();
    running.stop().await;

    let running = start(config(db)).await;
    assert_eq!(
        running.credentials.aioz_accounts, credentials.aioz_accounts,
        "generated credentials are kept"
    );
    let all: Vec<_> =
        running.aioz(0).all_live_stream_keys(ListOptions::default()).try_collect().await.unwrap();
    let mut names: Vec<String> = all.into_iter().map(|k| k.name.unwrap()).collect();
    names.sort();
    assert_eq!(names, ["bravo", "delta"], "every acknowledged write is still there");
    running.stop().await;
}

#[tokio::test]
async fn the_list_filters_by_type_video_unless_asked_and_an_update_keeps_what_it_leaves_out() {
    let running = start(config(temp_db("types"))).await;
    let client = running.aioz(0);
    for (name, kind) in [("show", None), ("podcast", Some(LiveStreamType::Audio))] {
        let mut body = CreateLiveStreamKeyRequest::builder().name(name);
        if let Some(kind) = kind {
            body = body.type_(kind);
        }
        client.create_live_stream_key().body(body).send().await.unwrap();
    }
    let names = |page: aioz::types::LiveStreamKeyListResponse| -> Vec<String> {
        let keys = page.data.unwrap().live_stream_keys.unwrap();
        keys.into_iter().map(|key| key.name.unwrap()).collect()
    };
    let video = client.list_live_stream_keys().send().await.unwrap().into_inner();
    assert_eq!(names(video), ["show"], "`type` defaults to video, as the vendor's SDKs say");
    let audio = client
        .list_live_stream_keys()
        .type_(LiveStreamKeyTypeFilter::Audio)
        .send()
        .await
        .unwrap()
        .into_inner();
    let podcast = audio.data.as_ref().unwrap().live_stream_keys.as_ref().unwrap()[0].clone();
    assert_eq!(names(audio), ["podcast"]);
    assert_eq!(podcast.type_, Some(LiveStreamType::Audio.into()));

    // The Go SDK's update without a name: `save` changes, the name stays.
    let id = podcast.id.as_str();
    let body = UpdateLiveStreamKeyRequest::builder().save(true);
    let updated = client.update_live_stream_key().id(id).body(body).send().await.unwrap();
    assert_eq!((updated.data.name.as_deref(), updated.data.save), (Some("podcast"), Some(true)));
    // The Node SDK's `{}` changes nothing.
    let body = UpdateLiveStreamKeyRequest::builder();
    let same = client.update_live_stream_key().id(id).body(body).send().await.unwrap();
    assert_eq!((same.data.name.as_deref(), same.data.save), (Some("podcast"), Some(true)));
    running.stop().await;
}

#[tokio::test]
async fn accounts_never_see_each_others_keys_and_are_rate_limited() {
    let account = |n: &str| AiozAccount {
        user_id: format!("user-{n}"),
        public_key: format!("pk-{n}"),
        secret_key: format!("sk-{n}"),
        token: format!("token-{n}"),
    };
    let config = Config {
        aioz_accounts: vec![account("a"), account("b")],
        rate_limit_per_minute: 3,
        ..config(temp_db("accounts"))
    };
    let running = start(config).await;
    let created = running
        .aioz(0)
        .create_live_stream_key()
        .body(CreateLiveStreamKeyRequest::builder().name("a"))
        .send()
        .await
        .unwrap();
    let other = running.aioz(1);
    let error = other.get_live_stream_key().id(created.data.id.as_str()).send().await.unwrap_err();
    assert!(matches!(error, Error::NotFound(_)));
    other.list_live_stream_keys().send().await.unwrap();
    let third = other.list_live_stream_keys().send().await.unwrap();
    assert_eq!(third.headers()["x-ratelimit-remaining"], "0");
    let limited = other.list_live_stream_keys().send().await.unwrap_err();
    assert!(matches!(limited, Error::TooManyRequests(_)));
    let wrong = aioz::Client::builder(
        format!("http://{}/api", running.address),
        aioz::Credentials::bearer("nope").unwrap(),
    )
    .build()
    .unwrap();
    let error = wrong.list_live_stream_keys().send().await.unwrap_err();
    assert!(matches!(error, Error::Unauthorized(_)));
    // A request the adapter refuses itself carries the rate-limit headers too.
    let response = reqwest::get(format!("http://{}/api/live_streams/not-a-uuid", running.address))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(response.headers()["x-ratelimit-limit"], "3");
    running.stop().await;
}

#[tokio::test]
async fn every_storm_operation() {
    let running = start(config(temp_db("storm"))).await;
    let client = running.storm();
    let settings = client.get_application_settings().app_name("live").send().await.unwrap();
    let ingest = settings
        .into_inner()
        .data
        .ingest_settings
        .expect("the default application `live`")
        .attributes;
    assert_eq!(
        (ingest.allow_stream_ingest.value, ingest.authorization_enabled.value),
        (Some(true), Some(false))
    );

    let body: storm_types::CreateApplicationRequest = serde_json::from_value(
        serde_json::json!({"data": {"attributes": {"name": "relay", "type": "edge"}}}),
    )
    .unwrap();
    assert_eq!(
        client.create_application().body(body.clone()).send().await.unwrap().status().as_u16(),
        201
    );
    let duplicate = client.create_application().body(body).send().await.unwrap_err();
    assert!(matches!(duplicate, Error::Conflict(_)));
    let settings = client.get_application_settings().app_name("relay").send().await.unwrap();
    assert!(
        settings.into_inner().data.ingest_settings.is_none(),
        "an edge application has no ingest section"
    );

    let update: storm_types::UpdateIngestSettingsRequest = serde_json::from_value(serde_json::json!({"data": {"attributes": {
        "authorizationEnabled": true, "authType": "request",
        "requestURL": "https://api.example.com/auth/stream/${streamKey}", "apiKey": "bd34ddawe34v51rxw6tbn",
    }}}))
    .unwrap();
    let error = client
        .update_ingest_settings()
        .app_name("relay")
        .body(update.clone())
        .send()
        .await
        .unwrap_err();
    let Error::NotFound(answer) = error else { panic!("expected 404, got {error}") };
    assert_eq!(
        answer.body().message,
        "Application relay is of type edge, which has no ingest settings"
    );
    let answer =
        client.update_ingest_settings().app_name("live").body(update).send().await.unwrap();
    assert_eq!(
        answer.data.attributes.request_url.as_ref().unwrap().value.as_deref(),
        Some("https://api.example.com/auth/stream/${streamKey}")
    );
    assert!(
        !serde_json::to_string(&answer.into_inner()).unwrap().contains("bd34ddawe34v51rxw6tbn"),
        "no API key in a response"
    );

    let stream: storm_types::CreateStreamRequest = serde_json::from_value(serde_json::json!({"data": {"attributes": {
        "streamKey": "camera1", "type": "ingest", "source": {"authType": "secret", "auth": {"secret": "s3cret"}},
    }}}))
    .unwrap();
    assert_eq!(
        client
            .create_stream()
            .app_name("live")
            .body(stream.clone())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        201
    );
    let duplicate = client.create_stream().app_name("live").body(stream).send().await.unwrap_err();
    assert!(matches!(duplicate, Error::Conflict(_)));

    client.delete_application().app_name("relay").send().await.unwrap();
    let key = storm::Client::builder(
        format!("http://{}", running.address),
        storm::Credentials::api_key(&running.credentials.storm_api_key).unwrap(),
    )
    .build()
    .unwrap();
    let missing = key.delete_application().app_name("relay").send().await.unwrap_err();
    assert!(matches!(missing, Error::NotFound(_)));
    running.stop().await;
}

#[tokio::test]
async fn at_most_five_logins_a_minute_per_address() {
    let running = start(config(temp_db("logins"))).await;
    let client = running.storm();
    let login = || {
        let body: storm_types::LoginRequest =
            serde_json::from_value(serde_json::json!({"username": "admin", "password": "wrong"}))
                .unwrap();
        client.login().body(body).send()
    };
    for _ in 0..5 {
        let error = login().await.unwrap_err();
        assert!(matches!(error, Error::Unauthorized(_)));
    }
    let error = login().await.unwrap_err();
    assert!(matches!(error, Error::TooManyRequests(_)), "{error:?}");
    running.stop().await;
}

/// The binary's way of serving, connections handed out to threads of their own: many connections at
/// once are all answered, the login limit counts attempts on every thread, and a stop ends them all.
#[tokio::test]
async fn serving_on_threads_answers_every_connection_and_limits_logins_across_them() {
    let running = start_with(config(temp_db("threads")), NonZeroUsize::new(3)).await;
    // A client of its own per request, so each is a connection of its own, handed to a thread in turn.
    let creates = (0..24).map(|n| {
        let client = running.aioz(0);
        async move {
            let body = CreateLiveStreamKeyRequest::builder().name(format!("key {n}"));
            client.create_live_stream_key().body(body).send().await.unwrap().into_inner().data.id
        }
    });
    let mut ids = futures::future::join_all(creates).await;
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 24);
    let page = running.aioz(0).list_live_stream_keys().limit(100).send().await.unwrap();
    assert_eq!(page.into_inner().data.unwrap().total, Some(24));

    let url = format!("http://{}/api/auth/login", running.address);
    let logins = (0..30).map(|_| {
        let url = url.clone();
        async move {
            let body = serde_json::json!({"username": "admin", "password": "wrong"});
            reqwest::Client::new().post(url).json(&body).send().await.unwrap().status().as_u16()
        }
    });
    let statuses = futures::future::join_all(logins).await;
    assert_eq!(statuses.iter().filter(|status| **status == 401).count(), 5, "{statuses:?}");
    assert!(statuses.iter().all(|status| matches!(status, 401 | 429)), "{statuses:?}");

    let address = running.address;
    running.stop().await;
    assert!(
        tokio::net::TcpStream::connect(address).await.is_err(),
        "nothing listens once serving has stopped"
    );
}

/// The seed documents' curl examples, sent as curl sends them (host replaced), with their answers.
#[tokio::test]
async fn the_seeds_curl_examples_get_their_expected_answers() {
    let running = start(config(temp_db("seeds"))).await;
    let base = format!("http://{}", running.address);
    let token = running.credentials.aioz_accounts[0].token.clone();
    let http = reqwest::Client::new();
    let status = |response: reqwest::Response| response.status().as_u16();

    // Create: `-H 'content-type: application/json' -d '{"name": "test", "save": true}'`.
    let created = http
        .post(format!("{base}/api/live_streams"))
        .header("Accept-Language", "en-US,en;q=0.9")
        .header("Authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body("{\n\"name\": \"test\",\n\"save\": true\n}")
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 200);
    let created: serde_json::Value = created.json().await.unwrap();
    assert_eq!(
        (created["data"]["name"].as_str(), created["data"]["save"].as_bool()),
        (Some("test"), Some(true))
    );
    let id = created["data"]["id"].as_str().unwrap().to_owned();

    // List, as printed: `--data-raw` makes curl send a POST form, not a GET with a query.
    let listed = http
        .post(format!("{base}/api/live_streams"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(r#"{"limit":10,"offset":0,"sort_by":"created_at","order_By":"desc"}"#)
        .send()
        .await
        .unwrap();
    // Its JSON is read as JSON (curl's default type), so it is a create without `name`: a 400.
    assert_eq!(status(listed), 400);
    // The same parameters where they belong, in the query string.
    let listed = http
        .get(format!("{base}/api/live_streams?limit=10&offset=0&sort_by=created_at&order_by=desc"))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(status(listed), 200);

    // Get, as printed with the literal `:id`, and with a real id.
    let literal =
        http.get(format!("{base}/api/live_streams/:id")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(status(literal), 400);
    let got =
        http.get(format!("{base}/api/live_streams/{id}")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(status(got), 200);

    // Update: `--data` without a content type makes curl send a form type; the body is JSON and the
    // seed documents 200, so it is read as JSON. A real form body stays a 415.
    let body = "{\n\"name\": \"live_streaming_name\",\n\"save\": true\n}";
    let form = http
        .put(format!("{base}/api/live_streams/{id}"))
        .bearer_auth(&token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(status(form), 200);
    let real_form = http
        .put(format!("{base}/api/live_streams/{id}"))
        .bearer_auth(&token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("name=live_streaming_name&save=true")
        .send()
        .await
        .unwrap();
    assert_eq!(status(real_form), 415);
    let json = http
        .put(format!("{base}/api/live_streams/{id}"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(status(json), 200);

    // Delete.
    let deleted = http
        .delete(format!("{base}/api/live_streams/{id}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(status(deleted), 200);

    // Storm: each of the seed's five ingest settings bodies, then the `local` one verbatim.
    let key = &running.credentials.storm_api_key;
    let seeds = [
        r#"{"data":{"attributes":{"allowStreamIngest":true,"autoStreamPublish":true,"allowStreamOverwrite":false,"authorizationEnabled":false}}}"#,
        r#"{"data":{"attributes":{"allowStreamIngest":true,"autoStreamPublish":true,"allowStreamOverwrite":false,"authorizationEnabled":true,"authType":"managed"}}}"#,
        r#"{"data":{"attributes":{"allowStreamIngest":true,"autoStreamPublish":true,"allowStreamOverwrite":true,"authorizationEnabled":true,"authType":"request","requestURL":"https://api.example.com/auth/stream/${streamKey}","apiKey":"bd34ddawe34v51rxw6tbn"}}}"#,
        r#"{"data":{"attributes":{"allowStreamIngest":true,"autoStreamPublish":true,"allowStreamOverwrite":false,"authorizationEnabled":true,"authType":"file","fileURL":"/home/storm/auth/publish_keys.xml"}}}"#,
        r#"{"data":{"attributes":{"allowStreamIngest":true,"autoStreamPublish":true,"allowStreamOverwrite":true,"authorizationEnabled":true,"authType":"local","authUsers":[{"username":"admin","password":"qwerty123"}]}}}"#,
    ];
    for body in seeds {
        let answer = http
            .patch(format!("{base}/api/applications/live/settings/ingest"))
            .header("X-Api-Key", key)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 200, "{body}");
        let text = answer.text().await.unwrap();
        assert!(
            !text.contains("qwerty123") && !text.contains("bd34ddawe34v51rxw6tbn"),
            "no secret answered: {text}"
        );
    }
    let verbatim =
        include_str!("../../../spec/negative/update_ingest_settings.local-trailing-comma.json");
    let answer = http
        .patch(format!("{base}/api/applications/live/settings/ingest"))
        .header("X-Api-Key", key)
        .header("content-type", "application/json")
        .body(verbatim)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 400);
    let error: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(
        error,
        serde_json::json!({"message": "the body is not valid JSON: trailing comma at line 14 column 1"})
    );
    running.stop().await;
}
