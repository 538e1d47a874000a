//! The AIOZ Stream client: live stream keys, and the streamings, recordings and multicast
//! destinations on them.
//!
//! ```no_run
//! use streamspec_client::aioz::{Client, Credentials};
//! use streamspec_client::aioz::types::CreateLiveStreamKeyRequest;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::builder(
//!     "https://api.aiozstream.network/api",
//!     Credentials::key_pair("my-public-key", "my-secret-key")?,
//! )
//! .build()?;
//! let body = CreateLiveStreamKeyRequest::builder().name("studio").save(true);
//! let created = client.create_live_stream_key().body(body).send().await?;
//! // Responses are read tolerantly: a field the service may leave out is an `Option`.
//! if let (Some(url), Some(key)) = (&created.data.rtmp_url, &created.data.stream_key) {
//!     println!("stream to {url}/{key}");
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Every operation of `spec/aioz-stream.yaml` is a method of [`Client`] returning a builder; `send()`
//! answers a [`ResponseValue`] (the typed body, status and headers) or an [`Error`], with a variant
//! per documented error status holding the service's [`types::ErrorResponse`]; its `message()` is the
//! service's message, whichever error form the service used.
//! [`Client::all_live_stream_keys`] pages through every key, [`Client::all_live_stream_media`]
//! through a key's recordings.

use std::num::NonZeroU32;

use futures::{Stream, TryStreamExt, stream};
use progenitor_client::{ClientHooks, OperationInfo};
use reqwest::header::{AUTHORIZATION, HeaderName};
use streamspec_types::{EmptySecret, Secret};

use crate::retry::{RetryPolicy, Timeouts, Transport, transport_setters};
use crate::{BuildError, set_secret_header};

#[path = "generated/aioz.rs"]
mod generated;

pub use generated::*;

/// Why a call of this API failed: [`crate::Error`] with this API's error envelope.
pub type Error = crate::Error<types::ErrorResponse>;

/// How the client authenticates: any one of the three schemes of the spec. `Debug` shows no secret.
///
/// ```
/// use streamspec_client::aioz::Credentials;
///
/// let credentials = Credentials::key_pair("pk_live_1", "sk_live_1").unwrap();
/// let shown = format!("{credentials:?}");
/// assert!(shown.contains("pk_live_1") && !shown.contains("sk_live_1"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// `Authorization: Bearer <JWT>`.
    Bearer(Secret),
    /// The `stream-public-key` and `stream-secret-key` headers, always together.
    KeyPair {
        /// The account's public key (not a secret).
        public_key: String,
        /// The account's secret key.
        secret_key: Secret,
    },
    /// HTTP Basic with `public_key:secret_key`, as the vendor's Go SDK sends.
    Basic {
        /// The account's public key (not a secret).
        public_key: String,
        /// The account's secret key.
        secret_key: Secret,
    },
}

impl Credentials {
    /// A bearer JWT.
    pub fn bearer(token: impl Into<String>) -> Result<Self, EmptySecret> {
        Ok(Self::Bearer(Secret::new(token)?))
    }

    /// The public and secret key, sent as the `stream-public-key` and `stream-secret-key` headers.
    pub fn key_pair(
        public_key: impl Into<String>,
        secret_key: impl Into<String>,
    ) -> Result<Self, EmptySecret> {
        Ok(Self::KeyPair { public_key: public_key.into(), secret_key: Secret::new(secret_key)? })
    }

    /// The public and secret key, sent as HTTP Basic.
    pub fn basic(
        public_key: impl Into<String>,
        secret_key: impl Into<String>,
    ) -> Result<Self, EmptySecret> {
        Ok(Self::Basic { public_key: public_key.into(), secret_key: Secret::new(secret_key)? })
    }

    fn apply(
        &self,
        http: &reqwest::Client,
        request: &mut reqwest::Request,
    ) -> Result<(), &'static str> {
        match self {
            Credentials::Bearer(token) => {
                set_secret_header(request, AUTHORIZATION, &format!("Bearer {}", token.expose()))
            }
            Credentials::KeyPair { public_key, secret_key } => {
                set_secret_header(
                    request,
                    HeaderName::from_static("stream-public-key"),
                    public_key,
                )?;
                set_secret_header(
                    request,
                    HeaderName::from_static("stream-secret-key"),
                    secret_key.expose(),
                )
            }
            Credentials::Basic { public_key, secret_key } => {
                // reqwest knows how to encode Basic; borrow its builder for this one request.
                let taken = std::mem::replace(
                    request,
                    reqwest::Request::new(reqwest::Method::GET, request.url().clone()),
                );
                *request = reqwest::RequestBuilder::from_parts(http.clone(), taken)
                    .basic_auth(public_key, Some(secret_key.expose()))
                    .build()
                    .map_err(|_| "the Basic credentials could not be encoded")?;
                Ok(())
            }
        }
    }
}

/// What every request of a [`Client`] carries: its credentials and retry policy.
#[derive(Debug, Clone)]
pub struct ClientState {
    credentials: Credentials,
    retry: RetryPolicy,
}

impl Client {
    /// A client for `baseurl` (`https://api.aiozstream.network/api` for the real service) that sends
    /// `credentials` with every request.
    pub fn builder(baseurl: impl Into<String>, credentials: Credentials) -> ClientBuilder {
        ClientBuilder { baseurl: baseurl.into(), credentials, transport: Transport::default() }
    }

    /// The credentials this client sends.
    pub fn credentials(&self) -> &Credentials {
        &self.inner.credentials
    }

    /// Every live stream key that matches `options`, fetched page by page with `limit` and `offset`
    /// until `total` keys have come (or, from a server that leaves `total` out, until a page is not
    /// full); the first error ends the stream.
    ///
    /// ```no_run
    /// # async fn run(client: streamspec_client::aioz::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// use futures::TryStreamExt;
    /// use streamspec_client::aioz::ListOptions;
    ///
    /// let ids: Vec<String> = client
    ///     .all_live_stream_keys(ListOptions::default())
    ///     .map_ok(|key| key.id)
    ///     .try_collect()
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn all_live_stream_keys(
        &self,
        options: ListOptions,
    ) -> impl Stream<Item = Result<types::LiveStreamKey, Error>> + '_ {
        paged(options.page_size, move |offset| {
            let options = options.clone();
            async move {
                let mut request =
                    self.list_live_stream_keys().limit(options.page_size).offset(offset);
                if let Some(search) = options.search {
                    request = request.search(search);
                }
                if let Some(sort_by) = options.sort_by {
                    request = request.sort_by(sort_by);
                }
                if let Some(order_by) = options.order_by {
                    request = request.order_by(order_by);
                }
                if let Some(type_) = options.type_ {
                    request = request.type_(type_);
                }
                // The tolerant reader: a page without `data` or keys is an empty page.
                let page = request.send().await?.into_inner().data.unwrap_or_default();
                Ok((page.live_stream_keys.unwrap_or_default(), page.total))
            }
        })
    }

    /// Every recording of the key `id` (its streamings that ended with `save`) that matches
    /// `options`, fetched page by page as [`Client::all_live_stream_keys`] fetches keys.
    ///
    /// ```no_run
    /// # async fn run(client: streamspec_client::aioz::Client, key: uuid::Uuid) -> Result<(), Box<dyn std::error::Error>> {
    /// use futures::TryStreamExt;
    /// use streamspec_client::aioz::MediaListOptions;
    ///
    /// let recordings: Vec<_> =
    ///     client.all_live_stream_media(key, MediaListOptions::default()).try_collect().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn all_live_stream_media(
        &self,
        id: uuid::Uuid,
        options: MediaListOptions,
    ) -> impl Stream<Item = Result<types::Streaming, Error>> + '_ {
        paged(options.page_size, move |offset| {
            let options = options.clone();
            async move {
                let mut body = types::ListLiveStreamMediaRequest::new();
                body.limit = options.page_size;
                body.offset = offset;
                body.sort_by = options.sort_by;
                body.order_by = options.order_by;
                body.search = options.search;
                let request = self.list_live_stream_media().id(id).body(body);
                let page = request.send().await?.into_inner().data.unwrap_or_default();
                Ok((page.media.unwrap_or_default(), page.total))
            }
        })
    }
}

/// Every item of a listing, fetched page by page with `offset` until `total` items have come (or,
/// from a server that leaves `total` out, until a page is not full); the first error ends the
/// stream. `fetch` answers one page's items and the `total` it reported.
fn paged<'a, T: 'a, F, Fut>(
    page_size: NonZeroU32,
    fetch: F,
) -> impl Stream<Item = Result<T, Error>> + 'a
where
    F: Fn(i32) -> Fut + 'a,
    Fut: Future<Output = Result<(Vec<T>, Option<i64>), Error>> + 'a,
{
    let pages = stream::try_unfold(Some(0i32), move |offset| {
        let fetched = offset.map(&fetch);
        async move {
            let (Some(offset), Some(fetched)) = (offset, fetched) else {
                return Ok::<_, Error>(None);
            };
            let (items, total) = fetched.await?;
            let count = i32::try_from(items.len()).unwrap_or(i32::MAX);
            let next = offset.saturating_add(count);
            // An empty page ends the listing even if `total` says more: no endless loop on a
            // server that miscounts.
            let more = count > 0
                && match total {
                    Some(total) => i64::from(next) < total,
                    None => u32::try_from(count).is_ok_and(|n| n >= page_size.get()),
                };
            let items = stream::iter(items.into_iter().map(Ok));
            Ok(Some((items, more.then_some(next))))
        }
    });
    pages.try_flatten()
}

/// The filter and order of [`Client::all_live_stream_media`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaListOptions {
    /// Only recordings whose title contains this text.
    pub search: Option<types::ListLiveStreamMediaRequestSearch>,
    /// The field to sort by; the service's default is `created_at`.
    pub sort_by: Option<types::LiveStreamMediaSortBy>,
    /// The sort order; the service's default is `desc`.
    pub order_by: Option<types::SortOrder>,
    /// Recordings per request, at most 100 (the spec's maximum). Default 100: fewest round trips.
    pub page_size: NonZeroU32,
}

impl Default for MediaListOptions {
    fn default() -> Self {
        Self {
            search: None,
            sort_by: None,
            order_by: None,
            page_size: NonZeroU32::new(100).unwrap(),
        }
    }
}

/// The filter and order of [`Client::all_live_stream_keys`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOptions {
    /// Only keys whose name contains this text.
    pub search: Option<String>,
    /// The field to sort by; the service's default is `created_at`.
    pub sort_by: Option<types::LiveStreamKeySortBy>,
    /// The sort order; the service's default is `desc`.
    pub order_by: Option<types::SortOrder>,
    /// Only keys of this type; the service's default is `video`.
    pub type_: Option<types::LiveStreamKeyTypeFilter>,
    /// Keys per request, at most 100 (the spec's maximum). Default 100: fewest round trips.
    pub page_size: NonZeroU32,
}

impl Default for ListOptions {
    fn default() -> Self {
        Self {
            search: None,
            sort_by: None,
            order_by: None,
            type_: None,
            page_size: NonZeroU32::new(100).unwrap(),
        }
    }
}

/// Builds a [`Client`]; from [`Client::builder`].
#[derive(Debug)]
pub struct ClientBuilder {
    baseurl: String,
    credentials: Credentials,
    transport: Transport,
}

impl ClientBuilder {
    transport_setters!();

    /// The client.
    pub fn build(mut self) -> Result<Client, BuildError> {
        let http = self.transport.http_client()?;
        let state = ClientState { credentials: self.credentials, retry: self.transport.retry };
        Ok(Client::new_with_client(&self.baseurl, http, state))
    }
}

impl ClientHooks<ClientState> for Client {
    async fn pre<E>(
        &self,
        request: &mut reqwest::Request,
        _info: &OperationInfo,
    ) -> Result<(), progenitor_client::Error<E>> {
        self.inner
            .credentials
            .apply(&self.client, request)
            .map_err(|message| progenitor_client::Error::InvalidRequest(message.to_owned()))
    }

    async fn exec(
        &self,
        request: reqwest::Request,
        _info: &OperationInfo,
    ) -> reqwest::Result<reqwest::Response> {
        self.inner.retry.execute(&self.client, request).await
    }
}
