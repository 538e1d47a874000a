//! AIOZ Stream live stream keys: implement [`LiveStreamsApi`], serve [`router`].
//!
//! Routes are the spec's paths under `/api`, the path of its server URL
//! (`https://api.aiozstream.network/api`), so a client configured with `http://127.0.0.1:PORT/api`
//! reaches them. Errors are `{"status": "error", "message": ...}`.
//!
//! The responses the adapter makes itself (400 for a malformed request, 401, 404, 405, 413, 415, 501,
//! and 500 for a panic) carry no rate-limit headers: the adapter does not know the limits. A
//! rate-limiting layer in front of the router adds them to every response.

use serde_json::json;

use crate::adapter::ErrorEnvelope;

#[path = "generated/aioz.rs"]
mod generated;

pub use generated::*;

/// `{"status": "error", "message": ...}`.
#[derive(Debug, Clone, Copy)]
pub struct Envelope;

impl ErrorEnvelope for Envelope {
    fn body(message: &str) -> serde_json::Value {
        json!({"status": "error", "message": message})
    }
}
