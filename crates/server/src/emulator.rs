//! The emulator's own operations (`spec/emulator.yaml`): implement [`EmulatorApi`], serve [`router`].
//!
//! Routes are under `/_emulator/`, outside both vendor APIs. Errors are `{"message": ...}`, as Storm's.

use serde_json::json;

use crate::adapter::ErrorEnvelope;

#[path = "generated/emulator.rs"]
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
