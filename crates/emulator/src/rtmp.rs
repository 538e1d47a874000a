//! The RTMP ingest point: encoders publish here, and each publish is routed to AIOZ or Storm and
//! decided as that API decides it (the rules are in the crate docs). The handshake and the chunk
//! stream are `rml_rtmp`'s; this module bounds what a connection may cost and acts on its events.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ServerSession, ServerSessionConfig, ServerSessionEvent, ServerSessionResult, StreamMetadata,
};
use streamspec_ingest_auth::{Authorizer, Decision, Presented, PublishAttempt, SessionId};
use streamspec_server::emulator::types::{
    AudioTrack, IngestSessionApi, IngestSessionTransport, VideoTrack,
};
use streamspec_server::types::uuid::Uuid;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use crate::MinuteWindows;
use crate::connections::{Accepted, Incoming};
use crate::control::Control;
use crate::publish::{self, StormVerdict};
use crate::sessions::{LiveSession, LiveSessions};
use crate::store::Storage;
use crate::streamings;
use crate::threads::Handoff;

/// The most bytes a connection may send before its publish is accepted: a handshake (3,073 bytes)
/// and the `connect`, `createStream` and `publish` commands take a few hundred more.
pub const MAX_BYTES_BEFORE_PUBLISH: u64 = 64 * 1024;

/// The RTMP status every refused publish is answered with, before the connection is closed: what
/// Adobe's servers answer a stream name that cannot be published.
pub const PUBLISH_REFUSED: &str = "NetStream.Publish.BadName";

/// How long an answer to the encoder may take to be written: one that does not read is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// The size of each read until a publish is accepted; the chunk stream keeps at most one message
/// in progress besides.
const READ_BYTES: usize = 16 * 1024;

/// The size of each read of an accepted publisher: what arrives during [`PUBLISHER_REST`] at tens of
/// megabits a second.
const PUBLISHER_READ_BYTES: usize = 64 * 1024;

/// How long a publisher's connection rests after a read that took all there was. The messages that
/// arrive meanwhile (an encoder sends one every few milliseconds) are then read and decoded
/// together, with one wake-up and one read instead of one each. The emulator counts media and
/// relays none, so only its counters and its noticing a disconnect lag, by this much at most; the
/// kernel's receive buffer holds the media meanwhile. An ended session is noticed at once.
const PUBLISHER_REST: Duration = Duration::from_millis(100);

/// One connection's input as the listener reads it: the handshake, then the chunk stream, under
/// [`MAX_BYTES_BEFORE_PUBLISH`]. Public so that the fuzz target drives it as the listener does.
pub struct RtmpConnection {
    state: State,
    received: u64,
    /// The publish request waiting for a decision, and whether one was accepted.
    publish_request: Option<u32>,
    publishing: bool,
}

enum State {
    Handshake(Box<Handshake>),
    Session(Box<ServerSession>),
}

impl std::fmt::Debug for RtmpConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            State::Handshake(_) => "handshake",
            State::Session(_) => "session",
        };
        f.debug_struct("RtmpConnection")
            .field("state", &state)
            .field("received", &self.received)
            .field("publishing", &self.publishing)
            .finish()
    }
}

/// What a connection's input asks of the listener. `Debug` shows no credential: neither a stream
/// name (an AIOZ stream key is one) nor any query.
#[derive(Clone, PartialEq)]
pub enum RtmpEvent {
    /// `connect` to an application (with any query it carries); answer with
    /// [`RtmpConnection::accept`] or [`RtmpConnection::reject`].
    Connect { request_id: u32, application: String },
    /// `publish` of a stream name (with any query it carries); answer as `Connect`.
    Publish { request_id: u32, application: String, stream_name: String },
    /// `play`: this emulator takes publishers only.
    Play { request_id: u32 },
    /// The stream's `onMetaData`.
    Metadata(Box<StreamMetadata>),
    /// An audio message of `bytes` bytes; `header` is its first byte (the FLV sound format).
    Audio { bytes: usize, header: Option<u8> },
    /// A video message; `header` is its first five bytes (frame type, codec, and an enhanced
    /// codec's FourCC).
    Video { bytes: usize, header: [u8; 5] },
    /// The encoder stopped publishing.
    PublishFinished,
}

impl std::fmt::Debug for RtmpEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RtmpEvent::Connect { request_id, application } => f
                .debug_struct("Connect")
                .field("request_id", request_id)
                .field("application", &split_query(application).0)
                .finish_non_exhaustive(),
            RtmpEvent::Publish { request_id, application, .. } => f
                .debug_struct("Publish")
                .field("request_id", request_id)
                .field("application", &split_query(application).0)
                .finish_non_exhaustive(),
            RtmpEvent::Play { request_id } => {
                f.debug_struct("Play").field("request_id", request_id).finish()
            }
            RtmpEvent::Metadata(metadata) => f.debug_tuple("Metadata").field(metadata).finish(),
            RtmpEvent::Audio { bytes, header } => {
                f.debug_struct("Audio").field("bytes", bytes).field("header", header).finish()
            }
            RtmpEvent::Video { bytes, header } => {
                f.debug_struct("Video").field("bytes", bytes).field("header", header).finish()
            }
            RtmpEvent::PublishFinished => f.write_str("PublishFinished"),
        }
    }
}

/// Why a connection is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtmpError {
    /// The handshake or the chunk stream is not valid RTMP.
    Protocol(String),
    /// More than [`MAX_BYTES_BEFORE_PUBLISH`] bytes arrived before a publish was accepted.
    TooMuchBeforePublish,
}

impl std::fmt::Display for RtmpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RtmpError::Protocol(error) => write!(f, "not valid RTMP: {error}"),
            RtmpError::TooMuchBeforePublish => write!(
                f,
                "more than {MAX_BYTES_BEFORE_PUBLISH} bytes arrived before a publish was accepted"
            ),
        }
    }
}

impl std::error::Error for RtmpError {}

/// What one read produced: bytes to send back, and events to act on, in order.
#[derive(Debug, Default)]
pub struct Received {
    pub send: Vec<u8>,
    pub events: Vec<RtmpEvent>,
}

fn protocol(error: impl std::fmt::Display) -> RtmpError {
    RtmpError::Protocol(error.to_string())
}

/// Runs one call into `rml_rtmp`, turning a panic into a protocol error. Some malformed input makes
/// it panic (a chunk header that shrinks a message in progress below what has arrived; a command
/// with fewer values than it reads); the connection is closed either way, and nothing else shares
/// its state.
fn guarded<T, E: std::fmt::Display>(call: impl FnOnce() -> Result<T, E>) -> Result<T, RtmpError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)) {
        Ok(outcome) => outcome.map_err(protocol),
        Err(_) => Err(RtmpError::Protocol("a malformed chunk stream".to_owned())),
    }
}

impl Default for RtmpConnection {
    fn default() -> Self {
        Self::new()
    }
}

impl RtmpConnection {
    /// A connection that has sent nothing yet.
    pub fn new() -> Self {
        Self {
            state: State::Handshake(Box::new(Handshake::new(PeerType::Server))),
            received: 0,
            publish_request: None,
            publishing: false,
        }
    }

    /// Whether a publish was accepted on this connection.
    pub fn publishing(&self) -> bool {
        self.publishing
    }

    /// Takes the bytes of one read.
    pub fn receive(&mut self, bytes: &[u8]) -> Result<Received, RtmpError> {
        self.received = self.received.saturating_add(bytes.len() as u64);
        if !self.publishing && self.received > MAX_BYTES_BEFORE_PUBLISH {
            return Err(RtmpError::TooMuchBeforePublish);
        }
        let mut received = Received::default();
        let results = match &mut self.state {
            State::Handshake(handshake) => match guarded(|| handshake.process_bytes(bytes))? {
                HandshakeProcessResult::InProgress { response_bytes } => {
                    received.send = response_bytes;
                    return Ok(received);
                }
                HandshakeProcessResult::Completed { response_bytes, remaining_bytes } => {
                    received.send = response_bytes;
                    let (mut session, mut results) =
                        ServerSession::new(ServerSessionConfig::new()).map_err(protocol)?;
                    results.extend(guarded(|| session.handle_input(&remaining_bytes))?);
                    self.state = State::Session(Box::new(session));
                    results
                }
            },
            State::Session(session) => guarded(|| session.handle_input(bytes))?,
        };
        self.take(results, &mut received);
        Ok(received)
    }

    /// Accepts a `connect` or `publish` request.
    pub fn accept(&mut self, request_id: u32) -> Result<Vec<u8>, RtmpError> {
        if self.publish_request == Some(request_id) {
            self.publish_request = None;
            self.publishing = true;
        }
        self.answer(|session| session.accept_request(request_id))
    }

    /// Refuses a request with an RTMP status `code` and a description the encoder shows.
    pub fn reject(
        &mut self,
        request_id: u32,
        code: &str,
        description: &str,
    ) -> Result<Vec<u8>, RtmpError> {
        if self.publish_request == Some(request_id) {
            self.publish_request = None;
        }
        self.answer(|session| session.reject_request(request_id, code, description))
    }

    fn answer(
        &mut self,
        act: impl FnOnce(
            &mut ServerSession,
        )
            -> Result<Vec<ServerSessionResult>, rml_rtmp::sessions::ServerSessionError>,
    ) -> Result<Vec<u8>, RtmpError> {
        let State::Session(session) = &mut self.state else {
            return Err(RtmpError::Protocol("no request before the handshake".to_owned()));
        };
        let results = guarded(|| act(session))?;
        let mut received = Received::default();
        self.take(results, &mut received);
        Ok(received.send)
    }

    fn take(&mut self, results: Vec<ServerSessionResult>, received: &mut Received) {
        for result in results {
            match result {
                ServerSessionResult::OutboundResponse(packet) => {
                    received.send.extend_from_slice(&packet.bytes);
                }
                ServerSessionResult::RaisedEvent(event) => {
                    if let Some(event) = self.event(event) {
                        received.events.push(event);
                    }
                }
                ServerSessionResult::UnhandleableMessageReceived(_) => {}
            }
        }
    }

    fn event(&mut self, event: ServerSessionEvent) -> Option<RtmpEvent> {
        Some(match event {
            ServerSessionEvent::ConnectionRequested { request_id, app_name } => {
                RtmpEvent::Connect { request_id, application: app_name }
            }
            ServerSessionEvent::PublishStreamRequested {
                request_id, app_name, stream_key, ..
            } => {
                self.publish_request = Some(request_id);
                RtmpEvent::Publish { request_id, application: app_name, stream_name: stream_key }
            }
            ServerSessionEvent::PlayStreamRequested { request_id, .. } => {
                RtmpEvent::Play { request_id }
            }
            ServerSessionEvent::StreamMetadataChanged { metadata, .. } => {
                RtmpEvent::Metadata(Box::new(metadata))
            }
            ServerSessionEvent::AudioDataReceived { data, .. } => {
                RtmpEvent::Audio { bytes: data.len(), header: data.first().copied() }
            }
            ServerSessionEvent::VideoDataReceived { data, .. } => {
                let mut header = [0; 5];
                let known = data.len().min(5);
                header[..known].copy_from_slice(&data[..known]);
                RtmpEvent::Video { bytes: data.len(), header }
            }
            ServerSessionEvent::PublishStreamFinished { .. } => RtmpEvent::PublishFinished,
            _ => return None,
        })
    }
}

/// The limits every RTMP connection is served with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RtmpLimits {
    /// Connections open at once; one more is closed at once.
    pub max_connections: usize,
    /// From the connection's start until its publish is accepted, the handshake included.
    pub publish_timeout: Duration,
    /// How long an accepted publisher may send nothing.
    pub idle_timeout: Duration,
    /// Publish attempts per minute per client address.
    pub attempts_per_minute: u32,
}

/// What the listener decides with, shared by every connection.
pub(crate) struct Ingest {
    pub store: Arc<dyn Storage>,
    pub authorizer: Arc<Authorizer>,
    pub sessions: Arc<LiveSessions>,
    pub control: Arc<Control>,
    pub publish_limit: Arc<MinuteWindows<std::net::IpAddr>>,
    pub limits: RtmpLimits,
    admission: Arc<Semaphore>,
}

impl std::fmt::Debug for Ingest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest").field("limits", &self.limits).finish_non_exhaustive()
    }
}

impl Ingest {
    pub(crate) fn new(
        store: Arc<dyn Storage>,
        authorizer: Arc<Authorizer>,
        sessions: Arc<LiveSessions>,
        control: Arc<Control>,
        publish_limit: Arc<MinuteWindows<std::net::IpAddr>>,
        limits: RtmpLimits,
    ) -> Self {
        let admission = Arc::new(Semaphore::new(limits.max_connections));
        Self { store, authorizer, sessions, control, publish_limit, limits, admission }
    }

    /// Accepts connections until `shutdown` completes, running them on the caller's runtime; then
    /// every connection is closed.
    pub(crate) async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        let mut incoming = self.incoming(listener);
        let (stop, stopped) = watch::channel(false);
        let mut connections = tokio::task::JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                () = &mut shutdown => break,
                accepted = incoming.next() => accepted,
            };
            let Some(Accepted { stream, peer, permit }) = accepted else { break };
            let connection = Connection { ingest: self.clone(), peer, _permit: permit };
            connections.spawn(connection.run(stream, stopped.clone()));
            while connections.try_join_next().is_some() {}
        }
        let _ = stop.send(true);
        while connections.join_next().await.is_some() {}
        Ok(())
    }

    /// Accepts connections until `shutdown` completes and hands them out in turn to `threads`
    /// threads, each running its connections on a single-threaded runtime of its own (as the
    /// binary serves HTTP); then every connection is closed.
    pub(crate) async fn serve_on_threads(
        self: Arc<Self>,
        listener: TcpListener,
        threads: std::num::NonZeroUsize,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        let incoming = self.incoming(listener);
        let work = move |mut handoff: Handoff, stopped: watch::Receiver<bool>| {
            let ingest = self.clone();
            async move {
                let mut connections = tokio::task::JoinSet::new();
                // `None` once the acceptor has stopped, and told every connection to close.
                while let Some(Accepted { stream, peer, permit }) = handoff.next().await {
                    let connection = Connection { ingest: ingest.clone(), peer, _permit: permit };
                    connections.spawn(connection.run(stream, stopped.clone()));
                    while connections.try_join_next().is_some() {}
                }
                while connections.join_next().await.is_some() {}
            }
        };
        crate::threads::hand_out("rtmp", incoming, threads, work, shutdown).await
    }

    fn incoming(&self, listener: TcpListener) -> RtmpIncoming {
        RtmpIncoming { listener, admission: self.admission.clone() }
    }
}

/// The RTMP listener, its connections admitted under `rtmp_max_connections`: one past it is closed
/// at once, unanswered (RTMP has no refusal before its handshake).
struct RtmpIncoming {
    listener: TcpListener,
    admission: Arc<Semaphore>,
}

impl Incoming for RtmpIncoming {
    async fn next(&mut self) -> Option<Accepted> {
        loop {
            let (stream, peer) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                // Out of file descriptors, or a connection reset before it was accepted: the
                // listener goes on.
                Err(error) => {
                    tracing::warn!(%error, "accepting an RTMP connection failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let Ok(permit) = self.admission.clone().try_acquire_owned() else {
                tracing::warn!(%peer, "too many RTMP connections; closing a new one");
                continue;
            };
            let _ = stream.set_nodelay(true);
            return Some(Accepted { stream, peer, permit });
        }
    }
}

/// Which API a publish belongs to.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Aioz,
    Storm,
}

/// The one routing rule: a publish to AIOZ's application (the last segment of the keys'
/// `rtmp_url`, `live`) whose stream key is a UUID, the form of every AIOZ `stream_key`, is AIOZ's;
/// every other publish is Storm's, to the application it names.
fn route(aioz_application: &str, application: &str, stream_key: &str) -> Route {
    if application == aioz_application && Uuid::try_parse(stream_key).is_ok() {
        Route::Aioz
    } else {
        Route::Storm
    }
}

/// A name and its query: `cam-1?token=abc` is `("cam-1", "token=abc")`.
fn split_query(name: &str) -> (&str, &str) {
    name.split_once('?').unwrap_or((name, ""))
}

/// What a Storm publisher presents, from the query of its stream name and of its `connect`
/// application, the stream name's winning: `username` with `password`, `token`, or `secret`.
fn presented(stream_query: &str, application_query: &str) -> Result<Presented, &'static str> {
    let (mut username, mut password, mut token, mut secret) = (None, None, None, None);
    for query in [application_query, stream_query] {
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let slot = match name.as_ref() {
                "username" => &mut username,
                "password" => &mut password,
                "token" => &mut token,
                "secret" => &mut secret,
                _ => continue,
            };
            *slot = Some(value.into_owned());
        }
    }
    let empty = "a username, password, token or secret is empty";
    match (username, password, token, secret) {
        (None, None, None, None) => Ok(Presented::Nothing),
        (Some(username), Some(password), None, None) => {
            Presented::credentials(username, password).map_err(|_| empty)
        }
        (None, None, Some(token), None) => Presented::token(token).map_err(|_| empty),
        (None, None, None, Some(secret)) => Presented::stream_secret(secret).map_err(|_| empty),
        (Some(_), None, None, None) | (None, Some(_), None, None) => {
            Err("a username needs its password, and a password its username")
        }
        _ => Err("present one of username and password, token, or secret"),
    }
}

/// One accepted connection.
struct Connection {
    ingest: Arc<Ingest>,
    peer: SocketAddr,
    _permit: OwnedSemaphorePermit,
}

/// Why a connection ends, for the log.
#[derive(Debug)]
enum Closed {
    Disconnected,
    Finished,
    Refused,
    Ended,
    TimedOut(&'static str),
    Shutdown,
    Failed(String),
}

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Closed::Disconnected => f.write_str("the encoder disconnected"),
            Closed::Finished => f.write_str("the encoder stopped publishing"),
            Closed::Refused => f.write_str("refused"),
            Closed::Ended => f.write_str("the session was ended"),
            Closed::TimedOut(what) => write!(f, "timed out: {what}"),
            Closed::Shutdown => f.write_str("the emulator is stopping"),
            Closed::Failed(error) => f.write_str(error),
        }
    }
}

/// A publish this connection holds.
struct Publishing {
    session: Arc<LiveSession>,
    /// Storm's sessions are the engine's too.
    storm: Option<SessionId>,
}

impl Connection {
    async fn run(self, mut stream: TcpStream, mut closing: watch::Receiver<bool>) {
        let limits = self.ingest.limits;
        let mut rtmp = RtmpConnection::new();
        let mut buffer = vec![0; READ_BYTES];
        let mut application = String::new();
        let mut publishing: Option<Publishing> = None;
        let mut bytes_before_publish = 0u64;
        // The futures that end a connection live as long as it does: a read registers no timer and
        // no waiter of its own, which at a media message per read would cost more than the read.
        let closing = closing.wait_for(|stop| *stop);
        tokio::pin!(closing);
        let mut ended: Option<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>> = None;
        let deadline = tokio::time::sleep(limits.publish_timeout);
        tokio::pin!(deadline);
        let mut last_read = tokio::time::Instant::now();
        // Whether the next read waits for `PUBLISHER_REST` first (while the other branches, an
        // ended session among them, are still watched).
        let mut rest = false;
        let closed = loop {
            let read = tokio::select! {
                // The read first: while media arrives, nothing else is polled. A read that finds
                // nothing (as `read_some` does after each burst) lets the others be polled.
                biased;
                read = async {
                    if rest {
                        tokio::time::sleep(PUBLISHER_REST).await;
                    }
                    read_some(&stream, &mut buffer).await
                } => read,
                () = &mut deadline => match &publishing {
                    // The idle deadline is moved only when it passes, not at every read.
                    Some(_) if last_read.elapsed() < limits.idle_timeout => {
                        deadline.as_mut().reset(last_read + limits.idle_timeout);
                        continue;
                    }
                    Some(_) => break Closed::TimedOut("no data"),
                    None => break Closed::TimedOut("no publish"),
                },
                () = async { ended.as_mut().expect("guarded").await }, if ended.is_some() => {
                    break Closed::Ended;
                }
                _ = &mut closing => break Closed::Shutdown,
            };
            let read = match read {
                Err(error) => break Closed::Failed(error.to_string()),
                Ok(0) => break Closed::Disconnected,
                Ok(read) => read,
            };
            match &publishing {
                Some(publishing) => {
                    last_read = tokio::time::Instant::now();
                    publishing.session.bytes.fetch_add(read as u64, Ordering::Relaxed);
                }
                None => bytes_before_publish += read as u64,
            }
            let received = match rtmp.receive(&buffer[..read]) {
                Ok(received) => received,
                Err(error) => break Closed::Failed(error.to_string()),
            };
            if let Err(closed) = send(&mut stream, &received.send).await {
                break closed;
            }
            let mut outcome = None;
            for event in received.events {
                let acted = self
                    .act(event, &mut rtmp, &mut application, &mut publishing, bytes_before_publish)
                    .await;
                match acted {
                    Ok(answer) => {
                        if let Err(closed) = send(&mut stream, &answer).await {
                            outcome = Some(closed);
                            break;
                        }
                    }
                    Err((answer, closed)) => {
                        let _ = send(&mut stream, &answer).await;
                        outcome = Some(closed);
                        break;
                    }
                }
            }
            if let Some(closed) = outcome {
                break closed;
            }
            rest = publishing.is_some() && read < buffer.len();
            if ended.is_none()
                && let Some(publishing) = &publishing
            {
                buffer.resize(PUBLISHER_READ_BYTES, 0);
                let session = publishing.session.clone();
                ended = Some(Box::pin(async move { session.ended().await }));
                last_read = tokio::time::Instant::now();
                deadline.as_mut().reset(last_read + limits.idle_timeout);
            }
        };
        if let Some(publishing) = publishing {
            self.ingest.sessions.finished(&publishing.session);
            match publishing.storm {
                Some(id) => {
                    self.ingest.authorizer.end_session(id);
                }
                None => {
                    streamings::publisher_gone(self.ingest.store.as_ref(), &publishing.session)
                        .await
                }
            }
            let session = &publishing.session;
            tracing::info!(
                session = %session.id,
                api = %session.api,
                application = session.application,
                bytes = session.bytes.load(Ordering::Relaxed),
                %closed,
                "RTMP publisher gone"
            );
        } else {
            tracing::debug!(peer = %self.peer, %closed, "RTMP connection closed");
        }
        // The refusal was written; closing without reading the rest lets the encoder see it.
        let _ = stream.shutdown().await;
    }

    /// Acts on one event: the bytes to send, or the last bytes to send and why the connection ends.
    async fn act(
        &self,
        event: RtmpEvent,
        rtmp: &mut RtmpConnection,
        application: &mut String,
        publishing: &mut Option<Publishing>,
        bytes_before_publish: u64,
    ) -> Result<Vec<u8>, (Vec<u8>, Closed)> {
        let failed = |error: RtmpError| (Vec::new(), Closed::Failed(error.to_string()));
        match event {
            RtmpEvent::Connect { request_id, application: name } => {
                *application = name;
                rtmp.accept(request_id).map_err(failed)
            }
            RtmpEvent::Play { request_id } => {
                let description = "this emulator takes publishers only";
                let answer = rtmp
                    .reject(request_id, "NetStream.Play.Failed", description)
                    .map_err(failed)?;
                Err((answer, Closed::Refused))
            }
            RtmpEvent::Publish { request_id, stream_name, .. } if publishing.is_some() => {
                let _ = stream_name;
                let description = "this connection publishes a stream already";
                let answer =
                    rtmp.reject(request_id, PUBLISH_REFUSED, description).map_err(failed)?;
                Err((answer, Closed::Refused))
            }
            RtmpEvent::Publish { request_id, application: name, stream_name } => {
                // The `publish` command names the application of its `connect`.
                let name = if name.is_empty() { application.as_str() } else { name.as_str() };
                match self.decide(name, &stream_name).await {
                    Ok(session) => {
                        session.bytes.fetch_add(bytes_before_publish, Ordering::Relaxed);
                        let storm = (session.api == IngestSessionApi::Storm)
                            .then(|| SessionId::from(session.id));
                        *publishing = Some(Publishing { session, storm });
                        rtmp.accept(request_id).map_err(failed)
                    }
                    Err(description) => {
                        let answer = rtmp
                            .reject(request_id, PUBLISH_REFUSED, &description)
                            .map_err(failed)?;
                        Err((answer, Closed::Refused))
                    }
                }
            }
            RtmpEvent::PublishFinished => Err((Vec::new(), Closed::Finished)),
            media => {
                if let Some(publishing) = publishing {
                    count(&publishing.session, media);
                }
                Ok(Vec::new())
            }
        }
    }

    /// Decides a publish to `application` of `stream_name`: the session it starts, or why not, in
    /// words the encoder shows (never a secret).
    async fn decide(
        &self,
        application: &str,
        stream_name: &str,
    ) -> Result<Arc<LiveSession>, String> {
        let ingest = &self.ingest;
        let (application, application_query) = split_query(application);
        let (stream_key, stream_query) = split_query(stream_name);
        let limit = ingest.limits.attempts_per_minute;
        if !ingest.publish_limit.count(self.peer.ip(), limit).0 {
            return Err("too many publish attempts from this address, try again later".to_owned());
        }
        let unavailable = |error: &dyn std::fmt::Display| {
            tracing::error!(%error, "deciding an RTMP publish failed");
            "the emulator could not decide this publish; its log says why".to_owned()
        };
        match route(ingest.control.aioz_application(), application, stream_key) {
            Route::Aioz => {
                let Some(key) = ingest
                    .store
                    .key_by_stream_key(stream_key)
                    .map_err(|error| unavailable(&error))?
                else {
                    tracing::info!(peer = %self.peer, "RTMP publish refused: no such live stream key");
                    return Err("no live stream key has this stream key".to_owned());
                };
                let mut session = LiveSession::new(
                    Uuid::new_v4(),
                    IngestSessionApi::Aioz,
                    IngestSessionTransport::Rtmp,
                    application,
                    stream_key,
                    self.peer.to_string(),
                    true,
                );
                session.live_stream_key_id = key.id.parse().ok();
                let session = Arc::new(session);
                // The streaming goes live first, so the session this one replaces finds it taken
                // over when it ends.
                streamings::publisher_arrived(ingest.store.as_ref(), &key.id, &session).await;
                let replaced = ingest.sessions.start_replacing(session.clone());
                tracing::info!(
                    session = %session.id,
                    live_stream_key = key.id,
                    replaced = replaced.map(|id| id.to_string()),
                    "RTMP publish accepted (AIOZ)"
                );
                Ok(session)
            }
            Route::Storm => {
                let presented = presented(stream_query, application_query)?;
                let attempt = PublishAttempt::new(application, stream_key, self.peer.ip())
                    .presenting(presented);
                match publish::decide(ingest.store.as_ref(), &ingest.authorizer, &attempt).await {
                    Ok(StormVerdict::Decided(Decision::Allow(allowed))) => {
                        Ok(publish::start_session(
                            &ingest.sessions,
                            &attempt,
                            &allowed,
                            IngestSessionTransport::Rtmp,
                            self.peer.to_string(),
                        ))
                    }
                    Ok(StormVerdict::Decided(Decision::Deny(reason))) => Err(reason.to_string()),
                    Ok(refused) => Err(refused.to_string()),
                    Err(error) => Err(unavailable(&error)),
                }
            }
        }
    }
}

/// Reads what has arrived. A read that fills less than `buffer` took all there was, so the socket is
/// marked not readable without a second read that could only answer "would block" (nginx reads the
/// same way). Data that arrives after the read raises a new readiness event, so none is missed.
async fn read_some(stream: &TcpStream, buffer: &mut [u8]) -> std::io::Result<usize> {
    loop {
        stream.readable().await?;
        let mut drained = None;
        let read = stream.try_io(tokio::io::Interest::READABLE, || match stream.try_read(buffer) {
            Ok(read) if read > 0 && read < buffer.len() => {
                drained = Some(read);
                Err(std::io::ErrorKind::WouldBlock.into())
            }
            other => other,
        });
        match (read, drained) {
            (_, Some(read)) => return Ok(read),
            (Ok(read), None) => return Ok(read),
            (Err(error), None) if error.kind() == std::io::ErrorKind::WouldBlock => continue,
            (Err(error), None) => return Err(error),
        }
    }
}

/// Writes an answer within [`WRITE_TIMEOUT`].
async fn send(stream: &mut TcpStream, bytes: &[u8]) -> Result<(), Closed> {
    if bytes.is_empty() {
        return Ok(());
    }
    match tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(bytes)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(Closed::Failed(error.to_string())),
        Err(_) => Err(Closed::TimedOut("the encoder does not read")),
    }
}

/// Counts a media message into its session, and learns the tracks from metadata and first
/// messages.
fn count(session: &LiveSession, event: RtmpEvent) {
    match event {
        // The first audio message names the codec, unless the metadata did.
        RtmpEvent::Audio { header, .. }
            if session.audio_messages.fetch_add(1, Ordering::Relaxed) == 0 =>
        {
            let mut tracks = session.tracks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if let (None, Some(header)) = (&tracks.audio, header) {
                tracks.audio = Some(AudioTrack::new(sound_format(header >> 4)));
            }
        }
        RtmpEvent::Audio { .. } => {}
        RtmpEvent::Video { header, .. } => {
            let first = session.video_messages.fetch_add(1, Ordering::Relaxed) == 0;
            // Enhanced RTMP sets the top bit; the frame type is the three bits below it.
            let enhanced = header[0] & 0x80 != 0;
            let frame_type = if enhanced { (header[0] >> 4) & 0x07 } else { header[0] >> 4 };
            if frame_type == 1 {
                session.key_frames.fetch_add(1, Ordering::Relaxed);
            }
            if !first {
                return;
            }
            let mut tracks = session.tracks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if tracks.video.is_none() {
                let codec = if enhanced {
                    fourcc(&header[1..5])
                } else {
                    video_codec(u32::from(header[0] & 0x0f))
                };
                tracks.video = Some(VideoTrack::new(codec));
            }
        }
        RtmpEvent::Metadata(metadata) => {
            let mut tracks = session.tracks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let as_i32 = |value: Option<u32>| value.and_then(|value| i32::try_from(value).ok());
            if let Some(codec) = metadata.video_codec_id.map(video_codec) {
                let video = tracks.video.get_or_insert_with(|| VideoTrack::new(codec));
                video.width = as_i32(metadata.video_width);
                video.height = as_i32(metadata.video_height);
                video.frame_rate = metadata.video_frame_rate.map(f64::from);
            }
            if let Some(codec) = metadata.audio_codec_id.map(sound_format_id) {
                let audio = tracks.audio.get_or_insert_with(|| AudioTrack::new(codec));
                audio.sample_rate = as_i32(metadata.audio_sample_rate);
                audio.channels = as_i32(metadata.audio_channels)
                    .or(metadata.audio_is_stereo.map(|stereo| if stereo { 2 } else { 1 }));
            }
            if let Some(encoder) = metadata.encoder.clone() {
                tracks.encoder = Some(encoder);
            }
            if let Some(kbps) = metadata.audio_bitrate_kbps {
                tracks.audio_kbps = Some(kbps);
            }
        }
        _ => {}
    }
}

/// An FLV video codec id's name.
fn video_codec(id: u32) -> String {
    match id {
        2 => "sorenson".to_owned(),
        3 => "screen".to_owned(),
        4 => "vp6".to_owned(),
        7 => "h264".to_owned(),
        12 => "hevc".to_owned(),
        other => format!("codec-{other}"),
    }
}

/// An enhanced RTMP FourCC's name.
fn fourcc(code: &[u8]) -> String {
    match code {
        b"avc1" => "h264".to_owned(),
        b"hvc1" => "hevc".to_owned(),
        b"av01" => "av1".to_owned(),
        b"vp09" => "vp9".to_owned(),
        other => format!("codec-{}", String::from_utf8_lossy(other)),
    }
}

fn sound_format_id(id: u32) -> String {
    u8::try_from(id).map_or_else(|_| format!("codec-{id}"), sound_format)
}

/// An FLV sound format's name.
fn sound_format(id: u8) -> String {
    match id {
        0 | 3 => "pcm".to_owned(),
        2 | 14 => "mp3".to_owned(),
        4..=6 => "nellymoser".to_owned(),
        7 => "g711a".to_owned(),
        8 => "g711u".to_owned(),
        10 => "aac".to_owned(),
        11 => "speex".to_owned(),
        13 => "opus".to_owned(),
        other => format!("codec-{other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_routing_rule() {
        let key = "9d2f7a61-3c4b-4e58-8f1a-2b6c5d4e3f70";
        assert_eq!(route("live", "live", key), Route::Aioz);
        assert_eq!(route("live", "live", "cam-1"), Route::Storm);
        assert_eq!(route("live", "studio", key), Route::Storm);
    }

    #[test]
    fn what_a_publisher_presents() {
        assert_eq!(presented("", ""), Ok(Presented::Nothing));
        assert_eq!(
            presented("username=pub&password=p%26w", ""),
            Ok(Presented::credentials("pub", "p&w").unwrap())
        );
        assert_eq!(presented("", "token=abc"), Ok(Presented::token("abc").unwrap()));
        assert_eq!(presented("token=mine", "token=app"), Ok(Presented::token("mine").unwrap()));
        assert_eq!(presented("secret=s", ""), Ok(Presented::stream_secret("s").unwrap()));
        assert!(presented("username=pub", "").is_err());
        assert!(presented("token=a&secret=b", "").is_err());
        assert!(presented("token=", "").is_err());
        assert_eq!(presented("other=1", ""), Ok(Presented::Nothing));
    }

    #[test]
    fn debug_shows_no_stream_name_nor_query() {
        let publish = RtmpEvent::Publish {
            request_id: 1,
            application: "live?token=app-secret".to_owned(),
            stream_name: "9d2f7a61-3c4b?password=pw-secret".to_owned(),
        };
        let connect =
            RtmpEvent::Connect { request_id: 0, application: "live?token=app-secret".to_owned() };
        let shown = format!("{publish:?} {connect:?}");
        for secret in ["app-secret", "9d2f7a61", "pw-secret"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("\"live\""), "{shown}");
    }

    #[test]
    fn a_stream_name_loses_its_query() {
        assert_eq!(split_query("cam-1?token=abc"), ("cam-1", "token=abc"));
        assert_eq!(split_query("cam-1"), ("cam-1", ""));
    }

    #[test]
    fn a_connection_that_never_finishes_its_handshake_is_cut_at_the_budget() {
        let mut connection = RtmpConnection::new();
        // A valid C0 and the start of C1, then more than the budget in pieces.
        assert!(connection.receive(&[3]).is_ok());
        let mut refused = None;
        for _ in 0..100 {
            if let Err(error) = connection.receive(&[0; 1024]) {
                refused = Some(error);
                break;
            }
        }
        let refused = refused.expect("the budget applies");
        assert!(matches!(refused, RtmpError::TooMuchBeforePublish | RtmpError::Protocol(_)));
    }

    #[test]
    fn garbage_is_a_protocol_error() {
        let mut connection = RtmpConnection::new();
        assert!(matches!(
            connection.receive(b"GET / HTTP/1.1\r\n\r\n"),
            Err(RtmpError::Protocol(_))
        ));
    }

    #[test]
    fn codec_names() {
        assert_eq!(video_codec(7), "h264");
        assert_eq!(video_codec(99), "codec-99");
        assert_eq!(fourcc(b"hvc1"), "hevc");
        assert_eq!(sound_format(10), "aac");
        assert_eq!(sound_format_id(1000), "codec-1000");
    }
}
