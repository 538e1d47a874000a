//! Serde types for the two APIs streamspec covers, generated from its hand-written OpenAPI specs and
//! shared by `streamspec-client` and `streamspec-server`, so a proxy that implements a server trait by
//! calling the client needs no conversions.
//!
//! - [`aioz`]: AIOZ Stream live stream keys (`spec/aioz-stream.yaml`), e.g. [`aioz::LiveStreamKey`].
//! - [`storm`]: Storm Streaming Server 3.x applications and ingest settings (`spec/storm.yaml`), e.g.
//!   [`storm::IngestSettingsAttributes`], [`storm::AuthType`], [`storm::AuthUser`].
//! - [`emulator`]: the emulator's own operations (`spec/emulator.yaml`): publish attempts decided under
//!   the Storm ingest settings, e.g. [`emulator::PublishRequest`], [`emulator::PublishDecision`].
//!
//! Every component schema of a spec is a type here, with the spec's descriptions as docs; each also
//! derives [`schemars::JsonSchema`]. Request types have builders that check each field as it is set:
//!
//! ```
//! use streamspec_types::storm::{AuthType, AuthUser, AuthUserCredentials, IngestSettingsAttributes};
//!
//! let settings = IngestSettingsAttributes::builder()
//!     .authorization_enabled(true)
//!     .auth_type(AuthType::Local)
//!     .auth_users(vec![AuthUser::Credentials(
//!         AuthUserCredentials::builder().username("admin").password("qwerty123").try_into()?,
//!     )])
//!     .try_into()?;
//! # let _: IngestSettingsAttributes = settings;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Every struct is `#[non_exhaustive]`, so an optional field the spec adds later breaks no code that
//! uses it: build one with `new`, which takes the required fields in the order the struct lists them,
//! and set the optional ones by assignment (or use the builder); match it with `..`. A new required
//! field changes `new`, as it should: the spec's `CHANGELOG` lists it as breaking.
//!
//! ```
//! use streamspec_types::aioz::{LiveStreamKey, LiveStreamKeyResponse};
//!
//! let mut key = LiveStreamKey::new("0f3b9a54-2f7e-4a53-9c43-31a4d0a1b2c3".to_owned());
//! key.name = Some("studio".to_owned());
//! let LiveStreamKey { id, name, .. } = &LiveStreamKeyResponse::success(key).data;
//! # assert_eq!((id.len(), name.as_deref()), (36, Some("studio")));
//! ```
//!
//! The cross-field rules of the Storm ingest settings (`authType` required when `authorizationEnabled`
//! is true, and so on) are not in these types: Rust types cannot say "required when". The conformance
//! validator enforces them (see `spec/README.md`).
//!
//! Every password, token and API key is a [`Secret`], whose `Debug` prints no secret. An enum a
//! response reports (a key's `type`, an application's type, a settings' `authType`) is an [`Open`]
//! enum: a value the vendor adds later is kept, not a parse error (see `spec/README.md`).

mod open;
mod optional;
mod secret;

/// The `chrono` the timestamps are made of, so a user needs no version-matched copy.
pub use chrono;
pub use open::Open;
pub use optional::IntoOptional;
pub use secret::{EmptySecret, Secret};
/// The `uuid` the ids are made of, so a user needs no version-matched copy.
pub use uuid;

/// AIOZ Stream live stream keys: the types of `spec/aioz-stream.yaml`.
#[path = "generated/aioz.rs"]
pub mod aioz;

/// Storm Streaming Server applications and ingest settings: the types of `spec/storm.yaml`.
#[path = "generated/storm.rs"]
pub mod storm;

/// The emulator's own publish attempts and sessions: the types of `spec/emulator.yaml`.
#[path = "generated/emulator.rs"]
pub mod emulator;

impl aioz::ErrorResponse {
    /// An error in the form the emulator answers: `{"status": "error", "message": ...}`.
    pub fn with_message(message: impl Into<String>) -> Self {
        let mut error = Self::new();
        error.status = Some("error".to_owned());
        error.message = Some(message.into());
        error
    }

    /// What went wrong, from whichever form the body took: `message` (the Go SDK's
    /// `ResponseError`), else the problem details' `detail` or `title` (what the Node SDK reads).
    pub fn text(&self) -> Option<&str> {
        self.message.as_deref().or(self.detail.as_deref()).or(self.title.as_deref())
    }
}

impl aioz::LiveStreamKeyResponse {
    /// One key in the form the emulator answers it: `{"status": "success", "data": key}`.
    pub fn success(key: aioz::LiveStreamKey) -> Self {
        let mut envelope = Self::new(key);
        envelope.status = Some("success".to_owned());
        envelope
    }
}

impl aioz::LiveStreamKey {
    /// The key's name: `name`, or `title` where a response spells it so (the vendor documentation's
    /// create example does).
    pub fn display_name(&self) -> Option<&str> {
        self.name.as_deref().or(self.title.as_deref())
    }
}
