//! Every flag of `muxserver`, `loadgen` (and its subcommands) and `muxclient`
//! at its edges: 0, 1, the bound, the bound + 1, a huge value, a malformed
//! one. Each case runs the real binary with a time limit and must end in one
//! of two ways: a successful short run (a server: ready, then exit 0 on
//! SIGTERM), or exit status 1 or 2 with exactly one `error:` line. Never a
//! signal, a panic, a backtrace, or running past the limit.
//!
//! `every_flag_is_in_the_table` lists the flags from each `--help` and fails
//! on one the table does not cover: a new flag must join the table.
//!
//! Runs that would take long at their bound (a one-day `--warmup`, a full
//! chaos table) are in the table only as their bound + 1, an expected error.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use muxbench::limits;

#[path = "cli_bounds/runner.rs"]
mod runner;
use runner::{flags_from_help, run_case, verdict, Case, Cmd, Expect, Guard, LOADGEN, MUXSERVER};
use Expect::{Either, Error, Pass};

/// A path nothing can create, even as root (procfs refuses new folders).
const UNWRITABLE: &str = "/proc/self/no-such-dir/x";

/// Flags taking a real number (1e26 is a valid one).
const FLOAT_FLAGS: [&str; 3] = ["--connect-rate", "--rate", "--connect-drops-per-s"];

/// Cases run at once (a 2-core CI machine).
const PARALLEL: usize = 3;

/// Things the cases refer to: a scratch folder, a live echo server, the
/// machine's bounds.
struct Env {
    dir: PathBuf,
    echo_addr: SocketAddr,
    runs_csv: PathBuf,
    /// Largest connection count loadgen accepts (descriptors).
    max_conns: usize,
    /// Client CPUs of a default run, and one client CPU if there are two.
    client_cpus: usize,
    other_cpu: Option<usize>,
    hard_nofile: u64,
}

static SCRATCH: AtomicUsize = AtomicUsize::new(0);

impl Env {
    fn scratch(&self, name: &str) -> String {
        let n = SCRATCH.fetch_add(1, Ordering::Relaxed);
        self.dir.join(format!("{n}-{name}")).display().to_string()
    }

    /// The arguments every case of `cmd` starts from.
    fn base(&self, cmd: Cmd) -> Vec<(String, Option<String>)> {
        let v = |pairs: &[(&str, Option<String>)]| {
            pairs
                .iter()
                .map(|(f, v)| (f.to_string(), v.clone()))
                .collect::<Vec<_>>()
        };
        let s = |x: &str| Some(x.to_string());
        match cmd {
            Cmd::Muxserver | Cmd::Serve => {
                v(&[("--backend", s("epoll-et")), ("--addr", s("127.0.0.1:0"))])
            }
            Cmd::Loadgen => v(&[
                ("--backend", s("epoll-et")),
                ("--conns", s("1")),
                ("--warmup", s("0")),
                ("--duration", s("0.2")),
                ("--quiet", None),
                ("--csv", Some(self.scratch("runs.csv"))),
            ]),
            Cmd::Sweep => v(&[
                ("--out", Some(self.scratch("sweep"))),
                ("--backends", s("epoll-et")),
                ("--conns", s("1")),
                ("--warmup", s("0")),
                ("--duration", s("0.2")),
                ("--repeat", s("1")),
            ]),
            Cmd::Chaos => v(&[
                ("--out", Some(self.scratch("chaos"))),
                ("--backends", s("epoll-et")),
                ("--scenarios", s("chaos")),
                ("--conns", s("2")),
                ("--duration", s("0.2")),
            ]),
            Cmd::Report => v(&[
                ("<CSV>", Some(self.runs_csv.display().to_string())),
                ("--output", Some(self.scratch("REPORT.md"))),
            ]),
            Cmd::BenchTable => v(&[("--criterion-dir", Some(self.scratch("criterion")))]),
            Cmd::Claims => v(&[("<DIR>", Some(self.dir.display().to_string()))]),
            Cmd::Doctor => v(&[("--sample", s("0.1"))]),
            Cmd::Backends => v(&[]),
            // --remove of a lab nobody made: bounds checked, nothing created
            // (tests/netlab.rs makes labs).
            Cmd::Netlab => v(&[
                ("--name", Some(format!("cb{}", std::process::id() % 10_000))),
                ("--remove", None),
            ]),
            // One result under two names: its window overlaps itself.
            Cmd::Merge => {
                let json = |n: &str| Some(self.dir.join(n).display().to_string());
                v(&[
                    ("<INPUTS>", json("run.json")),
                    ("<INPUTS>", json("run2.json")),
                ])
            }
            Cmd::Muxclient => v(&[("<ADDR>", Some(self.echo_addr.to_string()))]),
        }
    }
}

/// Whether the kernel's syscall tracepoint can be read (tracefs mounted).
fn tracefs() -> bool {
    Path::new("/sys/kernel/tracing/events/raw_syscalls/sys_enter/id").exists()
}

/// Collects the table.
struct Table<'a> {
    env: &'a Env,
    cases: Vec<Case>,
}

impl Table<'_> {
    fn add(&mut self, cmd: Cmd, flag: &str, values: &[(&str, Expect)]) {
        for (v, e) in values {
            self.cases.push(Case {
                cmd,
                flag: flag.into(),
                value: Some(v.to_string()),
                extra: vec![],
                without: vec![],
                expect: *e,
            });
        }
    }

    fn add_owned(&mut self, cmd: Cmd, flag: &str, values: Vec<(String, Expect)>) {
        for (v, e) in values {
            self.add(cmd, flag, &[(v.as_str(), e)]);
        }
    }

    fn with(&mut self, cmd: Cmd, flag: &str, value: &str, extra: &[&str], expect: Expect) {
        self.cases.push(Case {
            cmd,
            flag: flag.into(),
            value: Some(value.into()),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            without: vec![],
            expect,
        });
    }

    /// A switch: given alone it must work; given a value, a clear error.
    /// A switch whose plain use passes only where the machine allows it
    /// (`--count-syscalls` needs tracefs mounted): there, a run; elsewhere,
    /// one clear error.
    fn switch_if(&mut self, cmd: Cmd, flag: &str, available: bool, otherwise: Expect) {
        self.switch(cmd, flag);
        let at = self.cases.len() - 2; // the plain switch, before `flag=x`
        self.cases[at].expect = if available { Pass } else { otherwise };
    }

    fn switch(&mut self, cmd: Cmd, flag: &str) {
        self.cases.push(Case {
            cmd,
            flag: flag.into(),
            value: None,
            extra: vec![],
            without: vec![],
            expect: Pass,
        });
        self.cases.push(Case {
            cmd,
            flag: format!("{flag}=x"),
            value: None,
            extra: vec![],
            without: vec![],
            expect: Error,
        });
    }

    /// Values no flag taking a number or size accepts (for an integer, also
    /// one beyond 64 bits).
    fn malformed(&mut self, cmd: Cmd, flag: &str) {
        self.add(cmd, flag, &[("x", Error), ("-1", Error), ("", Error)]);
        if !FLOAT_FLAGS.contains(&flag) {
            self.add(cmd, flag, &[("99999999999999999999999999", Error)]);
        }
    }

    /// A size flag bounded by `max` (fixed): 0 (`zero`), 1, max, max + 1.
    fn size(
        &mut self,
        cmd: Cmd,
        flag: &str,
        zero: Expect,
        one: Expect,
        max: usize,
        at_max: Expect,
    ) {
        self.add_owned(
            cmd,
            flag,
            vec![
                ("0".into(), zero),
                ("1".into(), one),
                (max.to_string(), at_max),
                ((max + 1).to_string(), Error),
                ("12q".into(), Error),
            ],
        );
        self.malformed(cmd, flag);
    }

    fn duration(&mut self, cmd: Cmd, flag: &str, zero: Expect, small: Expect) {
        let day = limits::MAX_DURATION.as_secs();
        self.add_owned(
            cmd,
            flag,
            vec![
                ("0".into(), zero),
                ("0.1".into(), small),
                (format!("{}", day + 1), Error),
                (format!("{}m", day / 60 + 1), Error),
                ("1e30".into(), Error),
                ("5x".into(), Error),
                ("nan".into(), Error),
            ],
        );
        self.malformed(cmd, flag);
    }
}

/// A server's flags, `muxserver` and `loadgen serve` alike.
fn server_cases(t: &mut Table, cmd: Cmd) {
    server_protocol_cases(t, cmd);
    server_limit_cases(t, cmd);
    server_output_cases(t, cmd);
    server_loop_cases(t, cmd);
}

/// What it serves and where: backend, protocol, line bound, address.
fn server_protocol_cases(t: &mut Table, cmd: Cmd) {
    t.add(
        cmd,
        "--backend",
        &[("epoll-et", Pass), ("bogus", Error), ("", Error)],
    );
    t.add(
        cmd,
        "--protocol",
        &[("echo", Pass), ("chat", Pass), ("bogus", Error)],
    );
    t.size(cmd, "--max-line", Error, Pass, limits::MAX_BUF, Pass);
    // A chat server at the bound: the default --max-pending cannot hold a line.
    t.with(
        cmd,
        "--max-line",
        &limits::MAX_BUF.to_string(),
        &["--protocol", "chat"],
        Error,
    );
    t.add(
        cmd,
        "--addr",
        &[
            ("localhost:0", Pass),
            ("127.0.0.1:0", Pass),
            ("[::1]:0", Either),
            ("no-such-host.invalid:0", Error),
            ("localhost", Error),
            ("127.0.0.1:99999", Error),
            ("192.0.2.1:0", Error),
            ("", Error),
        ],
    );
}

/// Buffers, budgets, connection and descriptor bounds, the CPU.
fn server_limit_cases(t: &mut Table, cmd: Cmd) {
    t.size(cmd, "--read-buf", Error, Pass, limits::MAX_BUF, Pass);
    t.add(cmd, "--read-buf", &[("99999999999", Error)]);
    t.add(cmd, "--read-policy", &[("drain", Pass), ("bogus", Error)]);
    t.size(
        cmd,
        "--max-pending",
        Error,
        Pass,
        limits::MAX_PENDING,
        Either,
    );
    t.add(
        cmd,
        "--read-budget",
        &[("0", Error), ("1", Pass), ("1m", Pass), ("12q", Error)],
    );
    t.malformed(cmd, "--read-budget");
    t.add(
        cmd,
        "--max-conns",
        &[("0", Pass), ("1", Pass), ("1000000000", Pass)],
    );
    t.malformed(cmd, "--max-conns");
    t.size(cmd, "--events", Error, Pass, limits::MAX_EVENTS, Pass);
    let hard = t.env.hard_nofile;
    t.add_owned(
        cmd,
        "--nofile-limit",
        vec![
            ("0".into(), Error),
            ((limits::MIN_NOFILE - 1).to_string(), Error),
            (limits::MIN_NOFILE.to_string(), Pass),
            (hard.to_string(), Pass),
            ((hard + 1).to_string(), Error),
        ],
    );
    t.malformed(cmd, "--nofile-limit");
    t.add(
        cmd,
        "--cpu",
        &[("0", Pass), ("99999", Error), ("1024", Error)],
    );
    t.malformed(cmd, "--cpu");
}

/// What it tells while it runs: the trace, the stats page.
fn server_output_cases(t: &mut Table, cmd: Cmd) {
    // An optional value (bare is `all`); the table passes values as `--flag=value`.
    t.switch(cmd, "--trace");
    t.add(
        cmd,
        "--trace",
        &[("off", Pass), ("waits", Pass), ("all", Pass), ("", Error)],
    );
    let page = t.env.scratch("stats-page");
    t.add(
        cmd,
        "--stats-page",
        &[(page.as_str(), Pass), (UNWRITABLE, Error), ("", Error)],
    );
}

/// Values of a flag, each with its expected end.
type Values = &'static [(&'static str, Expect)];

/// Backend-specific flags: with their backend, the bounds (as `--flag=value`
/// with `--backend <backend>` in place of the base's).
const BACKEND_ONLY: [(&str, &str, Values); 3] = [
    (
        "--stack-size",
        "threads",
        &[
            ("0", Error),
            ("32767", Error),
            ("32KiB", Pass),
            ("64MiB", Pass),
            ("67108865", Error),
            ("12q", Error),
            ("", Error),
        ],
    ),
    (
        "--threads",
        "tokio",
        &[
            ("0", Error),
            ("1", Pass),
            ("1024", Pass),
            ("1025", Error),
            ("x", Error),
            ("", Error),
        ],
    ),
    (
        "--uring-features",
        "uring",
        &[
            ("", Pass),
            ("fixed-files,multishot-recv,skip-cqe", Pass),
            ("zc-send=4KiB", Pass),
            ("taskrun=coop", Pass),
            ("sqpoll", Pass),
            ("sqpoll,taskrun=defer", Error),
            ("sqpoll=100000", Error),
            ("zc-send=x", Error),
            ("bundles", Error),
        ],
    ),
];

/// How its loops are built and reached: backend-only flags, reactors, their
/// accept mode and CPUs, the control address.
fn server_loop_cases(t: &mut Table, cmd: Cmd) {
    // Backend-specific: with their backend, the bounds; with another, an error.
    for (flag, backend, values) in BACKEND_ONLY {
        for (v, e) in values {
            t.cases.push(Case {
                cmd,
                flag: flag.into(),
                value: Some(v.to_string()),
                extra: vec!["--backend".into(), backend.into()],
                without: vec!["--backend"],
                expect: *e,
            });
        }
    }
    t.add(cmd, "--stack-size", &[("64KiB", Error)]);
    t.add(cmd, "--threads", &[("2", Error)]);
    t.add(cmd, "--uring-features", &[("fixed-files", Error)]);
    t.add(
        cmd,
        "--reactors",
        &[
            ("0", Error),
            ("1", Pass),
            ("2", Pass),
            ("1024", Pass),
            ("1025", Error),
            ("x", Error),
            ("", Error),
        ],
    );
    let two = ["--reactors", "2"];
    for (v, e) in [
        ("reuseport", Pass),
        ("exclusive", Pass),
        ("shared", Pass),
        ("bogus", Error),
    ] {
        t.with(cmd, "--accept", v, &two, e);
    }
    t.add(cmd, "--accept", &[("shared", Error)]); // requires --reactors
    for (v, e) in [
        ("0", Pass),
        ("0,0", Pass),
        ("99999", Error),
        ("x", Error),
        ("", Error),
    ] {
        t.with(cmd, "--server-cpus", v, &two, e);
    }
    t.add(cmd, "--server-cpus", &[("0", Error)]); // requires --reactors
    t.add(
        cmd,
        "--control",
        &[
            ("127.0.0.1:0", Pass),
            ("localhost:0", Pass),
            ("192.0.2.1:0", Error),
            ("127.0.0.1:99999", Error),
            ("", Error),
        ],
    );
}

/// `loadgen`'s flags, by topic (in this order: scratch names count up).
fn loadgen_cases(t: &mut Table) {
    loadgen_target_cases(t);
    loadgen_concurrency_cases(t);
    loadgen_pace_cases(t);
    loadgen_machine_cases(t);
    loadgen_output_cases(t);
    loadgen_open_loop_cases(t);
    loadgen_host_cases(t);
    loadgen_server_setting_cases(t);
    loadgen_repeat_cases(t);
}

/// What it loads: backend or external address, label, workload, senders.
fn loadgen_target_cases(t: &mut Table) {
    let env = t.env;
    let c = Cmd::Loadgen;
    t.add(
        c,
        "--backend",
        &[("epoll-et", Pass), ("bogus", Error), ("", Error)],
    );
    let live = env.echo_addr.to_string();
    let live_name = format!("localhost:{}", env.echo_addr.port());
    for (addr, e) in [
        (live.as_str(), Pass),
        (live_name.as_str(), Pass),
        ("no-such-host.invalid:7000", Error),
        ("localhost", Error),
        ("127.0.0.1:99999", Error),
        ("", Error),
    ] {
        t.cases.push(Case {
            cmd: c,
            flag: "--addr".into(),
            value: Some(addr.into()),
            extra: vec![],
            without: vec!["--backend"],
            expect: e,
        });
    }
    t.cases.push(Case {
        cmd: c,
        flag: "--label".into(),
        value: Some("ext".into()),
        extra: vec!["--addr".into(), live.clone()],
        without: vec!["--backend"],
        expect: Pass,
    });
    t.add(c, "--label", &[("ext", Error)]); // requires --addr
    t.cases.push(Case {
        cmd: c,
        flag: "--label".into(),
        value: Some(String::new()), // empty: refused
        extra: vec!["--addr".into(), live.clone()],
        without: vec!["--backend"],
        expect: Error,
    });
    t.add(c, "--workload", &[("chat", Pass), ("bogus", Error)]);
    let chat2 = ["--workload", "chat", "--conns", "2"];
    for (v, e) in [
        ("0", Error),
        ("1", Pass),
        ("2", Pass),
        ("3", Error),
        ("x", Error),
    ] {
        t.with(c, "--senders", v, &chat2, e);
    }
    t.add(c, "--senders", &[("1", Error)]); // echo workload
}

/// Connections, their rate and timeout, client threads, pipeline depth.
fn loadgen_concurrency_cases(t: &mut Table) {
    let env = t.env;
    let c = Cmd::Loadgen;
    let too_many = (env.max_conns + 1).to_string();
    t.add_owned(
        c,
        "--conns",
        vec![
            ("0".into(), Error),
            ("1".into(), Pass),
            ("2".into(), Pass),
            (too_many.clone(), Error),
            (u64::MAX.to_string(), Error),
        ],
    );
    t.malformed(c, "--conns");
    t.add_owned(
        c,
        "--idle",
        vec![
            ("0".into(), Pass),
            ("1".into(), Pass),
            (too_many, Error),
            (u64::MAX.to_string(), Error),
        ],
    );
    t.malformed(c, "--idle");
    t.add(
        c,
        "--connect-rate",
        &[
            ("0", Error),
            ("1000", Pass),
            ("1e300", Pass),
            ("0.000001", Error),
            ("inf", Error),
            ("nan", Error),
        ],
    );
    t.malformed(c, "--connect-rate");
    t.duration(c, "--connect-timeout", Error, Pass);
    let max_threads = limits::max_threads(env.client_cpus);
    t.add_owned(
        c,
        "--threads",
        vec![
            ("0".into(), Error),
            ("1".into(), Pass),
            (max_threads.to_string(), Pass),
            ((max_threads + 1).to_string(), Error),
            ("100000".into(), Error),
        ],
    );
    t.malformed(c, "--threads");
    let max_pipeline = limits::in_flight_bound() / 64;
    t.add_owned(
        c,
        "--pipeline",
        vec![
            ("0".into(), Error),
            ("1".into(), Pass),
            ("1000".into(), Pass),
            // The bound itself takes seconds and a GiB: only its excess runs.
            ((max_pipeline + 1).to_string(), Error),
            ("100000000".into(), Error),
        ],
    );
    t.malformed(c, "--pipeline");
}

/// The request rate, the run's durations, the message size.
fn loadgen_pace_cases(t: &mut Table) {
    let c = Cmd::Loadgen;
    t.add_owned(
        c,
        "--rate",
        vec![
            ("0".into(), Error),
            (limits::MIN_RATE.to_string(), Either),
            ("100".into(), Pass),
            (format!("{}", limits::MAX_RATE), Either),
            (format!("{}", limits::MAX_RATE * 10.0), Error),
            ("0.00001".into(), Error),
            ("inf".into(), Error),
            ("nan".into(), Error),
        ],
    );
    t.malformed(c, "--rate");
    t.duration(c, "--warmup", Pass, Pass);
    t.duration(c, "--duration", Error, Pass);
    // A 0.1 s timeout may count late echoes on a loaded machine: exit 1 with
    // its one error line is as right as a clean run; a panic or hang is not.
    t.duration(c, "--timeout", Error, Either);
    t.add(
        c,
        "--msg-size",
        &[("0", Error), ("15", Error), ("16", Pass)],
    );
    t.add_owned(
        c,
        "--msg-size",
        vec![
            (limits::MAX_BUF.to_string(), Either),
            ((limits::MAX_BUF + 1).to_string(), Error),
            ("12q".into(), Error),
        ],
    );
    t.malformed(c, "--msg-size");
}

/// Errors allowed, CPUs, the spawned server's buffers.
fn loadgen_machine_cases(t: &mut Table) {
    let env = t.env;
    let c = Cmd::Loadgen;
    t.switch(c, "--allow-errors");
    t.add(c, "--server-cpu", &[("0", Pass), ("99999", Error)]);
    t.malformed(c, "--server-cpu");
    if let Some(cpu) = env.other_cpu {
        t.add(c, "--client-cpus", &[(cpu.to_string().as_str(), Pass)]);
    }
    t.add(
        c,
        "--client-cpus",
        &[
            ("0-99999999999", Error),
            ("1024", Error),
            ("3-1", Error),
            ("x", Error),
            ("", Error),
        ],
    );
    t.size(c, "--read-buf", Error, Pass, limits::MAX_BUF, Pass);
    t.add(c, "--read-policy", &[("drain", Pass), ("bogus", Error)]);
    t.size(
        c,
        "--max-pending",
        Error,
        Either,
        limits::MAX_PENDING,
        Either,
    );
}

/// Output files, quiet, intervals, repeats.
fn loadgen_output_cases(t: &mut Table) {
    let env = t.env;
    let c = Cmd::Loadgen;
    let ok_file = env.scratch("out.csv");
    t.add(c, "--csv", &[(ok_file.as_str(), Pass), (UNWRITABLE, Error)]);
    t.switch(c, "--no-csv");
    for flag in ["--json", "--hgrm", "--hlog", "--intervals"] {
        let file = env.scratch(&flag[2..]);
        t.add(c, flag, &[(file.as_str(), Pass), (UNWRITABLE, Error)]);
    }
    t.switch(c, "--quiet");
    t.add(
        c,
        "--interval",
        &[
            ("0", Error),
            ("0.005", Error),
            ("0.01", Pass),
            ("0.05", Pass),
            ("3601", Error),
            ("5x", Error),
        ],
    );
    t.add(
        c,
        "--steal-limit",
        &[
            ("0", Pass),
            ("7%", Pass),
            ("100", Pass),
            ("-1", Error),
            ("101", Error),
            ("x", Error),
        ],
    );
    // 7,200 intervals of 0.5 s: refused before anything starts.
    t.with(c, "--interval", "0.5", &["--duration", "3600"], Error);
    t.add(
        c,
        "--repeat",
        &[
            ("0", Error),
            ("1", Pass),
            ("2", Pass),
            ("x", Error),
            ("", Error),
        ],
    );
    t.with(c, "--repeat", "auto", &["--max-repeat", "3"], Pass);
}

/// Open loop (`--rate`): arrivals, seed, pacing, strict.
fn loadgen_open_loop_cases(t: &mut Table) {
    let c = Cmd::Loadgen;
    let open = ["--rate", "1000"];
    for (v, e) in [
        ("poisson", Pass),
        ("uniform", Pass),
        ("bogus", Error),
        ("", Error),
    ] {
        t.with(c, "--arrivals", v, &open, e);
    }
    t.add(c, "--arrivals", &[("uniform", Error)]); // without --rate
    for (v, e) in [
        ("0", Pass),
        ("18446744073709551615", Pass),
        ("-1", Error),
        ("x", Error),
    ] {
        t.with(c, "--seed", v, &open, e);
    }
    t.add(c, "--seed", &[("7", Pass)]);
    for (v, e) in [
        ("sleep", Pass),
        ("spin", Pass),
        ("hybrid", Pass),
        ("busy", Error),
        ("", Error),
    ] {
        t.with(c, "--pacing", v, &open, e);
    }
    // A switch that needs --rate: alone it is an error; with it, the run's
    // verdict decides (a 0.2 s run at 1,000 msg/s may not converge its p99).
    t.cases.push(Case {
        cmd: c,
        flag: "--strict".into(),
        value: None,
        extra: open.iter().map(|s| s.to_string()).collect(),
        without: vec![],
        expect: Either,
    });
    t.cases.push(Case {
        cmd: c,
        flag: "--strict".into(),
        value: None,
        extra: vec![],
        without: vec![],
        expect: Error,
    });
}

/// Several load hosts: the server's control address, a common start, a host
/// label, the kernel's syscall counts.
fn loadgen_host_cases(t: &mut Table) {
    let env = t.env;
    let c = Cmd::Loadgen;
    // Several load hosts: the control address of a server that has none is
    // an error; --start-at bounds.
    let live = env.echo_addr.to_string();
    for (v, e) in [
        (live.as_str(), Error), // an echo server answers nothing like a snapshot
        ("127.0.0.1:1", Error),
        ("x", Error),
        ("", Error),
    ] {
        t.cases.push(Case {
            cmd: c,
            flag: "--server-control".into(),
            value: Some(v.into()),
            extra: vec!["--addr".into(), live.clone()],
            without: vec!["--backend"],
            expect: e,
        });
    }
    t.add(c, "--server-control", &[("127.0.0.1:1", Error)]); // requires --addr
    let soon = format!(
        "{:.3}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
            + 6.0
    );
    // Built with the table, run when its turn comes: in time (a run), or
    // already past (the clear error); either way within the case's limit.
    t.add(
        c,
        "--start-at",
        &[
            (soon.as_str(), Either),
            ("0", Error),
            ("1e30", Error),
            ("2020-01-01T00:00:00Z", Error),
            ("soon", Error),
            ("", Error),
        ],
    );
    t.add(
        c,
        "--host-label",
        &[("host-a", Pass), ("", Error), (" ", Error)],
    );
    // Counting from the kernel needs this machine's tracefs and perf rights:
    // a run or one clear error; never with an external server.
    t.cases.push(Case {
        cmd: c,
        flag: "--count-syscalls".into(),
        value: None,
        extra: vec![],
        without: vec![],
        expect: Either,
    });
    t.cases.push(Case {
        cmd: c,
        flag: "--count-syscalls".into(),
        value: None,
        extra: vec!["--addr".into(), env.echo_addr.to_string()],
        without: vec!["--backend"],
        expect: Error,
    });
}

/// Settings of the server it spawns, for the backends that use them.
fn loadgen_server_setting_cases(t: &mut Table) {
    let c = Cmd::Loadgen;
    t.add(
        c,
        "--stack-size",
        &[("32KiB", Pass), ("1KiB", Error), ("x", Error)],
    );
    t.add(c, "--server-threads", &[("0", Error), ("x", Error)]);
    t.add(c, "--reactors", &[("2", Pass), ("0", Error)]);
    t.switch_if(c, "--count-syscalls", tracefs(), Error);
    t.with(c, "--accept", "exclusive", &["--reactors", "2"], Pass);
    t.add(c, "--accept", &[("shared", Error)]);
    for (flag, value, backend, expect) in [
        ("--stack-size", "48KiB", "threads", Pass),
        ("--server-threads", "2", "tokio", Pass),
        ("--uring-features", "fixed-files,skip-cqe", "uring", Pass),
        ("--uring-features", "taskrun=none", "uring", Pass),
        ("--uring-features", "sqpoll,taskrun=coop", "uring", Error),
    ] {
        t.cases.push(Case {
            cmd: c,
            flag: flag.into(),
            value: Some(value.into()),
            extra: vec!["--backend".into(), backend.into()],
            without: vec!["--backend"],
            expect,
        });
    }
    // For a uring server only.
    t.add(
        c,
        "--uring-features",
        &[("fixed-files", Error), ("x", Error)],
    );
}

/// Repeats: their total length, the confidence target, the auto bound.
fn loadgen_repeat_cases(t: &mut Table) {
    let c = Cmd::Loadgen;
    // 1,000 runs of the longest window: more than a day.
    t.with(c, "--repeat", "1000", &["--duration", "3600"], Error);
    t.add(
        c,
        "--target-ci",
        &[
            ("5%", Pass),
            ("0.05", Pass),
            ("0", Error),
            ("100%", Error),
            ("5", Error),
            ("x", Error),
        ],
    );
    for (v, e) in [("2", Error), ("3", Pass), ("1001", Error), ("x", Error)] {
        t.with(c, "--max-repeat", v, &["--repeat", "auto"], e);
    }
}

/// `loadgen sweep`'s flags, by topic (in this order: scratch names count up,
/// and the durations' filter sees only the rows before it).
fn sweep_cases(t: &mut Table) {
    sweep_setup_cases(t);
    sweep_matrix_cases(t);
    sweep_rate_cases(t);
    sweep_timing_cases(t);
    sweep_client_cases(t);
}

/// Its folder, workload, preset, and the servers' own settings.
fn sweep_setup_cases(t: &mut Table) {
    let c = Cmd::Sweep;
    let out = t.env.scratch("sweep-out");
    t.add(c, "--out", &[(out.as_str(), Pass), (UNWRITABLE, Error)]);
    // On a new folder nothing is moved aside (tests/sweep_resume.rs: on an old one).
    t.switch(c, "--fresh");
    t.add(c, "--workload", &[("chat", Pass), ("bogus", Error)]);
    t.with(c, "--senders", "1", &["--workload", "chat"], Pass);
    t.with(c, "--senders", "2", &["--workload", "chat"], Error);
    t.add(c, "--senders", &[("1", Error), ("x", Error)]);
    t.add(c, "--preset", &[("bogus", Error)]);
    // Server settings of the backends that use them (others ignore them).
    t.add(c, "--stack-size", &[("1KiB", Error), ("x", Error)]);
    t.add(c, "--server-threads", &[("0", Error), ("x", Error)]);
    t.add(c, "--reactors", &[("2", Pass), ("0", Error)]);
    t.switch_if(c, "--count-syscalls", tracefs(), Error);
    t.with(c, "--accept", "exclusive", &["--reactors", "2"], Pass);
    t.add(c, "--accept", &[("shared", Error)]);
    for (flag, value, backend) in [
        ("--stack-size", "48KiB", "threads"),
        ("--server-threads", "2", "tokio"),
    ] {
        t.cases.push(Case {
            cmd: c,
            flag: flag.into(),
            value: Some(value.into()),
            extra: vec!["--backends".into(), format!("epoll-et,{backend}")],
            without: vec!["--backends"],
            expect: Pass,
        });
    }
}

/// The matrix: backends, connections, sizes, repeats.
fn sweep_matrix_cases(t: &mut Table) {
    let c = Cmd::Sweep;
    t.add(
        c,
        "--backends",
        &[
            ("epoll-et", Pass),
            ("bogus", Error),
            ("", Error),
            ("uring,uring+fixed-files", Pass),
            ("poll+fixed-files", Error),
            ("uring+bogus", Error),
        ],
    );
    // The sweep's uring arms get them; with no uring arm, said.
    t.add(c, "--uring-features", &[("fixed-files", Error)]);
    t.cases.push(Case {
        cmd: c,
        flag: "--uring-features".into(),
        value: Some("skip-cqe".into()),
        extra: vec!["--backends".into(), "epoll-et,uring".into()],
        without: vec!["--backends"],
        expect: Pass,
    });
    let too_many = (t.env.max_conns + 1).to_string();
    t.add(
        c,
        "--conns",
        &[("0", Error), ("1,2", Pass), (too_many.as_str(), Error)],
    );
    t.malformed(c, "--conns");
    t.add(c, "--idle", &[("0", Pass), (too_many.as_str(), Error)]);
    t.malformed(c, "--idle");
    t.add(c, "--msg-size", &[("15", Error), ("16", Pass)]);
    t.add_owned(
        c,
        "--msg-size",
        vec![((limits::MAX_BUF + 1).to_string(), Error)],
    );
    t.malformed(c, "--msg-size");
    t.add(c, "--read-buf", &[("0", Error), ("4", Pass)]);
    t.add_owned(
        c,
        "--read-buf",
        vec![((limits::MAX_BUF + 1).to_string(), Error)],
    );
    t.malformed(c, "--read-buf");
    t.add(
        c,
        "--repeat",
        &[("0", Error), ("1", Pass), ("10000000", Error)],
    );
    t.malformed(c, "--repeat");
    t.add(c, "--interval", &[("0", Error), ("x", Error)]);
    t.add(c, "--steal-limit", &[("50", Pass), ("101", Error)]);
    t.add(c, "--repeat", &[("auto", Pass)]);
}

/// Open-loop rates, the SLO, confidence, interleaving, pacing, baseline.
fn sweep_rate_cases(t: &mut Table) {
    let c = Cmd::Sweep;
    t.add(
        c,
        "--rates",
        &[
            ("1000", Pass),
            ("0", Error),
            ("1e12", Error),
            ("nan", Error),
            ("x", Error),
            ("", Error),
        ],
    );
    t.add(
        c,
        "--slo",
        &[("5ms", Pass), ("0", Error), ("2h", Error), ("x", Error)],
    );
    t.add(c, "--target-ci", &[("0%", Error), ("x", Error)]);
    t.add(
        c,
        "--interleave",
        &[
            ("slices", Pass),
            ("rounds", Pass),
            ("bogus", Error),
            ("", Error),
        ],
    );
    // Slices need servers of their own, one loop each.
    t.with(c, "--interleave", "slices", &["--reactors", "2"], Error);
    t.with(c, "--interleave", "slices", &["--rates", "1000"], Pass);
    t.add(
        c,
        "--slice",
        &[
            ("10ms", Error),
            ("100ms", Pass),
            ("11s", Error),
            ("x", Error),
        ],
    );
    t.with(c, "--pacing", "spin", &["--rates", "1000"], Pass);
    t.add(c, "--pacing", &[("bogus", Error)]);
    t.with(c, "--max-repeat", "2", &["--repeat", "auto"], Error);
    t.with(c, "--max-repeat", "x", &["--repeat", "auto"], Error);
    t.add(c, "--baseline", &[("epoll-et", Pass), ("bogus", Either)]);
}

/// Warmup, duration and the timeouts.
fn sweep_timing_cases(t: &mut Table) {
    let c = Cmd::Sweep;
    t.duration(c, "--warmup", Pass, Error);
    t.duration(c, "--duration", Error, Error);
    t.duration(c, "--timeout", Error, Error);
    // (The "small" durations above are refused only because the table keeps
    // the sweep's in-range runs few; one of each runs here.)
    t.cases.retain(|k| {
        !(k.cmd == c
            && ["--duration", "--timeout", "--warmup"].contains(&k.flag.as_str())
            && k.value.as_deref() == Some("0.1"))
    });
    t.add(c, "--timeout", &[("1", Pass)]);
    t.add(
        c,
        "--connect-timeout",
        &[("0", Error), ("1e30", Error), ("5x", Error), ("2s", Pass)],
    );
}

/// The clients and the servers they load: pipeline, buffers, CPUs, threads,
/// connect rate.
fn sweep_client_cases(t: &mut Table) {
    let c = Cmd::Sweep;
    t.add(
        c,
        "--pipeline",
        &[("0", Error), ("2", Pass), ("100000000000", Error)],
    );
    t.malformed(c, "--pipeline");
    t.add(c, "--read-policy", &[("drain", Pass), ("bogus", Error)]);
    t.add_owned(
        c,
        "--max-pending",
        vec![
            ("0".into(), Error),
            ((limits::MAX_PENDING + 1).to_string(), Error),
        ],
    );
    t.malformed(c, "--max-pending");
    t.add(c, "--server-cpu", &[("99999", Error)]);
    t.malformed(c, "--server-cpu");
    t.add(
        c,
        "--client-cpus",
        &[("0-99999999999", Error), ("x", Error)],
    );
    t.add_owned(
        c,
        "--threads",
        vec![
            ("0".into(), Error),
            (
                (limits::max_threads(t.env.client_cpus) + 1).to_string(),
                Error,
            ),
        ],
    );
    t.malformed(c, "--threads");
    t.add(
        c,
        "--connect-rate",
        &[("0", Error), ("0.000001", Error), ("nan", Error)],
    );
    t.malformed(c, "--connect-rate");
}

fn chaos_cases(t: &mut Table) {
    let env = t.env;
    let c = Cmd::Chaos;
    // A chaos row takes about a second: in-range values run only where the
    // value itself is the point; the rest are the bound's excess and garbage.
    t.add(
        c,
        "--backends",
        &[("epoll-et", Pass), ("bogus", Error), ("", Error)],
    );
    t.add(
        c,
        "--scenarios",
        &[("bogus", Error), ("chaos,bogus", Error), ("", Error)],
    );
    let too_many = (env.max_conns + 1).to_string();
    t.add(
        c,
        "--conns",
        &[("0", Error), ("1", Pass), (too_many.as_str(), Error)],
    );
    t.malformed(c, "--conns");
    t.duration(c, "--duration", Error, Error);
    t.cases
        .retain(|k| !(k.cmd == c && k.flag == "--duration" && k.value.as_deref() == Some("0.1")));
    t.add(c, "--rss-bound", &[("0", Error), ("12q", Error)]);
    t.malformed(c, "--rss-bound");
    t.with(c, "--c10k-conns", "0", &["--scenarios", "c10k"], Error);
    t.with(
        c,
        "--c10k-conns",
        &too_many,
        &["--scenarios", "c10k"],
        Error,
    );
    t.malformed(c, "--c10k-conns");
    t.add(c, "--out", &[(UNWRITABLE, Error)]);
    let max = muxbench::loadgen::chaos::MAX_POPULATION;
    for flag in [
        "--resets",
        "--half-closers",
        "--slow-readers",
        "--never-readers",
        "--slowloris",
        "--long-liners",
        "--garbage-senders",
        "--unterminated",
    ] {
        t.add_owned(c, flag, vec![((max + 1).to_string(), Error)]);
        t.malformed(c, flag);
    }
    t.add(c, "--resets", &[("0", Pass)]);
    let max_drops = muxbench::loadgen::chaos::MAX_CONNECT_DROPS_PER_S;
    t.add_owned(
        c,
        "--connect-drops-per-s",
        vec![
            (format!("{}", max_drops * 2.0), Error),
            ("inf".into(), Error),
            ("nan".into(), Error),
        ],
    );
    t.malformed(c, "--connect-drops-per-s");
}

/// `loadgen netlab`'s bounds (making labs is tests/netlab.rs's).
fn netlab_cases(t: &mut Table) {
    let n = Cmd::Netlab;
    t.add(
        n,
        "--load-hosts",
        &[
            ("0", Error),
            ("1", Pass),
            ("16", Pass),
            ("17", Error),
            ("x", Error),
        ],
    );
    t.add(
        n,
        "--name",
        &[
            ("", Error),
            ("abcdefghijk", Error),
            ("-ab", Error),
            ("a/b", Error),
            ("a b", Error),
        ],
    );
    t.add(n, "--hold", &[("1s", Pass), ("x", Error)]);
    for (value, expect) in [(None, Pass), (Some("x"), Error)] {
        t.cases.push(Case {
            cmd: n,
            flag: match value {
                None => "--remove".into(),
                Some(v) => format!("--remove={v}"),
            },
            value: None,
            extra: vec![],
            without: vec!["--remove"],
            expect,
        });
    }
}

/// `loadgen claims`: a folder's list, a page checked and updated (the base's
/// folder conflicts with both, so they go without it).
fn claims_cases(t: &mut Table) {
    let env = t.env;
    let c = Cmd::Claims;
    t.add(c, "<DIR>", &[("/nonexistent-dir", Error), ("", Error)]);
    t.add(c, "--baseline", &[("epoll-et", Pass), ("bogus", Pass)]);
    let root = env.dir.display().to_string();
    t.add(c, "--root", &[(root.as_str(), Pass)]);
    let plain = env.scratch("plain.md");
    std::fs::write(&plain, "no claims here\n").unwrap();
    let wrong = env.scratch("wrong.md");
    std::fs::write(&wrong, "<!-- claim . runs -->0<!-- /claim -->\n").unwrap();
    let unknown = env.scratch("unknown.md");
    std::fs::write(&unknown, "<!-- claim . nope -->0<!-- /claim -->\n").unwrap();
    for flag in ["--check", "--update"] {
        for (page, expect) in [
            (plain.as_str(), Pass),
            ("/nonexistent.md", Error),
            ("", Error),
            (unknown.as_str(), Error),
        ] {
            t.cases.push(Case {
                cmd: c,
                flag: flag.into(),
                value: Some(page.into()),
                extra: vec!["--root".into(), root.clone()],
                without: vec!["<DIR>"],
                expect,
            });
        }
    }
    // A stated value its data does not give: --check fails (exit 1).
    t.cases.push(Case {
        cmd: c,
        flag: "--check".into(),
        value: Some(wrong),
        extra: vec!["--root".into(), root],
        without: vec!["<DIR>"],
        expect: Error,
    });
}

fn other_cases(t: &mut Table) {
    let env = t.env;
    let r = Cmd::Report;
    t.add(r, "<CSV>", &[("/nonexistent.csv", Error), ("", Error)]);
    let csv = env.runs_csv.display().to_string();
    t.add(r, "<CSV>", &[(csv.as_str(), Pass)]);
    let md = env.scratch("R.md");
    t.add(r, "--output", &[(md.as_str(), Pass), (UNWRITABLE, Error)]);
    t.add(
        r,
        "--baseline",
        &[("epoll-et", Pass), ("bogus", Either), ("", Either)],
    );
    claims_cases(t);
    // No criterion results in a fresh folder: every bench-table run is the
    // error that says so.
    let b = Cmd::BenchTable;
    t.add(
        b,
        "--criterion-dir",
        &[("/nonexistent-dir", Error), ("", Error)],
    );
    t.add(b, "--output", &[(UNWRITABLE, Error)]);
    t.add(b, "--csv", &[(UNWRITABLE, Error)]);
    // With the base's --criterion-dir, --points conflicts: refused either way.
    t.add(b, "--points", &[("/nonexistent.csv", Error), ("", Error)]);
    t.add(b, "--baseline", &[("epoll-et", Error)]);
    let g = Cmd::Merge;
    // Alone, one input is too few (the base's two are left out for it).
    t.add(g, "<INPUTS>", &[("/nonexistent.json", Error), ("", Error)]);
    let merged = env.scratch("merged");
    t.add(g, "--json", &[(merged.as_str(), Pass), (UNWRITABLE, Error)]);
    let merged_csv = env.scratch("merged.csv");
    t.add(
        g,
        "--csv",
        &[(merged_csv.as_str(), Pass), (UNWRITABLE, Error)],
    );
    let hgrm = env.scratch("merged.hgrm");
    t.add(g, "--hgrm", &[(hgrm.as_str(), Pass), (UNWRITABLE, Error)]);
    let d = Cmd::Doctor;
    t.add(
        d,
        "--server-cpu",
        &[("0", Pass), ("99999", Error), ("x", Error), ("", Error)],
    );
    t.add(
        d,
        "--client-cpus",
        &[("0-99999999999", Error), ("x", Error), ("", Error)],
    );
    t.add(
        d,
        "--sample",
        &[
            ("0", Error),
            ("0.05", Pass),
            ("61", Error),
            ("1e30", Error),
            ("5x", Error),
        ],
    );
    t.switch(Cmd::Backends, "--json");
    let m = Cmd::Muxclient;
    let live = env.echo_addr.to_string();
    let live_name = format!("localhost:{}", env.echo_addr.port());
    t.add(
        m,
        "<ADDR>",
        &[
            (live.as_str(), Pass),
            (live_name.as_str(), Pass),
            ("no-such-host.invalid:7000", Error),
            ("localhost", Error),
            ("127.0.0.1:99999", Error),
            ("127.0.0.1:1", Error),
            ("", Error),
        ],
    );
}

fn table(env: &Env) -> Vec<Case> {
    let mut t = Table {
        env,
        cases: Vec::new(),
    };
    server_cases(&mut t, Cmd::Muxserver);
    server_cases(&mut t, Cmd::Serve);
    loadgen_cases(&mut t);
    sweep_cases(&mut t);
    chaos_cases(&mut t);
    other_cases(&mut t);
    netlab_cases(&mut t);
    t.cases
}

fn argv(env: &Env, case: &Case) -> Vec<String> {
    let (_, sub) = case.cmd.argv0();
    let base_flag = case.flag.split('=').next().unwrap_or("");
    let mut args: Vec<String> = sub.iter().map(|s| s.to_string()).collect();
    let mut positional = Vec::new();
    for (flag, value) in env.base(case.cmd) {
        if flag == base_flag || case.without.contains(&flag.as_str()) {
            continue;
        }
        if case.extra.contains(&flag) {
            continue;
        }
        if flag.starts_with('<') {
            positional.push(value.unwrap_or_default());
            continue;
        }
        args.push(flag);
        args.extend(value);
    }
    if case.flag.starts_with('<') {
        positional.push(case.value.clone().unwrap_or_default());
    } else {
        match &case.value {
            // `--flag=value`: a value starting with '-' is taken as the value.
            Some(v) => args.push(format!("{}={v}", case.flag)),
            None => args.push(case.flag.clone()),
        }
    }
    args.extend(case.extra.iter().cloned());
    args.extend(positional);
    args
}

fn env() -> (Env, tempfile::TempDir, Guard) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = Guard(
        Command::new(MUXSERVER)
            .args(["--backend", "epoll-et", "--addr", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting muxserver"),
    );
    let mut line = String::new();
    BufReader::new(server.0.stdout.as_mut().expect("piped"))
        .read_line(&mut line)
        .expect("readiness line");
    let echo_addr: SocketAddr = line
        .strip_prefix("listening on ")
        .and_then(|r| r.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("not a readiness line: {line:?}"));
    // A CSV for `loadgen report`, from one tiny run.
    let runs_csv = dir.path().join("runs.csv");
    let made = Command::new(LOADGEN)
        .args(["--backend", "epoll-et", "--conns", "1", "--warmup", "0"])
        .args(["--duration", "0.1", "--quiet", "--csv"])
        .arg(&runs_csv)
        .arg("--json")
        .arg(dir.path().join("run.json"))
        .output()
        .expect("running loadgen");
    assert!(made.status.success(), "{made:?}");
    // Two "hosts" for `loadgen merge`: the same run under two names (their
    // windows overlap, being one window).
    std::fs::copy(dir.path().join("run.json"), dir.path().join("run2.json")).unwrap();
    let allowed = muxbench::sys::allowed_cpus().expect("affinity");
    let client_cpus = if allowed.len() < 2 {
        allowed.len()
    } else {
        allowed.iter().filter(|&&c| c != 0).count()
    };
    let (_, hard) = muxbench::sys::nofile_limit().expect("rlimit");
    let env = Env {
        dir: dir.path().to_path_buf(),
        echo_addr,
        runs_csv,
        max_conns: (hard.saturating_sub(64)) as usize,
        client_cpus,
        other_cpu: allowed.iter().copied().find(|&c| c != 0),
        hard_nofile: hard,
    };
    (env, dir, server)
}

#[test]
fn every_flag_is_in_the_table() {
    let (env, _dir, _server) = env();
    let cases = table(&env);
    let mut covered: BTreeMap<Cmd, BTreeSet<String>> = BTreeMap::new();
    for c in &cases {
        let flag = c.flag.split('=').next().unwrap_or("").to_string();
        covered.entry(c.cmd).or_default().insert(flag);
    }
    let mut missing = Vec::new();
    let mut stale = Vec::new();
    // Every subcommand `loadgen --help` lists has its rows (serve is hidden).
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout).to_string();
    let subcommands: Vec<&str> = help
        .split("Commands:")
        .nth(1)
        .unwrap_or("")
        .lines()
        .skip(1) // the rest of the "Commands:" line
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    for sub in &subcommands {
        assert!(
            Cmd::ALL.iter().any(|c| c.argv0().1.first() == Some(sub)),
            "loadgen subcommand {sub:?} has no rows in tests/cli_bounds.rs"
        );
    }
    assert!(subcommands.len() >= 5, "{help}");
    for cmd in Cmd::ALL {
        let listed = flags_from_help(cmd);
        assert!(!listed.is_empty(), "{cmd:?}: no flags found in --help");
        let table = covered.remove(&cmd).unwrap_or_default();
        missing.extend(listed.difference(&table).map(|f| format!("{cmd:?} {f}")));
        stale.extend(table.difference(&listed).map(|f| format!("{cmd:?} {f}")));
    }
    assert!(
        missing.is_empty(),
        "flags without edge cases in tests/cli_bounds.rs (add them to the table): {missing:?}"
    );
    assert!(
        stale.is_empty(),
        "table rows for flags --help no longer lists: {stale:?}"
    );
}

#[test]
fn every_flag_at_its_edges() {
    let (env, _dir, _server) = env();
    let cases = table(&env);
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let succeeded = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..PARALLEL {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(case) = cases.get(i) else { break };
                let o = run_case(case, argv(&env, case));
                if o.status.is_some_and(|s| s.success()) {
                    succeeded.fetch_add(1, Ordering::Relaxed);
                }
                if let Some(why) = verdict(case, &o) {
                    let (exe, _) = case.cmd.argv0();
                    let name = Path::new(exe).file_name().unwrap().to_string_lossy();
                    failures.lock().unwrap().push(format!(
                        "{name} {}: {why}\n    stderr: {}",
                        argv(&env, case).join(" "),
                        o.stderr.trim_end().replace('\n', "\n            ")
                    ));
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    eprintln!(
        "{} cases in {:.1} s: {} short runs succeeded, {} failed",
        cases.len(),
        started.elapsed().as_secs_f64(),
        succeeded.load(Ordering::Relaxed),
        failures.len()
    );
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn the_issue_cases_give_one_clear_line() {
    let (env, _dir, _server) = env();
    let _ = &env;
    let run = |exe: &str, args: &[&str]| -> (i32, String) {
        let out = Command::new(exe)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run");
        (
            out.status.code().expect("exited"),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(
        MUXSERVER,
        &[
            "--backend",
            "epoll-et",
            "--addr",
            "127.0.0.1:0",
            "--read-buf",
            "99999999999",
        ],
    );
    assert_eq!(code, 2);
    assert!(err.contains("64 MiB"), "{err}");
    let base = ["--backend", "epoll-et", "--no-csv", "--quiet"];
    let (code, err) = run(
        LOADGEN,
        &[&base[..], &["--conns", "2", "--pipeline", "100000000"]].concat(),
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("in flight") && err.contains("--pipeline"),
        "{err}"
    );
    let (code, err) = run(LOADGEN, &[&base[..], &["--threads", "100000"]].concat());
    assert_eq!(code, 2);
    assert!(
        err.contains("per client CPU") && !err.contains("os error"),
        "{err}"
    );
    // The server's own error line, not clap's `--help` hint: a chat server
    // whose output cap cannot hold one line refuses to start.
    let (code, err) = run(
        LOADGEN,
        &[
            &base[..],
            &[
                "--workload",
                "chat",
                "--conns",
                "2",
                "--msg-size",
                "200",
                "--max-pending",
                "100",
            ],
        ]
        .concat(),
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("--max-pending 100 is smaller than one line"),
        "{err}"
    );
    assert!(!err.contains("For more information"), "{err}");
}
