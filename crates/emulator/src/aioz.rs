//! AIOZ Stream live stream keys and the streamings on them, per account, with a per-account rate
//! limit.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use streamspec_server::aioz::types::{
    self, DeleteLiveStreamKeyResponse as Deleted, ErrorResponse, LiveStreamKey, LiveStreamKeyList,
    LiveStreamKeyListResponse, LiveStreamKeyResponse, LiveStreamKeySortBy, LiveStreamKeyTypeFilter,
    LiveStreamMediaSortBy, MessageResponse, Multicast, MulticastResponse, SortOrder, Streaming,
    StreamingList, StreamingListResponse, StreamingResponse, StreamingStatisticResponse,
};
use streamspec_server::aioz::*;
use streamspec_server::types::uuid::Uuid;
use streamspec_server::{HandlerError, Rejection, async_trait};

use crate::MinuteWindows;
use crate::config::{AiozAccount, Config};
use crate::store::{
    KeyQuery, RecordingQuery, Storage, StoredKey, StoredMulticast, StoredStreaming, now,
};
use crate::streamings;

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

    /// Why a name or title (`field`) is refused: longer than `max_name_bytes`.
    fn too_long(&self, field: &str, text: Option<&str>) -> Option<String> {
        text.filter(|text| text.len() > self.max_name_bytes)
            .map(|_| format!("{field}: longer than the limit of {} bytes", self.max_name_bytes))
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

/// The messages of the 404s.
const KEY_NOT_FOUND: &str = "live stream key not found";
const STREAMING_NOT_FOUND: &str = "streaming not found";

fn message(text: &str) -> MessageResponse {
    let mut body = MessageResponse::new();
    body.status = Some(SUCCESS.to_owned());
    body.message = Some(text.to_owned());
    body
}

impl Aioz {
    /// The account's key, or `None` (another account's key is not found either).
    fn owned_key(&self, account: &str, id: &str) -> Result<Option<StoredKey>, HandlerError> {
        self.store.key(account, id).map_err(HandlerError::internal)
    }

    /// The account's key with this `stream_key`, as the multicast operations name it.
    fn key_of_stream_key(
        &self,
        account: &str,
        stream_key: &streamspec_server::types::Secret,
    ) -> Result<Option<StoredKey>, HandlerError> {
        let key =
            self.store.key_by_stream_key(stream_key.expose()).map_err(HandlerError::internal)?;
        Ok(key.filter(|key| key.account == account))
    }

    fn streaming(&self, stored: &StoredStreaming, key: &StoredKey) -> Streaming {
        let kind = key.kind.as_deref().unwrap_or("video");
        streamings::streaming(stored, kind, &self.sessions, &self.control)
    }

    fn streaming_envelope(&self, stored: &StoredStreaming, key: &StoredKey) -> StreamingResponse {
        let mut body = StreamingResponse::new(self.streaming(stored, key));
        body.status = Some(SUCCESS.to_owned());
        body
    }

    fn streaming_list(
        &self,
        stored: &[StoredStreaming],
        key: &StoredKey,
        total: i64,
    ) -> StreamingListResponse {
        let mut data = StreamingList::new();
        data.media = Some(stored.iter().map(|streaming| self.streaming(streaming, key)).collect());
        data.total = Some(total);
        let mut body = StreamingListResponse::new();
        body.status = Some(SUCCESS.to_owned());
        body.data = Some(data);
        body
    }

    fn multicast_envelope(
        &self,
        key: &StoredKey,
        stored: Option<StoredMulticast>,
    ) -> MulticastResponse {
        let urls = stored
            .as_ref()
            .and_then(|stored| serde_json::from_str::<Vec<String>>(&stored.urls).ok())
            .unwrap_or_default();
        let mut data = Multicast::new();
        // A key without destinations has no record yet: its id is the one the first write will keep.
        data.id = Some(stored.map_or_else(|| multicast_id(&key.id), |stored| stored.id));
        data.live_stream_key_id = Some(key.id.clone());
        data.stream_key = Some(key.stream_key.clone());
        data.user_id = Some(key.account.clone());
        data.live_stream_multicast_urls = Some(urls);
        let mut body = MulticastResponse::new(data);
        body.status = Some(SUCCESS.to_owned());
        body
    }
}

/// The id of a key's multicast record: derived from the key's, so it is the same before and after
/// the first write. The mask leaves the version and variant bits as they are.
fn multicast_id(key_id: &str) -> String {
    const MASK: u128 = 0x5a5a_5a5a_5a5a_0a5a_1a5a_5a5a_5a5a_5a5a;
    match Uuid::try_parse(key_id) {
        Ok(key) => Uuid::from_u128(key.as_u128() ^ MASK).to_string(),
        Err(_) => Uuid::new_v4().to_string(),
    }
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
        if let Some(message) = self.too_long("name", Some(&input.body.name)) {
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
            None => Ok(GetLiveStreamKeyResponse::NotFound(error(KEY_NOT_FOUND), headers)),
        }
    }

    async fn update_live_stream_key(
        &self,
        input: UpdateLiveStreamKeyInput,
    ) -> Result<UpdateLiveStreamKeyResponse, HandlerError> {
        let (account, headers) = admit!(self, input, UpdateLiveStreamKeyResponse);
        if let Some(message) = self.too_long("name", input.body.name.as_deref()) {
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
            None => Ok(UpdateLiveStreamKeyResponse::NotFound(error(KEY_NOT_FOUND), headers)),
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
            Ok(DeleteLiveStreamKeyResponse::NotFound(error(KEY_NOT_FOUND), headers))
        }
    }

    async fn list_streamings(
        &self,
        input: ListStreamingsInput,
    ) -> Result<ListStreamingsResponse, HandlerError> {
        let (account, headers) = admit!(self, input, ListStreamingsResponse);
        let Some(key) = self.owned_key(&account, &input.id.to_string())? else {
            return Ok(ListStreamingsResponse::NotFound(error(KEY_NOT_FOUND), headers));
        };
        let stored = self.store.streamings(&account, &key.id).map_err(HandlerError::internal)?;
        let total = i64::try_from(stored.len()).unwrap_or(i64::MAX);
        Ok(ListStreamingsResponse::Ok(self.streaming_list(&stored, &key, total), headers))
    }

    async fn create_streaming(
        &self,
        input: CreateStreamingInput,
    ) -> Result<CreateStreamingResponse, HandlerError> {
        let (account, headers) = admit!(self, input, CreateStreamingResponse);
        let body = input.body;
        if let Some(message) = self.too_long("title", Some(&body.title)) {
            return Ok(CreateStreamingResponse::BadRequest(error(&message), headers));
        }
        let qualities = if body.qualities.is_empty() {
            streamings::default_qualities()
        } else {
            body.qualities
        };
        if let Some(message) = streamings::refused_qualities(&qualities) {
            return Ok(CreateStreamingResponse::BadRequest(error(&message), headers));
        }
        let Some(key) = self.owned_key(&account, &input.id.to_string())? else {
            return Ok(CreateStreamingResponse::NotFound(error(KEY_NOT_FOUND), headers));
        };
        let at = now();
        let stored = StoredStreaming {
            id: Uuid::now_v7().to_string(),
            account,
            key_id: key.id.clone(),
            title: body.title.to_string(),
            save: body.save,
            qualities: serde_json::to_string(&qualities).map_err(HandlerError::internal)?,
            status: types::StreamingStatus::Created.to_string(),
            created_at: at.clone(),
            updated_at: at,
            started_at: None,
            ended_at: None,
            session_id: None,
            bytes: 0,
            frame_rate: 0.0,
            audio_kbps: 0,
            statistic_id: Uuid::new_v4().to_string(),
            media_id: None,
        };
        if !self.store.insert_streaming(&stored).await.map_err(HandlerError::internal)? {
            let message = "id: this live stream key has a streaming that has not ended; a key holds one at a time";
            return Ok(CreateStreamingResponse::Conflict(error(message), headers));
        }
        Ok(CreateStreamingResponse::Ok(self.streaming_envelope(&stored, &key), headers))
    }

    async fn update_streaming(
        &self,
        input: UpdateStreamingInput,
    ) -> Result<UpdateStreamingResponse, HandlerError> {
        let (account, headers) = admit!(self, input, UpdateStreamingResponse);
        let body = input.body;
        if let Some(message) =
            self.too_long("title", body.title.as_ref().map(|title| title.as_str()))
        {
            return Ok(UpdateStreamingResponse::BadRequest(error(&message), headers));
        }
        if let Some(message) = streamings::refused_qualities(&body.qualities) {
            return Ok(UpdateStreamingResponse::BadRequest(error(&message), headers));
        }
        if self.owned_key(&account, &input.id.to_string())?.is_none() {
            return Ok(UpdateStreamingResponse::NotFound(error(KEY_NOT_FOUND), headers));
        }
        let (key_id, stream_id) = (input.id.to_string(), body.stream_id.to_string());
        let found =
            self.store.streaming(&account, &key_id, &stream_id).map_err(HandlerError::internal)?;
        let Some(mut stored) = found else {
            return Ok(UpdateStreamingResponse::NotFound(error(STREAMING_NOT_FOUND), headers));
        };
        let not_live = || {
            let message = "stream_id: the streaming is not live; a streaming can be updated only while it is live";
            Ok(UpdateStreamingResponse::Conflict(error(message), headers))
        };
        if stored.status != types::StreamingStatus::Live.to_string() {
            return not_live();
        }
        if let Some(title) = body.title {
            stored.title = title.to_string();
        }
        if let Some(save) = body.save {
            stored.save = save;
        }
        if !body.qualities.is_empty() {
            stored.qualities =
                serde_json::to_string(&body.qualities).map_err(HandlerError::internal)?;
        }
        stored.updated_at = now();
        match self.store.update_live_streaming(&stored).await.map_err(HandlerError::internal)? {
            Some(_) => Ok(UpdateStreamingResponse::Ok(
                message("Live stream media updated successfully"),
                headers,
            )),
            // It ended between the read and the write.
            None => not_live(),
        }
    }

    async fn get_streaming(
        &self,
        input: GetStreamingInput,
    ) -> Result<GetStreamingResponse, HandlerError> {
        let (account, headers) = admit!(self, input, GetStreamingResponse);
        let Some(key) = self.owned_key(&account, &input.id.to_string())? else {
            return Ok(GetStreamingResponse::NotFound(error(KEY_NOT_FOUND), headers));
        };
        let found = self
            .store
            .streaming(&account, &key.id, &input.stream_id.to_string())
            .map_err(HandlerError::internal)?;
        match found {
            Some(stored) => {
                Ok(GetStreamingResponse::Ok(self.streaming_envelope(&stored, &key), headers))
            }
            None => Ok(GetStreamingResponse::NotFound(error(STREAMING_NOT_FOUND), headers)),
        }
    }

    async fn delete_streaming(
        &self,
        input: DeleteStreamingInput,
    ) -> Result<DeleteStreamingResponse, HandlerError> {
        let (account, headers) = admit!(self, input, DeleteStreamingResponse);
        let (first, second) = (input.id.to_string(), input.stream_id.to_string());
        // The documented order is (key, streaming); both vendor suites send (streaming, key).
        let mut found = None;
        for (key_id, id) in [(&first, &second), (&second, &first)] {
            if let Some(stored) =
                self.store.streaming(&account, key_id, id).map_err(HandlerError::internal)?
            {
                found = Some(stored);
                break;
            }
        }
        let Some(stored) = found else {
            return Ok(DeleteStreamingResponse::NotFound(error(STREAMING_NOT_FOUND), headers));
        };
        let deleted = self
            .store
            .delete_streaming(&account, &stored.key_id, &stored.id)
            .await
            .map_err(HandlerError::internal)?;
        if !deleted {
            return Ok(DeleteStreamingResponse::NotFound(error(STREAMING_NOT_FOUND), headers));
        }
        // A live streaming's encoder is disconnected: what it streams to is gone.
        if let Some(session) = stored.session_id.and_then(|id| id.parse().ok()) {
            self.sessions.end(session);
        }
        Ok(DeleteStreamingResponse::Ok(message("Live stream media deleted successfully"), headers))
    }

    async fn list_live_stream_media(
        &self,
        input: ListLiveStreamMediaInput,
    ) -> Result<ListLiveStreamMediaResponse, HandlerError> {
        let (account, headers) = admit!(self, input, ListLiveStreamMediaResponse);
        let body = input.body;
        if body.offset < 0 {
            let message = "offset: must be at least 0";
            return Ok(ListLiveStreamMediaResponse::BadRequest(error(message), headers));
        }
        let Some(key) = self.owned_key(&account, &input.id.to_string())? else {
            return Ok(ListLiveStreamMediaResponse::NotFound(error(KEY_NOT_FOUND), headers));
        };
        let sort_by = match body.sort_by.unwrap_or(LiveStreamMediaSortBy::CreatedAt) {
            LiveStreamMediaSortBy::CreatedAt => "created_at",
            LiveStreamMediaSortBy::UpdatedAt => "updated_at",
            LiveStreamMediaSortBy::Title => "title",
            LiveStreamMediaSortBy::Size => "bytes",
        };
        let query = RecordingQuery {
            search: body.search.map(String::from),
            status: body.status.map(String::from),
            media_status: body.media_status.map(String::from),
            sort_by,
            descending: body.order_by.unwrap_or(SortOrder::Desc) == SortOrder::Desc,
            limit: i64::from(body.limit.get().min(100)),
            offset: i64::from(body.offset),
        };
        let (stored, total) =
            self.store.recordings(&account, &key.id, &query).map_err(HandlerError::internal)?;
        Ok(ListLiveStreamMediaResponse::Ok(self.streaming_list(&stored, &key, total), headers))
    }

    async fn get_multicast(
        &self,
        input: GetMulticastInput,
    ) -> Result<GetMulticastResponse, HandlerError> {
        let (account, headers) = admit!(self, input, GetMulticastResponse);
        let Some(key) = self.key_of_stream_key(&account, &input.stream_key)? else {
            return Ok(GetMulticastResponse::NotFound(error(KEY_NOT_FOUND), headers));
        };
        let stored = self.store.multicast(&account, &key.id).map_err(HandlerError::internal)?;
        Ok(GetMulticastResponse::Ok(self.multicast_envelope(&key, stored), headers))
    }

    async fn upsert_multicast(
        &self,
        input: UpsertMulticastInput,
    ) -> Result<UpsertMulticastResponse, HandlerError> {
        let (account, headers) = admit!(self, input, UpsertMulticastResponse);
        let Some(key) = self.key_of_stream_key(&account, &input.stream_key)? else {
            return Ok(UpsertMulticastResponse::NotFound(error(KEY_NOT_FOUND), headers));
        };
        let urls: Vec<String> = input.body.multicast_urls.into_iter().map(String::from).collect();
        let stored = StoredMulticast {
            id: multicast_id(&key.id),
            account: account.clone(),
            key_id: key.id.clone(),
            urls: serde_json::to_string(&urls).map_err(HandlerError::internal)?,
        };
        let stored = self.store.upsert_multicast(&stored).await.map_err(HandlerError::internal)?;
        Ok(UpsertMulticastResponse::Ok(self.multicast_envelope(&key, Some(stored)), headers))
    }

    async fn delete_multicast(
        &self,
        input: DeleteMulticastInput,
    ) -> Result<DeleteMulticastResponse, HandlerError> {
        let (account, headers) = admit!(self, input, DeleteMulticastResponse);
        let Some(key) = self.key_of_stream_key(&account, &input.stream_key)? else {
            return Ok(DeleteMulticastResponse::NotFound(error(KEY_NOT_FOUND), headers));
        };
        // Deleting destinations a key does not have leaves it as asked: no destinations.
        self.store.delete_multicast(&account, &key.id).await.map_err(HandlerError::internal)?;
        Ok(DeleteMulticastResponse::Ok(
            message("Live stream multicast deleted successfully"),
            headers,
        ))
    }

    async fn get_streaming_statistic(
        &self,
        input: GetStreamingStatisticInput,
    ) -> Result<GetStreamingStatisticResponse, HandlerError> {
        let (account, headers) = admit!(self, input, GetStreamingStatisticResponse);
        let found = self
            .store
            .streaming_by_id(&account, &input.stream_media_id.to_string())
            .map_err(HandlerError::internal)?;
        let Some(stored) = found else {
            return Ok(GetStreamingStatisticResponse::NotFound(
                error(STREAMING_NOT_FOUND),
                headers,
            ));
        };
        let mut body =
            StreamingStatisticResponse::new(streamings::statistic(&stored, &self.sessions));
        body.status = Some(SUCCESS.to_owned());
        Ok(GetStreamingStatisticResponse::Ok(body, headers))
    }
}
