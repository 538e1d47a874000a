//! `streamspec-conformance`: check JSON payloads against streamspec's specs from the command line.
//!
//! ```text
//! streamspec-conformance validate --api aioz --schema LiveStreamKey key.json
//! streamspec-conformance validate --api storm --operation update_ingest_settings --request body.json
//! streamspec-conformance validate --api aioz --operation get_live_stream_key --response 404 - < error.json
//! streamspec-conformance validate --api aioz --schema LiveStreamKey --jsonl keys.jsonl --format json
//! streamspec-conformance list
//! streamspec-conformance proxy --api aioz --upstream https://api.aiozstream.network --listen 127.0.0.1:8082
//! ```
//!
//! Exit status: 0 when every payload conforms, 1 when any does not (or is not JSON), 2 on a usage error.
//! `proxy` runs until Ctrl-C or SIGTERM, prints its summary on standard error, and exits 1 when it saw
//! a violation and `--fail-on-violation` is set.

use std::io::Read;
use std::process::ExitCode;

use clap::{ArgGroup, Parser, Subcommand, ValueEnum};
use serde_json::{Value, json};
use streamspec_conformance::proxy::{Proxy, ProxyOptions, Summary};
use streamspec_conformance::{Api, Catalog, Schema, Violation};

/// Prints a line; a closed pipe (`| head`) ends the program quietly instead of panicking.
macro_rules! emit {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(error) = writeln!(std::io::stdout().lock(), $($arg)*) {
            if error.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            eprintln!("error: writing the output: {error}");
            std::process::exit(2);
        }
    }};
}

#[derive(Parser)]
#[command(
    name = "streamspec-conformance",
    version,
    about = "Check JSON payloads against the AIOZ Stream and Storm specs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate payloads (files, or `-` for standard input) against a schema or an operation.
    #[command(group(ArgGroup::new("target").required(true).args(["schema", "operation"])))]
    #[command(group(ArgGroup::new("direction").args(["request", "response"])))]
    Validate {
        /// The API: `aioz`, `storm` or `emulator`.
        #[arg(long)]
        api: Api,
        /// A component schema (`LiveStreamKey`) or variant (`LiveStreamKey.response`).
        #[arg(long)]
        schema: Option<String>,
        /// An operation (`update_ingest_settings`); with `--request` or `--response STATUS`.
        #[arg(long, requires = "direction")]
        operation: Option<String>,
        /// Validate the operation's request body.
        #[arg(long, requires = "operation")]
        request: bool,
        /// Validate the operation's response body with this status.
        #[arg(long, value_name = "STATUS", requires = "operation")]
        response: Option<u16>,
        /// Read every file as JSON Lines: one payload per line (implied by a `.jsonl` name).
        #[arg(long)]
        jsonl: bool,
        /// `human` (default) or `json` (one JSON object per payload, for machines).
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// The payload files; `-` is standard input.
        #[arg(required = true)]
        files: Vec<String>,
    },
    /// Forward every request to an upstream unchanged, check requests and responses against the
    /// spec, and report each exchange that breaks it as a JSON line.
    Proxy {
        /// The API the upstream serves: `aioz` or `storm`.
        #[arg(long)]
        api: Api,
        /// The upstream's origin, such as `https://api.aiozstream.network` or `http://127.0.0.1:8080`
        /// (https needs the `rustls` feature); requests keep their own paths.
        #[arg(long)]
        upstream: String,
        /// Where to listen.
        #[arg(long, default_value = "127.0.0.1:8082")]
        listen: std::net::SocketAddr,
        /// Also trust the certificate authorities in this PEM file for an `https` upstream (a
        /// staging server with a private CA, say); the system's roots stay trusted.
        #[arg(long, value_name = "FILE")]
        upstream_ca: Option<std::path::PathBuf>,
        /// Answer a request that breaks the contract with the API's 400 instead of forwarding it.
        #[arg(long)]
        enforce: bool,
        /// Add `x-streamspec-violations` (their number and pointers) to an answer that broke it.
        #[arg(long)]
        header: bool,
        /// Write each answer as a fixture of the evidence corpus (credentials replaced) into DIR.
        #[arg(long, value_name = "DIR")]
        record: Option<std::path::PathBuf>,
        /// Write the JSON Lines reports to FILE instead of standard output.
        #[arg(long, value_name = "FILE")]
        report: Option<std::path::PathBuf>,
        /// Exit 1 when any exchange broke the contract.
        #[arg(long)]
        fail_on_violation: bool,
        /// The largest request or response body copied for the check, in bytes; a larger one
        /// passes unchecked (with `--enforce`, a larger request is answered 413).
        #[arg(long, default_value_t = 16 << 20)]
        body_limit: usize,
        /// Threads serving exchanges. One costs the least per exchange and serves thousands a
        /// second; more spread a heavy load over more cores.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
        threads: u16,
    },
    /// List every schema and operation.
    List {
        /// Only this API.
        #[arg(long)]
        api: Option<Api>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Human,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let catalog = Catalog::get();
    match cli.command {
        Command::Proxy {
            api,
            upstream,
            listen,
            upstream_ca,
            enforce,
            header,
            record,
            report,
            fail_on_violation,
            body_limit,
            threads,
        } => {
            let options = ProxyOptions { enforce, header, record, body_limit, report };
            match proxy(api, &upstream, listen, upstream_ca.as_deref(), options, threads) {
                Ok(summary) => {
                    eprintln!("{}", json!({"summary": summary}));
                    if fail_on_violation && summary.violations > 0 {
                        ExitCode::from(1)
                    } else {
                        ExitCode::SUCCESS
                    }
                }
                Err(message) => {
                    eprintln!("error: {message}");
                    ExitCode::from(2)
                }
            }
        }
        Command::List { api } => {
            for api in Api::ALL.into_iter().filter(|each| api.is_none_or(|only| only == *each)) {
                for schema in catalog.schemas(api) {
                    emit!("{api} schema {}", schema.name());
                }
                for operation in catalog.operations(api) {
                    let statuses: Vec<String> =
                        operation.statuses().map(|s| s.to_string()).collect();
                    let request = if operation.request().is_some() { " request" } else { "" };
                    emit!(
                        "{api} operation {} {} {}{request} responses {}",
                        operation.id(),
                        operation.method(),
                        operation.path(),
                        statuses.join(",")
                    );
                }
            }
            ExitCode::SUCCESS
        }
        Command::Validate { api, schema, operation, request, response, jsonl, format, files } => {
            let target = match resolve(catalog, api, schema, operation, request, response) {
                Ok(target) => target,
                Err(message) => {
                    eprintln!("error: {message}");
                    return ExitCode::from(2);
                }
            };
            let mut all_valid = true;
            for file in &files {
                let text = match read(file) {
                    Ok(text) => text,
                    Err(message) => {
                        eprintln!("error: {file}: {message}");
                        return ExitCode::from(2);
                    }
                };
                let payloads: Vec<(String, &str)> = if jsonl || file.ends_with(".jsonl") {
                    text.lines()
                        .enumerate()
                        .filter(|(_, line)| !line.trim().is_empty())
                        .map(|(index, line)| (format!("{file}:{}", index + 1), line))
                        .collect()
                } else {
                    vec![(file.clone(), text.as_str())]
                };
                for (source, payload) in payloads {
                    let verdict = match serde_json::from_str::<Value>(payload) {
                        Ok(value) => target.validate(&value),
                        Err(error) => Err(vec![Violation {
                            pointer: String::new(),
                            keyword: "json".to_owned(),
                            message: format!("not valid JSON: {error}"),
                        }]),
                    };
                    all_valid &= verdict.is_ok();
                    report(format, &source, target.name(), &verdict);
                }
            }
            if all_valid { ExitCode::SUCCESS } else { ExitCode::from(1) }
        }
    }
}

/// Runs the proxy until Ctrl-C or SIGTERM; answers its summary.
fn proxy(
    api: Api,
    upstream: &str,
    listen: std::net::SocketAddr,
    upstream_ca: Option<&std::path::Path>,
    options: ProxyOptions,
    threads: u16,
) -> Result<Summary, String> {
    let origin = upstream.parse().map_err(|error| format!("--upstream `{upstream}`: {error}"))?;
    let client = match upstream_ca {
        None => reqwest::Client::builder(),
        Some(path) => trusting(path)?,
    };
    let proxy =
        Proxy::with_client(api, origin, options, client).map_err(|error| error.to_string())?;
    // One thread runs an exchange's two connections without handing work between threads.
    let runtime = match threads {
        1 => tokio::runtime::Builder::new_current_thread().enable_all().build(),
        threads => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(usize::from(threads))
            .enable_all()
            .build(),
    };
    let runtime = runtime.map_err(|error| error.to_string())?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|error| format!("--listen {listen}: {error}"))?;
        let bound = listener.local_addr().map_err(|error| error.to_string())?;
        eprintln!(
            "streamspec-conformance proxy: {api} on http://{bound}, forwarding to {upstream}"
        );
        proxy.serve(listener, stopped()).await.map_err(|error| error.to_string())
    })
}

/// An HTTP client that also trusts the certificate authorities in the PEM file at `path`.
#[cfg(feature = "rustls")]
fn trusting(path: &std::path::Path) -> Result<reqwest::ClientBuilder, String> {
    let pem = std::fs::read(path)
        .map_err(|error| format!("--upstream-ca {}: {error}", path.display()))?;
    let roots = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|error| format!("--upstream-ca {}: {error}", path.display()))?;
    if roots.is_empty() {
        return Err(format!("--upstream-ca {}: no PEM certificate in it", path.display()));
    }
    Ok(reqwest::Client::builder().tls_certs_merge(roots))
}

#[cfg(not(feature = "rustls"))]
fn trusting(_: &std::path::Path) -> Result<reqwest::ClientBuilder, String> {
    Err("--upstream-ca needs TLS: build with the `rustls` feature \
         (`cargo install --path crates/conformance --features rustls`)"
        .to_owned())
}

/// Completes at Ctrl-C or SIGTERM.
async fn stopped() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(terminate) => terminate,
                Err(_) => return interrupt.await,
            };
        tokio::select! {
            () = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    interrupt.await;
}

fn resolve(
    catalog: &Catalog,
    api: Api,
    schema: Option<String>,
    operation: Option<String>,
    request: bool,
    response: Option<u16>,
) -> Result<&Schema, String> {
    if let Some(name) = schema {
        return catalog.schema(api, &name).ok_or_else(|| {
            format!("{api} has no schema `{name}` (run `streamspec-conformance list --api {api}`)")
        });
    }
    let id = operation.unwrap_or_default();
    let found = catalog.operation(api, &id).ok_or_else(|| {
        format!("{api} has no operation `{id}` (run `streamspec-conformance list --api {api}`)")
    })?;
    match (request, response) {
        (true, _) => found.request().ok_or_else(|| format!("`{id}` has no request body")),
        (false, Some(status)) => found.response(status).ok_or_else(|| {
            let documented: Vec<String> = found.statuses().map(|s| s.to_string()).collect();
            format!(
                "`{id}` documents no body for status {status} (it documents {})",
                documented.join(", ")
            )
        }),
        (false, None) => Err("say `--request` or `--response STATUS`".to_owned()),
    }
}

fn read(file: &str) -> Result<String, String> {
    if file == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map_err(|error| error.to_string())?;
        Ok(text)
    } else {
        std::fs::read_to_string(file).map_err(|error| error.to_string())
    }
}

fn report(format: Format, source: &str, schema: &str, verdict: &Result<(), Vec<Violation>>) {
    match (format, verdict) {
        (Format::Human, Ok(())) => emit!("{source}: ok ({schema})"),
        (Format::Human, Err(violations)) => {
            for violation in violations {
                let pointer = if violation.pointer.is_empty() { "/" } else { &violation.pointer };
                emit!("{source}: {pointer}: {}", violation.message);
            }
        }
        (Format::Json, _) => {
            let violations: Vec<Value> = verdict
                .as_ref()
                .err()
                .into_iter()
                .flatten()
                .map(|v| json!({"pointer": v.pointer, "keyword": v.keyword, "message": v.message}))
                .collect();
            let line = json!({"source": source, "schema": schema, "valid": verdict.is_ok(), "violations": violations});
            emit!("{line}");
        }
    }
}
