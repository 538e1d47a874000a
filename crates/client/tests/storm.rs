//! The Storm client against a scripted server on 127.0.0.1: every operation, the three auth modes
//! (login with renewal among them), and errors.

mod common;

use common::TestServer;
use serde_json::{Value, json};
use streamspec_client::Error;
use streamspec_client::storm::types::{
    Application, ApplicationType, AuthType, AuthUser, AuthUserCredentials, AuthUserToken,
    CreateApplicationRequest, CreateApplicationRequestData, CreateStreamRequest,
    IngestSettingsAttributes, LoginRequest, StreamSource, TokenSource, UpdateIngestSettingsRequest,
    UpdateIngestSettingsRequestData,
};
use streamspec_client::storm::{Client, Credentials};

fn meta() -> Value {
    json!({"executionTime": 2, "generatedAt": 1795428900000u64})
}

fn login_answer(token: &str, remaining_ms: u64) -> Value {
    json!({
        "data": {
            "accessToken": token,
            "tokenType": "Bearer",
            "expireDate": 1795429800000u64,
            "remainingTime": remaining_ms,
            "username": "admin",
            "message": "Authentication successful",
        },
        "meta": meta(),
        "message": "Authentication successful",
    })
}

fn settings_answer() -> Value {
    let wrapped = |value: Value| json!({"editable": true, "value": value});
    json!({
        "data": {"attributes": {
            "allowStreamIngest": wrapped(json!(true)),
            "autoStreamPublish": wrapped(json!(true)),
            "allowStreamOverwrite": wrapped(json!(true)),
            "authorizationEnabled": wrapped(json!(true)),
            "authType": wrapped(json!("local")),
            "authUsers": wrapped(json!([{"kind": "credentials", "username": "admin"}])),
        }},
        "meta": meta(),
        "message": "Ingest settings updated",
    })
}

fn api_key_client(server: &TestServer) -> Client {
    Client::builder(&server.url, Credentials::api_key("static-api-key").unwrap()).build().unwrap()
}

#[tokio::test]
async fn login_sends_a_plain_body_and_no_credentials() {
    let server = TestServer::start().await;
    server.respond(200, login_answer("jwt-1", 900_000));
    let body = LoginRequest::new("qwerty123".parse().unwrap(), "admin".try_into().unwrap());
    let answer = api_key_client(&server).login().body(body).send().await.unwrap();

    assert_eq!(answer.data.access_token.expose(), "jwt-1");
    let request = server.only_request();
    assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/api/auth/login"));
    assert_eq!(request.json(), json!({"username": "admin", "password": "qwerty123"}));
    assert_eq!(request.header("x-api-key"), None, "login carries no credentials");
    assert_eq!(request.header("authorization"), None);
}

#[tokio::test]
async fn the_api_key_goes_in_x_api_key() {
    let server = TestServer::start().await;
    server.respond(200, json!({"meta": meta(), "message": "Application deleted"}));
    let deleted =
        api_key_client(&server).delete_application().app_name("live").send().await.unwrap();
    assert_eq!(deleted.message, "Application deleted");
    let request = server.only_request();
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("DELETE", "/api/applications/live")
    );
    assert_eq!(request.header("x-api-key"), Some("static-api-key"));
    assert_eq!(request.header("authorization"), None);
}

#[tokio::test]
async fn a_bearer_token_goes_in_authorization() {
    let server = TestServer::start().await;
    server.respond(
        200,
        json!({"data": {"ingestSettings": settings_answer()["data"]}, "meta": meta()}),
    );
    let client =
        Client::builder(&server.url, Credentials::bearer("jwt-x").unwrap()).build().unwrap();
    let settings = client.get_application_settings().app_name("live").send().await.unwrap();
    let ingest = settings.into_inner().data.ingest_settings.unwrap();
    assert_eq!(ingest.attributes.auth_type.value, AuthType::Local.into());
    let request = server.only_request();
    assert_eq!(request.path, "/api/applications/live/settings");
    assert_eq!(request.header("authorization"), Some("Bearer jwt-x"));
}

#[tokio::test]
async fn login_credentials_sign_in_once_and_reuse_the_token() {
    let server = TestServer::start().await;
    server
        .respond(200, login_answer("jwt-1", 900_000))
        .respond(200, json!({"meta": meta(), "message": "Application deleted"}))
        .respond(200, json!({"meta": meta(), "message": "Application deleted"}));
    let client = Client::builder(&server.url, Credentials::login("admin", "qwerty123").unwrap())
        .build()
        .unwrap();
    client.delete_application().app_name("a").send().await.unwrap();
    client.clone().delete_application().app_name("b").send().await.unwrap();

    let requests = server.requests();
    let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/api/auth/login", "/api/applications/a", "/api/applications/b"]);
    assert_eq!(requests[0].json(), json!({"username": "admin", "password": "qwerty123"}));
    assert_eq!(requests[1].header("authorization"), Some("Bearer jwt-1"));
    assert_eq!(
        requests[2].header("authorization"),
        Some("Bearer jwt-1"),
        "a clone shares the token"
    );
}

#[tokio::test]
async fn login_credentials_renew_a_token_about_to_expire() {
    let server = TestServer::start().await;
    // 30 s left is inside the default 60 s margin: the next request signs in again.
    server
        .respond(200, login_answer("jwt-old", 30_000))
        .respond(200, json!({"meta": meta(), "message": "deleted"}))
        .respond(200, login_answer("jwt-new", 900_000))
        .respond(200, json!({"meta": meta(), "message": "deleted"}));
    let client = Client::builder(&server.url, Credentials::login("admin", "qwerty123").unwrap())
        .build()
        .unwrap();
    client.delete_application().app_name("a").send().await.unwrap();
    client.delete_application().app_name("b").send().await.unwrap();

    let requests = server.requests();
    let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        ["/api/auth/login", "/api/applications/a", "/api/auth/login", "/api/applications/b"]
    );
    assert_eq!(requests[1].header("authorization"), Some("Bearer jwt-old"));
    assert_eq!(requests[3].header("authorization"), Some("Bearer jwt-new"));
}

#[tokio::test]
async fn a_failed_login_is_an_error_naming_the_user_but_not_the_password() {
    let server = TestServer::start().await;
    server.respond(401, json!({"message": "Invalid credentials"}));
    let client =
        Client::builder(&server.url, Credentials::login("admin", "wrong-PASSWORD").unwrap())
            .build()
            .unwrap();
    let error = client.delete_application().app_name("a").send().await.unwrap_err();
    let Error::SignIn { message, .. } = &error else {
        panic!("expected a login failure, got {error:?}")
    };
    assert!(
        message.contains("`admin`")
            && message.contains("401")
            && message.contains("Invalid credentials"),
        "{message}"
    );
    assert!(!format!("{error} {error:?}").contains("PASSWORD"));
    assert_eq!(server.requests().len(), 1, "the operation itself is not sent");
}

#[tokio::test]
async fn create_application_sends_the_wrapped_body() {
    let server = TestServer::start().await;
    server.respond(
        201,
        json!({"data": {"attributes": {"name": "live", "type": "mono"}}, "meta": meta(), "message": "Application created"}),
    );
    let body = CreateApplicationRequest::builder().data(
        CreateApplicationRequestData::builder()
            .attributes(Application::builder().name("live").type_(ApplicationType::Mono)),
    );
    let created = api_key_client(&server).create_application().body(body).send().await.unwrap();
    assert_eq!(created.status().as_u16(), 201);
    // The mock answers `mono`; Storm's reads answer `MONO`: both are the same known type.
    assert_eq!(
        created.data.attributes.type_,
        streamspec_client::storm::types::ApplicationTypeName::Mono.into()
    );
    let request = server.only_request();
    assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/api/applications"));
    assert_eq!(request.json(), json!({"data": {"attributes": {"name": "live", "type": "mono"}}}));
}

#[tokio::test]
async fn update_ingest_settings_sends_a_partial_update() {
    let server = TestServer::start().await;
    server.respond(200, settings_answer());
    let users = vec![
        AuthUser::Credentials(
            AuthUserCredentials::builder()
                .username("admin")
                .password("qwerty123")
                .try_into()
                .unwrap(),
        ),
        AuthUser::Token(
            AuthUserToken::builder().token("tok").expire(Some(1798761600000)).try_into().unwrap(),
        ),
    ];
    let attributes = IngestSettingsAttributes::builder()
        .authorization_enabled(true)
        .auth_type(AuthType::Local)
        .auth_users(users);
    let body = UpdateIngestSettingsRequest::builder()
        .data(UpdateIngestSettingsRequestData::builder().attributes(attributes));
    let answer = api_key_client(&server)
        .update_ingest_settings()
        .app_name("live")
        .body(body)
        .send()
        .await
        .unwrap();

    assert_eq!(answer.data.attributes.auth_type.value, AuthType::Local.into());
    let request = server.only_request();
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("PATCH", "/api/applications/live/settings/ingest")
    );
    assert_eq!(
        request.json(),
        json!({"data": {"attributes": {
            "authorizationEnabled": true,
            "authType": "local",
            "authUsers": [
                {"username": "admin", "password": "qwerty123"},
                {"token": "tok", "expire": 1798761600000u64},
            ],
        }}}),
        "fields left out are not sent, so the server keeps them"
    );
}

#[tokio::test]
async fn create_stream_sends_its_credentials_and_reads_a_summary() {
    let server = TestServer::start().await;
    server.respond(
        201,
        json!({"data": {"attributes": {"streamKey": "camera2", "type": "ingest", "source": {"authType": "token"}}}, "meta": meta()}),
    );
    let source = StreamSource::TokenSource(
        serde_json::from_value::<TokenSource>(
            json!({"authType": "token", "auth": {"token": "8c1d5e2f"}}),
        )
        .unwrap(),
    );
    let body: CreateStreamRequest = serde_json::from_value(json!({
        "data": {"attributes": {"streamKey": "camera2", "type": "ingest", "source": source}}
    }))
    .unwrap();
    let created =
        api_key_client(&server).create_stream().app_name("live").body(body).send().await.unwrap();
    assert_eq!(created.data.attributes.stream_key.as_str(), "camera2");
    let request = server.only_request();
    assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/api/streams/live"));
    assert_eq!(
        request.json()["data"]["attributes"]["source"],
        json!({"authType": "token", "auth": {"token": "8c1d5e2f"}})
    );
}

#[tokio::test]
async fn an_error_is_the_flat_message_envelope() {
    let server = TestServer::start().await;
    server.respond(409, json!({"message": "A stream with this key already exists"}));
    let body: CreateStreamRequest = serde_json::from_value(json!({
        "data": {"attributes": {"streamKey": "camera1", "type": "ingest", "source": {"authType": "none"}}}
    }))
    .unwrap();
    let error = api_key_client(&server)
        .create_stream()
        .app_name("live")
        .body(body)
        .send()
        .await
        .unwrap_err();
    let Error::Conflict(answer) = &error else {
        panic!("expected the error envelope, got {error:?}")
    };
    assert_eq!(answer.body().message, "A stream with this key already exists");
    assert_eq!(
        error.to_string(),
        "create_stream answered 409 Conflict: A stream with this key already exists"
    );
}

#[tokio::test]
async fn an_invalid_application_name_is_refused_before_sending() {
    let server = TestServer::start().await;
    let error = api_key_client(&server).delete_application().app_name("").send().await.unwrap_err();
    assert!(matches!(error, Error::InvalidRequest { .. }), "{error:?}");
    assert!(server.requests().is_empty());
}

#[test]
fn credentials_print_no_secret() {
    for credentials in [
        Credentials::bearer("jwt-SECRET").unwrap(),
        Credentials::api_key("key-SECRET").unwrap(),
        Credentials::login("admin", "pw-SECRET").unwrap(),
    ] {
        let client = Client::builder("http://127.0.0.1:1", credentials).build().unwrap();
        let shown = format!("{client:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
    }
}
