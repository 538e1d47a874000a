//! `cargo xtask bench proxy`: what `streamspec-conformance proxy` costs, in one run. `wrk` drives the
//! same requests (get a key; create one) at the emulator directly, through our proxy in front of it,
//! and through Stoplight Prism's `prism proxy` (pinned, installed into `target/prism`) on the same spec
//! and the same upstream, twice: with one connection, for the latency one client sees (the p50 a
//! proxy adds), and with 32, for the rate each sustains. Each cell is the median of R rounds of N
//! seconds. A proxy's added p50 and the rate ratio are the medians of each round's own difference
//! and ratio, and every other round runs the columns in reverse, so that the machine's drift between runs
//! (its latency varies by more than the goal from minute to minute) weighs on neither side.

use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::bench::{
    self, Figures, Running, TOKEN, create_key, free_port, install_prism, median, start_emulator,
    wait_for, wrk_with,
};
use crate::ci::cargo;

pub fn run(seconds: u64, rounds: usize) -> Result<bool> {
    let root = crate::project_root();
    if Command::new("wrk").arg("--version").output().is_err() {
        bail!("`wrk` is not installed; on Debian or Ubuntu: `apt-get install wrk`");
    }
    if !Command::new("npx").arg("--version").output().is_ok_and(|out| out.status.success()) {
        bail!("`npx` is not installed: Prism's proxy, the comparison, runs on Node.js");
    }
    cargo(&[
        "build",
        "--release",
        "--locked",
        "-p",
        "streamspec-emulator",
        "-p",
        "streamspec-conformance",
    ])?;
    let dir = root.join("target/bench-proxy");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;

    let (emulator, upstream) = start_emulator(&root, &dir, true)?;
    let _emulator = Running(emulator);
    let id = create_key(upstream, TOKEN)?;
    let ours = free_port()?;
    let _ours = Running(
        Command::new(root.join("target/release/streamspec-conformance"))
            .args(["proxy", "--api", "aioz", "--upstream", &format!("http://{upstream}")])
            .args(["--listen", &ours.to_string(), "--report"])
            .arg(dir.join("report.jsonl"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting streamspec-conformance proxy")?,
    );
    wait_for(ours, Duration::from_secs(30)).context("starting streamspec-conformance proxy")?;
    let prism_binary = install_prism(&root)?;
    let theirs = free_port()?;
    // Prism serves the spec's paths under its server URL's path, so its upstream carries `/api`.
    let _prism = Running(
        Command::new(&prism_binary)
            .args(["proxy", "-h", "127.0.0.1", "-p", &theirs.port().to_string()])
            .arg(root.join("spec/aioz-stream.yaml"))
            .arg(format!("http://{upstream}/api"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting prism proxy")?,
    );
    wait_for(theirs, Duration::from_secs(60)).context("starting prism proxy")?;

    // (threads, connections): one client, then a loaded run.
    let loads = [("1", "1"), ("2", "32")];
    let workloads: Vec<_> = bench::workloads()
        .into_iter()
        .filter(|workload| matches!(workload.name, "get" | "create"))
        .collect();
    let columns = ["direct", "streamspec proxy", "Prism proxy"];
    // samples[load][workload][column]: one run per round.
    let mut samples = vec![vec![vec![Vec::new(); columns.len()]; workloads.len()]; loads.len()];
    for round in 1..=rounds {
        for (load_index, load) in loads.iter().enumerate() {
            for (index, workload) in workloads.iter().enumerate() {
                let urls = [
                    format!("http://{upstream}{}", workload.path),
                    format!("http://{ours}{}", workload.path),
                    format!("http://{theirs}{}", workload.prism_path),
                ];
                let mut order: Vec<usize> = (0..urls.len()).collect();
                if round % 2 == 0 {
                    order.reverse();
                }
                for column in order {
                    let url = urls[column].replace("{id}", &id);
                    let (name, connections) = (workload.name, load.1);
                    println!(
                        "bench proxy: round {round}/{rounds}, {name}, {connections} connections, {}: {url}",
                        columns[column]
                    );
                    let figures = wrk_with(&dir, workload, &url, seconds, *load)?;
                    samples[load_index][index][column].push(figures);
                }
            }
        }
    }
    let violations = std::fs::read_to_string(dir.join("report.jsonl")).unwrap_or_default();
    let violations = violations.lines().count();
    let mut table = format!(
        "Proxy run of {} on {}: `wrk -d{seconds}s --latency` per run with one connection (`-t1 -c1`, \
         the p50 one client sees) and with 32 (`-t2 -c32`, the rate), on loopback, wrk, the emulator \
         and the proxies sharing the machine; each cell is the median of {rounds} rounds, each added \
         p50 and ratio the median of the rounds' own, every other round running the columns in \
         reverse (`cargo xtask bench proxy --seconds {seconds} --rounds {rounds}`). Our proxy reported \
         {violations} violations.\n\n\
         | workload | p50, 1 connection: direct | ours (added) | Prism (added) | req/s, 32 connections: direct | ours | Prism | ours ÷ Prism |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- |\n",
        bench::today(),
        bench::machine(),
    );
    // The median of what `pair` makes of each round's (direct, ours, Prism) figures.
    let paired = |load: usize, index: usize, pair: &dyn Fn([&Figures; 3]) -> f64| {
        let runs = &samples[load][index];
        let mut values: Vec<f64> =
            (0..runs[0].len()).map(|round| pair([0, 1, 2].map(|c| &runs[c][round]))).collect();
        values.sort_by(f64::total_cmp);
        values.get(values.len().checked_sub(1)? / 2).copied()
    };
    for (index, workload) in workloads.iter().enumerate() {
        let one: Vec<Option<Figures>> = samples[0][index].iter().cloned().map(median).collect();
        let loaded: Vec<Option<Figures>> = samples[1][index].iter().cloned().map(median).collect();
        let ([Some(d1), Some(o1), Some(p1)], [Some(d32), Some(o32), Some(p32)]) =
            ([one[0], one[1], one[2]], [loaded[0], loaded[1], loaded[2]])
        else {
            continue;
        };
        let (Some(ours_added), Some(prism_added), Some(ratio)) = (
            paired(0, index, &|[direct, ours, _]| ours.p50_ms - direct.p50_ms),
            paired(0, index, &|[direct, _, prism]| prism.p50_ms - direct.p50_ms),
            paired(1, index, &|[_, ours, prism]| {
                ours.requests_per_second / prism.requests_per_second
            }),
        ) else {
            continue;
        };
        let errors = [d1, o1, p1, d32, o32, p32].iter().map(|f| f.errors).sum::<u64>();
        table.push_str(&format!(
            "| {}{} | {:.2} ms | {:.2} ms (+{:.2}) | {:.2} ms (+{:.2}) | {:.0} | {:.0} | {:.0} | {:.1} |\n",
            workload.name,
            if errors > 0 { format!(" ({errors} non-2xx)") } else { String::new() },
            d1.p50_ms,
            o1.p50_ms,
            ours_added,
            p1.p50_ms,
            prism_added,
            d32.requests_per_second,
            o32.requests_per_second,
            p32.requests_per_second,
            ratio,
        ));
    }
    println!("\n{table}");
    std::fs::write(dir.join("results.md"), &table)?;
    println!("bench proxy: the table is also in target/bench-proxy/results.md");
    Ok(true)
}
