//! The README's pairings of the emulator with the client examples, each run as documented: the
//! emulator on a loopback port with the credentials it prints (the AIOZ bearer token, the Storm
//! `admin` password), the client example's `run` against it. The examples' files are compiled in here
//! as they are; only `main` (the environment) is left out.

use streamspec_client::{RetryPolicy, aioz, emulator, storm};
use streamspec_emulator::{Config, Emulator};

#[allow(dead_code)]
#[path = "../../client/examples/aioz_live_stream_keys.rs"]
mod aioz_live_stream_keys;

#[allow(dead_code)]
#[path = "../../client/examples/storm_local_auth.rs"]
mod storm_local_auth;

#[allow(dead_code)]
#[path = "../../client/examples/aioz_streaming.rs"]
mod aioz_streaming;

mod support;

/// An emulator on a throwaway database, its address, and the credentials its banner prints.
async fn start() -> (String, streamspec_emulator::Credentials) {
    let emulator = Emulator::new(&Config { db: ":memory:".into(), ..Config::default() }).unwrap();
    let credentials = emulator.credentials().clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(emulator.serve(listener, std::future::pending()));
    (address, credentials)
}

#[tokio::test]
async fn the_emulator_serves_the_aioz_client_example() {
    let (address, credentials) = start().await;
    let token = aioz::Credentials::bearer(credentials.aioz_accounts[0].token.as_str()).unwrap();
    let client = aioz::Client::builder(format!("http://{address}/api"), token)
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    aioz_live_stream_keys::run(&client).await.unwrap_or_else(|error| panic!("{error}"));
    let left = client.list_live_stream_keys().send().await.unwrap().into_inner();
    assert_eq!(left.data.and_then(|data| data.total), Some(0), "the example deletes its key");
}

/// The streaming example follows an encoder (the in-process RTMP publisher, for a second) from
/// `created` to `live` to `ended`, and finds its recording.
#[tokio::test]
async fn the_emulator_serves_the_aioz_streaming_example() {
    let running =
        Emulator::start(&Config { db: ":memory:".into(), ..Config::default() }).await.unwrap();
    let token = running.credentials().aioz.accounts[0].token.expose().to_owned();
    let client =
        aioz::Client::builder(running.url() + "/api", aioz::Credentials::bearer(token).unwrap())
            .retry(RetryPolicy::none())
            .build()
            .unwrap();
    let rtmp = running.rtmp_address().unwrap();
    let encoder = |url: String| async move {
        let stream_key = url.rsplit('/').next().unwrap().to_owned();
        tokio::spawn(async move {
            let mut publisher =
                support::rtmp_client::publish(rtmp, "live", &stream_key).await.unwrap();
            for _ in 0..10 {
                publisher.send_media(3, 4000).await.unwrap();
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        });
    };
    let poll = std::time::Duration::from_millis(50);
    let watched = aioz_streaming::run(&client, encoder, poll, support::rtmp_client::PATIENCE)
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    assert!(watched.live.bitrate_in.unwrap() > 0.0, "{watched:?}");
    assert_eq!(watched.live.fps_in, Some(25), "the publisher's metadata: {watched:?}");
    assert!(watched.streaming.media.is_some(), "recorded: {watched:?}");
    let left = client.list_live_stream_keys().send().await.unwrap().into_inner();
    assert_eq!(left.data.and_then(|data| data.total), Some(0), "the example deletes its key");
}

/// After the example, the publisher it configured gets in and anyone else does not.
#[tokio::test]
async fn the_emulator_serves_the_storm_client_example() {
    let (address, credentials) = start().await;
    let admin = &credentials.storm_users[0];
    let login = storm::Credentials::login(&admin.username, &admin.password).unwrap();
    let client = storm::Client::builder(format!("http://{address}"), login)
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let settings = storm_local_auth::run(&client, "live", ("publisher", "change-me"))
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(settings.auth_type.value.to_string(), "local");

    let publish = emulator::Client::builder(format!("http://{address}")).build().unwrap();
    let attempt = |password: &str| {
        serde_json::from_value::<emulator::types::PublishRequest>(serde_json::json!({
            "streamKey": "camera1",
            "credentials": {"type": "credentials", "username": "publisher", "password": password}
        }))
        .unwrap()
    };
    let decision = |answer: emulator::types::PublishDecision| {
        serde_json::to_value(answer).unwrap()["decision"].as_str().unwrap().to_owned()
    };
    let allowed = publish.publish().app_name("live").body(attempt("change-me")).send().await;
    assert_eq!(decision(allowed.unwrap().into_inner()), "allow");
    let denied = publish.publish().app_name("live").body(attempt("guess")).send().await;
    assert_eq!(decision(denied.unwrap().into_inner()), "deny");
}
