//! `cargo xtask ci`: every check CI runs, in the order that fails fastest. `.ci/run` calls this and
//! nothing else, so a developer runs exactly what CI runs.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::{lint_command, project_root, spec_paths};

/// Python tools the checks use, pinned; installed into `target/xtask-venv` on first use.
const PYTHON_REQUIREMENTS: &str = "xtask/python-requirements.txt";

/// Runs every step; stops at the first failure.
pub fn run() -> Result<bool> {
    let root = project_root();
    std::env::set_current_dir(&root)?;
    step("cargo fmt --check", || cargo(&["fmt", "--all", "--check"]))?;
    step("cargo clippy", || {
        cargo(&["clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings"])
    })?;
    step("cargo xtask lint", || match lint_command()? {
        true => Ok(()),
        false => bail!("the specs have lint findings (listed above)"),
    })?;
    step("cargo xtask regenerate --check", || match crate::regenerate::run(true)? {
        true => Ok(()),
        false => bail!("generated code is stale (listed above)"),
    })?;
    step("cargo xtask lint --breaking", || match crate::breaking::run(None)? {
        true => Ok(()),
        false => bail!("breaking spec changes are not acknowledged in spec/CHANGELOG.md"),
    })?;
    step("openapi-spec-validator", || {
        let venv = python_tools(&root)?;
        let validator = venv.join("bin").join("openapi-spec-validator");
        for spec in spec_paths() {
            run_command(Command::new(&validator).arg(&spec))?;
        }
        Ok(())
    })?;
    step("cargo doc", || {
        run_command(
            cargo_command()
                .args(["doc", "--workspace", "--no-deps", "--locked"])
                .env("RUSTDOCFLAGS", "-D warnings"),
        )
    })?;
    step("tools the tests run (curl, ffmpeg)", || ensure_tools(&TOOLS))?;
    step("cargo test", || cargo(&["test", "--workspace", "--locked"]))?;
    step("fuzz inputs replayed", || {
        // The fuzz crate is its own workspace; it shares `target/` so the project's crates build once.
        run_command(
            cargo_command()
                .args([
                    "test",
                    "--manifest-path",
                    "fuzz/Cargo.toml",
                    "--locked",
                    "--no-default-features",
                ])
                .env("CARGO_TARGET_DIR", root.join("target")),
        )
    })?;
    step("schemathesis against the emulator", || schemathesis(&root))?;
    println!("ci: all checks passed");
    Ok(true)
}

/// A command the tests run: how to ask it its version, and the Debian package that has it.
struct Tool {
    command: &'static str,
    version: &'static str,
    package: &'static str,
}

/// What the tests run besides cargo: curl (the README's CI script) and ffmpeg (a real encoder).
const TOOLS: [Tool; 2] = [
    Tool { command: "curl", version: "--version", package: "curl" },
    Tool { command: "ffmpeg", version: "-version", package: "ffmpeg" },
];

/// Makes every tool available: as it is, or from Debian's packages when CI runs as root with
/// `apt-get` (a fresh CI machine); otherwise fails naming the packages to install.
fn ensure_tools(tools: &[Tool]) -> Result<()> {
    let found = |command: &str, version: &str| {
        Command::new(command)
            .arg(version)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    let missing: Vec<&str> = tools
        .iter()
        .filter(|tool| !found(tool.command, tool.version))
        .map(|tool| tool.package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let root =
        Command::new("id").arg("-u").output().is_ok_and(|out| out.stdout.trim_ascii() == b"0");
    if !root || !found("apt-get", "--version") {
        bail!(
            "{} not installed; on Debian or Ubuntu: `apt-get install {}`",
            missing.join(", "),
            missing.join(" ")
        );
    }
    run_command(Command::new("apt-get").arg("update"))?;
    run_command(
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

fn step(name: &str, action: impl FnOnce() -> Result<()>) -> Result<()> {
    println!("ci: {name}");
    let started = Instant::now();
    action().with_context(|| format!("ci step `{name}` failed"))?;
    println!("ci: {name} ok ({:.1}s)", started.elapsed().as_secs_f64());
    Ok(())
}

pub(crate) fn cargo_binary() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// A cargo command, non-incremental unless `CARGO_INCREMENTAL` is set: on a fresh clone the
/// incremental cache only costs disk (gigabytes for this workspace), and the setting is not part of
/// cargo's fingerprints, so a later plain `cargo test` reuses what CI built.
pub(crate) fn cargo_command() -> Command {
    let mut command = Command::new(cargo_binary());
    if std::env::var_os("CARGO_INCREMENTAL").is_none() {
        command.env("CARGO_INCREMENTAL", "0");
    }
    command
}

pub(crate) fn cargo(arguments: &[&str]) -> Result<()> {
    run_command(cargo_command().args(arguments))
}

pub(crate) fn run_command(command: &mut Command) -> Result<()> {
    let shown = format!("{command:?}");
    let status = command.status().with_context(|| format!("running {shown}"))?;
    check_status(&shown, status)
}

fn check_status(shown: &str, status: std::process::ExitStatus) -> Result<()> {
    if status.success() { Ok(()) } else { bail!("{shown} failed: {status}") }
}

/// Runs schemathesis (every check, stateful runs included) with every spec against an emulator on an
/// ephemeral loopback port, using the credentials it prints, with response validation on.
fn schemathesis(root: &Path) -> Result<()> {
    use std::io::{BufRead, BufReader};
    let venv = python_tools(root)?;
    cargo(&["build", "--locked", "-p", "streamspec-emulator"])?;
    let binary = root.join("target").join("debug").join("streamspec-emulator");
    let mut emulator = Command::new(&binary)
        .args(["--listen", "127.0.0.1:0", "--no-rtmp", "--db", ":memory:", "--debug"])
        .env("STREAMSPEC_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let mut banner =
        BufReader::new(emulator.stdout.take().context("the emulator's stdout")?).lines();
    let (mut address, mut token, mut api_key) = (None, None, None);
    for line in banner.by_ref() {
        let line = line?;
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("streamspec-emulator listening on ") {
            address = rest.split_whitespace().next().map(str::to_owned);
        } else if let Some(rest) = line.strip_prefix("Authorization: Bearer ") {
            token = Some(rest.to_owned());
        } else if let Some(rest) = line.strip_prefix("X-Api-Key: ") {
            api_key = Some(rest.to_owned());
            break;
        }
    }
    std::thread::spawn(move || banner.for_each(drop));
    let run = || -> Result<()> {
        let address = address.context("the emulator printed no address")?;
        let runs = [
            (
                "spec/aioz-stream.yaml",
                format!("{address}/api"),
                Some(format!("Authorization: Bearer {}", token.context("no token")?)),
            ),
            (
                "spec/storm.yaml",
                address.clone(),
                Some(format!("X-Api-Key: {}", api_key.context("no API key")?)),
            ),
            // The emulator's own operations take no credentials.
            ("spec/emulator.yaml", address.clone(), None),
        ];
        for (spec, url, header) in runs {
            let mut command = Command::new(venv.join("bin").join("schemathesis"));
            command.args(["run", spec, "--url", &url, "--checks", "all"]);
            if let Some(header) = &header {
                command.args(["--header", header]);
            }
            run_command(command.args(["--max-examples", "30", "--seed", "1"]))?;
        }
        Ok(())
    };
    let outcome = run();
    let _ = emulator.kill();
    let _ = emulator.wait();
    outcome
}

/// A virtual environment with the pinned Python tools, rebuilt when the requirements change.
fn python_tools(root: &Path) -> Result<std::path::PathBuf> {
    let venv = root.join("target").join("xtask-venv");
    let requirements = std::fs::read_to_string(root.join(PYTHON_REQUIREMENTS))
        .with_context(|| format!("reading {PYTHON_REQUIREMENTS}"))?;
    let stamp = venv.join("installed-requirements.txt");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(requirements.as_str()) {
        return Ok(venv);
    }
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    run_command(Command::new(&python).args(["-m", "venv", "--clear"]).arg(&venv))
        .context("creating the Python virtual environment (is python3 with venv installed?)")?;
    run_command(
        Command::new(venv.join("bin").join("pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(root.join(PYTHON_REQUIREMENTS)),
    )?;
    std::fs::write(&stamp, requirements)?;
    Ok(venv)
}
