//! Real encoders: ffmpeg publishes a generated test pattern to the emulator's RTMP listener on
//! 127.0.0.1, for an AIOZ key and for every Storm auth type, with right and wrong credentials.
//! `cargo xtask ci` installs ffmpeg (Debian's package) when it is missing; without it these tests
//! fail and say so.

mod support;

use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use streamspec_emulator::Config;
use support::fixture::{Fixture, authorization_service, settings};

/// How long a test waits for ffmpeg to get in or out: its first start on a machine whose page cache
/// was emptied loads its libraries from disk, which takes seconds.
const ENCODER_PATIENCE: Duration = Duration::from_secs(60);

/// Runs ffmpeg, publishing `seconds` of a 320x240 test pattern at its real rate (with a tone when
/// `h264` asks for H.264 and AAC; else FLV's default codec, cheaper to encode) to `url`.
async fn ffmpeg(url: &str, seconds: u32, h264: bool) -> (Output, Duration) {
    let mut command = tokio::process::Command::new("ffmpeg");
    command.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-f", "lavfi", "-i"]);
    command.arg(format!("testsrc=size=320x240:rate=25:duration={seconds}"));
    if h264 {
        command.args(["-f", "lavfi", "-i", &format!("sine=frequency=440:duration={seconds}")]);
        command.args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-g",
            "25",
        ]);
        command.args(["-c:a", "aac"]);
    }
    command.args(["-f", "flv", url]);
    command.kill_on_drop(true);
    let started = Instant::now();
    let output = match command.output().await {
        Ok(output) => output,
        Err(error) => panic!(
            "ffmpeg could not be run ({error}): install it (`apt-get install ffmpeg`); `cargo xtask ci` does"
        ),
    };
    (output, started.elapsed())
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

async fn start() -> Fixture {
    let mut config = Config { db: ":memory:".into(), ..Config::default() };
    config.storm.file_auth_root = Some(auth_dir());
    Fixture::start(&config).await
}

fn auth_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("streamspec-ffmpeg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// ffmpeg publishes one second to Storm's `live` as `stream_name`: whether it streamed to the end,
/// and what it printed.
async fn storm_publish(fixture: &Fixture, stream_name: &str) -> (bool, String) {
    let url = format!("rtmp://{}/live/{stream_name}", fixture.rtmp);
    let (output, _) = ffmpeg(&url, 1, false).await;
    (output.status.success(), stderr(&output))
}

#[tokio::test]
async fn ffmpeg_streams_to_an_aioz_key_to_the_end_and_fails_at_once_for_an_unknown_one() {
    let fixture = start().await;
    let key = fixture.create_key().await;
    let url =
        format!("{}/{}", key["rtmp_url"].as_str().unwrap(), key["stream_key"].as_str().unwrap());

    let encoder = tokio::spawn({
        let url = url.clone();
        async move { ffmpeg(&url, 3, true).await }
    });
    // While it streams, its session shows its bytes and codecs.
    let sessions = fixture
        .sessions_within(ENCODER_PATIENCE, |sessions| {
            sessions.first().is_some_and(|session| {
                session["keyFrames"].as_i64() > Some(0)
                    && session["audioMessages"].as_i64() > Some(0)
            })
        })
        .await;
    let session = &sessions[0];
    assert_eq!(session["api"], "aioz");
    assert_eq!(session["liveStreamKeyId"], key["id"]);
    assert_eq!(session["video"]["codec"], "h264");
    assert_eq!(session["video"]["width"], 320);
    assert_eq!(session["audio"]["codec"], "aac");
    assert!(session["bytes"].as_i64().unwrap() > 0);
    let (output, elapsed) = encoder.await.unwrap();
    assert!(output.status.success(), "ffmpeg failed: {}", stderr(&output));
    assert!(elapsed >= Duration::from_secs(2), "streamed in real time to the end: {elapsed:?}");
    fixture.sessions_within(ENCODER_PATIENCE, <[Value]>::is_empty).await;

    let unknown =
        format!("{}/9d2f7a61-3c4b-4e58-8f1a-2b6c5d4e3f70", key["rtmp_url"].as_str().unwrap());
    let (output, elapsed) = ffmpeg(&unknown, 5, false).await;
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("no live stream key has this stream key"),
        "{}",
        stderr(&output)
    );
    assert!(elapsed < Duration::from_secs(2), "failed at once: {elapsed:?}");
}

#[tokio::test]
async fn ffmpeg_gets_in_with_the_right_credentials_for_every_storm_auth_type() {
    let fixture = start().await;
    let dir = auth_dir();
    // Each case: settings, then (stream name, whether ffmpeg gets in).
    let file = dir.join("publish_keys.xml");
    std::fs::write(
        &file,
        r#"<ingestAuthorization><user username="admin" password="qwerty123"/><token value="t0ken"/></ingestAuthorization>"#,
    )
    .unwrap();
    let service = authorization_service().await;
    let cases: Vec<(Value, Vec<(&str, bool)>)> = vec![
        (json!({"authType": "none"}), vec![("cam", true)]),
        (
            json!({"authType": "local", "authUsers": [
                {"username": "admin", "password": "qwerty123"}, {"token": "abc123xyz789"}]}),
            vec![
                ("cam?username=admin&password=qwerty123", true),
                ("cam?token=abc123xyz789", true),
                ("cam?username=admin&password=wrong", false),
                ("cam", false),
            ],
        ),
        (
            json!({"authType": "file", "fileURL": file.to_str().unwrap()}),
            vec![
                ("cam?username=admin&password=qwerty123", true),
                ("cam?token=t0ken", true),
                ("cam?token=guess", false),
            ],
        ),
        (
            json!({"authType": "request",
                "requestURL": format!("http://{service}/auth/${{streamKey}}")}),
            vec![
                ("cam?username=alice&password=right", true),
                ("cam?username=alice&password=wrong", false),
            ],
        ),
        (
            json!({"authType": "managed"}),
            vec![("cam?secret=s3cret", true), ("cam?secret=guess", false)],
        ),
    ];
    let stream = json!({"data": {"attributes": {"streamKey": "cam", "type": "ingest",
        "source": {"authType": "secret", "auth": {"secret": "s3cret"}}}}});
    fixture.storm(reqwest::Method::POST, "/api/streams/live", stream).await;
    for (attributes, attempts) in cases {
        fixture.set(settings(attributes.clone())).await;
        for (stream_name, allowed) in attempts {
            let (succeeded, printed) = storm_publish(&fixture, stream_name).await;
            assert_eq!(succeeded, allowed, "{attributes} {stream_name}: {printed}");
            if !allowed {
                assert!(printed.contains("Server error"), "{stream_name}: {printed}");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_second_ffmpeg_on_a_live_key_is_refused_or_replaces_the_first() {
    let fixture = start().await;
    let ((first, _), second) = second_while_first_publishes(&fixture, false, 3).await;
    assert!(!second.status.success(), "overwrite off: refused");
    assert!(stderr(&second).contains("the stream key is already live"), "{}", stderr(&second));
    assert!(first.status.success(), "the first streamed to the end: {}", stderr(&first));
    // Its session ends once the emulator notices the disconnect.
    fixture.sessions_within(ENCODER_PATIENCE, <[Value]>::is_empty).await;

    let ((first, elapsed), second) = second_while_first_publishes(&fixture, true, 4).await;
    assert!(second.status.success(), "overwrite on: the second gets in: {}", stderr(&second));
    assert!(!first.status.success(), "the replaced encoder is cut off");
    assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
}

/// With `allowStreamOverwrite` as given, one ffmpeg publishes `live/cam` for `seconds`, and once its
/// session is live a second publishes the same key for one second: both outcomes.
async fn second_while_first_publishes(
    fixture: &Fixture,
    overwrite: bool,
    seconds: u32,
) -> ((Output, Duration), Output) {
    let attributes = json!({"authorizationEnabled": false, "allowStreamOverwrite": overwrite});
    fixture.set(settings(attributes)).await;
    let url = format!("rtmp://{}/live/cam", fixture.rtmp);
    let first = tokio::spawn({
        let url = url.clone();
        async move { ffmpeg(&url, seconds, false).await }
    });
    fixture.sessions_within(ENCODER_PATIENCE, |sessions| sessions.len() == 1).await;
    let (second, _) = ffmpeg(&url, 1, false).await;
    (first.await.unwrap(), second)
}

/// A streaming's whole life through the typed client: created idle; live with the ingest's real
/// bitrate and frame rate while ffmpeg publishes to its key; ended once ffmpeg stops, with its
/// recording among the key's media.
#[tokio::test]
async fn a_streaming_goes_live_while_ffmpeg_publishes_and_ends_with_a_recording() {
    use streamspec_client::aioz::{Client, Credentials, types};

    let fixture = start().await;
    let token = fixture.emulator.credentials().aioz.accounts[0].token.expose().to_owned();
    let client =
        Client::builder(fixture.url("/api"), Credentials::bearer(token).unwrap()).build().unwrap();
    let key = client
        .create_live_stream_key()
        .body(types::CreateLiveStreamKeyRequest::new("studio".to_owned()))
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    let quality = types::StreamingQuality::new(
        types::QualityContainerType::Mpegts,
        types::QualityResolution::X240p,
        types::QualityType::Hls,
    );
    let mut request = types::CreateStreamingRequest::new("title".parse().unwrap());
    request.save = true;
    request.qualities = vec![quality];
    let created = client
        .create_streaming()
        .id(key.id.parse::<uuid::Uuid>().unwrap())
        .body(request)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    let status = |streaming: &types::Streaming| streaming.status.as_ref().map(|s| s.to_string());
    assert_eq!(status(&created).as_deref(), Some("created"));
    assert_eq!(created.duration, Some(0));
    let (key_id, stream_id) =
        (key.id.parse::<uuid::Uuid>().unwrap(), created.id.parse::<uuid::Uuid>().unwrap());
    let get = || async {
        client
            .get_streaming()
            .id(key_id)
            .stream_id(stream_id)
            .send()
            .await
            .unwrap()
            .into_inner()
            .data
    };
    let statistic = || async {
        client
            .get_streaming_statistic()
            .stream_media_id(stream_id)
            .send()
            .await
            .unwrap()
            .into_inner()
            .data
    };

    let url = format!("{}/{}", key.rtmp_url.unwrap(), key.stream_key.unwrap());
    let encoder = tokio::spawn(async move { ffmpeg(&url, 4, true).await });
    fixture
        .sessions_within(ENCODER_PATIENCE, |sessions| {
            sessions.first().is_some_and(|s| s["keyFrames"].as_i64() > Some(1))
        })
        .await;
    let live = get().await;
    assert_eq!(status(&live).as_deref(), Some("live"));
    assert!(live.updated_at > created.updated_at, "going live stamps the streaming");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let measured = statistic().await;
    let bitrate = measured.bitrate_in.unwrap();
    assert!(bitrate > 10.0, "the ingest's bitrate in Kbps: {measured:?}");
    assert_eq!(measured.fps_in, Some(25), "ffmpeg's frame rate: {measured:?}");
    assert!(measured.data_transferred.unwrap() > 0.0);
    assert!(get().await.duration.unwrap() >= 1000);

    let (output, _) = encoder.await.unwrap();
    assert!(output.status.success(), "ffmpeg failed: {}", stderr(&output));
    fixture.sessions_within(ENCODER_PATIENCE, <[Value]>::is_empty).await;
    let ended = get().await;
    assert_eq!(status(&ended).as_deref(), Some("ended"));
    assert!(ended.duration.unwrap() >= 3000, "{ended:?}");
    let recording = ended.media.clone().expect("a streaming made with `save` has its recording");
    assert!(recording.size.unwrap() > 0);
    // The totals stay once the encoder has gone.
    let total = statistic().await;
    assert!(total.bitrate_in.unwrap() > 10.0 && total.fps_in == Some(25), "{total:?}");
    let media = client
        .list_live_stream_media()
        .id(key_id)
        .body(types::ListLiveStreamMediaRequest::new())
        .send()
        .await
        .unwrap()
        .into_inner()
        .data
        .unwrap();
    assert_eq!(media.total, Some(1));
    assert_eq!(media.media.unwrap()[0].media.as_ref().and_then(|m| m.id.clone()), recording.id);

    // The key takes a new streaming once the first has ended; without `save`, no recording.
    let second = client
        .create_streaming()
        .id(key_id)
        .body(types::CreateStreamingRequest::new("again".parse().unwrap()))
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(second.qualities.unwrap(), ["1080p", "720p", "360p"]);
}
