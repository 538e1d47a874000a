//! Every write that was answered 2xx survives a `kill -9`: the real binary, a burst of concurrent
//! creates, SIGKILL in the middle of it, a restart on the same database.

#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::TryStreamExt;
use streamspec_client::aioz::types::CreateLiveStreamKeyRequest;
use streamspec_client::aioz::{Client, Credentials, ListOptions};
use streamspec_client::{RetryPolicy, Timeouts};

/// Starts the emulator on an ephemeral port; its address and bearer token, read from the banner.
fn start(db: &std::path::Path) -> (Child, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_streamspec-emulator"))
        .args(["--listen", "127.0.0.1:0", "--rtmp-listen", "127.0.0.1:0", "--db"])
        .arg(db)
        .env("STREAMSPEC_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut address = None;
    let mut token = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("streamspec-emulator listening on ") {
            address = rest.split_whitespace().next().map(str::to_owned);
        }
        if let Some(rest) = line.trim().strip_prefix("Authorization: Bearer ") {
            token = Some(rest.to_owned());
        }
        if line.starts_with("Storm Streaming Server") {
            break;
        }
    }
    // Keep reading so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (
        child,
        address.expect("the banner names the address"),
        token.expect("the banner names a token"),
    )
}

fn client(address: &str, token: &str) -> Client {
    let timeouts = Timeouts { connect: Duration::from_secs(2), request: Duration::from_secs(5) };
    Client::builder(format!("{address}/api"), Credentials::bearer(token).unwrap())
        .retry(RetryPolicy::none())
        .timeouts(timeouts)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill() {
    let dir = std::env::temp_dir().join(format!("streamspec-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("crash.sqlite");

    let (mut child, address, token) = start(&db);
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let mut writers = Vec::new();
    for writer in 0..8 {
        let client = client(&address, &token);
        let acknowledged = acknowledged.clone();
        writers.push(tokio::spawn(async move {
            for n in 0..10_000 {
                let body = CreateLiveStreamKeyRequest::builder().name(format!("w{writer}-{n}"));
                match client.create_live_stream_key().body(body).send().await {
                    Ok(created) => acknowledged.lock().unwrap().push(created.into_inner().data.id),
                    Err(_) => return, // the server is gone
                }
            }
        }));
    }
    // Let the burst run, then kill the server in the middle of it.
    while acknowledged.lock().unwrap().len() < 200 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    for writer in writers {
        writer.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= 200);

    let (mut child, address, token) = start(&db);
    let stored: Vec<_> = client(&address, &token)
        .all_live_stream_keys(ListOptions::default())
        .try_collect()
        .await
        .unwrap();
    let stored: std::collections::HashSet<_> = stored.into_iter().map(|key| key.id).collect();
    let lost: Vec<_> = acknowledged.iter().filter(|id| !stored.contains(*id)).collect();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged writes were lost",
        lost.len(),
        acknowledged.len()
    );
}
