//! What a downstream crate does with nothing but `streamspec-server` and tokio: implement the trait,
//! build the router, serve it, and answer a real HTTP request.

use std::sync::Arc;

use streamspec_server::aioz::types::ErrorResponse;
use streamspec_server::aioz::{
    Credentials, GetLiveStreamKeyInput, GetLiveStreamKeyResponse, LiveStreamsApi, ResponseHeaders,
    router,
};
use streamspec_server::{HandlerError, async_trait, axum};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct NothingHere;

#[async_trait]
impl LiveStreamsApi for NothingHere {
    async fn get_live_stream_key(
        &self,
        input: GetLiveStreamKeyInput,
    ) -> Result<GetLiveStreamKeyResponse, HandlerError> {
        let Credentials::BearerAuth { token } = &input.credentials else {
            return Err(HandlerError::internal("the test only sends bearer tokens"));
        };
        let message = format!("no key {} for token of length {}", input.id, token.expose().len());
        let headers = ResponseHeaders {
            x_rate_limit_limit: 10,
            x_rate_limit_remaining: 9,
            x_rate_limit_retry_after: 30,
        };
        Ok(GetLiveStreamKeyResponse::NotFound(ErrorResponse::with_message(message), headers))
    }
}

async fn raw_request(address: std::net::SocketAddr, request: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test]
async fn a_downstream_implementation_serves_the_spec() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(
        async move { axum::serve(listener, router(Arc::new(NothingHere))).await.unwrap() },
    );

    let id = "0b5c9f2e-6a55-4c1e-9a52-1f0d8a4b7c31";
    let response = raw_request(
        address,
        &format!(
            "GET /api/live_streams/{id} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer abc\r\nConnection: close\r\n\r\n"
        ),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 404 Not Found\r\n"), "{response}");
    assert!(response.contains("x-ratelimit-remaining: 9\r\n"), "{response}");
    assert!(
        response.ends_with(&format!(
            r#"{{"message":"no key {id} for token of length 3","status":"error"}}"#
        )),
        "{response}"
    );

    // The operations it did not implement answer 501, in the same envelope.
    let response = raw_request(
        address,
        "GET /api/live_streams HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer abc\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 501 Not Implemented\r\n"), "{response}");
    assert!(response.contains(r#""status":"error""#), "{response}");
}
