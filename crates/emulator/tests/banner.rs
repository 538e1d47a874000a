//! What the binary says at start: where to send requests, with which credentials, and the settings
//! a test suite trips over (debug mode, the login limit).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// The banner of the binary started on `db` with `args`, up to the blank line that ends it.
fn banner(db: &str, args: &[&str], config: Option<&str>) -> String {
    let dir = std::env::temp_dir().join(format!("streamspec-banner-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_streamspec-emulator"));
    command
        .args(["--listen", "127.0.0.1:0", "--rtmp-listen", "127.0.0.1:0", "--db", db])
        .args(args);
    if let Some(config) = config {
        // Tests run at once: each start has a file of its own.
        static STARTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let start = STARTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = dir.join(format!("config-{start}.toml"));
        std::fs::write(&path, config).unwrap();
        command.arg("--config").arg(path);
    }
    let mut child = command
        .env("STREAMSPEC_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut text = String::new();
    let mut blank_lines = 0;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        blank_lines += usize::from(line.is_empty());
        text.push_str(&line);
        text.push('\n');
        // The banner is four blocks, each ended by a blank line.
        if blank_lines == 4 {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    text
}

#[test]
fn debug_mode_and_the_login_limit_are_announced() {
    let plain = banner(":memory:", &[], None);
    assert!(!plain.contains("debug is on"), "{plain}");
    assert!(plain.contains("at most 5 login attempts a minute per client address"), "{plain}");

    let debug = banner(":memory:", &["--debug"], Some("login_attempts_per_minute = 50\n"));
    assert!(debug.contains("debug is on: every response is validated"), "{debug}");
    assert!(debug.contains("at most 50 login attempts a minute per client address"), "{debug}");
}

/// Credentials in the configuration put aside those generated into the database before: the banner
/// says so, rather than the old token failing without a word.
#[test]
fn configured_credentials_say_what_they_set_aside() {
    let db = std::env::temp_dir().join(format!("streamspec-banner-{}.sqlite", std::process::id()));
    let _ = std::fs::remove_file(&db);
    let db = db.to_str().unwrap().to_owned();
    let first = banner(&db, &[], None);
    assert!(!first.contains("note:"), "{first}");
    let config = r#"
[[aioz_accounts]]
user_id = "configured"
public_key = "pk_configured"
secret_key = "sk_configured_secret"
token = "configured-token"
"#;
    let second = banner(&db, &[], Some(config));
    assert!(
        second.contains("note: the generated AIOZ account stored in this database is set aside"),
        "{second}"
    );
    assert!(!second.contains("Storm `admin`"), "only what the configuration replaces: {second}");
    let third = banner(&db, &[], None);
    assert!(!third.contains("note:"), "{third}");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{db}{suffix}"));
    }
}

/// `--print-credentials json` puts the credentials as one line of JSON on standard output, the
/// banner on standard error, and `--credentials-file` writes the same document, so a script reads
/// them without parsing the banner.
#[test]
fn credentials_as_json_on_stdout_and_in_a_file() {
    let file =
        std::env::temp_dir().join(format!("streamspec-credentials-{}.json", std::process::id()));
    let _ = std::fs::remove_file(&file);
    let mut child = Command::new(env!("CARGO_BIN_EXE_streamspec-emulator"))
        .args(["--listen", "127.0.0.1:0", "--rtmp-listen", "127.0.0.1:0", "--db", ":memory:"])
        .args(["--print-credentials", "json"])
        .arg("--credentials-file")
        .arg(&file)
        .env("STREAMSPEC_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let mut banner = String::new();
    BufReader::new(child.stderr.take().unwrap()).read_line(&mut banner).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();

    let printed: serde_json::Value = serde_json::from_str(&first).unwrap();
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(printed, written);
    let base_url = printed["aioz"]["baseUrl"].as_str().unwrap();
    assert!(base_url.starts_with("http://127.0.0.1:") && base_url.ends_with("/api"), "{printed}");
    assert!(!base_url.contains(":0/"), "the bound port, not the requested 0: {base_url}");
    assert!(printed["aioz"]["accounts"][0]["token"].as_str().unwrap().starts_with("dev-token-"));
    assert_eq!(printed["storm"]["users"][0]["username"], "admin");
    assert!(banner.starts_with("streamspec-emulator listening on"), "{banner}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "only its owner reads the credentials file");
    }
    std::fs::remove_file(&file).unwrap();
}
