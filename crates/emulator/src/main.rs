//! `streamspec-emulator`: AIOZ Stream live stream keys and Storm's REST API on one local port.
//!
//! Run with: cargo run --release -p streamspec-emulator -- --help

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use streamspec_emulator::{Config, Emulator};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "streamspec-emulator",
    version,
    about = "A local stand-in for AIOZ Stream and Storm Streaming Server"
)]
struct Args {
    /// Where to listen [default: 127.0.0.1:8080]
    #[arg(long, env = "STREAMSPEC_LISTEN")]
    listen: Option<SocketAddr>,
    /// Where to listen for RTMP publishers [default: 127.0.0.1:1935]
    #[arg(long, env = "STREAMSPEC_RTMP_LISTEN", conflicts_with = "no_rtmp")]
    rtmp_listen: Option<SocketAddr>,
    /// Do not listen for RTMP publishers
    #[arg(long)]
    no_rtmp: bool,
    /// How many threads serve requests [default: one per core]
    #[arg(long, env = "STREAMSPEC_THREADS")]
    threads: Option<NonZeroUsize>,
    /// The SQLite database; `:memory:` for a throwaway run [default: streamspec.sqlite]
    #[arg(long, env = "STREAMSPEC_DB")]
    db: Option<PathBuf>,
    /// A TOML configuration file (accounts, users, API key, limits)
    #[arg(long, env = "STREAMSPEC_CONFIG")]
    config: Option<PathBuf>,
    /// Also validate every response against the spec
    #[arg(long, env = "STREAMSPEC_DEBUG")]
    debug: bool,
    /// At start, write the credentials as JSON to this file (what `GET /_emulator/credentials`
    /// answers), readable by its owner only
    #[arg(long, env = "STREAMSPEC_CREDENTIALS_FILE")]
    credentials_file: Option<PathBuf>,
    /// At start, print the credentials in this format on standard output, in place of the banner,
    /// which goes to standard error
    #[arg(long, value_enum)]
    print_credentials: Option<CredentialsFormat>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum CredentialsFormat {
    /// One line of JSON, as `GET /_emulator/credentials` answers.
    Json,
}

// This runtime only accepts connections and waits for a signal: the requests run on threads of
// their own (`Emulator::serve_on_threads`).
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    // A line per request: tracing-appender's thread writes them, so a handler never waits for
    // stderr. Not lossy: when that thread falls behind, logging waits rather than dropping lines;
    // the guard writes what is left when `main` returns.
    let (log, _flushed_on_exit) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("log-writer")
        .finish(std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("STREAMSPEC_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(log)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    let mut config = match &args.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    config.listen = args.listen.unwrap_or(config.listen);
    config.rtmp_listen = args.rtmp_listen.unwrap_or(config.rtmp_listen);
    config.rtmp &= !args.no_rtmp;
    config.threads = args.threads.or(config.threads);
    config.db = args.db.unwrap_or(config.db);
    config.debug |= args.debug;

    // Idle clients cost a file descriptor each: take every one the system allows before anything
    // else opens one, so the connection ceiling can be as high as configured.
    match streamspec_emulator::raise_open_files_limit() {
        Ok(limit) => tracing::debug!(limit, "open-files limit"),
        Err(error) => tracing::warn!(%error, "the open-files limit could not be read or raised"),
    }
    let emulator = Emulator::new(&config)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let address = listener.local_addr()?;
    let rtmp = match config.rtmp {
        true => {
            let listener = tokio::net::TcpListener::bind(config.rtmp_listen).await.with_context(|| {
                format!(
                    "listening for RTMP on {} (choose another address with --rtmp-listen, or none with --no-rtmp)",
                    config.rtmp_listen
                )
            })?;
            let address = listener.local_addr()?;
            // Keys' `rtmp_url` names the bound address from now on.
            Some((emulator.rtmp(address), listener, address))
        }
        false => None,
    };
    let rtmp_address = rtmp.as_ref().map(|(_, _, address)| *address);
    let document = serde_json::to_string(&emulator.credentials_document(address))?;
    if let Some(path) = &args.credentials_file {
        write_private(path, &document)
            .with_context(|| format!("writing the credentials to {}", path.display()))?;
    }
    match args.print_credentials {
        Some(CredentialsFormat::Json) => {
            println!("{document}");
            print_banner(
                &mut std::io::stderr().lock(),
                (address, rtmp_address),
                &config,
                emulator.credentials(),
            )?;
        }
        None => print_banner(
            &mut std::io::stdout().lock(),
            (address, rtmp_address),
            &config,
            emulator.credentials(),
        )?,
    }
    let threads = config
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN));
    // One signal stops both listeners; each serves its connections on threads of its own.
    let (stop, stopped) = tokio::sync::watch::channel(());
    let signalled = async move {
        shutdown_signal().await;
        let _ = stop.send(());
    };
    let when_stopped = |mut stopped: tokio::sync::watch::Receiver<()>| async move {
        let _ = stopped.changed().await;
    };
    let rtmp = async {
        match rtmp {
            Some((ingest, listener, _)) => {
                ingest.serve_on_threads(listener, threads, when_stopped(stopped.clone())).await
            }
            None => Ok(()),
        }
    };
    let http = emulator.serve_on_threads(listener, threads, when_stopped(stopped.clone()));
    tokio::spawn(signalled);
    // The first to fail stops the other.
    tokio::try_join!(http, rtmp)?;
    tracing::info!("stopped");
    Ok(())
}

/// Where to send requests, and the development credentials to send (this is a local emulator: printing
/// them is the point; they never appear in the request log).
fn print_banner(
    out: &mut dyn std::io::Write,
    (address, rtmp): (SocketAddr, Option<SocketAddr>),
    config: &Config,
    credentials: &streamspec_emulator::Credentials,
) -> std::io::Result<()> {
    writeln!(
        out,
        "streamspec-emulator listening on http://{address} (database {})",
        config.db.display()
    )?;
    for note in &credentials.set_aside {
        writeln!(out, "note: {note}")?;
    }
    if config.debug {
        writeln!(
            out,
            "debug is on: every response is validated against the spec as well; one that breaks it is answered 500 and logged"
        )?;
    }
    writeln!(out)?;
    writeln!(out, "AIOZ Stream: base URL http://{address}/api")?;
    for account in &credentials.aioz_accounts {
        writeln!(out, "  account {}", account.user_id)?;
        writeln!(out, "    Authorization: Bearer {}", account.token)?;
        writeln!(
            out,
            "    stream-public-key: {}  stream-secret-key: {}",
            account.public_key, account.secret_key
        )?;
    }
    writeln!(out)?;
    writeln!(out, "Storm Streaming Server: base URL http://{address}")?;
    for user in &credentials.storm_users {
        writeln!(
            out,
            "  POST /api/auth/login {{\"username\": \"{}\", \"password\": \"{}\"}}",
            user.username, user.password
        )?;
    }
    writeln!(out, "  X-Api-Key: {}", credentials.storm_api_key)?;
    writeln!(
        out,
        "  at most {} login attempts a minute per client address (`login_attempts_per_minute`)",
        config.login_attempts_per_minute
    )?;
    writeln!(out)?;
    match rtmp {
        Some(rtmp) => {
            writeln!(out, "RTMP ingest: rtmp://{rtmp}")?;
            writeln!(out, "  AIOZ: publish to a key's rtmp_url + \"/\" + its stream_key")?;
            writeln!(
                out,
                "  Storm: rtmp://{rtmp}/<application>/<stream key>?username=..&password=.. (or ?token=.., ?secret=..)"
            )?;
            writeln!(out, "  live sessions: http://{address}/_emulator/sessions")?;
        }
        None => writeln!(out, "RTMP ingest: off")?,
    }
    writeln!(out)?;
    writeln!(out, "Emulator control: http://{address}/_emulator/health, /_emulator/credentials")?;
    if !address.ip().is_loopback() {
        writeln!(
            out,
            "  not a loopback address: send X-Emulator-Token: {}",
            credentials.control_token
        )?;
    }
    writeln!(out)?;
    Ok(())
}

/// Writes `text` to `path` through a file beside it, readable by its owner only, renamed into place:
/// a reader never sees half of it.
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&partial)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    std::fs::rename(&partial, path)
}

/// Ctrl-C or SIGTERM; the server then finishes the requests in flight.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
