//! [`Secret`]: the one type every password, token, API key and stream secret in the specs becomes.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A password, token, API key or stream secret.
///
/// The specs' `Secret` and `AccessToken` schemas are generated as this type, so that a value printed
/// with `{:?}` (a log line, a test failure, an `unwrap`) shows `Secret("***")` instead of the secret. It
/// has no `Display` on purpose; [`Secret::expose`] is the one way to read it, easy to find in review.
/// Like its schema (`minLength: 1`), it is never empty.
///
/// ```
/// use streamspec_types::Secret;
///
/// let password: Secret = "qwerty123".parse().unwrap();
/// assert_eq!(format!("{password:?}"), r#"Secret("***")"#);
/// assert_eq!(password.expose(), "qwerty123");
/// assert!("".parse::<Secret>().is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret; fails if it is empty.
    pub fn new(secret: impl Into<String>) -> Result<Self, EmptySecret> {
        let secret = secret.into();
        if secret.is_empty() { Err(EmptySecret) } else { Ok(Self(secret)) }
    }

    /// The secret itself: for putting it on the wire, never for a log line.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Secret").field(&"***").finish()
    }
}

/// The error of making a [`Secret`] from an empty string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmptySecret;

impl fmt::Display for EmptySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a secret must not be empty")
    }
}

impl std::error::Error for EmptySecret {}

impl FromStr for Secret {
    type Err = EmptySecret;
    fn from_str(secret: &str) -> Result<Self, Self::Err> {
        Self::new(secret)
    }
}

impl TryFrom<&str> for Secret {
    type Error = EmptySecret;
    fn try_from(secret: &str) -> Result<Self, Self::Error> {
        Self::new(secret)
    }
}

impl TryFrom<String> for Secret {
    type Error = EmptySecret;
    fn try_from(secret: String) -> Result<Self, Self::Error> {
        Self::new(secret)
    }
}

impl TryFrom<&String> for Secret {
    type Error = EmptySecret;
    fn try_from(secret: &String) -> Result<Self, Self::Error> {
        Self::new(secret.as_str())
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let secret = String::deserialize(deserializer)?;
        Self::new(secret).map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Secret {
    fn schema_name() -> Cow<'static, str> {
        "Secret".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "format": "password",
            "minLength": 1,
            "writeOnly": true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_secret_even_nested() {
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Login {
            password: Secret,
        }
        let login = Login { password: Secret::new("hunter2").unwrap() };
        let shown = format!("{login:?} {login:#?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("***"), "{shown}");
    }

    #[test]
    fn serde_round_trips_and_rejects_empty() {
        let secret: Secret = serde_json::from_str(r#""s3cret""#).unwrap();
        assert_eq!(secret.expose(), "s3cret");
        assert_eq!(serde_json::to_string(&secret).unwrap(), r#""s3cret""#);
        let error = serde_json::from_str::<Secret>(r#""""#).unwrap_err().to_string();
        assert!(error.contains("must not be empty"), "{error}");
    }
}
