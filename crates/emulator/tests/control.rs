//! The control operations over a real socket on 127.0.0.1, through the generated emulator client:
//! health names the bound address, and the credentials document is the one that works.

use streamspec_client::{RetryPolicy, aioz, emulator};
use streamspec_emulator::{Config, Emulator};

#[tokio::test]
async fn health_names_the_bound_address_and_the_credentials_work() {
    let emulator = Emulator::new(&Config { db: ":memory:".into(), ..Config::default() }).unwrap();
    let printed = emulator.credentials().clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(emulator.serve(listener, std::future::pending()));
    let control = emulator::Client::builder(format!("http://{address}")).build().unwrap();

    let health = control.get_health().send().await.unwrap().into_inner();
    assert_eq!(health.status.to_string(), "ready");
    assert_eq!(health.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(health.listeners.len(), 1);
    assert_eq!(health.listeners[0].address, address.to_string());
    assert_eq!(health.listeners[0].url, format!("http://{address}"));

    let document = control.get_credentials().send().await.unwrap().into_inner();
    assert_eq!(document.aioz.base_url, format!("http://{address}/api"));
    assert_eq!(document.storm.base_url, format!("http://{address}"));
    let account = &document.aioz.accounts[0];
    assert_eq!(account.token.expose(), printed.aioz_accounts[0].token);
    assert_eq!(document.storm.users[0].password.expose(), printed.storm_users[0].password);
    assert_eq!(document.storm.api_key.expose(), printed.storm_api_key);
    // What a test does next: use them.
    let client = aioz::Client::builder(
        document.aioz.base_url.as_str(),
        aioz::Credentials::bearer(account.token.expose()).unwrap(),
    )
    .retry(RetryPolicy::none())
    .build()
    .unwrap();
    client.list_live_stream_keys().send().await.unwrap();
    // No secret in the `Debug` a failed assertion would print.
    let shown = format!("{document:?} {printed:?}");
    assert!(!shown.contains(account.token.expose()) && !shown.contains(&printed.storm_api_key));
}
