//! `loadgen chaos`: the reliability table. For each backend, three scenarios:
//!
//! - **chaos**: well-behaved verified clients alone (baseline), then the same
//!   with hostile populations beside them ([`super::chaos`]). Verdict: the
//!   server is alive and answers a fresh connection, its peak RSS stayed under
//!   a bound, the well-behaved clients got every byte back verified, and every
//!   half-closing client got exactly its bytes; the p99 ratio chaos/baseline
//!   and the server's counters are reported.
//! - **chat-chaos**: the same with the chat workload (50 clients, 10 sending)
//!   and the chat populations: over-long lines (each must get the error and a
//!   close), garbage lines, half lines left behind.
//! - **fd-pressure**: the server's descriptor limit (512) is lower than the
//!   clients offered (1,000): it must not spin while out of descriptors, must
//!   keep serving the connections it has, and must accept the rest once some
//!   close.
//! - **c10k**: 10,000 concurrent active connections with zero errors (select:
//!   the refusals beyond FD_SETSIZE are counted and nothing else breaks).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;

use super::args::RunArgs;
use super::chaos::ChaosSpec;
use super::{NoProgress, ServerChild};
use crate::backend::Backend;
use crate::record::{ChaosOutcome, ReliabilityRow, Scenario, Verdict};
use crate::server::Protocol;
use crate::units::{parse_duration, parse_size};

/// Settings of `loadgen chaos`.
#[derive(Debug, Clone, Args)]
pub struct ChaosArgs {
    /// Backends, comma-separated.
    #[arg(long, value_delimiter = ',', value_enum, ignore_case = true,
          default_values_t = Backend::ALL)]
    pub backends: Vec<Backend>,
    /// Scenarios, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        value_enum,
        default_value = "chaos,chat-chaos,fd-pressure,c10k"
    )]
    pub scenarios: Vec<Scenario>,
    /// Well-behaved clients in the chaos scenario (they and the hostile ones must fit the
    /// descriptor limit).
    #[arg(long, default_value_t = 50)]
    pub conns: usize,
    /// Measured window of each run (hostile clients run during it).
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Bound on the server's peak RSS in the chaos scenario (at least 1 byte).
    #[arg(long, default_value = "64MiB", value_parser = parse_size)]
    pub rss_bound: usize,
    /// Connections in the c10k scenario.
    #[arg(long, default_value_t = 10_000)]
    pub c10k_conns: usize,
    /// Output folder: reliability.csv and RELIABILITY.md (rewritten after every row).
    #[arg(long, default_value = "results/reliability")]
    pub out: PathBuf,
    /// Sizes of the hostile populations.
    #[command(flatten)]
    pub spec: ChaosSpec,
}

fn base_args(backend: Backend, conns: usize, duration: Duration) -> RunArgs {
    let mut r = RunArgs::with_defaults(backend);
    r.conns = conns;
    r.warmup = Duration::from_millis(300);
    r.duration = duration;
    r.allow_errors = true;
    r.no_csv = true;
    r.quiet = true;
    r
}

/// The chaos scenario for one backend (`chat`: the chat workload, with the
/// chat populations).
pub fn chaos_row(a: &ChaosArgs, backend: Backend, exe: &Path, chat: bool) -> ReliabilityRow {
    let mut row = ReliabilityRow {
        backend: backend.name().into(),
        scenario: if chat {
            Scenario::ChatChaos
        } else {
            Scenario::Chaos
        },
        rss_bound_kib: Some(a.rss_bound as u64 / 1024),
        ..Default::default()
    };
    let args_for = |chaos: Option<ChaosSpec>| {
        let mut args = base_args(backend, a.conns, a.duration);
        if chat {
            args.load.workload = Protocol::Chat;
        }
        args.chaos = chaos;
        args
    };
    let baseline = super::run(&args_for(None), exe, &mut NoProgress);
    let args = args_for(Some(a.spec.clone()));
    let hostile = super::run(&args, exe, &mut NoProgress);
    let out = match hostile {
        Ok(out) => out,
        Err(e) => {
            row.verdict = Verdict::Fail;
            row.detail = format!("run failed: {e:#}");
            return row;
        }
    };
    let r = &out.result;
    let outcome = out.chaos.clone().unwrap_or_else(|| ChaosOutcome {
        stats: Default::default(),
        answers_fresh_connection: false,
    });
    row.fill_from(r);
    row.alive = outcome.answers_fresh_connection;
    if let Ok(b) = &baseline {
        row.p99_baseline_us = Some(b.result.lat_p99_us);
        row.p99_ratio =
            (b.result.lat_p99_us > 0).then(|| r.lat_p99_us as f64 / b.result.lat_p99_us as f64);
    }
    let st = &outcome.stats;
    row.half_close_failures = Some(st.half_close_failures);
    if chat {
        row.long_lines_rejected = Some(st.long_lines);
        row.long_line_failures = Some(st.long_line_failures);
        row.foreign_lines = r.foreign_lines;
    }
    row.detail = format!(
        "hostile: {} resets, {} half-closes ({} wrong), {} KiB pushed by never-readers, \
         {} B read by slow readers, {} slowloris bytes, {} connect-drops, {} failed connects",
        st.resets,
        st.half_closes,
        st.half_close_failures,
        st.never_reader_bytes / 1024,
        st.slow_read_bytes,
        st.slowloris_bytes,
        st.connect_drops,
        st.connect_failures
    );
    if chat {
        row.detail += &format!(
            "; chat: {} over-long lines rejected ({} wrong), {} garbage lines, {} half lines \
             left, {} foreign lines seen by the verified clients",
            st.long_lines,
            st.long_line_failures,
            st.garbage_lines,
            st.unterminated,
            r.foreign_lines.unwrap_or(0)
        );
    }
    let rss_ok = r.server_max_rss_kib.unwrap_or(u64::MAX) <= a.rss_bound as u64 / 1024;
    let pass = row.alive
        && rss_ok
        && r.errors == 0
        && st.half_close_failures == 0
        && st.long_line_failures == 0;
    row.verdict = Verdict::from_pass(pass);
    row
}

/// The descriptor-pressure scenario: server limit 512, 1,000 clients.
pub fn fd_pressure_row(backend: Backend, exe: &Path) -> ReliabilityRow {
    let mut row = ReliabilityRow {
        backend: backend.name().into(),
        scenario: Scenario::FdPressure,
        ..Default::default()
    };
    if let Err(e) = fd_pressure(backend, exe, &mut row) {
        row.verdict = Verdict::Fail;
        row.detail = format!("{e:#}");
    }
    row
}

fn round_trip(s: &mut TcpStream, msg: &[u8]) -> bool {
    let mut back = vec![0u8; msg.len()];
    s.set_read_timeout(Some(Duration::from_secs(10))).is_ok()
        && s.write_all(msg).is_ok()
        && s.read_exact(&mut back).is_ok()
        && back == msg
}

/// Fills `row` (verdict, figures, detail).
fn fd_pressure(backend: Backend, exe: &Path, row: &mut ReliabilityRow) -> Result<()> {
    const LIMIT: u64 = 512;
    const CLIENTS: usize = 1000;
    let mut cmd = Command::new(exe);
    cmd.args([
        "serve",
        "--backend",
        backend.name(),
        "--addr",
        "127.0.0.1:0",
    ])
    .args(["--nofile-limit", &LIMIT.to_string()]);
    crate::sys::kill_child_with_parent(&mut cmd);
    let mut server = ServerChild::spawn(cmd, Duration::from_secs(10))?;
    let mut clients = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        // The kernel completes handshakes into the backlog even when the
        // server cannot accept them.
        clients.push(TcpStream::connect_timeout(
            &server.addr,
            Duration::from_secs(3),
        )?);
    }
    let t = Duration::from_secs(5);
    let end = Instant::now() + Duration::from_secs(10);
    let mut snap = server.snapshot(t)?;
    while snap.counters.accept_pauses == 0 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
        snap = server.snapshot(t)?;
    }
    let held = snap.counters.conns;
    // Out of descriptors with clients waiting: measure one second.
    let before = server.snapshot(t)?;
    std::thread::sleep(Duration::from_secs(1));
    let after = server.snapshot(t)?;
    let waits = after.mux.wait_calls - before.mux.wait_calls;
    let cpu_ms = ((after.rusage.user_us + after.rusage.sys_us)
        - (before.rusage.user_us + before.rusage.sys_us)) as f64
        / 1000.0;
    let served_existing = round_trip(&mut clients[0], b"still serving");
    // Free descriptors: close 600 of the accepted ones; the rest must be served.
    let mut rest = clients.split_off(600);
    drop(clients);
    let mut served_after = 0;
    for (i, s) in rest.iter_mut().enumerate() {
        if round_trip(s, format!("late client {i}").as_bytes()) {
            served_after += 1;
        }
    }
    let alive = server.exited().is_none();
    let (final_snap, _) = server.stop(t)?;
    let no_spin = waits < 100 && cpu_ms < 100.0;
    let pass = alive && no_spin && served_existing && served_after == rest.len();
    row.verdict = Verdict::from_pass(pass);
    row.alive = alive;
    row.waits_out_of_fds = Some(waits);
    row.cpu_ms_out_of_fds = Some(cpu_ms);
    row.served_while_out_of_fds = Some(served_existing);
    row.waiting_clients = Some(rest.len() as u64);
    row.waiting_served = Some(served_after as u64);
    row.detail = format!(
        "limit {LIMIT}, {CLIENTS} clients: held {held}; out of descriptors for 1 s: {waits} wait calls, \
         {cpu_ms:.1} ms CPU; accepted connection served: {served_existing}; after closing 600: \
         {served_after}/{} waiting clients served; accept pauses {}",
        rest.len(),
        final_snap.counters.accept_pauses
    );
    Ok(())
}

/// The C10K scenario.
pub fn c10k_row(a: &ChaosArgs, backend: Backend, exe: &Path) -> ReliabilityRow {
    let mut row = ReliabilityRow {
        backend: backend.name().into(),
        scenario: Scenario::C10k,
        ..Default::default()
    };
    let args = base_args(backend, a.c10k_conns, Duration::from_secs(2));
    match super::run(&args, exe, &mut NoProgress) {
        Ok(out) => {
            let r = &out.result;
            row.fill_from(r);
            row.alive = true;
            let refused = r.server_refused.unwrap_or(0);
            // select: each refused connection shows on the client as closed by
            // the server with its first message missing; nothing else may fail.
            let only_refusals = r.err_corrupt == 0
                && r.err_late == 0
                && r.err_connect == 0
                && r.err_closed_by_server == refused
                && r.err_missing <= refused;
            row.verdict = if r.errors == 0 && refused == 0 {
                Verdict::Pass
            } else if backend == Backend::Select && only_refusals {
                Verdict::Degrades
            } else {
                Verdict::Fail
            };
            row.detail = format!(
                "{} connections, {} served, {} refused",
                a.c10k_conns,
                a.c10k_conns as u64 - refused,
                refused
            );
        }
        Err(e) => {
            row.verdict = Verdict::Fail;
            row.detail = format!("run failed: {e:#}");
        }
    }
    row
}

impl ChaosArgs {
    /// Check every setting before the first row starts.
    pub fn check(&self) -> Result<()> {
        if self.backends.is_empty() || self.scenarios.is_empty() {
            bail!("give at least one backend and one scenario");
        }
        if self.rss_bound == 0 {
            bail!("--rss-bound must be at least 1 byte");
        }
        self.spec.check()?;
        let backend = self.backends[0];
        if self
            .scenarios
            .iter()
            .any(|s| matches!(s, Scenario::Chaos | Scenario::ChatChaos))
        {
            super::check(&base_args(backend, self.conns, self.duration))?;
            // The hostile clients need descriptors beside the well-behaved ones.
            let (soft, _) = crate::sys::nofile_limit()?;
            let need = (self.conns + self.spec.persistent()) as u64 + super::setup::SPARE_FDS;
            if need > soft {
                bail!(
                    "--conns {} and {} persistent hostile connections need about {need} \
                     descriptors, but RLIMIT_NOFILE here is {soft}",
                    self.conns,
                    self.spec.persistent()
                );
            }
        }
        if self.scenarios.contains(&Scenario::C10k) {
            super::check(&base_args(backend, self.c10k_conns, Duration::from_secs(2)))
                .context("--c10k-conns")?;
        }
        Ok(())
    }
}

/// Run the table; rows are written as they finish. Returns the rows.
pub fn run(a: &ChaosArgs, exe: &Path, command: &str) -> Result<Vec<ReliabilityRow>> {
    a.check()?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let machine = super::Machine::detect();
    let mut rows = Vec::new();
    for scenario in &a.scenarios {
        for &backend in &a.backends {
            if crate::signals::interrupted() {
                return Ok(rows);
            }
            eprintln!("[{scenario}] {backend}…");
            let row = match scenario {
                Scenario::Chaos => chaos_row(a, backend, exe, false),
                Scenario::ChatChaos => chaos_row(a, backend, exe, true),
                Scenario::FdPressure => fd_pressure_row(backend, exe),
                Scenario::C10k => c10k_row(a, backend, exe),
            };
            eprintln!("  {}: {}", row.verdict, row.detail);
            rows.push(row);
            let mut w = csv::Writer::from_path(a.out.join("reliability.csv"))?;
            for r in &rows {
                w.serialize(r)?;
            }
            w.flush()?;
            let md = crate::report::reliability::render(
                &rows,
                command,
                &machine.cpu_model,
                machine.cores,
                &machine.kernel,
            );
            crate::report::write_atomic(&a.out.join("RELIABILITY.md"), md.as_bytes())?;
            // The same table as a page (no figures: verdicts, not a comparison).
            let page = crate::report::html::page(&md, &[]);
            crate::report::write_atomic(&a.out.join("RELIABILITY.html"), page.as_bytes())?;
        }
    }
    Ok(rows)
}
