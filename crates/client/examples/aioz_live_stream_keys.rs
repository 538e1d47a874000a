//! Run with: AIOZ_BASE_URL=http://127.0.0.1:8080/api AIOZ_TOKEN=<the token the emulator prints> cargo run -p streamspec-client --example aioz_live_stream_keys
//!
//! Creates a live stream key, lists the account's keys, renames the new key and deletes it, against
//! the emulator (`cargo run --release -p streamspec-emulator`, which prints the token), the server
//! example (`AIOZ_BASE_URL=http://127.0.0.1:8081/api AIOZ_TOKEN=dev`, after
//! `cargo run -p streamspec-server --example aioz_server`), or the real service.
//!
//! `AIOZ_BASE_URL` defaults to the real service, `https://api.aiozstream.network/api`. Credentials come
//! from `AIOZ_TOKEN` (a bearer JWT) or from `AIOZ_PUBLIC_KEY` and `AIOZ_SECRET_KEY` (the key pair).

use std::process::ExitCode;

use futures::TryStreamExt;
use streamspec_client::aioz::types::{CreateLiveStreamKeyRequest, UpdateLiveStreamKeyRequest};
use streamspec_client::aioz::{Client, Credentials, Error, ListOptions};

/// What the example does with a client: create, list, rename, delete, printing each step.
pub async fn run(client: &Client) -> Result<(), Error> {
    let body = CreateLiveStreamKeyRequest::builder().name("streamspec example").save(false);
    let key = client.create_live_stream_key().body(body).send().await?.into_inner().data;
    // A real service may leave fields out (see spec/README.md, the tolerant reader).
    let unknown = "(not sent)";
    println!(
        "created {} ({}): stream to {}/{}",
        key.id,
        key.display_name().unwrap_or(unknown),
        key.rtmp_url.as_deref().unwrap_or(unknown),
        key.stream_key.as_deref().unwrap_or(unknown)
    );

    let keys: Vec<_> = client.all_live_stream_keys(ListOptions::default()).try_collect().await?;
    println!("the account has {} keys:", keys.len());
    for each in &keys {
        println!("  {} {}", each.id, each.display_name().unwrap_or(unknown));
    }

    let body = UpdateLiveStreamKeyRequest::builder().name("streamspec example, renamed").save(true);
    let updated = client.update_live_stream_key().id(key.id.as_str()).body(body).send().await?;
    let name = updated.data.display_name().unwrap_or(unknown);
    println!("renamed to {name}, save = {}", updated.data.save.unwrap_or_default());

    let deleted = client.delete_live_stream_key().id(key.id.as_str()).send().await?;
    println!("deleted: {}", deleted.message.as_deref().unwrap_or(unknown));
    Ok(())
}

/// The client of the environment's base URL and credentials.
fn client_from_env() -> Result<Client, Box<dyn std::error::Error>> {
    let baseurl = std::env::var("AIOZ_BASE_URL")
        .unwrap_or_else(|_| "https://api.aiozstream.network/api".to_owned());
    let credentials = match (
        std::env::var("AIOZ_TOKEN"),
        std::env::var("AIOZ_PUBLIC_KEY"),
        std::env::var("AIOZ_SECRET_KEY"),
    ) {
        (Ok(token), _, _) => Credentials::bearer(token)?,
        (_, Ok(public_key), Ok(secret_key)) => Credentials::key_pair(public_key, secret_key)?,
        _ => return Err("set AIOZ_TOKEN, or AIOZ_PUBLIC_KEY and AIOZ_SECRET_KEY".into()),
    };
    Ok(Client::builder(baseurl, credentials).build()?)
}

#[tokio::main]
async fn main() -> ExitCode {
    let result = match client_from_env() {
        Ok(client) => run(&client).await.map_err(Into::into),
        Err(error) => Err(error),
    };
    // `Display`, not the `Debug` a `main` returning `Result` prints: one sentence per error.
    if let Err(error) = result {
        eprintln!("error: {error}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
