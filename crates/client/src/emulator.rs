//! The emulator's own operations (`spec/emulator.yaml`): publish attempts decided under a Storm
//! application's ingest settings, and ending their sessions (no credentials: the publisher's are part
//! of the attempt); and the control operations of a test fixture: health, credentials, reset,
//! injected faults, the request journal and the specs (the control token, when the emulator listens
//! off loopback, from [`ClientBuilder::control_token`]).
//!
//! ```no_run
//! use streamspec_client::emulator::Client;
//! use streamspec_client::emulator::types::{
//!     PublishDecision, PublishRequest, PublisherCredentials, UsernamePassword, UsernamePasswordType,
//! };
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::builder("http://127.0.0.1:8080").build()?;
//! let admin = UsernamePassword::builder()
//!     .type_(UsernamePasswordType::Credentials)
//!     .username("admin")
//!     .password("qwerty123");
//! let request = PublishRequest::builder()
//!     .stream_key("camera1")
//!     .credentials(PublisherCredentials::UsernamePassword(admin.try_into()?));
//! match client.publish().app_name("live").body(request).send().await?.into_inner() {
//!     PublishDecision::Allowed(allowed) => println!("live as session {}", allowed.session_id),
//!     PublishDecision::Denied(denied) => println!("denied: {}", denied.message),
//! }
//! # Ok(())
//! # }
//! ```

use progenitor_client::{ClientHooks, OperationInfo};

use reqwest::header::HeaderName;
use streamspec_types::{EmptySecret, Secret};

use crate::retry::{RetryPolicy, Timeouts, Transport, transport_setters};
use crate::{BuildError, set_secret_header};

#[path = "generated/emulator.rs"]
mod generated;

pub use generated::*;

/// Why a call of this API failed: [`crate::Error`] with this API's error envelope.
pub type Error = crate::Error<types::ErrorResponse>;

/// What every request of a [`Client`] carries: the retry policy, and the control token if set.
#[derive(Debug, Clone)]
pub struct ClientState {
    retry: RetryPolicy,
    control_token: Option<Secret>,
}

impl Client {
    /// A client for the emulator at `baseurl` (e.g. `http://127.0.0.1:8080`; paths start with
    /// `/_emulator`).
    pub fn builder(baseurl: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            baseurl: baseurl.into(),
            transport: Transport::default(),
            control_token: None,
        }
    }
}

/// Builds a [`Client`]; from [`Client::builder`].
#[derive(Debug)]
pub struct ClientBuilder {
    baseurl: String,
    transport: Transport,
    control_token: Option<Secret>,
}

impl ClientBuilder {
    transport_setters!();

    /// Sends the control token the emulator printed at start (`X-Emulator-Token`) with every
    /// request: the control operations need it when the emulator listens off loopback.
    pub fn control_token(mut self, token: impl Into<String>) -> Result<Self, EmptySecret> {
        self.control_token = Some(Secret::new(token)?);
        Ok(self)
    }

    /// The client.
    pub fn build(mut self) -> Result<Client, BuildError> {
        let http = self.transport.http_client()?;
        Ok(Client::new_with_client(
            &self.baseurl,
            http,
            ClientState { retry: self.transport.retry, control_token: self.control_token },
        ))
    }
}

impl ClientHooks<ClientState> for Client {
    async fn pre<E>(
        &self,
        request: &mut reqwest::Request,
        _info: &OperationInfo,
    ) -> Result<(), progenitor_client::Error<E>> {
        let Some(token) = &self.inner.control_token else { return Ok(()) };
        set_secret_header(request, HeaderName::from_static("x-emulator-token"), token.expose())
            .map_err(|message| progenitor_client::Error::InvalidRequest(message.to_owned()))
    }

    async fn exec(
        &self,
        request: reqwest::Request,
        _info: &OperationInfo,
    ) -> reqwest::Result<reqwest::Response> {
        self.inner.retry.execute(&self.client, request).await
    }
}
