//! Timeouts and retries, shared by both clients and applied in progenitor's `exec` hook.

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Method, Request, Response, StatusCode};

/// When and how a request is sent again.
///
/// Only idempotent requests (`GET`, `HEAD`, `PUT`, `DELETE`, `OPTIONS`) are retried: sending a `POST`
/// or `PATCH` twice could create two live stream keys or burn a login attempt. They are retried after a
/// connection error or a timeout, and on `429 Too Many Requests` and `503 Service Unavailable`. The wait
/// is what the server asks for (`Retry-After`, or AIOZ's `X-RateLimit-Retry-After`, in seconds), or else
/// an exponential backoff. With the defaults, a 429 that asks for 60 s can hold a call for three
/// minutes; tests lower [`max_retry_after`](Self::max_retry_after), and a wait beyond it returns the
/// 429 at once.
///
/// ```
/// use std::time::Duration;
/// use streamspec_client::RetryPolicy;
///
/// let patient = RetryPolicy { max_retries: 5, ..RetryPolicy::default() };
/// assert_eq!(patient.initial_backoff, Duration::from_millis(200));
/// let never = RetryPolicy::none();
/// assert_eq!(never.max_retries, 0);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt; 0 turns retrying off. Default 3.
    pub max_retries: u32,
    /// The wait before the first retry when the server names none; doubled each time. Default 200 ms.
    pub initial_backoff: Duration,
    /// The longest backoff between two attempts. Default 5 s.
    pub max_backoff: Duration,
    /// The longest wait the client accepts from a `Retry-After` header; when a server asks for more,
    /// the response is returned instead of waiting. Default 60 s.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub fn none() -> Self {
        Self { max_retries: 0, ..Self::default() }
    }

    /// Sends `request`, and again as this policy says.
    pub(crate) async fn execute(
        &self,
        client: &reqwest::Client,
        mut request: Request,
    ) -> reqwest::Result<Response> {
        let idempotent = is_idempotent(request.method());
        let mut retries = 0;
        loop {
            // A streaming body cannot be cloned; such a request is sent once.
            let again =
                (idempotent && retries < self.max_retries).then(|| request.try_clone()).flatten();
            let result = client.execute(request).await;
            let Some(again) = again else {
                return result;
            };
            let wait = match &result {
                Ok(response) if is_retryable_status(response.status()) => {
                    match requested_wait(response.headers()) {
                        Some(wait) if wait > self.max_retry_after => return result,
                        Some(wait) => wait,
                        None => self.backoff(retries),
                    }
                }
                Err(error) if error.is_connect() || error.is_timeout() => self.backoff(retries),
                _ => return result,
            };
            tokio::time::sleep(wait).await;
            retries += 1;
            request = again;
        }
    }

    fn backoff(&self, retries: u32) -> Duration {
        let factor = 2u32.saturating_pow(retries);
        self.initial_backoff.saturating_mul(factor).min(self.max_backoff)
    }
}

fn is_idempotent(method: &Method) -> bool {
    [Method::GET, Method::HEAD, Method::PUT, Method::DELETE, Method::OPTIONS].contains(method)
}

fn is_retryable_status(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE
}

/// The wait a response asks for, in whole seconds: `Retry-After`, else `X-RateLimit-Retry-After`.
pub(crate) fn requested_wait(headers: &HeaderMap) -> Option<Duration> {
    [RETRY_AFTER.as_str(), "x-ratelimit-retry-after"].iter().find_map(|name| {
        let seconds = headers.get(*name)?.to_str().ok()?.trim().parse::<u64>().ok()?;
        Some(Duration::from_secs(seconds))
    })
}

/// Timeouts for the underlying HTTP client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// The longest wait for a connection. Default 10 s.
    pub connect: Duration,
    /// The longest a whole request may take, body included. Default 30 s.
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self { connect: Duration::from_secs(10), request: Duration::from_secs(30) }
    }
}

/// What both clients' builders share: the retry policy, timeouts, and an optional ready-made client.
#[derive(Debug, Default)]
pub(crate) struct Transport {
    pub(crate) retry: RetryPolicy,
    pub(crate) timeouts: Timeouts,
    pub(crate) http: Option<reqwest::Client>,
}

impl Transport {
    /// The HTTP client to use: the one given, or a new one with the timeouts.
    pub(crate) fn http_client(&mut self) -> Result<reqwest::Client, crate::BuildError> {
        if let Some(http) = self.http.take() {
            return Ok(http);
        }
        reqwest::Client::builder()
            .connect_timeout(self.timeouts.connect)
            .timeout(self.timeouts.request)
            .user_agent(concat!("streamspec-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(crate::BuildError::Http)
    }
}

/// The setters of [`Transport`], for a builder with a `transport` field.
macro_rules! transport_setters {
    () => {
        /// When to retry; [`RetryPolicy::default`] unless set.
        pub fn retry(mut self, retry: RetryPolicy) -> Self {
            self.transport.retry = retry;
            self
        }

        /// Connect and request timeouts; [`Timeouts::default`] unless set. Ignored with
        /// [`Self::http_client`].
        pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
            self.transport.timeouts = timeouts;
            self
        }

        /// Use this `reqwest::Client` (its own timeouts, proxy, TLS settings) instead of a new one.
        pub fn http_client(mut self, http: reqwest::Client) -> Self {
            self.transport.http = Some(http);
            self
        }
    };
}
pub(crate) use transport_setters;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let policy = RetryPolicy::default();
        let waits: Vec<u128> = (0..7).map(|n| policy.backoff(n).as_millis()).collect();
        assert_eq!(waits, [200, 400, 800, 1600, 3200, 5000, 5000]);
        assert_eq!(policy.backoff(u32::MAX), Duration::from_secs(5));
    }

    #[test]
    fn only_idempotent_methods_are_retried() {
        assert!(is_idempotent(&Method::GET));
        assert!(is_idempotent(&Method::PUT));
        assert!(is_idempotent(&Method::DELETE));
        assert!(!is_idempotent(&Method::POST));
        assert!(!is_idempotent(&Method::PATCH));
    }

    #[test]
    fn the_requested_wait_prefers_retry_after() {
        let mut headers = HeaderMap::new();
        assert_eq!(requested_wait(&headers), None);
        headers.insert("x-ratelimit-retry-after", "7".parse().unwrap());
        assert_eq!(requested_wait(&headers), Some(Duration::from_secs(7)));
        headers.insert(RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(requested_wait(&headers), Some(Duration::from_secs(2)));
    }
}
