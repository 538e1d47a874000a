//! In-memory implementations of both traits, served on 127.0.0.1, for the server tests.
//!
//! Each can be told to answer the next request with a given documented status (`force`), so the tests
//! reach every status the spec documents through the generated client.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use streamspec_server::aioz::types as aioz_types;
use streamspec_server::aioz::{self, LiveStreamsApi};
use streamspec_server::storm::types as storm_types;
use streamspec_server::storm::{self, StormApi};
use streamspec_server::{HandlerError, RouterOptions, async_trait};
use uuid::Uuid;

pub async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    address
}

/// Serves both in-memory APIs on one listener, with one conformance layer checking every request and
/// every response against its API's spec.
pub async fn serve_both_validated() -> (SocketAddr, Arc<Aioz>, Arc<Storm>) {
    use streamspec_conformance::{Api, layer::ConformanceLayer};
    let aioz = Arc::new(Aioz::default());
    let storm = Arc::new(Storm::default());
    let router = streamspec_server::both(aioz.clone(), storm.clone(), RouterOptions::default())
        .layer(ConformanceLayer::apis([Api::Aioz, Api::Storm]).validate_responses(true));
    (serve(router).await, aioz, storm)
}

/// Serves both in-memory APIs on one listener.
pub async fn serve_both(options: RouterOptions) -> (SocketAddr, Arc<Aioz>, Arc<Storm>) {
    let aioz = Arc::new(Aioz::default());
    let storm = Arc::new(Storm::default());
    let address = serve(streamspec_server::both(aioz.clone(), storm.clone(), options)).await;
    (address, aioz, storm)
}

const HEADERS: aioz::ResponseHeaders = aioz::ResponseHeaders {
    x_rate_limit_limit: 100,
    x_rate_limit_remaining: 99,
    x_rate_limit_retry_after: 60,
};

fn aioz_error(message: &str) -> aioz_types::ErrorResponse {
    aioz_types::ErrorResponse::with_message(message)
}

fn storm_error(message: &str) -> storm_types::ErrorResponse {
    storm_types::ErrorResponse::new(message.to_owned())
}

/// Answers a forced status with the operation's documented variant of that status.
macro_rules! aioz_forced {
    ($self:ident, $response:ty, { $($code:literal => $variant:ident),* $(,)? }) => {
        if let Some(code) = $self.forced.lock().unwrap().take() {
            let error = aioz_error(&format!("forced {code}"));
            return Ok(match code {
                $($code => <$response>::$variant(error, HEADERS),)*
                other => panic!("status {other} is not documented here"),
            });
        }
    };
}

/// AIOZ live stream keys, per account, in memory.
#[derive(Default)]
pub struct Aioz {
    keys: Mutex<Vec<(String, aioz_types::LiveStreamKey)>>,
    forced: Mutex<Option<u16>>,
    /// The last list input the handler saw, to check the adapter's defaults.
    pub last_list: Mutex<Option<aioz::ListLiveStreamKeysInput>>,
}

impl Aioz {
    pub fn force(&self, status: u16) {
        *self.forced.lock().unwrap() = Some(status);
    }

    /// The account of these credentials: `a` and `b` are accounts, `readonly` may only read.
    fn account(credentials: &aioz::Credentials) -> Option<&'static str> {
        use aioz::Credentials::*;
        let secret = match credentials {
            BearerAuth { token } => token.expose(),
            StreamPublicKeyAndStreamSecretKey { stream_secret_key, .. } => {
                stream_secret_key.expose()
            }
            BasicAuth { password, .. } => password.expose(),
        };
        match secret {
            "secret-a" => Some("a"),
            "secret-b" => Some("b"),
            "secret-readonly" => Some("readonly"),
            _ => None,
        }
    }
}

macro_rules! account {
    ($credentials:expr, $response:ident, write = $write:literal) => {{
        let Some(account) = Aioz::account(&$credentials) else {
            return Ok(aioz::$response::Unauthorized(aioz_error("unknown credentials"), HEADERS));
        };
        if $write && account == "readonly" {
            return Ok(aioz::$response::Forbidden(aioz_error("read-only account"), HEADERS));
        }
        account
    }};
}

fn now() -> String {
    "2026-11-23T10:15:30Z".to_owned()
}

#[async_trait]
impl LiveStreamsApi for Aioz {
    async fn create_live_stream_key(
        &self,
        input: aioz::CreateLiveStreamKeyInput,
    ) -> Result<aioz::CreateLiveStreamKeyResponse, HandlerError> {
        use aioz::CreateLiveStreamKeyResponse as R;
        aioz_forced!(self, R, {400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 429 => TooManyRequests, 500 => InternalServerError});
        let account = account!(input.credentials, CreateLiveStreamKeyResponse, write = true);
        if input.body.name == "panic" {
            panic!("the test asked this handler to panic");
        }
        let mut key = aioz_types::LiveStreamKey::new(Uuid::new_v4().to_string());
        key.user_id = Some(format!("user-{account}"));
        key.name = Some(input.body.name);
        key.stream_key = Some(Uuid::new_v4().to_string());
        key.rtmp_url = Some("rtmp://127.0.0.1:1935/live".to_owned());
        key.save = Some(input.body.save);
        key.type_ = Some(input.body.type_.unwrap_or(aioz_types::LiveStreamType::Video).into());
        key.created_at = Some(now());
        key.updated_at = Some(now());
        self.keys.lock().unwrap().push((account.to_owned(), key.clone()));
        Ok(R::Ok(aioz_types::LiveStreamKeyResponse::success(key), HEADERS))
    }

    async fn list_live_stream_keys(
        &self,
        input: aioz::ListLiveStreamKeysInput,
    ) -> Result<aioz::ListLiveStreamKeysResponse, HandlerError> {
        use aioz::ListLiveStreamKeysResponse as R;
        aioz_forced!(self, R, {400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 429 => TooManyRequests, 500 => InternalServerError});
        *self.last_list.lock().unwrap() = Some(input.clone());
        let account = account!(input.credentials, ListLiveStreamKeysResponse, write = false);
        let keys = self.keys.lock().unwrap();
        let matching: Vec<_> = keys
            .iter()
            .filter(|(owner, key)| {
                owner == account
                    && input.search.as_ref().is_none_or(|s| {
                        key.name.as_deref().is_some_and(|name| name.contains(s.as_str()))
                    })
            })
            .map(|(_, key)| key.clone())
            .collect();
        let page = matching
            .iter()
            .skip(usize::try_from(input.offset).unwrap_or(0))
            .take(input.limit.get() as usize)
            .cloned()
            .collect();
        let mut list = aioz_types::LiveStreamKeyList::new();
        list.live_stream_keys = Some(page);
        // A search for "bad-total" makes a deliberately wrong response: `total` is at least 0.
        list.total = Some(if input.search.as_deref() == Some("bad-total") {
            -1
        } else {
            matching.len() as i64
        });
        let mut body = aioz_types::LiveStreamKeyListResponse::new();
        body.status = Some("success".to_owned());
        body.data = Some(list);
        Ok(R::Ok(body, HEADERS))
    }

    async fn get_live_stream_key(
        &self,
        input: aioz::GetLiveStreamKeyInput,
    ) -> Result<aioz::GetLiveStreamKeyResponse, HandlerError> {
        use aioz::GetLiveStreamKeyResponse as R;
        aioz_forced!(self, R, {400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 404 => NotFound, 429 => TooManyRequests, 500 => InternalServerError});
        let account = account!(input.credentials, GetLiveStreamKeyResponse, write = false);
        let keys = self.keys.lock().unwrap();
        match keys.iter().find(|(owner, key)| owner == account && key.id == input.id.to_string()) {
            Some((_, key)) => {
                Ok(R::Ok(aioz_types::LiveStreamKeyResponse::success(key.clone()), HEADERS))
            }
            None => Ok(R::NotFound(aioz_error("live stream key not found"), HEADERS)),
        }
    }

    async fn update_live_stream_key(
        &self,
        input: aioz::UpdateLiveStreamKeyInput,
    ) -> Result<aioz::UpdateLiveStreamKeyResponse, HandlerError> {
        use aioz::UpdateLiveStreamKeyResponse as R;
        aioz_forced!(self, R, {400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 404 => NotFound, 429 => TooManyRequests, 500 => InternalServerError});
        let account = account!(input.credentials, UpdateLiveStreamKeyResponse, write = true);
        let mut keys = self.keys.lock().unwrap();
        let Some((_, key)) =
            keys.iter_mut().find(|(owner, key)| owner == account && key.id == input.id.to_string())
        else {
            return Ok(R::NotFound(aioz_error("live stream key not found"), HEADERS));
        };
        if let Some(name) = input.body.name {
            key.name = Some(name);
        }
        if let Some(save) = input.body.save {
            key.save = Some(save);
        }
        Ok(R::Ok(aioz_types::LiveStreamKeyResponse::success(key.clone()), HEADERS))
    }

    async fn delete_live_stream_key(
        &self,
        input: aioz::DeleteLiveStreamKeyInput,
    ) -> Result<aioz::DeleteLiveStreamKeyResponse, HandlerError> {
        use aioz::DeleteLiveStreamKeyResponse as R;
        aioz_forced!(self, R, {400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 404 => NotFound, 429 => TooManyRequests, 500 => InternalServerError});
        let account = account!(input.credentials, DeleteLiveStreamKeyResponse, write = true);
        let mut keys = self.keys.lock().unwrap();
        let before = keys.len();
        keys.retain(|(owner, key)| !(owner == account && key.id == input.id.to_string()));
        if keys.len() == before {
            return Ok(R::NotFound(aioz_error("live stream key not found"), HEADERS));
        }
        let mut body = aioz_types::DeleteLiveStreamKeyResponse::new();
        body.status = Some("success".to_owned());
        body.message = Some("Live stream key deleted".to_owned());
        Ok(R::Ok(body, HEADERS))
    }
}

/// Storm's REST API in memory: one user `admin`/`admin-password`, the API key `storm-api-key`.
#[derive(Default)]
pub struct Storm {
    applications: Mutex<HashMap<String, storm_types::ApplicationType>>,
    settings: Mutex<HashMap<String, storm_types::IngestSettings>>,
    streams: Mutex<HashMap<(String, String), storm_types::StreamSource>>,
    forced: Mutex<Option<u16>>,
}

impl Storm {
    pub fn force(&self, status: u16) {
        *self.forced.lock().unwrap() = Some(status);
    }

    fn take_forced(&self) -> Option<(u16, storm_types::ErrorResponse)> {
        self.forced
            .lock()
            .unwrap()
            .take()
            .map(|code| (code, storm_error(&format!("forced {code}"))))
    }

    fn authorized(credentials: &storm::Credentials) -> bool {
        match credentials {
            storm::Credentials::BearerAuth { token } => token.expose() == "storm-token",
            storm::Credentials::ApiKeyAuth { x_api_key } => x_api_key.expose() == "storm-api-key",
        }
    }
}

fn meta() -> storm_types::Meta {
    storm_types::Meta::new(1, 1_795_428_900_000)
}

fn wrapped(value: bool) -> storm_types::BooleanSetting {
    let mut setting = storm_types::BooleanSetting::new(true);
    setting.value = Some(value);
    setting
}

fn default_settings() -> storm_types::IngestSettings {
    storm_types::IngestSettings::new(
        wrapped(true),
        wrapped(true),
        storm_types::AuthTypeSetting::new(true, storm_types::AuthType::None.into()),
        wrapped(false),
        wrapped(true),
    )
}

macro_rules! storm_forced {
    ($self:ident, $response:ty, { $($code:literal => $variant:ident),* $(,)? }) => {
        if let Some((code, error)) = $self.take_forced() {
            return Ok(match code {
                $($code => <$response>::$variant(error),)*
                other => panic!("status {other} is not documented here"),
            });
        }
    };
}

#[async_trait]
impl StormApi for Storm {
    async fn login(&self, input: storm::LoginInput) -> Result<storm::LoginResponse, HandlerError> {
        storm_forced!(self, storm::LoginResponse, {400 => BadRequest, 401 => Unauthorized, 429 => TooManyRequests, 500 => InternalServerError});
        if input.body.username.as_str() != "admin"
            || input.body.password.expose() != "admin-password"
        {
            return Ok(storm::LoginResponse::Unauthorized(storm_error("Invalid credentials")));
        }
        let mut data = storm_types::LoginData::new(
            "storm-token".parse().unwrap(),
            1_795_429_800_000,
            900_000,
            storm_types::TokenType::Bearer,
            "admin".to_owned(),
        );
        data.message = Some("Authentication successful".to_owned());
        let mut response = storm_types::LoginResponse::new(data, meta());
        response.message = Some("Authentication successful".to_owned());
        Ok(storm::LoginResponse::Ok(response))
    }

    async fn create_application(
        &self,
        input: storm::CreateApplicationInput,
    ) -> Result<storm::CreateApplicationResponse, HandlerError> {
        use storm::CreateApplicationResponse as R;
        storm_forced!(self, R, {400 => BadRequest, 401 => Unauthorized, 409 => Conflict, 429 => TooManyRequests, 500 => InternalServerError});
        if !Storm::authorized(&input.credentials) {
            return Ok(R::Unauthorized(storm_error("Invalid or missing token")));
        }
        let application = input.body.data.attributes;
        let name = application.name.to_string();
        let mut applications = self.applications.lock().unwrap();
        if applications.contains_key(&name) {
            return Ok(R::Conflict(storm_error("Application already exists")));
        }
        applications.insert(name.clone(), application.type_);
        if matches!(
            application.type_,
            storm_types::ApplicationType::Mono | storm_types::ApplicationType::Origin
        ) {
            self.settings.lock().unwrap().insert(name, default_settings());
        }
        let reported = application
            .type_
            .to_string()
            .parse::<storm_types::ApplicationTypeName>()
            .map(Into::into)
            .unwrap_or_else(|_| {
                application
                    .type_
                    .to_string()
                    .to_uppercase()
                    .parse::<storm_types::ApplicationTypeName>()
                    .unwrap()
                    .into()
            });
        let info = storm_types::ApplicationInfo::new(application.name.to_string(), reported);
        let mut response = storm_types::ApplicationResponse::new(
            storm_types::ApplicationResponseData::new(info),
            meta(),
        );
        response.message = Some("Application created".to_owned());
        Ok(R::Created(response))
    }

    async fn delete_application(
        &self,
        input: storm::DeleteApplicationInput,
    ) -> Result<storm::DeleteApplicationResponse, HandlerError> {
        use storm::DeleteApplicationResponse as R;
        storm_forced!(self, R, {400 => BadRequest, 401 => Unauthorized, 404 => NotFound, 429 => TooManyRequests, 500 => InternalServerError});
        if !Storm::authorized(&input.credentials) {
            return Ok(R::Unauthorized(storm_error("Invalid or missing token")));
        }
        if self.applications.lock().unwrap().remove(input.app_name.as_str()).is_none() {
            return Ok(R::NotFound(storm_error("Application not found")));
        }
        self.settings.lock().unwrap().remove(input.app_name.as_str());
        Ok(R::Ok(storm_types::MessageResponse::new("Application deleted".to_owned(), meta())))
    }

    async fn get_application_settings(
        &self,
        input: storm::GetApplicationSettingsInput,
    ) -> Result<storm::GetApplicationSettingsResponse, HandlerError> {
        use storm::GetApplicationSettingsResponse as R;
        storm_forced!(self, R, {400 => BadRequest, 401 => Unauthorized, 404 => NotFound, 429 => TooManyRequests, 500 => InternalServerError});
        if !Storm::authorized(&input.credentials) {
            return Ok(R::Unauthorized(storm_error("Invalid or missing token")));
        }
        if !self.applications.lock().unwrap().contains_key(input.app_name.as_str()) {
            return Ok(R::NotFound(storm_error("Application not found")));
        }
        let ingest = self.settings.lock().unwrap().get(input.app_name.as_str()).cloned();
        let mut data = storm_types::ApplicationSettings::new();
        data.ingest_settings = ingest.map(storm_types::IngestSettingsSection::new);
        Ok(R::Ok(storm_types::ApplicationSettingsResponse::new(data, meta())))
    }

    async fn update_ingest_settings(
        &self,
        input: storm::UpdateIngestSettingsInput,
    ) -> Result<storm::UpdateIngestSettingsResponse, HandlerError> {
        use storm::UpdateIngestSettingsResponse as R;
        storm_forced!(self, R, {400 => BadRequest, 401 => Unauthorized, 404 => NotFound, 409 => Conflict, 429 => TooManyRequests, 500 => InternalServerError});
        if !Storm::authorized(&input.credentials) {
            return Ok(R::Unauthorized(storm_error("Invalid or missing token")));
        }
        let mut settings = self.settings.lock().unwrap();
        let Some(current) = settings.get_mut(input.app_name.as_str()) else {
            return Ok(R::NotFound(storm_error(
                "Application not found, or it has no ingest settings",
            )));
        };
        let update = input.body.data.attributes;
        if let Some(value) = update.allow_stream_ingest {
            current.allow_stream_ingest.value = Some(value);
        }
        if let Some(value) = update.authorization_enabled {
            current.authorization_enabled.value = Some(value);
        }
        if let Some(value) = update.auth_type {
            current.auth_type.value = value.into();
        }
        let mut response = storm_types::IngestSettingsResponse::new(
            storm_types::IngestSettingsSection::new(current.clone()),
            meta(),
        );
        response.message = Some("Ingest settings updated".to_owned());
        Ok(R::Ok(response))
    }

    async fn create_stream(
        &self,
        input: storm::CreateStreamInput,
    ) -> Result<storm::CreateStreamResponse, HandlerError> {
        use storm::CreateStreamResponse as R;
        storm_forced!(self, R, {400 => BadRequest, 401 => Unauthorized, 404 => NotFound, 409 => Conflict, 429 => TooManyRequests, 500 => InternalServerError});
        if !Storm::authorized(&input.credentials) {
            return Ok(R::Unauthorized(storm_error("Invalid or missing token")));
        }
        if !self.applications.lock().unwrap().contains_key(input.app_name.as_str()) {
            return Ok(R::NotFound(storm_error("Application not found")));
        }
        let attributes = input.body.data.attributes;
        let key = (input.app_name.to_string(), attributes.stream_key.to_string());
        let mut streams = self.streams.lock().unwrap();
        if streams.contains_key(&key) {
            return Ok(R::Conflict(storm_error("A stream with this key already exists")));
        }
        let auth_type = match &attributes.source {
            storm_types::StreamSource::CredentialsSource(_) => {
                storm_types::StreamAuthType::Credentials
            }
            storm_types::StreamSource::TokenSource(_) => storm_types::StreamAuthType::Token,
            storm_types::StreamSource::SecretSource(_) => storm_types::StreamAuthType::Secret,
            storm_types::StreamSource::NoAuthSource(_) => storm_types::StreamAuthType::None,
        };
        streams.insert(key, attributes.source);
        let mut stream = storm_types::Stream::new(
            storm_types::StreamSourceSummary::new(auth_type),
            attributes.stream_key,
            attributes.type_.into(),
        );
        stream.allow_publishing = attributes.allow_publishing;
        stream.record_stream = attributes.record_stream;
        let mut response =
            storm_types::StreamResponse::new(storm_types::StreamResponseData::new(stream), meta());
        response.message = Some("Stream created".to_owned());
        Ok(R::Created(response))
    }
}
