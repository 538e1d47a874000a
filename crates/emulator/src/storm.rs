//! Storm Streaming Server's REST API: sign-in with signed 15-minute JWTs, the static API key,
//! applications, their ingest settings (stored with their secrets, answered without), and streams.

use std::sync::{Arc, RwLock};

use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use streamspec_server::storm::types::{
    self, AuthType, AuthTypeSetting, AuthUser, AuthUserKind, AuthUserSummary, AuthUsersSetting,
    BooleanSetting, ErrorResponse, IngestSettings, IngestSettingsAttributes, IngestSettingsSection,
    Meta, StringSetting,
};
use streamspec_server::storm::*;
use streamspec_server::types::chrono::Utc;
use streamspec_server::{HandlerError, Rejection, async_trait};

use streamspec_ingest_auth::{Authorizer, IngestSettings as ResolvedSettings};

use crate::config::StormUser;
use crate::sessions::LiveSessions;
use crate::store::Storage;
use streamspec_server::emulator::types::IngestSessionApi;

/// How long a token from `login` lives.
const TOKEN_LIFETIME_MS: i64 = 15 * 60 * 1000;

pub struct Storm {
    store: Arc<dyn Storage>,
    authorizer: Arc<Authorizer>,
    /// Deleting an application ends its live sessions.
    sessions: Arc<LiveSessions>,
    /// Replaced whole when a reset regenerates the credentials.
    auth: RwLock<Arc<StormAuth>>,
    max_name_bytes: usize,
    max_auth_users: usize,
}

/// Who may call: the users, the API key, and the key tokens are signed with.
struct StormAuth {
    users: Vec<StormUser>,
    api_key: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl StormAuth {
    fn new(credentials: &crate::Credentials, secret: &str) -> Self {
        Self {
            users: credentials.storm_users.clone(),
            api_key: credentials.storm_api_key.clone(),
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
        }
    }

    /// The user a token names, if it is signed with this key and has not expired.
    fn user_of(&self, token: &str) -> Option<String> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &Validation::default())
            .ok()
            .map(|decoded| decoded.claims.sub)
    }
}

#[derive(Serialize, Deserialize)]
struct Claims {
    sub: String,
    /// Seconds since the epoch, checked by `jsonwebtoken`.
    exp: i64,
    iat: i64,
}

fn error(message: &str) -> ErrorResponse {
    ErrorResponse::new(message.to_owned())
}

/// An application's type as every response answers it: in upper case, as the vendor's reads do.
fn reported_type(kind: &str) -> Result<types::ReportedApplicationType, HandlerError> {
    let name: types::ApplicationTypeName =
        kind.to_ascii_uppercase().parse().map_err(HandlerError::internal)?;
    Ok(name.into())
}

fn meta() -> Meta {
    Meta::new(0, Utc::now().timestamp_millis())
}

/// The application a first start creates (and a reset creates again): `live`, of type `mono`, with
/// its ingest settings as JSON.
pub(crate) fn first_application() -> anyhow::Result<(String, String, Option<String>)> {
    let ingest = serde_json::to_string(&default_ingest())?;
    Ok(("live".to_owned(), "mono".to_owned(), Some(ingest)))
}

/// A new application's ingest settings: everything allowed, no authorization.
fn default_ingest() -> IngestSettingsAttributes {
    let mut settings = IngestSettingsAttributes::new();
    settings.allow_stream_ingest = Some(true);
    settings.auto_stream_publish = Some(true);
    settings.allow_stream_overwrite = Some(true);
    settings.authorization_enabled = Some(false);
    settings.auth_type = Some(AuthType::None);
    settings
}

/// The settings as answered: wrapped, and without `apiKey`, passwords or tokens.
fn view(settings: &IngestSettingsAttributes) -> IngestSettings {
    // Every value the emulator answers is set: `null` and `lockedBy` are what a real server may
    // answer, read by the client and never sent here (nothing locks the emulator's settings).
    let flag = |value: Option<bool>| {
        let mut flag = BooleanSetting::new(true);
        flag.value = Some(value.unwrap_or_default());
        flag
    };
    let text = |value: String| {
        let mut text = StringSetting::new(true);
        text.value = Some(value);
        text
    };
    let auth_type = AuthTypeSetting::new(true, settings.auth_type.unwrap_or(AuthType::None).into());
    let mut view = IngestSettings::new(
        flag(settings.allow_stream_ingest),
        flag(settings.allow_stream_overwrite),
        auth_type,
        flag(settings.authorization_enabled),
        flag(settings.auto_stream_publish),
    );
    view.request_url = settings.request_url.as_ref().map(|url| text(url.to_string()));
    view.file_url = settings.file_url.as_ref().map(|path| text(path.to_string()));
    let users: Vec<AuthUserSummary> = settings
        .auth_users
        .iter()
        .map(|user| match user {
            AuthUser::Credentials(user) => {
                let mut summary = AuthUserSummary::new(AuthUserKind::Credentials);
                summary.username = Some(user.username.to_string());
                summary
            }
            AuthUser::Token(token) => {
                let mut summary = AuthUserSummary::new(AuthUserKind::Token);
                summary.expire = token.expire;
                summary
            }
        })
        .collect();
    view.auth_users = (!users.is_empty()).then(|| AuthUsersSetting::new(true, users));
    view
}

/// Applies a partial update: a field left out keeps its value.
fn merge(current: &mut IngestSettingsAttributes, update: IngestSettingsAttributes) {
    macro_rules! take {
        ($($field:ident),*) => {$(
            if update.$field.is_some() {
                current.$field = update.$field;
            }
        )*};
    }
    take!(
        allow_stream_ingest,
        auto_stream_publish,
        allow_stream_overwrite,
        authorization_enabled,
        auth_type,
        request_url,
        api_key,
        file_url
    );
    // typify makes `authUsers` a `Vec`: absent and empty look the same, and empty is invalid anyway.
    if !update.auth_users.is_empty() {
        current.auth_users = update.auth_users;
    }
}

pub(crate) fn has_ingest(kind: &str) -> bool {
    matches!(kind, "mono" | "origin")
}

impl Storm {
    pub(crate) fn new(
        store: Arc<dyn Storage>,
        authorizer: Arc<Authorizer>,
        sessions: Arc<LiveSessions>,
        credentials: &crate::Credentials,
        config: &crate::Config,
    ) -> anyhow::Result<Self> {
        // The JWT secret is kept in the database, so tokens outlive a restart within their 15 minutes.
        let secret = match store.setting(crate::config::JWT_SECRET)? {
            Some(secret) => secret,
            None => {
                store.remember(crate::config::JWT_SECRET, &crate::config::jwt_secret()).wait()?
            }
        };
        // A default `mono` application `live` on first start only: one deleted later stays deleted.
        if store.setting("storm.initialized")?.is_none() {
            let (name, kind, ingest) = first_application()?;
            store.create_application(&name, &kind, ingest.as_deref()).wait()?;
            store.set_setting("storm.initialized", "1").wait()?;
        }
        Ok(Self {
            store,
            authorizer,
            sessions,
            auth: RwLock::new(Arc::new(StormAuth::new(credentials, &secret))),
            max_name_bytes: config.max_name_bytes,
            max_auth_users: config.storm.max_auth_users,
        })
    }

    /// Refuses what is not a valid token of a user who still exists, nor the API key (compared in
    /// constant time), with Storm's 401 message.
    pub(crate) fn check(&self, credentials: &Credentials) -> Result<(), Rejection> {
        match self.authorized(credentials) {
            true => Ok(()),
            false => Err(Rejection::unauthorized("Invalid or missing token")),
        }
    }

    fn auth(&self) -> Arc<StormAuth> {
        self.auth.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// Replaces who may call (a reset that regenerates the credentials): tokens signed before stop
    /// working.
    pub(crate) fn replace_credentials(&self, credentials: &crate::Credentials, secret: &str) {
        *self.auth.write().unwrap_or_else(|poisoned| poisoned.into_inner()) =
            Arc::new(StormAuth::new(credentials, secret));
    }

    /// The user a bearer token names (its signature checked), or `api-key`: for the journal and
    /// faults.
    pub(crate) fn account_id(&self, credentials: &Credentials) -> Option<String> {
        match credentials {
            Credentials::BearerAuth { token } => self.auth().user_of(token.expose()),
            Credentials::ApiKeyAuth { .. } => Some("api-key".to_owned()),
        }
    }

    /// A valid token of a user who still exists, or the API key (compared in constant time).
    fn authorized(&self, credentials: &Credentials) -> bool {
        let auth = self.auth();
        match credentials {
            Credentials::BearerAuth { token } => auth.user_of(token.expose()).is_some_and(|user| {
                // A token outlives nothing: once its user is gone from the configuration, it is
                // refused, though its signature is still good.
                auth.users.iter().any(|known| known.username == user)
            }),
            Credentials::ApiKeyAuth { x_api_key } => {
                streamspec_ingest_auth::secrets_match(x_api_key.expose(), &auth.api_key)
            }
        }
    }

    fn application(
        &self,
        name: &str,
    ) -> Result<Option<(String, Option<IngestSettingsAttributes>)>, HandlerError> {
        application(self.store.as_ref(), name)
    }

    /// Why the ingest settings, as they would be after an update, cannot be used: `None` when they can.
    /// The spec's validators see one request; this sees the result of merging it with what is stored,
    /// and what only the server knows (where authorization files may be).
    fn unusable(&self, settings: &IngestSettingsAttributes) -> Option<String> {
        if settings.auth_users.len() > self.max_auth_users {
            return Some(format!(
                "data.attributes.authUsers: more than the limit of {} entries",
                self.max_auth_users
            ));
        }
        if let Err(error) = ResolvedSettings::from_attributes(settings) {
            return Some(format!("data.attributes.{}: {error}", error.field));
        }
        if let Some(path) = &settings.file_url
            && let Err(error) = self.authorizer.check_file_url(path.as_str())
        {
            return Some(format!("data.attributes.fileURL: {error}"));
        }
        if let Some(url) = &settings.request_url
            && let Err(error) = self.authorizer.check_request_url(url)
        {
            return Some(format!("data.attributes.requestURL: {error}"));
        }
        None
    }
}

/// An application's type and stored ingest settings (with their secrets), if it exists.
pub(crate) fn application(
    store: &dyn Storage,
    name: &str,
) -> Result<Option<(String, Option<IngestSettingsAttributes>)>, HandlerError> {
    let Some((kind, ingest)) = store.application(name).map_err(HandlerError::internal)? else {
        return Ok(None);
    };
    Ok(Some((kind, ingest.as_deref().map(parse_ingest).transpose()?)))
}

/// Stored ingest settings (JSON, with their secrets) as attributes.
fn parse_ingest(json: &str) -> Result<IngestSettingsAttributes, HandlerError> {
    serde_json::from_str(json).map_err(HandlerError::internal)
}

#[async_trait]
impl StormApi for Storm {
    /// Every operation but login takes a valid token of a user who still exists, or the API key.
    async fn authenticate(
        &self,
        _operation: &'static str,
        credentials: &Credentials,
    ) -> Result<(), Rejection> {
        self.check(credentials)
    }

    async fn login(&self, input: LoginInput) -> Result<LoginResponse, HandlerError> {
        let body = input.body;
        // Every user's password is compared, in constant time, whichever name matches.
        let auth = self.auth();
        let known = auth.users.iter().fold(false, |known, user| {
            let password =
                streamspec_ingest_auth::secrets_match(&user.password, body.password.expose());
            known | (password && user.username == body.username.as_str())
        });
        if !known {
            return Ok(LoginResponse::Unauthorized(error("Invalid username or password")));
        }
        let now = Utc::now().timestamp_millis();
        let expires = now + TOKEN_LIFETIME_MS;
        let claims =
            Claims { sub: body.username.to_string(), exp: expires / 1000, iat: now / 1000 };
        let token = jsonwebtoken::encode(&Header::default(), &claims, &auth.encoding)
            .map_err(HandlerError::internal)?;
        let message = "Authentication successful".to_owned();
        let mut data = types::LoginData::new(
            token.parse().map_err(HandlerError::internal)?,
            expires,
            TOKEN_LIFETIME_MS,
            types::TokenType::Bearer,
            body.username.to_string(),
        );
        data.message = Some(message.clone());
        let mut response = types::LoginResponse::new(data, meta());
        response.message = Some(message);
        Ok(LoginResponse::Ok(response))
    }

    async fn create_application(
        &self,
        input: CreateApplicationInput,
    ) -> Result<CreateApplicationResponse, HandlerError> {
        let application = input.body.data.attributes;
        if application.name.len() > self.max_name_bytes {
            return Ok(CreateApplicationResponse::BadRequest(error(&format!(
                "data.attributes.name: longer than the limit of {} bytes",
                self.max_name_bytes
            ))));
        }
        let kind = application.type_.to_string();
        let ingest = has_ingest(&kind)
            .then(|| serde_json::to_string(&default_ingest()))
            .transpose()
            .map_err(HandlerError::internal)?;
        let created = self
            .store
            .create_application(&application.name, &kind, ingest.as_deref())
            .await
            .map_err(HandlerError::internal)?;
        if !created {
            return Ok(CreateApplicationResponse::Conflict(error(&format!(
                "Application {} already exists",
                application.name.as_str()
            ))));
        }
        let attributes =
            types::ApplicationInfo::new(application.name.to_string(), reported_type(&kind)?);
        let mut response = types::ApplicationResponse::new(
            types::ApplicationResponseData::new(attributes),
            meta(),
        );
        response.message = Some("Application created".to_owned());
        Ok(CreateApplicationResponse::Created(response))
    }

    async fn delete_application(
        &self,
        input: DeleteApplicationInput,
    ) -> Result<DeleteApplicationResponse, HandlerError> {
        if !self.store.delete_application(&input.app_name).await.map_err(HandlerError::internal)? {
            return Ok(DeleteApplicationResponse::NotFound(error("Application not found")));
        }
        // Its publishers are disconnected and their sessions end.
        let name = input.app_name.as_str();
        let ended = self.sessions.end_where(|session| {
            session.api == IngestSessionApi::Storm && session.application == name
        });
        for id in ended {
            self.authorizer.end_session(id.into());
        }
        let message = format!("Application {} has been deleted", input.app_name.as_str());
        Ok(DeleteApplicationResponse::Ok(types::MessageResponse::new(message, meta())))
    }

    async fn get_application_settings(
        &self,
        input: GetApplicationSettingsInput,
    ) -> Result<GetApplicationSettingsResponse, HandlerError> {
        let Some((kind, ingest)) = self.application(&input.app_name)? else {
            return Ok(GetApplicationSettingsResponse::NotFound(error("Application not found")));
        };
        let mut data = types::ApplicationSettings::new();
        data.name = Some(input.app_name.to_string());
        data.type_ = Some(reported_type(&kind)?);
        data.ingest_settings = ingest.map(|settings| IngestSettingsSection::new(view(&settings)));
        Ok(GetApplicationSettingsResponse::Ok(types::ApplicationSettingsResponse::new(
            data,
            meta(),
        )))
    }

    async fn update_ingest_settings(
        &self,
        input: UpdateIngestSettingsInput,
    ) -> Result<UpdateIngestSettingsResponse, HandlerError> {
        let name = input.app_name;
        let update = input.body.data.attributes;
        // Read, merge, and write only if nothing changed in between; else read again. Two partial
        // updates at once then both land, whichever commits first.
        let settings = loop {
            let Some((kind, stored)) =
                self.store.application(&name).map_err(HandlerError::internal)?
            else {
                return Ok(UpdateIngestSettingsResponse::NotFound(error("Application not found")));
            };
            let Some(json) = stored.as_deref().filter(|_| has_ingest(&kind)) else {
                let message = format!(
                    "Application {} is of type {kind}, which has no ingest settings",
                    name.as_str()
                );
                return Ok(UpdateIngestSettingsResponse::NotFound(error(&message)));
            };
            let mut settings = parse_ingest(json)?;
            merge(&mut settings, update.clone());
            if let Some(message) = self.unusable(&settings) {
                return Ok(UpdateIngestSettingsResponse::BadRequest(error(&message)));
            }
            let merged = serde_json::to_string(&settings).map_err(HandlerError::internal)?;
            if self
                .store
                .replace_ingest(&name, stored.as_deref(), &merged)
                .await
                .map_err(HandlerError::internal)?
            {
                break settings;
            }
        };
        let mut response =
            types::IngestSettingsResponse::new(IngestSettingsSection::new(view(&settings)), meta());
        response.message = Some("Ingest settings updated".to_owned());
        Ok(UpdateIngestSettingsResponse::Ok(response))
    }

    async fn create_stream(
        &self,
        input: CreateStreamInput,
    ) -> Result<CreateStreamResponse, HandlerError> {
        let name = input.app_name;
        if self.application(&name)?.is_none() {
            return Ok(CreateStreamResponse::NotFound(error("Application not found")));
        }
        let attributes = input.body.data.attributes;
        let source = serde_json::to_string(&attributes.source).map_err(HandlerError::internal)?;
        if !self
            .store
            .create_stream(&name, &attributes.stream_key, &source)
            .await
            .map_err(HandlerError::internal)?
        {
            return Ok(CreateStreamResponse::Conflict(error(
                "A stream with this key already exists in the application",
            )));
        }
        let auth_type = match &attributes.source {
            types::StreamSource::CredentialsSource(_) => types::StreamAuthType::Credentials,
            types::StreamSource::TokenSource(_) => types::StreamAuthType::Token,
            types::StreamSource::SecretSource(_) => types::StreamAuthType::Secret,
            types::StreamSource::NoAuthSource(_) => types::StreamAuthType::None,
        };
        let mut stream = types::Stream::new(
            types::StreamSourceSummary::new(auth_type),
            attributes.stream_key,
            attributes.type_.into(),
        );
        stream.allow_publishing = attributes.allow_publishing;
        stream.record_stream = attributes.record_stream;
        let mut response =
            types::StreamResponse::new(types::StreamResponseData::new(stream), meta());
        response.message = Some("Stream created".to_owned());
        Ok(CreateStreamResponse::Created(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_view_never_shows_secrets() {
        let mut settings = default_ingest();
        let update: IngestSettingsAttributes = serde_json::from_value(serde_json::json!({
            "authType": "local", "apiKey": "API-SECRET",
            "authUsers": [{"username": "admin", "password": "PW-SECRET"}, {"token": "TOKEN-SECRET", "expire": 5}],
        }))
        .unwrap();
        merge(&mut settings, update);
        let shown = serde_json::to_string(&view(&settings)).unwrap();
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("admin") && shown.contains("\"expire\":5"), "{shown}");
        assert_eq!(settings.allow_stream_ingest, Some(true), "fields left out keep their value");
    }
}
