//! The adapter's own answers, one test per row of the error matrix: status, envelope and message.
//! Requests are sent raw, since the generated client refuses to send most of them.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use streamspec_server::{RouterOptions, aioz};

const KEY_ID: &str = "0b5c9f2e-6a55-4c1e-9a52-1f0d8a4b7c31";

struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

async fn send(
    address: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Answer {
    let mut request = reqwest::Client::new().request(method, format!("http://{address}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.body(body.to_owned());
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(Value::Null);
    Answer { status, headers, body }
}

const AUTH: (&str, &str) = ("authorization", "Bearer secret-a");
const JSON: (&str, &str) = ("content-type", "application/json");

async fn server() -> SocketAddr {
    common::serve_both(RouterOptions::default()).await.0
}

/// Asserts an AIOZ error envelope with `status` whose message contains `message`.
#[track_caller]
fn assert_aioz_error(answer: &Answer, status: u16, message: &str) {
    assert_eq!(answer.status.as_u16(), status, "{}", answer.body);
    assert_eq!(answer.body["status"], "error", "{}", answer.body);
    let text = answer.body["message"].as_str().unwrap_or_default();
    assert!(text.contains(message), "{text:?} does not contain {message:?}");
    assert_eq!(answer.headers["content-type"], "application/json");
}

/// Asserts a Storm error (a flat `{"message"}`) with `status` whose message contains `message`.
#[track_caller]
fn assert_storm_error(answer: &Answer, status: u16, message: &str) {
    assert_eq!(answer.status.as_u16(), status, "{}", answer.body);
    assert_eq!(
        answer.body.as_object().map(|o| o.len()),
        Some(1),
        "only `message`: {}",
        answer.body
    );
    let text = answer.body["message"].as_str().unwrap_or_default();
    assert!(text.contains(message), "{text:?} does not contain {message:?}");
}

#[tokio::test]
async fn malformed_json_is_400() {
    let answer =
        send(server().await, Method::POST, "/api/live_streams", &[AUTH, JSON], Some("{\"name\": "))
            .await;
    assert_aioz_error(&answer, 400, "the body is not valid JSON: EOF while parsing");
}

#[tokio::test]
async fn the_seeds_trailing_comma_is_400_naming_the_place() {
    let body =
        include_str!("../../../spec/negative/update_ingest_settings.local-trailing-comma.json");
    let headers = [("x-api-key", "storm-api-key"), JSON];
    let answer = send(
        server().await,
        Method::PATCH,
        "/api/applications/live/settings/ingest",
        &headers,
        Some(body),
    )
    .await;
    assert_storm_error(
        &answer,
        400,
        "the body is not valid JSON: trailing comma at line 14 column 1",
    );
}

#[tokio::test]
async fn a_wrong_type_is_400_naming_the_field() {
    let answer = send(
        server().await,
        Method::POST,
        "/api/live_streams",
        &[AUTH, JSON],
        Some(r#"{"name": 5}"#),
    )
    .await;
    assert_aioz_error(
        &answer,
        400,
        "body field `name`: invalid type: integer `5`, expected a string",
    );
}

#[tokio::test]
async fn a_missing_required_field_is_400_naming_it() {
    let answer = send(
        server().await,
        Method::POST,
        "/api/live_streams",
        &[AUTH, JSON],
        Some(r#"{"save": true}"#),
    )
    .await;
    assert_aioz_error(&answer, 400, "missing field `name`");
}

#[tokio::test]
async fn an_unknown_field_in_a_closed_body_is_400_naming_it() {
    let body = r#"{"name": "a", "sav": true}"#;
    let answer =
        send(server().await, Method::POST, "/api/live_streams", &[AUTH, JSON], Some(body)).await;
    assert_aioz_error(&answer, 400, "body field `sav`: unknown field `sav`");
}

#[tokio::test]
async fn an_unknown_enum_value_is_400_naming_the_field() {
    let headers = [("x-api-key", "storm-api-key"), JSON];
    let body = r#"{"data": {"attributes": {"authType": "hologram"}}}"#;
    let answer = send(
        server().await,
        Method::PATCH,
        "/api/applications/live/settings/ingest",
        &headers,
        Some(body),
    )
    .await;
    assert_storm_error(
        &answer,
        400,
        "body field `data.attributes.authType`: unknown variant `hologram`",
    );
}

#[tokio::test]
async fn a_bad_uuid_in_the_path_is_400() {
    let answer =
        send(server().await, Method::GET, "/api/live_streams/not-a-uuid", &[AUTH], None).await;
    assert_aioz_error(&answer, 400, "path parameter `id`: `not-a-uuid` is not a UUID");
}

#[tokio::test]
async fn any_application_name_in_the_path_reaches_the_handler() {
    // Storm publishes no pattern for names ("unique" is its one rule), so a name with a space is
    // looked up, not refused.
    let answer = send(
        server().await,
        Method::DELETE,
        "/api/applications/no%20spaces",
        &[("x-api-key", "storm-api-key")],
        None,
    )
    .await;
    assert_storm_error(&answer, 404, "Application not found");
}

#[tokio::test]
async fn an_out_of_range_query_value_is_400() {
    let answer =
        send(server().await, Method::GET, "/api/live_streams?limit=101", &[AUTH], None).await;
    assert_aioz_error(
        &answer,
        400,
        "query parameter `limit`: 101 is out of range, it must be between 1 and 100",
    );
    let answer =
        send(server().await, Method::GET, "/api/live_streams?offset=-1", &[AUTH], None).await;
    assert_aioz_error(
        &answer,
        400,
        "query parameter `offset`: -1 is out of range, it must be between 0 and 2147483647",
    );
    // `format: int32` bounds a parameter the spec gives no maximum.
    let answer =
        send(server().await, Method::GET, "/api/live_streams?offset=2147483648", &[AUTH], None)
            .await;
    assert_aioz_error(&answer, 400, "query parameter `offset`: 2147483648 is out of range");
}

#[tokio::test]
async fn an_unknown_query_enum_value_is_400() {
    let answer =
        send(server().await, Method::GET, "/api/live_streams?order_by=sideways", &[AUTH], None)
            .await;
    assert_aioz_error(
        &answer,
        400,
        "query parameter `order_by`: `sideways` is not one of `asc`, `desc`",
    );
}

#[tokio::test]
async fn query_defaults_are_applied_before_the_handler() {
    let (address, aioz, _) = common::serve_both(RouterOptions::default()).await;
    let answer = send(address, Method::GET, "/api/live_streams", &[AUTH], None).await;
    assert_eq!(answer.status, StatusCode::OK);
    let seen = aioz.last_list.lock().unwrap().clone().unwrap();
    assert_eq!((seen.limit.get(), seen.offset), (25, 0));
    assert_eq!(seen.sort_by, aioz::types::LiveStreamKeySortBy::CreatedAt);
    assert_eq!(seen.order_by, aioz::types::SortOrder::Desc);
    assert_eq!(seen.search, None);
}

#[tokio::test]
async fn missing_credentials_are_401_before_the_handler() {
    let answer = send(server().await, Method::GET, "/api/live_streams", &[], None).await;
    assert_aioz_error(
        &answer,
        401,
        "missing credentials: send `Authorization: Bearer <token>`, or the `stream-public-key` and `stream-secret-key` headers, or HTTP Basic",
    );
    let answer =
        send(server().await, Method::GET, "/api/applications/live/settings", &[], None).await;
    assert_storm_error(
        &answer,
        401,
        "missing credentials: send `Authorization: Bearer <token>`, or the `X-Api-Key` header",
    );
}

#[tokio::test]
async fn half_a_key_pair_is_401() {
    let headers = [("stream-public-key", "pk")];
    let answer = send(server().await, Method::GET, "/api/live_streams", &headers, None).await;
    assert_aioz_error(&answer, 401, "missing credentials");
}

#[tokio::test]
async fn malformed_credentials_are_401() {
    let answer = send(
        server().await,
        Method::GET,
        "/api/live_streams",
        &[("authorization", "Basic !!!")],
        None,
    )
    .await;
    assert_aioz_error(&answer, 401, "the `Authorization: Basic` header is malformed");
    let answer = send(
        server().await,
        Method::GET,
        "/api/live_streams",
        &[("authorization", "Bearer")],
        None,
    )
    .await;
    assert_aioz_error(&answer, 401, "the `Authorization` header is malformed");
}

#[tokio::test]
async fn every_scheme_identifies_the_caller() {
    let address = server().await;
    for headers in [
        vec![("authorization", "Bearer secret-a")],
        vec![("stream-public-key", "pk-a"), ("stream-secret-key", "secret-a")],
        // base64("pk-a:secret-a")
        vec![("authorization", "Basic cGstYTpzZWNyZXQtYQ==")],
    ] {
        let answer = send(address, Method::GET, "/api/live_streams", &headers, None).await;
        assert_eq!(answer.status, StatusCode::OK, "{headers:?}: {}", answer.body);
    }
}

#[tokio::test]
async fn an_unknown_path_is_404_in_the_envelope() {
    let address = server().await;
    let answer = send(address, Method::GET, "/api/live_streams/a/b", &[AUTH], None).await;
    assert_aioz_error(&answer, 404, "no operation at GET /api/live_streams/a/b");
    let answer = send(address, Method::GET, "/api/nothing", &[], None).await;
    assert_storm_error(&answer, 404, "no operation at GET /api/nothing");
}

#[tokio::test]
async fn a_wrong_method_is_405_with_allow() {
    let answer = send(server().await, Method::PATCH, "/api/live_streams", &[AUTH], None).await;
    assert_aioz_error(&answer, 405, "method not allowed");
    let allow = answer.headers["allow"].to_str().unwrap();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
}

#[tokio::test]
async fn a_body_that_is_not_json_is_415() {
    let headers = [AUTH, ("content-type", "application/x-www-form-urlencoded")];
    let answer =
        send(server().await, Method::POST, "/api/live_streams", &headers, Some("name=a")).await;
    assert_aioz_error(&answer, 415, "send `Content-Type: application/json`");
    let headers = [AUTH, ("content-type", "text/plain")];
    let answer =
        send(server().await, Method::POST, "/api/live_streams", &headers, Some(r#"{"name": "a"}"#))
            .await;
    assert_aioz_error(&answer, 415, "send `Content-Type: application/json`");
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let (address, _, _) = common::serve_both(RouterOptions { body_limit: 64 }).await;
    let body = format!(r#"{{"name": "{}"}}"#, "x".repeat(1000));
    let answer = send(address, Method::POST, "/api/live_streams", &[AUTH, JSON], Some(&body)).await;
    assert_aioz_error(&answer, 413, "the body is larger than the limit of 64 bytes");
}

#[tokio::test]
async fn a_panicking_handler_is_500_and_the_server_keeps_serving() {
    let address = server().await;
    let answer = send(
        address,
        Method::POST,
        "/api/live_streams",
        &[AUTH, JSON],
        Some(r#"{"name": "panic"}"#),
    )
    .await;
    assert_aioz_error(&answer, 500, "internal server error");
    let answer = send(address, Method::GET, "/api/live_streams", &[AUTH], None).await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn an_operation_not_implemented_is_501_in_the_envelope() {
    struct Nothing;
    #[streamspec_server::async_trait]
    impl aioz::LiveStreamsApi for Nothing {}
    let address = common::serve(aioz::router(Arc::new(Nothing))).await;
    let answer =
        send(address, Method::GET, &format!("/api/live_streams/{KEY_ID}"), &[AUTH], None).await;
    assert_aioz_error(&answer, 501, "operation `get_live_stream_key` is not implemented");
}

#[tokio::test]
async fn a_router_works_with_a_trait_object() {
    let api: Arc<dyn aioz::LiveStreamsApi> = Arc::new(common::Aioz::default());
    let address = common::serve(aioz::router(api)).await;
    let answer = send(address, Method::GET, "/api/live_streams", &[AUTH], None).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.body,
        json!({"status": "success", "data": {"live_stream_keys": [], "total": 0}})
    );
}
