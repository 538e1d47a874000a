//! `cargo xtask bench ingest [--seconds N] [--publishers A,B,C]`: RTMP publishers on loopback against
//! the emulator and against nginx with its RTMP module, in one run, printed as one table.
//!
//! ffmpeg encodes 10 s of a test pattern and a tone (H.264 and AAC at 2 Mbit/s in all, constant
//! bitrate) into `target/bench/ingest/source.flv` once; its audio and video tags are what every
//! publisher sends, in a loop, each at its timestamp, for N seconds (default 30). For each count of
//! publishers (default 50, 200, 500), each server is started afresh and that many publishers connect
//! at once to `live/<n>`, where a local endpoint allows each publish: the emulator asks it through
//! Storm's `request` authorization of `live`, nginx through `on_publish`. The table gives the
//! publishers still held at the end, the server's CPU seconds (user and system, every process of
//! it) per GB its publishers sent, and the time from connecting to the accepted publish.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult, PublishRequestType,
};
use rml_rtmp::time::RtmpTimestamp;

use crate::bench::{free_port, request, wait_for};
use crate::ci::cargo;

/// Where Debian's `libnginx-mod-rtmp` puts the module.
const NGINX_RTMP_MODULE: &str = "/usr/lib/nginx/modules/ngx_rtmp_module.so";
/// The source's length; publishers loop it.
const SOURCE_SECONDS: u32 = 10;
const API_KEY: &str = "bench-api-key";
/// How long a server may take to start listening.
const START_WITHIN: Duration = Duration::from_secs(30);

/// One FLV tag a publisher sends.
struct Tag {
    video: bool,
    timestamp_ms: u32,
    data: bytes::Bytes,
}

/// What one publisher saw.
#[derive(Debug, Clone, Copy)]
struct Outcome {
    /// From starting to connect to the accepted publish; `None` when it was refused or failed.
    accepted_after: Option<Duration>,
    /// Whether it was still publishing when its time was up.
    held: bool,
    bytes: u64,
}

/// One server and publisher count, a line of the table.
struct Line {
    server: &'static str,
    publishers: usize,
    held: usize,
    bytes: u64,
    cpu_seconds: f64,
    p50: Option<Duration>,
    p99: Option<Duration>,
}

pub fn run(seconds: u64, counts: &[usize]) -> Result<bool> {
    let root = crate::project_root();
    for (command, version, package) in
        [("ffmpeg", "-version", "ffmpeg"), ("nginx", "-v", "nginx libnginx-mod-rtmp")]
    {
        if !Command::new(command).arg(version).output().is_ok_and(|out| out.status.success()) {
            bail!("`{command}` is not installed; on Debian or Ubuntu: `apt-get install {package}`");
        }
    }
    if !Path::new(NGINX_RTMP_MODULE).exists() {
        bail!(
            "nginx's RTMP module is not installed; on Debian or Ubuntu: `apt-get install libnginx-mod-rtmp`"
        );
    }
    cargo(&["build", "--release", "--locked", "-p", "streamspec-emulator"])?;
    let dir = root.join("target/bench/ingest");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let tags = Arc::new(source_tags(&dir)?);
    let source_bytes: u64 = tags.iter().map(|tag| tag.data.len() as u64).sum();
    let bitrate = source_bytes as f64 * 8.0 / f64::from(SOURCE_SECONDS) / 1e6;
    println!("bench: the source is {} tags, {bitrate:.2} Mbit/s", tags.len());
    let auth = allow_everything()?;

    let mut lines = Vec::new();
    for &publishers in counts {
        for server in ["emulator", "nginx-rtmp"] {
            let mut running = match server {
                "emulator" => Running::emulator(&root, &dir, auth)?,
                _ => Running::nginx(&dir, auth)?,
            };
            println!("bench: {publishers} publishers for {seconds} s against {server}");
            let before = running.cpu_seconds()?;
            let outcomes = publish_all(running.rtmp, publishers, &tags, seconds)?;
            let after = running.cpu_seconds()?;
            running.stop();
            let mut latencies: Vec<Duration> =
                outcomes.iter().filter_map(|outcome| outcome.accepted_after).collect();
            latencies.sort();
            let line = Line {
                server,
                publishers,
                held: outcomes.iter().filter(|outcome| outcome.held).count(),
                bytes: outcomes.iter().map(|outcome| outcome.bytes).sum(),
                cpu_seconds: after - before,
                p50: percentile(&latencies, 50),
                p99: percentile(&latencies, 99),
            };
            println!(
                "bench: {server}, {publishers}: {} held, {:.2} CPU s per GB",
                line.held,
                per_gb(&line)
            );
            lines.push(line);
        }
    }
    let table = render(&lines, seconds, bitrate);
    println!("\n{table}");
    std::fs::write(dir.join("results.md"), &table)?;
    println!("bench: the table is also in target/bench/ingest/results.md");
    Ok(true)
}

fn per_gb(line: &Line) -> f64 {
    if line.bytes == 0 { f64::INFINITY } else { line.cpu_seconds / (line.bytes as f64 / 1e9) }
}

/// The `percent`th percentile of sorted `values` (nearest rank).
fn percentile(values: &[Duration], percent: usize) -> Option<Duration> {
    let rank = (values.len() * percent).div_ceil(100).max(1);
    values.get(rank - 1).copied()
}

fn render(lines: &[Line], seconds: u64, bitrate: f64) -> String {
    let ms = |value: Option<Duration>| {
        value.map_or("-".to_owned(), |value| format!("{:.1}", value.as_secs_f64() * 1000.0))
    };
    let mut out = format!(
        "Ingest run on loopback: each publisher sends the same {bitrate:.2} Mbit/s of FLV tags (H.264 \
         and AAC) for {seconds} s, all starting at once; the publishers and the server share the \
         machine. CPU is the server's, every process and thread, user and system.\n\n\
         | publishers | server | held at the end | CPU s per GB ingested | connect to accepted, p50 / p99 ms | emulator ÷ nginx CPU per GB |\n\
         | --- | --- | --- | --- | --- | --- |\n"
    );
    for pair in lines.chunks(2) {
        for line in pair {
            let ratio = match (line.server, pair) {
                ("nginx-rtmp", [ours, theirs]) => format!("{:.2}", per_gb(ours) / per_gb(theirs)),
                _ => String::new(),
            };
            out.push_str(&format!(
                "| {} | {} | {} | {:.2} | {} / {} | {ratio} |\n",
                line.publishers,
                line.server,
                line.held,
                per_gb(line),
                ms(line.p50),
                ms(line.p99)
            ));
        }
    }
    out
}

/// Encodes the source once and reads its audio and video tags.
fn source_tags(dir: &Path) -> Result<Vec<Tag>> {
    let path = dir.join("source.flv");
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size=640x360:rate=25:duration={SOURCE_SECONDS}"))
        .args(["-f", "lavfi", "-i"])
        .arg(format!("sine=frequency=440:duration={SOURCE_SECONDS}"))
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-g", "50", "-b:v", "1872k"])
        .args(["-minrate", "1872k", "-maxrate", "1872k", "-bufsize", "1872k"])
        .args(["-x264-params", "nal-hrd=cbr:filler=1", "-c:a", "aac", "-b:a", "128k", "-f", "flv"])
        .arg(&path)
        .status()
        .context("running ffmpeg")?;
    if !status.success() {
        bail!("ffmpeg could not encode the source");
    }
    flv_tags(&std::fs::read(&path)?)
}

/// The audio (8) and video (9) tags of an FLV file.
fn flv_tags(flv: &[u8]) -> Result<Vec<Tag>> {
    if flv.len() < 13 || &flv[..3] != b"FLV" {
        bail!("not an FLV file");
    }
    let mut tags = Vec::new();
    let mut at = usize::try_from(u32::from_be_bytes(flv[5..9].try_into()?))? + 4;
    while at + 11 <= flv.len() {
        let kind = flv[at];
        let size = usize::from(flv[at + 1]) << 16
            | usize::from(flv[at + 2]) << 8
            | usize::from(flv[at + 3]);
        let timestamp = u32::from(flv[at + 4]) << 16
            | u32::from(flv[at + 5]) << 8
            | u32::from(flv[at + 6])
            | u32::from(flv[at + 7]) << 24;
        let data = flv.get(at + 11..at + 11 + size).context("a truncated FLV tag")?;
        if kind == 8 || kind == 9 {
            let data = bytes::Bytes::copy_from_slice(data);
            tags.push(Tag { video: kind == 9, timestamp_ms: timestamp, data });
        }
        at += 11 + size + 4;
    }
    Ok(tags)
}

/// A local endpoint that answers 200 to every request: what allows each publish, for both servers.
fn allow_everything() -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || answer_200(stream));
        }
    });
    Ok(address)
}

/// Reads one request (its head and its `Content-Length` body) and answers 200.
fn answer_200(mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut request = Vec::new();
    let mut buffer = [0; 4096];
    loop {
        let Ok(read) = stream.read(&mut buffer) else { return };
        if read == 0 {
            return;
        }
        request.extend_from_slice(&buffer[..read]);
        let text = String::from_utf8_lossy(&request);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .unwrap_or(0usize);
            if body.len() >= length {
                break;
            }
        }
    }
    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
}

/// A server under load.
struct Running {
    child: Child,
    rtmp: SocketAddr,
}

impl Running {
    fn emulator(root: &Path, dir: &Path, auth: SocketAddr) -> Result<Self> {
        let (http, rtmp) = (free_port()?, free_port()?);
        let config = dir.join("emulator.toml");
        std::fs::write(
            &config,
            format!(
                "rtmp_listen = \"{rtmp}\"\nrtmp_max_connections = 5000\n\
                 publish_attempts_per_minute = 1000000\n\n[storm]\napi_key = \"{API_KEY}\"\n\
                 max_sessions_per_application = 5000\n"
            ),
        )?;
        let binary = root.join("target/release/streamspec-emulator");
        let child = Command::new(&binary)
            .args(["--listen", &http.to_string(), "--db", ":memory:", "--config"])
            .arg(&config)
            .env("STREAMSPEC_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let running = Self { child, rtmp };
        wait_for(http, START_WITHIN)?;
        wait_for(rtmp, START_WITHIN)?;
        // `live` asks the local endpoint about each publish, as nginx's `on_publish` does.
        let body = format!(
            r#"{{"data": {{"attributes": {{"authorizationEnabled": true, "authType": "request", "requestURL": "http://{auth}/on_publish", "allowStreamOverwrite": true}}}}}}"#
        );
        let path = "PATCH /api/applications/live/settings/ingest";
        let (status, answer) = request(http, path, &format!("X-Api-Key: {API_KEY}"), &body)?;
        if !status.starts_with("HTTP/1.1 200") {
            bail!("setting `live`'s ingest settings failed: {status} {answer}");
        }
        Ok(running)
    }

    fn nginx(dir: &Path, auth: SocketAddr) -> Result<Self> {
        let rtmp = free_port()?;
        let prefix = dir.join("nginx");
        std::fs::create_dir_all(&prefix)?;
        let config = prefix.join("nginx.conf");
        std::fs::write(
            &config,
            format!(
                "load_module {NGINX_RTMP_MODULE};\ndaemon off;\nworker_processes auto;\n\
                 pid {pid};\nerror_log {log} warn;\nevents {{ worker_connections 8192; }}\n\
                 rtmp {{\n  server {{\n    listen {rtmp};\n    chunk_size 4096;\n\
                 \x20   application live {{\n      live on;\n      on_publish http://{auth}/on_publish;\n\
                 \x20   }}\n  }}\n}}\n",
                pid = prefix.join("nginx.pid").display(),
                log = prefix.join("error.log").display(),
            ),
        )?;
        let child = Command::new("nginx")
            .arg("-p")
            .arg(&prefix)
            .arg("-e")
            .arg(prefix.join("error.log"))
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting nginx")?;
        let running = Self { child, rtmp };
        wait_for(rtmp, START_WITHIN)?;
        Ok(running)
    }

    /// The CPU time of the server's process and its children, user and system, in seconds.
    fn cpu_seconds(&self) -> Result<f64> {
        let ticks = clock_ticks()?;
        let mut total = 0u64;
        let mut pids = vec![self.child.id()];
        while let Some(pid) = pids.pop() {
            total += process_ticks(pid)?;
            let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
                .unwrap_or_default();
            pids.extend(children.split_whitespace().filter_map(|child| child.parse::<u32>().ok()));
        }
        Ok(total as f64 / ticks)
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // nginx's workers outlive a killed master only until they see it gone.
        std::thread::sleep(Duration::from_millis(300));
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// User and system clock ticks of a process (`/proc/<pid>/stat` fields 14 and 15).
fn process_ticks(pid: u32) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name is in parentheses and may hold spaces; the fields after it are plain.
    let after = stat.rsplit_once(')').context("a /proc stat line")?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |index: usize| -> Result<u64> {
        Ok(fields.get(index).context("a /proc stat field")?.parse()?)
    };
    // Field 14 of the line is the 12th after the name (state is the 1st).
    Ok(field(11)? + field(12)?)
}

fn clock_ticks() -> Result<f64> {
    let output = Command::new("getconf").arg("CLK_TCK").output().context("running getconf")?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().parse()?)
}

/// `count` publishers at once, each on a thread of its own.
fn publish_all(
    address: SocketAddr,
    count: usize,
    tags: &Arc<Vec<Tag>>,
    seconds: u64,
) -> Result<Vec<Outcome>> {
    let start = Arc::new(std::sync::Barrier::new(count));
    let threads: Vec<_> = (0..count)
        .map(|index| {
            let (tags, start) = (tags.clone(), start.clone());
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    start.wait();
                    publisher(address, &format!("bench-{index}"), &tags, seconds)
                })
                .context("starting a publisher thread")
        })
        .collect::<Result<_>>()?;
    Ok(threads.into_iter().map(|thread| thread.join().unwrap_or(FAILED)).collect())
}

const FAILED: Outcome = Outcome { accepted_after: None, held: false, bytes: 0 };

/// One publisher: connect, publish `live/<stream>`, send the tags at their times for `seconds`.
fn publisher(address: SocketAddr, stream: &str, tags: &[Tag], seconds: u64) -> Outcome {
    let started = Instant::now();
    let Ok(mut connection) = Connection::publish(address, stream) else { return FAILED };
    let accepted_after = Some(started.elapsed());
    let mut outcome = Outcome { accepted_after, held: false, bytes: 0 };
    let media_start = Instant::now();
    let end = Duration::from_secs(seconds);
    let loop_ms = SOURCE_SECONDS * 1000;
    for round in 0.. {
        for tag in tags {
            let timestamp = round * loop_ms + tag.timestamp_ms;
            let due = Duration::from_millis(u64::from(timestamp));
            if due >= end {
                outcome.held = true;
                return outcome;
            }
            if let Some(wait) = due.checked_sub(media_start.elapsed()) {
                std::thread::sleep(wait);
            }
            match connection.send_tag(tag, timestamp) {
                Ok(sent) => outcome.bytes += sent,
                Err(_) => return outcome,
            }
        }
    }
    outcome
}

/// A publishing client on `rml_rtmp`'s client session.
struct Connection {
    stream: TcpStream,
    session: ClientSession,
}

impl Connection {
    fn publish(address: SocketAddr, stream_key: &str) -> Result<Self> {
        let mut stream = TcpStream::connect(address)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut handshake = Handshake::new(PeerType::Client);
        stream.write_all(&handshake.generate_outbound_p0_and_p1()?)?;
        let mut buffer = vec![0; 8192];
        let remaining = loop {
            let read = stream.read(&mut buffer)?;
            if read == 0 {
                bail!("closed during the handshake");
            }
            match handshake.process_bytes(&buffer[..read])? {
                HandshakeProcessResult::InProgress { response_bytes } => {
                    stream.write_all(&response_bytes)?;
                }
                HandshakeProcessResult::Completed { response_bytes, remaining_bytes } => {
                    stream.write_all(&response_bytes)?;
                    break remaining_bytes;
                }
            }
        };
        let (session, _) = ClientSession::new(ClientSessionConfig::new())?;
        let mut connection = Self { stream, session };
        let results = connection.session.handle_input(&remaining)?;
        connection.send(results)?;
        let connect = connection.session.request_connection("live".to_owned())?;
        connection.send(vec![connect])?;
        connection.until(|event| matches!(event, ClientSessionEvent::ConnectionRequestAccepted))?;
        let publish = connection
            .session
            .request_publishing(stream_key.to_owned(), PublishRequestType::Live)?;
        connection.send(vec![publish])?;
        connection.until(|event| matches!(event, ClientSessionEvent::PublishRequestAccepted))?;
        Ok(connection)
    }

    fn send(&mut self, results: Vec<ClientSessionResult>) -> Result<u64> {
        let mut sent = 0;
        for result in results {
            if let ClientSessionResult::OutboundResponse(packet) = result {
                self.stream.write_all(&packet.bytes)?;
                sent += packet.bytes.len() as u64;
            }
        }
        Ok(sent)
    }

    fn until(&mut self, wanted: impl Fn(&ClientSessionEvent) -> bool) -> Result<()> {
        let mut buffer = vec![0; 8192];
        loop {
            let read = self.stream.read(&mut buffer)?;
            if read == 0 {
                bail!("closed before the answer");
            }
            let mut found = false;
            let mut outbound = Vec::new();
            for result in self.session.handle_input(&buffer[..read])? {
                match result {
                    ClientSessionResult::RaisedEvent(event) if wanted(&event) => found = true,
                    ClientSessionResult::RaisedEvent(
                        ClientSessionEvent::UnknownTransactionResultReceived { .. }
                        | ClientSessionEvent::ConnectionRequestRejected { .. }
                        | ClientSessionEvent::UnhandleableOnStatusCode { .. },
                    ) => bail!("refused"),
                    other => outbound.push(other),
                }
            }
            self.send(outbound)?;
            if found {
                return Ok(());
            }
        }
    }

    fn send_tag(&mut self, tag: &Tag, timestamp: u32) -> Result<u64> {
        let timestamp = RtmpTimestamp::new(timestamp);
        let result = if tag.video {
            self.session.publish_video_data(tag.data.clone(), timestamp, false)?
        } else {
            self.session.publish_audio_data(tag.data.clone(), timestamp, false)?
        };
        self.send(vec![result])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_flv_tags() {
        // A header, then a video tag of 3 bytes at 40 ms and a script tag, each with its back pointer.
        let mut flv = b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00".to_vec();
        flv.extend([9, 0, 0, 3, 0, 0, 40, 0, 0, 0, 0, 0x17, 1, 2, 0, 0, 0, 14]);
        flv.extend([18, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 12]);
        let tags = flv_tags(&flv).unwrap();
        assert_eq!(tags.len(), 1);
        assert!(tags[0].video);
        assert_eq!(tags[0].timestamp_ms, 40);
        assert_eq!(&tags[0].data[..], &[0x17, 1, 2]);
        assert!(flv_tags(b"GIF89a").is_err());
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&values, 50), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&values, 99), Some(Duration::from_millis(99)));
        assert_eq!(percentile(&values[..1], 99), Some(Duration::from_millis(1)));
        assert_eq!(percentile(&[], 50), None);
    }
}
