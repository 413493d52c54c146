//! The load generator end to end: its own server for every backend, broken
//! servers it must catch, open-loop rates, and an external server.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use muxbench::backend::Backend;
use muxbench::loadgen::RunResult;

mod common;
use common::Server;

/// One load-generator run at a time in this file: each pins a server and its
/// workers to the machine's CPUs and checks figures (client vs server counts
/// at the window's cuts, rates met) that several concurrent runs on 2 cores
/// would distort by scheduling alone.
static ONE_RUN_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn loadgen(dir: &Path, args: &[&str]) -> (Output, Option<RunResult>) {
    let _one = ONE_RUN_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let csv = dir.join("runs.csv");
    let json = dir.join("run.json");
    let _ = std::fs::remove_file(&json);
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .args(["--warmup", "200ms", "--quiet"])
        .arg("--csv")
        .arg(&csv)
        .arg("--json")
        .arg(&json)
        .output()
        .expect("run loadgen");
    let result = std::fs::read_to_string(&json).ok().map(|t| {
        let full: muxbench::report::json::FullResult =
            serde_json::from_str(&t).expect("JSON result parses");
        assert!(full.result.requests == 0 || !full.latency_percentiles.is_empty());
        full.result
    });
    (out, result)
}

fn text(o: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// 500 active + 200 idle connections, ~1 s measured, every backend.
fn short_run_is_clean_and_consistent(backend: Backend) {
    common::raise_fd_limit();
    let dir = tempfile::tempdir().unwrap();
    let (out, r) = loadgen(
        dir.path(),
        &[
            "--backend",
            backend.name(),
            "--conns",
            "500",
            "--idle",
            "200",
            "--duration",
            "1",
            "--interval",
            "250ms",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let r = r.expect("JSON written");
    intervals_add_up(&r, &dir.path().join("run.json"));
    assert_eq!(r.errors, 0, "{}", text(&out));
    assert_eq!((r.connected, r.connected_idle), (500, 200));
    assert_eq!(r.backend, backend.name());
    assert!(r.requests > 500, "{} requests", r.requests);
    // The client's count and the server's echoed bytes agree, up to the
    // messages in flight at the two cuts (one per connection each).
    // A connection thread (`threads`) publishes its counts after each
    // request: one preempted between its write and its publication is one
    // more message unseen at each cut.
    let unpublished = if backend == Backend::Threads {
        2 * 500
    } else {
        0
    };
    let server_msgs = r.server_bytes_out.unwrap() / r.msg_size as u64;
    // The server's figures span its two snapshots, which a loaded 2-core
    // machine may take tens of ms to answer (the sampler's probe runs first,
    // on the server's CPU, behind 500 `threads` connection threads): scale
    // the client's count to that span; 2 % for the rate varying within it.
    let stretch = snapshot_span_s(&dir.path().join("run.json")) / r.measured_s;
    let expected = (r.requests as f64 * stretch) as u64;
    let skew = expected / 50;
    assert!(
        server_msgs.abs_diff(expected) <= 2 * 500 + unpublished + skew,
        "client {} ({expected} over the snapshots' span) vs server {server_msgs}",
        r.requests
    );
    assert!(r.server_cpu_us_per_req.unwrap() > 0.0);
    // The whole machine's busy time per request holds the server CPU's
    // (one of its CPUs, the same ticks), which holds work for the server.
    let machine = r.machine_cpu_us_per_req.expect("machine busy time");
    let core = r.server_core_us_per_req.expect("the server is pinned");
    assert!(machine >= core && core > 0.0, "{machine} vs {core}");
    assert!(r.machine_softirq_us_per_req.unwrap() <= machine);
    // What a backend cannot count is unknown, never zero.
    let counted = backend.counted();
    match r.server_reads_per_req {
        // Per request of the client's window; per message the server echoed
        // over its own span, at least one read.
        Some(reads) => assert!(counted.syscalls && reads / stretch >= 0.9, "{reads}"),
        None => assert!(!counted.syscalls, "{backend} counts its reads"),
    }
    assert_eq!(r.server_syscalls_per_req.is_some(), counted.syscalls);
    assert_eq!(r.server_waits_per_req.is_some(), counted.mux);
    assert!(r.lat_p50_us > 0 && r.lat_p50_us <= r.lat_p99_us && r.lat_p99_us <= r.lat_max_us);
    // Idle connections are registered on the server: select and poll scan all
    // ~702 slots on every wait that returns events (waits interrupted by the
    // snapshot signals scan none, hence the margin); epoll examines only the
    // events it returned.
    if matches!(backend, Backend::Select | Backend::Poll) {
        assert!(r.server_slots_per_wait.unwrap() >= 600.0, "{r:?}");
    } else if !counted.mux {
        assert_eq!(r.server_events_per_wait, None, "{r:?}");
    } else {
        assert_eq!(r.server_slots_per_wait, r.server_events_per_wait, "{r:?}");
    }

    // The CSV row parses back and carries the documented header.
    let rows = muxbench::report::csv::read(&dir.path().join("runs.csv")).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].requests, r.requests);
    let csv_text = std::fs::read_to_string(dir.path().join("runs.csv")).unwrap();
    assert_eq!(
        csv_text.lines().next().unwrap(),
        muxbench::report::csv::header().unwrap()
    );
    for col in [
        "req_per_s",
        "lat_p99_us",
        "server_cpu_us_per_req",
        "server_syscalls_per_req",
        "cpu_model",
        "kernel",
    ] {
        assert!(
            csv_text
                .lines()
                .next()
                .unwrap()
                .split(',')
                .any(|c| c == col),
            "{col}"
        );
    }
}
per_backend!(short_run_is_clean_and_consistent);

/// The window's intervals (sampled from the server's counters page and the
/// kernel's CPU clock of the server) add up to the whole window's figures.
/// Seconds between the server snapshots that bound a run's server figures.
fn snapshot_span_s(json: &Path) -> f64 {
    let full = muxbench::report::json::read(json).unwrap();
    let (a, b) = full.server_window.expect("our own server was snapshotted");
    b.unix_ns.saturating_sub(a.unix_ns) as f64 / 1e9
}

fn intervals_add_up(r: &RunResult, json: &Path) {
    let full: muxbench::report::json::FullResult =
        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    let iv = &full.intervals;
    assert_eq!(iv.len(), 4, "1 s in 250 ms intervals: {iv:?}");
    assert_eq!(r.intervals, 4);
    assert_eq!(r.interval_s, 0.25);
    // Every message of the window is in exactly one interval.
    assert_eq!(iv.iter().map(|i| i.requests).sum::<u64>(), r.requests);
    // The server's bytes over the intervals match those between the edge
    // snapshots at the same rate: the intervals cover their own span (from
    // the first sample to the last, either of which a loaded machine may
    // make late), the snapshots theirs.
    let whole = r.server_bytes_out.unwrap() as f64;
    let summed = iv.iter().map(|i| i.server_bytes_out.unwrap()).sum::<u64>() as f64;
    let span: f64 = iv.iter().map(|i| i.length_s).sum();
    let expected = whole * span / snapshot_span_s(json);
    assert!(
        (summed - expected).abs() <= 0.05 * expected + 1000.0 * r.msg_size as f64,
        "{summed} vs {whole} over {} s ({span} s of intervals)",
        r.measured_s
    );
    for i in iv {
        // An interval a late sampler cut short (the rule leaves it out) may
        // hold no request, or no tick of /proc/stat (10 ms): its figures are
        // then unknown, never zero.
        let short = i.excluded.contains("short");
        match i.server_cpu_us_per_req {
            Some(cpu) => assert!(cpu > 0.0, "{i:?}"),
            None => assert!(short && i.requests == 0, "{i:?}"),
        }
        // Every CPU's busy time per request, beside the server process's.
        match i.machine_cpu_us_per_req {
            Some(m) => assert!(m > 0.0, "{i:?}"),
            None => assert!(short, "{i:?}"),
        }
        let counted = r.backend.parse::<Backend>().unwrap().counted();
        match i.server_syscalls_per_req {
            // An interval the rule left out as short (a late sampler) may
            // end before the server published anything new.
            Some(n) => assert!(counted.syscalls && (n > 0.0 || short), "{i:?}"),
            None => assert!(!counted.syscalls || (short && i.requests == 0), "{i:?}"),
        }
        // 250 ms apart, give or take how late a loaded machine wakes the
        // sampler: its probe runs on the server's CPU, where 500 `threads`
        // connection threads can keep it waiting 200 ms; then one interval is
        // long and the next short (the interval rule leaves a short one out).
        assert!(
            i.probe_us > 0.0 && i.length_s > 0.0 && i.length_s < 0.75,
            "{i:?}"
        );
    }
    // Together they cover the window: one after another, from the first
    // sample to the window's end. The first sample itself may come late (its
    // probe waits on the server's CPU behind 500 `threads` connection
    // threads: 238 ms once on CI), so the span counts from the window's start.
    for w in iv.windows(2) {
        let gap = w[1].start_s - (w[0].start_s + w[0].length_s);
        assert!(gap.abs() < 1e-3, "intervals not contiguous: {w:?}");
    }
    let covered: f64 = iv[0].start_s + iv.iter().map(|i| i.length_s).sum::<f64>();
    assert!(
        // The last sample may be late too, as much as an interval may be long.
        (0.9..1.5).contains(&covered) && iv[0].start_s < 0.5,
        "{covered} s of intervals in 1 s: {iv:?}"
    );
    let Some(med) = r.server_cpu_us_per_req_med else {
        // Only when the interval rule left every interval out.
        assert_eq!(r.intervals_excluded, r.intervals, "{r:?}");
        return;
    };
    let whole_cpu = r.server_cpu_us_per_req.unwrap();
    assert!(
        med > whole_cpu / 2.0 && med < whole_cpu * 2.0,
        "{med} vs {whole_cpu}"
    );
    assert!(r.probe_us.unwrap() > 0.0);
}

/// A deliberately broken echo server, one thread per connection (a test
/// fixture, a handful of connections).
#[derive(Clone, Copy)]
enum Broken {
    /// Echoes, but flips one byte after 1,000 bytes.
    FlipsAByte,
    /// Echoes 1,000 bytes, then closes the connection.
    DropsConnection,
    /// Reads, never answers.
    Silent,
}

fn broken_server(kind: Broken) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut total = 0usize;
                loop {
                    let n = match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    match kind {
                        Broken::Silent => continue,
                        Broken::DropsConnection if total > 1000 => return,
                        Broken::FlipsAByte if total <= 1000 && total + n > 1000 => {
                            buf[1000 - total] ^= 0x40;
                        }
                        _ => {}
                    }
                    total += n;
                    if s.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn detects_broken_server(kind: Broken) -> (Output, Option<RunResult>, Duration) {
    let addr = broken_server(kind).to_string();
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let (out, r) = loadgen(
        dir.path(),
        &[
            "--addr",
            &addr,
            "--label",
            "broken",
            "--conns",
            "4",
            "--duration",
            "1",
            "--timeout",
            "1s",
        ],
    );
    (out, r, t.elapsed())
}

#[test]
fn detects_a_flipped_byte() {
    let (out, r, _) = detects_broken_server(Broken::FlipsAByte);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let r = r.unwrap();
    assert!(r.err_corrupt >= 1, "{r:?}");
    assert_eq!(r.backend, "broken");
}

#[test]
fn detects_a_dropped_connection() {
    let (out, r, _) = detects_broken_server(Broken::DropsConnection);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let r = r.unwrap();
    assert!(r.err_closed_by_server >= 1, "{r:?}");
    assert!(r.err_missing >= 1, "{r:?}");
}

#[test]
fn detects_a_silent_server_without_hanging() {
    let (out, r, took) = detects_broken_server(Broken::Silent);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(r.is_none(), "no result file for a failed run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("stopped answering"), "{err}");
    assert!(took < Duration::from_secs(15), "took {took:?}");
}

#[test]
fn a_dead_server_ends_the_run_with_a_message() {
    // An external server that dies mid-run: connections reset, nothing answers.
    let server = Server::start(Backend::Poll, &[]);
    let addr = server.addr.to_string();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(600));
        drop(server); // SIGKILL
    });
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let (out, _) = loadgen(
        dir.path(),
        &[
            "--addr",
            &addr,
            "--conns",
            "10",
            "--duration",
            "3",
            "--timeout",
            "1s",
        ],
    );
    killer.join().unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    assert!(t.elapsed() < Duration::from_secs(15));
}

#[test]
fn open_loop_below_capacity_meets_the_rate() {
    let dir = tempfile::tempdir().unwrap();
    let (out, r) = loadgen(
        dir.path(),
        &[
            "--backend",
            "epoll-et",
            "--conns",
            "20",
            "--rate",
            "2000",
            "--duration",
            "2",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let r = r.unwrap();
    let achieved = r.req_per_s;
    assert!(
        (achieved - 2000.0).abs() <= 100.0,
        "achieved {achieved} of 2000/s"
    );
    assert_eq!(r.rate_not_met, Some(false));
    assert_eq!(r.load_model, muxbench::record::LoadModel::Open);
    assert!(r.uncorrected_p99_us.is_some());
}

#[test]
fn open_loop_above_capacity_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (out, r) = loadgen(
        dir.path(),
        &[
            "--backend",
            "epoll-lt",
            "--conns",
            "10",
            "--rate",
            "50000000",
            "--duration",
            "1",
        ],
    );
    let r = r.unwrap_or_else(|| panic!("{}", text(&out)));
    assert_eq!(r.rate_not_met, Some(true), "{r:?}");
    assert!(
        !r.warnings.is_empty(),
        "a run that missed its rate is flagged"
    );
    // Corrected latency (from intended send times) exceeds the uncorrected one.
    assert!(r.lat_p99_us >= r.uncorrected_p99_us.unwrap());
    // The self-check names the limit that was hit: the server's (connections'
    // in-flight windows filled, sends waited for replies) or, when replies
    // kept up with what one client core can send, the generator's own.
    assert_eq!(r.arrivals.as_deref(), Some("poisson"));
    match r.check() {
        muxbench::record::Check::Saturated => {}
        muxbench::record::Check::Invalid => {
            assert!(r.verdict.contains("fell behind"), "{}", r.verdict)
        }
        other => panic!("{other:?}: {}", r.verdict),
    }
    assert!(r.send_rate.unwrap() < 0.95 * 50e6);
    // (Far behind, no message intended in the window may have been answered:
    // then there is no p99 to bound.)
    if let (Some(lo), Some(hi)) = (r.p99_ci_lo_us, r.p99_ci_hi_us) {
        assert!(lo <= r.lat_p99_us && r.lat_p99_us <= hi, "{r:?}");
    }
}

/// Every open-loop worker waits for its due sends with 1 ns of timer slack
/// (Linux's default of 50 µs would make each timed wake-up up to 50 µs late,
/// reported as server latency); the pacing mode and the slack the workers
/// ran with are in the row, and the summary shows the send lateness.
#[test]
fn open_loop_workers_run_with_precise_timers_and_record_their_pacing() {
    let dir = tempfile::tempdir().unwrap();
    for pacing in ["sleep", "spin", "hybrid"] {
        let (out, r) = loadgen(
            dir.path(),
            &[
                "--backend",
                "epoll-et",
                "--conns",
                "4",
                "--rate",
                "2000",
                "--duration",
                "500ms",
                "--pacing",
                pacing,
                "--allow-errors",
            ],
        );
        let r = r.unwrap_or_else(|| panic!("{}", text(&out)));
        assert_eq!(r.pacing.as_deref(), Some(pacing), "{}", text(&out));
        assert_eq!(r.client_timer_slack_ns, Some(1), "{}", text(&out));
        assert!(r.send_lag_p50_us.is_some() && r.send_lag_p99_us.is_some());
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("send late µs p50") && stdout.contains(&format!("pacing {pacing}")),
            "{stdout}"
        );
    }
    // Closed loop has no schedule to keep: nothing recorded.
    let (out, r) = loadgen(
        dir.path(),
        &[
            "--backend",
            "epoll-et",
            "--conns",
            "4",
            "--duration",
            "300ms",
        ],
    );
    let r = r.unwrap_or_else(|| panic!("{}", text(&out)));
    assert_eq!((r.pacing, r.client_timer_slack_ns), (None, None));
}

/// `--strict` turns an invalid self-check into exit status 1 (with
/// `--allow-errors`, so only the verdict can fail the run).
#[test]
fn strict_fails_an_invalid_measurement() {
    let dir = tempfile::tempdir().unwrap();
    let (out, r) = loadgen(
        dir.path(),
        &[
            "--backend",
            "epoll-et",
            "--conns",
            "2",
            "--rate",
            "50000000",
            "--duration",
            "0.5",
            "--allow-errors",
            "--strict",
        ],
    );
    let r = r.unwrap_or_else(|| panic!("{}", text(&out)));
    assert_ne!(r.verdict, "valid");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
}

#[test]
fn drives_an_external_server() {
    let server = Server::start(Backend::EpollLt, &[]);
    let addr = server.addr.to_string();
    let dir = tempfile::tempdir().unwrap();
    let (out, r) = loadgen(
        dir.path(),
        &[
            "--addr",
            &addr,
            "--label",
            "ext",
            "--conns",
            "50",
            "--duration",
            "1",
            "--client-cpus",
            "0",
            "--threads",
            "1",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let r = r.unwrap();
    assert_eq!(r.backend, "ext");
    assert_eq!((r.client_cpus.as_str(), r.threads), ("0", 1));
    assert_eq!(r.errors, 0);
    assert!(
        r.server_cpu_us_per_req.is_none(),
        "no server figures for an external server"
    );
    let snap = server.stop();
    assert!(snap.counters.bytes_out >= r.requests * r.msg_size as u64);
}

#[test]
fn refuses_bad_settings_with_a_message() {
    for (args, needle) in [
        (vec!["--backend", "epoll-et", "--msg-size", "8"], "header"),
        (vec!["--backend", "nope"], "possible values"),
        (
            vec!["--backend", "poll", "--conns", "100000"],
            "RLIMIT_NOFILE",
        ),
        (vec!["--backend", "poll", "--duration", "5x"], "duration"),
        (
            vec![
                "--backend",
                "poll",
                "--workload",
                "chat",
                "--msg-size",
                "20",
            ],
            "too small for chat",
        ),
        (
            vec!["--backend", "poll", "--senders", "3"],
            "--workload chat",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
            .args(&args)
            .args(["--no-csv"])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// Idle connections that select had to refuse (fd >= FD_SETSIZE) are never
/// read by the client, so only the server knows: the run must still say so
/// and fail.
#[test]
fn select_refusing_idle_connections_fails_the_run() {
    common::raise_fd_limit();
    let dir = tempfile::tempdir().unwrap();
    let (out, r) = loadgen(
        dir.path(),
        &[
            "--backend",
            "select",
            "--conns",
            "10",
            "--idle",
            "1100",
            "--duration",
            "0.5",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let r = r.unwrap();
    assert!(r.server_refused.unwrap() > 50, "{r:?}");
    assert!(!r.warnings.is_empty(), "a run with refusals is flagged");
}

/// The chat workload end to end: every line sent in the window reaches every
/// client, complete and in order, on every backend.
fn chat_fan_out_is_complete(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (out, r) = loadgen(
        dir.path(),
        &[
            "--backend",
            backend.name(),
            "--workload",
            "chat",
            "--conns",
            "50",
            "--senders",
            "10",
            "--duration",
            "1",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let r = r.unwrap();
    assert_eq!(r.workload, muxbench::server::Protocol::Chat);
    assert_eq!(r.errors, 0, "{}", text(&out));
    let lines = r.lines_sent.unwrap();
    assert!(lines > 100, "{lines} lines");
    // Deliveries are attributed to the window of their send time: each line
    // sent in it reached all 50 clients.
    assert_eq!(r.requests, lines * 50);
    match r.server_writes_per_req {
        Some(w) => assert!(w <= 1.0, "writev batches lines: {w}"),
        None => assert_eq!(
            backend,
            Backend::Tokio,
            "only tokio cannot count its writes"
        ),
    }
}
per_backend!(chat_fan_out_is_complete);

#[test]
fn chat_open_loop_meets_the_rate() {
    let dir = tempfile::tempdir().unwrap();
    let (out, r) = loadgen(
        dir.path(),
        &[
            "--backend",
            "epoll-et",
            "--workload",
            "chat",
            "--conns",
            "20",
            "--senders",
            "5",
            "--rate",
            "500",
            "--duration",
            "2",
            // Evenly spaced sends: the count is the schedule's, not a
            // Poisson draw's (±45 lines at 1σ over 2 s), so a pacing bug shows.
            "--arrivals",
            "uniform",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let r = r.unwrap();
    let lines_per_s = r.lines_sent.unwrap() as f64 / r.measured_s;
    assert!(
        (lines_per_s - 500.0).abs() <= 25.0,
        "{lines_per_s} lines/s of 500"
    );
    assert_eq!(r.rate_not_met, Some(false), "{r:?}");
    assert_eq!(r.requests, r.lines_sent.unwrap() * 20);
}

/// `--count-syscalls`: the kernel's count of the server's system calls over
/// the window agrees with the server's own (waits + reads + writes) within a
/// few percent where it has one — a test of the internal counters — and is
/// the only count for tokio, which has none. Skipped, saying why, on a
/// machine where the kernel will not count (no tracefs, no perf rights).
fn kernel_counts_syscalls(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (out, r) = loadgen(
        dir.path(),
        &[
            "--backend",
            backend.name(),
            "--conns",
            "20",
            "--duration",
            "1",
            "--count-syscalls",
        ],
    );
    if !out.status.success() && text(&out).contains("--count-syscalls: cannot count") {
        eprintln!("skipped: {}", text(&out));
        return;
    }
    assert!(out.status.success(), "{}", text(&out));
    let r = r.unwrap();
    let kernel = r.server_syscalls_kernel_per_req.expect("kernel count");
    assert!(kernel > 0.0);
    match r.server_syscalls_per_req {
        Some(own) => {
            // What the server does not count: its snapshot signals and
            // control pipe, and (threads) the stats page refresh.
            let gap = (kernel - own).abs() / own;
            assert!(gap < 0.05, "kernel {kernel:.3} vs own {own:.3} per request");
        }
        None => {
            assert_eq!(backend, Backend::Tokio);
            // At least a read and a write per echo.
            assert!(kernel >= 1.5, "{kernel}");
        }
    }
}

mod kernel_counts_syscalls {
    use muxbench::backend::Backend;
    #[test]
    fn epoll_et() {
        super::kernel_counts_syscalls(Backend::EpollEt)
    }
    #[test]
    fn uring() {
        super::kernel_counts_syscalls(Backend::Uring)
    }
    #[test]
    fn threads() {
        super::kernel_counts_syscalls(Backend::Threads)
    }
    #[test]
    fn tokio() {
        super::kernel_counts_syscalls(Backend::Tokio)
    }
}
