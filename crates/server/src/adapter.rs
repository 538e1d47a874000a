//! The hand-written half of the axum adapter: decoding a request into typed parts with errors that name
//! the field at fault, reading credentials, and answering in the API's own error envelope. The
//! generated routers call these for every operation.

use std::any::Any;
use std::fmt;
use std::str::FromStr;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, RawPathParams, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::de::DeserializeOwned;
use streamspec_types::Secret;

/// The largest request body a router, and the conformance layer in front of one, reads by default:
/// 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// How a router behaves where the spec is silent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterOptions {
    /// The largest request body accepted; a larger one is answered 413. Default
    /// [`DEFAULT_BODY_LIMIT`].
    pub body_limit: usize,
}

impl Default for RouterOptions {
    fn default() -> Self {
        Self { body_limit: DEFAULT_BODY_LIMIT }
    }
}

/// Why a handler did not produce one of its operation's documented responses.
///
/// `NotImplemented` is what every trait method answers until it is implemented (501). `Internal` is for
/// failures of the implementation itself, such as a storage error: it is logged with its detail and
/// answered 500 with a generic message, so nothing internal leaks to the caller.
#[derive(Debug)]
#[non_exhaustive]
pub enum HandlerError {
    /// The operation has no implementation.
    NotImplemented {
        /// Its `operationId`.
        operation: &'static str,
    },
    /// The implementation failed.
    Internal {
        /// What went wrong, for the log only.
        detail: String,
    },
}

impl HandlerError {
    /// An internal failure, logged with `detail` and answered 500.
    pub fn internal(detail: impl fmt::Display) -> Self {
        Self::Internal { detail: detail.to_string() }
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandlerError::NotImplemented { operation } => {
                write!(f, "operation `{operation}` is not implemented")
            }
            HandlerError::Internal { detail } => write!(f, "internal error: {detail}"),
        }
    }
}

impl std::error::Error for HandlerError {}

/// The error body of an API: `{"status": "error", "message": ...}` for AIOZ, `{"message": ...}` for
/// Storm. Implemented once per API, next to its generated code.
pub trait ErrorEnvelope: Send + Sync + 'static {
    /// The JSON body of an error with this message.
    fn body(message: &str) -> serde_json::Value;

    /// A complete error response. Its message also rides along as an [`ErrorMessage`] extension,
    /// for a layer that logs why a request was refused.
    fn response(status: StatusCode, message: &str) -> Response {
        let mut response = (status, axum::Json(Self::body(message))).into_response();
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response.extensions_mut().insert(ErrorMessage(message.to_owned()));
        response
    }
}

/// The message of an error response made by [`ErrorEnvelope::response`]: what the adapter, the
/// conformance layer or a limit refused, in the words the body carries (which never hold a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorMessage(pub String);

/// A request the adapter refuses before (or instead of) calling the handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The 4xx (or 5xx) to answer.
    pub status: StatusCode,
    /// The message for the envelope, naming the field at fault.
    pub message: String,
}

impl Rejection {
    /// 400 with `message`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, message: message.into() }
    }

    /// 401 with `message`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self { status: StatusCode::UNAUTHORIZED, message: message.into() }
    }

    /// The response in the envelope `E`.
    pub fn into_response_with<E: ErrorEnvelope>(self) -> Response {
        E::response(self.status, &self.message)
    }
}

impl HandlerError {
    /// The response in the envelope `E`; logs an internal error.
    pub fn into_response_with<E: ErrorEnvelope>(self, operation: &str) -> Response {
        match self {
            HandlerError::NotImplemented { operation } => E::response(
                StatusCode::NOT_IMPLEMENTED,
                &format!("operation `{operation}` is not implemented"),
            ),
            HandlerError::Internal { detail } => {
                tracing::error!(operation, %detail, "handler failed");
                E::response(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
            }
        }
    }
}

/// One request being decoded.
#[derive(Debug)]
pub struct Call {
    parts: Parts,
    body: Body,
    path: Vec<(String, String)>,
    query: Vec<(String, String)>,
}

impl Call {
    /// Splits the request and reads its path and query parameters.
    pub async fn new(request: Request) -> Result<Self, Rejection> {
        let (mut parts, body) = request.into_parts();
        let path = RawPathParams::from_request_parts(&mut parts, &())
            .await
            .map_err(|rejection| Rejection::bad_request(format!("path: {rejection}")))?
            .iter()
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect();
        let query = match parts.uri.query() {
            None => Vec::new(),
            Some(query) => serde_urlencoded::from_str(query).map_err(|error| {
                Rejection::bad_request(format!("the query string is malformed: {error}"))
            })?,
        };
        Ok(Self { parts, body, path, query })
    }

    /// The request's headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.parts.headers
    }

    /// A path parameter, parsed.
    pub fn path<T: FromStr>(&self, name: &str, expected: &str) -> Result<T, Rejection> {
        let value = self
            .path
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .ok_or_else(|| Rejection::bad_request(format!("path parameter `{name}` is missing")))?;
        value.parse().map_err(|_| {
            Rejection::bad_request(format!("path parameter `{name}`: `{value}` is not {expected}"))
        })
    }

    fn query_value(&self, name: &str) -> Result<Option<&str>, Rejection> {
        let mut values = self.query.iter().filter(|(key, _)| key == name);
        let first = values.next().map(|(_, value)| value.as_str());
        if values.next().is_some() {
            return Err(Rejection::bad_request(format!(
                "query parameter `{name}` is given more than once"
            )));
        }
        Ok(first)
    }

    /// A query parameter, parsed; `None` when absent.
    pub fn query<T: FromStr>(&self, name: &str, expected: &str) -> Result<Option<T>, Rejection> {
        self.query_value(name)?
            .map(|value| {
                value.parse().map_err(|_| {
                    Rejection::bad_request(format!(
                        "query parameter `{name}`: `{value}` is not {expected}"
                    ))
                })
            })
            .transpose()
    }

    /// An integer query parameter within `min..=max`, as `T` (the type the client's builder takes for
    /// it); `None` when absent.
    pub fn query_integer<T: FromStr>(
        &self,
        name: &str,
        min: Option<i64>,
        max: Option<i64>,
    ) -> Result<Option<T>, Rejection> {
        let Some(value) = self.query::<i64>(name, "an integer")? else {
            return Ok(None);
        };
        let in_range = min.is_none_or(|min| value >= min) && max.is_none_or(|max| value <= max);
        let range = || match (min, max) {
            (Some(min), Some(max)) => format!(", it must be between {min} and {max}"),
            (Some(min), None) => format!(", it must be at least {min}"),
            (None, Some(max)) => format!(", it must be at most {max}"),
            (None, None) => String::new(),
        };
        let out_of_range = || {
            Rejection::bad_request(format!(
                "query parameter `{name}`: {value} is out of range{}",
                range()
            ))
        };
        if !in_range {
            return Err(out_of_range());
        }
        // The generated type holds every value within the spec's bounds; this refuses the rest.
        value.to_string().parse().map(Some).map_err(|_| out_of_range())
    }

    /// A required query parameter.
    pub fn required<T>(value: Option<T>, name: &str) -> Result<T, Rejection> {
        value.ok_or_else(|| Rejection::bad_request(format!("query parameter `{name}` is required")))
    }

    /// The JSON body, decoded: 415 unless it is read as JSON ([`body_is_json`]), 413 over `limit`, 400
    /// naming the field for anything the type refuses.
    pub async fn json_body<T: DeserializeOwned>(&mut self, limit: usize) -> Result<T, Rejection> {
        let content_type = self.parts.headers.get(CONTENT_TYPE).cloned();
        let not_json = || Rejection {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            message: "the body must be JSON: send `Content-Type: application/json`".to_owned(),
        };
        if media_type(content_type.as_ref()) == MediaType::Other {
            return Err(not_json());
        }
        let too_large = || Rejection {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: format!("the body is larger than the limit of {limit} bytes"),
        };
        let declared = self
            .parts
            .headers
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok()?.parse::<usize>().ok());
        if declared.is_some_and(|length| length > limit) {
            return Err(too_large());
        }
        let body = std::mem::take(&mut self.body);
        let bytes: Bytes = axum::body::to_bytes(body, limit).await.map_err(|error| {
            if is_length_limit(&error) {
                too_large()
            } else {
                Rejection::bad_request(format!("the body could not be read: {error}"))
            }
        })?;
        if !body_is_json(content_type.as_ref(), &bytes) {
            return Err(not_json());
        }
        decode_json(&bytes)
    }
}

/// How a request's `Content-Type` is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MediaType {
    /// `application/json` or `application/*+json`.
    Json,
    /// No type, or `application/x-www-form-urlencoded`, what `curl -d` sends when not told otherwise.
    CurlDefault,
    /// Any other type: never read as JSON.
    Other,
}

fn media_type(content_type: Option<&HeaderValue>) -> MediaType {
    let Some(value) = content_type else {
        return MediaType::CurlDefault;
    };
    let essence = value
        .to_str()
        .ok()
        .and_then(|value| value.split(';').next())
        .map(|essence| essence.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
    {
        MediaType::Json
    } else if essence == "application/x-www-form-urlencoded" {
        MediaType::CurlDefault
    } else {
        MediaType::Other
    }
}

/// Whether a request body is read as JSON: when its type says JSON, or when it has no type or curl's
/// default form type and its first non-blank byte opens a JSON object or array. The vendors' own curl
/// examples send JSON with `-d` and no `Content-Type` (AIOZ's update, documented as `200: OK`), so a
/// server answers them as the documents say; a real form body (`a=b`) or any other type stays a 415.
/// The conformance layer reads bodies by the same rule, so both check the same requests.
pub fn body_is_json(content_type: Option<&HeaderValue>, body: &[u8]) -> bool {
    match media_type(content_type) {
        MediaType::Json => true,
        MediaType::CurlDefault => {
            matches!(body.iter().find(|byte| !byte.is_ascii_whitespace()), Some(b'{' | b'['))
        }
        MediaType::Other => false,
    }
}

/// Whether a request with this `Content-Type` may carry a body that is read as JSON (decided by
/// [`body_is_json`] once the body is read).
pub fn may_be_json(content_type: Option<&HeaderValue>) -> bool {
    media_type(content_type) != MediaType::Other
}

/// Decodes JSON into `T` with `axum::Json`, with a message that names the field at fault
/// (`data.attributes.authType`). The body ends where the value ends: anything after it but white
/// space is a 400, as `axum::Json` has it, so the conformance layer and the handler read the same
/// bodies.
pub fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Rejection> {
    axum::Json::<T>::from_bytes(bytes)
        .map(|axum::Json(value)| value)
        .map_err(|rejection| json_rejection(&rejection))
}

/// `axum::Json`'s rejection in words that name the field: the path its `serde_path_to_error` error
/// carries, or the syntax error of `serde_json`.
fn json_rejection(rejection: &axum::extract::rejection::JsonRejection) -> Rejection {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(rejection);
    while let Some(current) = source {
        if let Some(error) = current.downcast_ref::<serde_path_to_error::Error<serde_json::Error>>()
        {
            let inner = error.inner();
            if inner.is_syntax() || inner.is_eof() {
                return Rejection::bad_request(format!("the body is not valid JSON: {inner}"));
            }
            return match error.path().to_string().as_str() {
                "." => Rejection::bad_request(format!("body: {inner}")),
                path => Rejection::bad_request(format!("body field `{path}`: {inner}")),
            };
        }
        if let Some(inner) = current.downcast_ref::<serde_json::Error>() {
            return Rejection::bad_request(format!("the body is not valid JSON: {inner}"));
        }
        source = current.source();
    }
    Rejection::bad_request(rejection.body_text())
}

fn is_length_limit(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if current.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = current.source();
    }
    false
}

/// `Authorization: Bearer <token>`: `None` when there is no bearer authorization.
pub fn bearer(headers: &HeaderMap) -> Result<Option<Secret>, Rejection> {
    let Some((scheme, rest)) = authorization(headers)? else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    Secret::new(rest.trim())
        .map(Some)
        .map_err(|_| Rejection::unauthorized("the `Authorization: Bearer` header has no token"))
}

/// HTTP Basic: the user and password, or `None` when there is no Basic authorization.
pub fn basic(headers: &HeaderMap) -> Result<Option<(String, Secret)>, Rejection> {
    let Some((scheme, rest)) = authorization(headers)? else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let malformed = || Rejection::unauthorized("the `Authorization: Basic` header is malformed");
    let decoded =
        base64::engine::general_purpose::STANDARD.decode(rest.trim()).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (user, password) = decoded.split_once(':').ok_or_else(malformed)?;
    let password = Secret::new(password).map_err(|_| malformed())?;
    if user.is_empty() {
        return Err(malformed());
    }
    Ok(Some((user.to_owned(), password)))
}

/// An API key header: `None` when absent, 401 when present but empty or not text.
pub fn api_key(headers: &HeaderMap, name: &str) -> Result<Option<Secret>, Rejection> {
    let Some(value) = headers.get(name) else {
        return Ok(None);
    };
    let malformed = || Rejection::unauthorized(format!("the `{name}` header is malformed"));
    let text = value.to_str().map_err(|_| malformed())?;
    Secret::new(text.trim()).map(Some).map_err(|_| malformed())
}

fn authorization(headers: &HeaderMap) -> Result<Option<(&str, &str)>, Rejection> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed = || Rejection::unauthorized("the `Authorization` header is malformed");
    let text = value.to_str().map_err(|_| malformed())?;
    let (scheme, rest) = text.trim().split_once(' ').ok_or_else(malformed)?;
    Ok(Some((scheme, rest)))
}

/// The message of a handler's panic, for the log.
pub fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message")
}

/// Answers a handler's panic with 500 in the envelope `E`, after logging it; the server keeps serving.
pub fn panic_response<E: ErrorEnvelope>(panic: Box<dyn Any + Send + 'static>) -> Response {
    tracing::error!(panic = panic_message(panic.as_ref()), "a handler panicked");
    E::response(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
}

/// Gives axum's own empty 405 (which keeps its `Allow` header) the envelope `E`.
pub async fn method_not_allowed_envelope<E: ErrorEnvelope>(response: Response) -> Response {
    if response.status() != StatusCode::METHOD_NOT_ALLOWED
        || response.headers().contains_key(CONTENT_TYPE)
    {
        return response;
    }
    let allow = response.headers().get(axum::http::header::ALLOW).cloned();
    let mut enveloped = E::response(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    if let Some(allow) = allow {
        enveloped.headers_mut().insert(axum::http::header::ALLOW, allow);
    }
    enveloped
}

/// A JSON response; a body that cannot be serialized is a failure of the server (500).
pub fn json_response<T: serde::Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => {
            let mut response = (status, bytes).into_response();
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        Err(error) => {
            tracing::error!(%error, "a response body could not be serialized");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal server error").into_response()
        }
    }
}

/// Completes a router of operations: 404 for unknown paths, the envelope on axum's 405, and a panic in
/// a handler answered 500, all in the envelope `E`.
pub fn finish<E: ErrorEnvelope>(routes: axum::Router) -> axum::Router {
    with_envelope::<E>(routes.fallback(not_found::<E>))
}

/// The envelope on axum's 405 and on a handler's panic (500), for the routes of `router`.
pub fn with_envelope<E: ErrorEnvelope>(router: axum::Router) -> axum::Router {
    router
        .layer(axum::middleware::map_response(method_not_allowed_envelope::<E>))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panic_response::<E>))
}

/// 404 in the envelope `E`, for paths no operation has.
pub async fn not_found<E: ErrorEnvelope>(request: Request) -> Response {
    E::response(
        StatusCode::NOT_FOUND,
        &format!("no operation at {} {}", request.method(), request.uri().path()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types() {
        let check = |value: &str, body: &[u8]| {
            body_is_json(Some(&HeaderValue::from_str(value).unwrap()), body)
        };
        assert!(check("application/json", b"x"));
        assert!(check("Application/JSON; charset=utf-8", b""));
        assert!(check("application/vnd.api+json", b"{}"));
        assert!(check("application/x-www-form-urlencoded", b"\n {\"name\": \"x\"}"));
        assert!(check("application/x-www-form-urlencoded", b"[1]"));
        assert!(!check("application/x-www-form-urlencoded", b"name=x"));
        assert!(!check("application/x-www-form-urlencoded", b""));
        assert!(!check("text/json", b"{}"));
        assert!(!check("multipart/form-data; boundary=x", b"{}"));
        assert!(body_is_json(None, b"{}"));
        assert!(!body_is_json(None, b"name=x"));
    }

    #[test]
    fn decode_errors_name_the_field() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Inner {
            count: u8,
        }
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Outer {
            inner: Inner,
        }
        let error = decode_json::<Outer>(br#"{"inner": {"count": "x"}}"#).unwrap_err();
        assert_eq!(error.status, StatusCode::BAD_REQUEST);
        assert!(
            error.message.starts_with("body field `inner.count`: invalid type"),
            "{}",
            error.message
        );
        let error = decode_json::<Outer>(br#"{"inner": {}}"#).unwrap_err();
        assert_eq!(error.message, "body field `inner`: missing field `count` at line 1 column 12");
        let error = decode_json::<Outer>(br#"{"inner": {"count": 1}} x"#).unwrap_err();
        assert_eq!(
            error.message,
            "the body is not valid JSON: trailing characters at line 1 column 25"
        );
        assert!(decode_json::<Outer>(b"{\"inner\": {\"count\": 1}}\n \t").is_ok());
        let error = decode_json::<Outer>(b"{\"inner\": [1,]}").unwrap_err();
        assert!(
            error.message.starts_with("the body is not valid JSON: trailing comma"),
            "{}",
            error.message
        );
    }

    #[test]
    fn basic_credentials_decode() {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Basic cGs6c2s="));
        let (user, password) = basic(&headers).unwrap().unwrap();
        assert_eq!((user.as_str(), password.expose()), ("pk", "sk"));
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Basic !!!"));
        assert_eq!(basic(&headers).unwrap_err().status, StatusCode::UNAUTHORIZED);
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
        assert!(basic(&headers).unwrap().is_none());
        assert_eq!(bearer(&headers).unwrap().unwrap().expose(), "abc");
    }
}
