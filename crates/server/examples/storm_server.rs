//! Run with: cargo run -p streamspec-server --example storm_server [-- --listen 127.0.0.1:8082]
//!
//! A Storm REST API in memory: `login` as `admin` / `admin`, and, for callers with the token from
//! login or the API key `dev-api-key`, `update_ingest_settings` of the application `live` and
//! `delete_application`. The other operations answer 501. It listens on `--listen` (default
//! 127.0.0.1:8082; port 0 picks a free one) and prints the address. The client example runs
//! against it:
//!
//! `STORM_URL=http://127.0.0.1:8082 STORM_USERNAME=admin STORM_PASSWORD=admin cargo run -p streamspec-client --example storm_local_auth -- live`

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use streamspec_server::storm::types::{
    AuthType, AuthTypeSetting, AuthUser, AuthUserKind, AuthUserSummary, AuthUsersSetting,
    BooleanSetting, IngestSettings, IngestSettingsAttributes, IngestSettingsSection,
};
use streamspec_server::storm::{self, Credentials, StormApi, types};
use streamspec_server::{HandlerError, async_trait, axum};

const TOKEN: &str = "not-a-real-jwt";

/// The ingest settings of each application, by name; `live` exists from the start.
#[derive(Debug)]
pub struct Storm(Mutex<BTreeMap<String, IngestSettingsAttributes>>);

impl Default for Storm {
    fn default() -> Self {
        Storm(Mutex::new(BTreeMap::from([("live".to_owned(), IngestSettingsAttributes::new())])))
    }
}

fn meta() -> types::Meta {
    types::Meta::new(0, 0)
}

fn error(message: &str) -> types::ErrorResponse {
    types::ErrorResponse::new(message.into())
}

fn allowed(credentials: &Credentials) -> bool {
    match credentials {
        Credentials::BearerAuth { token } => token.expose() == TOKEN,
        Credentials::ApiKeyAuth { x_api_key } => x_api_key.expose() == "dev-api-key",
    }
}

/// The settings as Storm answers them: each value with whether it may be edited, and the publishers
/// listed without their secrets.
fn view(settings: &IngestSettingsAttributes) -> IngestSettings {
    let flag = |value: Option<bool>| {
        let mut flag = BooleanSetting::new(true);
        flag.value = Some(value.unwrap_or_default());
        flag
    };
    let auth_type = AuthTypeSetting::new(true, settings.auth_type.unwrap_or(AuthType::None).into());
    let mut view = IngestSettings::new(
        flag(settings.allow_stream_ingest),
        flag(settings.allow_stream_overwrite),
        auth_type,
        flag(settings.authorization_enabled),
        flag(settings.auto_stream_publish),
    );
    let users: Vec<AuthUserSummary> = settings
        .auth_users
        .iter()
        .map(|user| match user {
            AuthUser::Credentials(user) => {
                let mut summary = AuthUserSummary::new(AuthUserKind::Credentials);
                summary.username = Some(user.username.to_string());
                summary
            }
            AuthUser::Token(_) => AuthUserSummary::new(AuthUserKind::Token),
        })
        .collect();
    view.auth_users = (!users.is_empty()).then(|| AuthUsersSetting::new(true, users));
    view
}

#[async_trait]
impl StormApi for Storm {
    async fn login(&self, input: storm::LoginInput) -> Result<storm::LoginResponse, HandlerError> {
        let body = input.body;
        if body.username.as_str() != "admin" || body.password.expose() != "admin" {
            return Ok(storm::LoginResponse::Unauthorized(error("Invalid credentials")));
        }
        let token = TOKEN.parse().map_err(HandlerError::internal)?;
        // The required fields in the order `new` takes them: alphabetical, as the type lists them.
        let data =
            types::LoginData::new(token, 0, 900_000, types::TokenType::Bearer, "admin".into());
        Ok(storm::LoginResponse::Ok(types::LoginResponse::new(data, meta())))
    }

    async fn update_ingest_settings(
        &self,
        input: storm::UpdateIngestSettingsInput,
    ) -> Result<storm::UpdateIngestSettingsResponse, HandlerError> {
        if !allowed(&input.credentials) {
            return Ok(storm::UpdateIngestSettingsResponse::Unauthorized(error("Invalid token")));
        }
        let mut applications = self.0.lock().unwrap();
        let Some(settings) = applications.get_mut(input.app_name.as_str()) else {
            return Ok(storm::UpdateIngestSettingsResponse::NotFound(error(
                "Application not found",
            )));
        };
        // A PATCH: what the body sets replaces what was there; the rest stays.
        let update = input.body.data.attributes;
        macro_rules! take {
            ($($field:ident),*) => {$(
                if update.$field.is_some() {
                    settings.$field = update.$field;
                }
            )*};
        }
        take!(
            allow_stream_ingest,
            allow_stream_overwrite,
            authorization_enabled,
            auto_stream_publish,
            auth_type,
            request_url,
            file_url,
            api_key
        );
        if !update.auth_users.is_empty() {
            settings.auth_users = update.auth_users;
        }
        let section = IngestSettingsSection::new(view(settings));
        let mut body = types::IngestSettingsResponse::new(section, meta());
        body.message = Some("Ingest settings updated".to_owned());
        Ok(storm::UpdateIngestSettingsResponse::Ok(body))
    }

    async fn delete_application(
        &self,
        input: storm::DeleteApplicationInput,
    ) -> Result<storm::DeleteApplicationResponse, HandlerError> {
        if !allowed(&input.credentials) {
            return Ok(storm::DeleteApplicationResponse::Unauthorized(error("Invalid token")));
        }
        if self.0.lock().unwrap().remove(input.app_name.as_str()).is_none() {
            return Ok(storm::DeleteApplicationResponse::NotFound(error("Application not found")));
        }
        let message = format!("Application {} deleted", input.app_name.as_str());
        let body = types::MessageResponse::new(message, meta());
        Ok(storm::DeleteApplicationResponse::Ok(body))
    }
}

/// Serves the API on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, api: Arc<Storm>) -> std::io::Result<()> {
    axum::serve(listener, storm::router(api)).await
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let address = match (args.next().as_deref(), args.next()) {
        (Some("--listen"), Some(address)) => address,
        (None, _) => "127.0.0.1:8082".to_owned(),
        _ => {
            eprintln!("usage: storm_server [--listen ADDRESS]");
            std::process::exit(2);
        }
    };
    let listener = tokio::net::TcpListener::bind(&address).await?;
    println!("Storm REST API on http://{}", listener.local_addr()?);
    serve(listener, Arc::default()).await
}
