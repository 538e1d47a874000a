//! Ingest authorization end to end: each of the seed's five ingest settings set through Storm's REST
//! API with the generated client, then publish attempts with right and wrong credentials through the
//! emulator's own `/_emulator/` operations. Every server is on 127.0.0.1.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use streamspec_client::emulator::types::{PublishDecision, PublishRequest};
use streamspec_client::storm::types::{CreateStreamRequest, UpdateIngestSettingsRequest};
use streamspec_client::{RetryPolicy, emulator, storm};
use streamspec_emulator::{Config, Emulator};

struct Running {
    address: SocketAddr,
    storm: storm::Client,
    publish: emulator::Client,
}

async fn start(config: Config) -> Running {
    let emulator = Emulator::new(&config).unwrap();
    let key = emulator.credentials().storm_api_key.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(emulator.serve(listener, std::future::pending()));
    let storm = storm::Client::builder(
        format!("http://{address}"),
        storm::Credentials::api_key(key).unwrap(),
    )
    .retry(RetryPolicy::none())
    .build()
    .unwrap();
    let publish = emulator::Client::builder(format!("http://{address}"))
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    Running { address, storm, publish }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("streamspec-ingest-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Running {
    /// `PATCH /api/applications/live/settings/ingest` with `attributes`.
    async fn set(&self, attributes: Value) -> Result<(), String> {
        let body: UpdateIngestSettingsRequest =
            serde_json::from_value(json!({"data": {"attributes": attributes}})).unwrap();
        match self.storm.update_ingest_settings().app_name("live").body(body).send().await {
            Ok(_) => Ok(()),
            Err(error) => match error.answer() {
                Some(answer) => Err(answer.body().message.clone()),
                None => panic!("{error}"),
            },
        }
    }

    /// A publish attempt; `Ok(session)` when allowed, `Err(reason)` when denied.
    async fn publish(&self, stream_key: &str, credentials: Value) -> Result<String, String> {
        let request: PublishRequest =
            serde_json::from_value(json!({"streamKey": stream_key, "credentials": credentials}))
                .unwrap();
        let decision = self
            .publish
            .publish()
            .app_name("live")
            .body(request)
            .send()
            .await
            .unwrap()
            .into_inner();
        match decision {
            PublishDecision::Allowed(allowed) => Ok(allowed.session_id.to_string()),
            PublishDecision::Denied(denied) => Err(denied.reason.to_string()),
        }
    }

    async fn end(&self, session: &str) -> bool {
        self.publish
            .end_session()
            .session_id(session.parse::<uuid::Uuid>().unwrap())
            .send()
            .await
            .is_ok()
    }
}

fn login(username: &str, password: &str) -> Value {
    json!({"type": "credentials", "username": username, "password": password})
}

const NOTHING: fn() -> Value = || json!({"type": "none"});

#[tokio::test]
async fn the_seeds_five_settings_let_in_exactly_the_right_publishers() {
    let auth_dir = temp_dir("files");
    let db = temp_dir("db").join("db.sqlite");
    let mut config = Config { db, debug: true, ..Config::default() };
    config.storm.file_auth_root = Some(auth_dir.clone());
    config.storm.request_auth_timeout_ms = 1000;
    let running = start(config).await;

    // 1. No authorization, overwrite off: anyone, but one publisher per stream key at a time.
    running
        .set(json!({"allowStreamIngest": true, "autoStreamPublish": true, "allowStreamOverwrite": false,
            "authorizationEnabled": false}))
        .await
        .unwrap();
    let first = running.publish("camera1", NOTHING()).await.unwrap();
    assert_eq!(running.publish("camera1", login("anyone", "x")).await.unwrap_err(), "stream_live");
    assert!(running.end(&first).await);
    assert!(!running.end(&first).await, "a session ends once");
    let again = running.publish("camera1", login("anyone", "x")).await.unwrap();
    assert!(running.end(&again).await);

    // 2. Managed: the stream's own credentials.
    running
        .set(json!({"allowStreamIngest": true, "autoStreamPublish": true, "allowStreamOverwrite": false,
            "authorizationEnabled": true, "authType": "managed"}))
        .await
        .unwrap();
    let stream: CreateStreamRequest = serde_json::from_value(json!({"data": {"attributes": {
        "streamKey": "camera1", "type": "ingest",
        "source": {"authType": "credentials", "auth": {"username": "publisher", "password": "s3cret-pass"}}}}}))
    .unwrap();
    running.storm.create_stream().app_name("live").body(stream).send().await.unwrap();
    assert_eq!(
        running.publish("camera1", login("publisher", "wrong")).await.unwrap_err(),
        "invalid_credentials"
    );
    assert_eq!(running.publish("camera1", NOTHING()).await.unwrap_err(), "credentials_missing");
    assert_eq!(
        running.publish("camera2", login("publisher", "s3cret-pass")).await.unwrap_err(),
        "stream_not_found"
    );
    let managed = running.publish("camera1", login("publisher", "s3cret-pass")).await.unwrap();
    assert!(running.end(&managed).await);

    // 3. Request: the seed's settings, pointed at a service on 127.0.0.1.
    let (service, seen) = serve_authorization_service().await;
    running
        .set(json!({"allowStreamIngest": true, "autoStreamPublish": true, "allowStreamOverwrite": true,
            "authorizationEnabled": true, "authType": "request",
            "requestURL": format!("http://{service}/auth/stream/${{streamKey}}"),
            "apiKey": "bd34ddawe34v51rxw6tbn"}))
        .await
        .unwrap();
    assert!(running.publish("camera 1", login("alice", "right")).await.is_ok());
    assert_eq!(running.publish("camera1", login("alice", "wrong")).await.unwrap_err(), "rejected");
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen[0].0, "/auth/stream/camera%201");
        assert_eq!(
            seen[0].1.as_deref(),
            Some("bd34ddawe34v51rxw6tbn"),
            "the apiKey is sent as X-Api-Key"
        );
        assert_eq!(seen[0].2["clientAddress"], "127.0.0.1");
    }
    assert_eq!(
        running
            .set(json!({"requestURL": "https://${streamKey}.example.com/auth"}))
            .await
            .unwrap_err(),
        "data.attributes.requestURL: `requestURL` may use `${streamKey}` in its path or query only, not in its host"
    );

    // 4. File: the seed's settings with the file in the configured directory.
    let file = auth_dir.join("publish_keys.xml");
    std::fs::write(
        &file,
        r#"<ingestAuthorization><user username="admin" password="qwerty123"/><token value="t0ken"/></ingestAuthorization>"#,
    )
    .unwrap();
    let seed_file = json!({"allowStreamIngest": true, "autoStreamPublish": true, "allowStreamOverwrite": false,
        "authorizationEnabled": true, "authType": "file", "fileURL": "/home/storm/auth/publish_keys.xml"});
    let refused = running.set(seed_file.clone()).await.unwrap_err();
    assert!(
        refused.starts_with("data.attributes.fileURL: `fileURL` must be a file under"),
        "the seed's own path is outside the configured directory: {refused}"
    );
    let mut in_root = seed_file;
    in_root["fileURL"] = json!(file.to_str().unwrap());
    running.set(in_root).await.unwrap();
    let by_file = running.publish("camera1", login("admin", "qwerty123")).await.unwrap();
    assert_eq!(
        running.publish("camera2", login("admin", "qwerty")).await.unwrap_err(),
        "invalid_credentials"
    );
    assert!(running.publish("camera3", json!({"type": "token", "token": "t0ken"})).await.is_ok());
    std::fs::write(&file, "<ingestAuthorization>").unwrap();
    assert_eq!(
        running.publish("camera4", login("admin", "qwerty123")).await.unwrap_err(),
        "authorization_unavailable",
        "a broken file lets nobody in"
    );
    assert!(running.end(&by_file).await);

    // 5. Local: the seed's user (its trailing comma removed).
    running
        .set(json!({"allowStreamIngest": true, "autoStreamPublish": true, "allowStreamOverwrite": true,
            "authorizationEnabled": true, "authType": "local",
            "authUsers": [{"username": "admin", "password": "qwerty123"}]}))
        .await
        .unwrap();
    assert!(running.publish("camera1", login("admin", "qwerty123")).await.is_ok());
    assert_eq!(
        running.publish("camera1", login("admin", "qwerty12")).await.unwrap_err(),
        "invalid_credentials"
    );
    assert_eq!(running.publish("camera1", NOTHING()).await.unwrap_err(), "credentials_missing");

    // Ingest off: nobody.
    running.set(json!({"allowStreamIngest": false})).await.unwrap();
    assert_eq!(
        running.publish("camera1", login("admin", "qwerty123")).await.unwrap_err(),
        "ingest_disabled"
    );
}

/// A `request` service: 200 for the password `right`, 403 otherwise; it records path, key and body.
async fn serve_authorization_service()
-> (SocketAddr, Arc<Mutex<Vec<(String, Option<String>, Value)>>>) {
    use axum::http::{HeaderMap, StatusCode, Uri};
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorded = seen.clone();
    let app = axum::Router::new().fallback(
        move |uri: Uri, headers: HeaderMap, body: axum::body::Bytes| {
            let recorded = recorded.clone();
            async move {
                let body: Value = serde_json::from_slice(&body).unwrap();
                let key = headers.get("x-api-key").map(|value| value.to_str().unwrap().to_owned());
                let allowed = body["credentials"]["password"] == "right";
                recorded.lock().unwrap().push((uri.path().to_owned(), key, body));
                if allowed { StatusCode::OK } else { StatusCode::FORBIDDEN }
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (address, seen)
}

#[tokio::test]
async fn publish_answers_404_and_400_in_the_envelope() {
    let running = start(Config { db: ":memory:".into(), debug: true, ..Config::default() }).await;
    let http = reqwest::Client::new();
    let base = format!("http://{}", running.address);
    let post = |path: &str, body: Value| http.post(format!("{base}{path}")).json(&body).send();
    let answer = post(
        "/_emulator/applications/nowhere/publish",
        json!({"streamKey": "k", "credentials": {"type": "none"}}),
    )
    .await
    .unwrap();
    assert_eq!(answer.status().as_u16(), 404);
    assert_eq!(answer.json::<Value>().await.unwrap(), json!({"message": "Application not found"}));

    let answer = post(
        "/_emulator/applications/live/publish",
        json!({"streamKey": "k", "clientAddress": "here", "credentials": {"type": "none"}}),
    )
    .await
    .unwrap();
    assert_eq!(answer.status().as_u16(), 400);
    assert_eq!(
        answer.json::<Value>().await.unwrap()["message"],
        "`clientAddress` is an IPv4 or IPv6 address",
        "the conformance layer answers before the handler"
    );
    let answer = post(
        "/_emulator/applications/live/publish",
        json!({"streamKey": "k", "credentials": {"type": "token"}}),
    )
    .await
    .unwrap();
    assert_eq!(answer.status().as_u16(), 400, "the conformance layer names the missing token");

    let edge: storm::types::CreateApplicationRequest =
        serde_json::from_value(json!({"data": {"attributes": {"name": "edge1", "type": "edge"}}}))
            .unwrap();
    running.storm.create_application().body(edge).send().await.unwrap();
    let answer = post(
        "/_emulator/applications/edge1/publish",
        json!({"streamKey": "k", "credentials": {"type": "none"}}),
    )
    .await
    .unwrap();
    assert_eq!(answer.status().as_u16(), 404);
    assert!(answer.text().await.unwrap().contains("edge, which takes no ingest"));

    let unknown = http
        .delete(format!("{base}/_emulator/sessions/0b6f8c1e-54b7-4d0e-9a43-3c2f0f6f1d2a"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status().as_u16(), 404);
    let malformed =
        http.delete(format!("{base}/_emulator/sessions/not-a-uuid")).send().await.unwrap();
    assert_eq!(malformed.status().as_u16(), 400);
}

/// With request validation off, the spec's rules do not stop a body; the settings API still refuses
/// settings the engine could not use, naming the field.
#[tokio::test]
async fn unusable_settings_are_refused_even_without_validation() {
    let running =
        start(Config { db: ":memory:".into(), validate_requests: false, ..Config::default() })
            .await;
    assert_eq!(
        running
            .set(json!({"authorizationEnabled": true, "authType": "request"}))
            .await
            .unwrap_err(),
        "data.attributes.requestURL: `requestURL` is required by the selected `authType`"
    );
    assert_eq!(
        running.set(json!({"authorizationEnabled": true, "authType": "local"})).await.unwrap_err(),
        "data.attributes.authUsers: `authUsers` is required by the selected `authType`"
    );
    running.set(json!({"authorizationEnabled": true, "authType": "managed"})).await.unwrap();
}
