//! The emulator client against a scripted server on 127.0.0.1: the control token, when set, goes
//! with every request, marked sensitive, and nowhere when not set.

mod common;

use common::TestServer;
use serde_json::json;
use streamspec_client::emulator::Client;

fn health() -> serde_json::Value {
    json!({"status": "ready", "version": "0.1.0", "listeners": []})
}

#[tokio::test]
async fn the_control_token_goes_with_every_request_once_set() {
    let server = TestServer::start().await;
    server.respond(200, health()).respond(200, health());
    let plain = Client::builder(&server.url).build().unwrap();
    plain.get_health().send().await.unwrap();
    let builder = Client::builder(&server.url).control_token("control-secret").unwrap();
    assert!(!format!("{builder:?}").contains("control-secret"), "Debug shows no token");
    builder.build().unwrap().get_health().send().await.unwrap();
    let requests = server.requests();
    assert_eq!(requests[0].header("x-emulator-token"), None);
    assert_eq!(requests[1].header("x-emulator-token"), Some("control-secret"));
    assert!(Client::builder(&server.url).control_token("").is_err(), "an empty token is refused");
}
