//! [`Error`]: why a call failed, with the documented error statuses as variants of their own.

use std::fmt;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use crate::retry::requested_wait as retry_after;

/// Why a call failed; every `send()` answers it, with `E` the API's error envelope
/// (`aioz::Error`, `storm::Error` and `emulator::Error` name it for each API).
///
/// Each error status a spec documents is a variant, named as `streamspec-server`'s response enums
/// name it, so a caller matches the answer it expects:
///
/// ```no_run
/// # async fn run(client: streamspec_client::aioz::Client) -> Result<(), streamspec_client::aioz::Error> {
/// use streamspec_client::aioz::Error;
///
/// match client.get_live_stream_key().id("0f3b9a54-2f7e-4a53-9c43-31a4d0a1b2c3").send().await {
///     Ok(key) => println!("found {}", key.data.id),
///     Err(Error::NotFound(answer)) => println!("gone: {}", answer.message().unwrap_or("no message")),
///     Err(other) => return Err(other),
/// }
/// # Ok(())
/// # }
/// ```
///
/// Which statuses an operation documents is in its `send()` docs. A status the spec does not document
/// for the operation is [`Error::UnexpectedResponse`], with its body kept. `Display` is one sentence:
/// the operation, the status and the service's message.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error<E> {
    /// 400: the request is malformed; the message names the field at fault.
    BadRequest(ErrorAnswer<E>),
    /// 401: no credentials, or credentials the service does not accept.
    Unauthorized(ErrorAnswer<E>),
    /// 403: the credentials are valid but may not do this.
    Forbidden(ErrorAnswer<E>),
    /// 404: what the request names does not exist (for this account).
    NotFound(ErrorAnswer<E>),
    /// 409: it exists already.
    Conflict(ErrorAnswer<E>),
    /// 413: the body is larger than the service takes.
    PayloadTooLarge(ErrorAnswer<E>),
    /// 415: the body is not JSON.
    UnsupportedMediaType(ErrorAnswer<E>),
    /// 429: the rate limit is exhausted; [`ErrorAnswer::retry_after`] says for how long. The client
    /// has already retried as its [`crate::RetryPolicy`] allows.
    TooManyRequests(ErrorAnswer<E>),
    /// 500: the service failed.
    InternalServerError(ErrorAnswer<E>),
    /// 503: the service cannot answer now; [`ErrorAnswer::retry_after`] says for how long. The client
    /// has already retried as its [`crate::RetryPolicy`] allows.
    ServiceUnavailable(ErrorAnswer<E>),
    /// An answer the spec does not document for this operation, success statuses included.
    UnexpectedResponse(UnexpectedResponse),
    /// A documented answer whose body is not what the spec describes.
    InvalidResponse(InvalidResponse),
    /// The request was not sent, or its answer not read: connection, TLS, timeout.
    Transport {
        /// The operation's `operationId`.
        operation: &'static str,
        /// What failed.
        error: reqwest::Error,
    },
    /// The request was not sent: a builder value that does not fit its field, a required value not
    /// set, or a credential that cannot go in an HTTP header.
    InvalidRequest {
        /// The operation's `operationId`.
        operation: &'static str,
        /// What is wrong, naming the field; never a secret.
        message: String,
    },
    /// The request was not sent: signing in (Storm's `Credentials::Login`) failed.
    SignIn {
        /// The operation's `operationId`.
        operation: &'static str,
        /// Why, with the login's status and message.
        message: String,
    },
}

/// What an API's error envelope says went wrong.
pub trait ErrorEnvelope {
    /// The service's message, if the envelope has one.
    fn message(&self) -> Option<&str>;
}

impl ErrorEnvelope for streamspec_types::aioz::ErrorResponse {
    fn message(&self) -> Option<&str> {
        self.text()
    }
}

impl ErrorEnvelope for streamspec_types::storm::ErrorResponse {
    fn message(&self) -> Option<&str> {
        Some(&self.message)
    }
}

impl ErrorEnvelope for streamspec_types::emulator::ErrorResponse {
    fn message(&self) -> Option<&str> {
        Some(&self.message)
    }
}

/// A documented error answer: its status, headers and the API's error envelope.
#[derive(Debug, Clone)]
pub struct ErrorAnswer<E> {
    operation: &'static str,
    status: StatusCode,
    headers: HeaderMap,
    body: E,
}

impl<E> ErrorAnswer<E> {
    /// The operation's `operationId`.
    pub fn operation(&self) -> &'static str {
        self.operation
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The response headers (the rate-limit headers among them).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The error envelope.
    pub fn body(&self) -> &E {
        &self.body
    }

    /// The error envelope, owned.
    pub fn into_body(self) -> E {
        self.body
    }

    /// How long the service asks the caller to wait: `Retry-After`, or AIOZ's
    /// `X-RateLimit-Retry-After`, in seconds.
    pub fn retry_after(&self) -> Option<Duration> {
        retry_after(&self.headers)
    }
}

impl<E: ErrorEnvelope> ErrorAnswer<E> {
    /// The service's message.
    pub fn message(&self) -> Option<&str> {
        self.body.message()
    }
}

/// Bytes of an undocumented answer's body that are kept; the rest is dropped unread.
const KEPT_BODY: usize = 64 * 1024;

/// An answer the spec does not document for the operation: its status, headers and body.
#[derive(Debug, Clone)]
pub struct UnexpectedResponse {
    operation: &'static str,
    status: StatusCode,
    headers: HeaderMap,
    body: String,
    truncated: bool,
}

impl UnexpectedResponse {
    /// The operation's `operationId`.
    pub fn operation(&self) -> &'static str {
        self.operation
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The response headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body as text (invalid UTF-8 replaced), at most its first 64 KiB.
    pub fn body(&self) -> &str {
        &self.body
    }

    /// Whether the body was longer than what [`Self::body`] keeps.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }
}

/// A documented answer whose body does not parse as the spec's type.
#[derive(Debug)]
pub struct InvalidResponse {
    operation: &'static str,
    body: Vec<u8>,
    error: serde_json::Error,
}

impl InvalidResponse {
    /// The operation's `operationId`.
    pub fn operation(&self) -> &'static str {
        self.operation
    }

    /// The body as received.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Why it does not parse: the field and the line and column.
    pub fn error(&self) -> &serde_json::Error {
        &self.error
    }
}

impl<E> Error<E> {
    /// The operation's `operationId`.
    pub fn operation(&self) -> &'static str {
        match self {
            Error::UnexpectedResponse(response) => response.operation,
            Error::InvalidResponse(response) => response.operation,
            Error::Transport { operation, .. }
            | Error::InvalidRequest { operation, .. }
            | Error::SignIn { operation, .. } => operation,
            documented => documented.answer().map_or("", |answer| answer.operation),
        }
    }

    /// The answer's status, if an answer came.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::UnexpectedResponse(response) => Some(response.status),
            Error::Transport { error, .. } => error.status(),
            other => other.answer().map(|answer| answer.status),
        }
    }

    /// The documented error answer, whichever status it has.
    pub fn answer(&self) -> Option<&ErrorAnswer<E>> {
        match self {
            Error::BadRequest(answer)
            | Error::Unauthorized(answer)
            | Error::Forbidden(answer)
            | Error::NotFound(answer)
            | Error::Conflict(answer)
            | Error::PayloadTooLarge(answer)
            | Error::UnsupportedMediaType(answer)
            | Error::TooManyRequests(answer)
            | Error::InternalServerError(answer)
            | Error::ServiceUnavailable(answer) => Some(answer),
            _ => None,
        }
    }

    /// The error of what progenitor's generated `send` answered: a documented status becomes its
    /// variant, and an undocumented answer's body is read (up to 64 KiB) before the error is made.
    #[doc(hidden)]
    pub async fn classify<T>(
        operation: &'static str,
        result: Result<T, progenitor_client::Error<E>>,
    ) -> Result<T, Self> {
        use progenitor_client::Error as Generated;
        let error = match result {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        Err(match error {
            Generated::ErrorResponse(response) => {
                let status = response.status();
                let headers = response.headers().clone();
                let answer =
                    ErrorAnswer { operation, status, headers, body: response.into_inner() };
                match status.as_u16() {
                    400 => Error::BadRequest(answer),
                    401 => Error::Unauthorized(answer),
                    403 => Error::Forbidden(answer),
                    404 => Error::NotFound(answer),
                    409 => Error::Conflict(answer),
                    413 => Error::PayloadTooLarge(answer),
                    415 => Error::UnsupportedMediaType(answer),
                    429 => Error::TooManyRequests(answer),
                    500 => Error::InternalServerError(answer),
                    503 => Error::ServiceUnavailable(answer),
                    // Every error status the specs document has its variant (a test walks them), so
                    // this is a status added to a spec before it is added here.
                    _ => Error::UnexpectedResponse(UnexpectedResponse {
                        operation,
                        status,
                        headers: answer.headers,
                        body: String::new(),
                        truncated: false,
                    }),
                }
            }
            Generated::UnexpectedResponse(response) => {
                Error::UnexpectedResponse(UnexpectedResponse::read(operation, response).await)
            }
            Generated::InvalidResponsePayload(body, error) => {
                Error::InvalidResponse(InvalidResponse { operation, body: body.to_vec(), error })
            }
            Generated::CommunicationError(error)
            | Generated::InvalidUpgrade(error)
            | Generated::ResponseBodyError(error) => {
                Error::Transport { operation, error: origin_only(error) }
            }
            Generated::InvalidRequest(message) => Error::InvalidRequest { operation, message },
            Generated::Custom(message) => Error::SignIn { operation, message },
        })
    }
}

impl UnexpectedResponse {
    async fn read(operation: &'static str, mut response: reqwest::Response) -> Self {
        let status = response.status();
        let headers = std::mem::take(response.headers_mut());
        let mut body = Vec::new();
        let mut truncated = false;
        // A body that fails midway keeps what came; the status is the news.
        while let Ok(Some(chunk)) = response.chunk().await {
            let room = KEPT_BODY - body.len();
            if chunk.len() > room {
                body.extend_from_slice(&chunk[..room]);
                truncated = true;
                break;
            }
            body.extend_from_slice(&chunk);
        }
        let body = String::from_utf8_lossy(&body).into_owned();
        UnexpectedResponse { operation, status, headers, body, truncated }
    }
}

/// `404 Not Found`.
fn status_line(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

/// Text from a service, on one line and at most `limit` characters, for a message.
fn excerpt(text: &str, limit: usize) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(limit) {
        Some((end, _)) => format!("{}…", &line[..end]),
        None => line,
    }
}

/// `error` naming the server it failed to reach, without the request's path and query: a path may
/// carry a credential (AIOZ's multicast operations name a key by its `stream_key`), and the
/// operation already says which request it was.
fn origin_only(mut error: reqwest::Error) -> reqwest::Error {
    if let Some(url) = error.url_mut() {
        url.set_path("");
        url.set_query(None);
        url.set_fragment(None);
    }
    error
}

impl<E: ErrorEnvelope> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let operation = self.operation();
        match self {
            Error::UnexpectedResponse(response) => {
                write!(
                    f,
                    "{operation} answered {}, which its spec does not document",
                    status_line(response.status)
                )?;
                match excerpt(&response.body, 200) {
                    body if body.is_empty() => Ok(()),
                    body => write!(f, ": {body}"),
                }
            }
            Error::InvalidResponse(response) => write!(
                f,
                "{operation} answered a body its spec does not describe: {}",
                response.error
            ),
            Error::Transport { error, .. } => {
                write!(f, "{operation} failed before an answer came: {error}")?;
                let mut source = std::error::Error::source(error);
                while let Some(cause) = source {
                    write!(f, ": {cause}")?;
                    source = cause.source();
                }
                Ok(())
            }
            Error::InvalidRequest { message, .. } => {
                write!(f, "{operation} was not sent: {message}")
            }
            Error::SignIn { message, .. } => write!(f, "{operation} was not sent: {message}"),
            documented => {
                let answer = documented.answer().expect("every other variant is an answer");
                write!(f, "{operation} answered {}", status_line(answer.status))?;
                match answer.message() {
                    Some(message) if !message.is_empty() => {
                        write!(f, ": {}", excerpt(message, 500))
                    }
                    _ => Ok(()),
                }
            }
        }
    }
}

/// No `source`: `Display` already ends with the causes of a transport failure (so that one line says
/// "connection refused"), and an error reporter would print them twice.
impl<E: ErrorEnvelope + fmt::Debug> std::error::Error for Error<E> {}

#[cfg(test)]
mod tests {
    use streamspec_types::aioz::ErrorResponse;

    use super::*;

    type AiozError = Error<ErrorResponse>;

    fn documented(status: u16) -> AiozError {
        let body = ErrorResponse::with_message("live stream key not found");
        let status = StatusCode::from_u16(status).unwrap();
        let response = progenitor_client::ResponseValue::new(body, status, HeaderMap::new());
        let result: Result<(), _> = Err(progenitor_client::Error::ErrorResponse(response));
        futures::executor::block_on(Error::classify("get_live_stream_key", result)).unwrap_err()
    }

    /// Every error status a generated client's docs list (each operation's documented ones) is
    /// classified as the variant the docs link to, never as an unexpected answer.
    #[test]
    fn every_documented_status_has_its_variant() {
        let sources = [
            include_str!("generated/aioz.rs"),
            include_str!("generated/storm.rs"),
            include_str!("generated/emulator.rs"),
        ];
        let mut checked = std::collections::BTreeSet::new();
        for source in sources {
            for link in source.split("](crate::Error::").skip(1) {
                let Some((variant, rest)) = link.split_once(") (") else { continue };
                let status: u16 = rest[..3].parse().unwrap();
                if checked.insert(status) {
                    let error = documented(status);
                    let shown = format!("{error:?}");
                    assert!(shown.starts_with(&format!("{variant}(")), "{status}: {shown}");
                    assert_eq!(error.status().map(|s| s.as_u16()), Some(status));
                }
            }
        }
        assert!(checked.len() >= 10, "the specs document at least 10 error statuses: {checked:?}");
    }

    #[test]
    fn a_documented_error_reads_as_one_sentence() {
        let error = documented(404);
        assert!(matches!(error, Error::NotFound(ref answer) if answer.status() == 404));
        assert_eq!(
            error.to_string(),
            "get_live_stream_key answered 404 Not Found: live stream key not found"
        );
    }

    #[test]
    fn text_from_the_service_is_one_line_and_bounded() {
        assert_eq!(excerpt("a\n  b\tc", 10), "a b c");
        assert_eq!(excerpt(&"x".repeat(300), 200), format!("{}…", "x".repeat(200)));
    }
}
