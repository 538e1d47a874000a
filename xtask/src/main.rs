//! Project automation for streamspec, run as `cargo xtask <command>` (an alias in `.cargo/config.toml`).
//!
//! - `cargo xtask regenerate [--check]`: writes the generated code (see [`regenerate`]).
//! - `cargo xtask lint`: checks every spec (see [`lint`]).
//! - `cargo xtask lint --breaking [--base REV]`: lists what a spec edit breaks (see [`breaking`]).
//! - `cargo xtask fuzz --seconds N`: runs every fuzz target for N seconds (see [`fuzz`]).
//! - `cargo xtask bench [--seconds N] [--rounds R]`: a load run on loopback, with Prism for comparison (see [`mod@bench`]).
//! - `cargo xtask bench proxy [--seconds N] [--rounds R]`: the validating proxy against Prism's
//!   proxy, both in front of the emulator (see [`bench_proxy`]).
//! - `cargo xtask bench ingest [--seconds N] [--publishers A,B,C]`: RTMP publishers against the
//!   emulator and nginx-rtmp (see [`bench_ingest`]).
//! - `cargo xtask ci`: everything CI runs, in order; what `.ci/run` calls.

mod bench;
mod bench_ingest;
mod bench_proxy;
mod breaking;
mod ci;
mod fuzz;
mod regenerate;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::OnceLock;

use anyhow::{Context, Result};
use streamspec_codegen::{lint, registry::APIS, spec};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  regenerate [--check]
          write the generated code under crates/*/src/generated/ from spec/*.yaml; with --check,
          write nothing and fail, listing every stale file, when the committed code is out of date
  regenerate --breaking [--base REV]
          regenerate, then list the breaking changes as `lint --breaking` does
  lint    check spec/*.yaml: operationIds, $refs, schema types, path parameters, what progenitor accepts
  lint --breaking [--base REV]
          list the changes since REV (default: the merge base with main) that break clients or servers;
          fail unless each is acknowledged in spec/CHANGELOG.md
  fuzz --seconds N
          run every cargo fuzz target in fuzz/ for N seconds each (installs cargo-fuzz into target/tools)
  bench [--seconds N] [--rounds R]
          build in release, load the emulator (validation on and off) and Prism's mock with wrk, N
          seconds per workload and server (default 5), R rounds (default 3), and print one table of
          the medians
  bench ingest [--seconds N] [--publishers A,B,C]
          build in release; A, B and C RTMP publishers at once (default 50,200,500), each sending
          2 Mbit/s of FLV tags for N seconds (default 30), against the emulator and nginx-rtmp
          (needs ffmpeg, nginx and libnginx-mod-rtmp); one table: publishers held, CPU per GB,
          connect-to-accepted latency
  bench proxy [--seconds N] [--rounds R]
          build in release; wrk against the emulator directly, through `streamspec-conformance
          proxy` and through Prism's proxy (needs npx), N seconds per workload (default 5), R rounds
          (default 3); one table with the p50 each proxy adds and their rates
  ci      run every check CI runs: fmt, clippy, lint, the outside OpenAPI validator, doc, tests
";

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let arguments: Vec<&str> = arguments.iter().map(String::as_str).collect();
    if !matches!(arguments.as_slice(), ["help" | "--help" | "-h"] | []) {
        let found = std::env::current_dir()
            .context("reading the current directory")
            .and_then(|directory| find_root(&directory));
        match found {
            Ok(root) => {
                eprintln!("xtask: project root {}", root.display());
                let _ = ROOT.set(root);
            }
            Err(error) => {
                eprintln!("error: {error:#}");
                return ExitCode::FAILURE;
            }
        }
    }
    let outcome = match arguments.as_slice() {
        ["regenerate"] => regenerate::run(false),
        ["regenerate", "--check"] => regenerate::run(true),
        ["regenerate", "--breaking"] => regenerate::run(false).and_then(|_| breaking::run(None)),
        ["regenerate", "--breaking", "--base", base] => {
            regenerate::run(false).and_then(|_| breaking::run(Some(base)))
        }
        ["lint"] => lint_command(),
        ["lint", "--breaking"] => breaking::run(None),
        ["lint", "--breaking", "--base", base] => breaking::run(Some(base)),
        ["fuzz", "--seconds", seconds] => match parse_seconds(seconds) {
            Some(seconds) => fuzz::run(seconds),
            None => return ExitCode::from(2),
        },
        ["bench", "proxy", options @ ..] => match bench_options(options) {
            Some((seconds, rounds)) => bench_proxy::run(seconds, rounds),
            None => return ExitCode::from(2),
        },
        ["bench", "ingest", options @ ..] => match ingest_options(options) {
            Some((seconds, publishers)) => bench_ingest::run(seconds, &publishers),
            None => return ExitCode::from(2),
        },
        ["bench", options @ ..] => match bench_options(options) {
            Some((seconds, rounds)) => bench::run(seconds, rounds),
            None => return ExitCode::from(2),
        },
        ["ci"] => ci::run(),
        ["help" | "--help" | "-h"] => {
            print!("{USAGE}");
            Ok(true)
        }
        _ => {
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The value of `--seconds`, or `None` after saying what is wrong with it.
fn parse_seconds(text: &str) -> Option<u64> {
    let seconds = text.parse().ok().filter(|seconds| *seconds > 0);
    if seconds.is_none() {
        eprintln!("--seconds takes a whole number of seconds above 0, not `{text}`");
    }
    seconds
}

/// `bench`'s `--seconds N` and `--rounds R`, in any order, with their defaults; `None` after saying
/// what is wrong.
fn bench_options(options: &[&str]) -> Option<(u64, usize)> {
    let (mut seconds, mut rounds) = (5, 3);
    for pair in options.chunks(2) {
        match pair {
            ["--seconds", text] => seconds = parse_seconds(text)?,
            ["--rounds", text] => match text.parse().ok().filter(|rounds| *rounds > 0) {
                Some(value) => rounds = value,
                None => {
                    eprintln!("--rounds takes a whole number above 0, not `{text}`");
                    return None;
                }
            },
            _ => {
                eprint!("{USAGE}");
                return None;
            }
        }
    }
    Some((seconds, rounds))
}

/// `bench ingest`'s `--seconds N` (default 30) and `--publishers A,B,C` (default 50,200,500);
/// `None` after saying what is wrong.
fn ingest_options(options: &[&str]) -> Option<(u64, Vec<usize>)> {
    let (mut seconds, mut publishers) = (30, vec![50, 200, 500]);
    for pair in options.chunks(2) {
        match pair {
            ["--seconds", text] => seconds = parse_seconds(text)?,
            ["--publishers", text] => {
                let counts: Option<Vec<usize>> = text
                    .split(',')
                    .map(|count| count.trim().parse().ok().filter(|count| *count > 0))
                    .collect();
                match counts {
                    Some(counts) if !counts.is_empty() => publishers = counts,
                    _ => {
                        eprintln!(
                            "--publishers takes counts above 0 separated by commas, not `{text}`"
                        );
                        return None;
                    }
                }
            }
            _ => {
                eprint!("{USAGE}");
                return None;
            }
        }
    }
    Some((seconds, publishers))
}

static ROOT: OnceLock<PathBuf> = OnceLock::new();

/// The project root the command works on: the checkout it runs in, found from the current directory.
pub fn project_root() -> PathBuf {
    ROOT.get().cloned().unwrap_or_else(|| PathBuf::from("."))
}

/// The nearest directory at or above `start` that is a streamspec checkout: a workspace
/// `Cargo.toml` beside `spec/` and `xtask/`. Found from where the command runs, never from where
/// xtask was built, so a shared target directory cannot point it at another checkout.
pub fn find_root(start: &Path) -> Result<PathBuf> {
    for directory in start.ancestors() {
        let manifest = directory.join("Cargo.toml");
        let is_workspace = std::fs::read_to_string(&manifest)
            .is_ok_and(|text| text.lines().any(|line| line.trim() == "[workspace]"));
        if is_workspace && directory.join("spec").is_dir() && directory.join("xtask").is_dir() {
            return Ok(directory.to_path_buf());
        }
    }
    anyhow::bail!(
        "{} is not inside a streamspec checkout (no workspace Cargo.toml beside spec/ and xtask/ at or above it); run cargo xtask from the checkout",
        start.display()
    )
}

/// The spec files, as paths relative to the project root (so messages read `spec/storm.yaml:12`).
pub fn spec_paths() -> Vec<PathBuf> {
    APIS.iter().map(|api| api.spec_path()).collect()
}

/// Lints every spec and prints the findings; `Ok(false)` when there are any.
pub fn lint_command() -> Result<bool> {
    std::env::set_current_dir(project_root())?;
    let mut clean = true;
    for path in spec_paths() {
        let findings = match spec::SpecDocument::load(&path) {
            Ok(doc) => lint::lint(&doc).iter().map(ToString::to_string).collect(),
            Err(error) => vec![format!("{error:#}")],
        };
        for finding in &findings {
            eprintln!("{finding}");
        }
        if findings.is_empty() {
            println!("lint: {} ok", path.display());
        }
        clean &= findings.is_empty();
    }
    Ok(clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_is_found_from_the_current_directory() {
        let base = std::env::temp_dir().join(format!("xtask-root-{}", std::process::id()));
        let nested = base.join("checkout/crates/emulator/src");
        std::fs::create_dir_all(&nested).unwrap();
        std::fs::create_dir_all(base.join("checkout/spec")).unwrap();
        std::fs::create_dir_all(base.join("checkout/xtask")).unwrap();
        std::fs::write(base.join("checkout/Cargo.toml"), "[workspace]\nmembers = []\n").unwrap();
        std::fs::write(base.join("checkout/crates/emulator/Cargo.toml"), "[package]\n").unwrap();
        assert_eq!(find_root(&nested).unwrap(), base.join("checkout"));
        let outside = find_root(&base).unwrap_err().to_string();
        assert!(outside.contains("is not inside a streamspec checkout"), "{outside}");
        std::fs::remove_dir_all(&base).unwrap();
    }
}
