//! A validating proxy: forwards every request to an upstream (the real service, or the emulator)
//! unchanged, checks each request against its operation and each response against its operation and
//! status, and reports every exchange that breaks the contract.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use streamspec_conformance::Api;
//! use streamspec_conformance::proxy::{Proxy, ProxyOptions};
//!
//! let proxy = Proxy::new(Api::Aioz, "https://api.aiozstream.network".parse()?, ProxyOptions::default())?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8082").await?;
//! let summary = proxy.serve(listener, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! println!("{} exchanges, {} violations", summary.exchanges, summary.violations);
//! # Ok(())
//! # }
//! ```
//!
//! What holds:
//! - A request and its answer pass through unchanged: method, path, query, headers (but the
//!   hop-by-hop ones, which belong to each connection) and body. Only `--enforce` answers a request
//!   itself (a 400 in the API's envelope, for a request that breaks the contract); only `--header`
//!   adds a header (`x-streamspec-violations`) to an answer.
//! - A response body streams through as it arrives, and a copy (up to the body limit, 16 MiB by
//!   default) is checked once it has all come; with `--header` or `--record` it is read whole first,
//!   since both need the verdict before the answer goes out. A request body is read whole, up to the
//!   limit, so that `--enforce` can refuse it before anything is forwarded; a larger one is answered
//!   413 in the API's envelope and reported. Both APIs carry JSON documents far below the limit.
//! - A report names the operation, the direction, the status and each violation's pointer, keyword
//!   and message. Messages never quote a value; the path is the operation's template (a path may carry
//!   a credential, such as an AIOZ `stream_key`), and the query is never written.
//! - A recorded fixture (`--record`) has every credential-like field replaced.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use streamspec_server::adapter::body_is_json;

use crate::{Api, Catalog, Operation, Violation};

/// The header `--header` adds to an answer: the number of violations and their pointers.
pub const VIOLATIONS_HEADER: &str = "x-streamspec-violations";

/// How a [`Proxy`] reports and what it does about a violation.
#[derive(Debug, Clone)]
pub struct ProxyOptions {
    /// Answer a request that breaks the contract with the API's 400 instead of forwarding it.
    pub enforce: bool,
    /// Add [`VIOLATIONS_HEADER`] to an answer whose exchange broke the contract.
    pub header: bool,
    /// Write each exchange's response as a fixture of the evidence corpus into this directory.
    pub record: Option<PathBuf>,
    /// The largest body read, in bytes.
    pub body_limit: usize,
    /// Where the JSON Lines reports go (standard output unless set).
    pub report: Option<PathBuf>,
}

impl Default for ProxyOptions {
    fn default() -> Self {
        Self { enforce: false, header: false, record: None, body_limit: 16 << 20, report: None }
    }
}

/// What the proxy saw, for the summary it prints when it stops.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// Requests answered.
    pub exchanges: u64,
    /// Violations found, in requests and responses together.
    pub violations: u64,
    /// Violations by operation (`-` for a request to no documented operation) and rule.
    pub by_operation: BTreeMap<String, BTreeMap<String, u64>>,
}

/// A validating proxy in front of one API's upstream.
#[derive(Clone)]
pub struct Proxy {
    inner: Arc<Inner>,
}

struct Inner {
    api: Api,
    upstream: reqwest::Url,
    options: ProxyOptions,
    client: reqwest::Client,
    report: Mutex<Box<dyn Write + Send>>,
    summary: Mutex<Summary>,
    recorded: Mutex<u64>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("api", &self.inner.api)
            .field("upstream", &self.inner.upstream.as_str())
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

/// Why a proxy cannot start.
#[derive(Debug)]
pub enum ProxyError {
    /// The upstream is not an `http` or `https` origin.
    Upstream(String),
    /// The report or record path cannot be written.
    Io(std::io::Error),
    /// The HTTP client cannot be built (a TLS backend missing, say).
    Client(reqwest::Error),
}

impl std::fmt::Display for ProxyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProxyError::Upstream(message) => write!(f, "--upstream: {message}"),
            ProxyError::Io(error) => write!(f, "{error}"),
            ProxyError::Client(error) => write!(f, "the HTTP client: {error}"),
        }
    }
}

impl std::error::Error for ProxyError {}

/// Headers that belong to one connection, not to the exchange (RFC 9110 section 7.6.1), and `host`,
/// which names the upstream on the way there.
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "content-length"
    )
}

impl Proxy {
    /// A proxy for `api` in front of `upstream`, an origin such as `https://api.aiozstream.network`:
    /// a request's path (with the API's prefix, `/api/...`) is appended to it as it came.
    pub fn new(
        api: Api,
        upstream: reqwest::Url,
        options: ProxyOptions,
    ) -> Result<Self, ProxyError> {
        if !matches!(upstream.scheme(), "http" | "https") || upstream.host().is_none() {
            return Err(ProxyError::Upstream(format!("`{upstream}` is not an http(s) URL")));
        }
        if upstream.scheme() == "https" && !cfg!(feature = "rustls") {
            return Err(ProxyError::Upstream(format!(
                "`{upstream}` needs TLS: build with the `rustls` feature \
                 (`cargo install --path crates/conformance --features rustls`)"
            )));
        }
        if upstream.path() != "/" || upstream.query().is_some() {
            return Err(ProxyError::Upstream(format!(
                "`{upstream}` has a path: give the origin (`{}`); requests keep their own paths",
                upstream.origin().ascii_serialization()
            )));
        }
        let report: Box<dyn Write + Send> = match &options.report {
            Some(path) => Box::new(std::fs::File::create(path).map_err(ProxyError::Io)?),
            None => Box::new(std::io::stdout()),
        };
        if let Some(dir) = &options.record {
            std::fs::create_dir_all(dir).map_err(ProxyError::Io)?;
        }
        Catalog::get();
        // Redirects and cookies pass through to the caller as they came.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(ProxyError::Client)?;
        Ok(Self {
            inner: Arc::new(Inner {
                api,
                upstream,
                options,
                client,
                report: Mutex::new(report),
                summary: Mutex::default(),
                recorded: Mutex::new(0),
            }),
        })
    }

    /// The router that proxies every request.
    pub fn router(&self) -> axum::Router {
        axum::Router::new().fallback(exchange).with_state(self.clone())
    }

    /// Serves on `listener` until `shutdown` completes, then answers the summary.
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<Summary> {
        use axum::serve::ListenerExt;
        // An answer goes out in as many writes as it arrives in; none waits for the client's ACK.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, self.router()).with_graceful_shutdown(shutdown).await?;
        Ok(self.summary())
    }

    /// What the proxy has seen so far.
    pub fn summary(&self) -> Summary {
        self.inner.summary.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
}

/// One finding of an exchange, as a report line lists it.
struct Finding {
    direction: &'static str,
    rule: String,
    pointer: String,
    message: String,
}

impl Finding {
    fn of(direction: &'static str, violation: Violation) -> Self {
        Finding {
            direction,
            rule: violation.keyword,
            pointer: violation.pointer,
            message: violation.message,
        }
    }

    fn whole(direction: &'static str, rule: &str, message: String) -> Self {
        Finding { direction, rule: rule.to_owned(), pointer: String::new(), message }
    }
}

/// A body read whole, or why not.
async fn read(body: Body, limit: usize) -> Result<Bytes, String> {
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| format!("the body is larger than the proxy's limit of {limit} bytes"))
}

/// Checks `body` (a JSON document, if it is one) against `schema`.
fn check(
    direction: &'static str,
    schema: Option<&crate::Schema>,
    content_type: Option<&HeaderValue>,
    body: &[u8],
) -> Vec<Finding> {
    let Some(schema) = schema else { return Vec::new() };
    if body.is_empty() {
        return Vec::new();
    }
    if !body_is_json(content_type, body) {
        let message = "the body is not JSON".to_owned();
        return vec![Finding::whole(direction, "json", message)];
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(payload) => match schema.validate(&payload) {
            Ok(()) => Vec::new(),
            Err(violations) => {
                violations.into_iter().map(|violation| Finding::of(direction, violation)).collect()
            }
        },
        Err(error) => {
            let message = format!("the body is not valid JSON: {error}");
            vec![Finding::whole(direction, "json", message)]
        }
    }
}

async fn exchange(State(proxy): State<Proxy>, request: Request) -> Response {
    let inner = &proxy.inner;
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let operation = Catalog::get().find_operation(inner.api, parts.method.as_str(), &path);
    let mut findings = Vec::new();
    if operation.is_none() {
        let message = format!("no operation of the spec is `{} {path}`", parts.method);
        findings.push(Finding::whole("request", "undocumented-operation", message));
    }
    let body = match read(body, inner.options.body_limit).await {
        Ok(body) => body,
        Err(message) => {
            let finding = Finding::whole("request", "body-limit", message);
            let status = StatusCode::PAYLOAD_TOO_LARGE;
            return proxy.refuse(operation, &path, &parts.method, findings, finding, status);
        }
    };
    let content_type = parts.headers.get(axum::http::header::CONTENT_TYPE);
    let request_schema = operation.and_then(Operation::request);
    findings.extend(check("request", request_schema, content_type, &body));
    if inner.options.enforce && !findings.is_empty() && operation.is_some() {
        let messages: Vec<&str> = findings.iter().map(|f| f.message.as_str()).collect();
        let message = format!("the request breaks the contract: {}", messages.join("; "));
        let answer = refusal(inner.api, StatusCode::BAD_REQUEST, &message);
        return proxy.finish(operation, &path, &parts.method, findings, answer, None);
    }

    let mut url = inner.upstream.clone();
    url.set_path(&path);
    url.set_query(parts.uri.query());
    let mut forwarded = inner.client.request(parts.method.clone(), url);
    for (name, value) in &parts.headers {
        if !hop_by_hop(name) {
            forwarded = forwarded.header(name, value);
        }
    }
    let upstream = match forwarded.body(body).send().await {
        Ok(upstream) => upstream,
        Err(error) => {
            // The error names the upstream's origin only: the path may carry a credential.
            let message = format!("the upstream did not answer: {}", error.without_url());
            let finding = Finding::whole("response", "upstream", message);
            let status = StatusCode::BAD_GATEWAY;
            return proxy.refuse(operation, &path, &parts.method, findings, finding, status);
        }
    };
    let status = upstream.status();
    let mut headers = HeaderMap::new();
    for (name, value) in upstream.headers() {
        if !hop_by_hop(name) {
            headers.append(name, value.clone());
        }
    }
    let buffered = inner.options.header || inner.options.record.is_some();
    if !buffered {
        return proxy.stream(operation, path, parts.method, findings, status, headers, upstream);
    }
    let body = match upstream.bytes().await {
        Ok(body) => body,
        Err(error) => {
            let message = format!("the upstream's answer broke off: {}", error.without_url());
            let finding = Finding::whole("response", "upstream", message);
            let status = StatusCode::BAD_GATEWAY;
            return proxy.refuse(operation, &path, &parts.method, findings, finding, status);
        }
    };
    findings.extend(check_response(operation, status, &headers, &body));
    let recorded = (status, body.clone());
    let mut answer = Response::new(Body::from(body));
    *answer.status_mut() = status;
    *answer.headers_mut() = headers;
    proxy.finish(operation, &path, &parts.method, findings, answer, Some(recorded))
}

/// What is wrong with an answer of `operation`: a status it does not document, or a body that breaks
/// the status's schema.
fn check_response(
    operation: Option<&Operation>,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> Vec<Finding> {
    let Some(operation) = operation else { return Vec::new() };
    if operation.statuses().any(|documented| documented == status.as_u16()) {
        let schema = operation.response(status.as_u16());
        check("response", schema, headers.get(axum::http::header::CONTENT_TYPE), body)
    } else {
        let message = format!("`{}` does not document the status {status}", operation.id());
        vec![Finding::whole("response", "undocumented-status", message)]
    }
}

/// An answer the proxy makes itself, in the API's envelope.
fn refusal(api: Api, status: StatusCode, message: &str) -> Response {
    (status, axum::Json(api.error_body(message))).into_response()
}

impl Proxy {
    /// Answers the upstream's answer as it arrives, and checks it, counts it and reports it once it
    /// has all come.
    #[allow(clippy::too_many_arguments)]
    fn stream(
        &self,
        operation: Option<&'static Operation>,
        path: String,
        method: axum::http::Method,
        findings: Vec<Finding>,
        status: StatusCode,
        headers: HeaderMap,
        upstream: reqwest::Response,
    ) -> Response {
        let limit = self.inner.options.body_limit;
        let content_type = headers.clone();
        let proxy = self.clone();
        let finish = move |copy: Option<Vec<u8>>, failed: Option<String>| {
            let mut findings = findings;
            match (copy, failed) {
                (_, Some(message)) => {
                    findings.push(Finding::whole("response", "upstream", message));
                }
                (Some(body), None) => {
                    findings.extend(check_response(operation, status, &content_type, &body));
                }
                (None, None) => {
                    let message = format!(
                        "the body is larger than the proxy's limit of {limit} bytes, so it was not checked"
                    );
                    findings.push(Finding::whole("response", "body-limit", message));
                }
            }
            proxy.account(operation, &path, &method, status, &findings);
        };
        // (the upstream's answer, the copy so far (`None` once over the limit), what runs at the end)
        let state = (upstream, Some(Vec::new()), Some(finish));
        let body = futures::stream::unfold(
            state,
            move |(mut upstream, mut copy, mut finish)| async move {
                let finish_now = finish.take()?;
                match upstream.chunk().await {
                    Ok(Some(chunk)) => {
                        if let Some(kept) = &mut copy {
                            if kept.len() + chunk.len() <= limit {
                                kept.extend_from_slice(&chunk);
                            } else {
                                copy = None;
                            }
                        }
                        Some((
                            Ok::<Bytes, std::io::Error>(chunk),
                            (upstream, copy, Some(finish_now)),
                        ))
                    }
                    Ok(None) => {
                        finish_now(copy, None);
                        None
                    }
                    Err(error) => {
                        let message =
                            format!("the upstream's answer broke off: {}", error.without_url());
                        finish_now(copy, Some(message.clone()));
                        Some((Err(std::io::Error::other(message)), (upstream, None, None)))
                    }
                }
            },
        );
        let mut answer = Response::new(Body::from_stream(body));
        *answer.status_mut() = status;
        *answer.headers_mut() = headers;
        answer
    }

    /// Counts the exchange and reports it when it broke the contract.
    fn account(
        &self,
        operation: Option<&Operation>,
        path: &str,
        method: &axum::http::Method,
        status: StatusCode,
        findings: &[Finding],
    ) {
        let inner = &self.inner;
        let id = operation.map_or("-", Operation::id);
        {
            let mut summary = inner.summary.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            summary.exchanges += 1;
            summary.violations += findings.len() as u64;
            for finding in findings {
                let rules = summary.by_operation.entry(id.to_owned()).or_default();
                *rules.entry(finding.rule.clone()).or_default() += 1;
            }
        }
        if !findings.is_empty() {
            let line = json!({
                "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "api": inner.api.name(),
                "operation": operation.map(Operation::id),
                "method": method.as_str(),
                // The template, not the path: a path may carry a credential.
                "path": operation.map_or(path, Operation::path),
                "status": status.as_u16(),
                "violations": findings.iter().map(|finding| json!({
                    "direction": finding.direction,
                    "rule": finding.rule,
                    "pointer": finding.pointer,
                    "message": finding.message,
                })).collect::<Vec<_>>(),
            });
            let mut report = inner.report.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Err(error) = writeln!(report, "{line}").and_then(|()| report.flush()) {
                tracing::error!(%error, "writing a report line failed");
            }
        }
    }

    /// Answers the exchange itself with `status` in the API's envelope, `finding` saying why, and
    /// reports it.
    fn refuse(
        &self,
        operation: Option<&Operation>,
        path: &str,
        method: &axum::http::Method,
        mut findings: Vec<Finding>,
        finding: Finding,
        status: StatusCode,
    ) -> Response {
        let answer = refusal(self.inner.api, status, &finding.message);
        findings.push(finding);
        self.finish(operation, path, method, findings, answer, None)
    }

    /// Counts the exchange, reports and records it, and answers `answer`.
    fn finish(
        &self,
        operation: Option<&Operation>,
        path: &str,
        method: &axum::http::Method,
        findings: Vec<Finding>,
        mut answer: Response,
        recorded: Option<(StatusCode, Bytes)>,
    ) -> Response {
        let inner = &self.inner;
        self.account(operation, path, method, answer.status(), &findings);
        if !findings.is_empty() && inner.options.header {
            let pointers: Vec<String> = findings
                .iter()
                .map(|finding| format!("{}:{}", finding.direction, finding.pointer))
                .collect();
            let value = format!("{} {}", findings.len(), pointers.join(" "));
            if let Ok(value) = HeaderValue::from_str(value.trim_end()) {
                answer.headers_mut().insert(VIOLATIONS_HEADER, value);
            }
        }
        if let (Some(dir), Some(operation), Some((status, body))) =
            (&inner.options.record, operation, recorded)
        {
            self.record(
                dir,
                operation,
                status,
                &body,
                findings.iter().any(|f| f.direction == "response"),
            );
        }
        answer
    }

    /// Writes a JSON response as a fixture of the evidence corpus, credentials replaced.
    fn record(
        &self,
        dir: &std::path::Path,
        operation: &Operation,
        status: StatusCode,
        body: &[u8],
        broke: bool,
    ) {
        let Ok(mut payload) = serde_json::from_slice::<Value>(body) else { return };
        redact(&mut payload);
        let inner = &self.inner;
        let number = {
            let mut recorded =
                inner.recorded.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            *recorded += 1;
            *recorded
        };
        let api = inner.api.name();
        let name = format!(
            "{api}-recorded-{}-{}-{number}",
            operation.id().replace('_', "-"),
            status.as_u16()
        );
        let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut fixture = json!({
            "name": name,
            "api": api,
            "operation": operation.id(),
            "direction": "response",
            "status": status.as_u16(),
            "source": {
                "recorded": inner.upstream.as_str(),
                "where": format!("{} {}, answered {at}", operation.method(), operation.path()),
            },
            "verdict": if broke { "refused" } else { "accepted" },
        });
        if broke {
            fixture["note"] = json!(
                "recorded by `streamspec-conformance proxy`; the answer broke its schema (the report says where)"
            );
        }
        fixture["payload"] = payload;
        let text = serde_json::to_string_pretty(&fixture).unwrap_or_default() + "\n";
        if let Err(error) = std::fs::write(dir.join(format!("{name}.json")), text) {
            tracing::error!(%error, "recording a fixture failed");
        }
    }
}

/// Replaces the value of every field whose name says it holds a credential.
fn redact(value: &mut Value) {
    const CREDENTIALS: [&str; 10] = [
        "password",
        "secret",
        "token",
        "accesstoken",
        "stream_key",
        "streamkey",
        "secret_key",
        "api_key",
        "apikey",
        "authorization",
    ];
    match value {
        Value::Object(map) => {
            for (name, field) in map.iter_mut() {
                let lower = name.to_ascii_lowercase();
                if CREDENTIALS.iter().any(|credential| {
                    lower == *credential || lower.ends_with(&format!("_{credential}"))
                }) && field.is_string()
                {
                    *field = Value::String("redacted".to_owned());
                } else {
                    redact(field);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_redacted_where_they_are() {
        let mut payload = json!({"data": {"stream_key": "k", "name": "n", "accessToken": "t", "users": [{"password": "p"}]}});
        redact(&mut payload);
        assert_eq!(
            payload,
            json!({"data": {"stream_key": "redacted", "name": "n", "accessToken": "redacted", "users": [{"password": "redacted"}]}})
        );
    }

    #[test]
    fn an_https_upstream_needs_the_rustls_feature() {
        let https = Proxy::new(
            Api::Aioz,
            "https://api.aiozstream.network".parse().unwrap(),
            ProxyOptions::default(),
        );
        assert_eq!(https.is_ok(), cfg!(feature = "rustls"));
    }

    #[test]
    fn an_upstream_with_a_path_is_refused() {
        let refused = Proxy::new(
            Api::Aioz,
            "http://127.0.0.1:8080/api".parse().unwrap(),
            ProxyOptions::default(),
        );
        let message = refused.unwrap_err().to_string();
        assert!(message.contains("give the origin (`http://127.0.0.1:8080`)"), "{message}");
    }
}
