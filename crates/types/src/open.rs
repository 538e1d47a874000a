//! [`Open`]: an enum a response reports, which keeps a value the generated enum does not know.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeOwned, IntoDeserializer};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A value of the enum `T` as a response reports it, or a value `T` does not know.
///
/// Vendors add enum values to their responses (AIOZ added `type` in 2026; Storm answers application
/// types in upper case where a create sends them in lower case). A response schema marked
/// `x-open-enum` in `spec/` is generated as this type, so that one new value does not make a whole
/// response fail to parse: a known value, in any letter case, is [`Open::Known`]; any other string is
/// [`Open::Unknown`], kept as sent. A value that is not a string is still an error.
///
/// ```
/// use streamspec_types::Open;
/// use streamspec_types::storm::AuthType;
///
/// let known: Open<AuthType> = serde_json::from_str(r#""LOCAL""#).unwrap();
/// assert_eq!(known, Open::Known(AuthType::Local));
/// let new: Open<AuthType> = serde_json::from_str(r#""oauth""#).unwrap();
/// assert_eq!(new, Open::Unknown("oauth".to_owned()));
/// assert!(serde_json::from_str::<Open<AuthType>>("3").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Open<T> {
    /// A value of the enum.
    Known(T),
    /// A string the enum does not know, as the response sent it.
    Unknown(String),
}

impl<T> Open<T> {
    /// The known value, if it is one.
    pub fn known(&self) -> Option<&T> {
        match self {
            Self::Known(value) => Some(value),
            Self::Unknown(_) => None,
        }
    }
}

impl<T> From<T> for Open<T> {
    fn from(value: T) -> Self {
        Self::Known(value)
    }
}

impl<T: fmt::Display> fmt::Display for Open<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Known(value) => value.fmt(f),
            Self::Unknown(text) => f.write_str(text),
        }
    }
}

impl<T: Serialize> Serialize for Open<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Known(value) => value.serialize(serializer),
            Self::Unknown(text) => serializer.serialize_str(text),
        }
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Open<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let known = |candidate: &str| {
            T::deserialize(IntoDeserializer::<serde::de::value::Error>::into_deserializer(
                candidate,
            ))
            .ok()
        };
        let value = known(&text)
            .or_else(|| known(&text.to_ascii_lowercase()))
            .or_else(|| known(&text.to_ascii_uppercase()));
        Ok(value.map_or(Self::Unknown(text), Self::Known))
    }
}

impl<T: schemars::JsonSchema> schemars::JsonSchema for Open<T> {
    fn schema_name() -> Cow<'static, str> {
        format!("Open_{}", T::schema_name()).into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let known = generator.subschema_for::<T>();
        schemars::json_schema!({ "anyOf": [known, { "type": "string" }] })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Kind {
        Mono,
        Edge,
    }

    #[test]
    fn known_values_in_any_case_and_unknown_ones_kept() {
        let read = |text: &str| serde_json::from_str::<Open<Kind>>(text).unwrap();
        assert_eq!(read(r#""mono""#), Open::Known(Kind::Mono));
        assert_eq!(read(r#""EDGE""#), Open::Known(Kind::Edge));
        assert_eq!(read(r#""Cluster""#), Open::Unknown("Cluster".to_owned()));
        assert!(serde_json::from_str::<Open<Kind>>("null").is_err());
        assert!(serde_json::from_str::<Open<Kind>>("true").is_err());
    }

    #[test]
    fn writes_what_it_read() {
        assert_eq!(serde_json::to_string(&Open::Known(Kind::Mono)).unwrap(), r#""mono""#);
        let unknown: Open<Kind> = Open::Unknown("Cluster".to_owned());
        assert_eq!(serde_json::to_string(&unknown).unwrap(), r#""Cluster""#);
    }
}
