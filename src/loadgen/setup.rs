//! Before a run starts: every setting checked against its bound, the CPUs
//! placed (server, workers) and the server's command line built.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

use super::args::RunArgs;
use super::client;

use crate::server::Protocol;
use crate::{limits, sys};

/// Descriptors a side needs beyond one per connection (stdio, listener, epoll, pipes, …).
pub(crate) const SPARE_FDS: u64 = 64;

/// Where the workers and the server run.
pub(super) struct Placement {
    pub server_cpu: Option<usize>,
    pub client_cpus: Option<Vec<usize>>,
    pub threads: usize,
    pub warnings: Vec<String>,
}

pub(super) fn place(args: &RunArgs) -> Result<Placement> {
    let allowed = sys::allowed_cpus().context("reading the CPU affinity mask")?;
    let mut warnings = Vec::new();
    let (server_cpu, client_cpus) = if args.addr.is_some() {
        (None, args.load.client_cpus.clone().map(|c| c.0))
    } else if allowed.len() < 2 {
        let w = "only one CPU available: server and load generator share it, no pinning";
        eprintln!("loadgen: warning: {w}");
        warnings.push(w.to_string());
        (None, None)
    } else {
        if !allowed.contains(&args.load.server_cpu) {
            bail!(
                "--server-cpu {} is not among the CPUs this process may use ({allowed:?})",
                args.load.server_cpu
            );
        }
        let clients = match &args.load.client_cpus {
            Some(crate::units::CpuList(c)) => {
                if let Some(bad) = c.iter().find(|c| !allowed.contains(c)) {
                    bail!("--client-cpus: CPU {bad} is not among the CPUs this process may use ({allowed:?})");
                }
                c.clone()
            }
            None => allowed
                .iter()
                .copied()
                .filter(|&c| c != args.load.server_cpu)
                .collect(),
        };
        (Some(args.load.server_cpu), Some(clients))
    };
    let cpus = client_cpus.as_ref().map_or(allowed.len(), Vec::len).max(1);
    let threads = match args.load.threads {
        None => cpus,
        Some(0) => bail!("--threads must be at least 1"),
        Some(t) if t > limits::max_threads(cpus) => bail!(
            "--threads {t} is above the bound of {} ({} per client CPU, {cpus} client CPU{}): \
             each worker is an event loop that keeps its CPU busy, so more workers than CPUs \
             only take turns; use --client-cpus to give the client more CPUs",
            limits::max_threads(cpus),
            limits::THREADS_PER_CPU,
            if cpus == 1 { "" } else { "s" }
        ),
        Some(t) => t,
    };
    Ok(Placement {
        server_cpu,
        client_cpus,
        threads,
        warnings,
    })
}

pub(super) fn check_settings(args: &RunArgs) -> Result<()> {
    if args.conns == 0 {
        bail!("--conns must be at least 1");
    }
    if args.label.is_some() && args.addr.is_none() {
        bail!("--label names an external server: it goes with --addr");
    }
    if args.load.pipeline == 0 {
        bail!("--pipeline must be at least 1");
    }
    check_uring_features(args)?;
    if args.conns > u32::MAX as usize {
        bail!("--conns is too large");
    }
    let Some(total) = args.conns.checked_add(args.idle) else {
        bail!(
            "--conns {} plus --idle {} is too large",
            args.conns,
            args.idle
        );
    };
    check_rate_and_interval(args)?;
    if !(args.load.connect_rate.is_finite() && args.load.connect_rate > 0.0) {
        bail!("--connect-rate must be positive");
    }
    let connect_s = total as f64 / args.load.connect_rate;
    if connect_s > limits::MAX_DURATION.as_secs_f64() {
        bail!(
            "--connect-rate {} would take {connect_s:.0} s to open {total} connections, longer \
             than the bound of one day ({} s)",
            args.load.connect_rate,
            limits::MAX_DURATION.as_secs()
        );
    }
    if args.load.connect_timeout.is_zero() {
        bail!("--connect-timeout must be more than 0");
    }
    if args.duration.is_zero() {
        bail!("--duration must be more than 0");
    }
    if args.load.timeout.is_zero() {
        bail!("--timeout must be more than 0");
    }
    check_chat(args)?;
    // Both sides need a descriptor per connection (the server is a child with
    // the same limits, which it raises to the hard limit as we do).
    let soft = sys::raise_nofile_limit().context("raising RLIMIT_NOFILE")?;
    let (_, hard) = sys::nofile_limit()?;
    let total = total as u64;
    if total.saturating_add(SPARE_FDS) > soft {
        bail!(
            "{total} connections need about {} descriptors on each side, but RLIMIT_NOFILE \
             here is {soft} (hard limit {hard}): at most {} connections fit. Raise the hard \
             limit (ulimit -Hn) or ask for fewer connections.",
            total.saturating_add(SPARE_FDS),
            soft.saturating_sub(SPARE_FDS)
        );
    }
    limits::check_in_flight(args.conns, args.load.pipeline, args.msg_size)
        .map_err(|e| anyhow!(e))?;
    Ok(())
}

pub(super) fn server_command(
    exe: &Path,
    args: &RunArgs,
    backend: crate::backend::Backend,
    cpu: Option<usize>,
    stats_page: &Path,
) -> Command {
    let mut cmd = Command::new(exe);
    // Its own process group: a Ctrl-C at the terminal reaches loadgen only,
    // which then stops the server itself (and keeps what was measured).
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    // And it dies with us, even if we are killed outright.
    sys::kill_child_with_parent(&mut cmd);
    cmd.arg("serve")
        .args(["--backend", backend.name(), "--addr", "127.0.0.1:0"])
        .args(["--protocol", args.load.workload.name()])
        .args(["--max-line", &args.msg_size.to_string()])
        .args(["--read-buf", &args.read_buf.to_string()])
        .args(["--max-pending", &args.load.max_pending.to_string()])
        .args(["--read-policy", args.load.read_policy.name()])
        .args(
            args.load
                .stack_size
                .filter(|_| backend == crate::backend::Backend::Threads)
                .map(|n| format!("--stack-size={n}")),
        )
        .args(
            args.load
                .reactors
                .filter(|_| backend.model() == crate::backend::Model::Readiness)
                .map(|n| format!("--reactors={n}")),
        )
        .args(
            args.load
                .accept
                .filter(|_| {
                    backend.model() == crate::backend::Model::Readiness
                        && args.load.reactors.is_some()
                })
                .map(|a| format!("--accept={a}")),
        )
        .args(
            args.load
                .server_threads
                .filter(|_| backend == crate::backend::Backend::Tokio)
                .map(|n| format!("--threads={n}")),
        )
        .args(
            Some(args.uring_features())
                .filter(|f| backend == crate::backend::Backend::Uring && !f.is_plain())
                .map(|f| format!("--uring-features={f}")),
        )
        .arg("--stats-page")
        .arg(stats_page);
    if let Some(cpu) = cpu {
        cmd.args(["--cpu", &cpu.to_string()]);
    }
    if let Some(n) = args.server_nofile {
        cmd.args(["--nofile-limit", &n.to_string()]);
    }
    cmd
}

/// Check a run's settings against every bound (`src/limits.rs`, descriptors,
/// CPUs) without starting anything: what `run` does first, for sweeps and the
/// reliability table to check every run before the first starts.
pub fn check(args: &RunArgs) -> Result<()> {
    check_settings(args)?;
    place(args).map(drop)
}

/// `--uring-features` only for a uring server of our own, and only what this
/// kernel has (the server would refuse it too, later and less clearly).
fn check_uring_features(args: &RunArgs) -> Result<()> {
    use crate::backend::Backend;
    if args.backend != Some(Backend::Uring) {
        if !args.load.uring_features.is_plain() {
            bail!("--uring-features is for --backend uring (the completion server)");
        }
        return Ok(());
    }
    crate::server::uring_features::from_env().map_err(anyhow::Error::msg)?;
    args.uring_features()
        .check_kernel()
        .map_err(|e| anyhow::anyhow!("--uring-features: {e}"))
}

/// `--rate` within the bounds an open loop can keep, `--interval` within
/// its own and not making more intervals than are kept.
fn check_rate_and_interval(args: &RunArgs) -> Result<()> {
    if let Some(r) = args.rate {
        if !(r.is_finite() && r > 0.0) {
            bail!("--rate must be a positive number of messages per second");
        }
        if !(limits::MIN_RATE..=limits::MAX_RATE).contains(&r) {
            bail!(
                "--rate {r} is outside {} to {:.0} messages per second: beyond that the open-loop \
                 schedule only piles up messages no echo server can answer; below it one \
                 message takes longer than a window",
                limits::MIN_RATE,
                limits::MAX_RATE
            );
        }
    }
    if let Some(iv) = args.load.interval {
        if !(Duration::from_millis(10)..=Duration::from_secs(3600)).contains(&iv) {
            bail!("--interval must be between 10 ms and 1 h");
        }
        let n = args.duration.as_secs_f64() / iv.as_secs_f64();
        if n > super::args::MAX_INTERVALS {
            bail!(
                "--duration {:?} in --interval {iv:?} makes {n:.0} intervals, more than {:.0} \
                 (each keeps a latency histogram per worker): use --interval {}s or longer",
                args.duration,
                super::args::MAX_INTERVALS,
                (args.duration.as_secs_f64() / super::args::MAX_INTERVALS).ceil()
            );
        }
    }
    Ok(())
}

/// `--workload chat`: a line holds its header, the senders are among the
/// connections; `--senders` means nothing otherwise.
fn check_chat(args: &RunArgs) -> Result<()> {
    if args.load.workload == Protocol::Chat {
        if args.msg_size < client::chat::MIN_LINE {
            bail!(
                "--msg-size {} is too small for chat: a line carries a {}-byte header \
                 (sender, sequence number, timestamp) and a newline; use at least {}",
                args.msg_size,
                client::chat::HEADER_LEN,
                client::chat::MIN_LINE
            );
        }
        let senders = args.senders_or_default();
        if senders == 0 || senders > args.conns {
            bail!("--senders must be between 1 and --conns ({})", args.conns);
        }
    } else if args.load.senders.is_some() {
        bail!("--senders applies to --workload chat");
    }
    Ok(())
}
