//! Storm Streaming Server's REST API: implement [`StormApi`], serve [`router`].
//!
//! Routes are the spec's paths (`/api/auth/login`, `/api/applications/...`, `/api/streams/...`).
//! Errors are `{"message": ...}`.

use serde_json::json;

use crate::adapter::ErrorEnvelope;

#[path = "generated/storm.rs"]
mod generated;

pub use generated::*;

/// `{"message": ...}`.
#[derive(Debug, Clone, Copy)]
pub struct Envelope;

impl ErrorEnvelope for Envelope {
    fn body(message: &str) -> serde_json::Value {
        json!({"message": message})
    }
}
