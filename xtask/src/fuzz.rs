//! `cargo xtask fuzz --seconds N`: runs every `cargo fuzz` target in `fuzz/` for N seconds each.
//!
//! cargo-fuzz is installed into `target/tools` on first use (pinned). The project has one toolchain,
//! stable, and libFuzzer's instrumentation needs `-Z` flags: `RUSTC_BOOTSTRAP=1` lets that toolchain
//! accept them for this build only. Each target starts from its committed seeds (`fuzz/seeds/<target>`)
//! and keeps what it learns in `fuzz/corpus/<target>` (not committed). A crash stops the run and names
//! the input; copy it to `fuzz/regressions/<target>/`, where `cargo test` replays it (see
//! CONTRIBUTING.md).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

const CARGO_FUZZ_VERSION: &str = "0.13.2";

pub fn run(seconds: u64) -> Result<bool> {
    let root = crate::project_root();
    let cargo_fuzz = install(&root)?;
    let output = Command::new(&cargo_fuzz)
        .args(["list", "--fuzz-dir", "fuzz"])
        .current_dir(&root)
        .output()
        .context("listing the fuzz targets")?;
    let targets: Vec<String> =
        String::from_utf8_lossy(&output.stdout).lines().map(str::to_owned).collect();
    if targets.is_empty() {
        bail!("no fuzz targets in fuzz/");
    }
    let mut results = Vec::new();
    for target in &targets {
        std::fs::create_dir_all(root.join("fuzz/corpus").join(target))?;
        println!("fuzz: {target} for {seconds} s");
        let started = Instant::now();
        let status = Command::new(&cargo_fuzz)
            .args(["run", "--fuzz-dir", "fuzz", target])
            .arg(format!("fuzz/corpus/{target}"))
            .arg(format!("fuzz/seeds/{target}"))
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .current_dir(&root)
            .env("RUSTC_BOOTSTRAP", "1")
            .env("CARGO_TARGET_DIR", root.join("target/fuzz"))
            .status()
            .with_context(|| format!("running the fuzz target {target}"))?;
        results.push((target, status.success(), started.elapsed()));
    }
    println!("\n| target | result | time |\n| --- | --- | --- |");
    for (target, clean, elapsed) in &results {
        let verdict = if *clean { "clean" } else { "CRASH (input under fuzz/artifacts/)" };
        println!("| {target} | {verdict} | {:.0} s |", elapsed.as_secs_f64());
    }
    let clean = results.iter().all(|(_, clean, _)| *clean);
    if !clean {
        eprintln!(
            "a target crashed: copy the input it names to fuzz/regressions/<target>/ so `cargo test` \
             replays it, then fix the bug"
        );
    }
    Ok(clean)
}

/// The pinned cargo-fuzz, installed into `target/tools` when missing.
fn install(root: &Path) -> Result<std::path::PathBuf> {
    let tools = root.join("target/tools");
    let binary = tools.join("bin/cargo-fuzz");
    let installed = Command::new(&binary)
        .arg("--version")
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).contains(CARGO_FUZZ_VERSION));
    if !installed {
        println!("fuzz: installing cargo-fuzz {CARGO_FUZZ_VERSION} into target/tools");
        crate::ci::run_command(
            Command::new(crate::ci::cargo_binary())
                .args([
                    "install",
                    "cargo-fuzz",
                    "--locked",
                    "--version",
                    CARGO_FUZZ_VERSION,
                    "--root",
                ])
                .arg(&tools),
        )?;
    }
    Ok(binary)
}
