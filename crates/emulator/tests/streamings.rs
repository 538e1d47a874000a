//! AIOZ's streamings over a real socket, driven by the typed client and an in-process RTMP
//! publisher: the lifecycle a publish and a disconnect drive, the rules a key's streamings follow,
//! multicast destinations, and accounts kept apart. (`tests/ffmpeg.rs` runs the lifecycle with a
//! real encoder.)

mod support;

use std::time::Duration;

use serde_json::Value;
use streamspec_client::Error;
use streamspec_client::aioz::{Client, Credentials, types};
use streamspec_emulator::Config;
use streamspec_emulator::config::AiozAccount;
use support::fixture::Fixture;
use support::rtmp_client::{PATIENCE, publish};
use uuid::Uuid;

/// An emulator with two AIOZ accounts, as the vendor's suites run: a client for each.
async fn start() -> (Fixture, Client, Client) {
    let account = |n: &str| AiozAccount {
        user_id: format!("user-{n}"),
        public_key: format!("pk-{n}"),
        secret_key: format!("sk-{n}"),
        token: format!("token-{n}"),
    };
    let config = Config {
        db: ":memory:".into(),
        aioz_accounts: vec![account("main"), account("other")],
        ..Config::default()
    };
    let fixture = Fixture::start(&config).await;
    let client = |token: &str| {
        Client::builder(fixture.url("/api"), Credentials::bearer(token).unwrap())
            .retry(streamspec_client::RetryPolicy::none())
            .build()
            .unwrap()
    };
    let (main, other) = (client("token-main"), client("token-other"));
    (fixture, main, other)
}

/// A new key of the client's account: its id and stream key.
async fn new_key(client: &Client) -> (Uuid, String) {
    let request = types::CreateLiveStreamKeyRequest::new("camera".to_owned());
    let key = client.create_live_stream_key().body(request).send().await.unwrap().into_inner();
    (key.data.id.parse().unwrap(), key.data.stream_key.unwrap())
}

async fn create_streaming(
    client: &Client,
    key: Uuid,
    save: bool,
) -> Result<types::Streaming, Error<types::ErrorResponse>> {
    let mut request = types::CreateStreamingRequest::new("show".parse().unwrap());
    request.save = save;
    let created = client.create_streaming().id(key).body(request).send().await?;
    Ok(created.into_inner().data)
}

async fn get(client: &Client, key: Uuid, streaming: Uuid) -> types::Streaming {
    client.get_streaming().id(key).stream_id(streaming).send().await.unwrap().into_inner().data
}

fn status(streaming: &types::Streaming) -> String {
    streaming.status.as_ref().map(ToString::to_string).unwrap_or_default()
}

/// Polls the streaming until `done` holds.
async fn get_until(
    client: &Client,
    key: Uuid,
    streaming: Uuid,
    done: impl Fn(&types::Streaming) -> bool,
) -> types::Streaming {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let found = get(client, key, streaming).await;
        if done(&found) {
            return found;
        }
        assert!(tokio::time::Instant::now() < deadline, "never became right: {found:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn message(error: &Error<types::ErrorResponse>) -> String {
    match error {
        Error::BadRequest(answer) | Error::NotFound(answer) | Error::Conflict(answer) => {
            answer.body().text().unwrap_or_default().to_owned()
        }
        other => panic!("not an error the operation documents: {other:?}"),
    }
}

#[tokio::test]
async fn a_streaming_follows_its_publisher_from_created_to_live_to_ended() {
    let (fixture, client, _) = start().await;
    let (key, stream_key) = new_key(&client).await;
    let created = create_streaming(&client, key, false).await.unwrap();
    let id: Uuid = created.id.parse().unwrap();
    assert_eq!(status(&created), "created");

    // A key holds one streaming that has not ended.
    let second = create_streaming(&client, key, false).await.unwrap_err();
    assert!(matches!(second, Error::Conflict(_)), "{second:?}");
    assert!(message(&second).starts_with("id: "), "names the field: {second:?}");
    // Only a live streaming can be updated.
    let mut update = types::UpdateStreamingRequest::new(id);
    update.title = Some("renamed".parse().unwrap());
    let idle = client.update_streaming().id(key).body(update.clone()).send().await.unwrap_err();
    assert!(matches!(idle, Error::Conflict(_)) && message(&idle).starts_with("stream_id: "));

    let mut publisher = publish(fixture.rtmp, "live", &stream_key).await.unwrap();
    publisher.send_media(25, 2000).await.unwrap();
    // A publisher's input is counted in batches: wait until all of it is.
    let counted =
        |sessions: &[Value]| sessions.first().is_some_and(|s| s["bytes"].as_i64() >= Some(100_000));
    fixture.sessions_until(counted).await;
    let live = get_until(&client, key, id, |s| status(s) == "live").await;
    assert!(live.updated_at > created.updated_at);
    client.update_streaming().id(key).body(update).send().await.unwrap();
    assert_eq!(get(&client, key, id).await.title.as_deref(), Some("renamed"));

    // A publisher that replaces the first takes the streaming over: it stays live.
    let mut replacement = publish(fixture.rtmp, "live", &stream_key).await.unwrap();
    assert!(publisher.closed().await, "the first publisher is disconnected");
    replacement.send_media(25, 2000).await.unwrap();
    fixture.sessions_until(counted).await;
    assert_eq!(status(&get(&client, key, id).await), "live");

    // Ended from outside, the streaming ends with what the session measured; no `save`, no media.
    let session = fixture.sessions().await[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(fixture.end_session(&session).await, 204);
    let ended = get_until(&client, key, id, |s| status(s) == "ended").await;
    assert!(ended.media.is_none(), "{ended:?}");
    assert_eq!(ended.frame_rate, Some(25), "the metadata's frame rate");
    let statistic =
        client.get_streaming_statistic().stream_media_id(id).send().await.unwrap().into_inner();
    // Each publisher sent 25 video and 25 audio messages of 2,000 bytes: both count.
    assert!(statistic.data.data_transferred.unwrap() > 0.2, "{statistic:?}");
    assert_eq!(statistic.data.live_stream_media_id.as_deref(), Some(created.id.as_str()));
    // Ended, the key takes a new one; with no recordings, its media list is empty.
    create_streaming(&client, key, true).await.unwrap();
    let list = client.list_streamings().id(key).send().await.unwrap().into_inner();
    let list = list.data.unwrap();
    assert_eq!(list.total, Some(2));
    assert_eq!(status(&list.media.unwrap()[1]), "ended", "newest first");
    let media = client
        .list_live_stream_media()
        .id(key)
        .body(types::ListLiveStreamMediaRequest::new())
        .send()
        .await
        .unwrap();
    assert_eq!(media.into_inner().data.unwrap().total, Some(0));
}

#[tokio::test]
async fn deleting_a_live_streaming_in_either_order_disconnects_its_encoder() {
    let (fixture, client, other) = start().await;
    let (key, stream_key) = new_key(&client).await;
    let streaming: Uuid = create_streaming(&client, key, true).await.unwrap().id.parse().unwrap();
    let mut publisher = publish(fixture.rtmp, "live", &stream_key).await.unwrap();
    publisher.send_media(5, 100).await.unwrap();
    get_until(&client, key, streaming, |s| status(s) == "live").await;

    // Another account finds nothing, in either order.
    for (first, second) in [(key, streaming), (streaming, key)] {
        let denied = other.delete_streaming().id(first).stream_id(second).send().await;
        assert!(matches!(denied, Err(Error::NotFound(_))), "{denied:?}");
    }
    // The vendor's suites send the streaming's id first.
    client.delete_streaming().id(streaming).stream_id(key).send().await.unwrap();
    assert!(publisher.closed().await, "the encoder is disconnected");
    let gone = client.get_streaming().id(key).stream_id(streaming).send().await.unwrap_err();
    assert!(matches!(gone, Error::NotFound(_)), "{gone:?}");
    let again = client.delete_streaming().id(key).stream_id(streaming).send().await.unwrap_err();
    assert!(matches!(again, Error::NotFound(_)), "{again:?}");
    // A publish to a key without a streaming is accepted and makes none.
    let mut publisher = publish(fixture.rtmp, "live", &stream_key).await.unwrap();
    publisher.send_media(5, 100).await.unwrap();
    let list = client.list_streamings().id(key).send().await.unwrap().into_inner();
    assert_eq!(list.data.unwrap().total, Some(0));
}

#[tokio::test]
async fn accounts_see_only_their_own_streamings_and_destinations() {
    let (_fixture, client, other) = start().await;
    let (key, stream_key) = new_key(&client).await;
    let streaming: Uuid = create_streaming(&client, key, false).await.unwrap().id.parse().unwrap();

    let denied = other.get_streaming().id(key).stream_id(streaming).send().await;
    assert!(matches!(denied, Err(Error::NotFound(_))), "{denied:?}");
    let denied = other.list_streamings().id(key).send().await;
    assert!(matches!(denied, Err(Error::NotFound(_))), "{denied:?}");
    let denied = other.get_streaming_statistic().stream_media_id(streaming).send().await;
    assert!(matches!(denied, Err(Error::NotFound(_))), "{denied:?}");
    let denied = other
        .create_streaming()
        .id(key)
        .body(types::CreateStreamingRequest::new("mine".parse().unwrap()))
        .send()
        .await;
    assert!(matches!(denied, Err(Error::NotFound(_))), "{denied:?}");
    let denied = other.get_multicast().stream_key(stream_key.as_str()).send().await;
    assert!(matches!(denied, Err(Error::NotFound(_))), "{denied:?}");
    let body = types::UpsertMulticastRequest::new(vec!["rtmp://a.example/live/x".parse().unwrap()]);
    let denied = other.upsert_multicast().stream_key(stream_key.as_str()).body(body).send().await;
    assert!(matches!(denied, Err(Error::NotFound(_))), "{denied:?}");
}

#[tokio::test]
async fn multicast_destinations_are_replaced_listed_and_deleted_and_their_path_is_not_journaled() {
    let (fixture, client, _) = start().await;
    let (key, stream_key) = new_key(&client).await;
    let get = || async {
        let answer = client.get_multicast().stream_key(stream_key.as_str()).send().await.unwrap();
        answer.into_inner().data
    };
    let none = get().await;
    assert_eq!(none.live_stream_multicast_urls, Some(vec![]));
    assert_eq!(none.live_stream_key_id, Some(key.to_string()));
    let urls = |urls: &[&str]| -> Vec<types::UpsertMulticastRequestMulticastUrlsItem> {
        urls.iter().map(|url| url.parse().unwrap()).collect()
    };
    let first = urls(&["rtmp://a.rtmp.youtube.com/live2/abcd", "rtmps://live.example:443/app/k"]);
    let stored = client
        .upsert_multicast()
        .stream_key(stream_key.as_str())
        .body(types::UpsertMulticastRequest::new(first))
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(stored.live_stream_multicast_urls.as_ref().unwrap().len(), 2);
    assert_eq!(stored.id, none.id, "the record keeps its id");
    let replacement = urls(&["rtmp://b.example/live/x"]);
    client
        .upsert_multicast()
        .stream_key(stream_key.as_str())
        .body(types::UpsertMulticastRequest::new(replacement))
        .send()
        .await
        .unwrap();
    assert_eq!(get().await.live_stream_multicast_urls.unwrap(), ["rtmp://b.example/live/x"]);

    // An HTTP URL is refused, naming the field.
    let url = fixture.url(&format!("/api/live_streams/multicast/{stream_key}"));
    let refused = fixture
        .http
        .post(&url)
        .bearer_auth("token-main")
        .json(&serde_json::json!({"multicast_urls": ["https://example.com/live"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("multicast_urls"), "{body}");

    client.delete_multicast().stream_key(stream_key.as_str()).send().await.unwrap();
    assert_eq!(get().await.live_stream_multicast_urls, Some(vec![]));
    // An unknown stream key is not found.
    let unknown = client.get_multicast().stream_key("9d2f7a61-unknown").send().await;
    assert!(matches!(unknown, Err(Error::NotFound(_))), "{unknown:?}");

    // The stream key is a credential: the journal names the path without it.
    let journal = fixture.emulator.controls().journal(Some("get_multicast"), None);
    assert!(!journal.is_empty());
    for entry in &journal {
        assert_eq!(entry.path, "/api/live_streams/multicast/{stream_key}");
    }
    let everything =
        serde_json::to_string(&fixture.emulator.controls().journal(None, None)).unwrap();
    assert!(!everything.contains(&stream_key), "{everything}");
}

#[tokio::test]
async fn deleting_a_key_deletes_its_streamings_and_destinations() {
    let (fixture, client, _) = start().await;
    let (key, stream_key) = new_key(&client).await;
    let streaming: Uuid = create_streaming(&client, key, true).await.unwrap().id.parse().unwrap();
    let body = types::UpsertMulticastRequest::new(vec!["rtmp://a.example/x".parse().unwrap()]);
    client.upsert_multicast().stream_key(stream_key.as_str()).body(body).send().await.unwrap();
    client.delete_live_stream_key().id(key).send().await.unwrap();
    let gone = client.get_streaming_statistic().stream_media_id(streaming).send().await;
    assert!(matches!(gone, Err(Error::NotFound(_))), "{gone:?}");
    let gone = client.get_multicast().stream_key(stream_key.as_str()).send().await;
    assert!(matches!(gone, Err(Error::NotFound(_))), "{gone:?}");
    drop(fixture);
}
