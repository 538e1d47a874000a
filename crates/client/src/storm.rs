//! The Storm Streaming Server client: sign in, applications, ingest settings, streams.
//!
//! ```no_run
//! use streamspec_client::storm::{Client, Credentials};
//! use streamspec_client::storm::types::{
//!     AuthType, IngestSettingsAttributes, UpdateIngestSettingsRequest, UpdateIngestSettingsRequestData,
//! };
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // Signs in on first use and again before the 15-minute token expires.
//! let client = Client::builder("http://localhost:8080", Credentials::login("admin", "admin-password")?)
//!     .build()?;
//! let attributes = IngestSettingsAttributes::builder()
//!     .authorization_enabled(true)
//!     .auth_type(AuthType::Managed);
//! let settings = client
//!     .update_ingest_settings()
//!     .app_name("live")
//!     .body(
//!         UpdateIngestSettingsRequest::builder()
//!             .data(UpdateIngestSettingsRequestData::builder().attributes(attributes)),
//!     )
//!     .send()
//!     .await?;
//! println!("authType is now {:?}", settings.data.attributes.auth_type.value);
//! # Ok(())
//! # }
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use progenitor_client::{ClientHooks, OperationInfo};
use reqwest::header::{AUTHORIZATION, HeaderName};
use streamspec_types::{EmptySecret, Secret};
use tokio::sync::Mutex;

use crate::retry::{RetryPolicy, Timeouts, Transport, transport_setters};
use crate::{BuildError, set_secret_header};

#[path = "generated/storm.rs"]
mod generated;

pub use generated::*;

/// Why a call of this API failed: [`crate::Error`] with this API's error envelope.
pub type Error = crate::Error<types::ErrorResponse>;

/// The `operationId` of the one operation that needs no credentials.
const LOGIN: &str = "login";

/// How the client authenticates. `Debug` shows no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// `Authorization: Bearer <accessToken>`, a token obtained elsewhere; not renewed.
    Bearer(Secret),
    /// The server's static API key, sent as `X-Api-Key`.
    ApiKey(Secret),
    /// A REST API user: the client calls `POST /api/auth/login` before the first request and again
    /// before the token expires (tokens live 15 minutes), and sends the token as a bearer token.
    Login {
        /// The user's name.
        username: String,
        /// The user's password.
        password: Secret,
    },
}

impl Credentials {
    /// A bearer token from an earlier `login`.
    pub fn bearer(token: impl Into<String>) -> Result<Self, EmptySecret> {
        Ok(Self::Bearer(Secret::new(token)?))
    }

    /// The static API key of the server's configuration.
    pub fn api_key(key: impl Into<String>) -> Result<Self, EmptySecret> {
        Ok(Self::ApiKey(Secret::new(key)?))
    }

    /// Sign in as `username`, and stay signed in.
    pub fn login(
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Result<Self, EmptySecret> {
        Ok(Self::Login { username: username.into(), password: Secret::new(password)? })
    }
}

/// A token from `login` and when to stop using it.
#[derive(Debug)]
struct CachedToken {
    token: Secret,
    renew_at: Instant,
}

/// What every request of a [`Client`] carries: credentials, the signed-in token, the retry policy.
#[derive(Debug, Clone)]
pub struct ClientState {
    credentials: Credentials,
    retry: RetryPolicy,
    renew_before: Duration,
    // Shared by clones of the client, and held across a login so that concurrent requests sign in
    // once: the server allows 5 logins a minute.
    token: Arc<Mutex<Option<CachedToken>>>,
}

impl Client {
    /// A client for the Storm server at `baseurl` (e.g. `http://localhost:8080`; paths start with
    /// `/api`), sending `credentials` with every request.
    pub fn builder(baseurl: impl Into<String>, credentials: Credentials) -> ClientBuilder {
        ClientBuilder {
            baseurl: baseurl.into(),
            credentials,
            renew_before: Duration::from_secs(60),
            transport: Transport::default(),
        }
    }

    /// The credentials this client sends.
    pub fn credentials(&self) -> &Credentials {
        &self.inner.credentials
    }

    /// Forgets the signed-in token, so the next request signs in again (with [`Credentials::Login`]).
    pub async fn sign_out(&self) {
        *self.inner.token.lock().await = None;
    }

    /// A valid token for [`Credentials::Login`], signing in when there is none or it is about to expire.
    async fn token(&self, username: &str, password: &Secret) -> Result<Secret, String> {
        let mut cached = self.inner.token.lock().await;
        if let Some(cached) = cached.as_ref().filter(|cached| Instant::now() < cached.renew_at) {
            return Ok(cached.token.clone());
        }
        let name = username.try_into().map_err(|error| format!("username: {error}"))?;
        let body = types::LoginRequest::new(password.clone(), name);
        let url = format!("{}/api/auth/login", self.baseurl);
        let response = self
            .client
            .post(url)
            .json(&body)
            .send()
            .await
            .map_err(|error| format!("signing in as `{username}`: {error}"))?;
        let status = response.status();
        if !status.is_success() {
            let message = response
                .json::<types::ErrorResponse>()
                .await
                .map(|error| error.message)
                .unwrap_or_else(|_| "no error message".to_owned());
            return Err(format!("signing in as `{username}` failed: {status}: {message}"));
        }
        let login: types::LoginResponse = response
            .json()
            .await
            .map_err(|error| format!("signing in as `{username}`: unreadable answer: {error}"))?;
        // Count from our own clock: `remainingTime` is relative, so the two clocks need not agree.
        let lifetime = Duration::from_millis(u64::try_from(login.data.remaining_time).unwrap_or(0));
        let renew_at = Instant::now() + lifetime.saturating_sub(self.inner.renew_before);
        let token = login.data.access_token;
        *cached = Some(CachedToken { token: token.clone(), renew_at });
        Ok(token)
    }
}

/// Builds a [`Client`]; from [`Client::builder`].
#[derive(Debug)]
pub struct ClientBuilder {
    baseurl: String,
    credentials: Credentials,
    renew_before: Duration,
    transport: Transport,
}

impl ClientBuilder {
    transport_setters!();

    /// With [`Credentials::Login`], sign in again this long before the token expires. Default 60 s.
    pub fn renew_before(mut self, margin: Duration) -> Self {
        self.renew_before = margin;
        self
    }

    /// The client.
    pub fn build(mut self) -> Result<Client, BuildError> {
        let http = self.transport.http_client()?;
        let state = ClientState {
            credentials: self.credentials,
            retry: self.transport.retry,
            renew_before: self.renew_before,
            token: Arc::default(),
        };
        Ok(Client::new_with_client(&self.baseurl, http, state))
    }
}

impl ClientHooks<ClientState> for Client {
    async fn pre<E>(
        &self,
        request: &mut reqwest::Request,
        info: &OperationInfo,
    ) -> Result<(), progenitor_client::Error<E>> {
        if info.operation_id == LOGIN {
            return Ok(());
        }
        let applied = match &self.inner.credentials {
            Credentials::Bearer(token) => {
                set_secret_header(request, AUTHORIZATION, &format!("Bearer {}", token.expose()))
            }
            Credentials::ApiKey(key) => {
                set_secret_header(request, HeaderName::from_static("x-api-key"), key.expose())
            }
            Credentials::Login { username, password } => {
                let token = self
                    .token(username, password)
                    .await
                    .map_err(progenitor_client::Error::Custom)?;
                set_secret_header(request, AUTHORIZATION, &format!("Bearer {}", token.expose()))
            }
        };
        applied.map_err(|message| progenitor_client::Error::InvalidRequest(message.to_owned()))
    }

    async fn exec(
        &self,
        request: reqwest::Request,
        _info: &OperationInfo,
    ) -> reqwest::Result<reqwest::Response> {
        self.inner.retry.execute(&self.client, request).await
    }
}
