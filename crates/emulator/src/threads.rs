//! Serving on a runtime per thread: the caller's runtime accepts connections and hands them out in
//! turn, and each thread runs the connections it was given, start to end, on a single-threaded
//! runtime of its own. HTTP and RTMP are served this way.
//!
//! A multi-threaded runtime moves connections between its workers, and wakes an idle worker to
//! steal whenever work arrives. Under load that costs about a quarter of a request's CPU time on two
//! cores; a connection that stays on one thread also keeps that thread's SQLite reader warm.

use std::future::Future;
use std::net::SocketAddr;
use std::num::NonZeroUsize;

use streamspec_server::axum;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, mpsc, watch};

use crate::connections::{Accepted, Admission, ConnectionLimits, Direct, Incoming};

/// The client's address, as the login limit reads it, for whichever way the emulator serves.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer(pub(crate) SocketAddr);

/// A connection accepted on the acceptor's thread, with its place under the connection ceiling.
type Handed = (std::net::TcpStream, SocketAddr, OwnedSemaphorePermit);

/// The connections one thread is handed.
pub(crate) struct Handoff {
    connections: mpsc::UnboundedReceiver<Handed>,
}

impl Incoming for Handoff {
    async fn next(&mut self) -> Option<Accepted> {
        loop {
            // `None`: the acceptor has stopped, and so does this thread's server.
            let (stream, peer, permit) = self.connections.recv().await?;
            // Registering with this thread's reactor fails only when the process is out of
            // resources; the client sees its connection closed.
            match TcpStream::from_std(stream) {
                Ok(stream) => return Some(Accepted { stream, peer, permit }),
                Err(error) => tracing::error!(%error, "taking over an accepted connection"),
            }
        }
    }
}

/// Serves `router` on `threads` threads until `shutdown` completes; then each thread finishes the
/// requests in flight (within `limits.shutdown_grace`), and this returns once they all have. The
/// ceiling on open connections is one for all threads.
pub(crate) async fn serve(
    router: axum::Router,
    listener: TcpListener,
    threads: NonZeroUsize,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let incoming = Direct { listener, admission: Admission::new(limits.max_connections) };
    let work = move |handoff: Handoff, mut stopped: watch::Receiver<bool>| {
        let router = router.clone();
        async move {
            let shutdown = async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            };
            crate::connections::serve(handoff, router, limits, shutdown).await;
        }
    };
    hand_out("http", incoming, threads, work, shutdown).await
}

/// Runs `work` on `threads` threads, each on a single-threaded runtime of its own with the
/// connections it is handed, and hands out what `incoming` admits, in turn, until `shutdown`
/// completes; then tells every thread to stop (`true` on its watch) and returns once all have.
pub(crate) async fn hand_out<W, F>(
    name: &str,
    mut incoming: impl Incoming,
    threads: NonZeroUsize,
    work: W,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()>
where
    W: Fn(Handoff, watch::Receiver<bool>) -> F + Clone + Send + 'static,
    F: Future<Output = ()>,
{
    let (stop, stopped) = watch::channel(false);
    let mut queues = Vec::with_capacity(threads.get());
    let mut workers = Vec::with_capacity(threads.get());
    for index in 0..threads.get() {
        let (queue, connections) = mpsc::unbounded_channel();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let (work, stopped) = (work.clone(), stopped.clone());
        let worker =
            std::thread::Builder::new().name(format!("{name}-{index}")).spawn(move || {
                runtime.block_on(work(Handoff { connections }, stopped));
            })?;
        queues.push(queue);
        workers.push(worker);
    }

    let mut shutdown = std::pin::pin!(shutdown);
    let mut outcome = Ok(());
    for turn in (0..queues.len()).cycle() {
        // Admitted here, under the one ceiling, before any thread takes the connection.
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = incoming.next() => accepted,
        };
        let Some(Accepted { stream, peer, permit }) = accepted else { break };
        match stream.into_std() {
            Ok(stream) => {
                if queues[turn].send((stream, peer, permit)).is_err() {
                    let message = format!("{name} thread {turn} stopped");
                    outcome = Err(std::io::Error::other(message));
                    break;
                }
            }
            Err(error) => tracing::error!(%error, "handing over an accepted connection"),
        }
    }
    drop(incoming);
    let _ = stop.send(true);
    drop(queues);
    let joined = tokio::task::spawn_blocking(move || {
        workers.into_iter().map(|worker| worker.join()).collect::<Vec<_>>()
    })
    .await
    .map_err(std::io::Error::other)?;
    for (index, served) in joined.into_iter().enumerate() {
        if served.is_err() {
            return Err(std::io::Error::other(format!("{name} thread {index} panicked")));
        }
    }
    outcome
}
