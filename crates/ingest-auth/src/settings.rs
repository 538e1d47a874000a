//! [`IngestSettings`]: an application's ingest settings, resolved into what the engine decides on.

use std::fmt;
use std::path::PathBuf;

use streamspec_types::Secret;
use streamspec_types::storm::{AuthType, AuthUser, IngestSettingsAttributes};

/// An application's ingest settings, with every default applied and the authorization settings that
/// belong to its `authType` (and only those) in one variant.
///
/// Made from the settings as the REST API stores them ([`IngestSettings::from_attributes`]), or built
/// directly.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestSettings {
    /// `allowStreamIngest`: when false, nobody may publish.
    pub allow_stream_ingest: bool,
    /// `autoStreamPublish`: whether an allowed stream starts published.
    pub auto_stream_publish: bool,
    /// `allowStreamOverwrite`: whether a second publisher on a live stream key replaces the first.
    pub allow_stream_overwrite: bool,
    /// `authorizationEnabled` and `authType`, with the settings of that type.
    pub authorization: Authorization,
}

/// Who decides whether a publisher is who they say.
#[derive(Debug, Clone, PartialEq)]
pub enum Authorization {
    /// `authorizationEnabled: false`: every publisher is allowed, whatever `authType` says.
    Disabled,
    /// `authType: none`: every publisher is allowed.
    None,
    /// `authType: local`: the users and tokens of `authUsers`.
    Local {
        /// `authUsers`.
        users: Vec<AuthUser>,
    },
    /// `authType: file`: the users and tokens of the XML file at `fileURL` (see the crate docs).
    File {
        /// `fileURL`.
        path: PathBuf,
    },
    /// `authType: request`: an HTTP service at `requestURL` decides (see the crate docs).
    Request {
        /// `requestURL`, with `${streamKey}` where the stream key goes.
        url: String,
        /// `apiKey`, sent as `X-Api-Key`.
        api_key: Option<Secret>,
    },
    /// `authType: managed`: the streams created through the REST API, with their credentials.
    Managed,
}

impl Authorization {
    /// The `authType` this is, or `None` when authorization is disabled.
    pub fn auth_type(&self) -> Option<AuthType> {
        match self {
            Authorization::Disabled => None,
            Authorization::None => Some(AuthType::None),
            Authorization::Local { .. } => Some(AuthType::Local),
            Authorization::File { .. } => Some(AuthType::File),
            Authorization::Request { .. } => Some(AuthType::Request),
            Authorization::Managed => Some(AuthType::Managed),
        }
    }
}

impl Default for IngestSettings {
    /// A new application's settings: ingest, auto-publish and overwrite allowed, authorization disabled.
    fn default() -> Self {
        Self {
            allow_stream_ingest: true,
            auto_stream_publish: true,
            allow_stream_overwrite: true,
            authorization: Authorization::Disabled,
        }
    }
}

/// Settings that name an `authType` without what it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    /// The field that is missing, as the REST API names it: `authType`, `requestURL`, `fileURL` or
    /// `authUsers`.
    pub field: &'static str,
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.field {
            "authType" => f.write_str("`authType` is required when `authorizationEnabled` is true"),
            field => write!(f, "`{field}` is required by the selected `authType`"),
        }
    }
}

impl std::error::Error for SettingsError {}

impl IngestSettings {
    /// Resolves the settings as the REST API takes and stores them: a field left out has its default
    /// (see [`IngestSettings::default`]). Fails when authorization is enabled without an `authType`, or
    /// the type's own field (`requestURL`, `fileURL`, `authUsers`) is missing: the same rules the spec's
    /// validators enforce, so settings accepted by the API always resolve.
    pub fn from_attributes(attributes: &IngestSettingsAttributes) -> Result<Self, SettingsError> {
        let defaults = Self::default();
        let missing = |field| SettingsError { field };
        let authorization = if attributes.authorization_enabled != Some(true) {
            Authorization::Disabled
        } else {
            match attributes.auth_type.ok_or(missing("authType"))? {
                AuthType::None => Authorization::None,
                AuthType::Managed => Authorization::Managed,
                AuthType::Local if attributes.auth_users.is_empty() => {
                    return Err(missing("authUsers"));
                }
                AuthType::Local => Authorization::Local { users: attributes.auth_users.clone() },
                AuthType::File => Authorization::File {
                    path: PathBuf::from(attributes.file_url.as_deref().ok_or(missing("fileURL"))?),
                },
                AuthType::Request => Authorization::Request {
                    url: attributes.request_url.as_deref().ok_or(missing("requestURL"))?.to_owned(),
                    api_key: attributes.api_key.clone(),
                },
            }
        };
        Ok(Self {
            allow_stream_ingest: attributes
                .allow_stream_ingest
                .unwrap_or(defaults.allow_stream_ingest),
            auto_stream_publish: attributes
                .auto_stream_publish
                .unwrap_or(defaults.auto_stream_publish),
            allow_stream_overwrite: attributes
                .allow_stream_overwrite
                .unwrap_or(defaults.allow_stream_overwrite),
            authorization,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn resolve(value: serde_json::Value) -> Result<IngestSettings, SettingsError> {
        IngestSettings::from_attributes(&serde_json::from_value(value).unwrap())
    }

    #[test]
    fn left_out_fields_take_the_defaults_of_a_new_application() {
        assert_eq!(resolve(json!({})).unwrap(), IngestSettings::default());
        let settings = resolve(json!({"autoStreamPublish": false})).unwrap();
        assert!(!settings.auto_stream_publish && settings.allow_stream_ingest);
    }

    #[test]
    fn authorization_disabled_ignores_the_auth_type() {
        let settings =
            resolve(json!({"authorizationEnabled": false, "authType": "managed"})).unwrap();
        assert_eq!(settings.authorization, Authorization::Disabled);
        assert_eq!(settings.authorization.auth_type(), None);
    }

    #[test]
    fn each_type_needs_its_own_field() {
        let enabled =
            |auth_type: &str| json!({"authorizationEnabled": true, "authType": auth_type});
        assert_eq!(resolve(json!({"authorizationEnabled": true})).unwrap_err().field, "authType");
        assert_eq!(resolve(enabled("request")).unwrap_err().field, "requestURL");
        assert_eq!(resolve(enabled("file")).unwrap_err().field, "fileURL");
        assert_eq!(resolve(enabled("local")).unwrap_err().field, "authUsers");
        assert_eq!(resolve(enabled("managed")).unwrap().authorization, Authorization::Managed);
        assert_eq!(resolve(enabled("none")).unwrap().authorization, Authorization::None);
        let request = resolve(json!({"authorizationEnabled": true, "authType": "request",
            "requestURL": "https://auth.example/${streamKey}", "apiKey": "k3y"}))
        .unwrap();
        let Authorization::Request { url, api_key } = request.authorization else { panic!() };
        assert_eq!(
            (url.as_str(), api_key.unwrap().expose()),
            ("https://auth.example/${streamKey}", "k3y")
        );
    }
}
