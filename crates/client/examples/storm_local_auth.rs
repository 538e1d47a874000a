//! Run with: STORM_URL=http://127.0.0.1:4011 STORM_USERNAME=admin STORM_PASSWORD=admin cargo run -p streamspec-client --example storm_local_auth -- live
//!
//! Signs in to a Storm Streaming Server and switches an application (the first argument, default
//! `live`) to `local` ingest authorization with one publisher, `PUBLISHER_USERNAME` /
//! `PUBLISHER_PASSWORD` (default `publisher` / `change-me`).

use streamspec_client::storm::types::{
    AuthType, AuthUser, AuthUserCredentials, IngestSettingsAttributes, UpdateIngestSettingsRequest,
    UpdateIngestSettingsRequestData,
};
use streamspec_client::storm::{Client, Credentials};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let env =
        |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    let baseurl = env("STORM_URL", "http://localhost:8080");
    let username = std::env::var("STORM_USERNAME").map_err(|_| "set STORM_USERNAME")?;
    let password = std::env::var("STORM_PASSWORD").map_err(|_| "set STORM_PASSWORD")?;
    let application = std::env::args().nth(1).unwrap_or_else(|| "live".to_owned());

    // The client signs in on its first request and again before the token expires.
    let client = Client::builder(baseurl, Credentials::login(username, password)?).build()?;

    let publisher = AuthUserCredentials::builder()
        .username(env("PUBLISHER_USERNAME", "publisher"))
        .password(env("PUBLISHER_PASSWORD", "change-me"));
    let attributes = IngestSettingsAttributes::builder()
        .allow_stream_ingest(true)
        .authorization_enabled(true)
        .auth_type(AuthType::Local)
        .auth_users(vec![AuthUser::Credentials(publisher.try_into()?)]);
    let body = UpdateIngestSettingsRequest::builder()
        .data(UpdateIngestSettingsRequestData::builder().attributes(attributes));
    let answer =
        client.update_ingest_settings().app_name(application.as_str()).body(body).send().await?;

    let settings = answer.into_inner().data.attributes;
    println!(
        "{application}: authorization enabled = {}",
        settings.authorization_enabled.value.unwrap_or_default()
    );
    println!("{application}: authType = {}", settings.auth_type.value);
    for user in settings.auth_users.map(|users| users.value).unwrap_or_default() {
        let name = user.username.as_deref().unwrap_or("(a token)");
        println!("  publisher {name} ({})", user.kind);
    }
    Ok(())
}
