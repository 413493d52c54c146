//! One run, phase by phase: check the settings, place the threads, start
//! the server, connect, warm up, measure, drain, and build the result.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use super::args::RunArgs;
use super::child::ServerChild;
use super::client::{self, Shared, WorkerPlan, WorkerResult};
use super::coordinate::{coordinate, ServerProbes, Window};
use super::machine::Machine;
use super::progress::Progress;
use super::setup::{check_settings, place, server_command};
use super::{chaos, result, sampler};
use crate::record::{ChaosOutcome, ChaosStats, RunOutput};
use crate::server::{Protocol, Snapshot};
use crate::sys;

/// Run once. `exe` is the executable that serves with `exe serve --backend …`
/// (the loadgen binary itself).
pub fn run(args: &RunArgs, exe: &Path, progress: &mut dyn Progress) -> Result<RunOutput> {
    check_settings(args)?;
    let placement = place(args)?;
    let mut warnings = placement.warnings.clone();
    warnings.extend(select_warning(args));
    let page =
        sampler::PagePath::new().context("making a private directory for the counters page")?;
    let mut server = start_server(args, exe, placement.server_cpu, &page)?;
    let sampler = match &server {
        Some(s) => sampler::Sampler::new(Some(page.path()), Some(s.pid()), placement.server_cpu)
            .context("reading the server's counters page")?,
        None => sampler::Sampler::new(None, None, None)?.with_control(args.server_control),
    };
    let addr = server
        .as_ref()
        .map_or_else(|| args.addr.unwrap(), |s| s.addr);
    // The coordinator (this thread: its samples and snapshots time the
    // window) stays off the server's CPU, where hundreds of server threads
    // (`threads`) would delay its wake-ups; restored when the run ends.
    let _coordinator_placement = placement
        .client_cpus
        .as_deref()
        .filter(|_| server.is_some())
        .and_then(|cpus| AffinityGuard::pin(cpus).ok());
    let rss_base_kib = check_server_before(args, server.as_mut())?;
    // Before any connection: threads started later inherit the counters.
    let kernel_syscalls = match (&server, args.count_syscalls) {
        (Some(s), true) => Some(sys::SyscallCounter::attach(s.pid()).context(
            "--count-syscalls: cannot count the server's system calls from the kernel \
             (needs tracefs at /sys/kernel/tracing and root, CAP_PERFMON or \
             kernel.perf_event_paranoid <= 1)",
        )?),
        _ => None,
    };
    let threads = placement.threads;
    let chat = args.load.workload == Protocol::Chat;
    let shared = Arc::new(Shared::new(if chat {
        args.senders_or_default()
    } else {
        0
    }));
    let pool = worker_pool(threads, placement.client_cpus.clone())?;
    let workers = spawn_workers(
        pool,
        worker_plans(args, threads, addr),
        args.load.workload,
        &shared,
    );
    let hostile = spawn_hostile(args, &shared, addr, chat);
    let outcome = coordinate(
        args,
        threads,
        &shared,
        server.as_mut(),
        ServerProbes {
            control: args.server_control,
            kernel_syscalls: kernel_syscalls.as_ref(),
        },
        &sampler,
        progress,
    );
    if outcome.is_err() {
        shared.abort.store(true, Ordering::SeqCst);
    }
    let joined = join_workers(workers, &shared);
    progress.finish();
    let hostile_stats = hostile.map(|h| h.join().unwrap_or_default());
    let (window, mut coord_warnings) = outcome?;
    let merged = joined?;
    warnings.append(&mut coord_warnings);
    let chaos_outcome = hostile_stats.map(|stats| ChaosOutcome {
        stats,
        answers_fresh_connection: chaos::answers_fresh_connection(addr, chat),
    });

    let server_window = stop_server(args, server.take(), &window)?;
    let mut out = result::build(
        result::Measured {
            args,
            threads,
            server_cpu: placement.server_cpu,
            client_cpus: placement.client_cpus.clone(),
            measured_s: window.measured_s,
            server: server_window,
            server_rss_base_kib: rss_base_kib,
            server_kernel_syscalls: window.kernel_syscalls,
            wall: window.wall,
            client_cpu_us: window.client_cpu_us,
            client_cpu_count: client_cpu_count(placement.client_cpus.as_deref(), threads),
            steal_pct: window.steal_pct,
            busy: window.busy,
            samples: window.samples,
            measure_start: window.measure_start,
            interval: window.interval,
            warnings,
        },
        merged,
        &Machine::detect(),
    );
    out.chaos = chaos_outcome;
    Ok(out)
}

/// The warning a select run near FD_SETSIZE gets (said now, kept in the row).
fn select_warning(args: &RunArgs) -> Option<String> {
    if args.backend != Some(crate::backend::Backend::Select)
        || args.conns + args.idle < sys::FD_SETSIZE - 8
    {
        return None;
    }
    let w = format!(
        "select can watch only descriptors below FD_SETSIZE ({}): the server refuses \
         connections beyond that and counts them",
        sys::FD_SETSIZE
    );
    eprintln!("loadgen: warning: {w}");
    Some(w)
}

/// loadgen's own server child, or `None` when the run drives `--addr`.
fn start_server(
    args: &RunArgs,
    exe: &Path,
    server_cpu: Option<usize>,
    page: &sampler::PagePath,
) -> Result<Option<ServerChild>> {
    Ok(match (args.backend, args.addr) {
        (_, Some(_)) => None,
        (Some(backend), None) => Some(
            ServerChild::spawn(
                server_command(exe, args, backend, server_cpu, page.path()),
                Duration::from_secs(10),
            )
            .context("starting the server")?,
        ),
        (None, None) => bail!("give --backend NAME (start a server) or --addr HOST:PORT"),
    })
}

/// Before any connection: an external server's counters answer (or the run
/// does not start), and our own server's memory is read — the baseline of
/// RSS per connection.
fn check_server_before(args: &RunArgs, server: Option<&mut ServerChild>) -> Result<Option<u64>> {
    if let Some(c) = args.server_control {
        let snap =
            crate::server::remote::fetch(c, Duration::from_secs(3)).context("--server-control")?;
        if snap.backend.is_empty() {
            bail!("--server-control {c}: the snapshot names no backend");
        }
    }
    Ok(match server {
        Some(s) => Some(s.snapshot(Duration::from_secs(5))?.rss_kib),
        None => None,
    })
}

/// Each worker's plan: connection ids and idle connections dealt round-robin;
/// in open loop the rate is spread over the connections that send.
fn worker_plans(args: &RunArgs, threads: usize, addr: std::net::SocketAddr) -> Vec<WorkerPlan> {
    let chat = args.load.workload == Protocol::Chat;
    let senders = args.senders_or_default();
    let rate_per_conn = args
        .rate
        .map(|r| r / if chat { senders } else { args.conns } as f64);
    (0..threads)
        .map(|t| WorkerPlan {
            addr,
            conn_ids: (t..args.conns).step_by(threads).map(|i| i as u32).collect(),
            idle: args.idle / threads + usize::from(t < args.idle % threads),
            total_conns: if chat { senders } else { args.conns },
            connect_interval: Duration::from_secs_f64(threads as f64 / args.load.connect_rate),
            connect_timeout: args.load.connect_timeout,
            msg_size: args.msg_size,
            pipeline: args.load.pipeline,
            rate_per_conn,
            timeout: args.load.timeout,
            senders: if chat { senders } else { 0 },
            arrivals: args.arrivals,
            pacing: args.load.pacing,
            seed: args.seed.wrapping_add(t as u64),
        })
        .collect()
}

/// The workers' pool: `threads` threads, each pinned to one of the client's
/// CPUs and with 1 ns of timer slack.
fn worker_pool(threads: usize, client_cpus: Option<Vec<usize>>) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("loadgen-worker-{i}"))
        .start_handler(move |i| {
            // Every worker waits for due instants (open-loop sends, the window's
            // edges): 1 ns of timer slack, not the default 50 µs. The pool's
            // threads end with the run, so nothing else inherits it.
            if let Err(e) = sys::set_timer_slack_ns(sys::PRECISE_TIMER_SLACK_NS) {
                eprintln!("loadgen: warning: worker {i}: setting the timer slack: {e}");
            }
            if let Some(cpus) = &client_cpus {
                if let Err(e) = sys::pin_to_cpu(cpus[i % cpus.len()]) {
                    eprintln!("loadgen: warning: pinning worker {i}: {e}");
                }
            }
        })
        .build()
        .context("building the worker pool")
}

/// Start the workers. Rayon earns its place by the merge: `broadcast` runs
/// one long event loop per pinned pool thread (a blocking job per thread is
/// what `broadcast` is for), and the results are combined by a parallel
/// reduce.
fn spawn_workers(
    pool: rayon::ThreadPool,
    plans: Vec<WorkerPlan>,
    protocol: Protocol,
    shared: &Arc<Shared>,
) -> std::thread::JoinHandle<WorkerResult> {
    let shared = shared.clone();
    std::thread::spawn(move || -> WorkerResult {
        use rayon::prelude::*;
        let results = pool.broadcast(|ctx| {
            let plan = &plans[ctx.index()];
            client::run(protocol, plan, &shared)
        });
        results
            .into_par_iter()
            .reduce(WorkerResult::default, WorkerResult::merge)
    })
}

/// `--chaos`: hostile clients, during the measured window only.
fn spawn_hostile(
    args: &RunArgs,
    shared: &Arc<Shared>,
    addr: std::net::SocketAddr,
    chat: bool,
) -> Option<std::thread::JoinHandle<ChaosStats>> {
    let spec = args.chaos.clone()?;
    let shared = shared.clone();
    Some(std::thread::spawn(move || -> ChaosStats {
        let timeline = loop {
            if let Some(t) = shared.timeline.get() {
                break *t;
            }
            if shared.abort.load(Ordering::Relaxed) {
                return ChaosStats::default();
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        if let Some(wait) = timeline
            .measure_start
            .checked_duration_since(Instant::now())
        {
            std::thread::sleep(wait);
        }
        chaos::run(addr, &spec, timeline.measure_end, chat)
    }))
}

/// Stop our own server (it must exit cleanly) and return the window's
/// server snapshots; an external server's come from its control address.
fn stop_server(
    args: &RunArgs,
    server: Option<ServerChild>,
    window: &Window,
) -> Result<Option<(Snapshot, Snapshot)>> {
    if let (Some(server), Some(edges)) = (server, window.server.clone()) {
        let (_, status) = server.stop(Duration::from_secs(10))?;
        if !status.success() {
            bail!("the server exited with {status} when stopped");
        }
        return Ok(Some(edges));
    }
    Ok(if args.server_control.is_some() {
        window.server.clone()
    } else {
        None
    })
}

/// CPUs the client's workers ran on: its pinned CPUs, else all, at most one per worker.
fn client_cpu_count(client_cpus: Option<&[usize]>, threads: usize) -> usize {
    client_cpus
        .map_or_else(
            || std::thread::available_parallelism().map_or(1, |n| n.get()),
            <[usize]>::len,
        )
        .min(threads)
        .max(1)
}

fn join_workers(
    workers: std::thread::JoinHandle<WorkerResult>,
    shared: &Shared,
) -> Result<WorkerResult> {
    // Workers end by themselves at the drain deadline; after an abort within
    // one loop turn (≤ 20 ms) or one connect timeout.
    let deadline = shared
        .timeline
        .get()
        .map_or_else(Instant::now, |t| t.drain_end)
        + Duration::from_secs(10);
    while !workers.is_finished() {
        if Instant::now() > deadline {
            shared.abort.store(true, Ordering::SeqCst);
        }
        if Instant::now() > deadline + Duration::from_secs(10) {
            bail!("the workers did not stop within 10 s of being told to");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    workers
        .join()
        .map_err(|_| anyhow!("a load-generator worker panicked"))
}

/// The calling thread pinned to some CPUs until dropped, then as before.
pub(super) struct AffinityGuard(Vec<usize>);

impl AffinityGuard {
    pub(super) fn pin(cpus: &[usize]) -> std::io::Result<AffinityGuard> {
        let before = sys::allowed_cpus()?;
        sys::pin_to_cpus(cpus)?;
        Ok(AffinityGuard(before))
    }
}

impl Drop for AffinityGuard {
    fn drop(&mut self) {
        let _ = sys::pin_to_cpus(&self.0);
    }
}
