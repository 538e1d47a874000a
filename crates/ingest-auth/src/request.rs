//! `authType: request`: the URL made from `requestURL`, and the exchange with the authorization
//! service (described in the crate docs).

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Url;
use serde::Serialize;
use streamspec_types::Secret;

use crate::{DenyReason, Presented};

/// What `${streamKey}` is replaced by in `requestURL`.
pub const PLACEHOLDER: &str = "${streamKey}";

/// Every byte but the unreserved characters of RFC 3986 is percent-encoded, `/`, `?`, `#`, `@` and
/// `%` among them.
const STREAM_KEY: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A `requestURL` the engine cannot use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestUrlError {
    /// Not an absolute `http` or `https` URL.
    NotHttp,
    /// `${streamKey}` in the scheme, host or port, where a stream key could choose the server.
    PlaceholderInAuthority,
    /// A username or password in the URL: a secret the settings would answer back and send on in
    /// the clear. The service's key belongs in `apiKey`, which is never answered.
    CredentialsInUrl,
    /// The host is an address the server does not send authorization requests to
    /// ([`Destinations`]).
    DestinationNotAllowed {
        /// The address, as the URL parser read it (`127.1` is `127.0.0.1`).
        address: IpAddr,
    },
}

impl fmt::Display for RequestUrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestUrlError::NotHttp => {
                f.write_str("`requestURL` must be an absolute http or https URL")
            }
            RequestUrlError::PlaceholderInAuthority => f.write_str(
                "`requestURL` may use `${streamKey}` in its path or query only, not in its host",
            ),
            RequestUrlError::CredentialsInUrl => f.write_str(
                "`requestURL` must not carry a username or password: send the authorization service's key as `apiKey`",
            ),
            RequestUrlError::DestinationNotAllowed { address } => write!(
                f,
                "`requestURL` points at {address}, an address this server does not send authorization requests to"
            ),
        }
    }
}

impl std::error::Error for RequestUrlError {}

/// Stands for the key while the template is parsed: unreserved characters only, so the parser leaves
/// it as it is.
const MARKER: &str = "streamspec-stream-key-0c1f";

/// The template parsed with [`MARKER`] for the key.
fn parse_template(template: &str) -> Result<Url, RequestUrlError> {
    let url =
        Url::parse(&template.replace(PLACEHOLDER, MARKER)).map_err(|_| RequestUrlError::NotHttp)?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(RequestUrlError::NotHttp);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(RequestUrlError::CredentialsInUrl);
    }
    Ok(url)
}

/// Checks a `requestURL` template.
pub fn check_request_url(template: &str) -> Result<(), RequestUrlError> {
    parse_template(template)?;
    // The authority ends at the first `/`, `?` or `#` after `scheme://`.
    let after_scheme = template.find("://").map_or(0, |index| index + 3);
    let authority_end = template[after_scheme..]
        .find(['/', '?', '#'])
        .map_or(template.len(), |index| after_scheme + index);
    if template[..authority_end].contains(PLACEHOLDER) {
        return Err(RequestUrlError::PlaceholderInAuthority);
    }
    Ok(())
}

/// The URL to call for `stream_key`: the key percent-encoded into every `${streamKey}`. The result
/// must be exactly the template with the encoded key in place; a key the URL parser would still
/// interpret (`.` or `..` as a whole path segment) is refused.
pub(crate) fn url_for(template: &str, stream_key: &str) -> Result<Url, DenyReason> {
    check_request_url(template).map_err(|_| DenyReason::AuthorizationUnavailable)?;
    let expected = parse_template(template).map_err(|_| DenyReason::AuthorizationUnavailable)?;
    let encoded = utf8_percent_encode(stream_key, STREAM_KEY).to_string();
    let url = Url::parse(&template.replace(PLACEHOLDER, &encoded))
        .map_err(|_| DenyReason::InvalidStreamKey)?;
    let in_place = |text: Option<&str>| text.map(|text| text.replace(MARKER, &encoded));
    let unchanged = url.scheme() == expected.scheme()
        && url.host() == expected.host()
        && url.port_or_known_default() == expected.port_or_known_default()
        && url.username() == expected.username()
        && Some(url.path()) == in_place(Some(expected.path())).as_deref()
        && url.query() == in_place(expected.query()).as_deref();
    if !unchanged {
        return Err(DenyReason::InvalidStreamKey);
    }
    Ok(url)
}

/// Where `request` authorization may send its calls: the networks a configuration allows, checked
/// against the address a call would connect to, after name resolution, at the time of the call.
///
/// Link-local addresses (`169.254.0.0/16`, `fe80::/10`, where cloud metadata services answer), the
/// unspecified address (`0.0.0.0`, which Linux connects to this host), multicast and broadcast are
/// never allowed, whatever the list says. An IPv4 address written as IPv6 (`::ffff:a.b.c.d`) is
/// checked as the IPv4 address it is.
///
/// ```
/// use streamspec_ingest_auth::Destinations;
///
/// let loopback = Destinations::loopback();
/// assert!(loopback.allows("127.0.0.1".parse().unwrap()));
/// assert!(!loopback.allows("10.0.0.7".parse().unwrap()));
/// let lan = Destinations::new(["10.0.0.0/8".parse().unwrap()]);
/// assert!(lan.allows("10.0.0.7".parse().unwrap()));
/// let everything = Destinations::new(["0.0.0.0/0".parse().unwrap()]);
/// assert!(!everything.allows("169.254.169.254".parse().unwrap()), "metadata, never");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destinations {
    allowed: Vec<IpNet>,
}

impl Destinations {
    /// Loopback only (`127.0.0.0/8`, `::1`): an authorization service on this host, as in tests.
    /// The default.
    pub fn loopback() -> Self {
        Self::new(["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()])
    }

    /// The networks calls may go to.
    pub fn new(allowed: impl IntoIterator<Item = IpNet>) -> Self {
        Self { allowed: allowed.into_iter().collect() }
    }

    /// Whether a call may connect to `address`.
    pub fn allows(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        let never = match address {
            IpAddr::V4(v4) => {
                v4.is_link_local() || v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast()
            }
            IpAddr::V6(v6) => {
                (v6.segments()[0] & 0xffc0) == 0xfe80 // link-local, fe80::/10
                    || v6.is_unspecified()
                    || v6.is_multicast()
                    || v6 == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) // AWS metadata
            }
        };
        !never && self.allowed.iter().any(|network| network.contains(&address))
    }

    /// The address of a URL whose host is one, checked: a name is checked when it is resolved.
    pub(crate) fn check_literal(&self, url: &Url) -> Result<(), RequestUrlError> {
        // The parser has already read `127.1` or `2130706433` as `127.0.0.1`; IPv6 is bracketed.
        let host = url.host_str().unwrap_or_default();
        let Ok(address) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>()
        else {
            return Ok(());
        };
        if self.allows(address) {
            Ok(())
        } else {
            Err(RequestUrlError::DestinationNotAllowed { address })
        }
    }
}

impl Default for Destinations {
    fn default() -> Self {
        Self::loopback()
    }
}

/// Resolves names as the system does, and keeps only the addresses [`Destinations`] allows, so a
/// name cannot lead a call where an address could not: the check happens on every call, after
/// resolution, on the addresses the connection will use.
pub(crate) struct CheckedResolver(pub(crate) Arc<Destinations>);

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let destinations = self.0.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = resolved
                .iter()
                .copied()
                .filter(|address| destinations.allows(address.ip()))
                .collect();
            if allowed.is_empty() {
                tracing::warn!(
                    host,
                    resolved = ?resolved.iter().map(SocketAddr::ip).collect::<Vec<_>>(),
                    "the authorization service's name resolves to no allowed address; denied"
                );
                return Err(format!("{host} resolves to no allowed address").into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The JSON body of the call.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Body<'a> {
    pub(crate) application: &'a str,
    pub(crate) stream_key: &'a str,
    pub(crate) client_address: IpAddr,
    pub(crate) credentials: Presentation<'a>,
}

/// What the publisher presented, as the service receives it.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub(crate) enum Presentation<'a> {
    None,
    Credentials { username: &'a str, password: &'a str },
    Token { token: &'a str },
    Secret { secret: &'a str },
}

impl<'a> From<&'a Presented> for Presentation<'a> {
    fn from(presented: &'a Presented) -> Self {
        match presented {
            Presented::Nothing => Presentation::None,
            Presented::Credentials { username, password } => {
                Presentation::Credentials { username, password: password.expose() }
            }
            Presented::Token(token) => Presentation::Token { token: token.expose() },
            Presented::StreamSecret(secret) => Presentation::Secret { secret: secret.expose() },
        }
    }
}

/// Makes the call and reads the answer: 2xx allows, 4xx rejects, anything else (a redirect, 5xx,
/// a timeout, no connection) is the service being unavailable. Fails closed every time.
pub(crate) async fn ask(
    http: &reqwest::Client,
    url: Url,
    api_key: Option<&Secret>,
    body: &Body<'_>,
) -> Result<(), DenyReason> {
    let mut request = http.post(url).json(body);
    if let Some(api_key) = api_key {
        let mut value = reqwest::header::HeaderValue::from_str(api_key.expose())
            .map_err(|_| DenyReason::AuthorizationUnavailable)?;
        value.set_sensitive(true);
        request = request.header("x-api-key", value);
    }
    match request.send().await {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) if response.status().is_client_error() => {
            tracing::info!(
                status = response.status().as_u16(),
                "the authorization service refused"
            );
            Err(DenyReason::Rejected)
        }
        Ok(response) => {
            tracing::warn!(
                status = response.status().as_u16(),
                "the authorization service answered neither 2xx nor 4xx; denied"
            );
            Err(DenyReason::AuthorizationUnavailable)
        }
        Err(error) => {
            // reqwest's error names the URL, which holds no secret: the stream key is not one.
            let timeout = error.is_timeout();
            tracing::warn!(error = %error.without_url(), timeout, "the authorization service could not be asked; denied");
            Err(DenyReason::AuthorizationUnavailable)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = "https://api.example.com/auth/stream/${streamKey}";

    #[test]
    fn the_key_is_percent_encoded_into_the_path() {
        assert_eq!(
            url_for(TEMPLATE, "cam-1").unwrap().as_str(),
            "https://api.example.com/auth/stream/cam-1"
        );
        assert_eq!(
            url_for(TEMPLATE, "a/b?c#d@e%f g").unwrap().as_str(),
            "https://api.example.com/auth/stream/a%2Fb%3Fc%23d%40e%25f%20g"
        );
        assert_eq!(
            url_for("http://auth.local/check?key=${streamKey}&v=1", "x&v=2").unwrap().as_str(),
            "http://auth.local/check?key=x%26v%3D2&v=1",
            "a key cannot add query parameters"
        );
        assert_eq!(url_for(TEMPLATE, "ünï").unwrap().path(), "/auth/stream/%C3%BCn%C3%AF");
    }

    #[test]
    fn destinations_see_through_every_spelling_of_an_address() {
        let loopback = Destinations::loopback();
        let literal = |text: &str| loopback.check_literal(&Url::parse(text).unwrap());
        // The URL parser reads the short, decimal and IPv6 spellings as the addresses they are.
        for allowed in
            ["http://127.1/", "http://2130706433/", "http://[::1]/", "http://127.0.0.1:9/"]
        {
            assert_eq!(literal(allowed), Ok(()), "{allowed}");
        }
        for (refused, address) in [
            ("http://0/", "0.0.0.0"),
            ("http://169.254.169.254/latest", "169.254.169.254"),
            ("http://[::ffff:169.254.169.254]/", "::ffff:a9fe:a9fe"),
            ("http://10.0.0.1/", "10.0.0.1"),
            ("http://192.168.1.1:8080/", "192.168.1.1"),
            ("http://[fe80::1]/", "fe80::1"),
        ] {
            let address: IpAddr = address.parse().unwrap();
            assert_eq!(
                literal(refused),
                Err(RequestUrlError::DestinationNotAllowed { address }),
                "{refused}"
            );
        }
        assert_eq!(
            literal("https://auth.example.com/check"),
            Ok(()),
            "a name is checked when resolved"
        );
        let everything = Destinations::new(["0.0.0.0/0".parse().unwrap(), "::/0".parse().unwrap()]);
        assert!(everything.allows("10.0.0.1".parse().unwrap()));
        for never in
            ["169.254.169.254", "::ffff:169.254.169.254", "fd00:ec2::254", "0.0.0.0", "224.0.0.1"]
        {
            assert!(!everything.allows(never.parse().unwrap()), "{never}");
        }
    }

    #[test]
    fn credentials_in_the_url_are_refused() {
        for template in [
            "http://user:pw@auth.local/check/${streamKey}",
            "https://user@auth.local/check",
            "https://:pw@auth.local/check",
        ] {
            assert_eq!(check_request_url(template), Err(RequestUrlError::CredentialsInUrl));
            assert_eq!(url_for(template, "cam"), Err(DenyReason::AuthorizationUnavailable));
        }
        assert!(RequestUrlError::CredentialsInUrl.to_string().contains("`apiKey`"));
        assert_eq!(check_request_url("https://auth.local/check?u=a@b"), Ok(()));
    }

    #[test]
    fn a_key_cannot_change_the_path_segments() {
        for key in ["..", "."] {
            assert_eq!(url_for(TEMPLATE, key), Err(DenyReason::InvalidStreamKey), "{key}");
        }
        assert_eq!(
            url_for(TEMPLATE, "%2e%2e").unwrap().path(),
            "/auth/stream/%252e%252e",
            "an encoded dot segment is encoded again, so it stays one literal segment"
        );
        assert_eq!(url_for(TEMPLATE, "a..b").unwrap().path(), "/auth/stream/a..b");
        assert_eq!(
            url_for("http://auth.local/${streamKey}/check", "..").unwrap_err(),
            DenyReason::InvalidStreamKey
        );
    }

    #[test]
    fn the_placeholder_may_not_choose_the_server() {
        assert_eq!(check_request_url(TEMPLATE), Ok(()));
        assert_eq!(check_request_url("https://api.example.com/auth?stream=${streamKey}"), Ok(()));
        assert_eq!(
            check_request_url("https://${streamKey}.example.com/auth"),
            Err(RequestUrlError::PlaceholderInAuthority)
        );
        assert_eq!(
            check_request_url("https://example.com${streamKey}/auth"),
            Err(RequestUrlError::PlaceholderInAuthority)
        );
        assert_eq!(
            check_request_url("ftp://example.com/${streamKey}"),
            Err(RequestUrlError::NotHttp)
        );
        assert_eq!(check_request_url("/relative/${streamKey}"), Err(RequestUrlError::NotHttp));
        assert_eq!(
            url_for("https://${streamKey}.example.com/", "evil.com/"),
            Err(DenyReason::AuthorizationUnavailable)
        );
    }

    #[test]
    fn credentials_are_tagged_by_type() {
        let secret = |text: &str| Secret::new(text).unwrap();
        let cases = [
            (Presented::Nothing, r#"{"type":"none"}"#),
            (
                Presented::Credentials { username: "u".into(), password: secret("p") },
                r#"{"type":"credentials","username":"u","password":"p"}"#,
            ),
            (Presented::Token(secret("t")), r#"{"type":"token","token":"t"}"#),
            (Presented::StreamSecret(secret("s")), r#"{"type":"secret","secret":"s"}"#),
        ];
        for (presented, json) in cases {
            assert_eq!(serde_json::to_string(&Presentation::from(&presented)).unwrap(), json);
        }
    }
}
