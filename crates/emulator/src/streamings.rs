//! AIOZ's streamings: how an encoder's publish and disconnect move a streaming from `created` to
//! `live` to `ended`, and how a stored streaming and its live session become what the API answers.
//!
//! A streaming is stored in SQLite; while it is live, its figures (time live, bytes, frame rate) come
//! from the live session publishing to it, and when that session ends they are stored with it.

use streamspec_server::aioz::types::{
    Media, MediaAssets, MediaMetadata, MediaQuality, QualityContainerType, QualityResolution,
    QualityType, Streaming, StreamingAssets, StreamingQuality, StreamingStatistic, StreamingStatus,
};
use streamspec_server::types::chrono::{DateTime, Utc};
use streamspec_server::types::uuid::Uuid;

use crate::control::Control;
use crate::sessions::{LiveSession, LiveSessions};
use crate::store::{Measured, RECORDING_STATUS, Storage, StoredStreaming, now};

/// The qualities of a streaming created without any, as the vendor's OpenAPI states them.
pub(crate) fn default_qualities() -> Vec<StreamingQuality> {
    [QualityResolution::X1080p, QualityResolution::X720p, QualityResolution::X360p]
        .into_iter()
        .map(|resolution| {
            StreamingQuality::new(QualityContainerType::Mpegts, resolution, QualityType::Hls)
        })
        .collect()
}

/// Why `qualities` are refused, naming the field at fault: a container its packaging does not take.
/// The spec holds the same rule (`x-validation-only`); this answers it when validation is off too.
pub(crate) fn refused_qualities(qualities: &[StreamingQuality]) -> Option<String> {
    qualities.iter().enumerate().find_map(|(index, quality)| {
        let fits = match quality.type_ {
            QualityType::Hls => matches!(
                quality.container_type,
                QualityContainerType::Mpegts | QualityContainerType::Mp4
            ),
            QualityType::Dash => quality.container_type == QualityContainerType::Fmp4,
        };
        (!fits).then(|| {
            format!(
                "qualities[{index}].container_type: `{}` is not a container of `{}` (hls takes mpegts or mp4, dash takes fmp4)",
                quality.container_type, quality.type_
            )
        })
    })
}

/// An encoder's publish to a key was accepted: the key's streaming that has not ended goes live with
/// this session. Called before the session is started, so that a session it replaces, ending, finds
/// the streaming taken over already.
pub(crate) async fn publisher_arrived(store: &dyn Storage, key_id: &str, session: &LiveSession) {
    // A read first: a publish to a key without a streaming costs no write.
    match store.open_streaming(key_id) {
        Ok(true) => {}
        Ok(false) => {
            tracing::debug!(session = %session.id, "a publish to a key without a streaming to go live");
            return;
        }
        Err(error) => return tracing::error!(%error, "a streaming could not go live"),
    }
    match store.streaming_live(key_id, &session.id.to_string(), &now()).await {
        Ok(Some(streaming)) => {
            tracing::info!(%streaming, session = %session.id, "streaming live");
            let _ = session.streaming.set(streaming);
        }
        Ok(None) => {}
        Err(error) => tracing::error!(%error, "a streaming could not go live"),
    }
}

/// An encoder's session ended: its streaming ends, keeping what the session measured.
pub(crate) async fn publisher_gone(store: &dyn Storage, session: &LiveSession) {
    let Some(streaming) = session.streaming.get() else { return };
    let media = Uuid::new_v4().to_string();
    let (id, at, measured) = (session.id.to_string(), now(), session.measured());
    match store.streaming_ended(streaming, &id, &at, measured, &media).await {
        Ok(true) => tracing::info!(%streaming, session = %session.id, "streaming ended"),
        Ok(false) => {}
        Err(error) => tracing::error!(%error, "a streaming could not be ended"),
    }
}

/// What a streaming has measured: from its live session while live, as stored once ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Figures {
    pub measured: Measured,
    /// Time live, in milliseconds.
    pub live_ms: i64,
}

impl Figures {
    pub(crate) fn of(stored: &StoredStreaming, sessions: &LiveSessions) -> Self {
        let parse = |at: &Option<String>| {
            at.as_deref().and_then(|at| DateTime::parse_from_rfc3339(at).ok()).map(|at| at.to_utc())
        };
        let live = stored
            .session_id
            .as_deref()
            .and_then(|id| id.parse::<Uuid>().ok())
            .and_then(|id| sessions.get(id));
        let started = parse(&stored.started_at);
        // A live session's bytes add to those of the sessions it took the streaming over from.
        let measured = match &live {
            Some(session) => {
                let now = session.measured();
                Measured { bytes: stored.bytes.saturating_add(now.bytes), ..now }
            }
            None => Measured {
                bytes: stored.bytes,
                frame_rate: stored.frame_rate,
                audio_kbps: stored.audio_kbps,
            },
        };
        let until = parse(&stored.ended_at).unwrap_or_else(Utc::now);
        let live_ms = match started {
            Some(started) if stored.status != "created" => {
                (until - started).num_milliseconds().max(0)
            }
            _ => 0,
        };
        Self { measured, live_ms }
    }

    /// The encoder's bitrate over the time live, in Kbps.
    pub(crate) fn bitrate_kbps(&self) -> f64 {
        if self.live_ms <= 0 {
            return 0.0;
        }
        self.measured.bytes as f64 * 8.0 / self.live_ms as f64
    }

    fn frame_rate(&self) -> i64 {
        self.measured.frame_rate.round() as i64
    }
}

/// The stored qualities; a value that does not read (it never should) counts as none.
fn qualities(stored: &StoredStreaming) -> Vec<StreamingQuality> {
    serde_json::from_str(&stored.qualities).unwrap_or_default()
}

fn status(stored: &StoredStreaming) -> StreamingStatus {
    stored.status.parse().unwrap_or(StreamingStatus::Created)
}

/// A streaming with every field the spec describes; `kind` is its key's type.
pub(crate) fn streaming(
    stored: &StoredStreaming,
    kind: &str,
    sessions: &LiveSessions,
    control: &Control,
) -> Streaming {
    let figures = Figures::of(stored, sessions);
    let id = &stored.id;
    let mut assets = StreamingAssets::new();
    assets.hls_url = Some(control.placeholder_url(id, "hls/manifest.m3u8"));
    assets.player_url = Some(control.placeholder_url(id, "player"));
    assets.iframe = Some(iframe(&control.placeholder_url(id, "player")));
    assets.thumbnail_url = Some(control.placeholder_url(id, "thumbnail.jpg"));
    let qualities = qualities(stored);
    let mut streaming = Streaming::new(id.clone());
    streaming.live_stream_key_id = Some(stored.key_id.clone());
    streaming.user_id = Some(stored.account.clone());
    streaming.title = Some(stored.title.clone());
    streaming.status = Some(status(stored).into());
    streaming.save = Some(stored.save);
    streaming.qualities =
        Some(qualities.iter().map(|quality| quality.resolution.to_string()).collect());
    streaming.type_ = Some(kind.to_owned());
    streaming.duration = Some(figures.live_ms);
    streaming.frame_rate = Some(figures.frame_rate());
    streaming.audio_bitrate = Some(figures.measured.audio_kbps);
    streaming.current_view = Some(0);
    streaming.total_view = Some(0);
    streaming.assets = Some(assets);
    streaming.media = stored
        .media_id
        .as_deref()
        .map(|media_id| media(stored, media_id, &qualities, &figures, control));
    streaming.created_at = Some(stored.created_at.clone());
    streaming.updated_at = Some(stored.updated_at.clone());
    streaming
}

fn iframe(player: &str) -> String {
    format!(
        r#"<iframe src="{player}" width="100%" height="100%" frameborder="0" allowfullscreen></iframe>"#
    )
}

/// The recording of an ended streaming: its renditions are the qualities asked for, encoded as
/// their configs say, else as the vendor's documentation shows (H.264 and AAC at the input's rates).
fn media(
    stored: &StoredStreaming,
    media_id: &str,
    qualities: &[StreamingQuality],
    figures: &Figures,
    control: &Control,
) -> Media {
    let audio_bps = figures.measured.audio_kbps * 1000;
    let video_bps = ((figures.bitrate_kbps() * 1000.0) as i64 - audio_bps).max(0);
    let renditions = qualities
        .iter()
        .map(|quality| {
            let video = quality.video_config.as_ref();
            let audio = quality.audio_config.as_ref();
            let mut rendition = MediaQuality::new();
            rendition.name = Some(quality.resolution.to_string());
            rendition.status = Some(RECORDING_STATUS.to_owned());
            rendition.type_ = Some(quality.type_.to_string());
            rendition.video_codec = Some(
                video.and_then(|v| v.codec.as_ref()).map_or("h264".to_owned(), |c| c.to_string()),
            );
            rendition.video_bitrate = Some(video.and_then(|v| v.bitrate).unwrap_or(video_bps));
            rendition.audio_codec = Some(
                audio.and_then(|a| a.codec.as_ref()).map_or("aac".to_owned(), |c| c.to_string()),
            );
            rendition.audio_bitrate = Some(audio.and_then(|a| a.bitrate).unwrap_or(audio_bps));
            rendition
        })
        .collect();
    let mut assets = MediaAssets::new();
    assets.source_url = Some(control.placeholder_url(media_id, "source"));
    assets.hls_url = Some(control.placeholder_url(media_id, "hls/manifest.m3u8"));
    assets.mp4_url = Some(control.placeholder_url(media_id, "video.mp4"));
    assets.thumbnail_url = Some(control.placeholder_url(media_id, "thumbnail.jpg"));
    assets.hls_player_url = Some(control.placeholder_url(media_id, "player"));
    assets.hls_iframe = Some(iframe(&control.placeholder_url(media_id, "player")));
    let mut live_stream_id = MediaMetadata::new();
    live_stream_id.key = Some("live_stream_id".to_owned());
    live_stream_id.value = Some(stored.id.clone());
    let recorded = stored.ended_at.clone().unwrap_or_else(|| stored.updated_at.clone());
    let mut media = Media::new();
    media.id = Some(media_id.to_owned());
    media.user_id = Some(stored.account.clone());
    media.title = Some(stored.title.clone());
    media.description = Some(String::new());
    media.status = Some(RECORDING_STATUS.to_owned());
    media.duration = Some(figures.live_ms as f64 / 1000.0);
    media.size = Some(figures.measured.bytes);
    media.is_public = Some(true);
    media.is_mp4 = Some(false);
    media.view = Some(0);
    media.tags = Some(Vec::new());
    media.metadata = Some(vec![live_stream_id]);
    media.qualities = Some(renditions);
    media.assets = Some(assets);
    media.created_at = Some(recorded.clone());
    media.updated_at = Some(recorded);
    media
}

/// The statistic of a streaming: the ingest's figures, nothing delivered.
pub(crate) fn statistic(stored: &StoredStreaming, sessions: &LiveSessions) -> StreamingStatistic {
    let figures = Figures::of(stored, sessions);
    let mut statistic = StreamingStatistic::new();
    statistic.id = Some(stored.statistic_id.clone());
    statistic.live_stream_media_id = Some(stored.id.clone());
    statistic.fps_in = Some(figures.frame_rate());
    statistic.fps_out = Some(0);
    statistic.bitrate_in = Some(figures.bitrate_kbps());
    statistic.bitrate_out = Some(0.0);
    statistic.data_transferred = Some(figures.measured.bytes as f64 / 1_000_000.0);
    statistic.current_view = Some(0);
    statistic.total_view = Some(0);
    statistic
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quality(
        resolution: QualityResolution,
        kind: QualityType,
        container: QualityContainerType,
    ) -> StreamingQuality {
        StreamingQuality::new(container, resolution, kind)
    }

    #[test]
    fn a_quality_s_container_must_fit_its_packaging() {
        use QualityContainerType::*;
        use QualityResolution::*;
        assert_eq!(refused_qualities(&default_qualities()), None);
        let fitting =
            [quality(X720p, QualityType::Hls, Mp4), quality(X480p, QualityType::Dash, Fmp4)];
        assert_eq!(refused_qualities(&fitting), None);
        let dash_ts = [fitting[0].clone(), quality(X720p, QualityType::Dash, Mpegts)];
        let refused = refused_qualities(&dash_ts).unwrap();
        assert!(refused.starts_with("qualities[1].container_type: `mpegts`"), "{refused}");
    }

    #[test]
    fn the_bitrate_is_the_bytes_over_the_time_live() {
        let figures = Figures {
            measured: Measured { bytes: 1_250_000, frame_rate: 29.97, audio_kbps: 128 },
            live_ms: 4_000,
        };
        // 10 Mbit over 4 s.
        assert_eq!(figures.bitrate_kbps(), 2500.0);
        assert_eq!(figures.frame_rate(), 30);
        assert_eq!(Figures { live_ms: 0, ..figures }.bitrate_kbps(), 0.0);
    }
}
