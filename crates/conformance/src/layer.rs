//! [`ConformanceLayer`]: validates a server's requests, and optionally its responses, against the spec.
//!
//! ```no_run
//! use std::sync::Arc;
//! use streamspec_conformance::Api;
//! use streamspec_conformance::layer::ConformanceLayer;
//! # struct Keys;
//! # #[streamspec_server::async_trait] impl streamspec_server::aioz::LiveStreamsApi for Keys {}
//!
//! let router = streamspec_server::aioz::router(Arc::new(Keys))
//!     .layer(ConformanceLayer::new(Api::Aioz).validate_responses(true));
//! ```
//!
//! One layer can check several APIs served by one router ([`ConformanceLayer::apis`]): each request
//! is checked against the API whose operation it is, and answered in that API's envelope.
//!
//! A request body that is JSON but breaks its schema (a rule of the Storm ingest settings, say) is
//! answered 400 in the API's envelope, listing the violations, before the handler runs. A body that is not
//! JSON at all is left to the router, whose message points at the syntax error. With
//! [`ConformanceLayer::validate_responses`], a response whose body breaks the schema of its status is
//! logged with its violations and replaced by a 500, so a bug in an implementation shows the first time
//! it happens. Statuses the spec does not document for the operation (the adapter's own 404, 405, 501)
//! pass through.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::http::header::CONTENT_TYPE;
use axum::http::{Request, StatusCode};
use axum::response::Response;
use serde_json::Value;
use streamspec_server::adapter::{body_is_json, may_be_json};

use crate::{Api, Catalog, Operation, Violation};

/// Validates requests (always) and responses (when asked) of a router serving one API or several.
#[derive(Debug, Clone)]
pub struct ConformanceLayer {
    config: Arc<Config>,
}

struct Config {
    apis: Vec<Api>,
    responses: bool,
    body_limit: usize,
    authenticated: Option<Arc<Authenticated>>,
}

/// What a server makes of a request's credentials, before anything reads its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authentication {
    /// The operation needs none, or the credentials are accepted: the body is validated.
    Accepted,
    /// No credentials at all: the request is passed on unread, and the server answers its own 401
    /// (which says what to send).
    Missing,
    /// Credentials the server does not accept: answered 401 in the API's envelope with this message,
    /// before the body is read.
    Refused(String),
}

/// The server's own credential check, for [`ConformanceLayer::authenticate_first`].
type Authenticated = dyn Fn(Api, &str, &axum::http::HeaderMap) -> Authentication + Send + Sync;

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("apis", &self.apis)
            .field("responses", &self.responses)
            .field("body_limit", &self.body_limit)
            .field("authenticates_first", &self.authenticated.is_some())
            .finish()
    }
}

impl ConformanceLayer {
    /// Validates requests to `api`'s operations; responses are not checked.
    pub fn new(api: Api) -> Self {
        Self::apis([api])
    }

    /// Validates requests to the operations of every API in `apis`, with one layer: a router that
    /// serves several APIs pays for one look-up and one wrapper per request instead of one per API.
    /// The first API whose operation a request is decides its schema and its error envelope.
    ///
    /// Compiles the [`Catalog`] now if nothing has yet (once per process, some tens of
    /// milliseconds), so that the first request does not wait for it.
    pub fn apis(apis: impl IntoIterator<Item = Api>) -> Self {
        Catalog::get();
        let apis = apis.into_iter().collect();
        Self {
            config: Arc::new(Config {
                apis,
                responses: false,
                body_limit: streamspec_server::adapter::DEFAULT_BODY_LIMIT,
                authenticated: None,
            }),
        }
    }

    /// Also validate every response (meant for tests and debug runs: it buffers every response).
    pub fn validate_responses(self, yes: bool) -> Self {
        Self { config: Arc::new(Config { responses: yes, ..self.config.as_ref().clone_config() }) }
    }

    /// Checks credentials before bodies, so that an unauthenticated client learns nothing about what
    /// a valid body looks like: `authenticated(api, operation_id, headers)` is the server's own
    /// check ([`Authentication`]); the server still makes it too.
    pub fn authenticate_first(
        self,
        authenticated: impl Fn(Api, &str, &axum::http::HeaderMap) -> Authentication
        + Send
        + Sync
        + 'static,
    ) -> Self {
        let authenticated: Arc<Authenticated> = Arc::new(authenticated);
        Self {
            config: Arc::new(Config {
                authenticated: Some(authenticated),
                ..self.config.as_ref().clone_config()
            }),
        }
    }

    /// The largest request body the layer reads to validate; a larger one is answered 413. Default
    /// [`DEFAULT_BODY_LIMIT`](streamspec_server::adapter::DEFAULT_BODY_LIMIT), the router's.
    pub fn body_limit(self, bytes: usize) -> Self {
        Self {
            config: Arc::new(Config { body_limit: bytes, ..self.config.as_ref().clone_config() }),
        }
    }
}

impl Config {
    fn clone_config(&self) -> Config {
        Config {
            apis: self.apis.clone(),
            responses: self.responses,
            body_limit: self.body_limit,
            authenticated: self.authenticated.clone(),
        }
    }

    /// The operation a request is, and the API it belongs to.
    fn find(&self, method: &str, path: &str) -> Option<(Api, &'static Operation)> {
        let catalog = Catalog::get();
        self.apis
            .iter()
            .find_map(|&api| catalog.find_operation(api, method, path).map(|found| (api, found)))
    }
}

impl<S> tower::Layer<S> for ConformanceLayer {
    type Service = ConformanceService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ConformanceService { inner, config: self.config.clone() }
    }
}

/// The service of [`ConformanceLayer`].
#[derive(Debug, Clone)]
pub struct ConformanceService<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> tower::Service<Request<Body>> for ConformanceService<S>
where
    S: tower::Service<Request<Body>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        // The clone that was made ready is the one to call; keep a fresh clone for next time.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let config = self.config.clone();
        Box::pin(async move {
            let Some((api, operation)) =
                config.find(request.method().as_str(), request.uri().path())
            else {
                return inner.call(request).await;
            };
            let content_type = request.headers().get(CONTENT_TYPE).cloned();
            let authentication = match &config.authenticated {
                Some(check) => check(api, operation.id(), request.headers()),
                None => Authentication::Accepted,
            };
            match authentication {
                Authentication::Accepted => {}
                Authentication::Missing => return inner.call(request).await,
                Authentication::Refused(message) => {
                    return Ok(api.error_response(StatusCode::UNAUTHORIZED, &message));
                }
            }
            let request = match (operation.request(), may_be_json(content_type.as_ref())) {
                (Some(schema), true) => {
                    let too_large = || {
                        let message = format!(
                            "the body is larger than the limit of {} bytes",
                            config.body_limit
                        );
                        api.error_response(StatusCode::PAYLOAD_TOO_LARGE, &message)
                    };
                    // A declared length over the limit is answered at once, not after waiting for
                    // a body that may never come.
                    let declared = request
                        .headers()
                        .get(axum::http::header::CONTENT_LENGTH)
                        .and_then(|value| value.to_str().ok()?.parse::<usize>().ok());
                    if declared.is_some_and(|length| length > config.body_limit) {
                        return Ok(too_large());
                    }
                    let (parts, body) = request.into_parts();
                    let Ok(bytes) = axum::body::to_bytes(body, config.body_limit).await else {
                        return Ok(too_large());
                    };
                    // A body read as JSON is checked, or refused: one that does not parse never
                    // reaches the handler unchecked.
                    if body_is_json(content_type.as_ref(), &bytes) {
                        let verdict = match serde_json::from_slice::<Value>(&bytes) {
                            Ok(payload) => schema.validate(&payload).map_err(|v| summary(&v)),
                            Err(error) => Err(format!("the body is not valid JSON: {error}")),
                        };
                        if let Err(message) = verdict {
                            return Ok(api.error_response(StatusCode::BAD_REQUEST, &message));
                        }
                    }
                    Request::from_parts(parts, Body::from(bytes))
                }
                _ => request,
            };
            let response = inner.call(request).await?;
            if !config.responses {
                return Ok(response);
            }
            let status = response.status().as_u16();
            let Some(schema) = operation.response(status) else {
                return Ok(response);
            };
            let (parts, body) = response.into_parts();
            let bytes: Bytes = match axum::body::to_bytes(body, usize::MAX).await {
                Ok(bytes) => bytes,
                Err(error) => {
                    tracing::error!(operation = operation.id(), %error, "the response body could not be read");
                    return Ok(api.error_response(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal server error",
                    ));
                }
            };
            let verdict = match serde_json::from_slice::<Value>(&bytes) {
                Ok(payload) => schema.validate(&payload).map_err(|violations| summary(&violations)),
                Err(error) => Err(format!("the body is not JSON: {error}")),
            };
            if let Err(problems) = verdict {
                tracing::error!(
                    operation = operation.id(),
                    status,
                    violations = %problems,
                    "the response does not conform to the spec"
                );
                let message = "internal server error: the response did not conform to the spec";
                return Ok(api.error_response(StatusCode::INTERNAL_SERVER_ERROR, message));
            }
            Ok(Response::from_parts(parts, Body::from(bytes)))
        })
    }
}

/// The violations as one message: `a; b; c`.
pub fn summary(violations: &[Violation]) -> String {
    violations.iter().map(|violation| violation.message.as_str()).collect::<Vec<_>>().join("; ")
}
