//! A client connection's bytes as the server sees them, with two deadlines and one rewrite:
//!
//! - a request head must be complete within the head timeout, counted from the connection's start
//!   or from the first byte of the head;
//! - between requests a keep-alive connection may stay silent for the idle timeout, no longer;
//! - hyper answers a head it cannot parse (400, 414, 431) itself, with an empty body, before any
//!   service sees the request. That answer is replaced here by the same status in the envelope of
//!   the API the request line names, so every 4xx the emulator sends says what went wrong. (A
//!   request that arrived together with the one before it, pipelined, gets the envelope of that
//!   earlier request's API: the line read first since the last answer is the one kept.)
//!
//! hyper's own header timeout starts when it waits for a head, so it cannot tell an idle keep-alive
//! connection from a slow head; these deadlines can, because the service marks each head as complete.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use streamspec_server::axum::http::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Set by the service when hyper hands it a request: the head is complete.
#[derive(Debug, Default)]
pub(crate) struct HeadComplete(AtomicBool);

impl HeadComplete {
    pub(crate) fn mark(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    fn take(&self) -> bool {
        self.0.swap(false, Ordering::Relaxed)
    }
}

/// The two deadlines of a connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    pub(crate) head: Duration,
    pub(crate) idle: Duration,
}

/// What the connection is waiting for from its client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waiting {
    /// A request head, due by the deadline.
    Head,
    /// Nothing: a request is being served, and its body is read under the request time limit.
    Nothing,
    /// The next request, after a response; silence past the deadline closes the connection.
    Idle,
}

/// The start of the request line, kept to choose the envelope of an error hyper answers.
const REQUEST_START: usize = 64;

/// A client's stream with the deadlines and the enveloped protocol errors; see the module docs.
pub(crate) struct ClientIo<S> {
    inner: S,
    head_complete: Arc<HeadComplete>,
    timeouts: Timeouts,
    waiting: Waiting,
    deadline: Instant,
    timer: Pin<Box<Sleep>>,
    /// The first bytes read since the last response, which begin the next request line.
    request_start: Vec<u8>,
    /// Set by a write: the next bytes read begin a new request.
    new_request: bool,
    replacement: Option<Replacement>,
}

/// An enveloped answer written in place of hyper's empty one.
struct Replacement {
    bytes: Vec<u8>,
    written: usize,
    /// The length of hyper's answer, reported to hyper as written once all of `bytes` are.
    replaces: usize,
}

impl<S> ClientIo<S> {
    pub(crate) fn new(inner: S, timeouts: Timeouts, head_complete: Arc<HeadComplete>) -> Self {
        let deadline = Instant::now() + timeouts.head;
        Self {
            inner,
            head_complete,
            timeouts,
            waiting: Waiting::Head,
            deadline,
            timer: Box::pin(tokio::time::sleep_until(deadline)),
            request_start: Vec::new(),
            new_request: true,
            replacement: None,
        }
    }

    fn wait_for(&mut self, waiting: Waiting) {
        self.waiting = waiting;
        self.deadline = Instant::now()
            + match waiting {
                Waiting::Idle => self.timeouts.idle,
                Waiting::Head | Waiting::Nothing => self.timeouts.head,
            };
    }

    /// A head hyper has handed to the service is no longer waited for.
    fn observe_head_complete(&mut self) {
        if self.head_complete.take() {
            self.waiting = Waiting::Nothing;
        }
    }

    /// Whether the deadline of what the connection waits for has passed; if not, the task is woken
    /// when it does.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> bool {
        if self.waiting == Waiting::Nothing {
            return false;
        }
        if self.timer.deadline() != self.deadline {
            self.timer.as_mut().reset(self.deadline);
        }
        self.timer.as_mut().poll(cx).is_ready()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for ClientIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        this.observe_head_complete();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let read = &buf.filled()[before..];
                if !read.is_empty() {
                    if this.waiting == Waiting::Idle {
                        this.wait_for(Waiting::Head);
                    }
                    if std::mem::take(&mut this.new_request) {
                        this.request_start.clear();
                    }
                    let room = REQUEST_START.saturating_sub(this.request_start.len());
                    this.request_start.extend_from_slice(&read[..room.min(read.len())]);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => {
                if !this.poll_deadline(cx) {
                    return Poll::Pending;
                }
                if this.waiting == Waiting::Idle {
                    // An idle connection ends as if its client had closed it.
                    return Poll::Ready(Ok(()));
                }
                // A client that began a head is told why it is cut off, in one attempt to write
                // that does not wait on it.
                if !this.new_request && !this.request_start.is_empty() {
                    let path = request_path(&this.request_start);
                    let answer = enveloped(StatusCode::REQUEST_TIMEOUT, path);
                    let _ = Pin::new(&mut this.inner).poll_write(cx, &answer);
                }
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the request head did not arrive in time",
                )))
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for ClientIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        this.observe_head_complete();
        if this.replacement.is_none() {
            match find_protocol_error(buf) {
                Some(ProtocolError { at: 0, status, length }) => {
                    let path = request_path(&this.request_start);
                    this.replacement = Some(Replacement {
                        bytes: enveloped(status, path),
                        written: 0,
                        replaces: length,
                    });
                }
                // What comes before hyper's answer goes out first, as it is.
                Some(ProtocolError { at, .. }) => return this.write_response_bytes(cx, &buf[..at]),
                None => return this.write_response_bytes(cx, buf),
            }
        }
        let Some(replacement) = this.replacement.as_mut() else { unreachable!() };
        while replacement.written < replacement.bytes.len() {
            let rest = &replacement.bytes[replacement.written..];
            match ready!(Pin::new(&mut this.inner).poll_write(cx, rest)) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(written) => replacement.written += written,
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
        let replaces = replacement.replaces;
        this.replacement = None;
        this.new_request = true;
        Poll::Ready(Ok(replaces))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<S: AsyncWrite + Unpin> ClientIo<S> {
    /// Writes what the service answered; the next request is then waited for as idle time.
    fn write_response_bytes(
        &mut self,
        cx: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = ready!(Pin::new(&mut self.inner).poll_write(cx, bytes))?;
        self.wait_for(Waiting::Idle);
        self.new_request = true;
        Poll::Ready(Ok(written))
    }
}

/// hyper's answer to a head it could not parse, found in bytes it writes.
#[derive(Debug, PartialEq, Eq)]
struct ProtocolError {
    /// Where the answer starts.
    at: usize,
    status: StatusCode,
    /// The answer's length: a head with no body.
    length: usize,
}

/// The status lines hyper answers unparseable heads with (`hyper::proto::h1::role::Server::on_error`).
const PROTOCOL_ERRORS: [(&[u8], StatusCode); 3] = [
    (b"HTTP/1.1 400 Bad Request\r\n", StatusCode::BAD_REQUEST),
    (b"HTTP/1.1 414 URI Too Long\r\n", StatusCode::URI_TOO_LONG),
    (
        b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
    ),
];

/// Finds hyper's own error answer in `bytes`: one of [`PROTOCOL_ERRORS`] whose head declares an
/// empty body and ends `bytes`. The emulator's own 4xx answers always carry a JSON body, JSON never
/// holds a raw line break, and no header of its answers repeats the client's input, so no answer of
/// the service is taken for one.
fn find_protocol_error(bytes: &[u8]) -> Option<ProtocolError> {
    // Cheap first: hyper's answer is a bare head, so `bytes` end with the blank line.
    if !bytes.ends_with(b"\r\n\r\n") {
        return None;
    }
    PROTOCOL_ERRORS.iter().find_map(|(line, status)| {
        let at = find(bytes, line)?;
        let head = &bytes[at..];
        let empty =
            head.windows(19).any(|window| window.eq_ignore_ascii_case(b"content-length: 0\r\n"));
        empty.then_some(ProtocolError { at, status: *status, length: head.len() })
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

/// The path of the request line that starts `request`, as far as it was read.
pub(crate) fn request_path(request: &[u8]) -> &str {
    let line = request.split(|&byte| byte == b'\r' || byte == b'\n').next().unwrap_or_default();
    let target = line.split(|&byte| byte == b' ').nth(1).unwrap_or_default();
    std::str::from_utf8(target).unwrap_or_default()
}

/// A whole response in the envelope of the API `path` belongs to, closing the connection.
pub(crate) fn enveloped(status: StatusCode, path: &str) -> Vec<u8> {
    let message = match status {
        StatusCode::REQUEST_TIMEOUT => "the request head did not arrive within the head timeout",
        StatusCode::SERVICE_UNAVAILABLE => {
            "the server has as many connections open as it takes (`max_connections`); try again"
        }
        StatusCode::URI_TOO_LONG => "the request target is longer than the server reads",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
            "the request head has more headers, or more bytes, than the server reads"
        }
        _ => "the request is not valid HTTP/1.1: its request line or a header is malformed",
    };
    let body = streamspec_server::error_body(path, message).to_string();
    let reason = status.canonical_reason().unwrap_or_default();
    let retry = if status == StatusCode::SERVICE_UNAVAILABLE { "retry-after: 1\r\n" } else { "" };
    let mut answer = format!(
        "HTTP/1.1 {} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{retry}connection: close\r\n\r\n",
        status.as_u16(),
        body.len()
    )
    .into_bytes();
    answer.extend_from_slice(body.as_bytes());
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYPER_431: &[u8] = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Thu, 03 Dec 2026 09:00:00 GMT\r\n\r\n";

    #[test]
    fn hyper_answers_are_found_and_the_service_answers_are_not() {
        assert_eq!(
            find_protocol_error(HYPER_431),
            Some(ProtocolError {
                at: 0,
                status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                length: HYPER_431.len()
            })
        );
        let previous = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
        let both = [&previous[..], HYPER_431].concat();
        assert_eq!(find_protocol_error(&both).map(|found| found.at), Some(previous.len()));
        let enveloped_400 = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 17\r\n\r\n{\"message\":\"no\"}";
        assert_eq!(find_protocol_error(enveloped_400), None);
        let head_only_200 = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(find_protocol_error(head_only_200), None);
    }

    #[test]
    fn the_envelope_follows_the_request_line() {
        assert_eq!(request_path(b"GET /api/live_streams?x HTTP/1.1\r\nHo"), "/api/live_streams?x");
        assert_eq!(request_path(b"GET /api/applic"), "/api/applic");
        assert_eq!(request_path(b"\x16\x03\x01"), "");
        let aioz =
            String::from_utf8(enveloped(StatusCode::BAD_REQUEST, "/api/live_streams")).unwrap();
        assert!(aioz.contains(r#""status":"error""#), "{aioz}");
        let (head, body) = aioz.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("\r\ncontent-length: {}\r\n", body.len())), "{aioz}");
        assert!(head.ends_with("\r\nconnection: close"), "{aioz}");
        let storm =
            String::from_utf8(enveloped(StatusCode::URI_TOO_LONG, "/api/applications")).unwrap();
        assert!(storm.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{storm}");
        assert!(!storm.contains("status"), "{storm}");
    }
}
