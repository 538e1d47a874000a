//! The README's CI job in shell, run as written against the emulator binary: each line whose comment
//! names what it prints prints exactly that.

use std::process::Command;

/// The README's `sh` block that opens with `# A CI job with the emulator as its fixture.`
fn script() -> String {
    let readme = include_str!("../../../README.md");
    let start = readme
        .find("```sh\n# A CI job with the emulator as its fixture.")
        .expect("the README has the CI job");
    let body = &readme[start + "```sh\n".len()..];
    body[..body.find("```").unwrap()].to_owned()
}

#[test]
fn the_readme_ci_job_runs_as_written() {
    let script = script();
    // What each commented line prints, in order: the comment after `#` on a command line.
    let expected: Vec<&str> = script
        .lines()
        .filter(|line| !line.starts_with('#') && !line.contains("written once bound"))
        .filter_map(|line| line.rsplit_once("  # ").map(|(_, printed)| printed.trim()))
        .collect();
    assert_eq!(expected.len(), 6, "{expected:?}");
    let output = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env("EMULATOR", env!("CARGO_BIN_EXE_streamspec-emulator"))
        .env("STREAMSPEC_LOG", "warn")
        .output()
        .expect(
            "bash runs (and the script needs curl and python3, which `cargo xtask ci` installs)",
        );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the script failed: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let printed: Vec<&str> = stdout.lines().map(str::trim).collect();
    assert_eq!(printed, expected);
}
