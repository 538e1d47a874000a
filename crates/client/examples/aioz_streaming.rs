//! Run with: AIOZ_BASE_URL=http://127.0.0.1:8080/api AIOZ_TOKEN=<the token the emulator prints> cargo run -p streamspec-client --example aioz_streaming
//!
//! A broadcaster's live flow: creates a live stream key and a recorded streaming on it, prints the
//! RTMP URL to publish to, waits for an encoder to publish there (ffmpeg, OBS), prints the ingest's
//! statistic while the streaming is live, and once the encoder stops prints the recording and deletes
//! the key. Against the emulator (`cargo run --release -p streamspec-emulator`, which prints the token
//! and listens for RTMP on 127.0.0.1:1935) or the real service.
//!
//! `AIOZ_BASE_URL` defaults to the real service. Credentials come from `AIOZ_TOKEN` (a bearer JWT) or
//! from `AIOZ_PUBLIC_KEY` and `AIOZ_SECRET_KEY` (the key pair).

use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

use streamspec_client::aioz::types::{
    CreateLiveStreamKeyRequest, CreateStreamingRequest, Streaming, StreamingStatistic,
};
use streamspec_client::aioz::{Client, Credentials};

/// How the streaming ended, as the example last read it.
#[derive(Debug)]
pub struct Watched {
    pub streaming: Streaming,
    /// The statistic read while it was live.
    pub live: StreamingStatistic,
}

/// Creates a key and a streaming, hands the URL to publish to to `encoder`, and follows the streaming
/// (polling every `poll`) until it has ended; gives up after `patience` in one state.
pub async fn run<F, Fut>(
    client: &Client,
    encoder: F,
    poll: Duration,
    patience: Duration,
) -> Result<Watched, Box<dyn std::error::Error>>
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let key = client
        .create_live_stream_key()
        .body(CreateLiveStreamKeyRequest::builder().name("streamspec streaming example"))
        .send()
        .await?
        .into_inner()
        .data;
    let key_id: uuid::Uuid = key.id.parse()?;
    let mut request = CreateStreamingRequest::new("streamspec example".parse()?);
    request.save = true;
    let streaming = client.create_streaming().id(key_id).body(request).send().await?;
    let streaming_id: uuid::Uuid = streaming.into_inner().data.id.parse()?;
    // A real service may leave fields out (see spec/README.md, the tolerant reader).
    let (Some(rtmp_url), Some(stream_key)) = (key.rtmp_url, key.stream_key) else {
        return Err("the key came without its rtmp_url or stream_key".into());
    };
    encoder(format!("{rtmp_url}/{stream_key}")).await;

    let status = |streaming: &Streaming| {
        streaming.status.as_ref().map(ToString::to_string).unwrap_or_default()
    };
    let mut last_status = String::new();
    let mut since = tokio::time::Instant::now();
    let mut live = None;
    let ended = loop {
        let streaming =
            client.get_streaming().id(key_id).stream_id(streaming_id).send().await?.into_inner();
        let streaming = streaming.data;
        let now = status(&streaming);
        if now != last_status {
            println!("streaming {streaming_id} is {now}");
            (last_status, since) = (now.clone(), tokio::time::Instant::now());
        }
        match now.as_str() {
            "ended" => break streaming,
            "live" => {
                let statistic = client.get_streaming_statistic().stream_media_id(streaming_id);
                let statistic = statistic.send().await?.into_inner().data;
                println!(
                    "  in: {:.0} Kbps, {} fps, {:.2} MB",
                    statistic.bitrate_in.unwrap_or_default(),
                    statistic.fps_in.unwrap_or_default(),
                    statistic.data_transferred.unwrap_or_default()
                );
                live = Some(statistic);
            }
            _ => {}
        }
        if since.elapsed() > patience {
            return Err(format!("the streaming stayed {now} for {patience:?}").into());
        }
        tokio::time::sleep(poll).await;
    };
    if let Some(media) = ended.media.as_ref() {
        println!(
            "recorded: {} ({} bytes, {:.1} s)",
            media.id.as_deref().unwrap_or("(no id)"),
            media.size.unwrap_or_default(),
            media.duration.unwrap_or_default()
        );
    }
    client.delete_live_stream_key().id(key_id).send().await?;
    let live = live.ok_or("the streaming ended before it was seen live")?;
    Ok(Watched { streaming: ended, live })
}

/// The client of the environment's base URL and credentials.
fn client_from_env() -> Result<Client, Box<dyn std::error::Error>> {
    let baseurl = std::env::var("AIOZ_BASE_URL")
        .unwrap_or_else(|_| "https://api.aiozstream.network/api".to_owned());
    let credentials = match (
        std::env::var("AIOZ_TOKEN"),
        std::env::var("AIOZ_PUBLIC_KEY"),
        std::env::var("AIOZ_SECRET_KEY"),
    ) {
        (Ok(token), _, _) => Credentials::bearer(token)?,
        (_, Ok(public_key), Ok(secret_key)) => Credentials::key_pair(public_key, secret_key)?,
        _ => return Err("set AIOZ_TOKEN, or AIOZ_PUBLIC_KEY and AIOZ_SECRET_KEY".into()),
    };
    Ok(Client::builder(baseurl, credentials).build()?)
}

#[tokio::main]
async fn main() -> ExitCode {
    let result = match client_from_env() {
        Ok(client) => {
            let encoder = |url: String| async move {
                println!("publish to {url}, for example:");
                println!("  ffmpeg -re -f lavfi -i testsrc=duration=20 -f flv {url}");
            };
            let minutes = Duration::from_secs(600);
            run(&client, encoder, Duration::from_secs(1), minutes).await.map(drop)
        }
        Err(error) => Err(error),
    };
    // `Display`, not the `Debug` a `main` returning `Result` prints: one sentence per error.
    if let Err(error) = result {
        eprintln!("error: {error}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
