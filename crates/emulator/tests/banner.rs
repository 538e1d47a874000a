//! What the binary says at start: where to send requests, with which credentials, and the settings
//! a test suite trips over (debug mode, the login limit).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// The banner of the binary started with `args`, up to the blank line that ends it.
fn banner(args: &[&str], config: Option<&str>) -> String {
    let dir = std::env::temp_dir().join(format!("streamspec-banner-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_streamspec-emulator"));
    command.args(["--listen", "127.0.0.1:0", "--db", ":memory:"]).args(args);
    if let Some(config) = config {
        let path = dir.join("config.toml");
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
    let _ = std::fs::remove_dir_all(&dir);
    text
}

#[test]
fn debug_mode_and_the_login_limit_are_announced() {
    let plain = banner(&[], None);
    assert!(!plain.contains("debug is on"), "{plain}");
    assert!(plain.contains("at most 5 login attempts a minute per client address"), "{plain}");

    let debug = banner(&["--debug"], Some("login_attempts_per_minute = 50\n"));
    assert!(debug.contains("debug is on: every response is validated"), "{debug}");
    assert!(debug.contains("at most 50 login attempts a minute per client address"), "{debug}");
}
