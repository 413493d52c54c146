//! Running one command-line case of `tests/cli_bounds.rs`: the binary with a
//! time limit, killed and reaped whatever happens, and the verdict on how it
//! ended; and the flags a command's `--help` lists.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const MUXSERVER: &str = env!("CARGO_BIN_EXE_muxserver");
pub const LOADGEN: &str = env!("CARGO_BIN_EXE_loadgen");
pub const MUXCLIENT: &str = env!("CARGO_BIN_EXE_muxclient");

/// Longest any case may run.
const LIMIT: Duration = Duration::from_secs(15);

/// What a case must end with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Exit 0 (a server: its readiness line, then exit 0 on SIGTERM).
    Pass,
    /// Exit 1 or 2 with one `error:` line.
    Error,
    /// Either of the above (values whose outcome the machine decides).
    Either,
}

/// A command: its executable, subcommand words, and whether it serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cmd {
    Muxserver,
    Serve,
    Loadgen,
    Sweep,
    Chaos,
    Report,
    BenchTable,
    Doctor,
    Merge,
    Claims,
    Backends,
    Muxclient,
    Netlab,
}

impl Cmd {
    pub const ALL: [Cmd; 13] = [
        Cmd::Muxserver,
        Cmd::Serve,
        Cmd::Loadgen,
        Cmd::Sweep,
        Cmd::Chaos,
        Cmd::Report,
        Cmd::BenchTable,
        Cmd::Doctor,
        Cmd::Merge,
        Cmd::Claims,
        Cmd::Backends,
        Cmd::Muxclient,
        Cmd::Netlab,
    ];

    pub fn argv0(self) -> (&'static str, &'static [&'static str]) {
        match self {
            Cmd::Muxserver => (MUXSERVER, &[]),
            Cmd::Serve => (LOADGEN, &["serve"]),
            Cmd::Loadgen => (LOADGEN, &[]),
            Cmd::Sweep => (LOADGEN, &["sweep"]),
            Cmd::Chaos => (LOADGEN, &["chaos"]),
            Cmd::Report => (LOADGEN, &["report"]),
            Cmd::BenchTable => (LOADGEN, &["bench-table"]),
            Cmd::Doctor => (LOADGEN, &["doctor"]),
            Cmd::Merge => (LOADGEN, &["merge"]),
            Cmd::Claims => (LOADGEN, &["claims"]),
            Cmd::Backends => (LOADGEN, &["backends"]),
            Cmd::Muxclient => (MUXCLIENT, &[]),
            Cmd::Netlab => (LOADGEN, &["netlab"]),
        }
    }

    pub fn serves(self) -> bool {
        matches!(self, Cmd::Muxserver | Cmd::Serve)
    }
}

/// One row of the table: `flag` (`--name`, or `<NAME>` for a positional)
/// given `value` (None: a switch), `extra` arguments added, `without` base
/// flags removed.
#[derive(Debug, Clone)]
pub struct Case {
    pub cmd: Cmd,
    pub flag: String,
    pub value: Option<String>,
    pub extra: Vec<String>,
    pub without: Vec<&'static str>,
    pub expect: Expect,
}
/// Kills and reaps its child on drop, whatever happened.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What a run ended with.
pub struct Outcome {
    pub status: Option<ExitStatus>,
    pub stderr: String,
    pub ready: bool,
    pub elapsed: Duration,
}

/// Run `case.cmd` with `args` (subcommand words included) until it ends or
/// [`LIMIT`] passes.
pub fn run_case(case: &Case, args: Vec<String>) -> Outcome {
    let (exe, _) = case.cmd.argv0();
    let started = Instant::now();
    let mut child = Guard(
        Command::new(exe)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning the binary"),
    );
    let stdout = child.0.stdout.take().expect("piped");
    let mut stderr_pipe = child.0.stderr.take().expect("piped");
    let (ready_tx, ready_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.starts_with("listening on ") {
                let _ = ready_tx.send(());
            }
        }
    });
    let stderr = Arc::new(Mutex::new(String::new()));
    let sink = stderr.clone();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr_pipe.read_to_string(&mut s);
        *sink.lock().unwrap() = s;
    });
    let deadline = started + LIMIT;
    let mut ready = false;
    let status = loop {
        if let Some(st) = child.0.try_wait().expect("try_wait") {
            break Some(st);
        }
        if case.cmd.serves() && !ready && ready_rx.try_recv().is_ok() {
            ready = true;
            muxbench::sys::kill(child.0.id(), libc::SIGTERM).expect("SIGTERM");
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    drop(child);
    let _ = reader.join();
    let stderr = stderr.lock().unwrap().clone();
    Outcome {
        status,
        stderr,
        ready,
        elapsed: started.elapsed(),
    }
}

/// Why a case failed, or None.
pub fn verdict(case: &Case, o: &Outcome) -> Option<String> {
    let Some(status) = o.status else {
        return Some(format!("still running after {:?}", o.elapsed));
    };
    let Some(code) = status.code() else {
        return Some(format!("killed by a signal ({status})"));
    };
    for bad in [
        "panicked",
        "stack backtrace",
        "RUST_BACKTRACE",
        "memory allocation",
    ] {
        if o.stderr.contains(bad) {
            return Some(format!("stderr says {bad:?}"));
        }
    }
    let error_lines = o.stderr.lines().filter(|l| l.contains("error:")).count();
    let ok = code == 0 && (!case.cmd.serves() || o.ready);
    let error = (code == 1 || code == 2) && error_lines == 1;
    let pass = match case.expect {
        Expect::Pass => ok,
        Expect::Error => error,
        Expect::Either => ok || error,
    };
    if pass {
        None
    } else {
        Some(format!(
            "expected {:?}, got exit {code}{} with {error_lines} error: line(s)",
            case.expect,
            if case.cmd.serves() && !o.ready {
                " (never ready)"
            } else {
                ""
            }
        ))
    }
}

/// Flags (`--name`) and positionals (`<NAME>`) a command's `--help` lists.
pub fn flags_from_help(cmd: Cmd) -> BTreeSet<String> {
    let (exe, sub) = cmd.argv0();
    let out = Command::new(exe)
        .args(sub)
        .arg("--help")
        .output()
        .expect("running --help");
    assert!(out.status.success(), "{cmd:?} --help failed");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut flags = BTreeSet::new();
    let mut section = "";
    for line in text.lines() {
        if !line.starts_with(' ') && line.ends_with(':') {
            section = line;
            continue;
        }
        // Entries are indented by 2 (`-o, --output`) or 6 (`--addr`); their
        // help text by 10.
        let entry = line.trim_start();
        if line.len() - entry.len() > 6 {
            continue;
        }
        let word = entry
            .split(|c: char| c.is_whitespace() || c == ',')
            .find(|w| w.starts_with("--") || w.starts_with('<') || w.starts_with('['))
            .unwrap_or("");
        // An optional positional, `[DIR]`, is `<DIR>` in the table.
        let optional = word
            .strip_prefix('[')
            .and_then(|w| w.strip_suffix(']'))
            .map(|w| format!("<{w}>"));
        let word = optional.as_deref().unwrap_or(word);
        // `--trace[=<WHAT>]`: a flag whose value is optional.
        let word = word.split(['=', '[']).next().unwrap_or("");
        match section {
            "Options:" if word.starts_with("--") && word != "--help" && word != "--version" => {
                flags.insert(word.to_string());
            }
            "Arguments:" if word.starts_with('<') => {
                flags.insert(word.trim_end_matches("...").to_string());
            }
            _ => {}
        }
    }
    flags
}
