//! AIOZ Stream live stream keys, per account, with a per-account rate limit.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use streamspec_server::aioz::types::{
    self, DeleteLiveStreamKeyResponse as Deleted, ErrorResponse, LiveStreamKey, LiveStreamKeyList,
    LiveStreamKeyListResponse, LiveStreamKeyResponse, LiveStreamKeySortBy, LiveStreamKeyTypeFilter,
    SortOrder,
};
use streamspec_server::aioz::*;
use streamspec_server::types::chrono::{SecondsFormat, Utc};
use streamspec_server::types::uuid::Uuid;
use streamspec_server::{HandlerError, Rejection, async_trait};

use crate::MinuteWindows;
use crate::config::{AiozAccount, Config};
use crate::store::{KeyQuery, Storage, StoredKey};

pub struct Aioz {
    store: Arc<dyn Storage>,
    /// Replaced whole when a reset regenerates the credentials.
    accounts: RwLock<Arc<Vec<AiozAccount>>>,
    /// Where keys' `rtmp_url` comes from.
    control: Arc<crate::control::Control>,
    /// Deleting a key ends its live session.
    sessions: Arc<crate::sessions::LiveSessions>,
    limit: u32,
    windows: MinuteWindows<String>,
    max_name_bytes: usize,
}

/// Why a request does not reach its operation.
enum Refusal {
    Unauthorized(ResponseHeaders),
    TooManyRequests(ResponseHeaders),
}

/// The `status` of every success envelope the emulator answers.
const SUCCESS: &str = "success";

fn error(message: &str) -> ErrorResponse {
    ErrorResponse::with_message(message)
}

/// Answers a refusal with the operation's own 401 or 429 variant.
macro_rules! admit {
    ($self:ident, $input:ident, $response:ident) => {
        match $self.admit(&$input.credentials) {
            Ok(admitted) => admitted,
            Err(Refusal::Unauthorized(headers)) => {
                return Ok($response::Unauthorized(error("invalid credentials"), headers));
            }
            Err(Refusal::TooManyRequests(headers)) => {
                return Ok($response::TooManyRequests(error("Too many requests"), headers));
            }
        }
    };
}

impl Aioz {
    pub(crate) fn new(
        store: Arc<dyn Storage>,
        credentials: &crate::Credentials,
        config: &Config,
        control: Arc<crate::control::Control>,
        sessions: Arc<crate::sessions::LiveSessions>,
    ) -> Self {
        Self {
            store,
            accounts: RwLock::new(Arc::new(credentials.aioz_accounts.clone())),
            control,
            sessions,
            limit: config.rate_limit_per_minute,
            max_name_bytes: config.max_name_bytes,
            windows: MinuteWindows::default(),
        }
    }

    /// Refuses credentials that identify no account; counts nothing. The conformance layer and
    /// `authenticate` ask before a body is read, so an unknown caller is answered 401 without
    /// learning about bodies.
    pub(crate) fn check(&self, credentials: &Credentials) -> Result<(), Rejection> {
        match self.account_id(credentials) {
            Some(_) => Ok(()),
            None => Err(Rejection::unauthorized("invalid credentials")),
        }
    }

    /// Replaces the accounts (a reset that regenerates the credentials) and empties the rate-limit
    /// windows.
    pub(crate) fn reset(&self, accounts: Option<Vec<AiozAccount>>) {
        if let Some(accounts) = accounts {
            *self.accounts.write().unwrap_or_else(|poisoned| poisoned.into_inner()) =
                Arc::new(accounts);
        }
        self.windows.clear();
    }

    /// The user id of the account the credentials identify (for the requests and for the journal
    /// and faults). Secrets are compared in constant time; a public key is not a secret.
    pub(crate) fn account_id(&self, credentials: &Credentials) -> Option<String> {
        let same = streamspec_ingest_auth::secrets_match;
        let accounts =
            self.accounts.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
        let found = accounts.iter().find(|account| match credentials {
            Credentials::BearerAuth { token } => same(token.expose(), &account.token),
            Credentials::StreamPublicKeyAndStreamSecretKey {
                stream_public_key,
                stream_secret_key,
            } => {
                stream_public_key.expose() == account.public_key
                    && same(stream_secret_key.expose(), &account.secret_key)
            }
            Credentials::BasicAuth { username, password } => {
                *username == account.public_key && same(password.expose(), &account.secret_key)
            }
        });
        found.map(|account| account.user_id.clone())
    }

    /// The account the credentials identify, and the rate-limit headers after counting this request.
    fn admit(&self, credentials: &Credentials) -> Result<(String, ResponseHeaders), Refusal> {
        let Some(account) = self.account_id(credentials) else {
            return Err(Refusal::Unauthorized(self.headers(u32::MAX, Duration::from_secs(60))));
        };
        let (counted, used, reset) = self.windows.count(account.clone(), self.limit);
        if !counted {
            return Err(Refusal::TooManyRequests(self.headers(used, reset)));
        }
        Ok((account, self.headers(used, reset)))
    }

    /// Why a name is refused: longer than `max_name_bytes`.
    fn too_long(&self, name: Option<&str>) -> Option<String> {
        name.filter(|name| name.len() > self.max_name_bytes)
            .map(|_| format!("name: longer than the limit of {} bytes", self.max_name_bytes))
    }

    fn headers(&self, used: u32, reset: Duration) -> ResponseHeaders {
        ResponseHeaders {
            x_rate_limit_limit: i64::from(self.limit),
            x_rate_limit_remaining: i64::from(self.limit.saturating_sub(used.min(self.limit))),
            x_rate_limit_retry_after: reset.as_secs_f64().ceil() as i64,
        }
    }

    /// A stored key with every field the spec describes, in the documented form: the response
    /// schema reads tolerantly, the emulator answers completely (its tests check both).
    fn key(&self, stored: StoredKey) -> Result<LiveStreamKey, HandlerError> {
        // A key stored before types existed is a video key, as the list's type filter counts it.
        let kind = stored.kind.as_deref().unwrap_or("video");
        let kind: types::LiveStreamType = kind.parse().map_err(HandlerError::internal)?;
        // Every field but `title`, the documentation example's spelling of `name`.
        let mut key = LiveStreamKey::new(stored.id);
        key.user_id = Some(stored.account);
        key.name = Some(stored.name);
        key.stream_key = Some(stored.stream_key);
        key.rtmp_url = Some(self.control.rtmp_url());
        key.save = Some(stored.save);
        key.type_ = Some(kind.into());
        key.created_at = Some(stored.created_at);
        key.updated_at = Some(stored.updated_at);
        Ok(key)
    }

    fn envelope(&self, stored: StoredKey) -> Result<LiveStreamKeyResponse, HandlerError> {
        Ok(LiveStreamKeyResponse::success(self.key(stored)?))
    }
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true)
}

#[async_trait]
impl LiveStreamsApi for Aioz {
    /// Unknown credentials are refused before the query or body is read; the operations count the
    /// request against the account's rate limit.
    async fn authenticate(
        &self,
        _operation: &'static str,
        credentials: &Credentials,
    ) -> Result<(), Rejection> {
        self.check(credentials)
    }

    async fn create_live_stream_key(
        &self,
        input: CreateLiveStreamKeyInput,
    ) -> Result<CreateLiveStreamKeyResponse, HandlerError> {
        let (account, headers) = admit!(self, input, CreateLiveStreamKeyResponse);
        if let Some(message) = self.too_long(Some(&input.body.name)) {
            return Ok(CreateLiveStreamKeyResponse::BadRequest(error(&message), headers));
        }
        let at = now();
        let stored = StoredKey {
            // Time-ordered, so a new key lands at the end of the keys' B-tree instead of on a random
            // page.
            id: Uuid::now_v7().to_string(),
            account,
            name: input.body.name,
            // Random: whoever has it may publish.
            stream_key: Uuid::new_v4().to_string(),
            save: input.body.save,
            kind: Some(input.body.type_.unwrap_or(types::LiveStreamType::Video).to_string()),
            created_at: at.clone(),
            updated_at: at,
        };
        self.store.insert_key(&stored).await.map_err(HandlerError::internal)?;
        Ok(CreateLiveStreamKeyResponse::Ok(self.envelope(stored)?, headers))
    }

    async fn list_live_stream_keys(
        &self,
        input: ListLiveStreamKeysInput,
    ) -> Result<ListLiveStreamKeysResponse, HandlerError> {
        let (account, headers) = admit!(self, input, ListLiveStreamKeysResponse);
        let sort_by = match input.sort_by {
            LiveStreamKeySortBy::UpdatedAt => "updated_at",
            LiveStreamKeySortBy::Title | LiveStreamKeySortBy::Name => "name",
            LiveStreamKeySortBy::CreatedAt | LiveStreamKeySortBy::Size => "created_at",
        };
        let kind = match input.type_ {
            LiveStreamKeyTypeFilter::Video => "video",
            LiveStreamKeyTypeFilter::Audio => "audio",
        };
        let query = KeyQuery {
            search: input.search.filter(|search| !search.is_empty()),
            kind,
            sort_by,
            descending: input.order_by == SortOrder::Desc,
            limit: i64::from(input.limit.get()),
            offset: i64::from(input.offset),
        };
        let (keys, total) = self.store.keys(&account, &query).map_err(HandlerError::internal)?;
        let keys = keys.into_iter().map(|key| self.key(key)).collect::<Result<Vec<_>, _>>()?;
        let mut data = LiveStreamKeyList::new();
        data.live_stream_keys = Some(keys);
        data.total = Some(total);
        let mut body = LiveStreamKeyListResponse::new();
        body.status = Some(SUCCESS.to_owned());
        body.data = Some(data);
        Ok(ListLiveStreamKeysResponse::Ok(body, headers))
    }

    async fn get_live_stream_key(
        &self,
        input: GetLiveStreamKeyInput,
    ) -> Result<GetLiveStreamKeyResponse, HandlerError> {
        let (account, headers) = admit!(self, input, GetLiveStreamKeyResponse);
        match self.store.key(&account, &input.id.to_string()).map_err(HandlerError::internal)? {
            Some(stored) => Ok(GetLiveStreamKeyResponse::Ok(self.envelope(stored)?, headers)),
            None => {
                Ok(GetLiveStreamKeyResponse::NotFound(error("live stream key not found"), headers))
            }
        }
    }

    async fn update_live_stream_key(
        &self,
        input: UpdateLiveStreamKeyInput,
    ) -> Result<UpdateLiveStreamKeyResponse, HandlerError> {
        let (account, headers) = admit!(self, input, UpdateLiveStreamKeyResponse);
        if let Some(message) = self.too_long(input.body.name.as_deref()) {
            return Ok(UpdateLiveStreamKeyResponse::BadRequest(error(&message), headers));
        }
        let updated = self
            .store
            .update_key(
                &account,
                &input.id.to_string(),
                input.body.name.as_deref(),
                input.body.save,
                &now(),
            )
            .await
            .map_err(HandlerError::internal)?;
        match updated {
            Some(stored) => Ok(UpdateLiveStreamKeyResponse::Ok(self.envelope(stored)?, headers)),
            None => Ok(UpdateLiveStreamKeyResponse::NotFound(
                error("live stream key not found"),
                headers,
            )),
        }
    }

    async fn delete_live_stream_key(
        &self,
        input: DeleteLiveStreamKeyInput,
    ) -> Result<DeleteLiveStreamKeyResponse, HandlerError> {
        let (account, headers) = admit!(self, input, DeleteLiveStreamKeyResponse);
        if self
            .store
            .delete_key(&account, &input.id.to_string())
            .await
            .map_err(HandlerError::internal)?
        {
            // An encoder publishing to the key is disconnected: the key no longer exists.
            self.sessions.end_where(|session| session.live_stream_key_id == Some(input.id));
            let mut body = Deleted::new();
            body.status = Some(SUCCESS.to_owned());
            body.message = Some("Live stream key deleted successfully".to_owned());
            Ok(DeleteLiveStreamKeyResponse::Ok(body, headers))
        } else {
            Ok(DeleteLiveStreamKeyResponse::NotFound(error("live stream key not found"), headers))
        }
    }
}
