//! Hostile RTMP clients: each costs only its own connection, within the documented limits, and the
//! HTTP side keeps answering. Everything listens on 127.0.0.1.

mod support;

use std::time::Duration;

use streamspec_emulator::rtmp::MAX_BYTES_BEFORE_PUBLISH;
use streamspec_emulator::{Config, Emulator, RunningEmulator};
use support::rtmp_client::{closed, handshake, publish};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Short limits, so that the tests see them act.
fn config() -> Config {
    Config {
        db: ":memory:".into(),
        rtmp_publish_timeout_secs: 1,
        rtmp_idle_timeout_secs: 1,
        rtmp_max_connections: 64,
        ..Config::default()
    }
}

/// Whether the HTTP side answers, and the RTMP side takes a real publisher.
async fn still_serving(emulator: &RunningEmulator) {
    let health = reqwest::get(format!("{}/_emulator/health", emulator.url())).await.unwrap();
    assert_eq!(health.status(), 200);
    let publisher = publish(emulator.rtmp_address().unwrap(), "live", "after").await;
    assert!(publisher.is_ok(), "{:?}", publisher.err());
}

/// A type-0 chunk on chunk stream 3 of a message of `length` bytes of type `type_id`, carrying
/// `payload` (all or the start of the message).
fn chunk(type_id: u8, length: u32, payload: &[u8]) -> Vec<u8> {
    let mut bytes = vec![3, 0, 0, 0];
    bytes.extend_from_slice(&length.to_be_bytes()[1..]);
    bytes.push(type_id);
    bytes.extend_from_slice(&0u32.to_le_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

#[tokio::test]
async fn a_broken_handshake_closes_only_its_connection() {
    let emulator = Emulator::start(&config()).await.unwrap();
    let address = emulator.rtmp_address().unwrap();
    // Version 6 is no RTMP version.
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(&[6; 1537]).await.unwrap();
    assert!(closed(&mut stream).await);
    // An HTTP request on the RTMP port.
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    assert!(closed(&mut stream).await);
    // Half a handshake, then nothing: cut at the publish deadline.
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(&[3; 100]).await.unwrap();
    assert!(closed(&mut stream).await);
    still_serving(&emulator).await;
}

#[tokio::test]
async fn truncated_and_oversized_chunks_close_their_connection() {
    let emulator = Emulator::start(&config()).await.unwrap();
    let address = emulator.rtmp_address().unwrap();

    // A truncated chunk: a header that promises 100 bytes, 10 sent, then silence.
    let (mut stream, _) = handshake(address).await;
    stream.write_all(&chunk(20, 100, &[0; 10])).await.unwrap();
    assert!(closed(&mut stream).await, "cut at the publish deadline");

    // The largest message RTMP can declare (16 MiB), sent before any publish: cut at the budget,
    // not buffered whole.
    let (mut stream, _) = handshake(address).await;
    let started = tokio::time::Instant::now();
    let mut body = chunk(20, 0xff_ffff, &[]);
    body.resize(2 * MAX_BYTES_BEFORE_PUBLISH as usize, 0);
    // The server may close while this is still being written.
    let _ = stream.write_all(&body).await;
    assert!(closed(&mut stream).await);
    assert!(started.elapsed() < Duration::from_millis(900), "cut by the budget, not the deadline");

    // A huge chunk size (RTMP's largest, 2^31 - 1), then one chunk of a 16 MiB message.
    let (mut stream, _) = handshake(address).await;
    stream.write_all(&chunk(1, 4, &0x7fff_ffffu32.to_be_bytes())).await.unwrap();
    let _ = stream.write_all(&chunk(9, 0xff_ffff, &[0; 60_000])).await;
    let _ = stream.write_all(&[0; 10_000]).await;
    assert!(closed(&mut stream).await);

    still_serving(&emulator).await;
}

#[tokio::test]
async fn a_client_that_never_publishes_is_disconnected() {
    let emulator = Emulator::start(&config()).await.unwrap();
    let (mut stream, _) = handshake(emulator.rtmp_address().unwrap()).await;
    // Connected and handshaken, and then nothing.
    let started = tokio::time::Instant::now();
    assert!(closed(&mut stream).await);
    assert!(started.elapsed() >= Duration::from_millis(500), "not before the deadline");
    assert!(emulator.controls().sessions().is_empty());
    still_serving(&emulator).await;
}

#[tokio::test]
async fn a_publisher_that_goes_silent_is_disconnected_and_its_session_ends() {
    let emulator = Emulator::start(&config()).await.unwrap();
    let mut publisher = publish(emulator.rtmp_address().unwrap(), "live", "cam").await.unwrap();
    publisher.send_media(1, 100).await.unwrap();
    assert_eq!(emulator.controls().sessions().len(), 1);
    assert!(publisher.closed().await, "cut after the idle timeout");
    assert!(emulator.controls().sessions().is_empty());
}

/// Past `rtmp_max_connections` a connection is closed at once; those held are closed at the
/// publish deadline; the HTTP side answers throughout, and a publisher gets in after.
#[tokio::test]
async fn thousands_of_idle_connections_cost_only_themselves() {
    streamspec_emulator::raise_open_files_limit().unwrap();
    let emulator = Emulator::start(&config()).await.unwrap();
    let address = emulator.rtmp_address().unwrap();
    let mut idle = Vec::new();
    for _ in 0..2000 {
        idle.push(TcpStream::connect(address).await.unwrap());
    }
    let health = reqwest::get(format!("{}/_emulator/health", emulator.url())).await.unwrap();
    assert_eq!(health.status(), 200, "HTTP answers while RTMP is full");
    // Every connection past the ceiling is closed at once, the held ones at the deadline: all of
    // them within the patience of `closed`.
    let mut closed_ones = 0;
    for stream in &mut idle {
        if closed(stream).await {
            closed_ones += 1;
        }
    }
    assert_eq!(closed_ones, 2000);
    drop(idle);
    still_serving(&emulator).await;
}

/// What the fuzzer found makes the RTMP library's deserializer panic: a chunk header that shrinks
/// the length of a message in progress below what has arrived. From a publisher, it ends the
/// publisher's connection and session, and nothing else.
#[tokio::test]
async fn a_chunk_stream_that_breaks_the_rtmp_library_closes_only_its_connection() {
    let emulator = Emulator::start(&config()).await.unwrap();
    let mut publisher = publish(emulator.rtmp_address().unwrap(), "live", "cam").await.unwrap();
    assert_eq!(emulator.controls().sessions().len(), 1);
    // Chunk stream 10: the first 4,096 bytes (the client's chunk size) of an 8,000-byte video
    // message, then a header on the same chunk stream that says the message is 100 bytes long.
    let mut malformed = vec![10, 0, 0, 0, 0, 0x1f, 0x40, 9, 1, 0, 0, 0];
    malformed.extend_from_slice(&[0x27; 4096]);
    malformed.extend_from_slice(&[0x40 | 10, 0, 0, 40, 0, 0, 100, 9]);
    malformed.extend_from_slice(&[0x27; 100]);
    publisher.send_raw(&malformed).await;
    assert!(publisher.closed().await);
    assert!(emulator.controls().sessions().is_empty(), "the session ends with its connection");
    still_serving(&emulator).await;
}
