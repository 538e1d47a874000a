//! Async server traits and axum routers for the two APIs streamspec covers, generated from its
//! hand-written OpenAPI specs: implement a trait, get a router that speaks the spec exactly.
//!
//! - [`aioz::LiveStreamsApi`] and [`aioz::router`]: AIOZ Stream live stream keys.
//! - [`storm::StormApi`] and [`storm::router`]: Storm Streaming Server applications and ingest settings.
//! - [`both`]: both APIs on one router (their paths do not clash).
//! - [`emulator::EmulatorApi`] and [`emulator::router`]: the emulator's own publish attempts
//!   (`spec/emulator.yaml`), under `/_emulator/`.
//!
//! Each trait method receives a typed input (path and query parameters with the spec's defaults
//! applied, the decoded body, and the caller's [`aioz::Credentials`] / [`storm::Credentials`]) and
//! answers one of its operation's documented responses, a variant of a generated enum such as
//! [`aioz::GetLiveStreamKeyResponse`], so a handler cannot answer what the spec does not allow. Every
//! method has a default that answers 501, so an implementation can start with one operation:
//!
//! ```no_run
//! use std::sync::Arc;
//! use streamspec_server::aioz::{self, DeleteLiveStreamKeyInput, DeleteLiveStreamKeyResponse, LiveStreamsApi, ResponseHeaders};
//! use streamspec_server::aioz::types::DeleteLiveStreamKeyResponse as Body;
//! use streamspec_server::{HandlerError, async_trait};
//!
//! struct Keys;
//!
//! #[async_trait]
//! impl LiveStreamsApi for Keys {
//!     async fn delete_live_stream_key(
//!         &self,
//!         input: DeleteLiveStreamKeyInput,
//!     ) -> Result<DeleteLiveStreamKeyResponse, HandlerError> {
//!         let headers = ResponseHeaders { x_rate_limit_limit: 100, x_rate_limit_remaining: 99, x_rate_limit_retry_after: 60 };
//!         let mut body = Body::new();
//!         body.status = Some("success".into());
//!         body.message = Some(format!("deleted {}", input.id));
//!         Ok(DeleteLiveStreamKeyResponse::Ok(body, headers))
//!     }
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! streamspec_server::axum::serve(listener, aioz::router(Arc::new(Keys))).await
//! # }
//! ```
//!
//! What the adapter does before a handler runs, in the API's own error envelope: 401 for missing or
//! malformed credentials, and for credentials the trait's `authenticate` refuses (checked before the
//! query and body are read, so an unknown caller learns nothing about them); 400 naming the field for malformed JSON, a wrong type, a missing field, an
//! unknown enum value, a bad UUID or an out-of-range query value; 415 for a body that is not JSON; 413
//! for a body over [`RouterOptions::body_limit`]; 404 for an unknown path; 405 with `Allow` for an
//! unknown method. A panicking handler is logged and answered 500, and the server keeps serving.

pub mod adapter;
pub mod aioz;
pub mod emulator;
pub mod storm;

#[path = "generated/apis.rs"]
mod apis;

pub use apis::Api;

use std::sync::Arc;

pub use adapter::{HandlerError, Rejection, RouterOptions};
pub use async_trait::async_trait;
pub use axum;
pub use streamspec_types as types;

/// Both APIs on one router: AIOZ at `/api/live_streams...`, Storm at `/api/auth`, `/api/applications`
/// and `/api/streams`. An unknown path under `/api/live_streams` is answered in AIOZ's envelope, any
/// other in Storm's.
pub fn both<A, S>(aioz_api: Arc<A>, storm_api: Arc<S>, options: RouterOptions) -> axum::Router
where
    A: aioz::LiveStreamsApi + ?Sized,
    S: storm::StormApi + ?Sized,
{
    let aioz_routes =
        adapter::with_envelope::<aioz::Envelope>(aioz::routes(aioz_api, options.clone()));
    let storm_routes = adapter::with_envelope::<storm::Envelope>(storm::routes(storm_api, options));
    aioz_routes.merge(storm_routes).fallback(|request: axum::extract::Request| async move {
        let message = format!("no operation at {} {}", request.method(), request.uri().path());
        error_response(request.uri().path(), axum::http::StatusCode::NOT_FOUND, &message)
    })
}

/// An error in the envelope of the API `path` belongs to ([`Api::of_path`]); a path of no API gets
/// Storm's, which the emulator's own operations share. For layers in front of [`both`].
pub fn error_response(
    path: &str,
    status: axum::http::StatusCode,
    message: &str,
) -> axum::response::Response {
    adapter::json_response(status, &error_body(path, message))
}

/// The body of [`error_response`], for what answers below axum (a connection's protocol errors).
pub fn error_body(path: &str, message: &str) -> serde_json::Value {
    Api::of_path(path).unwrap_or(Api::Storm).error_body(message)
}

#[cfg(test)]
mod tests {
    use super::Api;

    #[test]
    fn a_path_belongs_to_the_api_whose_prefix_holds_it() {
        assert_eq!(Api::of_path("/api/live_streams"), Some(Api::Aioz));
        assert_eq!(Api::of_path("/api/live_streams/abc/def"), Some(Api::Aioz));
        assert_eq!(Api::of_path("/api/live_streams?search=a/b"), Some(Api::Aioz));
        assert_eq!(Api::of_path("/api/live_streamsx"), None);
        assert_eq!(Api::of_path("/api/applications/live/settings/ingest"), Some(Api::Storm));
        assert_eq!(Api::of_path("/api/auth/login"), Some(Api::Storm));
        assert_eq!(Api::of_path("/_emulator/sessions/1"), Some(Api::Emulator));
        assert_eq!(Api::of_path("/elsewhere"), None);
    }

    #[test]
    fn apis_are_named_as_their_modules() {
        let names: Vec<String> = Api::ALL.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["aioz", "storm", "emulator"]);
        assert_eq!("storm".parse::<Api>(), Ok(Api::Storm));
        assert_eq!(
            "nope".parse::<Api>(),
            Err("unknown API `nope`: expected `aioz`, `storm` or `emulator`".to_owned())
        );
        assert_eq!(Api::Aioz.spec(), "spec/aioz-stream.yaml");
        assert_eq!(
            Api::Aioz.error_body("m"),
            serde_json::json!({"status": "error", "message": "m"})
        );
    }
}
