//! The emulator's settings, from a TOML file, environment variables and flags, and the credentials it
//! generates on first start (kept in the database, so they stay the same across restarts).
//!
//! ```toml
//! listen = "127.0.0.1:8080"
//! threads = 2              # threads serving requests (default: one per core)
//! db = "streamspec.sqlite"
//! rtmp = true             # the RTMP ingest listener; false for none
//! rtmp_listen = "127.0.0.1:1935"
//! # ingest_base_url = "rtmp://ingest.example:1935/live"  # keys' `rtmp_url` (default: the RTMP listener's)
//! rtmp_max_connections = 1000       # RTMP connections at once; one more is closed at once
//! rtmp_publish_timeout_secs = 10    # from connecting to an accepted publish, handshake included
//! rtmp_idle_timeout_secs = 30       # an accepted publisher silent this long is disconnected
//! rate_limit_per_minute = 600
//! publish_attempts_per_minute = 600  # publish attempts per client address; more are answered 429
//! login_attempts_per_minute = 5       # Storm logins per client address, as Storm allows; more are 429
//! journal_size = 1000               # requests `GET /_emulator/journal` keeps; 0 keeps none
//! max_name_bytes = 256      # the longest key or application name accepted; a longer one is a 400
//! debug = false            # also validate every response against the spec
//! request_timeout_secs = 30 # a request slower than this, its body included, is answered 408
//! header_timeout_secs = 10  # a request head slower than this (from the connection's start or its first byte) is cut off
//! idle_timeout_secs = 60    # a keep-alive connection silent this long between requests is closed
//! max_connections = 4096    # open connections at once (kept under the open-files limit); one more is answered 503
//! validate_requests = true  # false only to measure what the conformance layer costs
//!
//! [[aioz_accounts]]
//! user_id = "studio"
//! public_key = "pk_studio"
//! secret_key = "sk_studio"
//! token = "jwt-for-studio"
//!
//! [storm]
//! api_key = "a-static-api-key"
//! file_auth_root = "/srv/storm/auth"   # every `fileURL` must be under it (default: anywhere)
//! request_auth_timeout_ms = 2000       # how long a `request` service, or reading a `file`, may take
//! request_auth_allow = ["127.0.0.0/8", "::1/128"]  # where `request` calls may go (never link-local)
//! file_auth_max_bytes = 1048576         # the largest `file` authorization file read; a larger one denies
//! max_auth_users = 1000                 # `authUsers` entries accepted in one application's settings
//! max_sessions = 10000                  # live publish sessions in all; past it, `session_limit`
//! max_sessions_per_application = 1000   # live publish sessions of one application
//! [[storm.users]]
//! username = "admin"
//! password = "change-me"
//! ```

use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::store::Storage;

/// Everything the emulator can be told.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where to listen.
    pub listen: SocketAddr,
    /// How many threads serve requests; `None` for one per core.
    pub threads: Option<NonZeroUsize>,
    /// The SQLite database; `:memory:` for a throwaway run.
    pub db: PathBuf,
    /// Whether to listen for RTMP publishers.
    pub rtmp: bool,
    /// Where the RTMP listener binds.
    pub rtmp_listen: SocketAddr,
    /// The `rtmp_url` of every live stream key; by default `rtmp://<RTMP listener>/live`, the
    /// bound address (so a listener on port 0 gives URLs that work). Set it when encoders reach the
    /// emulator by another name; its last path segment is the application AIOZ's publishes use.
    pub ingest_base_url: Option<String>,
    /// How many RTMP connections may be open at once; one more is closed at once.
    pub rtmp_max_connections: usize,
    /// How long an RTMP connection has from its start until its publish is accepted, the handshake
    /// included; a connection that never publishes is closed then.
    pub rtmp_publish_timeout_secs: u64,
    /// How long an accepted RTMP publisher may send nothing before it is disconnected.
    pub rtmp_idle_timeout_secs: u64,
    /// Requests per minute per AIOZ account before 429.
    pub rate_limit_per_minute: u32,
    /// Publish attempts per minute per client address before 429.
    pub publish_attempts_per_minute: u32,
    /// Storm login attempts per minute per client address before 429: 5, as Storm's login page
    /// states (see `spec/README.md`). A test suite that logs in per test raises it.
    pub login_attempts_per_minute: u32,
    /// How many requests the journal (`GET /_emulator/journal`) keeps; 0 keeps none.
    pub journal_size: usize,
    /// The longest AIOZ key name or Storm application name accepted, in bytes; a longer one is a 400
    /// naming the field. Every list and page reads names, so one huge name slows every reader.
    pub max_name_bytes: usize,
    /// Validate every response against the spec too (a non-conforming one becomes a 500, logged).
    pub debug: bool,
    /// How long a request, its body included, may take before it is answered 408.
    pub request_timeout_secs: u64,
    /// How long a client has to send a whole request head, counted from the connection's start or
    /// from the head's first byte; a connection whose head is slower is closed.
    pub header_timeout_secs: u64,
    /// How long a keep-alive connection may stay silent between requests before it is closed.
    pub idle_timeout_secs: u64,
    /// How many connections may be open at once; one more is answered 503 (in the envelope, with
    /// `Retry-After: 1`) and closed.
    /// Lowered at start to what the process's open-files limit holds, with room for the database
    /// and the log (the binary raises that limit to its maximum first).
    pub max_connections: usize,
    /// Validate every request against the spec (the default). Off only to measure what validation
    /// costs: the adapter still refuses what it cannot decode, but not what breaks a rule of the spec.
    pub validate_requests: bool,
    /// AIOZ accounts; none means one development account, generated on first start.
    pub aioz_accounts: Vec<AiozAccount>,
    /// Storm's users and API key; none means an `admin` with a generated password and a generated key.
    pub storm: StormConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            threads: None,
            db: PathBuf::from("streamspec.sqlite"),
            rtmp: true,
            rtmp_listen: SocketAddr::from(([127, 0, 0, 1], 1935)),
            ingest_base_url: None,
            rtmp_max_connections: 1000,
            rtmp_publish_timeout_secs: 10,
            rtmp_idle_timeout_secs: 30,
            rate_limit_per_minute: 600,
            publish_attempts_per_minute: 600,
            login_attempts_per_minute: 5,
            journal_size: 1000,
            max_name_bytes: 256,
            debug: false,
            request_timeout_secs: 30,
            header_timeout_secs: 10,
            idle_timeout_secs: 60,
            max_connections: 4096,
            validate_requests: true,
            aioz_accounts: Vec::new(),
            storm: StormConfig::default(),
        }
    }
}

impl Config {
    /// Reads a TOML file; every setting is optional.
    pub fn from_file(path: &std::path::Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        toml::from_str(&text)
            .with_context(|| format!("{} is not a valid configuration", path.display()))
    }
}

/// An AIOZ account: any of its credentials identifies it.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AiozAccount {
    pub user_id: String,
    pub public_key: String,
    pub secret_key: String,
    /// The bearer token that identifies the account.
    pub token: String,
}

impl fmt::Debug for AiozAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AiozAccount")
            .field("user_id", &self.user_id)
            .field("public_key", &self.public_key)
            .field("secret_key", &"***")
            .field("token", &"***")
            .finish()
    }
}

/// Storm's REST API and ingest authorization settings.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StormConfig {
    pub api_key: Option<String>,
    pub users: Vec<StormUser>,
    /// The directory every `fileURL` must be in; the settings API answers 400 for one outside it.
    pub file_auth_root: Option<PathBuf>,
    /// How long a `request` authorization service, or reading a `file` one, may take before the
    /// attempt is denied.
    pub request_auth_timeout_ms: u64,
    /// The networks `request` authorization may call, as `address/prefix`; default loopback only.
    /// Link-local and metadata addresses are refused whatever this says, and a name is checked
    /// against it after it is resolved, on every call.
    pub request_auth_allow: Vec<String>,
    /// The largest `file` authorization file read; a larger one, or one that is not a regular file,
    /// denies every attempt.
    pub file_auth_max_bytes: u64,
    /// How many `authUsers` entries one application's ingest settings may hold; more are a 400.
    pub max_auth_users: usize,
    /// How many publish sessions may be live in all; an attempt past it is denied `session_limit`.
    pub max_sessions: usize,
    /// How many publish sessions one application may have live.
    pub max_sessions_per_application: usize,
}

impl Default for StormConfig {
    fn default() -> Self {
        Self {
            api_key: None,
            users: Vec::new(),
            file_auth_root: None,
            request_auth_timeout_ms: 2000,
            request_auth_allow: vec!["127.0.0.0/8".to_owned(), "::1/128".to_owned()],
            file_auth_max_bytes: 1024 * 1024,
            max_auth_users: 1_000,
            max_sessions: 10_000,
            max_sessions_per_application: 1_000,
        }
    }
}

impl fmt::Debug for StormConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StormConfig")
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field("users", &self.users)
            .field("file_auth_root", &self.file_auth_root)
            .field("request_auth_timeout_ms", &self.request_auth_timeout_ms)
            .field("request_auth_allow", &self.request_auth_allow)
            .field("file_auth_max_bytes", &self.file_auth_max_bytes)
            .field("max_auth_users", &self.max_auth_users)
            .field("max_sessions", &self.max_sessions)
            .field("max_sessions_per_application", &self.max_sessions_per_application)
            .finish()
    }
}

/// A Storm REST API user.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StormUser {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for StormUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StormUser")
            .field("username", &self.username)
            .field("password", &"***")
            .finish()
    }
}

/// A value kept in the database, generated the first time it is asked for.
fn remembered(
    store: &dyn Storage,
    name: &str,
    generate: impl FnOnce() -> String,
) -> Result<String> {
    if let Some(value) = store.setting(name)? {
        return Ok(value);
    }
    // Another process starting on the same database may have kept one in between: the first wins.
    store.remember(name, &generate()).wait()
}

fn random() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Where the database keeps the key Storm's tokens are signed with.
pub(crate) const JWT_SECRET: &str = "storm.jwt_secret";
// Where the database keeps each generated credential.
const AIOZ_PUBLIC_KEY: &str = "aioz.dev.public_key";
const AIOZ_SECRET_KEY: &str = "aioz.dev.secret_key";
const AIOZ_TOKEN: &str = "aioz.dev.token";
const STORM_PASSWORD: &str = "storm.admin.password";
const STORM_API_KEY: &str = "storm.api_key";

fn public_key() -> String {
    format!("pk_dev_{}", &random()[..16])
}

fn secret_key() -> String {
    format!("sk_dev_{}", random())
}

fn token() -> String {
    format!("dev-token-{}", random())
}

/// The signing key of Storm's tokens.
pub(crate) fn jwt_secret() -> String {
    format!("{}{}", random(), random())
}

/// New values for every generated credential and the token signing key, as a reset that
/// regenerates them stores them (the AIOZ account keeps its id).
pub(crate) fn regenerated() -> Vec<(String, String)> {
    [
        (AIOZ_PUBLIC_KEY, public_key()),
        (AIOZ_SECRET_KEY, secret_key()),
        (AIOZ_TOKEN, token()),
        (STORM_PASSWORD, random()),
        (STORM_API_KEY, random()),
        (JWT_SECRET, jwt_secret()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect()
}

/// The configured credentials, or the generated development ones.
pub fn credentials(config: &Config, store: &dyn Storage) -> Result<crate::Credentials> {
    let aioz_accounts = if config.aioz_accounts.is_empty() {
        vec![AiozAccount {
            user_id: remembered(store, "aioz.dev.user_id", || uuid::Uuid::new_v4().to_string())?,
            public_key: remembered(store, AIOZ_PUBLIC_KEY, public_key)?,
            secret_key: remembered(store, AIOZ_SECRET_KEY, secret_key)?,
            token: remembered(store, AIOZ_TOKEN, token)?,
        }]
    } else {
        config.aioz_accounts.clone()
    };
    let storm_users = if config.storm.users.is_empty() {
        vec![StormUser {
            username: "admin".to_owned(),
            password: remembered(store, STORM_PASSWORD, random)?,
        }]
    } else {
        config.storm.users.clone()
    };
    let storm_api_key = match &config.storm.api_key {
        Some(key) if key.len() >= 8 => key.clone(),
        Some(_) => anyhow::bail!("storm.api_key must be at least 8 characters, as Storm requires"),
        None => remembered(store, STORM_API_KEY, random)?,
    };
    let stored = |name: &str| store.setting(name).map(|value| value.is_some());
    let mut set_aside = Vec::new();
    if !config.aioz_accounts.is_empty() && stored(AIOZ_TOKEN)? {
        set_aside.push(
            "the generated AIOZ account stored in this database is set aside for `aioz_accounts`: its token gets 401, and its keys stay stored for when the configuration names no account".to_owned(),
        );
    }
    if !config.storm.users.is_empty() && stored(STORM_PASSWORD)? {
        set_aside.push(
            "the generated Storm `admin` stored in this database is set aside for `storm.users`"
                .to_owned(),
        );
    }
    if config.storm.api_key.is_some() && stored(STORM_API_KEY)? {
        set_aside.push(
            "the generated Storm API key stored in this database is set aside for `storm.api_key`"
                .to_owned(),
        );
    }
    // New at every start: it guards the control operations of a listener off loopback, and printing
    // it at start is how its holder learns it.
    let control_token = random();
    Ok(crate::Credentials { aioz_accounts, storm_users, storm_api_key, control_token, set_aside })
}
