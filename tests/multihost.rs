//! Several load hosts against one server, proved on one machine: a
//! `muxserver --control`, two `loadgen --addr --server-control --start-at`
//! processes, then `loadgen merge`.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use muxbench::backend::Backend;
use muxbench::report::json::{decode_histogram, FullResult};

mod common;
use common::Server;

fn loadgen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .output()
        .expect("run loadgen")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The server's control address from its readiness line.
fn control_addr(server: &Server) -> String {
    server.control.clone().expect("started with --control")
}

fn read(p: &Path) -> FullResult {
    muxbench::report::json::read(p).unwrap()
}

#[test]
fn two_hosts_merge_into_one_result() {
    let server = Server::start(Backend::EpollEt, &["--control", "127.0.0.1:0"]);
    let dir = tempfile::tempdir().unwrap();
    let jsons = run_two_hosts(&server, dir.path());
    let merged = dir.path().join("merged.json");
    let csv = dir.path().join("runs.csv");
    let out = loadgen(&[
        "merge",
        jsons[0].to_str().unwrap(),
        jsons[1].to_str().unwrap(),
        "--json",
        merged.to_str().unwrap(),
        "--csv",
        csv.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let (a, b, m) = (read(&jsons[0]), read(&jsons[1]), read(&merged));
    check_merged_sums(&a, &b, &m, &out);
    check_server_counters(&a, &b, &m);
    check_merged_row(&m, &csv, dir.path());
    server.stop();
    check_merge_refusals(&jsons[0], &a, &b, dir.path());
}

/// Two `loadgen --addr --server-control --start-at` hosts, `a` and `b`, run
/// at once against `server`; returns their JSON results.
fn run_two_hosts(server: &Server, dir: &Path) -> Vec<PathBuf> {
    let control = control_addr(server);
    let addr = server.addr.to_string();
    let at = format!("{:.3}", unix_now() + 2.5);
    let hosts: Vec<_> = ["a", "b"]
        .iter()
        .map(|h| {
            let json = dir.join(format!("{h}.json"));
            let child = Command::new(env!("CARGO_BIN_EXE_loadgen"))
                .args(["--addr", &addr, "--server-control", &control])
                .args(["--start-at", &at, "--host-label", h])
                .args(["--conns", "10", "--warmup", "0.3", "--duration", "1"])
                .args(["--no-csv", "--quiet", "--json"])
                .arg(&json)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap();
            (child, json)
        })
        .collect();
    let mut jsons = Vec::new();
    for (mut child, json) in hosts {
        let status = child.wait().unwrap();
        assert!(status.success(), "a load host failed");
        jsons.push(json);
    }
    jsons
}

/// The merged result `m` of hosts `a` and `b` (`out`: the merge's output)
/// counts both hosts' requests and latencies.
fn check_merged_sums(a: &FullResult, b: &FullResult, m: &FullResult, out: &Output) {
    let r = &m.result;
    assert_eq!(r.load_hosts, Some(2));
    assert_eq!(m.hosts.len(), 2);
    assert_eq!(r.requests, a.result.requests + b.result.requests);
    assert_eq!(r.errors, 0, "{}", text(out));
    let count = |f: &FullResult| {
        decode_histogram(f.histogram.as_deref().unwrap())
            .unwrap()
            .len()
    };
    assert_eq!(count(m), count(a) + count(b));
    assert_eq!(count(m), r.requests);
}

/// The server's counters: sampled by each host, of one server process, and
/// matching the merged requests.
fn check_server_counters(a: &FullResult, b: &FullResult, m: &FullResult) {
    let r = &m.result;
    // Each host sampled the server's counters every interval too.
    for f in [a, b] {
        assert!(!f.intervals.is_empty());
        for i in &f.intervals {
            assert!(i.server_cpu_us_per_req.is_some(), "{i:?}");
            assert!(i.server_syscalls_per_req.is_some(), "{i:?}");
        }
    }
    // Each host saw the server's counters of the same process.
    let id = |f: &FullResult| f.server_window.as_ref().unwrap().0.server_id.clone();
    assert_eq!(id(a), id(b));
    assert!(!id(a).is_empty());
    // The server's bytes over the span every host was measuring (the latest
    // start snapshot to the earliest end one) match the requests of that
    // span, each host at its own rate, up to what is in flight at the edges
    // (one message per connection each) and a rate that varied within a
    // window. (Not the hosts' whole windows: a loaded machine starts one
    // host tens of ms after the other, and the span is that much shorter.)
    let (s0, s1) = m.server_window.as_ref().expect("merged server window");
    let span = s1.unix_ns.saturating_sub(s0.unix_ns) as f64 / 1e9;
    assert!(span > 0.5, "the hosts measured together for only {span} s");
    let expected = (a.result.req_per_s + b.result.req_per_s) * span;
    let server_msgs = r.server_bytes_out.unwrap() as f64 / r.msg_size as f64;
    let margin = 2.0 * 20.0 + 0.03 * expected;
    assert!(
        (server_msgs - expected).abs() <= margin,
        "server {server_msgs} vs {expected:.0} requests over the common {span:.3} s (merged: {})",
        r.requests
    );
    // Per request: one read and one write, counted once for both hosts.
    let reads = r.server_reads_per_req.unwrap();
    assert!((0.9..1.2).contains(&reads), "{reads} reads per request");
    assert!(r.server_cpu_us_per_req.unwrap() > 0.0);
}

/// The merged row in `csv` is a row of the usual schema, and `loadgen
/// report` takes it.
fn check_merged_row(m: &FullResult, csv: &Path, dir: &Path) {
    let r = &m.result;
    let rows = muxbench::report::csv::read(csv).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].load_hosts, Some(2));
    assert_eq!(rows[0].requests, r.requests);
    let md = dir.join("REPORT.md");
    let out = loadgen(&[
        "report",
        csv.to_str().unwrap(),
        "--output",
        md.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "loadgen report takes it: {}",
        text(&out)
    );
}

/// Refusals: one host twice, windows that do not overlap, different servers
/// (`first` is `a`'s JSON; the others are `b` altered).
fn check_merge_refusals(first: &Path, a: &FullResult, b: &FullResult, dir: &Path) {
    let out = loadgen(&["merge", first.to_str().unwrap(), first.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("same host"), "{}", text(&out));
    let mut late = b.clone();
    late.result.window_start_unix = Some(a.result.window_end_unix.unwrap() + 10.0);
    late.result.window_end_unix = Some(a.result.window_end_unix.unwrap() + 11.0);
    let late_path = dir.join("late.json");
    muxbench::report::json::write_full(&late_path, &late).unwrap();
    let out = loadgen(&[
        "merge",
        first.to_str().unwrap(),
        late_path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("do not overlap"), "{}", text(&out));
    let mut other = b.clone();
    if let Some(w) = other.server_window.as_mut() {
        w.0.server_id = "elsewhere:1:2".into();
        w.1.server_id = "elsewhere:1:2".into();
    }
    let other_path = dir.join("other.json");
    muxbench::report::json::write_full(&other_path, &other).unwrap();
    let out = loadgen(&[
        "merge",
        first.to_str().unwrap(),
        other_path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("different servers"), "{}", text(&out));
}

/// A control address that does not answer, or answers something else, is
/// an error before the run starts.
#[test]
fn bad_control_address_is_a_clear_error() {
    let echo = Server::start(Backend::EpollEt, &[]);
    let addr = echo.addr.to_string();
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let out = loadgen(&["--addr", &addr, "--server-control", &closed, "--conns", "1"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("does not answer"), "{}", text(&out));

    let liar = TcpListener::bind("127.0.0.1:0").unwrap();
    let liar_addr = liar.local_addr().unwrap().to_string();
    let t = std::thread::spawn(move || {
        if let Ok((mut s, _)) = liar.accept() {
            let _ = s.write_all(b"hello, I am not muxserver\n");
        }
    });
    let out = loadgen(&[
        "--addr",
        &addr,
        "--server-control",
        &liar_addr,
        "--conns",
        "1",
    ]);
    t.join().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("not a muxserver counters snapshot"),
        "{}",
        text(&out)
    );
    echo.stop();
}

/// `--start-at` in the past (after connecting) is refused; a malformed one
/// is a usage error.
#[test]
fn start_at_in_the_past_is_refused() {
    let echo = Server::start(Backend::EpollEt, &[]);
    let addr = echo.addr.to_string();
    let past = format!("{:.3}", unix_now() - 5.0);
    let out = loadgen(&[
        "--addr",
        &addr,
        "--start-at",
        &past,
        "--conns",
        "1",
        "--no-csv",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--start-at"), "{}", text(&out));
    let out = loadgen(&["--addr", &addr, "--start-at", "yesterday", "--conns", "1"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    echo.stop();
}

/// The control endpoint cannot be made to stall the server or itself: a
/// flood of connections gets at most the answer rate (the rest are closed
/// unanswered) while the echo server goes on serving, clients that connect
/// and never read hold nothing up, and once the flood is over a snapshot is
/// there again.
#[test]
fn the_control_endpoint_bounds_its_work() {
    use std::io::Read;
    use std::net::{SocketAddr, TcpStream};
    use std::time::{Duration, Instant};
    let server = Server::start(Backend::EpollEt, &["--control", "127.0.0.1:0"]);
    let control: SocketAddr = control_addr(&server).parse().unwrap();
    // Clients that never read (nor close), held open throughout.
    let silent: Vec<TcpStream> = (0..50)
        .map(|_| TcpStream::connect(control).unwrap())
        .collect();
    let mut echo = TcpStream::connect(server.addr).unwrap();
    echo.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = Instant::now();
    let (mut answered, flood) = (0usize, 1000usize);
    for k in 0..flood {
        let mut s = TcpStream::connect(control).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut text = String::new();
        let _ = s.read_to_string(&mut text);
        answered += usize::from(text.contains("\"control\""));
        if k % 100 == 0 {
            // The serving loop answers echo all along.
            echo.write_all(b"ping\n").unwrap();
            let mut back = [0u8; 5];
            echo.read_exact(&mut back).unwrap();
            assert_eq!(&back, b"ping\n");
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let rate = muxbench::server::remote::ANSWERS_PER_S;
    // A full bucket, then the rate (with a little slack for timing).
    let bound = (rate * (1.0 + elapsed) + 5.0) as usize;
    assert!(
        answered > 0 && answered <= bound && answered < flood,
        "{answered} of {flood} answered in {elapsed:.2} s (bound {bound})"
    );
    // After the flood (the bucket refills), a snapshot again, within its timeout.
    std::thread::sleep(Duration::from_millis(200));
    let snap = muxbench::server::remote::fetch(control, Duration::from_secs(2)).unwrap();
    assert_eq!(snap.kind, "control");
    drop(silent);
}
