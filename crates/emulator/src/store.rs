//! Storage: a small trait the handlers use, so they never see SQL, and its SQLite implementation.
//!
//! SQLite runs in WAL mode with `synchronous = FULL`, so a write is on disk before the request that made
//! it is answered: every 2xx survives a `kill -9`. The schema is versioned by the migrations in this module.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, mpsc};
use std::task::{Context as TaskContext, Poll};

use anyhow::{Context, Result};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde::{Deserialize, Serialize};

/// A live stream key as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredKey {
    pub id: String,
    pub account: String,
    pub name: String,
    pub stream_key: String,
    pub save: bool,
    pub kind: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// A streaming (AIOZ's session on a key) as stored. What it measured while live is stored when it
/// ends; while it is live, its figures come from its live session.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredStreaming {
    pub id: String,
    pub account: String,
    pub key_id: String,
    pub title: String,
    pub save: bool,
    /// The requested output qualities, as their JSON array.
    pub qualities: String,
    /// `created`, `live` or `ended`.
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    /// The live session publishing to it, while it is live.
    pub session_id: Option<String>,
    /// Bytes the encoder sent, its frame rate and its audio bitrate (Kbps), once ended.
    pub bytes: i64,
    pub frame_rate: f64,
    pub audio_kbps: i64,
    pub statistic_id: String,
    /// The recording, once a streaming with `save` has ended.
    pub media_id: Option<String>,
}

/// A key's multicast destinations as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMulticast {
    pub id: String,
    pub account: String,
    pub key_id: String,
    /// The destinations, as their JSON array.
    pub urls: String,
}

/// The time as it is stored and answered: RFC 3339 in UTC, to the microsecond.
pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// How a key's recordings are filtered, ordered and paged.
#[derive(Debug, Clone)]
pub struct RecordingQuery {
    pub search: Option<String>,
    pub status: Option<String>,
    pub media_status: Option<String>,
    /// An expression chosen in code: `created_at`, `updated_at`, `title` or `bytes`.
    pub sort_by: &'static str,
    pub descending: bool,
    pub limit: i64,
    pub offset: i64,
}

/// The status of a recording, the one the emulator gives every recording.
pub const RECORDING_STATUS: &str = "done";

/// How a list is filtered, ordered and paged.
#[derive(Debug, Clone)]
pub struct KeyQuery {
    pub search: Option<String>,
    /// Only keys of this type (`video` or `audio`); a key stored without a type counts as `video`.
    pub kind: &'static str,
    /// A column: `created_at`, `updated_at` or `name`.
    pub sort_by: &'static str,
    pub descending: bool,
    pub limit: i64,
    pub offset: i64,
}

/// What the handlers need from storage.
///
/// Reads answer at once. A write is queued when its method returns and answers with a [`Write`]: a
/// handler awaits it, so its thread serves other requests while the write waits for its commit.
pub trait Storage: Send + Sync + 'static {
    fn insert_key(&self, key: &StoredKey) -> Write<()>;
    fn key(&self, account: &str, id: &str) -> Result<Option<StoredKey>>;
    /// One page of the account's keys, and how many match in all.
    fn keys(&self, account: &str, query: &KeyQuery) -> Result<(Vec<StoredKey>, i64)>;
    /// Sets the name and `save` that are `Some`, keeping the others, and stamps `at`.
    fn update_key(
        &self,
        account: &str,
        id: &str,
        name: Option<&str>,
        save: Option<bool>,
        at: &str,
    ) -> Write<Option<StoredKey>>;
    fn delete_key(&self, account: &str, id: &str) -> Write<bool>;
    /// The key whose `stream_key` this is, of any account: what an RTMP publish names.
    fn key_by_stream_key(&self, stream_key: &str) -> Result<Option<StoredKey>>;

    /// Whether the key holds a streaming that has not ended, which a publish to it makes live.
    fn open_streaming(&self, key_id: &str) -> Result<bool>;
    /// Stores a new streaming, unless its key holds one that has not ended (`false`).
    fn insert_streaming(&self, streaming: &StoredStreaming) -> Write<bool>;
    /// A streaming of the account's key.
    fn streaming(&self, account: &str, key_id: &str, id: &str) -> Result<Option<StoredStreaming>>;
    /// A streaming of the account, whatever its key.
    fn streaming_by_id(&self, account: &str, id: &str) -> Result<Option<StoredStreaming>>;
    /// Every streaming of the key, newest first.
    fn streamings(&self, account: &str, key_id: &str) -> Result<Vec<StoredStreaming>>;
    /// One page of the key's recorded streamings, and how many match in all.
    fn recordings(
        &self,
        account: &str,
        key_id: &str,
        query: &RecordingQuery,
    ) -> Result<(Vec<StoredStreaming>, i64)>;
    /// Replaces a live streaming's title, `save` and qualities, and stamps `at`; `None` when it is not
    /// live (or not there).
    fn update_live_streaming(&self, streaming: &StoredStreaming) -> Write<Option<StoredStreaming>>;
    /// Deletes a streaming and its recording.
    fn delete_streaming(&self, account: &str, key_id: &str, id: &str) -> Write<bool>;
    /// The newest streaming of the key that has not ended goes live with `session_id` (a session
    /// replacing another takes its streaming over); answers its id, if the key has one.
    fn streaming_live(&self, key_id: &str, session_id: &str, at: &str) -> Write<Option<String>>;
    /// The session `session_id`, which streaming `id` went live with, has ended. If the streaming is
    /// still live on it, the streaming ends, keeping what the session measured (its bytes added to
    /// those of the sessions it replaced), and one made with `save` gets its recording, `media_id`:
    /// answers `true`. A session another took the streaming over from adds its bytes: `false`.
    fn streaming_ended(
        &self,
        id: &str,
        session_id: &str,
        at: &str,
        measured: Measured,
        media_id: &str,
    ) -> Write<bool>;
    /// Ends every live streaming: at a start, no session from before is live any more.
    fn end_live_streamings(&self, at: &str) -> Write<usize>;
    /// The key's multicast destinations, if it has any.
    fn multicast(&self, account: &str, key_id: &str) -> Result<Option<StoredMulticast>>;
    /// Replaces the key's multicast destinations, keeping the record's id; answers what is stored.
    fn upsert_multicast(&self, multicast: &StoredMulticast) -> Write<StoredMulticast>;
    /// Removes the key's multicast destinations; `false` when it had none.
    fn delete_multicast(&self, account: &str, key_id: &str) -> Write<bool>;

    /// Creates an application; `false` when the name is taken.
    fn create_application(&self, name: &str, kind: &str, ingest: Option<&str>) -> Write<bool>;
    fn delete_application(&self, name: &str) -> Write<bool>;
    /// The application's type and its ingest settings (JSON), if it exists.
    fn application(&self, name: &str) -> Result<Option<(String, Option<String>)>>;
    /// Replaces the application's ingest settings with `ingest` if they are still `expected` (as read
    /// before the change was made); `false` when another write changed them in between, so that a
    /// partial update made from a stale read never undoes one that committed first.
    fn replace_ingest(&self, name: &str, expected: Option<&str>, ingest: &str) -> Write<bool>;
    /// Creates a stream; `false` when the key is taken in the application.
    fn create_stream(&self, application: &str, key: &str, source: &str) -> Write<bool>;
    /// A stream's source (JSON: how its publisher authenticates, with the credentials).
    fn stream_source(&self, application: &str, key: &str) -> Result<Option<String>>;

    /// A value kept across restarts (generated credentials, the JWT secret).
    fn setting(&self, name: &str) -> Result<Option<String>>;
    fn set_setting(&self, name: &str, value: &str) -> Write<()>;
    /// Keeps `value` under `name` unless a value is kept there already, and answers the one kept:
    /// two processes starting on one database agree on a generated value.
    fn remember(&self, name: &str, value: &str) -> Write<String>;

    /// Back to a first start, in one transaction: every key, stream and application removed, the
    /// `applications` created again, and `settings` written (the settings not named stay).
    fn reset(
        &self,
        applications: Vec<(String, String, Option<String>)>,
        settings: Vec<(String, String)>,
    ) -> Write<()>;
}

/// What a live session measured, kept when its streaming ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measured {
    pub bytes: i64,
    pub frame_rate: f64,
    pub audio_kbps: i64,
}

/// A write that storage has taken: `.await` it for its outcome once committed, or [`Write::wait`] for
/// it outside async code. Dropping it does not cancel the write.
#[must_use = "a write's outcome tells whether it was committed"]
pub struct Write<T>(WriteState<T>);

enum WriteState<T> {
    Done(Option<Result<T>>),
    Queued(tokio::sync::oneshot::Receiver<Result<T>>),
}

impl<T> Write<T> {
    /// A write whose outcome is already known.
    pub fn done(outcome: Result<T>) -> Self {
        Self(WriteState::Done(Some(outcome)))
    }

    /// Blocks the thread until the write's outcome is known: for start-up and tests, not handlers.
    pub fn wait(self) -> Result<T> {
        futures::executor::block_on(self)
    }
}

impl<T> std::fmt::Debug for Write<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.0 {
            WriteState::Done(_) => "done",
            WriteState::Queued(_) => "queued",
        };
        f.debug_tuple("Write").field(&state).finish()
    }
}

// Nothing in a `Write` is ever pinned in place: the outcome is moved out whole.
impl<T> Unpin for Write<T> {}

impl<T> Future for Write<T> {
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Result<T>> {
        match &mut self.get_mut().0 {
            WriteState::Done(outcome) => Poll::Ready(
                outcome.take().unwrap_or_else(|| Err(anyhow::anyhow!("a write polled again"))),
            ),
            WriteState::Queued(answer) => Pin::new(answer).poll(cx).map(|answer| {
                answer.unwrap_or_else(|_| Err(anyhow::anyhow!("the database writer has stopped")))
            }),
        }
    }
}

/// Keeps `?2` under the name `?1`, replacing what was kept.
const SET_SETTING: &str = "INSERT INTO settings (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET value = ?2";

/// Each entry moves the schema one version up; the database remembers its version in `user_version`.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE live_stream_keys (
        id TEXT PRIMARY KEY, account TEXT NOT NULL, name TEXT NOT NULL, stream_key TEXT NOT NULL,
        save INTEGER NOT NULL, kind TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
     CREATE INDEX live_stream_keys_account ON live_stream_keys (account, created_at);
     CREATE TABLE applications (name TEXT PRIMARY KEY, kind TEXT NOT NULL, ingest TEXT);
     CREATE TABLE streams (application TEXT NOT NULL, stream_key TEXT NOT NULL, source TEXT NOT NULL,
        PRIMARY KEY (application, stream_key));
     CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);",
    // A page of keys in any of the three orders is read straight off an index, with no sort.
    "CREATE INDEX live_stream_keys_created ON live_stream_keys (account, created_at, id);
     CREATE INDEX live_stream_keys_updated ON live_stream_keys (account, updated_at, id);
     CREATE INDEX live_stream_keys_name ON live_stream_keys (account, name, id);
     DROP INDEX live_stream_keys_account;",
    // Keys are kept in the id's own B-tree: a rowid table had a second one beside it (the id's unique
    // index), which every create wrote to and every get searched before the row.
    "CREATE TABLE live_stream_keys_by_id (
        id TEXT PRIMARY KEY, account TEXT NOT NULL, name TEXT NOT NULL, stream_key TEXT NOT NULL,
        save INTEGER NOT NULL, kind TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)
        WITHOUT ROWID;
     INSERT INTO live_stream_keys_by_id SELECT
        id, account, name, stream_key, save, kind, created_at, updated_at FROM live_stream_keys;
     DROP TABLE live_stream_keys;
     ALTER TABLE live_stream_keys_by_id RENAME TO live_stream_keys;
     CREATE INDEX live_stream_keys_created ON live_stream_keys (account, created_at, id);
     CREATE INDEX live_stream_keys_updated ON live_stream_keys (account, updated_at, id);
     CREATE INDEX live_stream_keys_name ON live_stream_keys (account, name, id);",
    // An RTMP publish names a key by its `stream_key` alone.
    "CREATE INDEX live_stream_keys_stream_key ON live_stream_keys (stream_key);",
    // AIOZ's streamings, and the keys' multicast destinations.
    "CREATE TABLE streamings (
        id TEXT PRIMARY KEY, account TEXT NOT NULL, key_id TEXT NOT NULL, title TEXT NOT NULL,
        save INTEGER NOT NULL, qualities TEXT NOT NULL, status TEXT NOT NULL,
        created_at TEXT NOT NULL, updated_at TEXT NOT NULL, started_at TEXT, ended_at TEXT,
        session_id TEXT, bytes INTEGER NOT NULL, frame_rate REAL NOT NULL,
        audio_kbps INTEGER NOT NULL, statistic_id TEXT NOT NULL, media_id TEXT) WITHOUT ROWID;
     CREATE INDEX streamings_key ON streamings (key_id, created_at);
     CREATE INDEX streamings_session ON streamings (session_id);
     CREATE TABLE multicasts (
        key_id TEXT PRIMARY KEY, id TEXT NOT NULL, account TEXT NOT NULL, urls TEXT NOT NULL)
        WITHOUT ROWID;",
];

/// SQLite. An on-disk database has a writer thread that commits the writes waiting for it together,
/// one transaction and one `fsync` for all of them (group commit), and a few read-only connections, so
/// reads go on while a write waits for its `fsync`. An in-memory database is one connection.
pub struct Sqlite {
    writer: Writer,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
}

impl std::fmt::Debug for Sqlite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sqlite").field("readers", &self.readers.len()).finish_non_exhaustive()
    }
}

enum Writer {
    /// The one connection of an in-memory database.
    Direct(Mutex<Connection>),
    /// The queue of the writer thread.
    Batched(mpsc::Sender<Job>),
}

/// A write for the writer thread: given the connection (or `None` when the batch could not begin), it
/// does its work inside the batch's transaction and returns what to do once the batch has committed.
type Job = Box<dyn FnOnce(Option<&Connection>) -> Completion + Send>;
/// Answers a write's caller, with its result if the batch committed, or the commit's error.
type Completion = Box<dyn FnOnce(std::result::Result<(), String>) + Send>;

/// At least as many readers as a busy server has threads running handlers.
fn readers() -> usize {
    std::thread::available_parallelism().map_or(4, |cores| cores.get().max(4))
}
/// The most writes one transaction commits.
const BATCH: usize = 512;

impl Sqlite {
    /// Opens (or creates) the database at `path`; `:memory:` for a throwaway one. Runs migrations.
    pub fn open(path: &Path) -> Result<Self> {
        let in_memory = path == Path::new(":memory:");
        // SQLite takes an empty file for an empty database; here it is far more likely a database
        // that was lost, and starting afresh would hand out new credentials without a word. Another
        // emulator creating the file this moment leaves it empty for a few milliseconds only.
        let empty = || std::fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.len() == 0);
        if !in_memory && empty() {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
            while empty() && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            if empty() {
                anyhow::bail!(
                    "{} is an empty file, not a database: remove it to start with a new database, or name another with --db",
                    path.display()
                );
            }
        }
        let connection = if in_memory {
            Connection::open_in_memory()?
        } else {
            Connection::open(path).with_context(|| format!("opening {}", path.display()))?
        };
        configure(&connection)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        migrate(&connection)
            .with_context(|| format!("preparing the database {}", path.display()))?;
        if in_memory {
            return Ok(Self {
                writer: Writer::Direct(Mutex::new(connection)),
                readers: Vec::new(),
                next_reader: AtomicUsize::new(0),
            });
        }
        let readers = (0..readers())
            .map(|_| {
                let reader = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                configure(&reader)?;
                Ok(Mutex::new(reader))
            })
            .collect::<Result<_>>()
            .with_context(|| format!("opening {} for reading", path.display()))?;
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || write_batches(&connection, &queue))
            .context("starting the database writer")?;
        Ok(Self { writer: Writer::Batched(jobs), readers, next_reader: AtomicUsize::new(0) })
    }

    /// Queues a write of one statement; the answer comes once its batch is committed. In memory, it
    /// runs at once. SQLite undoes a failed statement by itself and leaves the rest of the batch, so it
    /// needs no savepoint, which would keep the original of every page the write changes.
    fn with<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Write<T> {
        self.queue(false, work)
    }

    /// Queues a write of several statements, in a savepoint of its own so that a failing one undoes
    /// the others and leaves the rest of the batch.
    fn with_savepoint<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Write<T> {
        self.queue(true, work)
    }

    fn queue<T: Send + 'static>(
        &self,
        savepoint: bool,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Write<T> {
        let jobs = match &self.writer {
            Writer::Direct(connection) => {
                return Write::done(blocking(|| Ok(work(&*lock(connection)?)?)));
            }
            Writer::Batched(jobs) => jobs,
        };
        let (answer, answered) = tokio::sync::oneshot::channel::<Result<T>>();
        let job: Job = Box::new(move |connection| {
            let outcome = match connection {
                Some(connection) if savepoint => in_savepoint(connection, work),
                Some(connection) => work(connection).map_err(Into::into),
                None => Err(anyhow::anyhow!("the write could not begin")),
            };
            Box::new(move |committed| {
                let outcome = match committed {
                    Ok(()) => outcome,
                    Err(error) => Err(anyhow::anyhow!("committing the write failed: {error}")),
                };
                let _ = answer.send(outcome);
            })
        });
        match jobs.send(job) {
            Ok(()) => Write(WriteState::Queued(answered)),
            Err(_) => Write::done(Err(anyhow::anyhow!("the database writer has stopped"))),
        }
    }

    /// Runs a read on the thread's own reader when it is free, else on any free one, else waits for
    /// its own; in memory, on the one connection. A reader used by one thread keeps its pages and
    /// statements in that core's cache: taking the first free one had two threads share reader 0.
    fn read<T>(&self, work: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        if let Writer::Direct(connection) = &self.writer {
            return blocking(|| Ok(work(&*lock(connection)?)?));
        }
        thread_local! {
            /// A number per thread, given out in turn: its reader is that number modulo the readers.
            static OWN_READER: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
        }
        let own = OWN_READER.with(|own| {
            own.get().unwrap_or_else(|| {
                let number = self.next_reader.fetch_add(1, Ordering::Relaxed);
                own.set(Some(number));
                number
            })
        }) % self.readers.len();
        if let Ok(reader) = self.readers[own].try_lock() {
            return Ok(work(&reader)?);
        }
        if let Some(reader) = self.readers.iter().find_map(|reader| reader.try_lock().ok()) {
            return Ok(work(&reader)?);
        }
        Ok(work(&*lock(&self.readers[own])?)?)
    }
}

/// The writer thread: takes every write waiting (up to [`BATCH`]), runs them in one transaction (a
/// write that fails is undone alone, and the others stay), commits, then answers them all.
fn write_batches(connection: &Connection, queue: &mpsc::Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let mut jobs = vec![first];
        while jobs.len() < BATCH {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let begun = execute_cached(connection, "BEGIN IMMEDIATE");
        // An I/O error, a full disk or a lack of memory can make SQLite roll the whole transaction
        // back; the writes after that are refused rather than run outside it, one commit each.
        let completions: Vec<Completion> = jobs
            .into_iter()
            .map(|job| job((begun.is_ok() && !connection.is_autocommit()).then_some(connection)))
            .collect();
        let committed = match begun {
            Ok(()) => execute_cached(connection, "COMMIT").map_err(|error| {
                let _ = connection.execute_batch("ROLLBACK");
                error.to_string()
            }),
            Err(error) => Err(error.to_string()),
        };
        if let Err(error) = &committed {
            tracing::error!(%error, "a batch of writes failed");
        }
        for complete in completions {
            complete(committed.clone());
        }
    }
}

/// Runs `work` in a savepoint: on an error, what it did is undone and the batch goes on.
fn in_savepoint<T>(
    connection: &Connection,
    work: impl FnOnce(&Connection) -> rusqlite::Result<T>,
) -> Result<T> {
    let run = |sql| execute_cached(connection, sql);
    run("SAVEPOINT write")?;
    match work(connection) {
        Ok(value) => {
            run("RELEASE write")?;
            Ok(value)
        }
        Err(error) => {
            run("ROLLBACK TO write")?;
            run("RELEASE write")?;
            Err(error.into())
        }
    }
}

/// Runs a statement without parameters, prepared once per connection: the savepoints around a write,
/// the writer's transaction around a batch and the snapshot around a page of keys run all the time.
fn execute_cached(connection: &Connection, sql: &str) -> rusqlite::Result<()> {
    connection.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// What every connection shares: a busy timeout, and plans that do not depend on bound values, since
/// a value the planner looked at (a `LIMIT`, say) makes SQLite prepare the statement again on every
/// run, which cost a page of keys two thirds of its time.
/// Runs the migrations the database lacks, in one `IMMEDIATE` transaction that reads the version
/// it starts from: of two processes starting on one new database, the second waits for the first
/// and then finds nothing to do. A database of a newer version than this emulator knows is refused.
fn migrate(connection: &Connection) -> Result<()> {
    connection.execute_batch("BEGIN IMMEDIATE")?;
    let migrated = (|| {
        let version: i64 = connection.pragma_query_value(None, "user_version", |row| row.get(0))?;
        let known = MIGRATIONS.len();
        let version = usize::try_from(version).unwrap_or(usize::MAX);
        if version > known {
            anyhow::bail!(
                "the database has schema version {version}, newer than this emulator's {known}: use a newer streamspec-emulator"
            );
        }
        for (index, migration) in MIGRATIONS.iter().enumerate().skip(version) {
            connection
                .execute_batch(&format!("{migration} PRAGMA user_version = {};", index + 1))
                .with_context(|| format!("migrating the database to version {}", index + 1))?;
        }
        Ok(())
    })();
    match migrated {
        Ok(()) => connection.execute_batch("COMMIT").map_err(Into::into),
        Err(error) => {
            let _ = connection.execute_batch("ROLLBACK");
            Err(error)
        }
    }
}

/// How long a statement waits for another process's lock before it fails. As long as a request may
/// take by default: a lock held for seconds delays the requests that need it, and only one held past
/// their time limit makes them fail (with a 408 from the limit, not a 500 from the database).
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

fn configure(connection: &Connection) -> rusqlite::Result<()> {
    connection.busy_timeout(BUSY_TIMEOUT)?;
    connection.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(())
}

/// Runs blocking work; on a multi-threaded runtime, tells tokio first.
fn blocking<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) if runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

fn lock(connection: &Mutex<Connection>) -> Result<std::sync::MutexGuard<'_, Connection>> {
    connection.lock().map_err(|_| anyhow::anyhow!("the database lock is poisoned"))
}

fn key_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredKey> {
    Ok(StoredKey {
        id: row.get(0)?,
        account: row.get(1)?,
        name: row.get(2)?,
        stream_key: row.get(3)?,
        save: row.get(4)?,
        kind: row.get(5)?,
        created_at: row.get(6)?,
        updated_at: row.get(7)?,
    })
}

macro_rules! streaming_columns {
    () => {
        "id, account, key_id, title, save, qualities, status, created_at, updated_at, started_at, \
         ended_at, session_id, bytes, frame_rate, audio_kbps, statistic_id, media_id"
    };
}

fn streaming_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredStreaming> {
    Ok(StoredStreaming {
        id: row.get(0)?,
        account: row.get(1)?,
        key_id: row.get(2)?,
        title: row.get(3)?,
        save: row.get(4)?,
        qualities: row.get(5)?,
        status: row.get(6)?,
        created_at: row.get(7)?,
        updated_at: row.get(8)?,
        started_at: row.get(9)?,
        ended_at: row.get(10)?,
        session_id: row.get(11)?,
        bytes: row.get(12)?,
        frame_rate: row.get(13)?,
        audio_kbps: row.get(14)?,
        statistic_id: row.get(15)?,
        media_id: row.get(16)?,
    })
}

fn select_streaming(
    connection: &Connection,
    account: &str,
    key_id: &str,
    id: &str,
) -> rusqlite::Result<Option<StoredStreaming>> {
    let sql = concat!(
        "SELECT ",
        streaming_columns!(),
        " FROM streamings WHERE account = ?1 AND key_id = ?2 AND id = ?3"
    );
    connection
        .prepare_cached(sql)?
        .query_row(params![account, key_id, id], streaming_from_row)
        .optional()
}

fn select_multicast(
    connection: &Connection,
    account: &str,
    key_id: &str,
) -> rusqlite::Result<Option<StoredMulticast>> {
    connection
        .prepare_cached(
            "SELECT id, account, key_id, urls FROM multicasts WHERE account = ?1 AND key_id = ?2",
        )?
        .query_row(params![account, key_id], |row| {
            Ok(StoredMulticast {
                id: row.get(0)?,
                account: row.get(1)?,
                key_id: row.get(2)?,
                urls: row.get(3)?,
            })
        })
        .optional()
}

// The statements are constants so `prepare_cached` parses each once per connection.
macro_rules! key_columns {
    () => {
        "id, account, name, stream_key, save, kind, created_at, updated_at"
    };
}

/// One of the account's keys, on whichever connection: a reader's for `key`, the writer's inside an
/// update.
fn select_key(
    connection: &Connection,
    account: &str,
    id: &str,
) -> rusqlite::Result<Option<StoredKey>> {
    connection
        .prepare_cached(concat!(
            "SELECT ",
            key_columns!(),
            " FROM live_stream_keys WHERE account = ?1 AND id = ?2"
        ))?
        .query_row(params![account, id], key_from_row)
        .optional()
}

impl Storage for Sqlite {
    fn insert_key(&self, key: &StoredKey) -> Write<()> {
        let key = key.clone();
        self.with(move |c| {
            c.prepare_cached(concat!(
                "INSERT INTO live_stream_keys (",
                key_columns!(),
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
            ))?
            .execute(params![
                key.id,
                key.account,
                key.name,
                key.stream_key,
                key.save,
                key.kind,
                key.created_at,
                key.updated_at
            ])
            .map(|_| ())
        })
    }

    fn key(&self, account: &str, id: &str) -> Result<Option<StoredKey>> {
        self.read(|c| select_key(c, account, id))
    }

    fn key_by_stream_key(&self, stream_key: &str) -> Result<Option<StoredKey>> {
        self.read(|c| {
            let sql = concat!(
                "SELECT ",
                key_columns!(),
                " FROM live_stream_keys WHERE stream_key = ?1 LIMIT 1"
            );
            c.prepare_cached(sql)?.query_row(params![stream_key], key_from_row).optional()
        })
    }

    fn keys(&self, account: &str, query: &KeyQuery) -> Result<(Vec<StoredKey>, i64)> {
        // `sort_by` is one of three column names chosen in code, never text from a request.
        let order = if query.descending { "DESC" } else { "ASC" };
        let search = query.search.as_deref();
        self.read(|c| {
            // Two statements rather than `?2 IS NULL OR ...`, so that the common one (no search) has the
            // plain plan; plans do not look at bound values (see `configure`). `instr`, not `LIKE`, so
            // `%` or `_` in a search need no escaping; case-insensitive for ASCII, as `LIKE` is.
            let filter = match search {
                None => "account = ?1 AND coalesce(kind, 'video') = ?5",
                Some(_) => {
                    "account = ?1 AND coalesce(kind, 'video') = ?5 AND instr(lower(name), lower(?2)) > 0"
                }
            };
            let mut count =
                c.prepare_cached(&format!("SELECT COUNT(*) FROM live_stream_keys WHERE {filter}"))?;
            let mut page = c.prepare_cached(&format!(
                "SELECT {} FROM live_stream_keys WHERE {filter}
                 ORDER BY {} {order}, id {order} LIMIT ?3 OFFSET ?4",
                key_columns!(),
                query.sort_by
            ))?;
            // One snapshot for both, so the total counts the keys the page was taken from even when
            // a write commits in between; it also takes the WAL's read lock once instead of twice.
            // `BEGIN` and `COMMIT` are prepared once, like every other statement (about 3% of a list).
            let run = |sql| execute_cached(c, sql);
            run("BEGIN")?;
            let read = (|| {
                // Every statement binds all five parameters, by number; one that a clause does not
                // use (`?2` without a search, `?3` and `?4` in the count) changes nothing.
                let bound = params![account, search, query.limit, query.offset, query.kind];
                let total: i64 = count.query_row(bound, |row| row.get(0))?;
                let keys = page.query_map(bound, key_from_row)?;
                Ok((keys.collect::<rusqlite::Result<Vec<_>>>()?, total))
            })();
            match read {
                Ok(read) => run("COMMIT").map(|()| read),
                Err(error) => {
                    let _ = run("ROLLBACK");
                    Err(error)
                }
            }
        })
    }

    fn update_key(
        &self,
        account: &str,
        id: &str,
        name: Option<&str>,
        save: Option<bool>,
        at: &str,
    ) -> Write<Option<StoredKey>> {
        let (account, id, name, at) =
            (account.to_owned(), id.to_owned(), name.map(str::to_owned), at.to_owned());
        self.with(move |c| {
            // Read, then write, rather than `UPDATE ... RETURNING`: SQLite buffers a `RETURNING`'s
            // rows in a temporary table, whose memory it allocates and frees on every run, and glibc
            // hands that back to the kernel each time (one `madvise` per update). The writer runs one
            // write at a time, so nothing comes between the two; a failed `UPDATE` changes nothing.
            let Some(mut key) = select_key(c, &account, &id)? else {
                return Ok(None);
            };
            let (name, save) = (name.unwrap_or_else(|| key.name.clone()), save.unwrap_or(key.save));
            c.prepare_cached(
                "UPDATE live_stream_keys SET name = ?3, save = ?4, updated_at = ?5
                 WHERE account = ?1 AND id = ?2",
            )?
            .execute(params![account, id, name, save, at])?;
            (key.name, key.save, key.updated_at) = (name, save, at);
            Ok(Some(key))
        })
    }

    fn delete_key(&self, account: &str, id: &str) -> Write<bool> {
        let (account, id) = (account.to_owned(), id.to_owned());
        // The key's streamings, recordings and multicast destinations go with it.
        self.with_savepoint(move |c| {
            let deleted = c
                .prepare_cached("DELETE FROM live_stream_keys WHERE account = ?1 AND id = ?2")?
                .execute(params![account, id])?;
            if deleted > 0 {
                c.prepare_cached("DELETE FROM streamings WHERE key_id = ?1")?
                    .execute(params![id])?;
                c.prepare_cached("DELETE FROM multicasts WHERE key_id = ?1")?
                    .execute(params![id])?;
            }
            Ok(deleted > 0)
        })
    }

    fn insert_streaming(&self, streaming: &StoredStreaming) -> Write<bool> {
        let s = streaming.clone();
        self.with_savepoint(move |c| {
            let open: i64 = c
                .prepare_cached(
                    "SELECT COUNT(*) FROM streamings WHERE key_id = ?1 AND status != 'ended'",
                )?
                .query_row(params![s.key_id], |row| row.get(0))?;
            if open > 0 {
                return Ok(false);
            }
            c.prepare_cached(concat!(
                "INSERT INTO streamings (",
                streaming_columns!(),
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"
            ))?
            .execute(params![
                s.id,
                s.account,
                s.key_id,
                s.title,
                s.save,
                s.qualities,
                s.status,
                s.created_at,
                s.updated_at,
                s.started_at,
                s.ended_at,
                s.session_id,
                s.bytes,
                s.frame_rate,
                s.audio_kbps,
                s.statistic_id,
                s.media_id
            ])?;
            Ok(true)
        })
    }

    fn open_streaming(&self, key_id: &str) -> Result<bool> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM streamings WHERE key_id = ?1 AND status != 'ended')",
            )?
            .query_row(params![key_id], |row| row.get(0))
        })
    }

    fn streaming(&self, account: &str, key_id: &str, id: &str) -> Result<Option<StoredStreaming>> {
        self.read(|c| select_streaming(c, account, key_id, id))
    }

    fn streaming_by_id(&self, account: &str, id: &str) -> Result<Option<StoredStreaming>> {
        self.read(|c| {
            let sql = concat!(
                "SELECT ",
                streaming_columns!(),
                " FROM streamings WHERE account = ?1 AND id = ?2"
            );
            c.prepare_cached(sql)?.query_row(params![account, id], streaming_from_row).optional()
        })
    }

    fn streamings(&self, account: &str, key_id: &str) -> Result<Vec<StoredStreaming>> {
        self.read(|c| {
            let sql = concat!(
                "SELECT ",
                streaming_columns!(),
                " FROM streamings WHERE account = ?1 AND key_id = ?2 ORDER BY created_at DESC, id DESC"
            );
            c.prepare_cached(sql)?.query_map(params![account, key_id], streaming_from_row)?.collect()
        })
    }

    fn recordings(
        &self,
        account: &str,
        key_id: &str,
        query: &RecordingQuery,
    ) -> Result<(Vec<StoredStreaming>, i64)> {
        // `sort_by` is an expression chosen in code, never text from a request.
        let order = if query.descending { "DESC" } else { "ASC" };
        let filter = "account = ?1 AND key_id = ?2 AND media_id IS NOT NULL
             AND (?3 IS NULL OR instr(lower(title), lower(?3)) > 0)
             AND (?4 IS NULL OR status = ?4) AND (?5 IS NULL OR ?5 = ?6)";
        let page = format!(
            "SELECT {} FROM streamings WHERE {filter} ORDER BY {} {order}, id {order} LIMIT ?7 OFFSET ?8",
            streaming_columns!(),
            query.sort_by,
        );
        let count = format!("SELECT COUNT(*) FROM streamings WHERE {filter}");
        self.read(|c| {
            let (search, status, media_status) =
                (&query.search, &query.status, &query.media_status);
            let rows = c
                .prepare_cached(&page)?
                .query_map(
                    params![
                        account,
                        key_id,
                        search,
                        status,
                        media_status,
                        RECORDING_STATUS,
                        query.limit,
                        query.offset
                    ],
                    streaming_from_row,
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let total = c.prepare_cached(&count)?.query_row(
                params![account, key_id, search, status, media_status, RECORDING_STATUS],
                |row| row.get(0),
            )?;
            Ok((rows, total))
        })
    }

    fn update_live_streaming(&self, streaming: &StoredStreaming) -> Write<Option<StoredStreaming>> {
        let s = streaming.clone();
        self.with(move |c| {
            let updated = c
                .prepare_cached(
                    "UPDATE streamings SET title = ?4, save = ?5, qualities = ?6, updated_at = ?7
                     WHERE account = ?1 AND key_id = ?2 AND id = ?3 AND status = 'live'",
                )?
                .execute(params![
                    s.account,
                    s.key_id,
                    s.id,
                    s.title,
                    s.save,
                    s.qualities,
                    s.updated_at
                ])?;
            if updated == 0 {
                return Ok(None);
            }
            select_streaming(c, &s.account, &s.key_id, &s.id)
        })
    }

    fn delete_streaming(&self, account: &str, key_id: &str, id: &str) -> Write<bool> {
        let (account, key_id, id) = (account.to_owned(), key_id.to_owned(), id.to_owned());
        self.with(move |c| {
            c.prepare_cached(
                "DELETE FROM streamings WHERE account = ?1 AND key_id = ?2 AND id = ?3",
            )?
            .execute(params![account, key_id, id])
            .map(|deleted| deleted > 0)
        })
    }

    fn streaming_live(&self, key_id: &str, session_id: &str, at: &str) -> Write<Option<String>> {
        let (key_id, session_id, at) = (key_id.to_owned(), session_id.to_owned(), at.to_owned());
        self.with_savepoint(move |c| {
            let found: Option<(String, String)> = c
                .prepare_cached(
                    "SELECT id, status FROM streamings WHERE key_id = ?1 AND status != 'ended'
                     ORDER BY created_at DESC, id DESC LIMIT 1",
                )?
                .query_row(params![key_id], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()?;
            let Some((id, status)) = found else { return Ok(None) };
            if status == "live" {
                // A publisher that replaces another takes its streaming over, which stays live.
                c.prepare_cached("UPDATE streamings SET session_id = ?2 WHERE id = ?1")?
                    .execute(params![id, session_id])?;
            } else {
                c.prepare_cached(
                    "UPDATE streamings SET status = 'live', session_id = ?2, started_at = ?3,
                     updated_at = ?3 WHERE id = ?1",
                )?
                .execute(params![id, session_id, at])?;
            }
            Ok(Some(id))
        })
    }

    fn streaming_ended(
        &self,
        id: &str,
        session_id: &str,
        at: &str,
        measured: Measured,
        media_id: &str,
    ) -> Write<bool> {
        let (id, session_id, at, media_id) =
            (id.to_owned(), session_id.to_owned(), at.to_owned(), media_id.to_owned());
        self.with_savepoint(move |c| {
            let ends = c
                .prepare_cached(
                    "UPDATE streamings SET status = 'ended', session_id = NULL, ended_at = ?3,
                     updated_at = ?3, bytes = bytes + ?4, frame_rate = ?5, audio_kbps = ?6,
                     media_id = CASE WHEN save THEN ?7 ELSE NULL END
                     WHERE id = ?1 AND session_id = ?2 AND status = 'live'",
                )?
                .execute(params![
                    id,
                    session_id,
                    at,
                    measured.bytes,
                    measured.frame_rate,
                    measured.audio_kbps,
                    media_id
                ])?;
            if ends == 0 {
                c.prepare_cached("UPDATE streamings SET bytes = bytes + ?2 WHERE id = ?1")?
                    .execute(params![id, measured.bytes])?;
            }
            Ok(ends > 0)
        })
    }

    fn end_live_streamings(&self, at: &str) -> Write<usize> {
        let at = at.to_owned();
        self.with(move |c| {
            c.execute(
                "UPDATE streamings SET status = 'ended', session_id = NULL, ended_at = ?1,
                 updated_at = ?1 WHERE status = 'live'",
                params![at],
            )
        })
    }

    fn multicast(&self, account: &str, key_id: &str) -> Result<Option<StoredMulticast>> {
        self.read(|c| select_multicast(c, account, key_id))
    }

    fn upsert_multicast(&self, multicast: &StoredMulticast) -> Write<StoredMulticast> {
        let m = multicast.clone();
        self.with_savepoint(move |c| {
            c.prepare_cached(
                "INSERT INTO multicasts (key_id, id, account, urls) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (key_id) DO UPDATE SET urls = ?4",
            )?
            .execute(params![m.key_id, m.id, m.account, m.urls])?;
            select_multicast(c, &m.account, &m.key_id)?.ok_or(rusqlite::Error::QueryReturnedNoRows)
        })
    }

    fn delete_multicast(&self, account: &str, key_id: &str) -> Write<bool> {
        let (account, key_id) = (account.to_owned(), key_id.to_owned());
        self.with(move |c| {
            c.prepare_cached("DELETE FROM multicasts WHERE account = ?1 AND key_id = ?2")?
                .execute(params![account, key_id])
                .map(|deleted| deleted > 0)
        })
    }

    fn create_application(&self, name: &str, kind: &str, ingest: Option<&str>) -> Write<bool> {
        let (name, kind, ingest) = (name.to_owned(), kind.to_owned(), ingest.map(str::to_owned));
        self.with(move |c| {
            c.execute(
                "INSERT OR IGNORE INTO applications (name, kind, ingest) VALUES (?1, ?2, ?3)",
                params![name, kind, ingest],
            )
            .map(|inserted| inserted > 0)
        })
    }

    fn delete_application(&self, name: &str) -> Write<bool> {
        let name = name.to_owned();
        self.with_savepoint(move |c| {
            c.execute("DELETE FROM streams WHERE application = ?1", params![name])?;
            c.execute("DELETE FROM applications WHERE name = ?1", params![name])
                .map(|deleted| deleted > 0)
        })
    }

    fn application(&self, name: &str) -> Result<Option<(String, Option<String>)>> {
        self.read(|c| {
            c.prepare_cached("SELECT kind, ingest FROM applications WHERE name = ?1")?
                .query_row(params![name], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()
        })
    }

    fn replace_ingest(&self, name: &str, expected: Option<&str>, ingest: &str) -> Write<bool> {
        let (name, expected, ingest) =
            (name.to_owned(), expected.map(str::to_owned), ingest.to_owned());
        self.with(move |c| {
            c.prepare_cached(
                "UPDATE applications SET ingest = ?3 WHERE name = ?1 AND ingest IS ?2",
            )?
            .execute(params![name, expected, ingest])
            .map(|replaced| replaced > 0)
        })
    }

    fn create_stream(&self, application: &str, key: &str, source: &str) -> Write<bool> {
        let (application, key, source) =
            (application.to_owned(), key.to_owned(), source.to_owned());
        self.with(move |c| {
            c.execute(
                "INSERT OR IGNORE INTO streams (application, stream_key, source) VALUES (?1, ?2, ?3)",
                params![application, key, source],
            )
            .map(|inserted| inserted > 0)
        })
    }

    fn stream_source(&self, application: &str, key: &str) -> Result<Option<String>> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT source FROM streams WHERE application = ?1 AND stream_key = ?2",
            )?
            .query_row(params![application, key], |row| row.get(0))
            .optional()
        })
    }

    fn setting(&self, name: &str) -> Result<Option<String>> {
        self.read(|c| {
            c.query_row("SELECT value FROM settings WHERE name = ?1", params![name], |row| {
                row.get(0)
            })
            .optional()
        })
    }

    fn remember(&self, name: &str, value: &str) -> Write<String> {
        let (name, value) = (name.to_owned(), value.to_owned());
        self.with_savepoint(move |c| {
            c.execute(
                "INSERT INTO settings (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
                params![name, value],
            )?;
            c.query_row("SELECT value FROM settings WHERE name = ?1", params![name], |row| {
                row.get(0)
            })
        })
    }

    fn set_setting(&self, name: &str, value: &str) -> Write<()> {
        let (name, value) = (name.to_owned(), value.to_owned());
        self.with(move |c| c.execute(SET_SETTING, params![name, value]).map(|_| ()))
    }

    fn reset(
        &self,
        applications: Vec<(String, String, Option<String>)>,
        settings: Vec<(String, String)>,
    ) -> Write<()> {
        self.with_savepoint(move |c| {
            c.execute("DELETE FROM live_stream_keys", [])?;
            c.execute("DELETE FROM streamings", [])?;
            c.execute("DELETE FROM multicasts", [])?;
            c.execute("DELETE FROM streams", [])?;
            c.execute("DELETE FROM applications", [])?;
            for (name, kind, ingest) in &applications {
                c.execute(
                    "INSERT INTO applications (name, kind, ingest) VALUES (?1, ?2, ?3)",
                    params![name, kind, ingest],
                )?;
            }
            for (name, value) in &settings {
                c.execute(SET_SETTING, params![name, value])?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A path for a new database file, in a directory of this test process's own.
    fn fresh_database(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("streamspec-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("db.sqlite");
        let _ = std::fs::remove_file(&path);
        path
    }

    fn key(id: &str, name: &str, at: &str) -> StoredKey {
        StoredKey {
            id: id.into(),
            account: "a".into(),
            name: name.into(),
            stream_key: "s".into(),
            save: false,
            kind: None,
            created_at: at.into(),
            updated_at: at.into(),
        }
    }

    fn streaming(id: &str, key_id: &str, save: bool) -> StoredStreaming {
        StoredStreaming {
            id: id.into(),
            account: "a".into(),
            key_id: key_id.into(),
            title: "show".into(),
            save,
            qualities: "[]".into(),
            status: "created".into(),
            created_at: format!("2026-01-01T00:00:0{id}Z"),
            updated_at: "2026-01-01T00:00:00Z".into(),
            started_at: None,
            ended_at: None,
            session_id: None,
            bytes: 0,
            frame_rate: 0.0,
            audio_kbps: 0,
            statistic_id: format!("stat-{id}"),
            media_id: None,
        }
    }

    /// A publish makes the key's open streaming live, a replacing publisher takes it over, only the
    /// session it is live on ends it, and a start ends what a crash left live.
    #[test]
    fn a_streaming_goes_live_with_a_session_and_ends_with_it() {
        let path = fresh_database("streamings");
        let store = Sqlite::open(&path).unwrap();
        let get = |id: &str| store.streaming("a", "k", id).unwrap().unwrap();
        assert!(store.insert_streaming(&streaming("1", "k", true)).wait().unwrap());
        assert!(!store.insert_streaming(&streaming("2", "k", true)).wait().unwrap(), "one open");
        assert_eq!(
            store.streaming_live("k", "s1", "2026-01-01T00:01:00Z").wait().unwrap(),
            Some("1".into())
        );
        assert_eq!(
            store.streaming_live("k", "s2", "2026-01-01T00:02:00Z").wait().unwrap(),
            Some("1".into())
        );
        let live = get("1");
        assert_eq!((live.status.as_str(), live.session_id.as_deref()), ("live", Some("s2")));
        assert_eq!(
            live.started_at.as_deref(),
            Some("2026-01-01T00:01:00Z"),
            "taken over, not restarted"
        );
        let measured = Measured { bytes: 10, frame_rate: 25.0, audio_kbps: 128 };
        let at = "2026-01-01T00:03:00Z";
        // The session taken over adds its bytes and ends nothing; the one live on it ends it.
        assert!(!store.streaming_ended("1", "s1", at, measured, "m").wait().unwrap());
        assert_eq!(get("1").status, "live");
        assert!(store.streaming_ended("1", "s2", at, measured, "m").wait().unwrap());
        let ended = get("1");
        assert_eq!(
            (ended.status.as_str(), ended.bytes, ended.media_id.as_deref()),
            ("ended", 20, Some("m"))
        );

        // A streaming left live by a process that died is ended at the next start.
        assert!(store.insert_streaming(&streaming("3", "k", false)).wait().unwrap());
        store.streaming_live("k", "s3", at).wait().unwrap();
        drop(store);
        let store = Sqlite::open(&path).unwrap();
        assert_eq!(store.end_live_streamings("2026-01-01T00:04:00Z").wait().unwrap(), 1);
        let ended = store.streaming("a", "k", "3").unwrap().unwrap();
        assert_eq!((ended.status.as_str(), ended.media_id), ("ended", None));
        let query = RecordingQuery {
            search: None,
            status: None,
            media_status: None,
            sort_by: "created_at",
            descending: true,
            limit: 10,
            offset: 0,
        };
        let (recorded, total) = store.recordings("a", "k", &query).unwrap();
        assert_eq!((recorded.len(), total), (1, 1), "only the one with `save` has a recording");
    }

    #[test]
    fn keys_page_sort_and_search() {
        let store = Sqlite::open(Path::new(":memory:")).unwrap();
        store.insert_key(&key("1", "alpha", "2026-01-01")).wait().unwrap();
        store.insert_key(&key("2", "beta_1", "2026-01-02")).wait().unwrap();
        store.insert_key(&key("3", "gamma", "2026-01-03")).wait().unwrap();
        let query = KeyQuery {
            search: None,
            kind: "video",
            sort_by: "created_at",
            descending: true,
            limit: 2,
            offset: 0,
        };
        let (page, total) = store.keys("a", &query).unwrap();
        assert_eq!(
            (page.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(), total),
            (vec!["3", "2"], 3)
        );
        let query = KeyQuery { search: Some("_".into()), ..query };
        let (page, total) = store.keys("a", &query).unwrap();
        assert_eq!((page.len(), total), (1, 1), "`_` matches literally");
        assert_eq!(
            store.keys("b", &KeyQuery { search: None, ..query }).unwrap().1,
            0,
            "accounts are apart"
        );
        let audio = StoredKey { kind: Some("audio".into()), ..key("4", "delta", "2026-01-04") };
        store.insert_key(&audio).wait().unwrap();
        let video = store.keys("a", &KeyQuery { search: None, ..query.clone() }).unwrap();
        assert_eq!(video.1, 3, "a key stored without a type counts as video, the audio key not");
        let only_audio =
            store.keys("a", &KeyQuery { search: None, kind: "audio", ..query }).unwrap();
        assert_eq!(
            (only_audio.0.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(), only_audio.1),
            (vec!["4"], 1)
        );
    }

    #[test]
    fn an_update_keeps_what_it_leaves_out() {
        let store = Sqlite::open(Path::new(":memory:")).unwrap();
        store.insert_key(&key("1", "alpha", "2026-01-01")).wait().unwrap();
        let saved = store.update_key("a", "1", None, Some(true), "2026-01-02").wait().unwrap();
        let saved = saved.unwrap();
        assert_eq!((saved.name.as_str(), saved.save), ("alpha", true));
        let renamed = store.update_key("a", "1", Some("beta"), None, "2026-01-03").wait().unwrap();
        assert_eq!(renamed.as_ref().map(|k| (k.name.as_str(), k.save)), Some(("beta", true)));
        let stored = store.key("a", "1").unwrap().unwrap();
        assert_eq!(
            (stored.name.as_str(), stored.save, stored.updated_at.as_str()),
            ("beta", true, "2026-01-03")
        );
    }

    #[test]
    fn readers_see_every_answered_write() {
        let path = fresh_database("readers");
        let store = Sqlite::open(&path).unwrap();
        assert_eq!(
            store.readers.len(),
            readers(),
            "an on-disk database reads on its own connections"
        );
        for round in 0..20 {
            let name = format!("name {round}");
            store.insert_key(&key(&round.to_string(), &name, "2026-01-01")).wait().unwrap();
            assert_eq!(store.key("a", &round.to_string()).unwrap().unwrap().name, name);
            store
                .update_key("a", &round.to_string(), Some("renamed"), Some(true), "2026-01-02")
                .wait()
                .unwrap();
            assert_eq!(store.key("a", &round.to_string()).unwrap().unwrap().name, "renamed");
        }
        assert!(store.delete_key("a", "0").wait().unwrap());
        assert_eq!(store.key("a", "0").unwrap(), None);
    }

    #[test]
    fn a_failing_write_leaves_the_rest_of_its_batch() {
        let path = fresh_database("batch");
        let store = std::sync::Arc::new(Sqlite::open(&path).unwrap());
        store.insert_key(&key("taken", "first", "2026-01-01")).wait().unwrap();
        // Many writers at once, so batches hold several writes; every third one reuses an id.
        let outcomes: Vec<(usize, bool)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..60)
                .map(|n| {
                    let store = store.clone();
                    scope.spawn(move || {
                        let id = if n % 3 == 0 { "taken".to_owned() } else { format!("k{n}") };
                        (n, store.insert_key(&key(&id, "x", "2026-01-02")).wait().is_ok())
                    })
                })
                .collect();
            handles.into_iter().map(|handle| handle.join().unwrap()).collect()
        });
        for (n, ok) in outcomes {
            assert_eq!(ok, n % 3 != 0, "write {n}");
        }
        let query = KeyQuery {
            search: None,
            kind: "video",
            sort_by: "created_at",
            descending: false,
            limit: 100,
            offset: 0,
        };
        assert_eq!(store.keys("a", &query).unwrap().1, 41, "40 new keys and the first");
        assert_eq!(store.key("a", "taken").unwrap().unwrap().name, "first");
    }

    /// A handler cut off by the request time limit drops its write unawaited; the write still lands.
    #[tokio::test]
    async fn a_write_commits_whether_or_not_it_is_awaited() {
        let path = fresh_database("dropped");
        let store = Sqlite::open(&path).unwrap();
        drop(store.insert_key(&key("dropped", "x", "2026-01-01")));
        // The writer takes writes in order, so once a later one is answered the first is committed.
        store.insert_key(&key("awaited", "y", "2026-01-01")).await.unwrap();
        assert_eq!(store.key("a", "dropped").unwrap().unwrap().name, "x");
        assert!(matches!(
            store.insert_key(&key("dropped", "again", "2026-01-02")).await,
            Err(error) if error.to_string().contains("UNIQUE")
        ));
    }

    /// A database made before the keys moved into the id's own B-tree keeps its keys and indexes.
    #[test]
    fn migrating_a_rowid_table_keeps_its_keys() {
        let path = fresh_database("migrate");
        {
            let old = Connection::open(&path).unwrap();
            for migration in &MIGRATIONS[..2] {
                old.execute_batch(migration).unwrap();
            }
            old.execute_batch(
                "PRAGMA user_version = 2;
                 INSERT INTO live_stream_keys VALUES ('1', 'a', 'kept', 's', 1, 'video', 't0', 't1');",
            )
            .unwrap();
        }
        let store = Sqlite::open(&path).unwrap();
        let kept = store.key("a", "1").unwrap().unwrap();
        assert_eq!((kept.name.as_str(), kept.save, kept.updated_at.as_str()), ("kept", true, "t1"));
        let schema: Vec<String> = store
            .read(|c| {
                c.prepare(
                    "SELECT sql FROM sqlite_master WHERE tbl_name = 'live_stream_keys'
                     ORDER BY type = 'table' DESC",
                )?
                .query_map([], |row| row.get::<_, Option<String>>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .unwrap()
            .into_iter()
            .flatten()
            .collect();
        assert!(schema[0].ends_with("WITHOUT ROWID"), "{schema:?}");
        for index in [
            "live_stream_keys_created",
            "live_stream_keys_updated",
            "live_stream_keys_name",
            "live_stream_keys_stream_key",
        ] {
            assert!(schema.iter().any(|sql| sql.contains(index)), "{index} in {schema:?}");
        }
        assert!(store.insert_key(&key("1", "again", "t2")).wait().is_err(), "ids stay unique");
        assert_eq!(store.key_by_stream_key("s").unwrap().map(|key| key.id), Some("1".to_owned()));
        assert_eq!(store.key_by_stream_key("t").unwrap(), None);
    }

    #[test]
    fn data_survives_reopening() {
        let path = fresh_database("store");
        Sqlite::open(&path).unwrap().insert_key(&key("1", "kept", "2026-01-01")).wait().unwrap();
        let reopened = Sqlite::open(&path).unwrap();
        assert_eq!(reopened.key("a", "1").unwrap().unwrap().name, "kept");
    }
}
