//! Matching what a publisher presents against a list of users and tokens: the rule `local` and `file`
//! share. Every comparison takes the same time whatever the values, and every entry is compared, so
//! neither the time nor the order of the entries tells a publisher how close a guess was.

use sha2::{Digest, Sha256};
use streamspec_types::Secret;
use subtle::ConstantTimeEq;

use crate::{DenyReason, Presented};

/// One user or token, with the stream keys it is bound to (none: any).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Entry {
    Credentials { username: String, password: Secret, stream_keys: Vec<String> },
    Token { token: Secret, expire: Option<i64>, stream_keys: Vec<String> },
}

impl Entry {
    fn stream_keys(&self) -> &[String] {
        match self {
            Entry::Credentials { stream_keys, .. } | Entry::Token { stream_keys, .. } => {
                stream_keys
            }
        }
    }
}

impl From<&streamspec_types::storm::AuthUser> for Entry {
    fn from(user: &streamspec_types::storm::AuthUser) -> Self {
        use streamspec_types::storm::AuthUser;
        match user {
            AuthUser::Credentials(user) => Entry::Credentials {
                username: user.username.to_string(),
                password: user.password.clone(),
                stream_keys: Vec::new(),
            },
            AuthUser::Token(token) => Entry::Token {
                token: token.token.clone(),
                expire: token.expire,
                stream_keys: Vec::new(),
            },
        }
    }
}

/// Equal in constant time: both sides are hashed first, so not even their lengths show.
pub(crate) fn same(a: &str, b: &str) -> bool {
    Sha256::digest(a.as_bytes()).ct_eq(&Sha256::digest(b.as_bytes())).into()
}

/// Whether `presented` matches an entry (and the entry may publish `stream_key`) at `now_ms`.
pub(crate) fn check(
    entries: &[Entry],
    presented: &Presented,
    stream_key: &str,
    now_ms: i64,
) -> Result<(), DenyReason> {
    let matched = match presented {
        Presented::Nothing => return Err(DenyReason::CredentialsMissing),
        // Users and tokens know no stream secrets.
        Presented::StreamSecret(_) => return Err(DenyReason::InvalidCredentials),
        Presented::Credentials { username, password } => {
            first_match(entries, |entry| match entry {
                Entry::Credentials { username: known, password: known_password, .. } => {
                    // `&`, not `&&`: the password is compared even when the username differs.
                    same(username, known) & same(password.expose(), known_password.expose())
                }
                Entry::Token { .. } => false,
            })
        }
        Presented::Token(token) => first_match(entries, |entry| match entry {
            Entry::Token { token: known, .. } => same(token.expose(), known.expose()),
            Entry::Credentials { .. } => false,
        }),
    };
    let entry = matched.ok_or(DenyReason::InvalidCredentials)?;
    if let Entry::Token { expire: Some(expire), .. } = entry
        && *expire <= now_ms
    {
        return Err(DenyReason::TokenExpired);
    }
    let bound = entry.stream_keys();
    if !bound.is_empty() && !bound.iter().any(|key| key == stream_key) {
        return Err(DenyReason::StreamKeyNotAllowed);
    }
    Ok(())
}

/// The first entry `matches` accepts, after trying every entry.
fn first_match(entries: &[Entry], matches: impl Fn(&Entry) -> bool) -> Option<&Entry> {
    let mut found = None;
    for entry in entries {
        if matches(entry) && found.is_none() {
            found = Some(entry);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(text: &str) -> Secret {
        Secret::new(text).unwrap()
    }

    fn entries() -> Vec<Entry> {
        vec![
            Entry::Credentials {
                username: "admin".into(),
                password: secret("pw"),
                stream_keys: vec![],
            },
            Entry::Credentials {
                username: "guest".into(),
                password: secret("guest-pw"),
                stream_keys: vec!["lobby".into()],
            },
            Entry::Token { token: secret("forever"), expire: None, stream_keys: vec![] },
            Entry::Token { token: secret("until-1000"), expire: Some(1000), stream_keys: vec![] },
        ]
    }

    fn login(username: &str, password: &str) -> Presented {
        Presented::Credentials { username: username.into(), password: secret(password) }
    }

    #[test]
    fn same_compares_values_not_prefixes() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd") && !same("abc", "ab") && !same("", "a"));
    }

    #[test]
    fn a_user_needs_both_name_and_password() {
        let entries = entries();
        assert_eq!(check(&entries, &login("admin", "pw"), "any", 0), Ok(()));
        assert_eq!(
            check(&entries, &login("admin", "wrong"), "any", 0),
            Err(DenyReason::InvalidCredentials)
        );
        assert_eq!(
            check(&entries, &login("nobody", "pw"), "any", 0),
            Err(DenyReason::InvalidCredentials)
        );
        assert_eq!(
            check(&entries, &login("guest", "pw"), "any", 0),
            Err(DenyReason::InvalidCredentials),
            "one user's password does not open another's name"
        );
    }

    #[test]
    fn a_token_is_good_until_its_expiry() {
        let entries = entries();
        let token = |text: &str| Presented::Token(secret(text));
        assert_eq!(check(&entries, &token("forever"), "k", i64::MAX), Ok(()));
        assert_eq!(check(&entries, &token("until-1000"), "k", 999), Ok(()));
        assert_eq!(check(&entries, &token("until-1000"), "k", 1000), Err(DenyReason::TokenExpired));
        assert_eq!(check(&entries, &token("unknown"), "k", 0), Err(DenyReason::InvalidCredentials));
        assert_eq!(
            check(&entries, &token("pw"), "k", 0),
            Err(DenyReason::InvalidCredentials),
            "a password is not a token"
        );
    }

    #[test]
    fn nothing_or_a_stream_secret_is_not_enough() {
        let entries = entries();
        assert_eq!(
            check(&entries, &Presented::Nothing, "k", 0),
            Err(DenyReason::CredentialsMissing)
        );
        assert_eq!(
            check(&entries, &Presented::StreamSecret(secret("pw")), "k", 0),
            Err(DenyReason::InvalidCredentials)
        );
    }

    #[test]
    fn a_bound_entry_publishes_only_its_stream_keys() {
        let entries = entries();
        assert_eq!(check(&entries, &login("guest", "guest-pw"), "lobby", 0), Ok(()));
        assert_eq!(
            check(&entries, &login("guest", "guest-pw"), "main-stage", 0),
            Err(DenyReason::StreamKeyNotAllowed)
        );
    }
}
