//! Hostile and heavy input against the emulator, each case an assertion: huge, deep, malformed and
//! duplicated bodies, numbers and headers beyond limits, a client that sends its body slowly, races on
//! one key, login storms, a locked database, and a log with no secrets in it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use streamspec_emulator::config::AiozAccount;
use streamspec_emulator::{Config, Emulator};

const TOKEN: &str = "adversarial-token";
const API_KEY: &str = "adversarial-api-key";

fn account() -> AiozAccount {
    AiozAccount {
        user_id: "adversary".into(),
        public_key: "pk_adversary".into(),
        secret_key: "sk_adversary-SECRET".into(),
        token: TOKEN.into(),
    }
}

async fn start(config: Config) -> SocketAddr {
    let emulator = Emulator::new(&config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(emulator.serve(listener, std::future::pending()));
    address
}

fn config(db: std::path::PathBuf) -> Config {
    Config {
        db,
        debug: true,
        rate_limit_per_minute: 1_000_000,
        aioz_accounts: vec![account()],
        storm: streamspec_emulator::config::StormConfig {
            api_key: Some(API_KEY.into()),
            ..Default::default()
        },
        ..Config::default()
    }
}

fn temp_db(name: &str) -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("streamspec-adversarial-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("db.sqlite")
}

/// Sends `head` and `body` as one raw HTTP/1.1 request and reads the answer until the server closes
/// the connection: its status and body. A server may answer before the body is all sent.
fn raw(address: SocketAddr, head: &str, body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body));
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default();
    (status, body)
}

fn post_head(path: &str, length: usize, extra: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {length}\r\nConnection: close\r\n{extra}\r\n"
    )
}

/// Sends the request and reads its answer as JSON.
async fn json_of(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

fn message(body: &str) -> String {
    serde_json::from_str::<Value>(body).unwrap()["message"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_get_a_4xx_that_names_the_problem() {
    let address = start(config(":memory:".into())).await;
    let send = move |body: Vec<u8>| {
        tokio::task::spawn_blocking(move || {
            raw(address, &post_head("/api/live_streams", body.len(), ""), &body)
        })
    };

    let mut huge = b"{\"name\": \"".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 10 * 1024 * 1024));
    huge.extend(b"\"}");
    let (status, body) = send(huge).await.unwrap();
    assert_eq!(
        (status, message(&body).as_str()),
        (413, "the body is larger than the limit of 1048576 bytes")
    );

    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes();
    let (status, body) = send(deep).await.unwrap();
    assert_eq!(status, 400, "{body}");
    let deep_object = format!(
        "{{\"name\": \"x\", \"save\": {}1{}}}",
        "{\"a\":".repeat(10_000),
        "}".repeat(10_000)
    );
    let (status, body) = send(deep_object.into_bytes()).await.unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(message(&body).contains("recursion limit exceeded"), "{body}");

    // The body ends where its value ends: trailing bytes are refused, not stored unchecked.
    let trailing = br#"{"data":{"attributes":{"authorizationEnabled":true}}} x"#;
    let (status, body) = patch_ingest(address, &format!("X-Api-Key: {API_KEY}"), trailing).await;
    assert_eq!(
        (status, message(&body).as_str()),
        (400, "the body is not valid JSON: trailing characters at line 1 column 55")
    );

    // A password in `requestURL` would be answered back and sent on: refused, pointing at `apiKey`.
    let with_password = br#"{"data":{"attributes":{"authorizationEnabled":true,"authType":"request","requestURL":"http://user:pw@127.0.0.1:9/check/${streamKey}"}}}"#;
    let (status, body) =
        patch_ingest(address, &format!("X-Api-Key: {API_KEY}"), with_password).await;
    assert_eq!(status, 400, "{body}");
    assert!(message(&body).starts_with("data.attributes.requestURL: `requestURL` must not carry a username or password: send the authorization service's key as `apiKey`"), "{body}");
    assert!(!body.contains("pw@"), "{body}");

    let (status, body) = send(b"{\"name\": \"\xff\xfe\"}".to_vec()).await.unwrap();
    assert_eq!(status, 400);
    assert!(message(&body).starts_with("the body is not valid JSON"), "{body}");

    let (status, body) = send(br#"{"name": "first", "name": "second"}"#.to_vec()).await.unwrap();
    assert_eq!(
        (status, message(&body).as_str()),
        (400, "body: duplicate field `name` at line 1 column 24")
    );

    // Beyond i64 in a query and in a body.
    let (status, body) = tokio::task::spawn_blocking(move || {
        raw(address, &format!("GET /api/live_streams?limit=99999999999999999999 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"), b"")
    })
    .await
    .unwrap();
    assert_eq!(
        (status, message(&body).as_str()),
        (400, "query parameter `limit`: `99999999999999999999` is not an integer")
    );
    let big = br#"{"data": {"attributes": {"authUsers": [{"token": "t", "expire": 99999999999999999999}]}}}"#;
    let (status, body) = patch_ingest(address, &format!("X-Api-Key: {API_KEY}"), big).await;
    assert_eq!(status, 400, "the layer validates before the handler: {body}");
    assert!(message(&body).starts_with("`data.attributes.authUsers.0`"), "{body}");
    // Without credentials the same body is a 401: nothing about bodies is told to an unknown caller.
    let (status, body) = patch_ingest(address, "", big).await;
    assert_eq!(status, 401, "credentials before bodies: {body}");
    assert!(!body.contains("authUsers"), "{body}");
    // With credentials the server does not accept, the same: a 401 before the body is read.
    let (status, body) = patch_ingest(address, "X-Api-Key: not-the-api-key", big).await;
    assert_eq!((status, message(&body).as_str()), (401, "Invalid or missing token"));
    let (status, body) = send_as(address, "Bearer not-a-token", br#"{"name": 5}"#).await;
    assert_eq!((status, message(&body).as_str()), (401, "invalid credentials"));

    // Headers over the limit: 431 in the envelope, before anything reads them.
    let (status, body) = tokio::task::spawn_blocking(move || {
        let padding = format!("X-Padding: {}\r\n", "p".repeat(streamspec_emulator::MAX_HEADER_BYTES));
        raw(address, &format!("GET /api/live_streams HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n{padding}\r\n"), b"")
    })
    .await
    .unwrap();
    assert_eq!(status, 431);
    assert_eq!(message(&body), "the headers are larger than the limit of 16384 bytes");
}

/// Credentials come before queries and bodies in the server traits too (`authenticate`), not only
/// in the conformance layer: with request validation off, an unknown caller still gets its 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_callers_get_401_before_any_400_without_validation() {
    let address = start(Config { validate_requests: false, ..config(":memory:".into()) }).await;
    let (status, body) = send_as(address, "Bearer not-a-token", br#"{"name": 5}"#).await;
    assert_eq!((status, message(&body).as_str()), (401, "invalid credentials"));
    let (status, body) =
        patch_ingest(address, "X-Api-Key: not-the-api-key", br#"{"data": 5}"#).await;
    assert_eq!((status, message(&body).as_str()), (401, "Invalid or missing token"));
    let query = "GET /api/live_streams?limit=zero HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer not-a-token\r\nConnection: close\r\n\r\n";
    let (status, _) = tokio::task::spawn_blocking(move || raw(address, query, b"")).await.unwrap();
    assert_eq!(status, 401);
    // Known callers still get the 400 that names the field.
    let (status, body) = send_as(address, &format!("Bearer {TOKEN}"), br#"{"name": 5}"#).await;
    assert_eq!(status, 400, "{body}");
    assert!(message(&body).contains("name"), "{body}");
}

/// Heads hyper cannot parse (a bad request line, a target over 64 KiB, more than 100 headers, or
/// more bytes than its buffer) are answered with their status in the envelope of the API the request
/// line names, and the connection is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unparseable_heads_are_answered_in_the_envelope() {
    let address = start(config(":memory:".into())).await;
    let many_headers: String = (0..120).map(|index| format!("X-H{index}: v\r\n")).collect();
    let huge_header = format!("X-Padding: {}\r\n", "p".repeat(512 * 1024));
    let long_target = format!("/api/live_streams?search={}", "q".repeat(70_000));
    let cases = [
        ("GET /api/live_streams HTTP/9.9\r\nHost: x\r\n\r\n".to_owned(), 400, "aioz"),
        ("G\x01T /api/applications HTTP/1.1\r\nHost: x\r\n\r\n".to_owned(), 400, "storm"),
        ("GET /api/applications HTTP/1.1\r\nHost x\r\n\r\n".to_owned(), 400, "storm"),
        (format!("GET {long_target} HTTP/1.1\r\nHost: x\r\n\r\n"), 414, "aioz"),
        (format!("GET /api/live_streams HTTP/1.1\r\nHost: x\r\n{many_headers}\r\n"), 431, "aioz"),
        (format!("GET /api/applications HTTP/1.1\r\nHost: x\r\n{huge_header}\r\n"), 431, "storm"),
    ];
    for (head, expected, api) in cases {
        let (status, body) =
            tokio::task::spawn_blocking(move || raw(address, &head, b"")).await.unwrap();
        assert_eq!(status, expected, "{api}: {body}");
        let body: Value =
            serde_json::from_str(&body).unwrap_or_else(|_| panic!("{expected}: `{body}`"));
        assert!(!body["message"].as_str().unwrap().is_empty(), "{body}");
        let envelope_of_aioz = body["status"] == "error";
        assert_eq!(envelope_of_aioz, api == "aioz", "{expected}: {body}");
    }
    // The connection after a normal answer is not taken for one of these.
    let get = format!(
        "GET /api/live_streams HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
    );
    let (status, _) = tokio::task::spawn_blocking(move || raw(address, &get, b"")).await.unwrap();
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_body_is_cut_off_by_the_read_timeout() {
    let address = start(Config { request_timeout_secs: 1, ..config(":memory:".into()) }).await;
    let answer = tokio::task::spawn_blocking(move || {
        let body = br#"{"name": "slow"}"#;
        let mut stream = TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream.write_all(post_head("/api/live_streams", body.len(), "").as_bytes()).unwrap();
        let started = Instant::now();
        // One byte every 300 ms: the whole body would take about 5 s.
        for byte in body {
            if stream.write_all(&[*byte]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(300));
            if started.elapsed() > Duration::from_secs(3) {
                break;
            }
        }
        let mut answer = Vec::new();
        let closed = stream.read_to_end(&mut answer).is_ok();
        (String::from_utf8_lossy(&answer).into_owned(), closed, started.elapsed())
    })
    .await
    .unwrap();
    let (text, closed, elapsed) = answer;
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("the request took longer than 1 s"), "{text}");
    assert!(closed, "the server closed the connection");
    assert!(
        elapsed < Duration::from_secs(5),
        "cut off after the timeout, not after the body: {elapsed:?}"
    );
}

/// Partial updates of different fields at once, each made from its own read of the settings: every
/// one lands, none undoes another that committed first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_partial_updates_of_ingest_settings_lose_nothing() {
    let mut config = config(temp_db("ingest-race"));
    config.storm.api_key = Some("race-api-key".into());
    let address = start(config).await;
    let http = reqwest::Client::new();
    let url = format!("http://{address}/api/applications/live/settings/ingest");
    // Each round flips three fields, eight requests per field, all at once, each request naming only
    // its own field; a lost update leaves a field where another request's stale read had it.
    const FIELDS: [&str; 3] = ["allowStreamIngest", "autoStreamPublish", "allowStreamOverwrite"];
    for round in 0..20 {
        let value = round % 2 == 1;
        let patches =
            FIELDS.into_iter().flat_map(|field| std::iter::repeat_n(field, 8)).map(|field| {
                let (http, url) = (http.clone(), url.clone());
                async move {
                    let response = http
                        .patch(&url)
                        .header("X-Api-Key", "race-api-key")
                        .json(&json!({"data": {"attributes": {field: value}}}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
                }
            });
        futures::future::join_all(patches).await;
        let settings = json_of(
            http.get(format!("http://{address}/api/applications/live/settings"))
                .header("X-Api-Key", "race-api-key"),
        )
        .await;
        let attributes = &settings["data"]["ingestSettings"]["attributes"];
        for field in FIELDS {
            assert_eq!(attributes[field]["value"], value, "round {round}: {field} in {attributes}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_concurrent_updates_of_one_key_lose_nothing() {
    let address = start(config(temp_db("updates"))).await;
    let http = reqwest::Client::new();
    let base = format!("http://{address}/api/live_streams");
    let created =
        json_of(http.post(&base).bearer_auth(TOKEN).json(&json!({"name": "original"}))).await;
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    let updates = (0..500usize).map(|n| {
        let http = http.clone();
        let url = format!("{base}/{id}");
        async move {
            let name = format!("writer-{n}");
            let response = http
                .put(&url)
                .bearer_auth(TOKEN)
                .json(&json!({"name": name, "save": n.is_multiple_of(2)}))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap();
            (name, status, body)
        }
    });
    let results = futures::future::join_all(updates).await;
    for (name, status, body) in &results {
        assert_eq!(*status, 200, "{body}");
        assert_eq!(body["data"]["name"], *name, "each update answers its own write");
    }
    let last = json_of(http.get(format!("{base}/{id}")).bearer_auth(TOKEN)).await;
    let final_name = last["data"]["name"].as_str().unwrap();
    let number: usize = final_name.strip_prefix("writer-").unwrap().parse().unwrap();
    assert_eq!(
        last["data"]["save"],
        number.is_multiple_of(2),
        "name and save come from the same write"
    );
    let (_, _, answered) = results.iter().find(|(name, _, _)| name == final_name).unwrap();
    assert_eq!(last["data"], answered["data"], "the final state is exactly one write's answer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_storm_gets_five_attempts_a_minute() {
    let address = start(config(":memory:".into())).await;
    let http = reqwest::Client::new();
    let url = format!("http://{address}/api/auth/login");
    let attempts = (0..60).map(|n| {
        let http = http.clone();
        let url = url.clone();
        async move {
            let password = if n % 3 == 0 { "wrong-password" } else { "also-wrong" };
            let response = http
                .post(&url)
                .json(&json!({"username": "admin", "password": password}))
                .send()
                .await
                .unwrap();
            let retry_after = response
                .headers()
                .get("retry-after")
                .map(|value| value.to_str().unwrap().parse::<u64>().unwrap());
            (response.status().as_u16(), retry_after)
        }
    });
    let answers = futures::future::join_all(attempts).await;
    let counted = answers.iter().filter(|(status, _)| *status != 429).count();
    assert_eq!(counted, 5, "{answers:?}");
    for (status, retry_after) in answers {
        match status {
            401 => assert_eq!(retry_after, None),
            429 => assert!(retry_after.is_some_and(|seconds| (1..=60).contains(&seconds))),
            other => panic!("{other}"),
        }
    }
}

/// A test suite that logs in per test raises the login limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_limit_is_configurable() {
    let mut config = config(":memory:".into());
    config.login_attempts_per_minute = 20;
    let address = start(config).await;
    let http = reqwest::Client::new();
    let url = format!("http://{address}/api/auth/login");
    let mut statuses = Vec::new();
    for _ in 0..21 {
        let body = json!({"username": "admin", "password": "wrong-password"});
        statuses.push(http.post(&url).json(&body).send().await.unwrap().status().as_u16());
    }
    assert!(statuses[..20].iter().all(|status| *status == 401), "{statuses:?}");
    assert_eq!(statuses[20], 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_database_delays_requests_but_fails_none() {
    locked_for(Duration::from_millis(700)).await;
}

/// A lock held for seconds, past SQLite's default busy timeout, delays the waiting writes rather than
/// failing them, as long as the request time limit allows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_locked_for_seconds_still_fails_no_write() {
    locked_for(Duration::from_secs(6)).await;
}

/// Another process holds a write transaction for `held` while 200 requests arrive; every one is
/// answered 200 once it commits, and every create is written.
async fn locked_for(held: Duration) {
    let db = temp_db(&format!("busy-{}", held.as_millis()));
    let address = start(config(db.clone())).await;
    let http = reqwest::Client::new();
    let base = format!("http://{address}/api/live_streams");
    let other = rusqlite::Connection::open(&db).unwrap();
    other
        .execute_batch("BEGIN IMMEDIATE; INSERT INTO settings (name, value) VALUES ('lock', '1');")
        .unwrap();
    let load = (0..200).map(|n| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let response = if n % 2 == 0 {
                http.post(&base)
                    .bearer_auth(TOKEN)
                    .json(&json!({"name": format!("k{n}")}))
                    .send()
                    .await
            } else {
                http.get(&base).bearer_auth(TOKEN).send().await
            };
            response.unwrap().status().as_u16()
        }
    });
    let load = tokio::spawn(futures::future::join_all(load));
    tokio::time::sleep(held).await;
    other.execute_batch("COMMIT;").unwrap();
    let statuses = load.await.unwrap();
    assert!(statuses.iter().all(|status| *status == 200), "{statuses:?}");
    let listed = json_of(http.get(format!("{base}?limit=1")).bearer_auth(TOKEN)).await;
    assert_eq!(listed["data"]["total"], 100, "every create was written");
}

/// The real binary at the most verbose log level, sent every kind of secret: none reaches its log.
#[test]
#[cfg(unix)] // stopped with SIGTERM
fn no_secret_reaches_the_log() {
    let db = temp_db("log");
    let config_path = db.with_file_name("config.toml");
    std::fs::write(
        &config_path,
        r#"
[[aioz_accounts]]
user_id = "logged"
public_key = "pk_logged"
secret_key = "sk-SECRET-1"
token = "token-SECRET-2"

[storm]
api_key = "apikey-SECRET-3"
[[storm.users]]
username = "admin"
password = "password-SECRET-4"
"#,
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_streamspec-emulator"))
        .args(["--listen", "127.0.0.1:0", "--rtmp-listen", "127.0.0.1:0", "--debug", "--db"])
        .arg(&db)
        .arg("--config")
        .arg(&config_path)
        .env("STREAMSPEC_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut banner = BufReader::new(child.stdout.take().unwrap()).lines();
    let address = banner
        .by_ref()
        .map(Result::unwrap)
        .find_map(|line| {
            line.strip_prefix("streamspec-emulator listening on ")
                .map(|rest| rest.split_whitespace().next().unwrap().to_owned())
        })
        .unwrap();
    std::thread::spawn(move || banner.for_each(drop));
    let stderr = child.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut text = String::new();
        BufReader::new(stderr).read_to_string(&mut text).unwrap();
        text
    });

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let http = reqwest::Client::new();
        let get = |path: &str| http.get(format!("{address}{path}"));
        get("/api/live_streams").bearer_auth("token-SECRET-2").send().await.unwrap();
        get("/api/live_streams").header("stream-public-key", "pk_logged").header("stream-secret-key", "sk-SECRET-1").send().await.unwrap();
        get("/api/live_streams").basic_auth("pk_logged", Some("sk-SECRET-1")).send().await.unwrap();
        get("/api/live_streams").bearer_auth("wrong-SECRET-5").send().await.unwrap();
        let login = http
            .post(format!("{address}/api/auth/login"))
            .json(&json!({"username": "admin", "password": "password-SECRET-4"}))
            .send()
            .await
            .unwrap();
        let jwt = login.json::<Value>().await.unwrap()["data"]["accessToken"].as_str().unwrap().to_owned();
        http.post(format!("{address}/api/auth/login"))
            .json(&json!({"username": "admin", "password": "guess-SECRET-6"}))
            .send()
            .await
            .unwrap();
        let patch = |body: Value| {
            http.patch(format!("{address}/api/applications/live/settings/ingest"))
                .header("X-Api-Key", "apikey-SECRET-3")
                .json(&body)
                .send()
        };
        patch(json!({"data": {"attributes": {"authorizationEnabled": true, "authType": "local",
            "authUsers": [{"username": "u", "password": "userpw-SECRET-7"}, {"token": "usertoken-SECRET-8"}]}}})).await.unwrap();
        // Rejected bodies are where a careless server echoes its input.
        patch(json!({"data": {"attributes": {"authType": "local", "authUsers": [{"username": "u", "password": "mixed-SECRET-9", "token": "x"}]}}})).await.unwrap();
        patch(json!({"data": {"attributes": {"apiKey": 12, "requestURL": "requestkey-SECRET-10"}}})).await.unwrap();
        http.get(format!("{address}/api/applications/live/settings")).bearer_auth(&jwt).send().await.unwrap();
        get("/api/live_streams?limit=0").bearer_auth("token-SECRET-2").send().await.unwrap();
        http.post(format!("{address}/_emulator/applications/live/publish"))
            .json(&json!({"streamKey": "cam", "credentials": {"type": "credentials", "username": "u", "password": "publish-SECRET-11"}}))
            .send()
            .await
            .unwrap();
        http.post(format!("{address}/_emulator/applications/live/publish"))
            .json(&json!({"streamKey": "cam", "credentials": {"type": "token", "token": "publishtoken-SECRET-12", "extra": 1}}))
            .send()
            .await
            .unwrap();
    });
    // SIGTERM, as a user stopping it would: the log is written by a thread of its own, and a graceful
    // stop flushes it, down to the last line.
    let stopped = Command::new("kill").arg(child.id().to_string()).status().unwrap();
    assert!(stopped.success());
    assert!(child.wait().unwrap().success());
    let log = log.join().unwrap();
    assert!(log.lines().count() >= 14, "the log has a line per request:\n{log}");
    assert!(log.trim_end().ends_with("stopped"), "the log is flushed on a graceful stop:\n{log}");
    // A refused request's line says why, and every line carries the query.
    let refused = log.lines().find(|line| line.contains("limit=0")).expect("the query is logged");
    assert!(refused.contains("status=400"), "{refused}");
    assert!(refused.contains("reason=") && refused.contains("`limit`"), "{refused}");
    assert!(!log.contains("SECRET"), "a secret reached the log:\n{log}");
    assert!(!log.contains("eyJ"), "a JWT reached the log:\n{log}");
}

/// A `fileURL` naming a FIFO or a device blocks nothing: the attempts are denied at once (nothing
/// is read from it) and a read beside them is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_or_a_device_as_the_authorization_file_blocks_nothing() {
    let address = start(config(":memory:".into())).await;
    let fifo = temp_db("fifo").with_file_name("keys.fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success(), "mkfifo");
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    for path in [fifo.to_str().unwrap(), "/dev/zero"] {
        let settings = json!({"data": {"attributes": {
            "authorizationEnabled": true, "authType": "file", "fileURL": path}}});
        let updated = http
            .patch(format!("http://{address}/api/applications/live/settings/ingest"))
            .header("x-api-key", API_KEY)
            .json(&settings)
            .send()
            .await
            .unwrap();
        assert_eq!(updated.status(), 200, "{path}");
        let publish = || {
            json_of(
                http.post(format!("http://{address}/_emulator/applications/live/publish"))
                    .json(&json!({"streamKey": "cam", "credentials": {
                    "type": "credentials", "username": "admin", "password": "qwerty123"}})),
            )
        };
        let read = http.get(format!("http://{address}/api/live_streams")).bearer_auth(TOKEN).send();
        let (first, second, read) = tokio::join!(publish(), publish(), read);
        for decision in [first, second] {
            assert_eq!(decision["reason"], "authorization_unavailable", "{path}: {decision}");
        }
        assert_eq!(read.unwrap().status(), 200, "{path}");
    }
}

/// Unauthenticated attempts with new stream keys stop at the configured ceiling of live sessions:
/// past it they are denied `session_limit`, and ending a session makes room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_flood_stops_at_the_session_limit() {
    let mut config = config(":memory:".into());
    config.storm.max_sessions = 40;
    let address = start(config).await;
    let http = reqwest::Client::new();
    let publish = |key: String| {
        json_of(
            http.post(format!("http://{address}/_emulator/applications/live/publish"))
                .json(&json!({"streamKey": key, "credentials": {"type": "none"}})),
        )
    };
    let mut allowed = Vec::new();
    for n in 0..60 {
        let decision = publish(format!("flood-{n}")).await;
        match decision["decision"].as_str() {
            Some("allow") => allowed.push(decision["sessionId"].as_str().unwrap().to_owned()),
            _ => assert_eq!(decision["reason"], "session_limit", "attempt {n}: {decision}"),
        }
    }
    assert_eq!(allowed.len(), 40);
    let ended = http
        .delete(format!("http://{address}/_emulator/sessions/{}", allowed[0]))
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), 204);
    assert_eq!(publish("flood-after".into()).await["decision"], "allow");
}

/// The settings API refuses a `requestURL` whose address the configuration does not allow (loopback
/// by default; link-local and metadata addresses never), in whatever spelling, so no publish can
/// send the API key there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_url_reaches_only_allowed_destinations() {
    let address = start(config(":memory:".into())).await;
    let http = reqwest::Client::new();
    let update = |url: &str| {
        let body = json!({"data": {"attributes": {
            "authorizationEnabled": true, "authType": "request", "requestURL": url}}});
        http.patch(format!("http://{address}/api/applications/live/settings/ingest"))
            .header("x-api-key", API_KEY)
            .json(&body)
            .send()
    };
    for refused in [
        "http://169.254.169.254/latest/meta-data/${streamKey}",
        "http://[::ffff:169.254.169.254]/${streamKey}",
        "http://10.0.0.1:8080/auth/${streamKey}",
        "http://0:9/auth/${streamKey}",
    ] {
        let answer = update(refused).await.unwrap();
        assert_eq!(answer.status(), 400, "{refused}");
        let body: Value = answer.json().await.unwrap();
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .starts_with("data.attributes.requestURL: `requestURL` points at"),
            "{refused}: {body}"
        );
    }
    for allowed in ["http://127.1:9/auth/${streamKey}", "http://[::1]:9/auth/${streamKey}"] {
        assert_eq!(update(allowed).await.unwrap().status(), 200, "{allowed}");
    }
}

/// What the server answered on `stream` before closing it, if it closes it within `within` (a read
/// that ends in EOF or a reset in time); `None` if it is still open.
fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<String> {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 1024];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return Some(String::from_utf8_lossy(&answer).into_owned()),
            Ok(read) => answer.extend_from_slice(&buffer[..read]),
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None;
            }
            Err(_) => return Some(String::from_utf8_lossy(&answer).into_owned()),
        }
    }
}

fn tight_limits() -> Config {
    Config { header_timeout_secs: 1, max_connections: 6, ..config(":memory:".into()) }
}

/// A request head must arrive within `header_timeout_secs`, and a connection idle that long is closed,
/// so slowloris connections (a header byte now and then) and idle sockets cannot stay open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_heads_and_idle_connections_are_closed() {
    let address = start(tight_limits()).await;
    tokio::task::spawn_blocking(move || {
        let mut idle = TcpStream::connect(address).unwrap();
        let mut slow = TcpStream::connect(address).unwrap();
        // The start of the request line at once, then one byte of the head every 300 ms: the whole
        // head would take about 20 s.
        let head = format!(
            "GET /api/live_streams HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
        );
        slow.write_all(&head.as_bytes()[..22]).unwrap();
        let head = &head[22..];
        let started = Instant::now();
        let mut sent = 0;
        for byte in head.bytes() {
            if slow.write_all(&[byte]).is_err() {
                break;
            }
            sent += 1;
            std::thread::sleep(Duration::from_millis(300));
            if started.elapsed() > Duration::from_secs(5) {
                break;
            }
        }
        assert!(sent < head.len(), "the whole slow head was taken");
        let answer =
            closed_within(&mut slow, Duration::from_secs(5)).expect("the slow head is cut off");
        assert!(answer.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{answer}");
        assert!(answer.contains(r#""status":"error""#), "the AIOZ envelope: {answer}");
        let answer = closed_within(&mut idle, Duration::from_secs(5))
            .expect("the silent connection is closed");
        assert_eq!(answer, "", "a connection that sent nothing is closed unanswered");
    })
    .await
    .unwrap();
}

/// A keep-alive connection may stay silent between requests for `idle_timeout_secs`, longer than a
/// head may take, and is closed once it has been silent that long.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_last_the_idle_timeout() {
    let address = start(Config { idle_timeout_secs: 3, ..tight_limits() }).await;
    tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let get = format!(
            "GET /api/live_streams HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
        );
        let mut answer = [0u8; 4096];
        for _ in 0..2 {
            stream.write_all(get.as_bytes()).unwrap();
            let read = stream.read(&mut answer).unwrap();
            assert!(
                answer[..read].starts_with(b"HTTP/1.1 200"),
                "{}",
                String::from_utf8_lossy(&answer[..read])
            );
            // Twice the head timeout, within the idle timeout: the connection is still open.
            std::thread::sleep(Duration::from_secs(2));
        }
        let silent = Instant::now();
        assert!(
            closed_within(&mut stream, Duration::from_secs(5)).is_some(),
            "the idle connection is closed"
        );
        assert!(
            silent.elapsed() < Duration::from_millis(2_500),
            "closed {:?} after",
            silent.elapsed()
        );
    })
    .await
    .unwrap();
}

/// Past `max_connections` a new connection is answered 503 in the envelope and closed at once, and
/// a place frees when a connection closes, so idle sockets cannot exhaust the process's file
/// descriptors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_ceiling_are_closed_at_once() {
    let address = start(Config { header_timeout_secs: 30, ..tight_limits() }).await;
    tokio::task::spawn_blocking(move || {
        let mut held: Vec<TcpStream> =
            (0..6).map(|_| TcpStream::connect(address).unwrap()).collect();
        std::thread::sleep(Duration::from_millis(200)); // the server has taken all six
        let mut extra = TcpStream::connect(address).unwrap();
        extra.write_all(b"GET /api/applications HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let answer = closed_within(&mut extra, Duration::from_secs(2)).expect("the seventh is closed");
        assert!(answer.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{answer}");
        assert!(answer.contains("retry-after: 1\r\n"), "{answer}");
        assert!(answer.ends_with(r#"(`max_connections`); try again"}"#), "Storm's envelope: {answer}");
        // One that sends nothing is answered too, once the server stops waiting for its request line.
        let mut silent = TcpStream::connect(address).unwrap();
        let answer = closed_within(&mut silent, Duration::from_secs(2)).expect("closed");
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        drop(held.pop());
        std::thread::sleep(Duration::from_millis(200));
        let get = format!("GET /api/live_streams HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n");
        let (status, _) = raw(address, &get, b"");
        assert_eq!(status, 200, "a place freed by a closed connection is taken again");
    })
    .await
    .unwrap();
}

/// A shutdown does not wait on half-sent heads: the head deadline cuts them off, and the server stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_does_not_wait_on_half_sent_heads() {
    let emulator = Emulator::new(&tight_limits()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(emulator.serve(listener, async move {
        let _ = stopped.await;
    }));
    let half_sent: Vec<TcpStream> = (0..5)
        .map(|_| {
            let mut stream = TcpStream::connect(address).unwrap();
            stream.write_all(b"GET /api/live_streams HTTP/1.1\r\nHost: x\r\n").unwrap();
            stream
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.send(()).unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(10), served).await;
    assert!(outcome.is_ok(), "the server did not stop within 10 s");
    drop(half_sent);
}

/// A Storm token is refused once its user is gone from the configuration, though its signature
/// still checks out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_ends_with_its_user() {
    let db = temp_db("removed-user");
    let user = |name: &str| streamspec_emulator::config::StormUser {
        username: name.into(),
        password: format!("{name}-password"),
    };
    let with_users = |users: Vec<streamspec_emulator::config::StormUser>| {
        let mut config = config(db.clone());
        config.storm.users = users;
        config
    };
    let address = start(with_users(vec![user("admin"), user("bob")])).await;
    let http = reqwest::Client::new();
    let login = json_of(
        http.post(format!("http://{address}/api/auth/login"))
            .json(&json!({"username": "bob", "password": "bob-password"})),
    )
    .await;
    let token = login["data"]["accessToken"].as_str().unwrap().to_owned();
    let settings = |address: SocketAddr| {
        http.get(format!("http://{address}/api/applications/live/settings"))
            .bearer_auth(&token)
            .send()
    };
    assert_eq!(settings(address).await.unwrap().status(), 200);

    // The same database (and so the same signing key), without bob.
    let address = start(with_users(vec![user("admin")])).await;
    assert_eq!(settings(address).await.unwrap().status(), 401);
}

/// A `Content-Length` over the limit is answered 413 at once, without waiting for a body that may
/// never come.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_length_over_the_limit_is_413_at_once() {
    let address = start(config(":memory:".into())).await;
    let (status, body) = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let answer = raw(address, &post_head("/api/live_streams", 2 * 1024 * 1024, ""), b"");
        assert!(started.elapsed() < Duration::from_secs(10), "waited for the body");
        answer
    })
    .await
    .unwrap();
    assert_eq!(
        (status, message(&body).as_str()),
        (413, "the body is larger than the limit of 1048576 bytes")
    );
}

/// An empty file where the database should be, and a database from a newer emulator, are refused
/// with a message that says why: neither starts afresh with new credentials.
#[test]
fn an_empty_file_or_a_newer_database_is_refused() {
    let empty = temp_db("empty");
    std::fs::write(&empty, b"").unwrap();
    let error = Emulator::new(&config(empty.clone())).unwrap_err().to_string();
    assert!(error.contains("is an empty file, not a database"), "{error}");

    let newer = temp_db("newer");
    drop(Emulator::new(&config(newer.clone())).unwrap());
    rusqlite::Connection::open(&newer).unwrap().pragma_update(None, "user_version", 99).unwrap();
    let error = format!("{:#}", Emulator::new(&config(newer)).unwrap_err());
    assert!(error.contains("schema version 99, newer than this emulator's"), "{error}");
}

/// Several emulators starting at once on one new database all start, having migrated it once, and
/// agree on its generated credentials.
#[test]
fn emulators_starting_together_agree() {
    let db = temp_db("together");
    let config = Config { aioz_accounts: Vec::new(), ..config(db) };
    let started: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..6)
            .map(|_| scope.spawn(|| Emulator::new(&config).map(|e| e.credentials().clone())))
            .collect();
        handles.into_iter().map(|handle| handle.join().unwrap()).collect()
    });
    let credentials: Vec<_> = started.into_iter().map(|started| started.unwrap()).collect();
    for other in &credentials[1..] {
        assert_eq!(other.aioz_accounts, credentials[0].aioz_accounts);
        assert_eq!(other.storm_users, credentials[0].storm_users);
        assert_eq!(other.storm_api_key, credentials[0].storm_api_key);
    }
}

/// Publish attempts are metered per client address: past `publish_attempts_per_minute` they are
/// answered 429 before they reach the engine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_attempts_are_metered_per_address() {
    let address =
        start(Config { publish_attempts_per_minute: 3, ..config(":memory:".into()) }).await;
    let http = reqwest::Client::new();
    let attempt = || {
        http.post(format!("http://{address}/_emulator/applications/live/publish"))
            .json(&json!({"streamKey": "cam", "credentials": {"type": "none"}}))
            .send()
    };
    for _ in 0..3 {
        assert_eq!(attempt().await.unwrap().status(), 200);
    }
    let refused = attempt().await.unwrap();
    assert_eq!(refused.status(), 429);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(
        body,
        json!({"message": "Too many publish attempts from this address, try again later"})
    );
    // Other operations from the same address are not metered by it.
    let read = http
        .get(format!("http://{address}/api/live_streams"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
}

/// Names longer than `max_name_bytes` and more `authUsers` than `max_auth_users` are a 400 naming the
/// field: no huge value is stored to slow every reader.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_and_user_lists_have_a_size_limit() {
    let mut config = Config { max_name_bytes: 16, ..config(":memory:".into()) };
    config.storm.max_auth_users = 2;
    let address = start(config).await;
    let http = reqwest::Client::new();
    let long = "n".repeat(17);
    let answer = |request: reqwest::RequestBuilder| async move {
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.json::<Value>().await.unwrap())
    };
    let (status, body) = answer(
        http.post(format!("http://{address}/api/live_streams"))
            .bearer_auth(TOKEN)
            .json(&json!({"name": long})),
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("name: longer than the limit of 16 bytes"))
    );
    let (status, body) = answer(
        http.post(format!("http://{address}/api/applications"))
            .header("x-api-key", API_KEY)
            .json(&json!({"data": {"attributes": {"name": long, "type": "mono"}}})),
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("data.attributes.name: longer than the limit of 16 bytes"))
    );
    let users: Vec<Value> =
        (0..3).map(|n| json!({"username": format!("user{n}"), "password": "pw"})).collect();
    let (status, body) = answer(
        http.patch(format!("http://{address}/api/applications/live/settings/ingest"))
            .header("x-api-key", API_KEY)
            .json(&json!({"data": {"attributes": {"authorizationEnabled": true, "authType": "local", "authUsers": users}}})),
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("data.attributes.authUsers: more than the limit of 2 entries"))
    );
    // Within the limits, the same requests pass.
    let (status, _) = answer(
        http.post(format!("http://{address}/api/live_streams"))
            .bearer_auth(TOKEN)
            .json(&json!({"name": "n".repeat(16)})),
    )
    .await;
    assert_eq!(status, 200);
}

/// A raw `PATCH` of the ingest settings of `live`, with `credentials` as its one credential header
/// line (or none when empty).
async fn patch_ingest(
    address: SocketAddr,
    credentials: &str,
    body: &'static [u8],
) -> (u16, String) {
    let head = post_head("/api/applications/live/settings/ingest", body.len(), "")
        .replace("POST", "PATCH")
        .replace(
            &format!("Authorization: Bearer {TOKEN}\r\n"),
            &match credentials {
                "" => String::new(),
                line => format!("{line}\r\n"),
            },
        );
    tokio::task::spawn_blocking(move || raw(address, &head, body)).await.unwrap()
}

/// A create with `authorization` in place of the account's.
async fn send_as(address: SocketAddr, authorization: &str, body: &'static [u8]) -> (u16, String) {
    let head = post_head("/api/live_streams", body.len(), "")
        .replace(&format!("Bearer {TOKEN}"), authorization);
    tokio::task::spawn_blocking(move || raw(address, &head, body)).await.unwrap()
}
