//! An RTMP publisher for tests, on `rml_rtmp`'s client session: the in-process stand-in for an
//! encoder (the ffmpeg tests use the real one).

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::rml_amf0::Amf0Value;
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult,
    PublishRequestType, StreamMetadata,
};
use rml_rtmp::time::RtmpTimestamp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a test waits for any one answer.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A connection whose publish was accepted.
pub struct Publisher {
    stream: TcpStream,
    session: ClientSession,
    timestamp: u32,
}

/// Connects, completes the handshake and answers the bytes left over after it.
pub async fn handshake(address: SocketAddr) -> (TcpStream, Vec<u8>) {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let mut handshake = Handshake::new(PeerType::Client);
    stream.write_all(&handshake.generate_outbound_p0_and_p1().unwrap()).await.unwrap();
    let mut buffer = vec![0; 8192];
    loop {
        let read = tokio::time::timeout(PATIENCE, stream.read(&mut buffer)).await.unwrap().unwrap();
        assert!(read > 0, "the server closed the connection during the handshake");
        match handshake.process_bytes(&buffer[..read]).unwrap() {
            HandshakeProcessResult::InProgress { response_bytes } => {
                stream.write_all(&response_bytes).await.unwrap();
            }
            HandshakeProcessResult::Completed { response_bytes, remaining_bytes } => {
                stream.write_all(&response_bytes).await.unwrap();
                return (stream, remaining_bytes);
            }
        }
    }
}

/// Publishes `stream_name` (with any query) to `application` (with any query): the publisher, or
/// the refusal's description (the RTMP status the server sent, or how the connection ended).
pub async fn publish(
    address: SocketAddr,
    application: &str,
    stream_name: &str,
) -> Result<Publisher, String> {
    let (stream, remaining) = handshake(address).await;
    let (session, _) = ClientSession::new(ClientSessionConfig::new()).unwrap();
    let mut publisher = Publisher { stream, session, timestamp: 0 };
    let results = publisher.session.handle_input(&remaining).unwrap();
    publisher.send(results).await?;
    let connect = publisher.session.request_connection(application.to_owned()).unwrap();
    publisher.send(vec![connect]).await?;
    publisher
        .wait_for(|event| matches!(event, ClientSessionEvent::ConnectionRequestAccepted))
        .await?;
    let publish = publisher
        .session
        .request_publishing(stream_name.to_owned(), PublishRequestType::Live)
        .unwrap();
    publisher.send(vec![publish]).await?;
    publisher.wait_for(|event| matches!(event, ClientSessionEvent::PublishRequestAccepted)).await?;
    Ok(publisher)
}

impl Publisher {
    async fn send(&mut self, results: Vec<ClientSessionResult>) -> Result<(), String> {
        for result in results {
            if let ClientSessionResult::OutboundResponse(packet) = result {
                self.stream.write_all(&packet.bytes).await.map_err(|error| error.to_string())?;
            }
        }
        Ok(())
    }

    /// Reads until an event `wanted` matches; a refusal (`code: description`) or the end of the
    /// connection is an error.
    async fn wait_for(
        &mut self,
        wanted: impl Fn(&ClientSessionEvent) -> bool,
    ) -> Result<(), String> {
        let mut buffer = vec![0; 8192];
        loop {
            let read = tokio::time::timeout(PATIENCE, self.stream.read(&mut buffer))
                .await
                .map_err(|_| "no answer".to_owned())?
                .map_err(|error| error.to_string())?;
            if read == 0 {
                return Err("closed".to_owned());
            }
            let results = self.session.handle_input(&buffer[..read]).map_err(|e| e.to_string())?;
            let mut refused = None;
            let mut found = false;
            let mut outbound = Vec::new();
            for result in results {
                match result {
                    ClientSessionResult::RaisedEvent(event) if wanted(&event) => found = true,
                    ClientSessionResult::RaisedEvent(
                        ClientSessionEvent::UnhandleableOnStatusCode { code },
                    ) => refused = Some(code),
                    ClientSessionResult::RaisedEvent(
                        ClientSessionEvent::ConnectionRequestRejected { description },
                    ) => refused = Some(description),
                    // A refused `publish` is its `_error` result: an object with code and description.
                    ClientSessionResult::RaisedEvent(
                        ClientSessionEvent::UnknownTransactionResultReceived {
                            additional_values,
                            ..
                        },
                    ) => refused = Some(status(&additional_values)),
                    other => outbound.push(other),
                }
            }
            self.send(outbound).await?;
            if found {
                return Ok(());
            }
            if let Some(refusal) = refused {
                return Err(refusal);
            }
        }
    }

    /// Sends metadata (320x240 H.264 at 25 fps, AAC at 44.1 kHz mono), then `frames` video
    /// messages (the first a key frame) and as many audio messages, of `bytes` bytes each.
    pub async fn send_media(&mut self, frames: u32, bytes: usize) -> Result<(), String> {
        if self.timestamp == 0 {
            let mut metadata = StreamMetadata::new();
            metadata.video_width = Some(320);
            metadata.video_height = Some(240);
            metadata.video_codec_id = Some(7);
            metadata.video_frame_rate = Some(25.0);
            metadata.audio_codec_id = Some(10);
            metadata.audio_sample_rate = Some(44100);
            metadata.audio_channels = Some(1);
            metadata.encoder = Some("streamspec-test".to_owned());
            let result = self.session.publish_metadata(&metadata).unwrap();
            self.send(vec![result]).await?;
        }
        for frame in 0..frames {
            let mut video = vec![0u8; bytes.max(5)];
            // H.264 (7), a key frame (1) first and inter frames (2) after; an AVC NALU packet.
            video[0] = if frame == 0 && self.timestamp == 0 { 0x17 } else { 0x27 };
            video[1] = 1;
            let timestamp = RtmpTimestamp::new(self.timestamp);
            let result =
                self.session.publish_video_data(Bytes::from(video), timestamp, false).unwrap();
            self.send(vec![result]).await?;
            let mut audio = vec![0u8; bytes.max(2)];
            // AAC (10), 44 kHz, 16-bit, stereo flag; a raw AAC frame.
            audio[0] = 0xaf;
            audio[1] = 1;
            let result =
                self.session.publish_audio_data(Bytes::from(audio), timestamp, false).unwrap();
            self.send(vec![result]).await?;
            self.timestamp += 40;
        }
        Ok(())
    }

    /// Sends bytes as they are, in the middle of the chunk stream; a connection the server has
    /// closed is not an error here.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes).await;
    }

    /// Whether the server closes the connection within [`PATIENCE`] (reading and dropping what
    /// it sends until then).
    pub async fn closed(&mut self) -> bool {
        closed(&mut self.stream).await
    }
}

/// Whether the server closes `stream` within [`PATIENCE`].
pub async fn closed(stream: &mut TcpStream) -> bool {
    let mut buffer = vec![0; 8192];
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// `code: description` of an RTMP status object.
fn status(values: &[Amf0Value]) -> String {
    let text =
        |properties: &std::collections::HashMap<String, Amf0Value>, name: &str| match properties
            .get(name)
        {
            Some(Amf0Value::Utf8String(text)) => text.clone(),
            _ => String::new(),
        };
    match values.first() {
        Some(Amf0Value::Object(properties)) => {
            format!("{}: {}", text(properties, "code"), text(properties, "description"))
        }
        other => format!("an error without a status object: {other:?}"),
    }
}
