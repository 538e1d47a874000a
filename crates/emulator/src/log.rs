//! The request log's writer: lines gather in memory and a thread of their own writes them out in
//! batches, so a request never waits for stderr and never wakes another thread.
//!
//! `tracing-appender`'s non-blocking writer sends every line through a channel, and its thread, idle
//! between two lines, has to be woken for each one: at tens of thousands of requests a second those
//! wake-ups cost more than the lines themselves. Here the thread wakes on a timer (every
//! [`FLUSH_EVERY`]) or when a batch has grown large, and takes everything gathered at once.
//!
//! Nothing is dropped: a writer that finds [`MAX_PENDING`] bytes waiting blocks until the thread has
//! taken them (stderr is slower than the server), and [`Flushed`]'s drop writes what is left.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long a line may wait in memory before it is written.
pub const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// Bytes waiting that wake the thread before its timer.
const WAKE_AT: usize = 64 * 1024;
/// Bytes waiting beyond which a writer waits for the thread.
pub const MAX_PENDING: usize = 4 * 1024 * 1024;

#[derive(Default)]
struct State {
    pending: Vec<u8>,
    stopping: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Wakes the thread: a large batch, or the stop.
    wake: Condvar,
    /// Wakes writers waiting for room.
    room: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while a line was being copied in leaves at worst a partial line: keep logging.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A [`tracing_subscriber::fmt::MakeWriter`] whose lines a thread writes to `output` in batches.
#[derive(Clone)]
pub struct BatchedLog {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for BatchedLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchedLog").finish_non_exhaustive()
    }
}

/// Stops the log's thread when dropped, once everything gathered has been written and flushed.
#[must_use = "dropping it at once stops the log"]
pub struct Flushed {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Flushed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flushed").finish_non_exhaustive()
    }
}

impl BatchedLog {
    /// Starts the thread `log-writer`, which writes to `output`.
    pub fn new(mut output: impl Write + Send + 'static) -> std::io::Result<(Self, Flushed)> {
        let shared = Arc::new(Shared::default());
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new().name("log-writer".into()).spawn(move || {
                let mut batch = Vec::new();
                loop {
                    let stopping = {
                        let mut state = shared.lock();
                        if state.pending.len() < WAKE_AT && !state.stopping {
                            state = shared
                                .wake
                                .wait_timeout(state, FLUSH_EVERY)
                                .unwrap_or_else(|poisoned| poisoned.into_inner())
                                .0;
                        }
                        // Swap buffers so writers get an empty one with its capacity kept.
                        std::mem::swap(&mut batch, &mut state.pending);
                        state.stopping
                    };
                    shared.room.notify_all();
                    if !batch.is_empty() {
                        // A log that cannot be written has nowhere to say so: go on.
                        let _ = output.write_all(&batch).and_then(|()| output.flush());
                        batch.clear();
                    }
                    if stopping && shared.lock().pending.is_empty() {
                        return;
                    }
                }
            })?
        };
        Ok((Self { shared: shared.clone() }, Flushed { shared, thread: Some(thread) }))
    }
}

impl Drop for Flushed {
    fn drop(&mut self) {
        self.shared.lock().stopping = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One event's writer: `tracing-subscriber` formats a line, then writes it here whole.
#[derive(Debug)]
pub struct LineWriter<'a> {
    log: &'a BatchedLog,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let shared = &self.log.shared;
        let mut state = shared.lock();
        while state.pending.len() >= MAX_PENDING && !state.stopping {
            state = shared.room.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        let before = state.pending.len();
        state.pending.extend_from_slice(bytes);
        // Only the line that crosses the mark wakes the thread: one call, not one per line after it.
        let wake = before < WAKE_AT && state.pending.len() >= WAKE_AT;
        drop(state);
        if wake {
            shared.wake.notify_one();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BatchedLog {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter { log: self }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An output the test can read back, which counts its writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<(Vec<u8>, usize)>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            let mut inner = self.0.lock().unwrap();
            inner.0.extend_from_slice(bytes);
            inner.1 += 1;
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_is_written_in_order_and_in_few_writes() {
        let output = Captured::default();
        let (log, flushed) = BatchedLog::new(output.clone()).unwrap();
        std::thread::scope(|scope| {
            for thread in 0..4 {
                let log = log.clone();
                scope.spawn(move || {
                    for line in 0..5_000 {
                        let mut writer = tracing_subscriber::fmt::MakeWriter::make_writer(&log);
                        writer.write_all(format!("{thread} {line}\n").as_bytes()).unwrap();
                    }
                });
            }
        });
        drop(flushed);
        let (bytes, writes) = output.0.lock().unwrap().clone();
        let text = String::from_utf8(bytes).unwrap();
        assert_eq!(text.lines().count(), 20_000, "nothing is lost, and the stop flushes the rest");
        for thread in 0..4 {
            let lines: Vec<usize> = text
                .lines()
                .filter_map(|line| line.strip_prefix(&format!("{thread} ")))
                .map(|n| n.parse().unwrap())
                .collect();
            assert_eq!(lines, (0..5_000).collect::<Vec<_>>(), "thread {thread}'s lines in order");
        }
        assert!(writes < 1_000, "lines are written in batches, not one by one: {writes} writes");
    }

    #[test]
    fn a_line_is_written_within_the_flush_interval() {
        let output = Captured::default();
        let (log, _flushed) = BatchedLog::new(output.clone()).unwrap();
        tracing_subscriber::fmt::MakeWriter::make_writer(&log).write_all(b"one line\n").unwrap();
        // Generous: the thread wakes every FLUSH_EVERY, but a loaded test machine may be late.
        let deadline = std::time::Instant::now() + FLUSH_EVERY * 40;
        while output.0.lock().unwrap().0.is_empty() {
            assert!(std::time::Instant::now() < deadline, "the line was never written");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(output.0.lock().unwrap().0, b"one line\n");
    }
}
