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
//! The cross-field rules of the Storm ingest settings (`authType` required when `authorizationEnabled`
//! is true, and so on) are not in these types: Rust types cannot say "required when". The conformance
//! validator enforces them (see `spec/README.md`).
//!
//! Every password, token and API key is a [`Secret`], whose `Debug` prints no secret.

mod secret;

/// The `chrono` the timestamps are made of, so a user needs no version-matched copy.
pub use chrono;
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
