//! The control operations over a real socket on 127.0.0.1, through the generated emulator client:
//! health names the bound address, and the credentials document is the one that works.

use futures::TryStreamExt;
use serde_json::json;
use streamspec_client::{RetryPolicy, aioz, emulator, storm};
use streamspec_emulator::{Config, Emulator};

/// An AIOZ client on the emulator `document` names, with `token` and `retry`.
fn aioz_client(
    document: &emulator::types::EmulatorCredentials,
    token: &str,
    retry: RetryPolicy,
) -> aioz::Client {
    aioz::Client::builder(
        document.aioz.base_url.as_str(),
        aioz::Credentials::bearer(token).unwrap(),
    )
    .retry(retry)
    .build()
    .unwrap()
}

#[tokio::test]
async fn health_names_the_bound_address_and_the_credentials_work() {
    let emulator = Emulator::new(&Config { db: ":memory:".into(), ..Config::default() }).unwrap();
    let printed = emulator.credentials().clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(emulator.serve(listener, std::future::pending()));
    let control = emulator::Client::builder(format!("http://{address}")).build().unwrap();

    let health = control.get_health().send().await.unwrap().into_inner();
    assert_eq!(health.status.to_string(), "ready");
    assert_eq!(health.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(health.listeners.len(), 1);
    assert_eq!(health.listeners[0].address, address.to_string());
    assert_eq!(health.listeners[0].url, format!("http://{address}"));

    let document = control.get_credentials().send().await.unwrap().into_inner();
    assert_eq!(document.aioz.base_url, format!("http://{address}/api"));
    assert_eq!(document.storm.base_url, format!("http://{address}"));
    let account = &document.aioz.accounts[0];
    assert_eq!(account.token.expose(), printed.aioz_accounts[0].token);
    assert_eq!(document.storm.users[0].password.expose(), printed.storm_users[0].password);
    assert_eq!(document.storm.api_key.expose(), printed.storm_api_key);
    // What a test does next: use them.
    let client = aioz_client(&document, account.token.expose(), RetryPolicy::none());
    client.list_live_stream_keys().send().await.unwrap();
    // No secret in the `Debug` a failed assertion would print.
    let shown = format!("{document:?} {printed:?}");
    assert!(!shown.contains(account.token.expose()) && !shown.contains(&printed.storm_api_key));
}

fn fault(value: serde_json::Value) -> emulator::types::FaultRule {
    serde_json::from_value(value).unwrap()
}

/// The client retries injected 503s and 429s as their headers say, then succeeds; the journal shows
/// every attempt and the fault that answered it.
#[tokio::test]
async fn the_client_retries_injected_faults_and_the_journal_shows_every_attempt() {
    let running =
        Emulator::start(&Config { db: ":memory:".into(), ..Config::default() }).await.unwrap();
    let document = running.credentials();
    let account = &document.aioz.accounts[0];
    let keys = aioz_client(&document, account.token.expose(), RetryPolicy::default());
    let body = aioz::types::CreateLiveStreamKeyRequest::builder().name("retried");
    let key = keys.create_live_stream_key().body(body).send().await.unwrap().into_inner().data;

    let control = emulator::Client::builder(running.url()).build().unwrap();
    let unavailable = control
        .create_fault()
        .body(fault(json!({"operation": "get_live_stream_key", "action": "respond",
            "status": 503, "times": 2, "retryAfter": 0, "account": account.user_id})))
        .send()
        .await
        .unwrap()
        .into_inner();
    let limited = control
        .create_fault()
        .body(fault(json!({"operation": "get_live_stream_key", "action": "respond",
            "status": 429, "retryAfter": 0})))
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(control.list_faults().send().await.unwrap().into_inner().faults.len(), 2);
    let spare = control
        .create_fault()
        .body(fault(json!({"operation": "delete_live_stream_key", "action": "close"})))
        .send()
        .await
        .unwrap()
        .into_inner();
    control.delete_fault().fault_id(spare.id).send().await.unwrap();
    let gone = control.delete_fault().fault_id(spare.id).send().await.unwrap_err();
    assert!(matches!(gone, emulator::Error::NotFound(_)), "{gone:?}");

    let got = keys.get_live_stream_key().id(key.id.as_str()).send().await.unwrap();
    assert_eq!(got.data.id, key.id, "three retries, then the key");

    let journal =
        control.get_journal().operation("get_live_stream_key").send().await.unwrap().into_inner();
    let attempts: Vec<(i32, Option<uuid::Uuid>)> =
        journal.entries.iter().map(|entry| (entry.status, entry.fault)).collect();
    assert_eq!(
        attempts,
        [
            (503, Some(unavailable.id)),
            (503, Some(unavailable.id)),
            (429, Some(limited.id)),
            (200, None)
        ]
    );
    assert!(journal.entries.iter().all(|entry| entry.account.as_deref() == Some(&account.user_id)));
    assert!(control.list_faults().send().await.unwrap().into_inner().faults.is_empty());

    // With no retries left in the policy, the fault is the answer, as the spec documents it.
    let impatient = aioz_client(&document, account.token.expose(), RetryPolicy::none());
    control
        .create_fault()
        .body(fault(json!({"operation": "get_live_stream_key", "action": "respond",
            "status": 503, "message": "down for maintenance"})))
        .send()
        .await
        .unwrap();
    let error = impatient.get_live_stream_key().id(key.id.as_str()).send().await.unwrap_err();
    let aioz::Error::ServiceUnavailable(answer) = &error else { panic!("{error:?}") };
    assert_eq!(answer.retry_after(), Some(std::time::Duration::from_secs(1)));
    assert_eq!(
        error.to_string(),
        "get_live_stream_key answered 503 Service Unavailable: down for maintenance"
    );
    running.stop().await.unwrap();
}

/// A fault that asks for what the spec does not document is refused, naming the field.
#[tokio::test]
async fn a_fault_the_spec_does_not_document_is_a_400() {
    let running =
        Emulator::start(&Config { db: ":memory:".into(), ..Config::default() }).await.unwrap();
    let control = emulator::Client::builder(running.url()).build().unwrap();
    let refused = control
        .create_fault()
        .body(fault(json!({"operation": "login", "action": "respond", "status": 418})))
        .send()
        .await
        .unwrap_err();
    let emulator::Error::BadRequest(answer) = &refused else { panic!("{refused:?}") };
    assert_eq!(answer.body().message, "`status`: value is not one of 400, 401, 429, 500 or 503");

    // The journal's `since` is an RFC 3339 time, or the 400 says what it must be.
    let url = format!("{}/_emulator/journal?since=yesterday", running.url());
    let answer = reqwest::get(url).await.unwrap();
    assert_eq!(answer.status().as_u16(), 400);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["message"], "query parameter `since`: `yesterday` is not an RFC 3339 time");
}

/// `close` closes the connection unanswered; `delay` answers late, as usual.
#[tokio::test]
async fn a_fault_closes_the_connection_or_delays_the_answer() {
    let running =
        Emulator::start(&Config { db: ":memory:".into(), ..Config::default() }).await.unwrap();
    let controls = running.controls();
    let document = running.credentials();
    let token = document.aioz.accounts[0].token.expose().to_owned();
    let keys = aioz_client(&document, &token, RetryPolicy::none());
    controls
        .create_fault(fault(json!({"operation": "list_live_stream_keys", "action": "close"})))
        .unwrap();
    let error = keys.list_live_stream_keys().send().await.unwrap_err();
    assert!(matches!(error, aioz::Error::Transport { .. }), "{error:?}");
    controls
        .create_fault(fault(
            json!({"operation": "list_live_stream_keys", "action": "delay", "delayMs": 300}),
        ))
        .unwrap();
    let started = std::time::Instant::now();
    keys.list_live_stream_keys().send().await.unwrap();
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
    let statuses: Vec<i32> = controls
        .journal(Some("list_live_stream_keys"), None)
        .iter()
        .map(|entry| entry.status)
        .collect();
    assert_eq!(statuses, [0, 200], "a closed connection is journaled with status 0");
}

/// A reset removes what tests made and keeps the credentials; with `regenerate`, old credentials
/// stop working and the new ones work.
#[tokio::test]
async fn a_reset_goes_back_to_a_fresh_start() {
    let running =
        Emulator::start(&Config { db: ":memory:".into(), ..Config::default() }).await.unwrap();
    let document = running.credentials();

    let old_token = document.aioz.accounts[0].token.expose().to_owned();
    let keys = aioz_client(&document, &old_token, RetryPolicy::none());
    let body = aioz::types::CreateLiveStreamKeyRequest::builder().name("before the reset");
    keys.create_live_stream_key().body(body).send().await.unwrap();
    let storm = storm::Client::builder(
        running.url(),
        storm::Credentials::api_key(document.storm.api_key.expose()).unwrap(),
    )
    .retry(RetryPolicy::none())
    .build()
    .unwrap();
    storm.delete_application().app_name("live").send().await.unwrap();
    let control = emulator::Client::builder(running.url()).build().unwrap();
    control
        .create_fault()
        .body(fault(json!({"operation": "login", "action": "close", "times": 5})))
        .send()
        .await
        .unwrap();

    let reset = control.reset().send().await.unwrap().into_inner();
    assert!(!reset.credentials_regenerated);
    let total = |page: aioz::types::LiveStreamKeyListResponse| page.data.and_then(|d| d.total);
    assert_eq!(total(keys.list_live_stream_keys().send().await.unwrap().into_inner()), Some(0));
    storm.get_application_settings().app_name("live").send().await.unwrap();
    assert!(control.list_faults().send().await.unwrap().into_inner().faults.is_empty());
    let journal = control.get_journal().send().await.unwrap().into_inner();
    assert_eq!(journal.entries.len(), 2, "only what came after the reset: {:?}", journal.entries);

    let reset = control
        .reset()
        .credentials(emulator::types::CredentialsOnReset::Regenerate)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert!(reset.credentials_regenerated);
    let renewed = control.get_credentials().send().await.unwrap().into_inner();
    let new_token = renewed.aioz.accounts[0].token.expose().to_owned();
    assert_ne!(new_token, old_token);
    assert_eq!(renewed.aioz.accounts[0].user_id, document.aioz.accounts[0].user_id);
    let refused = keys.list_live_stream_keys().send().await.unwrap_err();
    assert!(matches!(refused, aioz::Error::Unauthorized(_)), "{refused:?}");
    aioz_client(&document, &new_token, RetryPolicy::none())
        .list_live_stream_keys()
        .send()
        .await
        .unwrap();
    let refused = storm.get_application_settings().app_name("live").send().await.unwrap_err();
    assert!(matches!(refused, storm::Error::Unauthorized(_)), "{refused:?}");
    assert_eq!(running.credentials().storm.api_key.expose(), renewed.storm.api_key.expose());
}

/// Each API's spec is served, the one the conformance crate checks against.
#[tokio::test]
async fn the_specs_are_served() {
    let running =
        Emulator::start(&Config { db: ":memory:".into(), ..Config::default() }).await.unwrap();
    let control = emulator::Client::builder(running.url()).build().unwrap();
    for (api, title) in [
        (emulator::types::ApiName::Aioz, "AIOZ"),
        (emulator::types::ApiName::Storm, "Storm"),
        (emulator::types::ApiName::Emulator, "emulator"),
    ] {
        let spec = control.get_spec().api(api).send().await.unwrap().into_inner();
        assert_eq!(spec["openapi"], "3.0.3");
        assert!(spec["info"]["title"].as_str().unwrap().contains(title), "{}", spec["info"]);
        assert!(spec["components"]["schemas"].as_object().is_some_and(|s| !s.is_empty()));
    }
}

/// Creates racing a reset: every key whose create was answered after the reset answered is still
/// there, and none answered before the reset began is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_during_traffic_keeps_what_came_after_it() {
    // On disk: the writer thread commits in batches and readers read beside it, as in the binary.
    let dir = std::env::temp_dir().join(format!("streamspec-reset-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = Config { db: dir.join("db.sqlite"), ..Config::default() };
    let running = Emulator::start(&config).await.unwrap();
    let document = running.credentials();
    let keys =
        aioz_client(&document, document.aioz.accounts[0].token.expose(), RetryPolicy::none());
    let create = |name: String| {
        let keys = keys.clone();
        async move {
            let body = aioz::types::CreateLiveStreamKeyRequest::builder().name(name.as_str());
            keys.create_live_stream_key().body(body).send().await.unwrap().into_inner().data.id
        }
    };
    let mut before = Vec::new();
    for n in 0..20 {
        before.push(create(format!("before {n}")).await);
    }
    let racing: Vec<_> = (0..40).map(|n| tokio::spawn(create(format!("racing {n}")))).collect();
    running.controls().reset(emulator::types::CredentialsOnReset::Keep).await.unwrap();
    let mut after = Vec::new();
    for n in 0..20 {
        after.push(create(format!("after {n}")).await);
    }
    for task in racing {
        task.await.unwrap();
    }
    let listed: Vec<String> = keys
        .all_live_stream_keys(aioz::ListOptions::default())
        .map_ok(|key| key.id)
        .try_collect()
        .await
        .unwrap();
    assert!(after.iter().all(|id| listed.contains(id)), "a key created after the reset is lost");
    assert!(before.iter().all(|id| !listed.contains(id)), "a key from before the reset is left");
    running.stop().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
