//! What the binary says at start: where to send requests, with which credentials, and the settings
//! a test suite trips over (debug mode, the login limit).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// The banner of the binary started on `db` with `args`, up to the blank line that ends it.
fn banner(db: &str, args: &[&str], config: Option<&str>) -> String {
    let dir = std::env::temp_dir().join(format!("streamspec-banner-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_streamspec-emulator"));
    command.args(["--listen", "127.0.0.1:0", "--db", db]).args(args);
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
        // The banner is three blocks, each ended by a blank line.
        if blank_lines == 3 {
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
