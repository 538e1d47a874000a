//! Serving connections with the limits a real server has: a deadline for every request head and for
//! a keep-alive connection's idle time ([`ClientIo`]); a ceiling on open connections; and a shutdown
//! that waits for requests in flight, but not for ever.
//!
//! `axum::serve` has no deadlines and accepts every connection it can: a client that opens sockets
//! and sends nothing would hold them, and the process's file descriptors, for good.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use streamspec_server::axum::{self, extract::ConnectInfo};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

use crate::client_io::{ClientIo, HeadComplete, Timeouts};
use crate::threads::Peer;

/// The limits every connection is served with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionLimits {
    /// How long a client has to send a whole request head, counted from the connection's start or
    /// the head's first byte, and how long a keep-alive connection may stay idle between requests.
    pub(crate) timeouts: Timeouts,
    /// How many connections may be open at once; one more is answered 503 and closed.
    pub(crate) max_connections: usize,
    /// How long a shutdown waits for the requests in flight before it closes what is left.
    pub(crate) shutdown_grace: Duration,
}

/// File descriptors kept for what is not a client connection: the database, its readers, the log.
const RESERVED_DESCRIPTORS: u64 = 64;

/// Raises this process's limit on open files as far as it may go (its hard limit), so that a few
/// thousand idle clients cannot exhaust it, and answers the limit now in force.
pub fn raise_open_files_limit() -> std::io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}

/// `max_connections`, lowered where the limit on open files would not hold that many connections
/// beside the database and the log.
pub(crate) fn connection_ceiling(max_connections: usize) -> usize {
    let limit = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(u64::MAX, |(soft, _)| soft);
    let room = usize::try_from(limit.saturating_sub(RESERVED_DESCRIPTORS)).unwrap_or(usize::MAX);
    if room < max_connections {
        tracing::warn!(
            max_connections,
            open_files_limit = limit,
            "max_connections is lowered to what the open-files limit holds"
        );
    }
    max_connections.min(room).max(1)
}

/// The ceiling on open connections, shared by every thread that serves them.
#[derive(Debug, Clone)]
pub(crate) struct Admission {
    connections: Arc<Semaphore>,
    /// Refused connections being answered 503; past [`ANSWERED_REFUSALS`] one is closed unanswered.
    refusals: Arc<Semaphore>,
}

/// How many refused connections are answered at once.
const ANSWERED_REFUSALS: usize = 32;
/// How long a refused connection has to send its request line (whose path chooses the envelope of
/// the 503), and then to take the answer.
const REFUSAL_TIME: Duration = Duration::from_millis(500);

impl Admission {
    pub(crate) fn new(max_connections: usize) -> Self {
        Self {
            connections: Arc::new(Semaphore::new(max_connections)),
            refusals: Arc::new(Semaphore::new(ANSWERED_REFUSALS)),
        }
    }

    /// The connection with its place under the ceiling, held until it closes; `None` when all
    /// places are taken, and then the connection is answered 503 in the envelope and closed.
    pub(crate) fn admit(&self, stream: TcpStream, peer: SocketAddr) -> Option<Accepted> {
        if let Ok(permit) = self.connections.clone().try_acquire_owned() {
            return Some(Accepted { stream, peer, permit });
        }
        tracing::warn!(%peer, "too many open connections; refusing a new one");
        if let Ok(answering) = self.refusals.clone().try_acquire_owned() {
            tokio::spawn(async move {
                refuse(stream).await;
                drop(answering);
            });
        }
        None
    }
}

/// Answers a connection over the ceiling 503, in the envelope of the API its request line names,
/// and closes it, spending at most twice [`REFUSAL_TIME`] on it.
async fn refuse(mut stream: TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut head = vec![0; 8 * 1024];
    let read = match tokio::time::timeout(REFUSAL_TIME, stream.read(&mut head)).await {
        Ok(Ok(read)) => read,
        _ => 0,
    };
    let answer = crate::client_io::enveloped(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        crate::client_io::request_path(&head[..read]),
    );
    let _ = tokio::time::timeout(REFUSAL_TIME, async {
        stream.write_all(&answer).await?;
        stream.shutdown().await?;
        // Unread input at close would reset the connection, and the client could lose the answer.
        while stream.read(&mut head).await? > 0 {}
        Ok::<_, std::io::Error>(())
    })
    .await;
}

/// A connection accepted and admitted.
pub(crate) struct Accepted {
    pub(crate) stream: TcpStream,
    pub(crate) peer: SocketAddr,
    pub(crate) permit: OwnedSemaphorePermit,
}

/// Where connections come from: a listener, or the connections a thread is handed.
pub(crate) trait Incoming {
    /// The next admitted connection; `None` once no more will come.
    fn next(&mut self) -> impl Future<Output = Option<Accepted>>;
}

/// A listener whose connections are admitted here.
pub(crate) struct Direct {
    pub(crate) listener: TcpListener,
    pub(crate) admission: Admission,
}

impl Incoming for Direct {
    async fn next(&mut self) -> Option<Accepted> {
        loop {
            match self.listener.accept().await {
                Ok((stream, peer)) => {
                    if let Some(accepted) = self.admission.admit(stream, peer) {
                        return Some(accepted);
                    }
                }
                Err(error) if is_connection_error(&error) => {}
                Err(error) => {
                    // Out of file descriptors, say: accepting again at once would fail again.
                    tracing::error!(%error, "accepting a connection");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
}

/// An error of one connection, which the next accept does not share.
fn is_connection_error(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(error.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset)
}

/// Serves `router` on every connection `incoming` yields until `shutdown` completes; then lets the
/// requests in flight finish, for at most `limits.shutdown_grace`.
pub(crate) async fn serve(
    mut incoming: impl Incoming,
    router: axum::Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let builder = http1::Builder::new();
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = incoming.next() => accepted,
        };
        let Some(Accepted { stream, peer, permit }) = accepted else { break };
        let router = router.clone();
        let head_complete = Arc::new(HeadComplete::default());
        let io = ClientIo::new(stream, limits.timeouts, head_complete.clone());
        let service = TowerToHyperService::new(tower::service_fn(
            move |mut request: axum::http::Request<hyper::body::Incoming>| {
                head_complete.mark();
                request.extensions_mut().insert(ConnectInfo(Peer(peer)));
                let answered = router.clone().oneshot(request);
                async move {
                    let response = match answered.await {
                        Ok(response) => response,
                        Err(never) => match never {},
                    };
                    // A `close` fault: an error makes hyper close the connection, answering nothing.
                    if response.extensions().get::<crate::control::CloseConnection>().is_some() {
                        return Err(crate::control::ClosedByFault);
                    }
                    Ok(response)
                }
            },
        ));
        let connection = builder.serve_connection(TokioIo::new(io), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A connection ends with an error when its client goes away or is too slow: routine.
            if let Err(error) = connection.await {
                tracing::debug!(%peer, %error, "connection closed");
            }
            drop(permit);
        });
    }
    drop(incoming);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::warn!("requests still in flight after the shutdown grace period; closing them");
        }
    }
}
