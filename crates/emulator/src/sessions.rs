//! The live publishing sessions of both APIs: what `list_sessions` answers, and how a session is
//! ended from outside its connection (`end_session`, a replacing publisher, a deleted key or
//! application, a reset).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use streamspec_server::emulator::types::{
    AudioTrack, IngestSession, IngestSessionApi, IngestSessionTransport, VideoTrack,
};
use streamspec_server::types::chrono::{DateTime, Utc};
use streamspec_server::types::uuid::Uuid;
use tokio::sync::Notify;

/// One live session. The connection that publishes holds it too, and counts into it.
pub(crate) struct LiveSession {
    pub id: Uuid,
    pub api: IngestSessionApi,
    pub transport: IngestSessionTransport,
    pub application: String,
    /// The stream key without its query; for AIOZ, the key's `stream_key` (a credential, so never
    /// logged and not in `Debug`).
    pub stream_key: String,
    pub live_stream_key_id: Option<Uuid>,
    pub publisher: String,
    pub started_at: DateTime<Utc>,
    pub published: bool,
    pub bytes: AtomicU64,
    pub audio_messages: AtomicU64,
    pub video_messages: AtomicU64,
    pub key_frames: AtomicU64,
    pub tracks: Mutex<Tracks>,
    /// The AIOZ streaming that went live with this session, which its end ends.
    pub streaming: OnceLock<String>,
    /// Woken when the session is ended from outside: its connection then closes.
    ended: Notify,
}

/// What the publisher's metadata and first media messages say it sends.
#[derive(Debug, Default, Clone)]
pub(crate) struct Tracks {
    pub video: Option<VideoTrack>,
    pub audio: Option<AudioTrack>,
    pub encoder: Option<String>,
    /// The audio bitrate the metadata gives, in Kbps.
    pub audio_kbps: Option<u32>,
}

impl std::fmt::Debug for LiveSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveSession")
            .field("id", &self.id)
            .field("api", &self.api)
            .field("application", &self.application)
            .field("publisher", &self.publisher)
            .finish_non_exhaustive()
    }
}

impl LiveSession {
    pub(crate) fn new(
        id: Uuid,
        api: IngestSessionApi,
        transport: IngestSessionTransport,
        application: &str,
        stream_key: &str,
        publisher: String,
        published: bool,
    ) -> Self {
        Self {
            id,
            api,
            transport,
            application: application.to_owned(),
            stream_key: stream_key.to_owned(),
            live_stream_key_id: None,
            publisher,
            started_at: Utc::now(),
            published,
            bytes: AtomicU64::new(0),
            audio_messages: AtomicU64::new(0),
            video_messages: AtomicU64::new(0),
            key_frames: AtomicU64::new(0),
            tracks: Mutex::default(),
            streaming: OnceLock::new(),
            ended: Notify::new(),
        }
    }

    /// What the session has measured so far: the bytes, the frame rate (the metadata's, else video
    /// messages over the time since the start) and the audio bitrate the metadata gives.
    pub(crate) fn measured(&self) -> crate::store::Measured {
        let bytes = i64::try_from(self.bytes.load(Ordering::Relaxed)).unwrap_or(i64::MAX);
        let tracks = self.tracks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let seconds = self.live_for().as_secs_f64();
        let counted = self.video_messages.load(Ordering::Relaxed) as f64;
        let frame_rate = tracks
            .video
            .as_ref()
            .and_then(|video| video.frame_rate)
            .filter(|rate| rate.is_finite() && *rate > 0.0)
            .unwrap_or(if seconds > 0.0 { counted / seconds } else { 0.0 });
        crate::store::Measured {
            bytes,
            frame_rate,
            audio_kbps: tracks.audio_kbps.map_or(0, i64::from),
        }
    }

    /// How long the session has been live.
    pub(crate) fn live_for(&self) -> std::time::Duration {
        (Utc::now() - self.started_at).to_std().unwrap_or_default()
    }

    /// Resolves once the session has been ended from outside (at once if it already was).
    pub(crate) async fn ended(&self) {
        self.ended.notified().await;
    }

    fn report(&self) -> IngestSession {
        let count = |counter: &AtomicU64| {
            i64::try_from(counter.load(Ordering::Relaxed)).unwrap_or(i64::MAX)
        };
        let mut session = IngestSession::new(
            self.api,
            self.application.clone(),
            count(&self.audio_messages),
            count(&self.bytes),
            self.id,
            count(&self.key_frames),
            self.published,
            self.publisher.clone(),
            self.started_at,
            self.stream_key.clone(),
            self.transport,
            count(&self.video_messages),
        );
        let tracks = self.tracks.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
        session.live_stream_key_id = self.live_stream_key_id;
        session.video = tracks.video;
        session.audio = tracks.audio;
        session.encoder = tracks.encoder;
        session
    }
}

/// Every live session, by id.
#[derive(Debug, Default)]
pub(crate) struct LiveSessions {
    live: Mutex<HashMap<Uuid, Arc<LiveSession>>>,
}

impl LiveSessions {
    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Arc<LiveSession>>> {
        self.live.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The live session with this id.
    pub(crate) fn get(&self, id: Uuid) -> Option<Arc<LiveSession>> {
        self.live().get(&id).cloned()
    }

    /// Adds a session.
    pub(crate) fn start(&self, session: Arc<LiveSession>) {
        self.live().insert(session.id, session);
    }

    /// Adds an AIOZ session, replacing (and ending) the one live on the same key: an encoder that
    /// reconnects after a network failure takes its key back at once.
    pub(crate) fn start_replacing(&self, session: Arc<LiveSession>) -> Option<Uuid> {
        let mut live = self.live();
        let replaced = live
            .values()
            .find(|other| other.api == session.api && other.stream_key == session.stream_key)
            .cloned();
        if let Some(replaced) = &replaced {
            live.remove(&replaced.id);
            replaced.ended.notify_one();
        }
        live.insert(session.id, session);
        replaced.map(|replaced| replaced.id)
    }

    /// Ends a session from outside: removed, and its connection told to close. `false` when no
    /// session has this id.
    pub(crate) fn end(&self, id: Uuid) -> bool {
        let ended = self.live().remove(&id);
        ended.map(|session| session.ended.notify_one()).is_some()
    }

    /// Removes a session whose publisher has gone, unless another publisher replaced it already.
    pub(crate) fn finished(&self, session: &LiveSession) {
        let mut live = self.live();
        if live.get(&session.id).is_some_and(|kept| std::ptr::eq(kept.as_ref(), session)) {
            live.remove(&session.id);
        }
    }

    /// Ends every session that `matches`, answering their ids.
    pub(crate) fn end_where(&self, matches: impl Fn(&LiveSession) -> bool) -> Vec<Uuid> {
        let mut live = self.live();
        let ids: Vec<Uuid> =
            live.values().filter(|session| matches(session)).map(|session| session.id).collect();
        for id in &ids {
            if let Some(session) = live.remove(id) {
                session.ended.notify_one();
            }
        }
        ids
    }

    /// The live sessions, oldest first.
    pub(crate) fn list(&self) -> Vec<IngestSession> {
        let mut sessions: Vec<Arc<LiveSession>> = self.live().values().cloned().collect();
        sessions.sort_by_key(|session| (session.started_at, session.id));
        sessions.iter().map(|session| session.report()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(key: &str) -> Arc<LiveSession> {
        Arc::new(LiveSession::new(
            Uuid::new_v4(),
            IngestSessionApi::Aioz,
            IngestSessionTransport::Rtmp,
            "live",
            key,
            "127.0.0.1:1".to_owned(),
            true,
        ))
    }

    #[tokio::test]
    async fn a_second_publisher_of_a_key_replaces_the_first_and_ends_it() {
        let sessions = LiveSessions::default();
        let first = session("k");
        sessions.start(first.clone());
        let second = session("k");
        assert_eq!(sessions.start_replacing(second.clone()), Some(first.id));
        // The first connection learns it has ended even though it was not waiting yet.
        tokio::time::timeout(std::time::Duration::from_secs(1), first.ended()).await.unwrap();
        // Its late disconnect does not remove the session that replaced it.
        sessions.finished(&first);
        let listed: Vec<Uuid> = sessions.list().iter().map(|session| session.id).collect();
        assert_eq!(listed, [second.id]);
        assert!(sessions.end(second.id));
        assert!(!sessions.end(second.id));
        assert!(sessions.list().is_empty());
    }

    #[test]
    fn debug_shows_no_stream_key() {
        let shown = format!("{:?}", session("9d2f7a61-secret"));
        assert!(!shown.contains("9d2f7a61"), "{shown}");
    }
}
