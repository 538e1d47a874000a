//! Run with: cargo run -p streamspec-server --example aioz_server
//!
//! A minimal AIOZ live stream keys server: create and get, in memory, on 127.0.0.1:8081. The other
//! operations answer 501 through the trait's defaults. Try it:
//! `curl -H 'Authorization: Bearer dev' -H 'content-type: application/json' -d '{"name":"test"}' http://127.0.0.1:8081/api/live_streams`

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use streamspec_server::aioz::types::{ErrorResponse, LiveStreamKey, LiveStreamType};
use streamspec_server::aioz::{types::LiveStreamKeyResponse as Found, *};
use streamspec_server::types::chrono::{SecondsFormat, Utc};
use streamspec_server::types::uuid::Uuid;
use streamspec_server::{HandlerError, async_trait, axum};

const LIMITS: ResponseHeaders = ResponseHeaders {
    x_rate_limit_limit: 100,
    x_rate_limit_remaining: 100,
    x_rate_limit_retry_after: 60,
};

#[derive(Default)]
struct Keys(Mutex<HashMap<Uuid, LiveStreamKey>>);

#[async_trait]
impl LiveStreamsApi for Keys {
    async fn create_live_stream_key(
        &self,
        input: CreateLiveStreamKeyInput,
    ) -> Result<CreateLiveStreamKeyResponse, HandlerError> {
        let (id, now) = (Uuid::new_v4(), Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true));
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
        key.created_at = Some(now.clone());
        key.updated_at = Some(now);
        self.0.lock().unwrap().insert(id, key.clone());
        let data = Found::success(key);
        Ok(CreateLiveStreamKeyResponse::Ok(data, LIMITS))
    }

    async fn get_live_stream_key(
        &self,
        input: GetLiveStreamKeyInput,
    ) -> Result<GetLiveStreamKeyResponse, HandlerError> {
        let Some(key) = self.0.lock().unwrap().get(&input.id).cloned() else {
            let error = ErrorResponse::with_message("not found");
            return Ok(GetLiveStreamKeyResponse::NotFound(error, LIMITS));
        };
        Ok(GetLiveStreamKeyResponse::Ok(Found::success(key), LIMITS))
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8081").await?;
    println!("AIOZ live stream keys on http://{}/api", listener.local_addr()?);
    axum::serve(listener, router(Arc::new(Keys::default()))).await
}
