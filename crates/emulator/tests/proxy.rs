//! `streamspec-conformance`'s validating proxy on 127.0.0.1, in front of the emulator and in front of
//! a deliberately wrong upstream (a small axum server in this file): every violation is found, and
//! nothing that passes through is changed.

use std::path::PathBuf;

use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use futures::StreamExt;
use serde_json::{Value, json};
use streamspec_conformance::Api;
use streamspec_conformance::proxy::{Proxy, ProxyOptions, VIOLATIONS_HEADER};
use streamspec_emulator::{Config, Emulator, RunningEmulator};

struct Proxied {
    proxy: Proxy,
    /// The proxy's origin.
    url: String,
    report: PathBuf,
}

/// A proxy for AIOZ in front of `upstream`, reporting to a file of its own.
async fn proxy(upstream: &str, name: &str, options: ProxyOptions) -> Proxied {
    let report =
        std::env::temp_dir().join(format!("streamspec-proxy-{name}-{}.jsonl", std::process::id()));
    let options = ProxyOptions { report: Some(report.clone()), ..options };
    let proxy = Proxy::new(Api::Aioz, upstream.parse().unwrap(), options).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn({
        let proxy = proxy.clone();
        async move { proxy.serve(listener, std::future::pending()).await }
    });
    Proxied { proxy, url, report }
}

impl Proxied {
    fn reports(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.report).unwrap();
        text.lines().map(|line| serde_json::from_str(line).unwrap()).collect()
    }
}

async fn emulator() -> (RunningEmulator, String) {
    let running =
        Emulator::start(&Config { db: ":memory:".into(), ..Config::default() }).await.unwrap();
    let token = running.credentials().aioz.accounts[0].token.expose().to_owned();
    (running, token)
}

#[tokio::test]
async fn conforming_exchanges_pass_through_unchanged_and_are_not_reported() {
    let (running, token) = emulator().await;
    let proxied = proxy(&running.url(), "clean", ProxyOptions::default()).await;
    let client = streamspec_client::aioz::Client::builder(
        format!("{}/api", proxied.url),
        streamspec_client::aioz::Credentials::bearer(token.as_str()).unwrap(),
    )
    .build()
    .unwrap();
    let body = streamspec_client::aioz::types::CreateLiveStreamKeyRequest::new("proxied".into());
    let key = client.create_live_stream_key().body(body).send().await.unwrap().into_inner().data;
    let key_id: uuid::Uuid = key.id.parse().unwrap();
    client.get_live_stream_key().id(key_id).send().await.unwrap();
    client.list_live_stream_keys().send().await.unwrap();
    client.delete_live_stream_key().id(key_id).send().await.unwrap();

    // The same request, direct and through the proxy: the same status, headers and bytes.
    let http = reqwest::Client::new();
    let fetch = |base: String| {
        let http = http.clone();
        let token = token.clone();
        async move {
            let answer = http
                .get(format!("{base}/api/live_streams"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            let (status, headers) = (answer.status(), answer.headers().clone());
            (status, headers, answer.bytes().await.unwrap())
        }
    };
    let (direct, through) = (fetch(running.url()).await, fetch(proxied.url.clone()).await);
    assert_eq!((direct.0, &direct.2), (through.0, &through.2));
    for name in ["content-type", "x-ratelimit-limit", "x-ratelimit-retry-after"] {
        assert_eq!(direct.1.get(name), through.1.get(name), "{name}");
    }
    assert!(through.1.get(VIOLATIONS_HEADER).is_none());
    let summary = proxied.proxy.summary();
    assert_eq!((summary.exchanges, summary.violations), (5, 0), "{summary:?}");
    assert!(proxied.reports().is_empty());
}

#[tokio::test]
async fn a_request_that_breaks_the_contract_is_reported_and_forwarded_or_refused_with_enforce() {
    let (running, token) = emulator().await;
    let http = reqwest::Client::new();
    let create = |base: &str| {
        http.post(format!("{base}/api/live_streams"))
            .bearer_auth(&token)
            .json(&json!({"name": 5, "save": true}))
            .send()
    };
    let forwarding = proxy(&running.url(), "forwarding", ProxyOptions::default()).await;
    let answer = create(&forwarding.url).await.unwrap();
    assert_eq!(answer.status(), 400, "the emulator's own answer");
    let reports = forwarding.reports();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0]["operation"], "create_live_stream_key");
    assert_eq!(reports[0]["violations"][0]["direction"], "request");
    assert_eq!(reports[0]["violations"][0]["pointer"], "/name");
    assert_eq!(reports[0]["violations"][0]["rule"], "type");
    let journaled = running.controls().journal(Some("create_live_stream_key"), None).len();
    assert_eq!(journaled, 1, "forwarded");

    let enforcing = proxy(
        &running.url(),
        "enforcing",
        ProxyOptions { enforce: true, ..ProxyOptions::default() },
    )
    .await;
    let answer = create(&enforcing.url).await.unwrap();
    assert_eq!(answer.status(), 400);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["status"], "error", "AIOZ's envelope: {body}");
    assert!(body["message"].as_str().unwrap().contains("`name`"), "{body}");
    let journaled = running.controls().journal(Some("create_live_stream_key"), None).len();
    assert_eq!(journaled, 1, "not forwarded");
    assert_eq!(enforcing.reports().len(), 1);
}

/// The valid answer `list_streamings` documents, wrong in one field, gzip-compressed.
fn gzipped_streamings() -> Vec<u8> {
    use std::io::Write;
    let answer = json!({"status": "success", "data": {"media": [{"id": 7}], "total": 1}});
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(answer.to_string().as_bytes()).unwrap();
    encoder.finish().unwrap()
}

/// An upstream that breaks the contract in every way a response can.
async fn wrong_upstream() -> String {
    let key = |headers: HeaderMap| async move {
        assert!(headers.contains_key("authorization"), "the request's headers came through");
        ([("x-custom", "kept")], axum::Json(json!({"data": {"id": 7, "save": "yes"}})))
    };
    let list = || async { (StatusCode::IM_A_TEAPOT, axum::Json(json!({"teapot": true}))) };
    let delete = || async { ([("content-type", "text/plain")], "deleted, probably") };
    let multicast =
        || async { axum::Json(json!({"data": {"live_stream_multicast_urls": "rtmp://a/b"}})) };
    let streamings = || async {
        ([("content-type", "application/json"), ("content-encoding", "gzip")], gzipped_streamings())
    };
    // How the request's body came: its framing headers, and the bytes.
    let echo = |headers: HeaderMap, body: axum::body::Bytes| async move {
        let seen = |name: &str| {
            headers.get(name).map_or("-".to_owned(), |v| v.to_str().unwrap().to_owned())
        };
        let framing = format!("{} {}", seen("content-length"), seen("transfer-encoding"));
        ([("x-framing", framing)], body)
    };
    let router = axum::Router::new()
        .route("/api/live_streams", get(list))
        .route("/api/live_streams/{id}", get(key).delete(delete))
        .route("/api/live_streams/{id}/streamings", get(streamings))
        .route("/api/live_streams/multicast/{stream_key}", get(multicast))
        .route("/api/echo", axum::routing::post(echo))
        .fallback(|| async { "an answer to a path the spec does not have" });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

/// With `--header` the proxy reads an answer whole before passing it on; without, it streams it
/// through and checks the copy: both find the same.
#[tokio::test]
async fn every_violation_of_a_wrong_upstream_is_found_and_its_answers_pass_unchanged() {
    let upstream = wrong_upstream().await;
    for header in [true, false] {
        wrong_upstream_through(&upstream, header).await;
    }
}

async fn wrong_upstream_through(upstream: &str, header: bool) {
    let name = if header { "wrong-header" } else { "wrong-streamed" };
    let proxied = proxy(upstream, name, ProxyOptions { header, ..ProxyOptions::default() }).await;
    let http = reqwest::Client::new();
    let id = "0b5c9f2e-6a55-4c1e-9a52-1f0d8a4b7c31";
    let stream_key = "9d2f7a61-stream-key-SECRET";
    let token = "token-SECRET";
    let calls = [
        (reqwest::Method::GET, format!("/api/live_streams/{id}")),
        (reqwest::Method::GET, "/api/live_streams".to_owned()),
        (reqwest::Method::DELETE, format!("/api/live_streams/{id}")),
        (reqwest::Method::GET, format!("/api/live_streams/multicast/{stream_key}")),
        (reqwest::Method::GET, format!("/api/live_streams/{id}/streamings")),
        (reqwest::Method::GET, "/api/elsewhere".to_owned()),
    ];
    for (method, path) in &calls {
        let direct = http
            .request(method.clone(), format!("{upstream}{path}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let through = http
            .request(method.clone(), format!("{}{path}", proxied.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(direct.status(), through.status(), "{path}");
        assert_eq!(direct.headers().get("x-custom"), through.headers().get("x-custom"), "{path}");
        assert_eq!(through.headers().contains_key(VIOLATIONS_HEADER), header, "{path}");
        assert_eq!(direct.bytes().await.unwrap(), through.bytes().await.unwrap(), "{path}");
    }

    let reports = proxied.reports();
    let found: Vec<(Value, Value, Value)> = reports
        .iter()
        .flat_map(|report| {
            report["violations"].as_array().unwrap().iter().map(|violation| {
                (
                    report["operation"].clone(),
                    violation["rule"].clone(),
                    violation["pointer"].clone(),
                )
            })
        })
        .collect();
    let expected = [
        (json!("get_live_stream_key"), json!("type"), json!("/data/id")),
        (json!("get_live_stream_key"), json!("type"), json!("/data/save")),
        (json!("list_live_stream_keys"), json!("undocumented-status"), json!("")),
        (json!("delete_live_stream_key"), json!("json"), json!("")),
        (json!("get_multicast"), json!("type"), json!("/data/live_stream_multicast_urls")),
        // Found in the decoded answer; the client got it compressed, as the upstream sent it.
        (json!("list_streamings"), json!("type"), json!("/data/media/0/id")),
        (Value::Null, json!("undocumented-operation"), json!("")),
    ];
    assert_eq!(found, expected, "{reports:#?}");
    // The path is the operation's template, and no credential is written.
    assert_eq!(reports[3]["path"], "/api/live_streams/multicast/{stream_key}");
    let text = std::fs::read_to_string(&proxied.report).unwrap();
    assert!(!text.contains("SECRET"), "{text}");
    let summary = proxied.proxy.summary();
    assert_eq!((summary.exchanges, summary.violations), (6, 7));
    assert_eq!(summary.by_operation["get_live_stream_key"]["type"], 2);
}

/// A request body streams through with its framing: the upstream sees the client's
/// `content-length`, or its chunks, and the same bytes.
#[tokio::test]
async fn a_request_body_passes_with_its_framing() {
    let upstream = wrong_upstream().await;
    let proxied = proxy(&upstream, "framing", ProxyOptions::default()).await;
    let http = reqwest::Client::new();
    let body = json!({"name": "framed"}).to_string();
    let sized = http.post(format!("{}/api/echo", proxied.url)).body(body.clone()).send();
    let sized = sized.await.unwrap();
    assert_eq!(sized.headers()["x-framing"], format!("{} -", body.len()));
    assert_eq!(sized.text().await.unwrap(), body);
    let chunks =
        futures::stream::iter(["{\"name\": ", "\"chunked\"}"].map(Ok::<_, std::io::Error>));
    let chunked = http
        .post(format!("{}/api/echo", proxied.url))
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(chunked.headers()["x-framing"], "- chunked");
    assert_eq!(chunked.text().await.unwrap(), r#"{"name": "chunked"}"#);
}

/// A client that hangs up in the middle of an answer costs only its own exchange, which is counted
/// as unfinished.
#[tokio::test]
async fn a_client_that_hangs_up_mid_answer_is_counted_as_unfinished() {
    // An upstream whose answer sends its first bytes, then nothing more.
    let stalled = || async {
        let first = futures::stream::once(async { Ok::<_, std::io::Error>("{\"data\": ") });
        axum::body::Body::from_stream(first.chain(futures::stream::pending()))
    };
    let router = axum::Router::new().route("/api/live_streams", get(stalled));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let proxied = proxy(&upstream, "hung-up", ProxyOptions::default()).await;

    let mut answer = reqwest::get(format!("{}/api/live_streams", proxied.url)).await.unwrap();
    assert_eq!(answer.chunk().await.unwrap().unwrap(), "{\"data\": ");
    drop(answer);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while proxied.proxy.summary().unfinished == 0 {
        assert!(std::time::Instant::now() < deadline, "{:?}", proxied.proxy.summary());
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let summary = proxied.proxy.summary();
    assert_eq!((summary.exchanges, summary.unfinished, summary.violations), (1, 1, 0));
}

/// What the proxy answers itself is in the API's envelope and reported: with `--enforce`, a request
/// over its limit (413), and an upstream that does not answer (502). Without `--enforce`, a body
/// over the limit passes unchecked, and the report says so.
#[tokio::test]
async fn the_proxys_own_answers_are_in_the_apis_envelope_and_reported() {
    let (running, token) = emulator().await;
    let http = reqwest::Client::new();
    let create = |base: &str| {
        http.post(format!("{base}/api/live_streams"))
            .bearer_auth(&token)
            .json(&json!({"name": "a name longer than sixteen bytes"}))
            .send()
    };
    let small = ProxyOptions { body_limit: 16, enforce: true, ..ProxyOptions::default() };
    let limited = proxy(&running.url(), "limited", small).await;
    let answer = create(&limited.url).await.unwrap();
    assert_eq!(answer.status(), 413);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["status"], "error", "{body}");
    assert_eq!(limited.reports()[0]["violations"][0]["rule"], "body-limit");

    let small = ProxyOptions { body_limit: 16, ..ProxyOptions::default() };
    let passing = proxy(&running.url(), "passing", small).await;
    let answer = create(&passing.url).await.unwrap();
    assert_eq!(answer.status(), 200, "forwarded");
    let violations = &passing.reports()[0]["violations"];
    assert_eq!(
        (&violations[0]["direction"], &violations[0]["rule"]),
        (&json!("request"), &json!("body-limit"))
    );
    assert_eq!(
        (&violations[1]["direction"], &violations[1]["rule"]),
        (&json!("response"), &json!("body-limit"))
    );

    // A port that was just free: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let unreachable =
        proxy(&format!("http://{closed}"), "unreachable", ProxyOptions::default()).await;
    let answer = http
        .get(format!("{}/api/live_streams", unreachable.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 502);
    let body: Value = answer.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("did not answer"), "{body}");
    assert!(!body.to_string().contains("/api/live_streams"), "no path: {body}");
    assert_eq!(unreachable.reports()[0]["violations"][0]["rule"], "upstream");
}

/// A TLS front on 127.0.0.1 for the emulator, with a certificate for `localhost` made here: its
/// origin and the certificate to trust.
async fn tls_front(plain: std::net::SocketAddr) -> (String, reqwest::Certificate) {
    use tokio_rustls::rustls;
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let trusted = reqwest::Certificate::from_der(certified.cert.der()).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("https://localhost:{}", listener.local_addr().unwrap().port());
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A handshake the client gave up on ends here.
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let mut emulator = tokio::net::TcpStream::connect(plain).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut emulator).await;
            });
        }
    });
    (origin, trusted)
}

/// An `https` upstream is reached through rustls, as the client reaches the vendors, and its
/// certificate is verified: trusted, the exchanges pass; not trusted, the proxy answers 502.
#[tokio::test]
async fn an_https_upstream_is_reached_over_tls_and_verified() {
    let (running, token) = emulator().await;
    let (origin, trusted) = tls_front(running.address()).await;
    let report = |name: &str| {
        std::env::temp_dir().join(format!("streamspec-proxy-{name}-{}.jsonl", std::process::id()))
    };
    let serve = |proxy: Proxy| async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { proxy.serve(listener, std::future::pending()).await });
        url
    };
    let options = ProxyOptions { report: Some(report("tls")), ..ProxyOptions::default() };
    let trusting = reqwest::Client::builder().tls_certs_merge([trusted]);
    let proxy = Proxy::with_client(Api::Aioz, origin.parse().unwrap(), options, trusting).unwrap();
    let url = serve(proxy.clone()).await;
    let client = streamspec_client::aioz::Client::builder(
        format!("{url}/api"),
        streamspec_client::aioz::Credentials::bearer(token.as_str()).unwrap(),
    )
    .build()
    .unwrap();
    let body = streamspec_client::aioz::types::CreateLiveStreamKeyRequest::new("over tls".into());
    let key = client.create_live_stream_key().body(body).send().await.unwrap().into_inner().data;
    client.get_live_stream_key().id(key.id.parse::<uuid::Uuid>().unwrap()).send().await.unwrap();
    let summary = proxy.summary();
    assert_eq!((summary.exchanges, summary.violations), (2, 0), "{summary:?}");
    assert_eq!(running.controls().journal(Some("create_live_stream_key"), None).len(), 1);

    let options = ProxyOptions { report: Some(report("untrusted")), ..ProxyOptions::default() };
    let untrusting = Proxy::new(Api::Aioz, origin.parse().unwrap(), options).unwrap();
    let url = serve(untrusting).await;
    let answer = reqwest::Client::new()
        .get(format!("{url}/api/live_streams"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 502, "an unknown certificate is refused");
    assert_eq!(running.controls().journal(Some("list_live_stream_keys"), None).len(), 0);
}

/// A client whose request body breaks off (it declared 100 bytes and sent 13) gets the API's 400
/// from the proxy, the report names the request, and nothing reaches the emulator's store.
#[tokio::test]
async fn a_request_body_that_breaks_off_is_answered_400_and_reported() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (running, token) = emulator().await;
    let proxied = proxy(&running.url(), "broken-off", ProxyOptions::default()).await;
    let address = proxied.url.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /api/live_streams HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {token}\r\n\
         content-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"name\": \"cut"
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.shutdown().await.unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("\"status\":\"error\""), "AIOZ's envelope: {answer}");
    let report = &proxied.reports()[0];
    assert_eq!(report["violations"][0]["direction"], "request", "{report}");
    assert_eq!(report["violations"][0]["rule"], "broke-off", "{report}");
    assert_eq!(running.controls().journal(Some("create_live_stream_key"), None).len(), 0);
}
