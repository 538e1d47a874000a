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
