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
//! - Bodies stream through as they arrive, in both directions, and a copy of each (up to the body
//!   limit, 16 MiB by default) is checked once it has all passed. Two options wait for a whole body:
//!   `--enforce` reads the request before forwarding it, to refuse it first (one over the limit is
//!   answered 413), and `--header` reads the answer before passing it on, since the header comes
//!   before the body. A body over the limit passes unchecked, and the report says so.
//! - A request's copy is checked when the upstream answers. An upstream that answers before the whole
//!   request has come (a 401 before the body, say) leaves that body unchecked, without a report.
//! - A compressed body (`content-encoding: gzip` or `deflate`) passes as it came and is checked
//!   decoded; another encoding is reported as not checked.
//! - Every exchange is counted once, when its answer has all gone, broke off, or was given up by a
//!   client that hung up ([`Summary::unfinished`]).
//! - A report names the operation, the direction, the status and each violation's pointer, keyword
//!   and message. Messages never quote a value; the path is the operation's template (a path may carry
//!   a credential, such as an AIOZ `stream_key`), and the query is never written.
//! - A recorded fixture (`--record`) has every credential-like field replaced; see [`ProxyOptions::record`].

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::future::Future;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::{Stream, TryStreamExt};
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
    /// Write each exchange into this directory as fixtures of the evidence corpus
    /// (`spec/evidence/`): the answer, and the request with its path's parameters as the corpus's
    /// placeholders (`{id}`, `{stream_key}`, `{streaming_key}`, `{streaming}`, `{unknown}`), so the
    /// corpus test can send it to a fresh emulator and expect the upstream's status. Credential-like
    /// fields are replaced by `"redacted"`; a request whose body held one is not written, since no
    /// replay could send it as it was. Nor is a request the upstream failed (5xx).
    pub record: Option<PathBuf>,
    /// The largest body copied for the check, in bytes.
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
    /// Exchanges whose client hung up before the whole answer had gone: counted, not checked.
    pub unfinished: u64,
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
/// which names the upstream on the way there. A body's `content-length` passes, as the body does.
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
        Self::with_client(api, upstream, options, reqwest::Client::builder())
    }

    /// As [`Proxy::new`], with the HTTP client to the upstream built from `client` (to trust a
    /// private certificate authority, say). Redirects are never followed: they pass to the caller.
    pub fn with_client(
        api: Api,
        upstream: reqwest::Url,
        options: ProxyOptions,
        client: reqwest::ClientBuilder,
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
        let client = client
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
        lock(&self.inner.summary).clone()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
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

/// How a body that streamed through ended.
enum Passed {
    /// It all passed: its copy, or `None` when it was over the limit.
    Whole(Option<Bytes>),
    /// It broke off, for this reason.
    Broke(String),
    /// Whoever read it stopped before its end: a client that hung up.
    Dropped,
}

/// A body on its way through: passes each chunk on, keeps a copy up to `limit`, and calls `end` once,
/// when the body has all passed (its declared length reached, or its stream ended), broke off, or
/// was dropped before its end.
struct Tee<F: FnOnce(Passed) + Unpin> {
    inner: Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>,
    copy: Option<Vec<Bytes>>,
    kept: usize,
    limit: usize,
    /// The `content-length`: a server stops reading once it has come, so the body ends there.
    length: Option<u64>,
    passed: u64,
    end: Option<F>,
}

impl<F: FnOnce(Passed) + Unpin> Tee<F> {
    fn new(
        inner: impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
        length: Option<u64>,
        limit: usize,
        end: F,
    ) -> Self {
        let inner = Box::pin(inner);
        Tee { inner, copy: Some(Vec::new()), kept: 0, limit, length, passed: 0, end: Some(end) }
    }

    fn finish(&mut self, passed: Passed) {
        if let Some(end) = self.end.take() {
            end(passed);
        }
    }

    fn whole(&mut self) -> Passed {
        Passed::Whole(self.copy.take().map(|chunks| match chunks.as_slice() {
            [one] => one.clone(),
            _ => chunks.concat().into(),
        }))
    }
}

impl<F: FnOnce(Passed) + Unpin> Stream for Tee<F> {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        match this.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                this.passed += chunk.len() as u64;
                if this.copy.is_some() {
                    this.kept += chunk.len();
                    match &mut this.copy {
                        Some(copy) if this.kept <= this.limit => copy.push(chunk.clone()),
                        _ => this.copy = None,
                    }
                }
                if this.length.is_some_and(|length| this.passed >= length) {
                    let whole = this.whole();
                    this.finish(whole);
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(error))) => {
                this.finish(Passed::Broke(error.to_string()));
                Poll::Ready(Some(Err(error)))
            }
            Poll::Ready(None) => {
                if this.end.is_some() {
                    let whole = this.whole();
                    this.finish(whole);
                }
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<F: FnOnce(Passed) + Unpin> Drop for Tee<F> {
    fn drop(&mut self) {
        self.finish(Passed::Dropped);
    }
}

/// A body read whole, or why not.
async fn read(body: Body, limit: usize) -> Result<Bytes, String> {
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| format!("the body is larger than the proxy's limit of {limit} bytes"))
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// The body as sent, decoded when its `content-encoding` is one the proxy reads.
fn decoded<'a>(headers: &HeaderMap, body: &'a [u8], limit: usize) -> Result<Cow<'a, [u8]>, String> {
    let Some(encoding) = headers.get(header::CONTENT_ENCODING) else {
        return Ok(Cow::Borrowed(body));
    };
    let encoding = encoding.to_str().unwrap_or_default().trim().to_ascii_lowercase();
    let mut plain = Vec::new();
    let read = match encoding.as_str() {
        "identity" | "" => return Ok(Cow::Borrowed(body)),
        "gzip" | "x-gzip" => {
            flate2::read::MultiGzDecoder::new(body).take(limit as u64 + 1).read_to_end(&mut plain)
        }
        // HTTP's `deflate` is the zlib format (RFC 9110 section 8.4.1.2).
        "deflate" => {
            flate2::read::ZlibDecoder::new(body).take(limit as u64 + 1).read_to_end(&mut plain)
        }
        other => {
            return Err(format!(
                "the body is encoded as `{other}`, which the proxy does not decode, so it was not checked"
            ));
        }
    };
    match read {
        Ok(size) if size > limit => Err(format!(
            "the body decodes to more than the proxy's limit of {limit} bytes, so it was not checked"
        )),
        Ok(_) => Ok(Cow::Owned(plain)),
        Err(error) => Err(format!("the body is not valid `{encoding}`: {error}")),
    }
}

/// Checks `body` (a JSON document, if it is one) against `schema`.
fn check(
    direction: &'static str,
    schema: Option<&crate::Schema>,
    headers: &HeaderMap,
    body: &[u8],
    limit: usize,
) -> Vec<Finding> {
    let Some(schema) = schema else { return Vec::new() };
    if body.is_empty() {
        return Vec::new();
    }
    let body = match decoded(headers, body, limit) {
        Ok(body) => body,
        Err(message) => return vec![Finding::whole(direction, "content-encoding", message)],
    };
    if !body_is_json(headers.get(header::CONTENT_TYPE), &body) {
        let message = "the body is not JSON".to_owned();
        return vec![Finding::whole(direction, "json", message)];
    }
    match serde_json::from_slice::<Value>(&body) {
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

/// What a body that passed through says about the contract: its check, or why there is none.
fn check_passed(
    direction: &'static str,
    schema: Option<&crate::Schema>,
    headers: &HeaderMap,
    passed: &Passed,
    limit: usize,
) -> Vec<Finding> {
    match passed {
        Passed::Whole(Some(body)) => check(direction, schema, headers, body, limit),
        Passed::Whole(None) => {
            let message = format!(
                "the body is larger than the proxy's limit of {limit} bytes, so it was not checked"
            );
            vec![Finding::whole(direction, "body-limit", message)]
        }
        Passed::Broke(message) => vec![Finding::whole(direction, "broke-off", message.clone())],
        Passed::Dropped => Vec::new(),
    }
}

/// One exchange on its way through: what the report, the summary and the record need of it.
struct Exchange {
    operation: Option<&'static Operation>,
    method: Method,
    path: String,
    query: Option<String>,
    request_headers: HeaderMap,
    findings: Vec<Finding>,
    /// The request's body as it went: whole, or how it did not.
    sent: Option<Passed>,
}

async fn exchange(State(proxy): State<Proxy>, request: Request) -> Response {
    let inner = &proxy.inner;
    let limit = inner.options.body_limit;
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let operation = Catalog::get().find_operation(inner.api, parts.method.as_str(), &path);
    let mut exchange = Exchange {
        operation,
        method: parts.method.clone(),
        query: parts.uri.query().map(str::to_owned),
        path,
        request_headers: parts.headers,
        findings: Vec::new(),
        sent: None,
    };
    if operation.is_none() {
        let message =
            format!("no operation of the spec is `{} {}`", exchange.method, exchange.path);
        exchange.findings.push(Finding::whole("request", "undocumented-operation", message));
    }
    let request_schema = operation.and_then(Operation::request);

    let mut url = inner.upstream.clone();
    url.set_path(&exchange.path);
    url.set_query(exchange.query.as_deref());
    let mut forwarded = inner.client.request(exchange.method.clone(), url);
    for (name, value) in &exchange.request_headers {
        if !hop_by_hop(name) {
            forwarded = forwarded.header(name, value);
        }
    }
    // The request's copy comes back through `sent` once it has all passed; see `Tee`.
    let sent = Arc::new(Mutex::new(None));
    if body.size_hint().exact() == Some(0) {
        exchange.sent = Some(Passed::Whole(Some(Bytes::new())));
    } else if inner.options.enforce {
        let body = match read(body, limit).await {
            Ok(body) => body,
            Err(message) => {
                let finding = Finding::whole("request", "body-limit", message);
                return proxy.refuse(exchange, finding, StatusCode::PAYLOAD_TOO_LARGE);
            }
        };
        let findings = check("request", request_schema, &exchange.request_headers, &body, limit);
        exchange.findings.extend(findings);
        if !exchange.findings.is_empty() && operation.is_some() {
            let messages: Vec<&str> = exchange.findings.iter().map(|f| &*f.message).collect();
            let message = format!("the request breaks the contract: {}", messages.join("; "));
            let answer = refusal(inner.api, StatusCode::BAD_REQUEST, &message);
            return proxy.finish(exchange, answer);
        }
        exchange.sent = Some(Passed::Whole(Some(body.clone())));
        forwarded = forwarded.body(body);
    } else {
        let length = content_length(&exchange.request_headers);
        let slot = Arc::clone(&sent);
        let end = move |passed| *lock(&slot) = Some(passed);
        let stream = body.into_data_stream().map_err(std::io::Error::other);
        forwarded =
            forwarded.body(reqwest::Body::wrap_stream(Tee::new(stream, length, limit, end)));
    }

    let upstream = forwarded.send().await;
    if exchange.sent.is_none() {
        let passed = lock(&sent).take();
        if let Some(passed) = &passed {
            let headers = &exchange.request_headers;
            exchange.findings.extend(check_passed(
                "request",
                request_schema,
                headers,
                passed,
                limit,
            ));
        }
        exchange.sent = passed;
    }
    let upstream = match upstream {
        Ok(upstream) => upstream,
        // The client's own body broke off (a finding already says so): nothing to blame upstream.
        Err(_) if matches!(exchange.sent, Some(Passed::Broke(_))) => {
            let message = "the request's body broke off before it had all come";
            let answer = refusal(inner.api, StatusCode::BAD_REQUEST, message);
            return proxy.finish(exchange, answer);
        }
        Err(error) => {
            // The error names the upstream's origin only: the path may carry a credential.
            let message = format!("the upstream did not answer: {}", error.without_url());
            let finding = Finding::whole("response", "upstream", message);
            return proxy.refuse(exchange, finding, StatusCode::BAD_GATEWAY);
        }
    };
    let status = upstream.status();
    let mut headers = HeaderMap::new();
    for (name, value) in upstream.headers() {
        if !hop_by_hop(name) {
            headers.append(name, value.clone());
        }
    }
    if !inner.options.header {
        return proxy.stream(exchange, status, headers, upstream);
    }
    let body = match upstream.bytes().await {
        Ok(body) => body,
        Err(error) => {
            let message = format!("the upstream's answer broke off: {}", error.without_url());
            let finding = Finding::whole("response", "upstream", message);
            return proxy.refuse(exchange, finding, StatusCode::BAD_GATEWAY);
        }
    };
    let mut answer = Response::new(Body::from(body.clone()));
    *answer.status_mut() = status;
    *answer.headers_mut() = headers;
    let findings = proxy.conclude(exchange, status, answer.headers(), Passed::Whole(Some(body)));
    if !findings.is_empty() {
        let pointers: Vec<String> = findings
            .iter()
            .map(|finding| format!("{}:{}", finding.direction, finding.pointer))
            .collect();
        let value = format!("{} {}", findings.len(), pointers.join(" "));
        if let Ok(value) = HeaderValue::from_str(value.trim_end()) {
            answer.headers_mut().insert(VIOLATIONS_HEADER, value);
        }
    }
    answer
}

/// What is wrong with an answer of `operation`: a status it does not document, or a body that breaks
/// the status's schema.
fn check_response(
    operation: Option<&Operation>,
    status: StatusCode,
    headers: &HeaderMap,
    passed: &Passed,
    limit: usize,
) -> Vec<Finding> {
    let Some(operation) = operation else { return Vec::new() };
    if operation.statuses().any(|documented| documented == status.as_u16()) {
        let schema = operation.response(status.as_u16());
        check_passed("response", schema, headers, passed, limit)
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
    /// Answers the upstream's answer as it arrives; checks it, counts it, reports and records it
    /// once it has all gone.
    fn stream(
        &self,
        exchange: Exchange,
        status: StatusCode,
        headers: HeaderMap,
        upstream: reqwest::Response,
    ) -> Response {
        let length = content_length(&headers);
        let answer_headers = headers.clone();
        let proxy = self.clone();
        let end = move |passed| {
            proxy.conclude(exchange, status, &answer_headers, passed);
        };
        let stream = upstream.bytes_stream().map_err(|error| {
            std::io::Error::other(format!(
                "the upstream's answer broke off: {}",
                error.without_url()
            ))
        });
        let tee = Tee::new(stream, length, self.inner.options.body_limit, end);
        let mut answer = Response::new(Body::from_stream(tee));
        *answer.status_mut() = status;
        *answer.headers_mut() = headers;
        answer
    }

    /// Checks the upstream's answer as it passed; counts, reports and records the exchange; answers
    /// its findings.
    fn conclude(
        &self,
        mut exchange: Exchange,
        status: StatusCode,
        headers: &HeaderMap,
        passed: Passed,
    ) -> Vec<Finding> {
        let limit = self.inner.options.body_limit;
        let findings = check_response(exchange.operation, status, headers, &passed, limit);
        exchange.findings.extend(findings);
        let unfinished = matches!(passed, Passed::Dropped);
        self.account(&exchange, status, unfinished);
        if let (Some(dir), Passed::Whole(Some(body))) = (&self.inner.options.record, &passed) {
            self.record(dir, &exchange, status, headers, body);
        }
        exchange.findings
    }

    /// Counts the exchange and reports it when it broke the contract.
    fn account(&self, exchange: &Exchange, status: StatusCode, unfinished: bool) {
        let inner = &self.inner;
        let Exchange { operation, findings, .. } = exchange;
        let id = operation.map_or("-", Operation::id);
        {
            let mut summary = lock(&inner.summary);
            summary.exchanges += 1;
            summary.unfinished += u64::from(unfinished);
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
                "method": exchange.method.as_str(),
                // The template, not the path: a path may carry a credential.
                "path": operation.map_or(exchange.path.as_str(), Operation::path),
                "status": status.as_u16(),
                "violations": findings.iter().map(|finding| json!({
                    "direction": finding.direction,
                    "rule": finding.rule,
                    "pointer": finding.pointer,
                    "message": finding.message,
                })).collect::<Vec<_>>(),
            });
            let mut report = lock(&inner.report);
            if let Err(error) = writeln!(report, "{line}").and_then(|()| report.flush()) {
                tracing::error!(%error, "writing a report line failed");
            }
        }
    }

    /// Answers the exchange itself with `status` in the API's envelope, `finding` saying why, and
    /// reports it.
    fn refuse(&self, mut exchange: Exchange, finding: Finding, status: StatusCode) -> Response {
        let answer = refusal(self.inner.api, status, &finding.message);
        exchange.findings.push(finding);
        self.finish(exchange, answer)
    }

    /// Counts and reports an exchange the proxy answered itself, and answers `answer`.
    fn finish(&self, exchange: Exchange, answer: Response) -> Response {
        self.account(&exchange, answer.status(), false);
        answer
    }

    /// Writes the exchange as fixtures of the evidence corpus: its answer, and its request when a
    /// replay can send it as it went (see [`ProxyOptions::record`]).
    fn record(
        &self,
        dir: &std::path::Path,
        exchange: &Exchange,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
    ) {
        let Some(operation) = exchange.operation else { return };
        let inner = &self.inner;
        let number = {
            let mut recorded = lock(&inner.recorded);
            *recorded += 1;
            *recorded
        };
        let api = inner.api.name();
        let stem = format!("{api}-recorded-{}-{number}", operation.id().replace('_', "-"));
        let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let fixture = |direction: &str, broke: bool| {
            let mut fixture = json!({
                "name": format!("{stem}-{direction}"),
                "api": api,
                "operation": operation.id(),
                "direction": direction,
                "source": {
                    "recorded": inner.upstream.as_str(),
                    "where": format!("{} {}, answered {status} at {at}", operation.method(), operation.path()),
                },
                "verdict": if broke { "refused" } else { "accepted" },
            });
            if broke {
                fixture["note"] = json!(format!(
                    "recorded by `streamspec-conformance proxy`: the {direction} broke its schema (the report says where)"
                ));
            }
            fixture
        };
        let limit = inner.options.body_limit;
        let broke = |direction| exchange.findings.iter().any(|f| f.direction == direction);
        if let Some(mut payload) = json_of(headers, body, limit) {
            redact(&mut payload);
            let mut answer = fixture("response", broke("response"));
            answer["status"] = json!(status.as_u16());
            answer["payload"] = payload;
            write_fixture(dir, &answer);
        }
        if let Some(request) = self.replayable(exchange, status) {
            let mut sent = fixture("request", false);
            if status.as_u16() >= 300 && status != StatusCode::UNAUTHORIZED {
                sent["verdict"] = json!("refused");
                sent["note"] = json!(format!(
                    "recorded by `streamspec-conformance proxy`: the upstream answered {status}"
                ));
            } else if broke("request") {
                sent["note"] = json!(
                    "recorded by `streamspec-conformance proxy`: the request broke its schema (the report says where), and the upstream took it"
                );
            }
            for (field, value) in request {
                sent[field] = value;
            }
            sent["expect_status"] = json!(status.as_u16());
            write_fixture(dir, &sent);
        }
    }

    /// The fields of a request fixture (`request` and `payload`) a replay sends as the exchange's
    /// request went, or `None` when it cannot: an upstream that failed, a body that is not JSON or
    /// held a credential.
    fn replayable(
        &self,
        exchange: &Exchange,
        status: StatusCode,
    ) -> Option<Vec<(&'static str, Value)>> {
        let operation = exchange.operation?;
        if status.is_server_error() {
            return None;
        }
        let headers = &exchange.request_headers;
        let mut fields = Vec::new();
        match &exchange.sent {
            Some(Passed::Whole(Some(body))) if body.is_empty() => {}
            Some(Passed::Whole(Some(body))) => {
                let mut payload = json_of(headers, body, self.inner.options.body_limit)?;
                if redact(&mut payload) {
                    return None;
                }
                fields.push(("payload", payload));
            }
            _ => return None,
        }
        let basic =
            headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok()).map(|value| {
                value.split_once(' ').map_or(value, |(scheme, _)| scheme).to_ascii_lowercase()
            });
        // An upstream that refused the credentials: the replay sends none, and gets the same 401.
        let auth = match basic.as_deref() {
            _ if status == StatusCode::UNAUTHORIZED => "none",
            Some("basic") if headers.contains_key("stream-public-key") => "node",
            Some("basic") => "basic",
            Some("bearer") => "bearer",
            _ => "none",
        };
        let path = placeholders(self.inner.api, operation, &exchange.path, status);
        let mut request = json!({"method": exchange.method.as_str(), "path": path, "auth": auth});
        if let Some(query) = &exchange.query {
            request["query"] = json!(query);
        }
        if let Some(content_type) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok())
        {
            request["content_type"] = json!(content_type);
        }
        fields.push(("request", request));
        Some(fields)
    }
}

/// A JSON body, decoded.
fn json_of(headers: &HeaderMap, body: &[u8], limit: usize) -> Option<Value> {
    let body = decoded(headers, body, limit).ok()?;
    serde_json::from_slice(&body).ok()
}

fn write_fixture(dir: &std::path::Path, fixture: &Value) {
    let name = fixture["name"].as_str().unwrap_or_default();
    let text = serde_json::to_string_pretty(fixture).unwrap_or_default() + "\n";
    if let Err(error) = std::fs::write(dir.join(format!("{name}.json")), text) {
        tracing::error!(%error, "recording a fixture failed");
    }
}

/// `path` with each of the operation's parameters replaced by the evidence corpus's placeholder for
/// it (`spec/evidence/`, filled in by the emulator's `tests/evidence.rs`): AIOZ's ids become
/// resources the replay makes (`{id}`; `{streaming_key}` and `{streaming}` for a streaming's path),
/// its `stream_key` always becomes `{stream_key}`, and any id the upstream answered 404 for becomes
/// `{unknown}`. A value that is not a UUID (an invalid id) and Storm's application names stay as sent.
fn placeholders(api: Api, operation: &Operation, path: &str, status: StatusCode) -> String {
    let template = operation.path();
    let streaming = template.contains("{stream_id}");
    let segments = template.split('/').zip(path.split('/')).map(|(expected, actual)| {
        let Some(name) = expected.strip_prefix('{').and_then(|name| name.strip_suffix('}')) else {
            return actual.to_owned();
        };
        let placeholder = match (api, name) {
            (Api::Aioz, _) if status == StatusCode::NOT_FOUND => "{unknown}",
            (Api::Aioz, "stream_key") => "{stream_key}",
            (Api::Aioz, _) if !is_uuid(actual) => return actual.to_owned(),
            (Api::Aioz, "id") if streaming => "{streaming_key}",
            (Api::Aioz, "id") => "{id}",
            (Api::Aioz, _) => "{streaming}",
            (Api::Storm | Api::Emulator, _) => return actual.to_owned(),
        };
        placeholder.to_owned()
    });
    segments.collect::<Vec<_>>().join("/")
}

fn is_uuid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(at, c)| {
            if matches!(at, 8 | 13 | 18 | 23) { c == '-' } else { c.is_ascii_hexdigit() }
        })
}

/// Replaces the value of every field whose name says it holds a credential by `"redacted"`, and the
/// path of every multicast destination URL (where a platform such as YouTube takes its stream key)
/// by `/redacted`; answers whether it replaced a credential.
fn redact(value: &mut Value) -> bool {
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
            let mut replaced = false;
            for (name, field) in map.iter_mut() {
                let lower = name.to_ascii_lowercase();
                if CREDENTIALS.iter().any(|credential| {
                    lower == *credential || lower.ends_with(&format!("_{credential}"))
                }) && field.is_string()
                {
                    *field = Value::String("redacted".to_owned());
                    replaced = true;
                } else if lower.ends_with("multicast_urls") {
                    for url in field.as_array_mut().into_iter().flatten() {
                        *url = Value::String(destination(url.as_str().unwrap_or_default()));
                    }
                } else {
                    replaced |= redact(field);
                }
            }
            replaced
        }
        Value::Array(items) => {
            let mut replaced = false;
            for item in items {
                replaced |= redact(item);
            }
            replaced
        }
        _ => false,
    }
}

/// A destination URL's scheme, host and port, with `/redacted` for its path.
fn destination(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(url) if url.host().is_some() => {
            let port = url.port().map(|port| format!(":{port}")).unwrap_or_default();
            format!("{}://{}{port}/redacted", url.scheme(), url.host_str().unwrap_or_default())
        }
        _ => "redacted".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_redacted_where_they_are() {
        let mut payload = json!({"data": {"stream_key": "k", "name": "n", "accessToken": "t", "users": [{"password": "p"}]}});
        assert!(redact(&mut payload));
        assert_eq!(
            payload,
            json!({"data": {"stream_key": "redacted", "name": "n", "accessToken": "redacted", "users": [{"password": "redacted"}]}})
        );
    }

    #[test]
    fn a_destinations_stream_key_is_redacted_and_its_host_kept() {
        let mut payload = json!({"multicast_urls": ["rtmp://a.rtmp.youtube.com/live2/KEY", "rtmps://x:443/app/KEY?t=KEY", "KEY"]});
        assert!(!redact(&mut payload), "no credential field: a replay can send it");
        let expected = ["rtmp://a.rtmp.youtube.com/redacted", "rtmps://x:443/redacted", "redacted"];
        assert_eq!(payload, json!({"multicast_urls": expected}));
    }

    #[test]
    fn a_path_becomes_the_corpus_placeholders() {
        let catalog = Catalog::get();
        let streaming = catalog.operation(Api::Aioz, "get_streaming").unwrap();
        let (key, id) =
            ("0b5c9f2e-6a55-4c1e-9a52-1f0d8a4b7c31", "7c1d6f0e-2b3a-4c5d-8e9f-0a1b2c3d4e5f");
        let path = format!("/api/live_streams/{key}/streamings/{id}");
        let placed = placeholders(Api::Aioz, streaming, &path, StatusCode::OK);
        assert_eq!(placed, "/api/live_streams/{streaming_key}/streamings/{streaming}");
        let missing = placeholders(Api::Aioz, streaming, &path, StatusCode::NOT_FOUND);
        assert_eq!(missing, "/api/live_streams/{unknown}/streamings/{unknown}");
        let multicast = catalog.operation(Api::Aioz, "get_multicast").unwrap();
        let path = "/api/live_streams/multicast/not-even-a-uuid";
        let placed = placeholders(Api::Aioz, multicast, path, StatusCode::BAD_REQUEST);
        assert_eq!(placed, "/api/live_streams/multicast/{stream_key}", "a stream key never stays");
        let key = catalog.operation(Api::Aioz, "get_live_stream_key").unwrap();
        let placed = placeholders(Api::Aioz, key, "/api/live_streams/12", StatusCode::BAD_REQUEST);
        assert_eq!(placed, "/api/live_streams/12");
        let settings = catalog.operation(Api::Storm, "get_application_settings").unwrap();
        let path = "/api/applications/live/settings";
        assert_eq!(placeholders(Api::Storm, settings, path, StatusCode::OK), path);
    }

    #[test]
    fn a_compressed_body_is_checked_decoded() {
        use std::io::Write;
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gzip.write_all(br#"{"a": 1}"#).unwrap();
        let gzip = gzip.finish().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        assert_eq!(decoded(&headers, &gzip, 100).unwrap().as_ref(), br#"{"a": 1}"#);
        let message = decoded(&headers, &gzip, 4).unwrap_err();
        assert!(message.contains("more than the proxy's limit of 4 bytes"), "{message}");
        let message = decoded(&headers, b"not gzip", 100).unwrap_err();
        assert!(message.contains("not valid `gzip`"), "{message}");
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("br"));
        let message = decoded(&headers, b"...", 100).unwrap_err();
        assert!(message.contains("encoded as `br`"), "{message}");
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
