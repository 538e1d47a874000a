//! Run with: cargo run -p streamspec-server --example aioz_server [-- --listen 127.0.0.1:8081]
//!
//! An AIOZ live stream keys server in memory: all five operations, for any bearer token, key pair or
//! Basic credentials (each caller its own account would be the next step: see the emulator). It
//! listens on `--listen` (default 127.0.0.1:8081; port 0 picks a free one) and prints the address.
//! The client example runs against it:
//!
//! `AIOZ_BASE_URL=http://127.0.0.1:8081/api AIOZ_TOKEN=dev cargo run -p streamspec-client --example aioz_live_stream_keys`

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use streamspec_server::aioz::types::{
    DeleteLiveStreamKeyResponse as Deleted, ErrorResponse, LiveStreamKey, LiveStreamKeyList,
    LiveStreamKeyListResponse, LiveStreamKeyResponse as Found, LiveStreamKeySortBy, LiveStreamType,
    SortOrder,
};
use streamspec_server::aioz::*;
use streamspec_server::types::chrono::{SecondsFormat, Utc};
use streamspec_server::types::uuid::Uuid;
use streamspec_server::{HandlerError, async_trait, axum};

const LIMITS: ResponseHeaders = ResponseHeaders {
    x_rate_limit_limit: 100,
    x_rate_limit_remaining: 100,
    x_rate_limit_retry_after: 60,
};

/// The keys, by id.
#[derive(Debug, Default)]
pub struct Keys(Mutex<BTreeMap<Uuid, LiveStreamKey>>);

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn not_found() -> ErrorResponse {
    ErrorResponse::with_message("live stream key not found")
}

#[async_trait]
impl LiveStreamsApi for Keys {
    async fn create_live_stream_key(
        &self,
        input: CreateLiveStreamKeyInput,
    ) -> Result<CreateLiveStreamKeyResponse, HandlerError> {
        let id = Uuid::new_v4();
        let body = input.body;
        // Every field, as a server should answer: the response schema reads tolerantly, so only
        // `id` is required by the type (`new`); the rest is set by assignment.
        let mut key = LiveStreamKey::new(id.to_string());
        key.user_id = Some("dev".into());
        key.name = Some(body.name);
        key.stream_key = Some(Uuid::new_v4().to_string());
        key.rtmp_url = Some("rtmp://127.0.0.1:1935/live".into());
        key.save = Some(body.save);
        key.type_ = Some(body.type_.unwrap_or(LiveStreamType::Video).into());
        key.created_at = Some(now());
        key.updated_at = key.created_at.clone();
        self.0.lock().unwrap().insert(id, key.clone());
        Ok(CreateLiveStreamKeyResponse::Ok(Found::success(key), LIMITS))
    }

    async fn list_live_stream_keys(
        &self,
        input: ListLiveStreamKeysInput,
    ) -> Result<ListLiveStreamKeysResponse, HandlerError> {
        let mut keys: Vec<LiveStreamKey> = self.0.lock().unwrap().values().cloned().collect();
        if let Some(search) = &input.search {
            keys.retain(|key| {
                key.name.as_deref().is_some_and(|name| name.contains(search.as_str()))
            });
        }
        // RFC 3339 times in UTC sort as text.
        keys.sort_by(|a, b| match input.sort_by {
            LiveStreamKeySortBy::UpdatedAt => a.updated_at.cmp(&b.updated_at),
            LiveStreamKeySortBy::Name | LiveStreamKeySortBy::Title => a.name.cmp(&b.name),
            _ => a.created_at.cmp(&b.created_at),
        });
        if input.order_by == SortOrder::Desc {
            keys.reverse();
        }
        let total = keys.len();
        let page: Vec<LiveStreamKey> = keys
            .into_iter()
            .skip(usize::try_from(input.offset).unwrap_or(0))
            .take(input.limit.get() as usize)
            .collect();
        let mut list = LiveStreamKeyList::new();
        list.live_stream_keys = Some(page);
        list.total = Some(total as i64);
        let mut body = LiveStreamKeyListResponse::new();
        body.status = Some("success".into());
        body.data = Some(list);
        Ok(ListLiveStreamKeysResponse::Ok(body, LIMITS))
    }

    async fn get_live_stream_key(
        &self,
        input: GetLiveStreamKeyInput,
    ) -> Result<GetLiveStreamKeyResponse, HandlerError> {
        match self.0.lock().unwrap().get(&input.id) {
            Some(key) => Ok(GetLiveStreamKeyResponse::Ok(Found::success(key.clone()), LIMITS)),
            None => Ok(GetLiveStreamKeyResponse::NotFound(not_found(), LIMITS)),
        }
    }

    async fn update_live_stream_key(
        &self,
        input: UpdateLiveStreamKeyInput,
    ) -> Result<UpdateLiveStreamKeyResponse, HandlerError> {
        let mut keys = self.0.lock().unwrap();
        let Some(key) = keys.get_mut(&input.id) else {
            return Ok(UpdateLiveStreamKeyResponse::NotFound(not_found(), LIMITS));
        };
        if let Some(name) = input.body.name {
            key.name = Some(name);
        }
        if let Some(save) = input.body.save {
            key.save = Some(save);
        }
        key.updated_at = Some(now());
        Ok(UpdateLiveStreamKeyResponse::Ok(Found::success(key.clone()), LIMITS))
    }

    async fn delete_live_stream_key(
        &self,
        input: DeleteLiveStreamKeyInput,
    ) -> Result<DeleteLiveStreamKeyResponse, HandlerError> {
        if self.0.lock().unwrap().remove(&input.id).is_none() {
            return Ok(DeleteLiveStreamKeyResponse::NotFound(not_found(), LIMITS));
        }
        let mut body = Deleted::new();
        body.status = Some("success".into());
        body.message = Some("live stream key deleted".into());
        Ok(DeleteLiveStreamKeyResponse::Ok(body, LIMITS))
    }
}

/// Serves the keys on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, keys: Arc<Keys>) -> std::io::Result<()> {
    axum::serve(listener, router(keys)).await
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let address = match (args.next().as_deref(), args.next()) {
        (Some("--listen"), Some(address)) => address,
        (None, _) => "127.0.0.1:8081".to_owned(),
        _ => {
            eprintln!("usage: aioz_server [--listen ADDRESS]");
            std::process::exit(2);
        }
    };
    let listener = tokio::net::TcpListener::bind(&address).await?;
    println!("AIOZ live stream keys on http://{}/api", listener.local_addr()?);
    serve(listener, Arc::default()).await
}
