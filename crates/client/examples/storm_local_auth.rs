//! Run with: STORM_URL=http://127.0.0.1:8080 STORM_USERNAME=admin STORM_PASSWORD=<the password the emulator prints> cargo run -p streamspec-client --example storm_local_auth -- live
//!
//! Signs in to a Storm Streaming Server and switches an application (the first argument, default
//! `live`) to `local` ingest authorization with one publisher, `PUBLISHER_USERNAME` /
//! `PUBLISHER_PASSWORD` (default `publisher` / `change-me`). It runs against the emulator
//! (`cargo run --release -p streamspec-emulator`, which prints the password), the server example
//! (`STORM_URL=http://127.0.0.1:8082 STORM_PASSWORD=admin`, after
//! `cargo run -p streamspec-server --example storm_server`), or a real Storm server.

use std::process::ExitCode;

use streamspec_client::storm::types::{
    AuthType, AuthUser, AuthUserCredentials, IngestSettings, IngestSettingsAttributes,
    UpdateIngestSettingsRequest, UpdateIngestSettingsRequestData,
};
use streamspec_client::storm::{Client, Credentials, Error};

/// What the example does with a client: sets `application` to `local` authorization with one
/// publisher, prints the settings the server answers, and returns them.
pub async fn run(
    client: &Client,
    application: &str,
    publisher: (&str, &str),
) -> Result<IngestSettings, Box<dyn std::error::Error>> {
    let (username, password) = publisher;
    let publisher = AuthUserCredentials::builder().username(username).password(password);
    let attributes = IngestSettingsAttributes::builder()
        .allow_stream_ingest(true)
        .authorization_enabled(true)
        .auth_type(AuthType::Local)
        .auth_users(vec![AuthUser::Credentials(publisher.try_into()?)]);
    let body = UpdateIngestSettingsRequest::builder()
        .data(UpdateIngestSettingsRequestData::builder().attributes(attributes));
    let answer: Result<_, Error> =
        client.update_ingest_settings().app_name(application).body(body).send().await;

    let settings = answer?.into_inner().data.attributes;
    println!(
        "{application}: authorization enabled = {}",
        settings.authorization_enabled.value.unwrap_or_default()
    );
    println!("{application}: authType = {}", settings.auth_type.value);
    for user in settings.auth_users.as_ref().map(|users| users.value.as_slice()).unwrap_or_default()
    {
        let name = user.username.as_deref().unwrap_or("(a token)");
        println!("  publisher {name} ({})", user.kind);
    }
    Ok(settings)
}

/// The client of the environment's URL and sign-in.
fn client_from_env() -> Result<Client, Box<dyn std::error::Error>> {
    let baseurl = std::env::var("STORM_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".to_owned());
    let username = std::env::var("STORM_USERNAME").map_err(|_| "set STORM_USERNAME")?;
    let password = std::env::var("STORM_PASSWORD").map_err(|_| "set STORM_PASSWORD")?;
    // The client signs in on its first request and again before the token expires.
    Ok(Client::builder(baseurl, Credentials::login(username, password)?).build()?)
}

#[tokio::main]
async fn main() -> ExitCode {
    let env =
        |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    let application = std::env::args().nth(1).unwrap_or_else(|| "live".to_owned());
    let (username, password) =
        (env("PUBLISHER_USERNAME", "publisher"), env("PUBLISHER_PASSWORD", "change-me"));
    let result = match client_from_env() {
        Ok(client) => run(&client, &application, (&username, &password)).await.map(drop),
        Err(error) => Err(error),
    };
    // `Display`, not the `Debug` a `main` returning `Result` prints: one sentence per error.
    if let Err(error) = result {
        eprintln!("error: {error}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
