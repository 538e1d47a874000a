//! `cargo xtask bench [--seconds N] [--rounds R]`: a load run on loopback, printed as one table.
//!
//! Builds the emulator in release, starts it on 127.0.0.1 with an on-disk database twice (the
//! conformance layer on, and off), and, where `npx` is available, Stoplight Prism's mock server
//! (installed into `target/prism`, pinned) on the same specs. Each workload (get, list, a page of 25,
//! create, update and the ingest settings patch) is driven with `wrk` for N seconds (default 5) against
//! each server in turn, and the whole sequence is repeated R times (default 3). A cell is the median of
//! its R runs. `list` reads an account with one key, the page Prism's example answers, so both servers
//! answer the same page; `list, a page of 25` reads an account of 30 keys, which Prism cannot serve.
//! Running the servers back to back within a round, rather than one after the other for the whole
//! run, keeps a slow minute of the machine from landing on one column only.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::ci::cargo;

pub(crate) const PRISM: &str = "@stoplight/prism-cli@5.16.0";
/// The account whose keys are created, read and updated.
pub(crate) const TOKEN: &str = "bench-token";
/// The account that `list` reads: one key, as Prism's example page has, so that both servers answer
/// the same page. The listed accounts hold only the keys made at start, so a list costs the same in
/// every round however many keys the create runs add to the other account.
const LIST_TOKEN: &str = "bench-list-token";
/// The account that `list, a page of 25` reads: [`PAGE_KEYS`] keys. Prism has no such page to answer.
const PAGE_TOKEN: &str = "bench-page-token";
const PAGE_KEYS: usize = 30;
const API_KEY: &str = "bench-api-key";
/// Connections and threads of every wrk run.
const CONNECTIONS: &str = "32";
const THREADS: &str = "2";

/// One measured run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Figures {
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Responses that were not 2xx, as wrk counts them.
    pub errors: u64,
}

/// One workload: a request wrk repeats.
pub(crate) struct Workload {
    pub name: &'static str,
    pub method: &'static str,
    /// The path on the emulator; Prism serves AIOZ without the `/api` prefix of its server URL.
    pub path: String,
    pub prism_path: String,
    /// Whether it goes to the Storm spec's Prism.
    storm: bool,
    /// The AIOZ bearer token it sends (Storm's requests send the API key).
    token: &'static str,
    body: Option<&'static str>,
    /// Whether Prism is measured on it: Prism answers every list with its one example key.
    prism: bool,
}

/// A server under load, a column of the table.
struct Server {
    column: &'static str,
    children: Vec<Running>,
    /// Where AIOZ's and Storm's requests go.
    aioz: SocketAddr,
    storm: SocketAddr,
    prism: bool,
    /// The key that get and update address.
    id: String,
}

impl Server {
    fn url(&self, workload: &Workload) -> String {
        let (address, path) = match (self.prism, workload.storm) {
            (true, true) => (self.storm, &workload.prism_path),
            (true, false) => (self.aioz, &workload.prism_path),
            (false, _) => (self.aioz, &workload.path),
        };
        format!("http://{address}{}", path.replace("{id}", &self.id))
    }
}

/// A process the bench started, killed when dropped.
pub(crate) struct Running(pub(crate) Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn run(seconds: u64, rounds: usize) -> Result<bool> {
    let root = crate::project_root();
    if Command::new("wrk").arg("--version").output().is_err() {
        bail!("`wrk` is not installed; on Debian or Ubuntu: `apt-get install wrk`");
    }
    cargo(&["build", "--release", "--locked", "-p", "streamspec-emulator"])?;
    let dir = root.join("target/bench");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;

    let mut servers = Vec::new();
    for (column, validate) in
        [("emulator, validation on", true), ("emulator, validation off", false)]
    {
        let (child, address) = start_emulator(&root, &dir, validate)?;
        let mut server = Server {
            column,
            children: vec![Running(child)],
            aioz: address,
            storm: address,
            prism: false,
            id: String::new(),
        };
        server.id = create_key(address, TOKEN)?;
        create_key(address, LIST_TOKEN)?;
        for _ in 0..PAGE_KEYS {
            create_key(address, PAGE_TOKEN)?;
        }
        servers.push(server);
    }
    if Command::new("npx").arg("--version").output().is_ok_and(|output| output.status.success()) {
        let prism = install_prism(&root)?;
        let (aioz_child, aioz) = start_prism(&prism, &root.join("spec/aioz-stream.yaml"))?;
        let mut server = Server {
            column: "Prism mock",
            children: vec![Running(aioz_child)],
            aioz,
            storm: aioz,
            prism: true,
            id: "0b6f8c1e-54b7-4d0e-9a43-3c2f0f6f1d2a".to_owned(),
        };
        let (storm_child, storm) = start_prism(&prism, &root.join("spec/storm.yaml"))?;
        server.children.push(Running(storm_child));
        server.storm = storm;
        servers.push(server);
    } else {
        println!("bench: `npx` not found, so Prism is not measured");
    }

    let workloads = workloads();
    // samples[workload][server]: one run per round.
    let mut samples = vec![vec![Vec::new(); servers.len()]; workloads.len()];
    for round in 1..=rounds {
        for (index, workload) in workloads.iter().enumerate() {
            for (column, server) in servers.iter().enumerate() {
                if server.prism && !workload.prism {
                    continue;
                }
                let url = server.url(workload);
                let (name, server_name) = (workload.name, server.column);
                println!(
                    "bench: round {round}/{rounds}, {name}, {server_name}: {} {url}",
                    workload.method
                );
                samples[index][column].push(wrk(&dir, workload, &url, seconds)?);
            }
        }
    }
    let columns: Vec<&str> = servers.iter().map(|server| server.column).collect();
    drop(servers);

    let rows: Vec<Row> = workloads
        .iter()
        .zip(samples)
        .map(|(workload, runs)| Row {
            name: workload.name,
            round_ratios: round_ratios(&runs),
            cells: runs.into_iter().map(median).collect(),
        })
        .collect();
    let table = render(&columns, &rows, seconds, rounds);
    println!("\n{table}");
    std::fs::write(dir.join("results.md"), &table)?;
    println!("bench: the table is also in target/bench/results.md");
    Ok(true)
}

/// A workload's line of the table.
struct Row {
    name: &'static str,
    /// One per column: the median run.
    cells: Vec<Option<Figures>>,
    /// Validation on over Prism, each round's runs divided, in round order; empty without Prism.
    round_ratios: Vec<f64>,
}

/// `runs[column][round]`: the first column's rate over the third's (Prism's), round by round. Since
/// the machine's speed drifts over minutes, a round's two runs, seconds apart, compare more fairly
/// than two medians of runs that may come from different rounds.
fn round_ratios(runs: &[Vec<Figures>]) -> Vec<f64> {
    let (Some(ours), Some(theirs)) = (runs.first(), runs.get(2)) else {
        return Vec::new();
    };
    ours.iter()
        .zip(theirs)
        .filter(|(_, theirs)| theirs.requests_per_second > 0.0)
        .map(|(ours, theirs)| ours.requests_per_second / theirs.requests_per_second)
        .collect()
}

/// The run with the median rate (the lower middle one of an even count), with its latencies; `None`
/// for a cell that was not measured.
pub(crate) fn median(mut runs: Vec<Figures>) -> Option<Figures> {
    runs.sort_by(|a, b| a.requests_per_second.total_cmp(&b.requests_per_second));
    runs.get(runs.len().checked_sub(1)? / 2).copied()
}

pub(crate) fn workloads() -> Vec<Workload> {
    let aioz = |name, method, path: &str, token, body| Workload {
        name,
        method,
        prism_path: path.to_owned(),
        path: format!("/api{path}"),
        storm: false,
        token,
        body,
        prism: true,
    };
    vec![
        aioz("get", "GET", "/live_streams/{id}", TOKEN, None),
        aioz("list", "GET", "/live_streams?limit=25", LIST_TOKEN, None),
        Workload {
            prism: false,
            ..aioz("list, a page of 25", "GET", "/live_streams?limit=25", PAGE_TOKEN, None)
        },
        aioz("create", "POST", "/live_streams", TOKEN, Some(r#"{"name": "bench", "save": true}"#)),
        aioz(
            "update",
            "PUT",
            "/live_streams/{id}",
            TOKEN,
            Some(r#"{"name": "renamed", "save": false}"#),
        ),
        Workload {
            name: "ingest settings patch",
            method: "PATCH",
            path: "/api/applications/live/settings/ingest".to_owned(),
            prism_path: "/api/applications/live/settings/ingest".to_owned(),
            storm: true,
            token: TOKEN,
            prism: true,
            body: Some(
                r#"{"data": {"attributes": {"authorizationEnabled": true, "authType": "local", "authUsers": [{"username": "admin", "password": "qwerty123"}]}}}"#,
            ),
        },
    ]
}

fn render(columns: &[&str], rows: &[Row], seconds: u64, rounds: usize) -> String {
    let (machine, date) = (machine(), today());
    let mut out = format!(
        "Load run of {date} on {machine}: `wrk -t{THREADS} -c{CONNECTIONS} -d{seconds}s --latency` per \
         run, on loopback, wrk and the server sharing the machine; each cell is the median of {rounds} \
         rounds, and a round runs every column back to back. Requests per second, then p50 / p99 \
         latency. The ratio is of the medians, then, in brackets, the lowest and highest of the \
         rounds' own ratios.\n\n| workload | {} |",
        columns.join(" | ")
    );
    let prism = columns.len() == 3;
    if prism {
        out.push_str(" validation on ÷ Prism |");
    }
    out.push_str(&format!("\n|{}\n", " --- |".repeat(columns.len() + 1 + usize::from(prism))));
    for Row { name, cells, round_ratios } in rows {
        out.push_str(&format!("| {name} |"));
        for cell in cells {
            let Some(f) = cell else {
                out.push_str(" - |");
                continue;
            };
            let errors =
                if f.errors > 0 { format!(", {} non-2xx", f.errors) } else { String::new() };
            out.push_str(&format!(
                " {} /s ({:.2} / {:.2} ms{errors}) |",
                thousands(f.requests_per_second),
                f.p50_ms,
                f.p99_ms
            ));
        }
        if prism {
            match (cells[0], cells[2]) {
                (Some(ours), Some(theirs)) if theirs.requests_per_second > 0.0 => {
                    let lowest = round_ratios.iter().copied().fold(f64::INFINITY, f64::min);
                    let highest = round_ratios.iter().copied().fold(0.0, f64::max);
                    out.push_str(&format!(
                        " {:.1}× ({lowest:.1}–{highest:.1}×) |",
                        ours.requests_per_second / theirs.requests_per_second
                    ));
                }
                _ => out.push_str(" - |"),
            }
        }
        out.push('\n');
    }
    out
}

fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value);
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Today's date, `YYYY-MM-DD`, for a table's heading.
pub(crate) fn today() -> String {
    Command::new("date")
        .arg("+%Y-%m-%d")
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_default()
}

pub(crate) fn machine() -> String {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|line| line.starts_with("MemTotal:"))?.to_owned();
            let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(format!(", {:.0} GiB", kib / 1024.0 / 1024.0))
        })
        .unwrap_or_default();
    format!("{cores} cores{memory}, {}", std::env::consts::ARCH)
}

/// Runs wrk for one workload and reads its summary.
pub(crate) fn wrk(dir: &Path, workload: &Workload, url: &str, seconds: u64) -> Result<Figures> {
    wrk_with(dir, workload, url, seconds, (THREADS, CONNECTIONS))
}

/// [`wrk`] with `(threads, connections)` of its own.
pub(crate) fn wrk_with(
    dir: &Path,
    workload: &Workload,
    url: &str,
    seconds: u64,
    (threads, connections): (&str, &str),
) -> Result<Figures> {
    let script = dir.join(format!("{}.lua", workload.name.replace(' ', "-")));
    let mut lua = format!("wrk.method = \"{}\"\n", workload.method);
    // Each API with its own credentials: Storm would try a bearer token before its API key.
    if workload.storm {
        lua.push_str(&format!("wrk.headers[\"X-Api-Key\"] = \"{API_KEY}\"\n"));
    } else {
        let token = workload.token;
        lua.push_str(&format!("wrk.headers[\"Authorization\"] = \"Bearer {token}\"\n"));
    }
    if let Some(body) = workload.body {
        lua.push_str("wrk.headers[\"Content-Type\"] = \"application/json\"\n");
        lua.push_str(&format!("wrk.body = [[{body}]]\n"));
    }
    std::fs::write(&script, lua)?;
    let output = Command::new("wrk")
        .args(["-t", threads, "-c", connections, "-d", &format!("{seconds}s"), "--latency", "-s"])
        .arg(&script)
        .arg(url)
        .output()
        .context("running wrk")?;
    let text = String::from_utf8_lossy(&output.stdout);
    parse_wrk(&text).with_context(|| format!("reading wrk's output:\n{text}"))
}

fn parse_wrk(text: &str) -> Result<Figures> {
    let field = |prefix: &str| -> Option<&str> {
        text.lines().map(str::trim).find_map(|line| line.strip_prefix(prefix)).map(str::trim)
    };
    let requests_per_second: f64 = field("Requests/sec:").context("no Requests/sec")?.parse()?;
    let p50_ms = duration_ms(field("50%").context("no p50")?)?;
    let p99_ms = duration_ms(field("99%").context("no p99")?)?;
    let errors = field("Non-2xx or 3xx responses:").map_or(Ok(0), str::parse)?;
    Ok(Figures { requests_per_second, p50_ms, p99_ms, errors })
}

/// `640.00us`, `1.73ms`, `2.01s` in milliseconds.
fn duration_ms(text: &str) -> Result<f64> {
    let (number, factor) = if let Some(number) = text.strip_suffix("us") {
        (number, 0.001)
    } else if let Some(number) = text.strip_suffix("ms") {
        (number, 1.0)
    } else if let Some(number) = text.strip_suffix('s') {
        (number, 1000.0)
    } else {
        bail!("an unknown duration: {text}");
    };
    Ok(number.parse::<f64>()? * factor)
}

pub(crate) fn start_emulator(
    root: &Path,
    dir: &Path,
    validate: bool,
) -> Result<(Child, SocketAddr)> {
    let name = if validate { "on" } else { "off" };
    let config = dir.join(format!("config-{name}.toml"));
    std::fs::write(
        &config,
        format!(
            "rate_limit_per_minute = 4000000000\nvalidate_requests = {validate}\n\n\
             [[aioz_accounts]]\nuser_id = \"bench\"\npublic_key = \"pk_bench\"\nsecret_key = \"sk_bench\"\n\
             token = \"{TOKEN}\"\n\n\
             [[aioz_accounts]]\nuser_id = \"bench-list\"\npublic_key = \"pk_list\"\n\
             secret_key = \"sk_list\"\ntoken = \"{LIST_TOKEN}\"\n\n\
             [[aioz_accounts]]\nuser_id = \"bench-page\"\npublic_key = \"pk_page\"\n\
             secret_key = \"sk_page\"\ntoken = \"{PAGE_TOKEN}\"\n\n[storm]\napi_key = \"{API_KEY}\"\n"
        ),
    )?;
    let binary = root.join("target/release/streamspec-emulator");
    let mut child = Command::new(&binary)
        .args(["--listen", "127.0.0.1:0", "--no-rtmp", "--db"])
        .arg(dir.join(format!("emulator-{name}.sqlite")))
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let mut lines = BufReader::new(child.stdout.take().context("the emulator's stdout")?).lines();
    let address = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| {
            line.strip_prefix("streamspec-emulator listening on http://")
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|address| address.parse().ok())
        })
        .context("the emulator printed no address")?;
    std::thread::spawn(move || lines.for_each(drop));
    Ok((child, address))
}

/// Creates a live stream key in `token`'s account; its id.
pub(crate) fn create_key(address: SocketAddr, token: &str) -> Result<String> {
    let body = r#"{"name": "bench", "save": true}"#;
    let authorization = format!("Authorization: Bearer {token}");
    let (_, json) = request(address, "POST /api/live_streams", &authorization, body)?;
    let value: serde_json::Value = serde_json::from_str(&json).context("the create answer")?;
    value["data"]["id"].as_str().map(str::to_owned).context("the create answer has no id")
}

/// One plain HTTP/1.1 request with a JSON body and one more header (`Name: value`), on a
/// connection of its own: the answer's status line and body.
pub(crate) fn request(
    address: SocketAddr,
    method_and_path: &str,
    header: &str,
    body: &str,
) -> Result<(String, String)> {
    let mut stream = TcpStream::connect(address)?;
    write!(
        stream,
        "{method_and_path} HTTP/1.1\r\nHost: {address}\r\n{header}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head.lines().next().unwrap_or_default().to_owned();
    Ok((status, body.to_owned()))
}

/// A port on 127.0.0.1 that was free a moment ago, for a server that takes its port as a flag.
pub(crate) fn free_port() -> Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// Waits until something listens on `address`, for at most `within`.
pub(crate) fn wait_for(address: SocketAddr, within: Duration) -> Result<()> {
    let started = Instant::now();
    while TcpStream::connect(address).is_err() {
        if started.elapsed() > within {
            bail!("nothing listens on {address} after {} s", within.as_secs());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Prism, installed into `target/prism` when missing.
pub(crate) fn install_prism(root: &Path) -> Result<PathBuf> {
    let dir = root.join("target/prism");
    let binary = dir.join("node_modules/.bin/prism");
    if binary.exists() {
        return Ok(binary);
    }
    println!("bench: installing {PRISM} into target/prism");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("package.json"), "{\"private\": true}\n")?;
    let status = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", PRISM])
        .current_dir(&dir)
        .status()
        .context("running npm install")?;
    if !status.success() || !binary.exists() {
        bail!("installing {PRISM} failed");
    }
    Ok(binary)
}

fn start_prism(binary: &Path, spec: &Path) -> Result<(Child, SocketAddr)> {
    let address = free_port()?;
    let child = Command::new(binary)
        .args(["mock", "-h", "127.0.0.1", "-p", &address.port().to_string()])
        .arg(spec)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting prism")?;
    wait_for(address, Duration::from_secs(60)).context("starting prism")?;
    Ok((child, address))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrk_output() {
        let text = "Running 10s test @ http://127.0.0.1:8080/api/live_streams/x
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   424.84us  182.68us   4.58ms   76.99%
  Latency Distribution
     50%  418.00us
     75%  500.00us
     90%  600.00us
     99%    0.95ms
  760344 requests in 10.10s, 300.00MB read
  Non-2xx or 3xx responses: 12
Requests/sec:  75278.75
Transfer/sec:     29.70MB
";
        let figures = parse_wrk(text).unwrap();
        assert_eq!(figures.requests_per_second, 75278.75);
        assert!((figures.p50_ms - 0.418).abs() < 1e-9 && (figures.p99_ms - 0.95).abs() < 1e-9);
        assert_eq!(figures.errors, 12);
        assert_eq!(thousands(75278.75), "75,279");
        assert_eq!(duration_ms("2.5s").unwrap(), 2500.0);
    }

    #[test]
    fn a_cell_is_the_median_run() {
        let run = |requests_per_second| Figures {
            requests_per_second,
            p50_ms: requests_per_second,
            p99_ms: 0.0,
            errors: 0,
        };
        let cell = median(vec![run(3.0), run(1.0), run(2.0)]).unwrap();
        assert_eq!(
            (cell.requests_per_second, cell.p50_ms),
            (2.0, 2.0),
            "its latencies come with it"
        );
        assert_eq!(median(vec![run(4.0), run(1.0)]).unwrap().requests_per_second, 1.0);
        assert!(median(Vec::new()).is_none(), "a cell not measured");
    }

    #[test]
    fn ratios_divide_the_runs_of_one_round() {
        let run = |requests_per_second| Figures {
            requests_per_second,
            p50_ms: 0.0,
            p99_ms: 0.0,
            errors: 0,
        };
        let runs =
            vec![vec![run(40.0), run(90.0)], vec![run(1.0), run(1.0)], vec![run(2.0), run(3.0)]];
        assert_eq!(round_ratios(&runs), vec![20.0, 30.0]);
        assert!(round_ratios(&runs[..2]).is_empty(), "no Prism column, no ratios");
        let row = Row {
            name: "get",
            cells: runs.into_iter().map(median).collect(),
            round_ratios: vec![20.0, 30.0],
        };
        let table = render(&["on", "off", "Prism mock"], &[row], 5, 2);
        assert!(table.contains("| get | 40 /s"), "{table}");
        assert!(table.ends_with("| 20.0× (20.0–30.0×) |\n"), "{table}");
    }
}
