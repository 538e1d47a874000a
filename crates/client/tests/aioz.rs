//! The AIOZ client against a scripted server on 127.0.0.1: every operation, every auth mode, errors,
//! paging and retries.

mod common;

use std::time::Duration;

use common::TestServer;
use futures::TryStreamExt;
use serde_json::{Value, json};
use streamspec_client::aioz::types::{
    CreateLiveStreamKeyRequest, LiveStreamKeySortBy, LiveStreamType, SortOrder,
    UpdateLiveStreamKeyRequest,
};
use streamspec_client::aioz::{Client, Credentials, ListOptions};
use streamspec_client::{Error, RetryPolicy};

const ID: &str = "0b5c9f2e-6a55-4c1e-9a52-1f0d8a4b7c31";

fn key(id: &str, name: &str) -> Value {
    json!({
        "id": id,
        "user_id": "user-1",
        "name": name,
        "stream_key": "9d2f7a61-3c4b-4e58-8f1a-2b6c5d4e3f70",
        "rtmp_url": "rtmp://rtmp.aiozstream.network:1935/live",
        "save": true,
        "type": "video",
        "created_at": "2026-11-23T10:15:30Z",
        "updated_at": "2026-11-23T10:15:30Z",
    })
}

/// A client that does not wait between retries, so the retry tests stay fast.
fn client(server: &TestServer, credentials: Credentials) -> Client {
    let retry = RetryPolicy { initial_backoff: Duration::from_millis(1), ..RetryPolicy::default() };
    Client::builder(&server.url, credentials).retry(retry).build().unwrap()
}

fn bearer(server: &TestServer) -> Client {
    client(server, Credentials::bearer("jwt-token").unwrap())
}

#[tokio::test]
async fn create_sends_the_body_and_decodes_the_key() {
    let server = TestServer::start().await;
    server.respond(200, json!({"status": "success", "data": key(ID, "test")}));
    let body =
        CreateLiveStreamKeyRequest::builder().name("test").save(true).type_(LiveStreamType::Audio);
    let created = bearer(&server).create_live_stream_key().body(body).send().await.unwrap();

    assert_eq!(created.status().as_u16(), 200);
    assert_eq!(created.data.id.to_string(), ID);
    assert_eq!(created.data.name.as_deref(), Some("test"));
    assert_eq!(created.data.type_, Some(LiveStreamType::Video.into()));
    let request = server.only_request();
    assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/live_streams"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.json(), json!({"name": "test", "save": true, "type": "audio"}));
}

#[tokio::test]
async fn list_puts_its_parameters_in_the_query_string() {
    let server = TestServer::start().await;
    server.respond(
        200,
        json!({"status": "success", "data": {"live_stream_keys": [key(ID, "test")], "total": 1}}),
    );
    let page = bearer(&server)
        .list_live_stream_keys()
        .limit(10)
        .offset(0)
        .sort_by(LiveStreamKeySortBy::CreatedAt)
        .order_by(SortOrder::Desc)
        .search("te st")
        .send()
        .await
        .unwrap();

    let page = page.into_inner().data.unwrap();
    assert_eq!(page.total, Some(1));
    assert_eq!(page.live_stream_keys.unwrap().len(), 1);
    let request = server.only_request();
    assert_eq!((request.method.as_str(), request.path.as_str()), ("GET", "/live_streams"));
    assert_eq!(
        request.query.as_deref(),
        Some("limit=10&offset=0&order_by=desc&search=te+st&sort_by=created_at")
    );
    assert!(request.body.is_empty(), "a list sends no body");
}

#[tokio::test]
async fn get_update_and_delete_address_the_key_by_id() {
    let server = TestServer::start().await;
    server
        .respond(200, json!({"status": "success", "data": key(ID, "test")}))
        .respond(200, json!({"status": "success", "data": key(ID, "renamed")}))
        .respond(200, json!({"status": "success", "message": "Live stream key deleted"}));
    let client = bearer(&server);

    let got = client.get_live_stream_key().id(ID).send().await.unwrap();
    assert_eq!(got.data.name.as_deref(), Some("test"));
    let body = UpdateLiveStreamKeyRequest::builder().name("renamed").save(false);
    let updated = client.update_live_stream_key().id(ID).body(body).send().await.unwrap();
    assert_eq!(updated.data.name.as_deref(), Some("renamed"));
    let deleted = client.delete_live_stream_key().id(ID).send().await.unwrap();
    assert_eq!(deleted.message.as_deref(), Some("Live stream key deleted"));

    let requests = server.requests();
    let seen: Vec<(&str, &str)> =
        requests.iter().map(|r| (r.method.as_str(), r.path.as_str())).collect();
    let path = format!("/live_streams/{ID}");
    assert_eq!(seen, [("GET", path.as_str()), ("PUT", path.as_str()), ("DELETE", path.as_str())]);
    assert_eq!(requests[1].json(), json!({"name": "renamed", "save": false}));
}

#[tokio::test]
async fn a_malformed_id_is_refused_before_sending() {
    let server = TestServer::start().await;
    let error = bearer(&server).get_live_stream_key().id("not-a-uuid").send().await.unwrap_err();
    assert!(matches!(error, Error::InvalidRequest { .. }), "{error:?}");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn bearer_sends_only_the_authorization_header() {
    let server = TestServer::start().await;
    server.respond(200, json!({"status": "success", "data": key(ID, "test")}));
    bearer(&server).get_live_stream_key().id(ID).send().await.unwrap();
    let request = server.only_request();
    assert_eq!(request.header("authorization"), Some("Bearer jwt-token"));
    assert_eq!(request.header("stream-public-key"), None);
    assert_eq!(request.header("stream-secret-key"), None);
}

#[tokio::test]
async fn the_key_pair_sends_both_headers_and_no_authorization() {
    let server = TestServer::start().await;
    server.respond(200, json!({"status": "success", "data": key(ID, "test")}));
    let client = client(&server, Credentials::key_pair("pk_1", "sk_1").unwrap());
    client.get_live_stream_key().id(ID).send().await.unwrap();
    let request = server.only_request();
    assert_eq!(request.header("stream-public-key"), Some("pk_1"));
    assert_eq!(request.header("stream-secret-key"), Some("sk_1"));
    assert_eq!(request.header("authorization"), None);
}

#[tokio::test]
async fn basic_sends_the_key_pair_as_http_basic() {
    let server = TestServer::start().await;
    server.respond(200, json!({"status": "success", "data": key(ID, "test")}));
    let client = client(&server, Credentials::basic("pk", "sk").unwrap());
    client.get_live_stream_key().id(ID).send().await.unwrap();
    let request = server.only_request();
    // base64("pk:sk")
    assert_eq!(request.header("authorization"), Some("Basic cGs6c2s="));
    assert_eq!(request.header("stream-secret-key"), None);
}

#[tokio::test]
async fn an_error_envelope_becomes_a_typed_error_with_the_message() {
    let server = TestServer::start().await;
    server.respond(404, json!({"status": "error", "message": "live stream key not found"}));
    let error = bearer(&server).get_live_stream_key().id(ID).send().await.unwrap_err();
    let Error::NotFound(answer) = &error else {
        panic!("expected the error envelope, got {error:?}");
    };
    assert_eq!(answer.status().as_u16(), 404);
    assert_eq!(answer.message(), Some("live stream key not found"));
    assert_eq!(
        error.to_string(),
        "get_live_stream_key answered 404 Not Found: live stream key not found"
    );
}

#[tokio::test]
async fn the_problem_details_form_gives_its_message_too() {
    let server = TestServer::start().await;
    // The form the vendor's Node SDK reads (`src/model/ProblemDetails.ts`).
    server.respond(
        401,
        json!({"type": "about:blank", "title": "Unauthorized", "detail": "the token has expired"}),
    );
    let error = bearer(&server).get_live_stream_key().id(ID).send().await.unwrap_err();
    assert!(matches!(error, Error::Unauthorized(_)), "{error:?}");
    assert_eq!(
        error.to_string(),
        "get_live_stream_key answered 401 Unauthorized: the token has expired"
    );
}

#[tokio::test]
async fn an_undocumented_answer_keeps_its_status_and_body() {
    let server = TestServer::start().await;
    let retry = RetryPolicy::none();
    let client = Client::builder(&server.url, Credentials::bearer("t").unwrap())
        .retry(retry)
        .build()
        .unwrap();
    server.respond_text(502, "upstream gateway timed out\n");
    let error = client.get_live_stream_key().id(ID).send().await.unwrap_err();
    let Error::UnexpectedResponse(response) = &error else {
        panic!("expected the undocumented answer, got {error:?}");
    };
    assert_eq!(response.status().as_u16(), 502);
    assert_eq!(response.body(), "upstream gateway timed out\n");
    assert_eq!(
        error.to_string(),
        "get_live_stream_key answered 502 Bad Gateway, which its spec does not document: upstream gateway timed out"
    );
}

#[tokio::test]
async fn all_keys_pages_until_total() {
    let server = TestServer::start().await;
    let ids = [
        "00000000-0000-4000-8000-000000000001",
        "00000000-0000-4000-8000-000000000002",
        "00000000-0000-4000-8000-000000000003",
        "00000000-0000-4000-8000-000000000004",
        "00000000-0000-4000-8000-000000000005",
    ];
    for page in ids.chunks(2) {
        let keys: Vec<Value> = page.iter().map(|id| key(id, id)).collect();
        server.respond(
            200,
            json!({"status": "success", "data": {"live_stream_keys": keys, "total": 5}}),
        );
    }
    let options = ListOptions {
        page_size: 2.try_into().unwrap(),
        search: Some("0000".to_owned()),
        ..ListOptions::default()
    };
    let client = bearer(&server);
    let keys: Vec<_> = client.all_live_stream_keys(options).try_collect().await.unwrap();

    let names: Vec<&str> = keys.iter().map(|key| key.name.as_deref().unwrap()).collect();
    assert_eq!(names, ids);
    let queries: Vec<String> = server.requests().iter().map(|r| r.query.clone().unwrap()).collect();
    assert_eq!(
        queries,
        [
            "limit=2&offset=0&search=0000",
            "limit=2&offset=2&search=0000",
            "limit=2&offset=4&search=0000"
        ]
    );
}

#[tokio::test]
async fn all_media_pages_through_a_key_s_recordings_with_the_page_in_the_body() {
    let server = TestServer::start().await;
    let streaming = |id: &str| json!({"id": id, "status": "ended", "save": true});
    server.respond(200, json!({"status": "success", "data": {"media": [streaming("a"), streaming("b")], "total": 3}}));
    // `total` says the second page is the last.
    server.respond(
        200,
        json!({"status": "success", "data": {"media": [streaming("c")], "total": 3}}),
    );
    let options = streamspec_client::aioz::MediaListOptions {
        page_size: 2.try_into().unwrap(),
        search: Some("show".parse().unwrap()),
        ..Default::default()
    };
    let client = bearer(&server);
    let key = ID.parse().unwrap();
    let media: Vec<_> = client.all_live_stream_media(key, options).try_collect().await.unwrap();
    let ids: Vec<&str> = media.iter().map(|streaming| streaming.id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "c"]);
    let requests = server.requests();
    assert!(
        requests
            .iter()
            .all(|r| r.method == "POST" && r.path == format!("/live_streams/{ID}/media"))
    );
    let bodies: Vec<Value> =
        requests.iter().map(|r| serde_json::from_slice(&r.body).unwrap()).collect();
    assert_eq!(bodies[0], json!({"limit": 2, "offset": 0, "search": "show"}));
    assert_eq!(bodies[1], json!({"limit": 2, "offset": 2, "search": "show"}));
}

#[tokio::test]
async fn all_keys_stops_at_an_empty_page_and_at_the_first_error() {
    let server = TestServer::start().await;
    server.respond(200, json!({"status": "success", "data": {"live_stream_keys": [], "total": 9}}));
    let client = bearer(&server);
    let keys: Vec<_> =
        client.all_live_stream_keys(ListOptions::default()).try_collect().await.unwrap();
    assert!(keys.is_empty());
    assert_eq!(server.requests().len(), 1);

    server.respond(401, json!({"status": "error", "message": "Unauthorized"}));
    let result: Result<Vec<_>, _> =
        client.all_live_stream_keys(ListOptions::default()).try_collect().await;
    assert!(
        matches!(result, Err(Error::Unauthorized(ref e)) if e.message() == Some("Unauthorized"))
    );
}

#[tokio::test]
async fn a_get_is_retried_after_429_as_the_headers_say() {
    let server = TestServer::start().await;
    server
        .respond_with_headers(
            429,
            &[("x-ratelimit-retry-after", "0")],
            json!({"status": "error", "message": "Too many requests"}),
        )
        .respond_with_headers(503, &[], json!({"status": "error", "message": "busy"}))
        .respond(200, json!({"status": "success", "data": key(ID, "test")}));
    let got = bearer(&server).get_live_stream_key().id(ID).send().await.unwrap();
    assert_eq!(got.data.name.as_deref(), Some("test"));
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn a_post_is_never_retried() {
    let server = TestServer::start().await;
    server.respond_with_headers(
        429,
        &[("retry-after", "0")],
        json!({"status": "error", "message": "Too many requests"}),
    );
    let body = CreateLiveStreamKeyRequest::builder().name("test");
    let error = bearer(&server).create_live_stream_key().body(body).send().await.unwrap_err();
    assert!(matches!(error, Error::TooManyRequests(_)), "{error:?}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn retries_stop_after_the_policy_limit_and_when_the_wait_is_too_long() {
    let server = TestServer::start().await;
    for _ in 0..4 {
        server.respond_with_headers(503, &[], json!({"status": "error", "message": "busy"}));
    }
    let error = bearer(&server).get_live_stream_key().id(ID).send().await.unwrap_err();
    assert!(
        matches!(error, Error::ServiceUnavailable(ref answer) if answer.message() == Some("busy")),
        "{error:?}"
    );
    assert_eq!(server.requests().len(), 4, "one attempt and three retries");

    let server = TestServer::start().await;
    server.respond_with_headers(
        429,
        &[("retry-after", "3600")],
        json!({"status": "error", "message": "come back in an hour"}),
    );
    let error = bearer(&server).get_live_stream_key().id(ID).send().await.unwrap_err();
    assert!(matches!(error, Error::TooManyRequests(_)));
    assert_eq!(server.requests().len(), 1, "a wait beyond max_retry_after is not waited");
}

#[tokio::test]
async fn a_connection_error_is_retried_then_reported() {
    // A port that was just free: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let retry = RetryPolicy { initial_backoff: Duration::from_millis(1), ..RetryPolicy::default() };
    let client =
        Client::builder(url, Credentials::bearer("t").unwrap()).retry(retry).build().unwrap();
    let error = client.get_live_stream_key().id(ID).send().await.unwrap_err();
    assert!(matches!(error, Error::Transport { .. }), "{error:?}");
    let shown = error.to_string();
    assert!(shown.starts_with("get_live_stream_key failed before an answer came: "), "{shown}");

    // A path may carry a credential (the multicast operations name a key by its `stream_key`): the
    // error names the server, not the path.
    let error = client.get_multicast().stream_key("stream-key-SECRET").send().await.unwrap_err();
    let (shown, debugged) = (error.to_string(), format!("{error:?}"));
    assert!(shown.contains("127.0.0.1"), "{shown}");
    assert!(!shown.contains("SECRET") && !debugged.contains("SECRET"), "{shown}\n{debugged}");
}

#[tokio::test]
async fn nothing_secret_is_printed_by_debug() {
    let server = TestServer::start().await;
    for credentials in [
        Credentials::bearer("jwt-SECRET").unwrap(),
        Credentials::key_pair("pk", "sk-SECRET").unwrap(),
        Credentials::basic("pk", "sk-SECRET").unwrap(),
    ] {
        let client = client(&server, credentials);
        let shown = format!("{client:?} {:#?}", client.credentials());
        assert!(!shown.contains("SECRET"), "{shown}");
    }
}
