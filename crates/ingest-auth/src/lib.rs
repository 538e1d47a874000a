//! Decides whether a publisher may ingest a stream into a Storm Streaming Server application, under
//! that application's ingest settings: the engine behind `authType` `none`, `local`, `file`,
//! `request` and `managed`.
//!
//! ```
//! use std::net::Ipv4Addr;
//! use streamspec_ingest_auth::{Authorizer, Decision, DenyReason, IngestSettings, Presented, PublishAttempt};
//! use streamspec_types::storm::IngestSettingsAttributes;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // The settings as the REST API stores them (the seed's `local` example).
//! let attributes: IngestSettingsAttributes = serde_json::from_str(r#"{
//!     "authorizationEnabled": true, "authType": "local",
//!     "authUsers": [{"username": "admin", "password": "qwerty123"}, {"token": "abc123xyz789"}]
//! }"#)?;
//! let settings = IngestSettings::from_attributes(&attributes)?;
//! let authorizer = Authorizer::builder().build()?;
//!
//! let attempt = PublishAttempt::new("live", "cam-1", Ipv4Addr::LOCALHOST.into())
//!     .presenting(Presented::credentials("admin", "qwerty123")?);
//! let Decision::Allow(session) = authorizer.authorize(&settings, &attempt).await else { panic!() };
//! assert!(session.published);
//!
//! // While that session is live, overwrite allowed (the default), a second publisher replaces it.
//! let again = authorizer.authorize(&settings, &attempt).await;
//! assert!(matches!(again, Decision::Allow(ref second) if second.replaced == Some(session.id)));
//!
//! let wrong = attempt.clone().presenting(Presented::credentials("admin", "guess")?);
//! assert_eq!(authorizer.authorize(&settings, &wrong).await, Decision::Deny(DenyReason::InvalidCredentials));
//! # Ok(())
//! # }
//! ```
//!
//! # The rules
//!
//! [`Authorizer::authorize`] applies them in this order; the first that denies decides.
//!
//! 1. **`allowStreamIngest: false`** denies every attempt ([`DenyReason::IngestDisabled`]).
//! 2. **Authorization** by [`Authorization`]:
//!    - disabled (`authorizationEnabled: false`) or `none`: allowed, whatever was presented;
//!    - `local`: the attempt presents a username and password that match one `authUsers` entry, or a
//!      token that matches one whose `expire` (Unix milliseconds) is absent or later than now. An
//!      expired token is [`DenyReason::TokenExpired`]; nothing presented is
//!      [`DenyReason::CredentialsMissing`]; anything else [`DenyReason::InvalidCredentials`]. Every
//!      comparison takes the same time whatever the values (both sides are hashed with SHA-256 and
//!      the digests compared in constant time), and every entry is compared;
//!    - `file`: as `local`, with the users and tokens of the file at `fileURL` (format below), and an
//!      entry bound to stream keys allows only those ([`DenyReason::StreamKeyNotAllowed`]). A file that
//!      is missing, unreadable or malformed denies ([`DenyReason::AuthorizationUnavailable`]) and logs
//!      why at `warn`; so does one that is not a regular file (a FIFO, a device), one larger than
//!      [`AuthorizerBuilder::file_max_bytes`] (1 MiB), or one not read within the request timeout.
//!      The file is read on tokio's blocking pool, never on the thread that serves the attempt. With [`AuthorizerBuilder::file_root`], a `fileURL` outside that directory
//!      denies too, and [`Authorizer::check_file_url`] lets the settings API refuse it up front;
//!    - `request`: the service at `requestURL` decides (exchange below);
//!    - `managed`: the stream must exist in the application ([`ManagedStreams`];
//!      [`DenyReason::StreamNotFound`]), and the attempt must present what its source names:
//!      `credentials`, `token` or `secret`; a source of `none` takes anyone.
//! 3. **A live stream key**: while a session of the same application and stream key is live, a
//!    second publisher is denied ([`DenyReason::StreamLive`]) unless `allowStreamOverwrite` is true,
//!    in which case the first session is replaced ([`Allowed::replaced`]). Only an authorized
//!    publisher gets this far, so nobody can take over a stream by guessing.
//!
//! An allowed attempt starts a session ([`Allowed::id`]) that lasts until
//! [`Authorizer::end_session`]; it starts published when `autoStreamPublish` is true
//! ([`Allowed::published`]). A [`DenyReason`] is safe to show the publisher: it never contains a
//! secret, nor which part of a guess was right.
//!
//! # The `request` exchange
//!
//! For each attempt the engine makes one HTTP request:
//!
//! - **URL**: `requestURL` with every `${streamKey}` replaced by the stream key, percent-encoded:
//!   every byte but `A`–`Z`, `a`–`z`, `0`–`9`, `-`, `.`, `_` and `~` becomes `%XX` (UTF-8), so `/`,
//!   `?`, `#`, `&` and `%` in a key stay inside its segment or query value. `${streamKey}` may appear
//!   in the path and the query only, never in the scheme, host or port ([`check_request_url`]); a key
//!   that would still change the URL (a whole segment of `.` or `..`) is denied with
//!   [`DenyReason::InvalidStreamKey`] without a request. The URL carries no username or password
//!   ([`RequestUrlError::CredentialsInUrl`]): the service's key belongs in `apiKey`.
//! - **Destination**: only where [`AuthorizerBuilder::request_destinations`] allows, by default
//!   loopback alone; link-local and cloud metadata addresses never ([`Destinations`]). A name is
//!   resolved on every call and only its allowed addresses are used; an address in the URL, in any
//!   spelling (`127.1`, `2130706433`, `[::ffff:a.b.c.d]`), is checked before the call, and
//!   [`Authorizer::check_request_url`] lets a settings API refuse it up front. System proxy settings
//!   are not used, so no proxy can carry a call elsewhere. A call that may not go denies with
//!   [`DenyReason::AuthorizationUnavailable`] and logs why.
//! - **Method and headers**: `POST`, `Content-Type: application/json`, and `X-Api-Key: <apiKey>` when
//!   the settings have an `apiKey`.
//! - **Body**: a JSON object:
//!
//!   ```json
//!   {
//!     "application": "live",
//!     "streamKey": "cam-1",
//!     "clientAddress": "203.0.113.7",
//!     "credentials": {"type": "credentials", "username": "alice", "password": "s3cret"}
//!   }
//!   ```
//!
//!   `credentials` is what the publisher presented: `{"type": "none"}`,
//!   `{"type": "credentials", "username": …, "password": …}`, `{"type": "token", "token": …}` or
//!   `{"type": "secret", "secret": …}`.
//! - **Answer**: any `2xx` allows, whatever the body. A `4xx` denies with [`DenyReason::Rejected`].
//!   Anything else denies with [`DenyReason::AuthorizationUnavailable`]: a redirect (`3xx`, never
//!   followed), a `5xx`, no answer within the timeout ([`AuthorizerBuilder::request_timeout`],
//!   default 2 s, for the whole exchange), or no connection. The engine fails closed.
//!
//! # The `file` format
//!
//! A UTF-8 XML document whose root element is `<ingestAuthorization>`, with an optional
//! `version="1"`. Its children, in any order and number:
//!
//! - `<user username="…" password="…"/>`: a publisher who presents that username and password;
//! - `<token value="…" expire="…"/>`: a publisher who presents that token; `expire`, optional, is the
//!   Unix time in milliseconds from which the token is refused.
//!
//! Either may contain `<streamKey>…</streamKey>` elements: then it may publish only those stream
//! keys; without any, every key. Attribute values use XML's entities (`&amp;`, `&quot;`…). Any other
//! element or attribute, an empty username, password or token, or a non-numeric `expire` makes the
//! whole file invalid: it then allows nobody. The file is read on every attempt that needs it and
//! parsed again when its content changed, so an edit applies to the next attempt. An example,
//! `examples/publish_keys.xml`:
//!
//! ```xml
#![doc = include_str!("../examples/publish_keys.xml")]
//! ```

mod file;
mod managed;
mod request;
mod settings;
mod users;

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use streamspec_types::storm::StreamSource;
use streamspec_types::{EmptySecret, Secret};
use uuid::Uuid;

pub use file::{FileError, FileUrlError};
pub use managed::{LookupError, ManagedStreams};
pub use request::{Destinations, PLACEHOLDER, RequestUrlError, check_request_url};
pub use settings::{Authorization, IngestSettings, SettingsError};

/// Whether two secrets are equal, in a time that depends on neither their values nor their lengths:
/// both are hashed with SHA-256 and the digests compared in constant time, as every comparison of
/// this crate is. For servers that check API keys, tokens and passwords.
///
/// ```
/// assert!(streamspec_ingest_auth::secrets_match("qwerty123", "qwerty123"));
/// assert!(!streamspec_ingest_auth::secrets_match("qwerty123", "qwerty12"));
/// ```
pub fn secrets_match(a: &str, b: &str) -> bool {
    users::same(a, b)
}

/// One attempt to publish a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishAttempt {
    /// The application's name.
    pub application: String,
    /// The stream key the publisher wants to publish.
    pub stream_key: String,
    /// What the publisher presented.
    pub presented: Presented,
    /// Where the publisher connects from.
    pub client_address: IpAddr,
}

impl PublishAttempt {
    /// An attempt presenting nothing.
    pub fn new(
        application: impl Into<String>,
        stream_key: impl Into<String>,
        client_address: IpAddr,
    ) -> Self {
        Self {
            application: application.into(),
            stream_key: stream_key.into(),
            presented: Presented::Nothing,
            client_address,
        }
    }

    /// The same attempt, presenting `presented`.
    pub fn presenting(mut self, presented: Presented) -> Self {
        self.presented = presented;
        self
    }
}

/// What a publisher presents. `Debug` shows no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presented {
    /// No credentials.
    Nothing,
    /// A username and password.
    Credentials {
        /// The username.
        username: String,
        /// The password.
        password: Secret,
    },
    /// A token.
    Token(Secret),
    /// A stream's secret (for a `managed` stream whose source is `secret`).
    StreamSecret(Secret),
}

impl Presented {
    /// A username and password; fails if the password is empty.
    pub fn credentials(
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Result<Self, EmptySecret> {
        Ok(Self::Credentials { username: username.into(), password: Secret::new(password)? })
    }

    /// A token; fails if it is empty.
    pub fn token(token: impl Into<String>) -> Result<Self, EmptySecret> {
        Ok(Self::Token(Secret::new(token)?))
    }

    /// A stream secret; fails if it is empty.
    pub fn stream_secret(secret: impl Into<String>) -> Result<Self, EmptySecret> {
        Ok(Self::StreamSecret(Secret::new(secret)?))
    }
}

/// The answer to a [`PublishAttempt`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The publisher may publish; a session has started.
    Allow(Allowed),
    /// The publisher may not.
    Deny(DenyReason),
}

impl Decision {
    /// Whether this is [`Decision::Allow`].
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow(_))
    }
}

/// An allowed attempt: the session it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowed {
    /// The new session, to end with [`Authorizer::end_session`].
    pub id: SessionId,
    /// Whether the stream starts published (`autoStreamPublish`).
    pub published: bool,
    /// The session this one replaced, when the stream key was live and overwrite is allowed.
    pub replaced: Option<SessionId>,
}

/// A publishing session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId(Uuid);

impl SessionId {
    /// The session's id as a UUID.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl From<Uuid> for SessionId {
    fn from(id: Uuid) -> Self {
        Self(id)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Why an attempt is denied. Safe to show the publisher: it holds no secret, and does not say which
/// part of a guess was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DenyReason {
    /// `allowStreamIngest` is false.
    IngestDisabled,
    /// Authorization is required and nothing was presented.
    CredentialsMissing,
    /// What was presented matches no user, token or stream.
    InvalidCredentials,
    /// The token matched, and has expired.
    TokenExpired,
    /// The `file` entry that matched is bound to other stream keys.
    StreamKeyNotAllowed,
    /// `managed`: the application has no stream with this key.
    StreamNotFound,
    /// The stream key is live and `allowStreamOverwrite` is false.
    StreamLive,
    /// `request`: the authorization service answered 4xx.
    Rejected,
    /// The authorization file or service cannot be used (missing, malformed, failing, slow); the
    /// server's log says why.
    AuthorizationUnavailable,
    /// `request`: the stream key would change the authorization service's URL.
    InvalidStreamKey,
    /// The application, or the server, has as many live sessions as it allows
    /// ([`AuthorizerBuilder::max_sessions_per_application`], [`AuthorizerBuilder::max_sessions`]).
    SessionLimit,
}

impl DenyReason {
    /// Every reason.
    pub const ALL: [DenyReason; 11] = [
        DenyReason::IngestDisabled,
        DenyReason::CredentialsMissing,
        DenyReason::InvalidCredentials,
        DenyReason::TokenExpired,
        DenyReason::StreamKeyNotAllowed,
        DenyReason::StreamNotFound,
        DenyReason::StreamLive,
        DenyReason::Rejected,
        DenyReason::AuthorizationUnavailable,
        DenyReason::InvalidStreamKey,
        DenyReason::SessionLimit,
    ];

    /// A stable snake-case code: `invalid_credentials`, `token_expired`….
    pub fn code(self) -> &'static str {
        match self {
            DenyReason::IngestDisabled => "ingest_disabled",
            DenyReason::CredentialsMissing => "credentials_missing",
            DenyReason::InvalidCredentials => "invalid_credentials",
            DenyReason::TokenExpired => "token_expired",
            DenyReason::StreamKeyNotAllowed => "stream_key_not_allowed",
            DenyReason::StreamNotFound => "stream_not_found",
            DenyReason::StreamLive => "stream_live",
            DenyReason::Rejected => "rejected",
            DenyReason::AuthorizationUnavailable => "authorization_unavailable",
            DenyReason::InvalidStreamKey => "invalid_stream_key",
            DenyReason::SessionLimit => "session_limit",
        }
    }
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DenyReason::IngestDisabled => "stream ingest is disabled for this application",
            DenyReason::CredentialsMissing => "this application requires credentials to publish",
            DenyReason::InvalidCredentials => "the credentials are not valid",
            DenyReason::TokenExpired => "the token has expired",
            DenyReason::StreamKeyNotAllowed => "these credentials may not publish this stream key",
            DenyReason::StreamNotFound => "the application has no stream with this key",
            DenyReason::StreamLive => "the stream key is already live",
            DenyReason::Rejected => "the authorization service refused the stream",
            DenyReason::AuthorizationUnavailable => "authorization is unavailable; try again later",
            DenyReason::InvalidStreamKey => "the stream key is not valid",
            DenyReason::SessionLimit => {
                "the server has as many live sessions as it allows; try again when one ends"
            }
        })
    }
}

impl std::error::Error for DenyReason {}

/// The engine. Cheap to share (`Arc`); keeps the live sessions, the parsed authorization files and
/// the HTTP client for `request`.
pub struct Authorizer {
    http: reqwest::Client,
    destinations: Arc<Destinations>,
    file_root: Option<PathBuf>,
    file_limits: file::ReadLimits,
    streams: Option<Arc<dyn ManagedStreams>>,
    files: file::FileCache,
    sessions: Mutex<Sessions>,
    limits: SessionLimits,
}

/// How many sessions may be live at once.
#[derive(Debug, Clone, Copy)]
struct SessionLimits {
    total: usize,
    per_application: usize,
}

impl fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authorizer")
            .field("file_root", &self.file_root)
            .field("managed_streams", &self.streams.is_some())
            .finish_non_exhaustive()
    }
}

/// The live sessions, by stream and by id, and how many each application has.
#[derive(Debug, Default)]
struct Sessions {
    by_stream: HashMap<(String, String), SessionId>,
    by_id: HashMap<SessionId, (String, String)>,
    per_application: HashMap<String, usize>,
}

/// Builds an [`Authorizer`]; from [`Authorizer::builder`].
pub struct AuthorizerBuilder {
    request_timeout: Duration,
    destinations: Destinations,
    file_root: Option<PathBuf>,
    file_max_bytes: u64,
    limits: SessionLimits,
    streams: Option<Arc<dyn ManagedStreams>>,
}

impl fmt::Debug for AuthorizerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizerBuilder")
            .field("request_timeout", &self.request_timeout)
            .field("destinations", &self.destinations)
            .field("file_root", &self.file_root)
            .field("file_max_bytes", &self.file_max_bytes)
            .field("max_sessions", &self.limits.total)
            .field("max_sessions_per_application", &self.limits.per_application)
            .field("managed_streams", &self.streams.is_some())
            .finish()
    }
}

/// The [`reqwest`] client for `request` could not be made (no TLS backend, say).
#[derive(Debug)]
pub struct BuildError(reqwest::Error);

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the HTTP client for `request` authorization could not be made: {}", self.0)
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl AuthorizerBuilder {
    /// How long a `request` exchange may take in all before the attempt is denied. Default 2 s.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Where `request` calls may go. Default: loopback only ([`Destinations::loopback`]).
    pub fn request_destinations(mut self, destinations: Destinations) -> Self {
        self.destinations = destinations;
        self
    }

    /// The directory every `fileURL` must be in. Default: anywhere.
    pub fn file_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.file_root = Some(root.into());
        self
    }

    /// How many sessions may be live in all; an attempt past it is [`DenyReason::SessionLimit`].
    /// Default 10,000. Each session costs a few hundred bytes, so this bounds the engine's memory
    /// whoever attempts to publish.
    pub fn max_sessions(mut self, max: usize) -> Self {
        self.limits.total = max;
        self
    }

    /// How many sessions one application may have live; past it, [`DenyReason::SessionLimit`].
    /// Default 1,000.
    pub fn max_sessions_per_application(mut self, max: usize) -> Self {
        self.limits.per_application = max;
        self
    }

    /// The largest authorization file `file` reads; a larger one denies every attempt. Default 1 MiB.
    pub fn file_max_bytes(mut self, max_bytes: u64) -> Self {
        self.file_max_bytes = max_bytes;
        self
    }

    /// Where `managed` finds streams. Without it, every `managed` attempt is
    /// [`DenyReason::StreamNotFound`].
    pub fn managed_streams(mut self, streams: Arc<dyn ManagedStreams>) -> Self {
        self.streams = Some(streams);
        self
    }

    /// The engine.
    pub fn build(self) -> Result<Authorizer, BuildError> {
        let destinations = Arc::new(self.destinations);
        let http = reqwest::Client::builder()
            .timeout(self.request_timeout)
            // Every name is resolved by the policy's resolver, so a call reaches only the addresses
            // it allows; an address in the URL is checked before the call (`check`).
            .dns_resolver(Arc::new(request::CheckedResolver(destinations.clone())))
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("streamspec-ingest-auth/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(BuildError)?;
        Ok(Authorizer {
            http,
            destinations,
            file_root: self.file_root,
            // A file is read within the time a `request` exchange may take.
            file_limits: file::ReadLimits {
                max_bytes: self.file_max_bytes,
                timeout: self.request_timeout,
            },
            streams: self.streams,
            files: file::FileCache::default(),
            sessions: Mutex::default(),
            limits: self.limits,
        })
    }
}

impl Authorizer {
    /// A builder with the defaults: 2 s for `request` (and for reading a `file`), `request` calls to
    /// loopback only, `fileURL` anywhere, files of at most 1 MiB, 10,000 live sessions (1,000 an application), no managed
    /// streams.
    pub fn builder() -> AuthorizerBuilder {
        AuthorizerBuilder {
            request_timeout: Duration::from_secs(2),
            destinations: Destinations::loopback(),
            file_root: None,
            file_max_bytes: 1024 * 1024,
            limits: SessionLimits { total: 10_000, per_application: 1_000 },
            streams: None,
        }
    }

    /// Decides `attempt` under `settings` (the rules are in the crate docs), and when it is allowed,
    /// starts its session.
    pub async fn authorize(&self, settings: &IngestSettings, attempt: &PublishAttempt) -> Decision {
        let decision = match self.check(settings, attempt).await {
            Ok(()) => {
                self.start_session(settings, attempt).map_or_else(Decision::Deny, Decision::Allow)
            }
            Err(reason) => Decision::Deny(reason),
        };
        match &decision {
            Decision::Allow(allowed) => tracing::info!(
                application = attempt.application,
                stream_key = attempt.stream_key,
                session = %allowed.id,
                replaced = allowed.replaced.map(|id| id.to_string()),
                "publish allowed"
            ),
            Decision::Deny(reason) => tracing::info!(
                application = attempt.application,
                stream_key = attempt.stream_key,
                client = %attempt.client_address,
                reason = reason.code(),
                "publish denied"
            ),
        }
        decision
    }

    async fn check(
        &self,
        settings: &IngestSettings,
        attempt: &PublishAttempt,
    ) -> Result<(), DenyReason> {
        if !settings.allow_stream_ingest {
            return Err(DenyReason::IngestDisabled);
        }
        match &settings.authorization {
            Authorization::Disabled | Authorization::None => Ok(()),
            Authorization::Local { users } => {
                let entries: Vec<users::Entry> = users.iter().map(users::Entry::from).collect();
                users::check(&entries, &attempt.presented, &attempt.stream_key, now_ms())
            }
            Authorization::File { path } => {
                if let Err(error) = self.check_file_url(path) {
                    tracing::warn!(path = %path.display(), %error, "the authorization file is refused; denied");
                    return Err(DenyReason::AuthorizationUnavailable);
                }
                let entries =
                    self.files.entries(path, self.file_limits).await.map_err(|error| {
                        tracing::warn!(%error, "the authorization file cannot be used; denied");
                        DenyReason::AuthorizationUnavailable
                    })?;
                users::check(&entries, &attempt.presented, &attempt.stream_key, now_ms())
            }
            Authorization::Request { url, api_key } => {
                let url = request::url_for(url, &attempt.stream_key)?;
                if let Err(error) = self.destinations.check_literal(&url) {
                    tracing::warn!(%error, "the authorization service is not an allowed destination; denied");
                    return Err(DenyReason::AuthorizationUnavailable);
                }
                let body = request::Body {
                    application: &attempt.application,
                    stream_key: &attempt.stream_key,
                    client_address: attempt.client_address,
                    credentials: (&attempt.presented).into(),
                };
                request::ask(&self.http, url, api_key.as_ref(), &body).await
            }
            Authorization::Managed => {
                let source = self.stream_source(&attempt.application, &attempt.stream_key)?;
                managed::check(&source, &attempt.presented)
            }
        }
    }

    fn stream_source(
        &self,
        application: &str,
        stream_key: &str,
    ) -> Result<StreamSource, DenyReason> {
        let Some(streams) = &self.streams else {
            return Err(DenyReason::StreamNotFound);
        };
        match streams.stream_source(application, stream_key) {
            Ok(Some(source)) => Ok(source),
            Ok(None) => Err(DenyReason::StreamNotFound),
            Err(error) => {
                tracing::error!(%error, "looking up the managed stream failed; denied");
                Err(DenyReason::AuthorizationUnavailable)
            }
        }
    }

    fn start_session(
        &self,
        settings: &IngestSettings,
        attempt: &PublishAttempt,
    ) -> Result<Allowed, DenyReason> {
        let mut sessions = self.sessions.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let stream = (attempt.application.clone(), attempt.stream_key.clone());
        let replaced = sessions.by_stream.get(&stream).copied();
        if replaced.is_some() && !settings.allow_stream_overwrite {
            return Err(DenyReason::StreamLive);
        }
        // A replacing session takes the place of the one it replaces; a new one needs room.
        let in_application = sessions.per_application.get(&stream.0).copied().unwrap_or(0);
        if replaced.is_none()
            && (sessions.by_id.len() >= self.limits.total
                || in_application >= self.limits.per_application)
        {
            return Err(DenyReason::SessionLimit);
        }
        let id = SessionId(Uuid::new_v4());
        match replaced {
            Some(old) => {
                sessions.by_id.remove(&old);
            }
            None => *sessions.per_application.entry(stream.0.clone()).or_default() += 1,
        }
        sessions.by_stream.insert(stream.clone(), id);
        sessions.by_id.insert(id, stream);
        Ok(Allowed { id, published: settings.auto_stream_publish, replaced })
    }

    /// Ends a session; `false` when it is not live (ended, or replaced).
    pub fn end_session(&self, id: SessionId) -> bool {
        let mut sessions = self.sessions.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match sessions.by_id.remove(&id) {
            Some(stream) => {
                sessions.by_stream.remove(&stream);
                if let Some(count) = sessions.per_application.get_mut(&stream.0) {
                    *count -= 1;
                    if *count == 0 {
                        sessions.per_application.remove(&stream.0);
                    }
                }
                true
            }
            None => false,
        }
    }

    /// Ends every live session (a test fixture's reset); answers how many there were.
    pub fn end_all_sessions(&self) -> usize {
        let mut sessions = self.sessions.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let ended = sessions.by_id.len();
        *sessions = Sessions::default();
        ended
    }

    /// The live session of `stream_key` in `application`, if any.
    pub fn live_session(&self, application: &str, stream_key: &str) -> Option<SessionId> {
        let sessions = self.sessions.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        sessions.by_stream.get(&(application.to_owned(), stream_key.to_owned())).copied()
    }

    /// Checks a `requestURL` as this engine will: [`check_request_url`], and an address in it must be
    /// an allowed destination (a name is checked when a call resolves it). A settings API calls it
    /// to answer 400.
    pub fn check_request_url(&self, template: &str) -> Result<(), RequestUrlError> {
        check_request_url(template)?;
        let url = template.replace(PLACEHOLDER, "key");
        match reqwest::Url::parse(&url) {
            Ok(url) => self.destinations.check_literal(&url),
            Err(_) => Err(RequestUrlError::NotHttp),
        }
    }

    /// Checks a `fileURL` as this engine will: absolute, no `..`, and inside
    /// [`AuthorizerBuilder::file_root`] when one is set. A settings API calls it to answer 400.
    pub fn check_file_url(&self, path: impl AsRef<Path>) -> Result<(), FileUrlError> {
        file::check_path(self.file_root.as_deref(), path.as_ref())
    }
}

/// Now, in Unix milliseconds, the unit of `expire`.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
}
