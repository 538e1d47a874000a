//! The README's pairings of a server example with a client example, each run as documented: the
//! server example on a loopback port, the client example's `run` against it, and what the server
//! then holds. The examples' files are compiled in here as they are; only `main` (the address and
//! the environment) is left out.

use std::sync::Arc;

use streamspec_client::{RetryPolicy, aioz, storm};

#[allow(dead_code)]
#[path = "../examples/aioz_server.rs"]
mod aioz_server;

#[allow(dead_code)]
#[path = "../examples/storm_server.rs"]
mod storm_server;

#[allow(dead_code)]
#[path = "../../client/examples/aioz_live_stream_keys.rs"]
mod aioz_live_stream_keys;

#[allow(dead_code)]
#[path = "../../client/examples/storm_local_auth.rs"]
mod storm_local_auth;

async fn listener() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    (listener, address)
}

/// `aioz_server` with `aioz_live_stream_keys` and `AIOZ_TOKEN=dev`: create, list, rename and delete
/// all answered, and the key gone at the end.
#[tokio::test]
async fn aioz_server_serves_the_aioz_client_example() {
    let (listener, address) = listener().await;
    let keys = Arc::new(aioz_server::Keys::default());
    tokio::spawn(aioz_server::serve(listener, keys.clone()));
    let credentials = aioz::Credentials::bearer("dev").unwrap();
    let client = aioz::Client::builder(format!("http://{address}/api"), credentials)
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    aioz_live_stream_keys::run(&client).await.unwrap_or_else(|error| panic!("{error}"));
    let left = client.list_live_stream_keys().send().await.unwrap().into_inner();
    assert_eq!(left.data.and_then(|data| data.total), Some(0), "the example deletes its key");
}

/// `storm_server` with `storm_local_auth`, `STORM_USERNAME=admin STORM_PASSWORD=admin`: the client
/// signs in and the application `live` answers `local` authorization with the one publisher.
#[tokio::test]
async fn storm_server_serves_the_storm_client_example() {
    let (listener, address) = listener().await;
    tokio::spawn(storm_server::serve(listener, Arc::default()));
    let credentials = storm::Credentials::login("admin", "admin").unwrap();
    let client = storm::Client::builder(format!("http://{address}"), credentials)
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let settings = storm_local_auth::run(&client, "live", ("publisher", "change-me"))
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(settings.auth_type.value.to_string(), "local");
    assert_eq!(settings.authorization_enabled.value, Some(true));
    let users = settings.auth_users.unwrap().value;
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].username.as_deref(), Some("publisher"));
}
