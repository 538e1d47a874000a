//! `streamspec-conformance` as a process: exit codes and output.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn run(arguments: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_streamspec-conformance"))
        .args(arguments)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn temp_file(name: &str, content: &str) -> String {
    let dir = std::env::temp_dir().join(format!("streamspec-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path.to_string_lossy().into_owned()
}

const KEY: &str = r#"{"id":"0b5c9f2e-6a55-4c1e-9a52-1f0d8a4b7c31","user_id":"u","name":"n","stream_key":"9d2f7a61-3c4b-4e58-8f1a-2b6c5d4e3f70","rtmp_url":"rtmp://h/live","save":false,"created_at":"2026-11-23T10:15:30Z","updated_at":"2026-11-23T10:15:30Z"}"#;

#[test]
fn a_valid_file_exits_0() {
    let file = temp_file("key.json", KEY);
    let output = run(&["validate", "--api", "aioz", "--schema", "LiveStreamKey", &file], None);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(stdout(&output), format!("{file}: ok (LiveStreamKey)\n"));
}

#[test]
fn an_invalid_payload_exits_1_with_file_pointer_and_message() {
    let body = r#"{"data":{"attributes":{"authorizationEnabled":true,"authType":"request"}}}"#;
    let output = run(
        &["validate", "--api", "storm", "--operation", "update_ingest_settings", "--request", "-"],
        Some(body),
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stdout(&output),
        "-: /data/attributes: `data.attributes.requestURL` is required when `authType` is `request`\n"
    );
}

#[test]
fn the_seeds_trailing_comma_is_reported_as_not_json() {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../spec/negative/update_ingest_settings.local-trailing-comma.json"
    );
    let output = run(
        &["validate", "--api", "storm", "--operation", "update_ingest_settings", "--request", file],
        None,
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).contains(": /: not valid JSON: trailing comma at line 14 column 1"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn several_files_and_json_lines_in_json_format() {
    let good = temp_file("good.json", r#"{"status":"error","message":"gone"}"#);
    let lines = temp_file(
        "many.jsonl",
        "{\"status\":\"error\",\"message\":\"a\"}\n\n{\"status\":\"error\",\"message\":7}\n",
    );
    let output = run(
        &[
            "validate",
            "--api",
            "aioz",
            "--operation",
            "get_live_stream_key",
            "--response",
            "404",
            "--format",
            "json",
            &good,
            &lines,
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(1));
    let reports: Vec<serde_json::Value> =
        stdout(&output).lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(reports.len(), 3);
    assert_eq!(reports[0]["valid"], true);
    assert_eq!(reports[1]["source"], format!("{lines}:1"));
    assert_eq!(reports[2]["source"], format!("{lines}:3"));
    assert_eq!(reports[2]["valid"], false);
    assert_eq!(reports[2]["violations"][0]["pointer"], "/message");
    assert_eq!(reports[2]["violations"][0]["keyword"], "type");
}

#[test]
fn usage_errors_exit_2() {
    let file = temp_file("any.json", "{}");
    for arguments in [
        vec!["validate", "--api", "aioz", &file],
        vec!["validate", "--api", "nope", "--schema", "X", &file],
        vec!["validate", "--api", "aioz", "--schema", "Nope", &file],
        vec![
            "validate",
            "--api",
            "aioz",
            "--operation",
            "get_live_stream_key",
            "--response",
            "418",
            &file,
        ],
        vec!["validate", "--api", "aioz", "--schema", "LiveStreamKey", "/no/such/file.json"],
    ] {
        let output = run(&arguments, None);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{arguments:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn list_prints_every_schema_and_operation() {
    let output = run(&["list"], None);
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    assert!(text.contains("aioz schema LiveStreamKey\n"));
    assert!(text.contains("storm schema IngestSettingsAttributes.response\n"));
    assert!(text.contains("storm operation update_ingest_settings PATCH /api/applications/{appName}/settings/ingest request responses 200,400,401,404,409,413,415,429,500,503\n"), "{text}");
    assert!(
        text.contains("emulator operation publish POST /_emulator/applications/{appName}/publish"),
        "{text}"
    );
    assert_eq!(text.lines().filter(|line| line.contains(" operation ")).count(), 32);
}

#[test]
fn proxy_refuses_an_upstream_with_a_path() {
    let output = run(&["proxy", "--api", "aioz", "--upstream", "http://127.0.0.1:8080/api"], None);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("give the origin (`http://127.0.0.1:8080`)"), "{stderr}");
}

#[test]
fn proxy_names_an_upstream_ca_it_cannot_use() {
    let ca = temp_file("not-a-ca.pem", "no certificate here");
    let arguments = ["proxy", "--api", "aioz", "--upstream", "https://127.0.0.1:8443"];
    let output = run(&[&arguments[..], &["--upstream-ca", &ca]].concat(), None);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Without the `rustls` feature the option itself is refused, naming the feature.
    let expected = if stderr.contains("`rustls` feature") {
        "--upstream-ca needs TLS"
    } else {
        "no PEM certificate"
    };
    assert!(stderr.contains("--upstream-ca") && stderr.contains(expected), "{stderr}");
}

/// The proxy as a process: it reports a request that breaks the contract on standard output, prints
/// its summary on standard error when SIGTERM stops it, and exits 1 with `--fail-on-violation`.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn proxy_reports_stops_on_sigterm_and_fails_on_a_violation() {
    use std::io::{BufRead, BufReader};

    // An upstream that answers every request with a conforming 400.
    let router = axum::Router::new().fallback(|| async {
        (
            axum::http::StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({"status": "error", "message": "no"})),
        )
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let mut child = Command::new(env!("CARGO_BIN_EXE_streamspec-conformance"))
        .args(["proxy", "--api", "aioz", "--upstream", &upstream, "--listen", "127.0.0.1:0"])
        .arg("--fail-on-violation")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut banner = String::new();
    stderr.read_line(&mut banner).unwrap();
    let address = banner.split("on http://").nth(1).unwrap().split(',').next().unwrap().to_owned();

    let answer = reqwest::Client::new()
        .post(format!("http://{address}/api/live_streams"))
        .header("authorization", "Bearer t")
        .json(&serde_json::json!({"name": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400, "the upstream's answer");

    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let output =
        tokio::task::spawn_blocking(move || child.wait_with_output()).await.unwrap().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert_eq!(output.status.code(), Some(1), "{rest}");
    let report: serde_json::Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(report["violations"][0]["pointer"], "/name");
    let summary: serde_json::Value = serde_json::from_str(rest.trim()).unwrap();
    assert_eq!(summary["summary"]["exchanges"], 1);
    assert_eq!(summary["summary"]["by_operation"]["create_live_stream_key"]["type"], 1);
}
