//! What the fuzz targets check, shared with `tests/replay.rs`, which runs every committed seed and
//! regression input through the same checks in a plain `cargo test`.

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use streamspec_conformance::{Api, Catalog};
use streamspec_server::{RouterOptions, async_trait};
use tower::ServiceExt;

/// The converter's checks.
pub mod converter {
    use streamspec_codegen::jsonschema as jsonschema_gen;

    /// Converts `data` (a JSON OpenAPI document) and compiles the result: either may refuse, neither
    /// may panic.
    pub fn check(data: &[u8]) {
        let Ok(spec) = serde_json::from_slice::<serde_json::Value>(data) else {
            return;
        };
        if let Ok(bundle) = jsonschema_gen::bundle(&spec, "fuzz") {
            let _ = jsonschema::options().with_draft(jsonschema::Draft::Draft202012).build(&bundle);
        }
    }
}

/// The RTMP listener's input checks.
pub mod rtmp {
    use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
    use streamspec_emulator::rtmp::{
        MAX_BYTES_BEFORE_PUBLISH, RtmpConnection, RtmpError, RtmpEvent,
    };

    /// Feeds `data` to one connection as the listener would, accepting every `connect` and
    /// `publish` so that what follows a publish is read as media.
    ///
    /// The first byte chooses: bit 0 set, a valid client handshake comes first (so the fuzzer
    /// spends its time on the chunk stream); the second byte, the size of each read (1 to 16,321
    /// bytes). The rest is what the client sends.
    pub fn check(data: &[u8]) {
        let [mode, size, rest @ ..] = data else { return };
        let mut connection = RtmpConnection::new();
        let mut given = 0u64;
        if mode & 1 == 1 {
            given += handshake(&mut connection).0;
        }
        let size = 1 + usize::from(*size) * 64;
        for piece in rest.chunks(size) {
            given += piece.len() as u64;
            let received = match connection.receive(piece) {
                Ok(received) => received,
                Err(RtmpError::TooMuchBeforePublish) => {
                    assert!(given > MAX_BYTES_BEFORE_PUBLISH, "refused early, at {given} bytes");
                    return;
                }
                Err(RtmpError::Protocol(_)) => return,
            };
            assert!(
                connection.publishing() || given <= MAX_BYTES_BEFORE_PUBLISH,
                "{given} bytes taken before a publish"
            );
            for event in received.events {
                let answered = match event {
                    RtmpEvent::Connect { request_id, .. } | RtmpEvent::Publish { request_id, .. } => {
                        connection.accept(request_id)
                    }
                    RtmpEvent::Play { request_id } => {
                        connection.reject(request_id, "NetStream.Play.Failed", "publishers only")
                    }
                    _ => Ok(Vec::new()),
                };
                if answered.is_err() {
                    return;
                }
            }
        }
    }

    /// A client's valid handshake with `connection`; answers how many bytes the client sent, and
    /// what the server sends once the handshake is complete.
    pub fn handshake(connection: &mut RtmpConnection) -> (u64, Vec<u8>) {
        let mut client = Handshake::new(PeerType::Client);
        let hello = client.generate_outbound_p0_and_p1().unwrap();
        let answer = connection.receive(&hello).unwrap();
        let HandshakeProcessResult::Completed { response_bytes, .. } =
            client.process_bytes(&answer.send).unwrap()
        else {
            panic!("the server's answer completes the client's handshake");
        };
        let after = connection.receive(&response_bytes).unwrap().send;
        ((hello.len() + response_bytes.len()) as u64, after)
    }
}

/// Validates `data` (a JSON payload) against every request schema of every API: valid, or violations
/// whose messages never repeat a string of the payload.
pub fn check_payload(data: &[u8]) {
    let Ok(payload) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let catalog = Catalog::get();
    for api in Api::ALL {
        for operation in catalog.operations(api) {
            let Some(schema) = operation.request() else { continue };
            if let Err(violations) = schema.validate(&payload) {
                assert!(!violations.is_empty());
                // Property names are named in messages on purpose ("`x` was unexpected"): a value
                // that also occurs in a name cannot be told apart from it.
                if let Some(secret) =
                    long_string(&payload).filter(|value| !in_a_key(&payload, value))
                {
                    for violation in violations {
                        assert!(!violation.message.contains(secret), "{}", violation.message);
                    }
                }
            }
        }
    }
}

/// Whether `text` occurs in a property name anywhere in `value`.
fn in_a_key(value: &serde_json::Value, text: &str) -> bool {
    match value {
        serde_json::Value::Array(items) => items.iter().any(|item| in_a_key(item, text)),
        serde_json::Value::Object(map) => {
            map.iter().any(|(key, item)| key.contains(text) || in_a_key(item, text))
        }
        _ => false,
    }
}

/// The first string of the payload long and odd enough not to occur in a message by chance.
fn long_string(value: &serde_json::Value) -> Option<&str> {
    match value {
        serde_json::Value::String(text)
            if text.len() >= 12
                && text.chars().any(|c| c.is_ascii_digit())
                && !text.contains(' ') =>
        {
            Some(text)
        }
        serde_json::Value::Array(items) => items.iter().find_map(long_string),
        serde_json::Value::Object(map) => map.values().find_map(long_string),
        _ => None,
    }
}

struct Defaults;

#[async_trait]
impl streamspec_server::aioz::LiveStreamsApi for Defaults {}
#[async_trait]
impl streamspec_server::storm::StormApi for Defaults {}
#[async_trait]
impl streamspec_server::emulator::EmulatorApi for Defaults {}

fn router() -> &'static axum::Router {
    static ROUTER: OnceLock<axum::Router> = OnceLock::new();
    ROUTER.get_or_init(|| {
        let emulator =
            streamspec_server::adapter::with_envelope::<streamspec_server::emulator::Envelope>(
                streamspec_server::emulator::routes(Arc::new(Defaults), RouterOptions::default()),
            );
        streamspec_server::both(Arc::new(Defaults), Arc::new(Defaults), RouterOptions::default())
            .merge(emulator)
    })
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| tokio::runtime::Builder::new_current_thread().build().unwrap())
}

const METHODS: [&str; 6] = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
const PREFIXES: [&str; 5] =
    ["/api/live_streams", "/api/applications/", "/api/streams/", "/api/auth/login", "/_emulator/"];

/// Sends `data` as a request to every API's router, whose trait methods are the defaults (501 once
/// decoding succeeds): the answer is never a 500 (a panic is caught and answered 500).
///
/// Input: a method byte (its high bit clear puts one of the APIs' path prefixes in front of the
/// path), then the path and query up to `\n`, then `name: value` header lines up to an empty line,
/// then the body.
pub fn check_request(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else { return };
    let method = METHODS[usize::from(selector) % METHODS.len()];
    let prefix = if selector & 0x80 == 0 {
        PREFIXES[usize::from(selector >> 3) % PREFIXES.len()]
    } else {
        ""
    };
    let (line, mut rest) = split_once(rest, b"\n");
    let Ok(target) = std::str::from_utf8(line) else { return };
    let mut request =
        axum::http::Request::builder().method(method).uri(format!("{prefix}{target}"));
    loop {
        let (header, after) = split_once(rest, b"\n");
        rest = after;
        if header.is_empty() {
            break;
        }
        let (name, value) = split_once(header, b": ");
        request = request.header(name, value);
    }
    let Ok(request) = request.body(Body::from(rest.to_vec())) else { return };
    let response = runtime().block_on(router().clone().oneshot(request)).unwrap();
    let status = response.status().as_u16();
    assert!(status < 500 || status == 501, "status {status}");
}

fn split_once<'a>(data: &'a [u8], separator: &[u8]) -> (&'a [u8], &'a [u8]) {
    match data.windows(separator.len()).position(|window| window == separator) {
        Some(index) => (&data[..index], &data[index + separator.len()..]),
        None => (data, &[]),
    }
}
