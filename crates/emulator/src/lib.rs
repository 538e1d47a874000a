//! A local stand-in for AIOZ Stream's live stream keys and streamings and Storm Streaming Server's
//! REST API: both generated server traits implemented over [`store::Storage`] (SQLite), behind the
//! conformance layer.
//! Its own operations under `/_emulator/` (`spec/emulator.yaml`) try publishing to a Storm application,
//! decided by `streamspec-ingest-auth` under the ingest settings set through the REST API.
//!
//! Run it with `cargo run --release -p streamspec-emulator`; embed it in a test with [`Emulator`].
//!
//! # RTMP ingest
//!
//! The emulator is an RTMP ingest point too (`rtmp_listen`, default `127.0.0.1:1935`; the binary's
//! `--rtmp-listen`, `--no-rtmp`): an encoder publishes to it, and the publish is decided as the API
//! it belongs to decides it. Every accepted publisher is a session (`GET /_emulator/sessions`,
//! [`Controls::sessions`]) that counts bytes, audio and video messages and key frames, and names the
//! codecs, size and frame rate its metadata gives.
//!
//! - **Which API.** One rule: a publish to AIOZ's application (`live`, the last segment of every
//!   key's `rtmp_url`) whose stream key is a UUID, the form of every AIOZ `stream_key`, is AIOZ's;
//!   every other publish is Storm's, to the application its URL names. So Storm's default `live`
//!   application and AIOZ's keys share a URL without ambiguity; a Storm stream key that is a UUID
//!   must be published to another application.
//! - **AIOZ.** A key's `rtmp_url` is `rtmp://<RTMP listener>/live` (the bound address, so port 0
//!   works), or `ingest_base_url` when set; an encoder publishes to `<rtmp_url>/<stream_key>`. The
//!   publish is accepted while a key with that `stream_key` exists, of any account. A second
//!   publisher of the same key replaces the first, whose connection is closed (an encoder that
//!   reconnects after a network failure gets its key back at once). Deleting the key disconnects
//!   its encoder.
//! - **Storm.** `rtmp://<RTMP listener>/<application>/<stream key>` is decided by
//!   `streamspec-ingest-auth` under the application's ingest settings, by the same function as the
//!   `publish` operation, so both decide alike for the same attempt. The publisher presents
//!   credentials as query parameters of the stream name (`cam-1?username=u&password=p`) or of the
//!   application in the connect URL (`rtmp://host/live?token=t/cam-1`), the stream name's winning:
//!   `username` with `password`, `token`, or `secret` (a managed stream's secret), percent-encoded
//!   as in a URL query. Two kinds at once, a username without its password, or an empty value are
//!   refused. The query is never part of the stream key, and never logged. `allowStreamOverwrite`
//!   replaces the live publisher (closing its connection) or refuses the new one; with
//!   `autoStreamPublish` off the session is accepted unpublished (`published: false`). Deleting the
//!   application disconnects its publishers.
//! - **A refusal** answers the `publish` command with an error whose code is
//!   `NetStream.Publish.BadName` and whose description is the reason (the `publish` operation's
//!   `message`; ffmpeg prints it as `Server error: <description>`), then closes the connection.
//!   `play` is refused with `NetStream.Play.Failed`: the emulator takes publishers only.
//! - **Ending.** A disconnect, `end_session`, a replacing publisher, a deleted key or application,
//!   and `reset` end the session; all but the first close the encoder's connection.
//! - **Limits.** At most `rtmp_max_connections` (1,000) connections are open at once; one more is
//!   closed at once. A connection must have its publish accepted within
//!   `rtmp_publish_timeout_secs` (10) of its start, handshake included, and within
//!   [`rtmp::MAX_BYTES_BEFORE_PUBLISH`] (64 KiB) of input; an accepted publisher silent for
//!   `rtmp_idle_timeout_secs` (30) is disconnected, and so is one that does not read what the
//!   emulator sends within 10 s. Publish attempts count against `publish_attempts_per_minute` per
//!   address, as the `publish` operation's do. Until its publish is accepted a connection holds a
//!   16 KiB read buffer and at most 64 KiB of input; an accepted publisher, a 64 KiB read buffer and
//!   at most one RTMP message in progress (RTMP's largest is 16 MiB), and publishers are bounded by
//!   the connection and session limits. Bytes that are not RTMP, and input that makes `rml_rtmp`
//!   panic, close only their own connection.
//! - **Reading.** An accepted publisher's input is read in batches: after a read that took all there
//!   was, its connection rests 100 ms, and what arrived meanwhile is decoded at once. A session's
//!   counters, and its end when the encoder disconnects, lag by that much at most; `end_session`
//!   and a replacing publisher act at once.
//!
//! # AIOZ streamings
//!
//! A streaming (`create_streaming`) is one session of a broadcaster on a key, and follows the RTMP
//! ingest:
//!
//! - **Created** until an encoder publishes to the key. A key holds one streaming that has not
//!   ended; a second create is a 409. A publish to a key without one is accepted and makes none.
//! - **Live** from the accepted publish (its `updated_at` is that moment): its `duration`, and the
//!   statistic's `bitrate_in` (bytes over the time live, Kbps), `fps_in` (the metadata's frame rate,
//!   else video messages over time) and `data_transferred` (MB), come from the live session. A
//!   replacing publisher takes the streaming over, and the bytes of both count. Only a live
//!   streaming can be updated (else 409).
//! - **Ended** when its session ends (a disconnect, `end_session`, a deleted streaming): the figures
//!   are stored with it, and one made with `save` gets its recording (`media`, listed by
//!   `list_live_stream_media`). A streaming a stopped or crashed process left live is ended at the
//!   next start.
//!
//! Nothing is relayed or recorded: views and the `*_out` figures are 0, a recording's `size` is the
//! bytes received, and every asset URL is a placeholder under `/_emulator/placeholder/` on the
//! emulator's HTTP listener, answered 404. Multicast destinations are stored per key and listed;
//! none is forwarded. The multicast paths carry a key's `stream_key`, which the log and the journal
//! write as `{stream_key}`. Deleting a key deletes its streamings, recordings and destinations.

pub mod config;
pub mod store;

mod aioz;
mod client_io;
mod connections;
mod control;
mod publish;
pub mod rtmp;
mod sessions;
mod storm;
mod streamings;
mod threads;

pub use connections::raise_open_files_limit;
pub use control::CONTROL_TOKEN_HEADER;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use streamspec_conformance::Api;
use streamspec_conformance::layer::ConformanceLayer;
use streamspec_server::RouterOptions;
use streamspec_server::axum::{
    self, extract::ConnectInfo, extract::Request, extract::State, middleware::Next,
    response::Response,
};
use streamspec_server::types::chrono;

pub use config::Config;

/// The top-level README's Rust samples, compiled (and, unless marked `no_run`, run) as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeSamples;

/// The credentials the emulator accepts, as printed on start. `Debug` shows no secret.
#[derive(Clone)]
pub struct Credentials {
    /// AIOZ accounts: `(user_id, public_key, secret_key, bearer token)`.
    pub aioz_accounts: Vec<config::AiozAccount>,
    /// Storm REST users.
    pub storm_users: Vec<config::StormUser>,
    /// Storm's static API key (`X-Api-Key`).
    pub storm_api_key: String,
    /// What a control operation (`get_health`, `get_credentials`) needs in `X-Emulator-Token` when a
    /// listener is not on a loopback address; new at every start.
    pub control_token: String,
    /// Generated credentials stored in the database that the configuration puts aside, each said in
    /// a sentence: they stop working while the configuration names others.
    pub set_aside: Vec<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("aioz_accounts", &self.aioz_accounts)
            .field("storm_users", &self.storm_users)
            .field("storm_api_key", &"***")
            .field("control_token", &"***")
            .field("set_aside", &self.set_aside)
            .finish()
    }
}

/// A configured emulator, ready to serve.
#[derive(Debug)]
pub struct Emulator {
    router: axum::Router,
    credentials: Credentials,
    fixture: Arc<control::Fixture>,
    limits: connections::ConnectionLimits,
    ingest: Arc<rtmp::Ingest>,
    /// Whether [`Emulator::start`] listens for RTMP too.
    rtmp: bool,
}

/// The RTMP ingest listener of an [`Emulator`]: publishers of AIOZ keys and Storm applications.
#[derive(Debug, Clone)]
pub struct RtmpIngest(Arc<rtmp::Ingest>);

impl RtmpIngest {
    /// Accepts publishers on `listener` until `shutdown` completes, on the caller's runtime, then
    /// disconnects them all: for embedding in a test.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        self.0.serve(listener, shutdown).await
    }

    /// As [`RtmpIngest::serve`], with the connections on `threads` threads of their own, each on a
    /// single-threaded runtime, as [`Emulator::serve_on_threads`] serves HTTP: what the binary runs.
    pub async fn serve_on_threads(
        self,
        listener: tokio::net::TcpListener,
        threads: std::num::NonZeroUsize,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        self.0.serve_on_threads(listener, threads, shutdown).await
    }
}

impl Emulator {
    /// Opens the database, creates what a first start creates, and builds the router.
    pub fn new(config: &Config) -> Result<Self> {
        let store: Arc<dyn store::Storage> = Arc::new(store::Sqlite::open(&config.db)?);
        let credentials = config::credentials(config, store.as_ref())?;
        // No session from before this start publishes any more: a streaming it left live has ended.
        store.end_live_streamings(&store::now()).wait()?;
        let allowed = config
            .storm
            .request_auth_allow
            .iter()
            .map(|network| {
                network.parse().map_err(|error| {
                    anyhow::anyhow!(
                        "[storm] request_auth_allow: `{network}` is not a network such as 127.0.0.0/8: {error}"
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut authorizer = streamspec_ingest_auth::Authorizer::builder()
            .request_destinations(streamspec_ingest_auth::Destinations::new(allowed))
            .request_timeout(Duration::from_millis(config.storm.request_auth_timeout_ms))
            .file_max_bytes(config.storm.file_auth_max_bytes)
            .max_sessions(config.storm.max_sessions)
            .max_sessions_per_application(config.storm.max_sessions_per_application)
            .managed_streams(Arc::new(publish::StoredStreams(store.clone())));
        if let Some(root) = &config.storm.file_auth_root {
            authorizer = authorizer.file_root(root);
        }
        let authorizer = Arc::new(authorizer.build()?);
        let control = Arc::new(control::Control::new(credentials.clone(), config));
        let sessions = Arc::new(sessions::LiveSessions::default());
        let publish_limit = Arc::new(MinuteWindows::default());
        let aioz = Arc::new(aioz::Aioz::new(
            store.clone(),
            &credentials,
            config,
            control.clone(),
            sessions.clone(),
        ));
        let storm = Arc::new(storm::Storm::new(
            store.clone(),
            authorizer.clone(),
            sessions.clone(),
            &credentials,
            config,
        )?);
        let ingest = Arc::new(rtmp::Ingest::new(
            store.clone(),
            authorizer.clone(),
            sessions.clone(),
            control.clone(),
            publish_limit.clone(),
            rtmp::RtmpLimits {
                max_connections: config.rtmp_max_connections.max(1),
                publish_timeout: Duration::from_secs(config.rtmp_publish_timeout_secs),
                idle_timeout: Duration::from_secs(config.rtmp_idle_timeout_secs),
                attempts_per_minute: config.publish_attempts_per_minute,
            },
        ));
        let fixture = Arc::new(control::Fixture {
            control,
            faults: control::Faults::default(),
            journal: control::Journal::new(config.journal_size),
            store: store.clone(),
            authorizer: authorizer.clone(),
            aioz: aioz.clone(),
            storm: storm.clone(),
            sessions,
            login_limit: Arc::default(),
            publish_limit,
            config: config.clone(),
        });
        let publishing =
            Arc::new(publish::Publishing::new(store.clone(), authorizer, fixture.clone()));
        let emulator_routes =
            streamspec_server::adapter::with_envelope::<streamspec_server::emulator::Envelope>(
                streamspec_server::emulator::routes(publishing, RouterOptions::default()),
            );
        let (aioz_credentials, storm_credentials) = (aioz.clone(), storm.clone());
        let mut router =
            streamspec_server::both(aioz, storm, RouterOptions::default()).merge(emulator_routes);
        if config.validate_requests {
            // Credentials before bodies, with the APIs' own checks and 401 messages (those their
            // `authenticate` runs): a caller the API does not know gets its 401, not a detailed 400
            // about the body it sent. No credentials at all are left to the adapter, whose 401 says
            // what to send.
            use streamspec_conformance::layer::Authentication;
            let judge = |checked: Result<(), streamspec_server::Rejection>| match checked {
                Ok(()) => Authentication::Accepted,
                Err(rejection) => Authentication::Refused(rejection.message),
            };
            let authenticated =
                move |api: Api, operation: &str, headers: &axum::http::HeaderMap| match api {
                    Api::Aioz => {
                        match streamspec_server::aioz::Credentials::from_headers(headers) {
                            Ok(credentials) => judge(aioz_credentials.check(&credentials)),
                            Err(_) => Authentication::Missing,
                        }
                    }
                    Api::Storm if operation == "login" => Authentication::Accepted,
                    Api::Storm => {
                        match streamspec_server::storm::Credentials::from_headers(headers) {
                            Ok(credentials) => judge(storm_credentials.check(&credentials)),
                            Err(_) => Authentication::Missing,
                        }
                    }
                    Api::Emulator => Authentication::Accepted,
                };
            router = router.layer(
                ConformanceLayer::apis(Api::ALL)
                    .validate_responses(config.debug)
                    .authenticate_first(authenticated),
            );
        }
        let front = Arc::new(Front {
            fixture: fixture.clone(),
            login_attempts_per_minute: config.login_attempts_per_minute,
            publish_attempts_per_minute: config.publish_attempts_per_minute,
            request_timeout: Duration::from_secs(config.request_timeout_secs),
            rate_limit: config.rate_limit_per_minute,
        });
        let router = router.layer(axum::middleware::from_fn_with_state(front, front_door));
        let limits = connections::ConnectionLimits {
            timeouts: client_io::Timeouts {
                head: Duration::from_secs(config.header_timeout_secs),
                idle: Duration::from_secs(config.idle_timeout_secs),
            },
            max_connections: connections::connection_ceiling(config.max_connections),
            // Every request in flight has at most the request time limit left.
            shutdown_grace: Duration::from_secs(config.request_timeout_secs),
        };
        Ok(Self { router, credentials, fixture, limits, ingest, rtmp: config.rtmp })
    }

    /// The RTMP ingest listener bound at `address`, to serve beside the HTTP side (the binary and
    /// [`Emulator::start`] do, unless `rtmp` is false). Keys' `rtmp_url` names `address` from now on
    /// (unless `ingest_base_url` is set), and health lists it.
    pub fn rtmp(&self, address: std::net::SocketAddr) -> RtmpIngest {
        self.fixture.control.bound_rtmp(address);
        RtmpIngest(self.ingest.clone())
    }

    /// The credentials to use, as at start (after a reset that regenerates them,
    /// [`Controls::credentials`] answers the new ones).
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// The control operations of `spec/emulator.yaml`, in process: a handle that stays usable once
    /// the emulator serves.
    pub fn controls(&self) -> Controls {
        Controls(self.fixture.clone())
    }

    /// Serves on 127.0.0.1 on a port of its own, on the caller's runtime, until the handle is
    /// stopped or dropped: a test's emulator.
    ///
    /// ```no_run
    /// # async fn run() -> anyhow::Result<()> {
    /// use streamspec_emulator::{Config, Emulator};
    /// use streamspec_server::emulator::types::CredentialsOnReset;
    ///
    /// let emulator = Emulator::start(&Config { db: ":memory:".into(), ..Config::default() }).await?;
    /// let token = emulator.credentials().aioz.accounts[0].token.expose().to_owned();
    /// // ... a client on `emulator.url()` with `token`; then, for the next test:
    /// emulator.controls().reset(CredentialsOnReset::Keep).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn start(config: &Config) -> Result<RunningEmulator> {
        let emulator = Self::new(config)?;
        let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
        let address = listener.local_addr()?;
        // Recorded before the handle is answered: its credentials and keys name these addresses at once.
        emulator.fixture.control.bound(address);
        let (stop, stopped) = tokio::sync::watch::channel(());
        let stopping = |mut stopped: tokio::sync::watch::Receiver<()>| async move {
            let _ = stopped.changed().await;
        };
        let mut rtmp_address = None;
        let mut rtmp_served = None;
        if emulator.rtmp {
            let listener =
                tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
            let bound = listener.local_addr()?;
            rtmp_address = Some(bound);
            let ingest = emulator.rtmp(bound);
            rtmp_served = Some(tokio::spawn(ingest.serve(listener, stopping(stopped.clone()))));
        }
        let controls = emulator.controls();
        let served = tokio::spawn(emulator.serve(listener, stopping(stopped)));
        Ok(RunningEmulator {
            address,
            rtmp_address,
            controls,
            stop: Some(stop),
            served: Some(served),
            rtmp_served,
        })
    }

    /// The credentials as `get_credentials` answers them, with base URLs on `address`: for
    /// `--credentials-file` and `--print-credentials json`.
    pub fn credentials_document(
        &self,
        address: std::net::SocketAddr,
    ) -> streamspec_server::emulator::types::EmulatorCredentials {
        self.fixture.control.credentials(address)
    }

    /// Serves on the caller's runtime until `shutdown` completes, then finishes the requests in
    /// flight. For embedding in a test; the binary uses [`Emulator::serve_on_threads`].
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        self.fixture.control.bound(listener.local_addr()?);
        let admission = connections::Admission::new(self.limits.max_connections);
        let incoming = connections::Direct { listener, admission };
        connections::serve(incoming, self.router, self.limits, shutdown).await;
        Ok(())
    }

    /// Serves on `threads` threads of its own, each with a single-threaded runtime that runs the
    /// connections it is handed; the caller's runtime only accepts them and hands them out in turn.
    /// Once `shutdown` completes, each thread finishes its requests in flight, and this returns when
    /// all have. A connection never moves between threads, which under load costs less CPU time per
    /// request than a multi-threaded runtime does.
    pub async fn serve_on_threads(
        self,
        listener: tokio::net::TcpListener,
        threads: std::num::NonZeroUsize,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        self.fixture.control.bound(listener.local_addr()?);
        threads::serve(self.router, listener, threads, self.limits, shutdown).await
    }
}

/// The control operations, in process, as `spec/emulator.yaml` describes them over HTTP: health,
/// credentials, reset, faults and the journal. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Controls(Arc<control::Fixture>);

impl Controls {
    /// What `get_health` answers: ready, with the bound listeners.
    pub fn health(&self) -> streamspec_server::emulator::types::Health {
        self.0.control.health()
    }

    /// What `get_credentials` answers, with base URLs on the first bound listener (or the
    /// configured address before one is bound).
    pub fn credentials(&self) -> streamspec_server::emulator::types::EmulatorCredentials {
        let address = self.0.control.address().unwrap_or(self.0.config.listen);
        self.0.control.credentials(address)
    }

    /// Back to the state of a fresh start (see `reset` in `spec/emulator.yaml`), keeping the
    /// credentials or generating them anew. Answers whether they were regenerated.
    pub async fn reset(
        &self,
        credentials: streamspec_server::emulator::types::CredentialsOnReset,
    ) -> Result<bool> {
        use streamspec_server::emulator::types::CredentialsOnReset;
        self.0.reset(credentials == CredentialsOnReset::Regenerate).await
    }

    /// Injects a fault; the error names the field at fault, as `create_fault`'s 400 does.
    pub fn create_fault(
        &self,
        rule: streamspec_server::emulator::types::FaultRule,
    ) -> std::result::Result<streamspec_server::emulator::types::Fault, String> {
        self.0.faults.create(rule)
    }

    /// The faults with calls left, oldest first.
    pub fn faults(&self) -> Vec<streamspec_server::emulator::types::Fault> {
        self.0.faults.list()
    }

    /// Removes a fault; `false` when there is none with this id.
    pub fn delete_fault(&self, id: uuid::Uuid) -> bool {
        self.0.faults.delete(id)
    }

    /// The live publishing sessions, oldest first, as `list_sessions` answers them.
    pub fn sessions(&self) -> Vec<streamspec_server::emulator::types::IngestSession> {
        self.0.sessions.list()
    }

    /// Ends a session as `end_session` does (an RTMP publisher is disconnected); `false` when no
    /// live session has this id.
    pub fn end_session(&self, id: uuid::Uuid) -> bool {
        self.0.end_session(id)
    }

    /// The journal's entries of `operation` (every one, if `None`) since `since`, oldest first.
    pub fn journal(
        &self,
        operation: Option<&str>,
        since: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Vec<streamspec_server::emulator::types::JournalEntry> {
        self.0.journal.list(operation, since)
    }
}

/// An emulator serving on 127.0.0.1, from [`Emulator::start`]; it stops when dropped.
#[derive(Debug)]
pub struct RunningEmulator {
    address: std::net::SocketAddr,
    rtmp_address: Option<std::net::SocketAddr>,
    controls: Controls,
    stop: Option<tokio::sync::watch::Sender<()>>,
    served: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    rtmp_served: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl RunningEmulator {
    /// The bound address.
    pub fn address(&self) -> std::net::SocketAddr {
        self.address
    }

    /// `http://<address>`: Storm's and the emulator's base URL; AIOZ's adds `/api`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The bound RTMP address, unless `rtmp` is false.
    pub fn rtmp_address(&self) -> Option<std::net::SocketAddr> {
        self.rtmp_address
    }

    /// `rtmp://<RTMP address>`: publish to `<this>/<application>/<stream key>`; AIOZ keys'
    /// `rtmp_url` is `<this>/live`.
    pub fn rtmp_url(&self) -> Option<String> {
        self.rtmp_address.map(|address| format!("rtmp://{address}"))
    }

    /// The control operations.
    pub fn controls(&self) -> &Controls {
        &self.controls
    }

    /// The credentials, with this emulator's base URLs.
    pub fn credentials(&self) -> streamspec_server::emulator::types::EmulatorCredentials {
        self.controls.credentials()
    }

    /// Stops serving, waits for the requests in flight to finish, and disconnects every publisher.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(served) = self.rtmp_served.take() {
            served.await.map_err(std::io::Error::other)??;
        }
        match self.served.take() {
            Some(served) => served.await.map_err(std::io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// What every request passes through before the routes, in one layer (each layer of its own costs
/// a boxed service and a boxed future per request; five of them cost a quarter of write throughput).
#[derive(Debug)]
struct Front {
    /// Who may call the control operations, the faults to apply, the journal to write, and the
    /// login and publish windows (per client address), which a reset empties.
    fixture: Arc<control::Fixture>,
    login_attempts_per_minute: u32,
    /// Publish attempts per minute per client address, so no one address can flood the engine.
    publish_attempts_per_minute: u32,
    request_timeout: Duration,
    /// AIOZ's requests per minute per account, for the headers of responses the handlers did not make.
    rate_limit: u32,
}

/// The most header bytes (names and values) a request may carry.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Logs one line per request (method, path, query, status, time and, for a refused request, why:
/// no headers and no bodies, so no secrets) around [`Front::refusal`] and the routes, and gives
/// AIOZ's responses their rate-limit headers.
async fn front_door(State(front): State<Arc<Front>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let arrived = chrono::Utc::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let api = Api::of_path(&path);
    // The operation and the caller, for the journal and the faults; control requests have neither.
    let fixture = &front.fixture;
    let traced = !control::is_control_path(&path);
    let wanted = fixture.journal.capacity() > 0 || fixture.faults.armed();
    let operation = api.filter(|_| traced && wanted).and_then(|api| {
        streamspec_conformance::Catalog::get()
            .find_operation(api, method.as_str(), &path)
            .map(|operation| operation.id())
    });
    let account = match api {
        Some(api) if traced && wanted => front.account(api, request.headers()),
        _ => None,
    };
    let mut fault = None;
    let mut response = match front.refusal(&request) {
        Some(refusal) => refusal,
        None => {
            let applied =
                operation.and_then(|operation| fixture.faults.take(operation, account.as_deref()));
            fault = applied.as_ref().map(|applied| applied.id);
            match applied.map(|applied| applied.effect) {
                Some(control::Effect::Respond { status, retry_after, message }) => {
                    let api = api.unwrap_or(Api::Emulator);
                    front.injected(api, status, retry_after, &message)
                }
                Some(control::Effect::Close) => control::closed(),
                Some(control::Effect::Delay(delay)) => {
                    tokio::time::sleep(delay).await;
                    front.time_limit(&path, next.run(request)).await
                }
                None => front.time_limit(&path, next.run(request)).await,
            }
        }
    };
    // AIOZ answers every response with its rate-limit headers. The handlers set them from the account's
    // window; a response the adapter made itself (a malformed or unauthenticated request) gets the
    // full limit, since it was counted against no account.
    if api == Some(Api::Aioz) && !response.headers().contains_key("x-ratelimit-limit") {
        let headers = response.headers_mut();
        headers.insert("x-ratelimit-limit", front.rate_limit.into());
        headers.insert("x-ratelimit-remaining", front.rate_limit.into());
        headers.insert("x-ratelimit-retry-after", 60u32.into());
    }
    let closed = response.extensions().get::<control::CloseConnection>().is_some();
    let status = if closed { 0 } else { response.status().as_u16() };
    let micros = started.elapsed().as_micros() as u64;
    let path = control::loggable_path(&path).into_owned();
    match response.extensions().get::<streamspec_server::adapter::ErrorMessage>() {
        Some(reason) => {
            tracing::info!(%method, path, query, status, micros, reason = reason.0, "request");
        }
        None => tracing::info!(%method, path, query, status, micros, "request"),
    }
    if traced && fixture.journal.capacity() > 0 {
        let mut entry = streamspec_server::emulator::types::JournalEntry::new(
            i64::try_from(micros).unwrap_or(i64::MAX),
            method.to_string(),
            path,
            i32::from(status),
            arrived,
        );
        entry.query = (!query.is_empty()).then_some(query);
        entry.api = api.map(control::api_name);
        entry.operation = operation.map(str::to_owned);
        entry.account = account;
        entry.fault = fault;
        fixture.journal.record(entry);
    }
    response
}

impl Front {
    /// Whose call it is, when the credentials name an account: an AIOZ user id, a Storm user or
    /// `api-key`. Nothing for a caller the API does not know.
    fn account(&self, api: Api, headers: &axum::http::HeaderMap) -> Option<String> {
        match api {
            Api::Aioz => streamspec_server::aioz::Credentials::from_headers(headers)
                .ok()
                .and_then(|credentials| self.fixture.aioz.account_id(&credentials)),
            Api::Storm => streamspec_server::storm::Credentials::from_headers(headers)
                .ok()
                .and_then(|credentials| self.fixture.storm.account_id(&credentials)),
            Api::Emulator => None,
        }
    }

    /// An injected fault's answer: `status` in `api`'s envelope; a 429 or 503 says in
    /// `Retry-After` (and AIOZ's `X-RateLimit-Retry-After`) when to retry.
    fn injected(&self, api: Api, status: u16, retry_after: u32, message: &str) -> Response {
        let status = axum::http::StatusCode::from_u16(status)
            .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = api.error_response(status, message);
        let limited = matches!(status.as_u16(), 429 | 503);
        let headers = response.headers_mut();
        if limited {
            headers.insert(axum::http::header::RETRY_AFTER, retry_after.into());
        }
        if api == Api::Aioz {
            let remaining = if status.as_u16() == 429 { 0 } else { self.rate_limit };
            headers.insert("x-ratelimit-limit", self.rate_limit.into());
            headers.insert("x-ratelimit-remaining", remaining.into());
            headers
                .insert("x-ratelimit-retry-after", (if limited { retry_after } else { 60 }).into());
        }
        response
    }

    /// The answer to a request refused before anything reads it: headers over [`MAX_HEADER_BYTES`]
    /// (431), a login attempt past the address's `login_attempts_per_minute` (429, as Storm does), or
    /// a publish attempt past its `publish_attempts_per_minute` (429). A 429 says in `Retry-After`
    /// when the address's minute ends.
    fn refusal(&self, request: &Request) -> Option<Response> {
        let path = request.uri().path();
        if control::is_control_path(path) {
            let token =
                request.headers().get(CONTROL_TOKEN_HEADER).and_then(|value| value.to_str().ok());
            if !self.fixture.control.admits(token) {
                // The header as the spec and the banner spell it.
                let message = "this listener is not a loopback address: send the control token the emulator printed at start in `X-Emulator-Token`";
                return Some(
                    Api::Emulator.error_response(axum::http::StatusCode::UNAUTHORIZED, message),
                );
            }
        }
        let size: usize =
            request.headers().iter().map(|(name, value)| name.as_str().len() + value.len()).sum();
        if size > MAX_HEADER_BYTES {
            let message =
                format!("the headers are larger than the limit of {MAX_HEADER_BYTES} bytes");
            return Some(streamspec_server::error_response(
                request.uri().path(),
                axum::http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                &message,
            ));
        }
        let is_login = request.method() == axum::http::Method::POST
            && request.uri().path() == "/api/auth/login";
        let address =
            request.extensions().get::<ConnectInfo<threads::Peer>>().map(|info| info.0.0.ip());
        if is_login
            && let Some(address) = address
            && let (false, _, reset) =
                self.fixture.login_limit.count(address, self.login_attempts_per_minute)
        {
            return Some(too_many(Api::Storm, "Too many login attempts, try again later", reset));
        }
        let is_publish = request.method() == axum::http::Method::POST
            && request.uri().path().starts_with("/_emulator/applications/")
            && request.uri().path().ends_with("/publish");
        if is_publish
            && let Some(address) = address
            && let (false, _, reset) =
                self.fixture.publish_limit.count(address, self.publish_attempts_per_minute)
        {
            let message = "Too many publish attempts from this address, try again later";
            return Some(too_many(Api::Emulator, message, reset));
        }
        None
    }

    /// A request (its body included) that takes longer than the limit is answered 408, and its
    /// connection closed, so a client that sends its body slowly cannot hold a connection.
    async fn time_limit(&self, path: &str, response: impl Future<Output = Response>) -> Response {
        match tokio::time::timeout(self.request_timeout, response).await {
            Ok(response) => response,
            Err(_) => {
                let message =
                    format!("the request took longer than {} s", self.request_timeout.as_secs());
                let mut response = streamspec_server::error_response(
                    path,
                    axum::http::StatusCode::REQUEST_TIMEOUT,
                    &message,
                );
                response.headers_mut().insert(
                    axum::http::header::CONNECTION,
                    axum::http::HeaderValue::from_static("close"),
                );
                response
            }
        }
    }
}

/// Fixed one-minute windows of counted events per key: every rate limit uses it (AIOZ's per account,
/// logins and publish attempts per address).
#[derive(Debug)]
pub(crate) struct MinuteWindows<K> {
    /// Each key's window, and when windows that ended were last swept out.
    windows: Mutex<(HashMap<K, Window>, Instant)>,
}

/// When a window began, and how many events it has counted.
type Window = (Instant, u32);

impl<K> Default for MinuteWindows<K> {
    fn default() -> Self {
        Self { windows: Mutex::new((HashMap::new(), Instant::now())) }
    }
}

impl<K: std::hash::Hash + Eq> MinuteWindows<K> {
    /// Counts one event for `key` unless `limit` are already counted in its window; returns whether it
    /// was counted, how many the window holds, and when the window ends.
    pub(crate) fn count(&self, key: K, limit: u32) -> (bool, u32, Duration) {
        self.count_at(key, limit, Instant::now())
    }

    /// Forgets every window (a reset).
    pub(crate) fn clear(&self) {
        self.windows.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).0.clear();
    }

    fn count_at(&self, key: K, limit: u32, now: Instant) -> (bool, u32, Duration) {
        let minute = Duration::from_secs(60);
        let mut guard = self.windows.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (windows, swept) = &mut *guard;
        // Once a minute, windows that ended go: the map holds the keys of the last two minutes at
        // most, however many addresses have come and gone.
        if now.duration_since(*swept) >= minute {
            windows.retain(|_, window| now.duration_since(window.0) < minute);
            *swept = now;
        }
        let window = windows.entry(key).or_insert((now, 0));
        if now.duration_since(window.0) >= Duration::from_secs(60) {
            *window = (now, 0);
        }
        let reset = Duration::from_secs(60).saturating_sub(now.duration_since(window.0));
        let counted = window.1 < limit;
        if counted {
            window.1 += 1;
        }
        (counted, window.1, reset)
    }
}

/// A 429 in `api`'s envelope, with `Retry-After` in whole seconds until `reset`.
fn too_many(api: Api, message: &str, reset: Duration) -> Response {
    let mut response = api.error_response(axum::http::StatusCode::TOO_MANY_REQUESTS, message);
    let seconds = reset.as_secs_f64().ceil().max(1.0) as u64;
    response.headers_mut().insert(axum::http::header::RETRY_AFTER, seconds.into());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn answer_of(emulator: &Emulator, path: &str, token: Option<&str>) -> (u16, String) {
        use tower::ServiceExt;
        let mut request = axum::http::Request::get(path);
        if let Some(token) = token {
            request = request.header(CONTROL_TOKEN_HEADER, token);
        }
        let request = request.body(axum::body::Body::empty()).unwrap();
        let response = emulator.router.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    async fn status_of(emulator: &Emulator, path: &str, token: Option<&str>) -> u16 {
        answer_of(emulator, path, token).await.0
    }

    /// On a loopback listener anyone calls the control operations; once a listener is on another
    /// address, only a caller with the control token does. (Tests listen on loopback only, so the
    /// other address is recorded, not bound.)
    #[tokio::test]
    async fn control_operations_need_the_token_off_loopback() {
        let emulator =
            Emulator::new(&Config { db: ":memory:".into(), ..Config::default() }).unwrap();
        let token = emulator.credentials().control_token.clone();
        emulator.fixture.control.bound("127.0.0.1:8080".parse().unwrap());
        assert_eq!(status_of(&emulator, "/_emulator/health", None).await, 200);
        assert_eq!(status_of(&emulator, "/_emulator/credentials", None).await, 200);

        emulator.fixture.control.bound("192.0.2.1:8080".parse().unwrap());
        let (status, body) = answer_of(&emulator, "/_emulator/credentials", None).await;
        assert_eq!(status, 401);
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(body["message"].as_str().unwrap().contains("X-Emulator-Token"), "{body}");
        for path in [
            "/_emulator/health",
            "/_emulator/credentials",
            "/_emulator/journal",
            "/_emulator/sessions",
        ] {
            assert_eq!(status_of(&emulator, path, None).await, 401, "{path}");
            assert_eq!(status_of(&emulator, path, Some("guess")).await, 401, "{path}");
            assert_eq!(status_of(&emulator, path, Some(&token)).await, 200, "{path}");
        }
    }

    #[test]
    fn ended_windows_are_swept_out() {
        let windows = MinuteWindows::default();
        let start = Instant::now();
        for key in 0..1000u32 {
            assert!(windows.count_at(key, 5, start).0);
        }
        assert_eq!(windows.windows.lock().unwrap().0.len(), 1000);
        let later = start + Duration::from_secs(61);
        assert_eq!(windows.count_at(5000, 5, later), (true, 1, Duration::from_secs(60)));
        assert_eq!(windows.windows.lock().unwrap().0.len(), 1, "only the live window is kept");
        for _ in 0..5 {
            windows.count_at(7, 5, later);
        }
        assert!(!windows.count_at(7, 5, later).0, "the limit still holds");
    }
}
