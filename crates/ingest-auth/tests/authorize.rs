//! Every rule of the engine through its public API: real files on disk, a real HTTP service on
//! 127.0.0.1, and the seed's example settings.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect};
use axum::routing::post;
use serde_json::{Value, json};
use streamspec_ingest_auth::{
    Authorization, Authorizer, Decision, DenyReason, Destinations, IngestSettings, Presented,
    PublishAttempt, RequestUrlError,
};
use streamspec_types::storm::{IngestSettingsAttributes, StreamSource};

const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));

fn settings(attributes: Value) -> IngestSettings {
    let attributes: IngestSettingsAttributes = serde_json::from_value(attributes).unwrap();
    IngestSettings::from_attributes(&attributes).unwrap()
}

fn attempt(stream_key: &str, presented: Presented) -> PublishAttempt {
    PublishAttempt::new("live", stream_key, CLIENT).presenting(presented)
}

fn login(username: &str, password: &str) -> Presented {
    Presented::credentials(username, password).unwrap()
}

fn token(value: &str) -> Presented {
    Presented::token(value).unwrap()
}

fn denied(decision: Decision) -> DenyReason {
    match decision {
        Decision::Deny(reason) => reason,
        Decision::Allow(allowed) => panic!("allowed: {allowed:?}"),
    }
}

/// Every reason a test below saw, so one test can check that all of them are covered.
static SEEN: Mutex<Vec<DenyReason>> = Mutex::new(Vec::new());

async fn decide(
    authorizer: &Authorizer,
    settings: &IngestSettings,
    attempt: &PublishAttempt,
) -> Decision {
    let decision = authorizer.authorize(settings, attempt).await;
    if let Decision::Deny(reason) = decision {
        SEEN.lock().unwrap().push(reason);
    }
    // A decision is what the publisher may be shown: it must never carry a secret.
    let shown = format!(
        "{decision:?} {}",
        match &decision {
            Decision::Deny(reason) => reason.to_string(),
            Decision::Allow(_) => String::new(),
        }
    );
    for secret in ["qwerty123", "abc123xyz789", "s3cret", "k3y-SECRET"] {
        assert!(!shown.contains(secret), "{shown}");
    }
    decision
}

/// Each scenario is a test of its own, and [`every_deny_reason_is_reachable`] runs them again.
macro_rules! scenario_tests {
    ($($name:ident),* $(,)?) => {
        mod scenario {
            $(#[tokio::test]
            async fn $name() {
                super::$name().await
            })*
        }
    };
}

scenario_tests!(
    ingest_disabled_denies_everyone_even_with_authorization_off,
    authorization_off_or_none_allows_and_auto_publish_decides_published,
    local_takes_the_seed_users_and_tokens,
    a_live_stream_key_is_replaced_only_when_overwrite_is_allowed,
    a_denied_publisher_cannot_take_over_a_live_stream,
    managed_streams_need_their_own_credentials,
    file_follows_edits_and_denies_when_the_file_is_unusable,
    request_asks_the_service_and_fails_closed
);

fn authorizer() -> Authorizer {
    Authorizer::builder().build().unwrap()
}

async fn ingest_disabled_denies_everyone_even_with_authorization_off() {
    let authorizer = authorizer();
    let off = settings(json!({"allowStreamIngest": false}));
    let attempt = attempt("cam", Presented::Nothing);
    assert_eq!(denied(decide(&authorizer, &off, &attempt).await), DenyReason::IngestDisabled);
    let seed_local = settings(json!({"allowStreamIngest": false, "authorizationEnabled": true,
        "authType": "local", "authUsers": [{"username": "admin", "password": "qwerty123"}]}));
    let right = self::attempt("cam", login("admin", "qwerty123"));
    assert_eq!(denied(decide(&authorizer, &seed_local, &right).await), DenyReason::IngestDisabled);
}

async fn authorization_off_or_none_allows_and_auto_publish_decides_published() {
    let authorizer = authorizer();
    let anyone = attempt("cam", Presented::Nothing);
    for settings in [
        settings(json!({})),
        settings(json!({"authorizationEnabled": false, "authType": "managed"})),
        settings(json!({"authorizationEnabled": true, "authType": "none"})),
    ] {
        let Decision::Allow(allowed) = decide(&authorizer, &settings, &anyone).await else {
            panic!("{settings:?}")
        };
        assert!(allowed.published);
        assert!(authorizer.end_session(allowed.id));
    }
    let held = settings(json!({"autoStreamPublish": false}));
    let Decision::Allow(allowed) = decide(&authorizer, &held, &anyone).await else { panic!() };
    assert!(!allowed.published, "autoStreamPublish: false starts the stream unpublished");
}

async fn local_takes_the_seed_users_and_tokens() {
    let authorizer = authorizer();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let now = i64::try_from(now.as_millis()).unwrap();
    // The seed's `local` example, with an expired token and one that expires in an hour added.
    let local = settings(json!({"authorizationEnabled": true, "authType": "local", "authUsers": [
        {"username": "admin", "password": "qwerty123"},
        {"token": "abc123xyz789"},
        {"token": "expired-token", "expire": now - 1},
        {"token": "hour-token", "expire": now + 3_600_000},
    ]}));
    let cases = [
        (login("admin", "qwerty123"), None),
        (token("abc123xyz789"), None),
        (token("hour-token"), None),
        (login("admin", "qwerty124"), Some(DenyReason::InvalidCredentials)),
        (login("root", "qwerty123"), Some(DenyReason::InvalidCredentials)),
        (token("abc123xyz78"), Some(DenyReason::InvalidCredentials)),
        (token("expired-token"), Some(DenyReason::TokenExpired)),
        (Presented::Nothing, Some(DenyReason::CredentialsMissing)),
        (Presented::stream_secret("qwerty123").unwrap(), Some(DenyReason::InvalidCredentials)),
    ];
    for (index, (presented, expected)) in cases.into_iter().enumerate() {
        let attempt = attempt(&format!("cam-{index}"), presented);
        let decision = decide(&authorizer, &local, &attempt).await;
        match expected {
            None => assert!(decision.is_allowed(), "{attempt:?}: {decision:?}"),
            Some(reason) => assert_eq!(denied(decision), reason, "{attempt:?}"),
        }
    }
}

async fn a_live_stream_key_is_replaced_only_when_overwrite_is_allowed() {
    let authorizer = authorizer();
    let overwrite = settings(json!({}));
    let exclusive = settings(json!({"allowStreamOverwrite": false}));
    let publisher = attempt("stage", Presented::Nothing);

    let Decision::Allow(first) = decide(&authorizer, &exclusive, &publisher).await else {
        panic!()
    };
    assert_eq!(first.replaced, None);
    assert_eq!(authorizer.live_session("live", "stage"), Some(first.id));
    assert_eq!(denied(decide(&authorizer, &exclusive, &publisher).await), DenyReason::StreamLive);
    assert_eq!(authorizer.live_session("live", "stage"), Some(first.id), "the first stays live");
    let other_app = PublishAttempt::new("other", "stage", CLIENT);
    assert!(
        decide(&authorizer, &exclusive, &other_app).await.is_allowed(),
        "keys are per application"
    );

    let Decision::Allow(second) = decide(&authorizer, &overwrite, &publisher).await else {
        panic!()
    };
    assert_eq!(second.replaced, Some(first.id));
    assert!(!authorizer.end_session(first.id), "a replaced session is over");
    assert!(authorizer.end_session(second.id));
    assert_eq!(authorizer.live_session("live", "stage"), None);
    assert!(
        decide(&authorizer, &exclusive, &publisher).await.is_allowed(),
        "free again once ended"
    );
}

async fn a_denied_publisher_cannot_take_over_a_live_stream() {
    let authorizer = authorizer();
    let local = settings(json!({"authorizationEnabled": true, "authType": "local",
        "authUsers": [{"username": "admin", "password": "qwerty123"}]}));
    let Decision::Allow(owner) =
        decide(&authorizer, &local, &attempt("main", login("admin", "qwerty123"))).await
    else {
        panic!()
    };
    let intruder = attempt("main", login("admin", "guess"));
    assert_eq!(
        denied(decide(&authorizer, &local, &intruder).await),
        DenyReason::InvalidCredentials
    );
    assert_eq!(authorizer.live_session("live", "main"), Some(owner.id));
}

async fn managed_streams_need_their_own_credentials() {
    let source = |value: Value| serde_json::from_value::<StreamSource>(value).unwrap();
    let mut streams = HashMap::new();
    streams.insert(
        ("live".to_owned(), "studio".to_owned()),
        source(json!({"authType": "credentials", "auth": {"username": "studio", "password": "s3cret"}})),
    );
    streams.insert(("live".to_owned(), "open".to_owned()), source(json!({"authType": "none"})));
    streams.insert(
        ("live".to_owned(), "vip".to_owned()),
        source(json!({"authType": "secret", "auth": {"secret": "s3cret"}})),
    );
    let authorizer = Authorizer::builder().managed_streams(Arc::new(streams)).build().unwrap();
    let managed = settings(json!({"authorizationEnabled": true, "authType": "managed"}));
    let decide_on = |key: &str, presented| {
        let attempt = attempt(key, presented);
        let authorizer = &authorizer;
        let managed = &managed;
        async move { decide(authorizer, managed, &attempt).await }
    };
    assert!(decide_on("studio", login("studio", "s3cret")).await.is_allowed());
    assert!(decide_on("open", Presented::Nothing).await.is_allowed());
    assert!(decide_on("vip", Presented::stream_secret("s3cret").unwrap()).await.is_allowed());
    assert_eq!(denied(decide_on("vip", token("s3cret")).await), DenyReason::InvalidCredentials);
    assert_eq!(
        denied(decide_on("studio", login("studio", "x")).await),
        DenyReason::InvalidCredentials
    );
    assert_eq!(
        denied(decide_on("studio", Presented::Nothing).await),
        DenyReason::CredentialsMissing
    );
    assert_eq!(denied(decide_on("missing", Presented::Nothing).await), DenyReason::StreamNotFound);

    let without_streams = authorizer_without_streams();
    let attempt = attempt("studio", login("studio", "s3cret"));
    assert_eq!(
        denied(decide(&without_streams, &managed, &attempt).await),
        DenyReason::StreamNotFound
    );
}

fn authorizer_without_streams() -> Authorizer {
    Authorizer::builder().build().unwrap()
}

/// A fresh directory under the system's temporary one (tests run concurrently, some twice).
fn temp_dir(name: &str) -> std::path::PathBuf {
    static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let count = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir =
        std::env::temp_dir().join(format!("ingest-auth-{name}-{}-{count}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn file_follows_edits_and_denies_when_the_file_is_unusable() {
    let dir = temp_dir("file");
    let path = dir.join("publish_keys.xml");
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/publish_keys.xml"), &path)
        .unwrap();
    let authorizer = Authorizer::builder().file_root(&dir).build().unwrap();
    let file = settings(json!({"authorizationEnabled": true, "authType": "file",
        "fileURL": path.to_str().unwrap()}));

    assert!(
        decide(&authorizer, &file, &attempt("a", login("admin", "change-me"))).await.is_allowed()
    );
    assert!(
        decide(&authorizer, &file, &attempt("lobby", login("guest", "guest-password")))
            .await
            .is_allowed()
    );
    assert_eq!(
        denied(
            decide(&authorizer, &file, &attempt("main", login("guest", "guest-password"))).await
        ),
        DenyReason::StreamKeyNotAllowed
    );
    assert!(
        decide(&authorizer, &file, &attempt("b", token("4c1d2a7e-never-expires")))
            .await
            .is_allowed()
    );
    assert_eq!(
        denied(decide(&authorizer, &file, &attempt("c", token("a0f3c9e1-expired"))).await),
        DenyReason::TokenExpired
    );

    // Edited while the engine runs: the admin's password changes, a new user appears.
    std::fs::write(
        &path,
        r#"<ingestAuthorization><user username="admin" password="new-password"/>
           <user username="carol" password="s3cret"><streamKey>carol-cam</streamKey></user></ingestAuthorization>"#,
    )
    .unwrap();
    assert_eq!(
        denied(decide(&authorizer, &file, &attempt("d", login("admin", "change-me"))).await),
        DenyReason::InvalidCredentials
    );
    assert!(
        decide(&authorizer, &file, &attempt("carol-cam", login("carol", "s3cret")))
            .await
            .is_allowed()
    );

    // Malformed: nobody, not even a user who was valid a moment ago.
    std::fs::write(&path, r#"<ingestAuthorization><user username="carol" password="s3cret">"#)
        .unwrap();
    assert_eq!(
        denied(decide(&authorizer, &file, &attempt("carol-cam", login("carol", "s3cret"))).await),
        DenyReason::AuthorizationUnavailable
    );
    std::fs::remove_file(&path).unwrap();
    assert_eq!(
        denied(decide(&authorizer, &file, &attempt("carol-cam", login("carol", "s3cret"))).await),
        DenyReason::AuthorizationUnavailable,
        "a missing file allows nobody"
    );

    // A file outside the configured root is refused even though it is valid.
    let outside = temp_dir("file-outside").join("keys.xml");
    std::fs::write(
        &outside,
        r#"<ingestAuthorization><user username="x" password="y"/></ingestAuthorization>"#,
    )
    .unwrap();
    let elsewhere = settings(json!({"authorizationEnabled": true, "authType": "file",
        "fileURL": outside.to_str().unwrap()}));
    assert!(authorizer.check_file_url(&outside).is_err());
    assert_eq!(
        denied(decide(&authorizer, &elsewhere, &attempt("e", login("x", "y"))).await),
        DenyReason::AuthorizationUnavailable
    );
    assert!(
        decide(&authorizer_without_streams(), &elsewhere, &attempt("e", login("x", "y")))
            .await
            .is_allowed(),
        "without a root, any absolute path is used"
    );
}

/// What the authorization service saw of one call.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    api_key: Option<String>,
    body: Value,
}

#[derive(Clone, Default)]
struct Service {
    seen: Arc<Mutex<Vec<Seen>>>,
}

async fn answer(
    State(service): State<Service>,
    UrlPath(key): UrlPath<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    service.seen.lock().unwrap().push(Seen {
        path: uri.path().to_owned(),
        api_key: headers.get("x-api-key").map(|value| value.to_str().unwrap().to_owned()),
        body: serde_json::from_slice(&body).unwrap(),
    });
    match key.as_str() {
        "forbidden" => StatusCode::FORBIDDEN.into_response(),
        "broken" => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            StatusCode::OK.into_response()
        }
        "moved" => Redirect::temporary("/auth/ok").into_response(),
        _ => StatusCode::NO_CONTENT.into_response(),
    }
}

async fn serve_service() -> (SocketAddr, Service) {
    let service = Service::default();
    let app = Router::new().route("/auth/{key}", post(answer)).with_state(service.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (address, service)
}

async fn request_asks_the_service_and_fails_closed() {
    let (address, service) = serve_service().await;
    let authorizer =
        Authorizer::builder().request_timeout(Duration::from_millis(500)).build().unwrap();
    // The seed's `request` example, pointed at the local service.
    let request = settings(json!({"authorizationEnabled": true, "authType": "request",
        "requestURL": format!("http://{address}/auth/${{streamKey}}"), "apiKey": "k3y-SECRET"}));

    let allowed =
        decide(&authorizer, &request, &attempt("cam 1/a?b", login("alice", "s3cret"))).await;
    assert!(allowed.is_allowed(), "{allowed:?}");
    let seen = service.seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(seen.path, "/auth/cam%201%2Fa%3Fb", "the key stays in its segment");
    assert_eq!(seen.api_key.as_deref(), Some("k3y-SECRET"));
    assert_eq!(
        seen.body,
        json!({"application": "live", "streamKey": "cam 1/a?b", "clientAddress": "203.0.113.7",
               "credentials": {"type": "credentials", "username": "alice", "password": "s3cret"}})
    );
    assert!(decide(&authorizer, &request, &attempt("t", token("abc123xyz789"))).await.is_allowed());
    assert_eq!(
        service.seen.lock().unwrap().last().unwrap().body["credentials"],
        json!({"type": "token", "token": "abc123xyz789"})
    );

    let cases = [
        ("forbidden", DenyReason::Rejected),
        ("broken", DenyReason::AuthorizationUnavailable),
        ("slow", DenyReason::AuthorizationUnavailable),
        ("moved", DenyReason::AuthorizationUnavailable),
        ("..", DenyReason::InvalidStreamKey),
    ];
    for (key, reason) in cases {
        let calls_before = service.seen.lock().unwrap().len();
        let started = std::time::Instant::now();
        assert_eq!(
            denied(decide(&authorizer, &request, &attempt(key, Presented::Nothing)).await),
            reason,
            "{key}"
        );
        assert!(started.elapsed() < Duration::from_secs(3), "{key}: the timeout bounds the wait");
        let calls = service.seen.lock().unwrap()[calls_before..]
            .iter()
            .map(|seen| seen.path.clone())
            .collect::<Vec<_>>();
        match key {
            ".." => assert!(calls.is_empty(), "no request for a key that would change the URL"),
            "moved" => assert_eq!(calls, ["/auth/moved"], "the redirect is not followed"),
            _ => assert_eq!(calls.len(), 1, "{key}"),
        }
    }

    // Nobody listening.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let unreachable = settings(json!({"authorizationEnabled": true, "authType": "request",
        "requestURL": format!("http://{closed}/auth/${{streamKey}}")}));
    assert_eq!(
        denied(decide(&authorizer, &unreachable, &attempt("cam", Presented::Nothing)).await),
        DenyReason::AuthorizationUnavailable
    );
    let without_key =
        service.seen.lock().unwrap().iter().filter(|seen| seen.api_key.is_none()).count();
    assert_eq!(without_key, 0, "every call so far carried the API key");
}

#[tokio::test]
async fn the_settings_enum_can_be_built_directly() {
    let authorizer = authorizer();
    let settings = IngestSettings {
        authorization: Authorization::Local {
            users: vec![serde_json::from_value(json!({"token": "abc123xyz789"})).unwrap()],
        },
        ..IngestSettings::default()
    };
    assert!(
        decide(&authorizer, &settings, &attempt("x", token("abc123xyz789"))).await.is_allowed()
    );
}

/// Tests run in any order, so this one runs the scenarios it needs itself.
#[tokio::test]
async fn every_deny_reason_is_reachable() {
    ingest_disabled_denies_everyone_even_with_authorization_off().await;
    local_takes_the_seed_users_and_tokens().await;
    a_live_stream_key_is_replaced_only_when_overwrite_is_allowed().await;
    managed_streams_need_their_own_credentials().await;
    file_follows_edits_and_denies_when_the_file_is_unusable().await;
    request_asks_the_service_and_fails_closed().await;
    live_sessions_are_bounded_per_application_and_in_all().await;
    let seen: HashSet<DenyReason> = SEEN.lock().unwrap().iter().copied().collect();
    let missing: Vec<_> = DenyReason::ALL.iter().filter(|reason| !seen.contains(reason)).collect();
    assert!(missing.is_empty(), "no test reaches {missing:?}");
}

/// A log writer that keeps what it is given.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn an_unusable_file_is_denied_with_a_log_line_that_says_why() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber =
        tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let dir = temp_dir("file-log");
    let path = dir.join("keys.xml");
    let file = settings(json!({"authorizationEnabled": true, "authType": "file",
        "fileURL": path.to_str().unwrap()}));
    let authorizer = authorizer();
    let attempt = attempt("cam", login("admin", "qwerty123"));

    assert_eq!(
        denied(decide(&authorizer, &file, &attempt).await),
        DenyReason::AuthorizationUnavailable
    );
    std::fs::write(&path, "<ingestAuthorization><user username=\"admin\" password=\"qwerty123\">")
        .unwrap();
    assert_eq!(
        denied(decide(&authorizer, &file, &attempt).await),
        DenyReason::AuthorizationUnavailable
    );

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = log.lines().filter(|line| line.contains("WARN")).collect();
    assert_eq!(lines.len(), 2, "{log}");
    assert!(lines[0].contains("cannot read") && lines[0].contains("keys.xml"), "{log}");
    assert!(
        lines[1].contains("not a valid authorization file") && lines[1].contains("keys.xml"),
        "{log}"
    );
    assert!(!log.contains("qwerty123"), "{log}");
}

/// A `fileURL` naming a FIFO, a device or a huge file denies at once, with the reason logged, and
/// never blocks the serving thread: the test runs on a single-threaded runtime, whose only thread a
/// blocking read would hold.
#[tokio::test(flavor = "current_thread")]
async fn a_file_that_is_not_a_small_regular_file_denies_at_once() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber =
        tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let dir = temp_dir("file-kinds");
    let fifo = dir.join("keys.fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success(), "mkfifo");
    let huge = dir.join("huge.xml");
    std::fs::write(&huge, vec![b' '; 2 * 1024 * 1024]).unwrap();
    let authorizer = Authorizer::builder()
        .request_timeout(Duration::from_secs(5))
        .file_max_bytes(1024 * 1024)
        .build()
        .unwrap();
    let attempt = attempt("cam", login("admin", "qwerty123"));
    for (path, why) in [
        (fifo.to_str().unwrap(), "is not a regular file"),
        ("/dev/zero", "is not a regular file"),
        (huge.to_str().unwrap(), "is larger than the limit of 1048576 bytes"),
    ] {
        let file =
            settings(json!({"authorizationEnabled": true, "authType": "file", "fileURL": path}));
        let started = std::time::Instant::now();
        let decision = decide(&authorizer, &file, &attempt).await;
        assert_eq!(denied(decision), DenyReason::AuthorizationUnavailable, "{path}");
        // Far below the 5 s time limit: the type and size are checked, not waited for.
        assert!(started.elapsed() < Duration::from_secs(4), "{path}");
        let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(log.lines().any(|line| line.contains(path) && line.contains(why)), "{log}");
    }
}

/// Live sessions have a ceiling in each application and in all; an ended session makes room again.
async fn live_sessions_are_bounded_per_application_and_in_all() {
    let authorizer =
        Authorizer::builder().max_sessions(3).max_sessions_per_application(2).build().unwrap();
    let open = settings(json!({"allowStreamOverwrite": true}));
    let publish = |application: &str, key: &str| {
        PublishAttempt::new(application, key, Ipv4Addr::LOCALHOST.into())
    };
    let allowed = |decision: Decision| match decision {
        Decision::Allow(allowed) => allowed,
        Decision::Deny(reason) => panic!("denied: {reason}"),
    };
    let first = allowed(decide(&authorizer, &open, &publish("a", "k1")).await);
    allowed(decide(&authorizer, &open, &publish("a", "k2")).await);
    assert_eq!(
        denied(decide(&authorizer, &open, &publish("a", "k3")).await),
        DenyReason::SessionLimit,
        "two sessions in `a` are its limit"
    );
    // Replacing a live key needs no room: it takes the place of the session it replaces.
    let replacing = allowed(decide(&authorizer, &open, &publish("a", "k1")).await);
    assert_eq!(replacing.replaced, Some(first.id));
    allowed(decide(&authorizer, &open, &publish("b", "k1")).await);
    assert_eq!(
        denied(decide(&authorizer, &open, &publish("c", "k1")).await),
        DenyReason::SessionLimit,
        "three sessions are the server's limit"
    );
    assert!(authorizer.end_session(replacing.id));
    allowed(decide(&authorizer, &open, &publish("c", "k1")).await);
    assert!(DenyReason::SessionLimit.to_string().contains("live sessions"));
}

/// `request` calls only where the destinations allow, checked on the address a call connects to:
/// a name is resolved first, and an address in any spelling is read as the address it is.
#[tokio::test]
async fn request_calls_only_allowed_destinations() {
    let (address, service) = serve_service().await;
    let port = address.port();
    let request = |url: String| {
        settings(json!({"authorizationEnabled": true, "authType": "request",
            "requestURL": url, "apiKey": "k3y-SECRET"}))
    };
    let by_name = request(format!("http://localhost:{port}/auth/${{streamKey}}"));
    let by_short_address = request(format!("http://127.1:{port}/auth/${{streamKey}}"));

    // By default loopback is allowed, by name and in any spelling.
    let loopback = Authorizer::builder().build().unwrap();
    assert!(decide(&loopback, &by_name, &attempt("cam", Presented::Nothing)).await.is_allowed());
    assert!(
        decide(&loopback, &by_short_address, &attempt("cam", Presented::Nothing))
            .await
            .is_allowed()
    );
    let calls = service.seen.lock().unwrap().len();
    assert_eq!(calls, 2);

    // Where only another network is allowed, neither reaches the service: the name resolves to
    // loopback, which is then not allowed, and the address is refused before any call.
    let elsewhere = Authorizer::builder()
        .request_destinations(Destinations::new(["10.0.0.0/8".parse().unwrap()]))
        .build()
        .unwrap();
    for settings in [&by_name, &by_short_address] {
        assert_eq!(
            denied(decide(&elsewhere, settings, &attempt("cam", Presented::Nothing)).await),
            DenyReason::AuthorizationUnavailable
        );
    }
    assert_eq!(service.seen.lock().unwrap().len(), calls, "no call left the allowed networks");
    assert_eq!(
        elsewhere.check_request_url(&format!("http://127.1:{port}/auth")),
        Err(RequestUrlError::DestinationNotAllowed { address: "127.0.0.1".parse().unwrap() })
    );
    // Metadata addresses never, whatever the configuration.
    let everywhere = Authorizer::builder()
        .request_destinations(Destinations::new(["0.0.0.0/0".parse().unwrap()]))
        .build()
        .unwrap();
    for url in ["http://169.254.169.254/latest/meta-data", "http://[::ffff:169.254.169.254]/"] {
        assert!(
            matches!(
                everywhere.check_request_url(url),
                Err(RequestUrlError::DestinationNotAllowed { .. })
            ),
            "{url}"
        );
    }
}
