//! RTMP ingest in process: publishers (an RTMP client library) against the emulator's listener on
//! 127.0.0.1, for AIOZ keys and for every Storm auth type, each Storm attempt checked against the
//! `publish` operation's decision for the same attempt.

mod support;

use serde_json::{Value, json};
use streamspec_emulator::Config;
use support::fixture::{Fixture, authorization_service, login, settings};
use support::rtmp_client::publish;

fn config() -> Config {
    Config { db: ":memory:".into(), debug: true, ..Config::default() }
}

async fn start(config: Config) -> Fixture {
    Fixture::start(&config).await
}

/// The `publish` operation's decision for the same attempt: `Ok(())` or the reason in words;
/// an allowed session is ended at once.
async fn publish_operation(
    fixture: &Fixture,
    stream_key: &str,
    credentials: Value,
) -> Result<(), String> {
    let answer = fixture
        .http
        .post(fixture.url("/_emulator/applications/live/publish"))
        .json(&json!({"streamKey": stream_key, "credentials": credentials}))
        .send()
        .await
        .unwrap();
    let body = answer.json::<Value>().await.unwrap();
    match body["decision"].as_str() {
        Some("allow") => {
            assert_eq!(fixture.end_session(body["sessionId"].as_str().unwrap()).await, 204);
            Ok(())
        }
        _ => Err(body["message"].as_str().unwrap().to_owned()),
    }
}

/// An RTMP attempt, disconnected once accepted (and its session gone): `Ok(())` or the
/// refusal's description.
async fn rtmp_attempt(
    fixture: &Fixture,
    application: &str,
    stream_name: &str,
) -> Result<(), String> {
    let publisher = publish(fixture.rtmp, application, stream_name).await?;
    drop(publisher);
    fixture.sessions_until(|sessions| sessions.is_empty()).await;
    Ok(())
}

/// One attempt over RTMP and through the `publish` operation: both must decide alike.
async fn both(fixture: &Fixture, stream_name: &str, credentials: Value) -> Result<(), String> {
    let stream_key = stream_name.split('?').next().unwrap();
    let over_rtmp = rtmp_attempt(fixture, "live", stream_name).await;
    let by_operation = publish_operation(fixture, stream_key, credentials).await;
    let over_rtmp = over_rtmp.map_err(|refusal| {
        refusal.strip_prefix("NetStream.Publish.BadName: ").unwrap_or(&refusal).to_owned()
    });
    assert_eq!(over_rtmp, by_operation, "{stream_name}: RTMP and `publish` decide alike");
    by_operation
}

#[tokio::test]
async fn an_aioz_key_takes_its_encoder_while_it_exists() {
    let fixture = start(config()).await;
    let key = fixture.create_key().await;
    let rtmp_url = key["rtmp_url"].as_str().unwrap();
    assert_eq!(
        rtmp_url,
        format!("rtmp://{}/live", fixture.rtmp),
        "the key's URL is one that works"
    );
    let stream_key = key["stream_key"].as_str().unwrap();

    let mut publisher = publish(fixture.rtmp, "live", stream_key).await.unwrap();
    publisher.send_media(10, 1000).await.unwrap();
    let sessions = fixture
        .sessions_until(|sessions| sessions.len() == 1 && sessions[0]["videoMessages"] == 10)
        .await;
    let session = &sessions[0];
    assert_eq!(session["api"], "aioz");
    assert_eq!(session["transport"], "rtmp");
    assert_eq!(session["application"], "live");
    assert_eq!(session["streamKey"], stream_key);
    assert_eq!(session["liveStreamKeyId"], key["id"]);
    assert_eq!(session["audioMessages"], 10);
    assert_eq!(session["keyFrames"], 1);
    assert!(session["bytes"].as_i64().unwrap() > 20_000, "{session}");
    assert_eq!(
        session["video"],
        json!({"codec": "h264", "width": 320, "height": 240, "frameRate": 25.0})
    );
    assert_eq!(session["audio"], json!({"codec": "aac", "sampleRate": 44100, "channels": 1}));
    assert_eq!(session["encoder"], "streamspec-test");

    // A second encoder on the same key takes it over; the first is disconnected.
    let mut second = publish(fixture.rtmp, "live", stream_key).await.unwrap();
    assert!(publisher.closed().await, "the replaced encoder is disconnected");
    fixture
        .sessions_until(|sessions| sessions.len() == 1 && sessions[0]["id"] != session["id"])
        .await;

    // Deleting the key disconnects its encoder, and the key takes no new one.
    fixture.delete_key(key["id"].as_str().unwrap()).await;
    assert!(second.closed().await, "the deleted key's encoder is disconnected");
    fixture.sessions_until(|sessions| sessions.is_empty()).await;
    let refused = publish(fixture.rtmp, "live", stream_key).await.err().unwrap();
    assert_eq!(refused, "NetStream.Publish.BadName: no live stream key has this stream key");
}

#[tokio::test]
async fn an_unknown_aioz_key_is_refused_and_disconnected() {
    let fixture = start(config()).await;
    let unknown = "9d2f7a61-3c4b-4e58-8f1a-2b6c5d4e3f70";
    let refused = publish(fixture.rtmp, "live", unknown).await.err().unwrap();
    assert_eq!(refused, "NetStream.Publish.BadName: no live stream key has this stream key");
    assert!(fixture.sessions().await.is_empty());
}

#[tokio::test]
async fn ending_a_session_disconnects_its_encoder() {
    let fixture = start(config()).await;
    let mut publisher = publish(fixture.rtmp, "live", "camera1").await.unwrap();
    let sessions = fixture.sessions_until(|sessions| sessions.len() == 1).await;
    assert_eq!(sessions[0]["api"], "storm");
    assert_eq!(fixture.end_session(sessions[0]["id"].as_str().unwrap()).await, 204);
    assert!(publisher.closed().await);
    assert!(fixture.sessions().await.is_empty());
    // The stream key is free again: with overwrite off, a new publisher gets in.
    fixture.set(json!({"allowStreamOverwrite": false})).await;
    let _again = publish(fixture.rtmp, "live", "camera1").await.unwrap();
    // A reset disconnects every encoder.
    fixture.emulator.controls().reset(Default::default()).await.unwrap();
    assert!(fixture.sessions().await.is_empty());
}

#[tokio::test]
async fn every_storm_auth_type_decides_as_the_publish_operation_does() {
    let auth_dir = std::env::temp_dir().join(format!("streamspec-rtmp-{}", std::process::id()));
    std::fs::create_dir_all(&auth_dir).unwrap();
    let mut config = config();
    config.storm.file_auth_root = Some(auth_dir.clone());
    let fixture = start(config).await;
    let nothing = json!({"type": "none"});

    // none
    fixture.set(settings(json!({"authType": "none"}))).await;
    both(&fixture, "cam", nothing.clone()).await.unwrap();

    // local: a user, and a token presented on the connect URL's application.
    fixture
        .set(settings(json!({"authType": "local", "authUsers": [
            {"username": "admin", "password": "qwerty123"}, {"token": "abc123xyz789"}]})))
        .await;
    both(&fixture, "cam?username=admin&password=qwerty123", login("admin", "qwerty123"))
        .await
        .unwrap();
    let wrong =
        both(&fixture, "cam?username=admin&password=qwerty", login("admin", "qwerty")).await;
    assert_eq!(wrong.unwrap_err(), "the credentials are not valid");
    let missing = both(&fixture, "cam", nothing.clone()).await;
    assert_eq!(missing.unwrap_err(), "this application requires credentials to publish");
    rtmp_attempt(&fixture, "live?token=abc123xyz789", "cam").await.unwrap();
    assert!(rtmp_attempt(&fixture, "live?token=guess", "cam").await.is_err());

    // file
    let file = auth_dir.join("publish_keys.xml");
    std::fs::write(
        &file,
        r#"<ingestAuthorization><user username="admin" password="qwerty123"/><token value="t0ken"/></ingestAuthorization>"#,
    )
    .unwrap();
    fixture.set(settings(json!({"authType": "file", "fileURL": file.to_str().unwrap()}))).await;
    both(&fixture, "cam?token=t0ken", json!({"type": "token", "token": "t0ken"})).await.unwrap();
    both(&fixture, "cam?username=admin&password=qwerty123", login("admin", "qwerty123"))
        .await
        .unwrap();
    assert!(
        both(&fixture, "cam?token=t0k3n", json!({"type": "token", "token": "t0k3n"}))
            .await
            .is_err()
    );

    // request
    let service = authorization_service().await;
    fixture
        .set(settings(json!({"authType": "request",
            "requestURL": format!("http://{service}/auth/${{streamKey}}")})))
        .await;
    both(&fixture, "cam?username=alice&password=right", login("alice", "right")).await.unwrap();
    let rejected =
        both(&fixture, "cam?username=alice&password=wrong", login("alice", "wrong")).await;
    assert_eq!(rejected.unwrap_err(), "the authorization service refused the stream");

    // managed: the stream's own secret.
    fixture.set(settings(json!({"authType": "managed"}))).await;
    let stream = json!({"data": {"attributes": {"streamKey": "cam", "type": "ingest",
        "source": {"authType": "secret", "auth": {"secret": "s3cret"}}}}});
    fixture.storm(reqwest::Method::POST, "/api/streams/live", stream).await;
    both(&fixture, "cam?secret=s3cret", json!({"type": "secret", "secret": "s3cret"}))
        .await
        .unwrap();
    assert!(
        both(&fixture, "cam?secret=guess", json!({"type": "secret", "secret": "guess"}))
            .await
            .is_err()
    );
    assert!(
        both(&fixture, "other?secret=s3cret", json!({"type": "secret", "secret": "s3cret"}))
            .await
            .is_err()
    );

    // Ingest off: nobody.
    fixture.set(json!({"allowStreamIngest": false})).await;
    let disabled =
        both(&fixture, "cam?secret=s3cret", json!({"type": "secret", "secret": "s3cret"})).await;
    assert_eq!(disabled.unwrap_err(), "stream ingest is disabled for this application");
    let _ = std::fs::remove_dir_all(&auth_dir);
}

#[tokio::test]
async fn overwrite_and_auto_publish_behave_as_the_settings_say() {
    let fixture = start(config()).await;
    fixture
        .set(json!({"allowStreamIngest": true, "allowStreamOverwrite": false,
            "autoStreamPublish": false, "authorizationEnabled": false}))
        .await;
    let mut first = publish(fixture.rtmp, "live", "cam").await.unwrap();
    let sessions = fixture.sessions_until(|sessions| sessions.len() == 1).await;
    assert_eq!(sessions[0]["published"], false, "autoStreamPublish off");
    let refused = publish(fixture.rtmp, "live", "cam").await.err().unwrap();
    assert_eq!(
        refused, "NetStream.Publish.BadName: the stream key is already live",
        "overwrite off: the second is refused"
    );
    first.send_media(2, 100).await.unwrap();

    fixture.set(json!({"allowStreamOverwrite": true, "autoStreamPublish": true})).await;
    let _second = publish(fixture.rtmp, "live", "cam").await.unwrap();
    assert!(first.closed().await, "overwrite on: the first is replaced and disconnected");
    let sessions = fixture
        .sessions_until(|sessions| sessions.len() == 1 && sessions[0]["published"] == true)
        .await;
    assert_eq!(sessions[0]["streamKey"], "cam");
}

#[tokio::test]
async fn a_publish_to_an_application_that_does_not_exist_is_refused() {
    let fixture = start(config()).await;
    let refused = publish(fixture.rtmp, "nowhere", "cam").await.err().unwrap();
    assert_eq!(refused, "NetStream.Publish.BadName: Application not found");
    // Two kinds of credentials at once are refused before any decision.
    let refused = publish(fixture.rtmp, "live", "cam?token=a&secret=b").await.err().unwrap();
    assert_eq!(
        refused,
        "NetStream.Publish.BadName: present one of username and password, token, or secret"
    );
}
