//! [`IntoOptional`]: what a builder's setter for an optional field accepts.

use crate::Secret;

/// A value for an optional field of a builder: the value itself, anything the field's type parses
/// from (`&str` for a string, a [`Secret`] or a string schema), or an `Option` of the value, where
/// `None` leaves the field out. A required field's setter takes the same values, but no `Option`.
///
/// ```
/// use streamspec_types::aioz::UpdateLiveStreamKeyRequest;
///
/// let named: UpdateLiveStreamKeyRequest = UpdateLiveStreamKeyRequest::builder().name("studio").try_into()?;
/// let unnamed: UpdateLiveStreamKeyRequest = UpdateLiveStreamKeyRequest::builder().name(None).try_into()?;
/// assert_eq!((named.name.as_deref(), unnamed.name), (Some("studio"), None));
/// # Ok::<(), streamspec_types::aioz::error::ConversionError>(())
/// ```
pub trait IntoOptional<T> {
    /// The field's value, or why this value cannot be one (a string its schema refuses).
    fn into_optional(self) -> Result<Option<T>, String>;
}

impl<T> IntoOptional<T> for T {
    fn into_optional(self) -> Result<Option<T>, String> {
        Ok(Some(self))
    }
}

impl<T> IntoOptional<T> for Option<T> {
    fn into_optional(self) -> Result<Option<T>, String> {
        Ok(self)
    }
}

impl IntoOptional<String> for &str {
    fn into_optional(self) -> Result<Option<String>, String> {
        Ok(Some(self.to_owned()))
    }
}

impl IntoOptional<String> for &String {
    fn into_optional(self) -> Result<Option<String>, String> {
        Ok(Some(self.clone()))
    }
}

impl IntoOptional<Secret> for &str {
    fn into_optional(self) -> Result<Option<Secret>, String> {
        Secret::new(self).map(Some).map_err(|error| error.to_string())
    }
}

impl IntoOptional<Secret> for String {
    fn into_optional(self) -> Result<Option<Secret>, String> {
        Secret::new(self).map(Some).map_err(|error| error.to_string())
    }
}
