//! The emulator while hostile clients hold connections and flood it: 2,000 idle connections, 50
//! slowloris connections sending a header byte at a time, and a flood of unauthenticated publish
//! attempts. A normal request must still be answered at once, and memory must stay bounded. Its
//! own test binary, so no other test shares the machine with it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::json;
use streamspec_emulator::config::AiozAccount;
use streamspec_emulator::{Config, Emulator};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const TOKEN: &str = "pressure-token";
const IDLE: usize = 2_000;
const SLOW: usize = 50;
const ATTEMPTS: usize = 2_000;
/// What the process may grow by under all of it; the emulator README states the same bound.
const MEMORY_BOUND_KIB: u64 = 150 * 1024;

/// This process's resident memory, from `/proc/self/status`.
fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|line| line.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

async fn start() -> SocketAddr {
    let account = AiozAccount {
        user_id: "pressure".into(),
        public_key: "pk_pressure".into(),
        secret_key: "sk_pressure".into(),
        token: TOKEN.into(),
    };
    let config =
        Config { db: ":memory:".into(), aioz_accounts: vec![account], ..Config::default() };
    let emulator = Emulator::new(&config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(emulator.serve(listener, std::future::pending()));
    address
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_normal_request_is_answered_at_once_under_idle_slow_and_flooding_clients() {
    // Both ends of every connection are in this process.
    let limit = streamspec_emulator::raise_open_files_limit().unwrap();
    let needed = 2 * (IDLE + SLOW) as u64 + 1_000;
    assert!(
        limit >= needed,
        "this test holds {} connections from both ends and needs {needed} open files; the limit is {limit} (raise it with `ulimit -n`)",
        IDLE + SLOW
    );
    let address = start().await;
    let http = reqwest::Client::new();
    let get = || http.get(format!("http://{address}/api/live_streams")).bearer_auth(TOKEN).send();
    assert_eq!(get().await.unwrap().status(), 200);
    let before = resident_kib();

    let mut idle = Vec::with_capacity(IDLE);
    for _ in 0..IDLE {
        idle.push(TcpStream::connect(address).await.unwrap());
    }
    let slow: Vec<_> = (0..SLOW)
        .map(|_| {
            tokio::spawn(async move {
                let mut stream = TcpStream::connect(address).await.unwrap();
                for byte in b"GET /api/live_streams HTTP/1.1\r\nHost: x\r\n".iter().cycle() {
                    if stream.write_all(&[*byte]).await.is_err() {
                        return; // cut off by the head deadline
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            })
        })
        .collect();
    let flood = futures::stream::iter(0..ATTEMPTS)
        .map(|n| {
            http.post(format!("http://{address}/_emulator/applications/live/publish"))
                .json(&json!({"streamKey": format!("flood-{n}"), "credentials": {"type": "none"}}))
                .send()
        })
        .buffer_unordered(32);
    let statuses: Vec<u16> = flood.map(|answer| answer.unwrap().status().as_u16()).collect().await;
    assert!(statuses.iter().all(|status| matches!(status, 200 | 429)), "{statuses:?}");

    // With all of that open, a normal request is answered at once, every time.
    let mut slowest = Duration::ZERO;
    for _ in 0..10 {
        let started = Instant::now();
        let answer = get().await.unwrap();
        assert_eq!(answer.status(), 200);
        answer.bytes().await.unwrap();
        slowest = slowest.max(started.elapsed());
    }
    assert!(slowest < Duration::from_millis(50), "the slowest GET took {slowest:?}");
    let grown = resident_kib().saturating_sub(before);
    eprintln!(
        "under pressure: the slowest of 10 GETs took {slowest:?}; memory grew by {grown} KiB"
    );
    assert!(grown < MEMORY_BOUND_KIB, "grew by {grown} KiB");

    drop(idle);
    for task in slow {
        task.abort();
    }
}
