//! The emulator's own operations (`spec/emulator.yaml`): implement [`EmulatorApi`], serve [`router`].
//!
//! Routes are under `/_emulator/`, outside both vendor APIs. Errors are `{"message": ...}`, as Storm's.

#[path = "generated/emulator.rs"]
mod generated;

pub use generated::*;

/// `{"message": ...}`: the emulator's operations answer errors as Storm does.
pub use crate::storm::Envelope;
