//! The generated client against the generated routers over a real socket: every operation of both
//! APIs, and every status each operation documents.

mod common;

use std::net::SocketAddr;

use serde_json::json;
use streamspec_client::{Error, RetryPolicy, aioz, storm};
use streamspec_types::aioz::{CreateLiveStreamKeyRequest, LiveStreamKeySortBy, SortOrder};
use streamspec_types::storm::{
    Application, ApplicationType, AuthType, CreateApplicationRequest, CreateApplicationRequestData,
    CreateStreamRequest, IngestSettingsAttributes, LoginRequest, UpdateIngestSettingsRequest,
    UpdateIngestSettingsRequestData,
};

fn aioz_client(address: SocketAddr, secret: &str) -> aioz::Client {
    let credentials = aioz::Credentials::bearer(secret).unwrap();
    aioz::Client::builder(format!("http://{address}/api"), credentials)
        .retry(RetryPolicy::none())
        .build()
        .unwrap()
}

fn storm_client(address: SocketAddr) -> storm::Client {
    let credentials = storm::Credentials::login("admin", "admin-password").unwrap();
    storm::Client::builder(format!("http://{address}"), credentials)
        .retry(RetryPolicy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn every_aioz_operation_round_trips() {
    let (address, _, _) = common::serve_both_validated().await;
    let client = aioz_client(address, "secret-a");

    let body = CreateLiveStreamKeyRequest::builder().name("studio").save(true);
    let created = client.create_live_stream_key().body(body).send().await.unwrap();
    assert_eq!(created.status().as_u16(), 200);
    assert_eq!(created.headers()["x-ratelimit-remaining"], "99");
    let id = created.into_inner().data.id;
    let id = id.as_str();

    let got = client.get_live_stream_key().id(id).send().await.unwrap();
    assert_eq!(got.data.name.as_deref(), Some("studio"));

    let page = client
        .list_live_stream_keys()
        .search("stud")
        .sort_by(LiveStreamKeySortBy::Name)
        .order_by(SortOrder::Asc)
        .send()
        .await
        .unwrap();
    assert_eq!(page.into_inner().data.unwrap().total, Some(1));

    let body = aioz::types::UpdateLiveStreamKeyRequest::builder().name("renamed");
    let updated = client.update_live_stream_key().id(id).body(body).send().await.unwrap();
    assert_eq!(
        (updated.data.name.as_deref(), updated.data.save),
        (Some("renamed"), Some(true)),
        "a field left out keeps its value"
    );

    let deleted = client.delete_live_stream_key().id(id).send().await.unwrap();
    assert_eq!(deleted.message.as_deref(), Some("Live stream key deleted"));
    let error = client.get_live_stream_key().id(id).send().await.unwrap_err();
    assert!(matches!(error, Error::NotFound(_)), "{error:?}");
}

#[tokio::test]
async fn an_account_never_sees_another_accounts_keys() {
    let (address, _, _) = common::serve_both_validated().await;
    let body = CreateLiveStreamKeyRequest::builder().name("mine");
    let created =
        aioz_client(address, "secret-a").create_live_stream_key().body(body).send().await.unwrap();
    let other = aioz_client(address, "secret-b");
    let error = other.get_live_stream_key().id(created.data.id.as_str()).send().await.unwrap_err();
    assert!(matches!(error, Error::NotFound(_)));
    let page = other.list_live_stream_keys().send().await.unwrap().into_inner();
    assert_eq!(page.data.unwrap().total, Some(0));
}

#[tokio::test]
async fn every_storm_operation_round_trips() {
    let (address, _, _) = common::serve_both_validated().await;
    let client = storm_client(address);

    let answer = client
        .login()
        .body(LoginRequest::new("admin-password".parse().unwrap(), "admin".try_into().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.data.access_token.expose(), "storm-token");

    let body = CreateApplicationRequest::builder().data(
        CreateApplicationRequestData::builder()
            .attributes(Application::builder().name("live").type_(ApplicationType::Mono)),
    );
    let created = client.create_application().body(body).send().await.unwrap();
    assert_eq!(created.status().as_u16(), 201);

    let settings = client.get_application_settings().app_name("live").send().await.unwrap();
    let ingest = settings.into_inner().data.ingest_settings.unwrap().attributes;
    assert_eq!(ingest.authorization_enabled.value, Some(false));

    let attributes = IngestSettingsAttributes::builder()
        .authorization_enabled(true)
        .auth_type(AuthType::Managed);
    let body = UpdateIngestSettingsRequest::builder()
        .data(UpdateIngestSettingsRequestData::builder().attributes(attributes));
    let updated = client.update_ingest_settings().app_name("live").body(body).send().await.unwrap();
    assert_eq!(updated.data.attributes.auth_type.value, AuthType::Managed.into());

    let stream: CreateStreamRequest = serde_json::from_value(json!({"data": {"attributes": {
        "streamKey": "camera1", "type": "ingest",
        "source": {"authType": "credentials", "auth": {"username": "cam", "password": "pw"}},
    }}}))
    .unwrap();
    let created =
        client.create_stream().app_name("live").body(stream.clone()).send().await.unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let duplicate = client.create_stream().app_name("live").body(stream).send().await.unwrap_err();
    assert!(matches!(duplicate, Error::Conflict(_)));

    let deleted = client.delete_application().app_name("live").send().await.unwrap();
    assert_eq!(deleted.message, "Application deleted");
}

/// Asserts a forced documented error status arrives as the typed error envelope.
macro_rules! assert_forced {
    ($server:expr, $code:expr, $request:expr) => {{
        $server.force($code);
        match $request.await {
            Err(error) if error.answer().is_some() => {
                let answer = error.answer().unwrap();
                assert_eq!(answer.status().as_u16(), $code);
                assert_eq!(answer.message(), Some(format!("forced {}", $code).as_str()));
            }
            other => panic!("status {} was not delivered as the error envelope: {other:?}", $code),
        }
    }};
}

#[tokio::test]
async fn every_documented_aioz_status_reaches_the_client() {
    let (address, server, _) = common::serve_both_validated().await;
    let client = aioz_client(address, "secret-a");
    let id = client
        .create_live_stream_key()
        .body(CreateLiveStreamKeyRequest::builder().name("k"))
        .send()
        .await
        .unwrap()
        .into_inner()
        .data
        .id;
    let id = id.as_str();
    let create = || {
        client.create_live_stream_key().body(CreateLiveStreamKeyRequest::builder().name("k")).send()
    };
    let update = || {
        client
            .update_live_stream_key()
            .id(id)
            .body(aioz::types::UpdateLiveStreamKeyRequest::builder().name("k"))
            .send()
    };
    for code in [400, 401, 403, 429, 500] {
        assert_forced!(server, code, create());
        assert_forced!(server, code, client.list_live_stream_keys().send());
    }
    for code in [400, 401, 403, 404, 429, 500] {
        assert_forced!(server, code, client.get_live_stream_key().id(id).send());
        assert_forced!(server, code, update());
        assert_forced!(server, code, client.delete_live_stream_key().id(id).send());
    }
}

#[tokio::test]
async fn every_documented_storm_status_reaches_the_client() {
    let (address, _, server) = common::serve_both_validated().await;
    let client = storm_client(address);
    // Sign in before forcing anything, so the forced status hits the operation, not the login.
    client.get_application_settings().app_name("none").send().await.unwrap_err();
    let login = || {
        client
            .login()
            .body(LoginRequest::new("x".parse().unwrap(), "admin".try_into().unwrap()))
            .send()
    };
    let application =
        || {
            client
                .create_application()
                .body(CreateApplicationRequest::builder().data(
                    CreateApplicationRequestData::builder().attributes(
                        Application::builder().name("a").type_(ApplicationType::Origin),
                    ),
                ))
                .send()
        };
    let update = || {
        client
            .update_ingest_settings()
            .app_name("a")
            .body(
                UpdateIngestSettingsRequest::builder().data(
                    UpdateIngestSettingsRequestData::builder()
                        .attributes(IngestSettingsAttributes::builder()),
                ),
            )
            .send()
    };
    let stream: CreateStreamRequest = serde_json::from_value(json!({"data": {"attributes": {
        "streamKey": "s", "type": "ingest", "source": {"authType": "none"},
    }}}))
    .unwrap();
    let create_stream = || client.create_stream().app_name("a").body(stream.clone()).send();
    for code in [400, 401, 429, 500] {
        assert_forced!(server, code, login());
    }
    for code in [400, 401, 409, 429, 500] {
        assert_forced!(server, code, application());
    }
    for code in [400, 401, 404, 429, 500] {
        assert_forced!(server, code, client.delete_application().app_name("a").send());
        assert_forced!(server, code, client.get_application_settings().app_name("a").send());
    }
    for code in [400, 401, 404, 409, 429, 500] {
        assert_forced!(server, code, update());
        assert_forced!(server, code, create_stream());
    }
}

#[tokio::test]
async fn the_layer_catches_a_response_that_breaks_the_spec() {
    let (address, _, _) = common::serve_both_validated().await;
    let client = aioz_client(address, "secret-a");
    let error = client.list_live_stream_keys().search("bad-total").send().await.unwrap_err();
    let Error::InternalServerError(answer) = error else {
        panic!("expected a 500 envelope, got {error:?}")
    };
    assert_eq!(
        answer.message(),
        Some("internal server error: the response did not conform to the spec")
    );
    // The same request without the fault conforms.
    client.list_live_stream_keys().search("ok").send().await.unwrap();
}

#[tokio::test]
async fn the_layer_enforces_the_ingest_rules_before_the_handler() {
    let (address, _, _) = common::serve_both_validated().await;
    let response = reqwest::Client::new()
        .patch(format!("http://{address}/api/applications/live/settings/ingest"))
        .header("x-api-key", "storm-api-key")
        .json(&json!({"data": {"attributes": {"authorizationEnabled": true, "authType": "file"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"message": "`data.attributes.fileURL` is required when `authType` is `file`"})
    );
}
