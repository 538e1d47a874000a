//! `authType: managed`: the streams created through the REST API (`POST /api/streams/{appName}`), each
//! with the credentials its publisher must present.

use std::collections::HashMap;

use streamspec_types::storm::StreamSource;

use crate::users::same;
use crate::{DenyReason, Presented};

/// The error a [`ManagedStreams`] look-up may fail with; the attempt is then denied.
pub type LookupError = Box<dyn std::error::Error + Send + Sync>;

/// Where the engine finds an application's managed streams: the server's own storage.
pub trait ManagedStreams: Send + Sync {
    /// The source (how its publisher authenticates) of the stream `stream_key` of `application`, or
    /// `None` when there is no such stream.
    fn stream_source(
        &self,
        application: &str,
        stream_key: &str,
    ) -> Result<Option<StreamSource>, LookupError>;
}

/// Streams kept in memory, by `(application, stream key)`: for tests and small servers.
impl ManagedStreams for HashMap<(String, String), StreamSource> {
    fn stream_source(
        &self,
        application: &str,
        stream_key: &str,
    ) -> Result<Option<StreamSource>, LookupError> {
        Ok(self.get(&(application.to_owned(), stream_key.to_owned())).cloned())
    }
}

/// Whether `presented` is what the stream's source asks for.
pub(crate) fn check(source: &StreamSource, presented: &Presented) -> Result<(), DenyReason> {
    let matched = match (source, presented) {
        (StreamSource::NoAuthSource(_), _) => return Ok(()),
        (_, Presented::Nothing) => return Err(DenyReason::CredentialsMissing),
        (
            StreamSource::CredentialsSource(source),
            Presented::Credentials { username, password },
        ) => {
            same(username, &source.auth.username)
                & same(password.expose(), source.auth.password.expose())
        }
        (StreamSource::TokenSource(source), Presented::Token(token)) => {
            same(token.expose(), source.auth.token.expose())
        }
        (StreamSource::SecretSource(source), Presented::StreamSecret(secret)) => {
            same(secret.expose(), source.auth.secret.expose())
        }
        // Another kind of credentials than the stream's.
        _ => false,
    };
    if matched { Ok(()) } else { Err(DenyReason::InvalidCredentials) }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use streamspec_types::Secret;

    use super::*;

    fn source(value: serde_json::Value) -> StreamSource {
        serde_json::from_value(value).unwrap()
    }

    fn secret(text: &str) -> Secret {
        Secret::new(text).unwrap()
    }

    #[test]
    fn each_source_takes_its_own_kind_of_credentials() {
        let credentials =
            source(json!({"authType": "credentials", "auth": {"username": "u", "password": "p"}}));
        let token = source(json!({"authType": "token", "auth": {"token": "t"}}));
        let secret_source = source(json!({"authType": "secret", "auth": {"secret": "s"}}));
        let login =
            |u: &str, p: &str| Presented::Credentials { username: u.into(), password: secret(p) };

        assert_eq!(check(&credentials, &login("u", "p")), Ok(()));
        assert_eq!(check(&credentials, &login("u", "x")), Err(DenyReason::InvalidCredentials));
        assert_eq!(check(&credentials, &login("x", "p")), Err(DenyReason::InvalidCredentials));
        assert_eq!(check(&token, &Presented::Token(secret("t"))), Ok(()));
        assert_eq!(
            check(&token, &Presented::Token(secret("x"))),
            Err(DenyReason::InvalidCredentials)
        );
        assert_eq!(check(&secret_source, &Presented::StreamSecret(secret("s"))), Ok(()));
        assert_eq!(
            check(&secret_source, &Presented::Token(secret("s"))),
            Err(DenyReason::InvalidCredentials),
            "the right value as the wrong kind"
        );
        assert_eq!(check(&token, &Presented::Nothing), Err(DenyReason::CredentialsMissing));
    }

    #[test]
    fn a_source_without_auth_takes_anyone() {
        let none = source(json!({"authType": "none"}));
        assert_eq!(check(&none, &Presented::Nothing), Ok(()));
        assert_eq!(check(&none, &Presented::Token(secret("anything"))), Ok(()));
    }
}
