//! Memory under RTMP clients that each send as much as they may before a publish: every one holds a
//! message in progress just under the budget, and the process must grow by no more than the
//! documented bound per connection. Its own test binary, so no other test shares its memory.

mod support;

use std::time::Duration;

use streamspec_emulator::rtmp::MAX_BYTES_BEFORE_PUBLISH;
use streamspec_emulator::{Config, Emulator};
use support::rtmp_client::{closed, handshake};
use tokio::io::AsyncWriteExt;

const CONNECTIONS: usize = 500;
/// What one such connection may cost: its input before a publish, its 16 KiB read buffer, and the
/// buffers' slack, with room for the allocator.
const PER_CONNECTION_KIB: u64 = 2 * (MAX_BYTES_BEFORE_PUBLISH / 1024) + 64;

fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|line| line.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_fill_the_budget_cost_bounded_memory() {
    streamspec_emulator::raise_open_files_limit().unwrap();
    let config = Config {
        db: ":memory:".into(),
        rtmp_publish_timeout_secs: 30,
        rtmp_max_connections: CONNECTIONS + 10,
        ..Config::default()
    };
    let emulator = Emulator::start(&config).await.unwrap();
    let address = emulator.rtmp_address().unwrap();
    let before = resident_kib();
    // Chunks of 64 KiB, then the first chunk of a 16 MiB command message, just under the budget.
    let mut set_chunk_size = vec![2, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0];
    set_chunk_size.extend_from_slice(&65_536u32.to_be_bytes());
    let mut half_message = vec![3, 0, 0, 0, 0xff, 0xff, 0xff, 20, 0, 0, 0, 0];
    half_message.resize(MAX_BYTES_BEFORE_PUBLISH as usize - 4096, 0);
    let mut held = Vec::new();
    for _ in 0..CONNECTIONS {
        let (mut stream, _) = handshake(address).await;
        stream.write_all(&set_chunk_size).await.unwrap();
        stream.write_all(&half_message).await.unwrap();
        held.push(stream);
    }
    // Let the emulator read everything that was sent.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let grown = resident_kib().saturating_sub(before);
    let bound = CONNECTIONS as u64 * PER_CONNECTION_KIB;
    assert!(
        grown < bound,
        "grew by {grown} KiB for {CONNECTIONS} connections; the bound is {bound} KiB"
    );
    let health = reqwest::get(format!("{}/_emulator/health", emulator.url())).await.unwrap();
    assert_eq!(health.status(), 200, "HTTP answers throughout");
    // One more byte than the budget closes a connection at once.
    let mut over = held.pop().unwrap();
    over.write_all(&[0; 8192]).await.unwrap();
    assert!(closed(&mut over).await);
}
