//! The load generator: starts the server as a child process (or drives an
//! external one), opens the connections, runs warm-up and the measured window
//! on a rayon pool of event-loop workers, and turns the measurements plus the
//! server's counter deltas into a [`RunResult`].
//!
//! Phases: connect (paced at `--connect-rate`) → wait until the server has
//! accepted every connection → warm-up → measured window → drain (replies
//! still in flight, at most `--timeout`) → close. The server is snapshotted at
//! both ends of the measured window, so warm-up is excluded from its figures
//! as from the client's. The run has a deadline at every step: a server that
//! dies or stops answering ends it within seconds, with a message.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

mod args;
pub mod chaos;
mod child;
pub mod client;
pub mod doctor;
pub mod independence;
pub mod intervals;
mod machine;
pub mod merge;
pub mod message;
pub mod reliability;
pub mod result;
pub mod sampler;
pub mod selfcheck;
mod setup;
pub mod sliced;
mod sliced_sweep;
pub mod sweep;

pub use crate::record::{ChaosOutcome, RunOutput, RunResult};
pub use args::{parse_cpus, CpuList, RunArgs};
pub use child::ServerChild;
pub use machine::{CpuTimes, Machine};
pub use result::now_rfc3339;

use crate::record::ChaosStats;
use crate::server::Protocol;
use crate::sys;
use client::{Shared, Timeline, WorkerPlan, WorkerResult};
pub use setup::check;
use setup::{check_settings, place, server_command};

/// Descriptors a side needs beyond one per connection (stdio, listener, epoll, pipes, …).
pub(crate) const SPARE_FDS: u64 = 64;

/// Live progress for the caller (a progress bar): called about ten times a second.
pub trait Progress {
    /// `elapsed` of `total` run time; `completed` echoes so far (all phases).
    fn update(&mut self, phase: &str, elapsed: Duration, total: Duration, completed: u64);
    /// The run is over.
    fn finish(&mut self);
}

/// No progress display.
pub struct NoProgress;
impl Progress for NoProgress {
    fn update(&mut self, _: &str, _: Duration, _: Duration, _: u64) {}
    fn finish(&mut self) {}
}

/// Run once. `exe` is the executable that serves with `exe serve --backend …`
/// (the loadgen binary itself).
pub fn run(args: &RunArgs, exe: &Path, progress: &mut dyn Progress) -> Result<RunOutput> {
    check_settings(args)?;
    let placement = place(args)?;
    let mut warnings = placement.warnings.clone();
    if args.backend == Some(crate::mux::Backend::Select)
        && args.conns + args.idle >= sys::FD_SETSIZE - 8
    {
        let w = format!(
            "select can watch only descriptors below FD_SETSIZE ({}): the server refuses \
             connections beyond that and counts them",
            sys::FD_SETSIZE
        );
        eprintln!("loadgen: warning: {w}");
        warnings.push(w);
    }

    let page =
        sampler::PagePath::new().context("making a private directory for the counters page")?;
    let mut server = match (args.backend, args.addr) {
        (_, Some(_)) => None,
        (Some(backend), None) => Some(
            ServerChild::spawn(
                server_command(exe, args, backend, placement.server_cpu, page.path()),
                Duration::from_secs(10),
            )
            .context("starting the server")?,
        ),
        (None, None) => bail!("give --backend NAME (start a server) or --addr HOST:PORT"),
    };
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
    // The external server's counters: answered now, or the run does not start.
    if let Some(c) = args.server_control {
        let snap =
            crate::server::remote::fetch(c, Duration::from_secs(3)).context("--server-control")?;
        if snap.backend.is_empty() {
            bail!("--server-control {c}: the snapshot names no backend");
        }
    }
    // The server's memory before any connection: the baseline of RSS per connection.
    let rss_base_kib = match server.as_mut() {
        Some(s) => Some(s.snapshot(Duration::from_secs(5))?.rss_kib),
        None => None,
    };
    // Before any connection: threads started later inherit the counters.
    let kernel_syscalls = match (&server, args.count_syscalls) {
        (Some(s), true) => Some(sys::SyscallCounter::attach(s.pid()).context(
            "--count-syscalls: cannot count the server's system calls from the kernel \
             (needs tracefs at /sys/kernel/tracing and root, CAP_PERFMON or \
             kernel.perf_event_paranoid <= 1)",
        )?),
        _ => None,
    };

    // ---- plans: connection ids and idle connections dealt round-robin ----
    let threads = placement.threads;
    let chat = args.load.workload == Protocol::Chat;
    let senders = args.senders_or_default();
    // Open loop: the rate is spread over the connections that send.
    let rate_per_conn = args
        .rate
        .map(|r| r / if chat { senders } else { args.conns } as f64);
    let plans: Vec<WorkerPlan> = (0..threads)
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
        .collect();

    let shared = Arc::new(Shared::new(if chat { senders } else { 0 }));
    let client_cpus = placement.client_cpus.clone();
    let pool = rayon::ThreadPoolBuilder::new()
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
        .context("building the worker pool")?;
    // Rayon earns its place by the merge: `broadcast` runs one long event
    // loop per pinned pool thread (a blocking job per thread is what
    // `broadcast` is for), and the results are combined by a parallel reduce.
    let protocol = args.load.workload;
    let workers = {
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
    };
    // Hostile clients, during the measured window only.
    let hostile = args.chaos.clone().map(|spec| {
        let shared = shared.clone();
        std::thread::spawn(move || -> ChaosStats {
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
        })
    });
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

    let mut server_window = None;
    if let (Some(server), Some((a, b))) = (server.take(), window.server.clone()) {
        let (_, status) = server.stop(Duration::from_secs(10))?;
        if !status.success() {
            bail!("the server exited with {status} when stopped");
        }
        server_window = Some((a, b));
    } else if args.server_control.is_some() {
        server_window = window.server.clone();
    }
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
            client_cpu_count: placement
                .client_cpus
                .as_ref()
                .map_or_else(
                    || std::thread::available_parallelism().map_or(1, |n| n.get()),
                    Vec::len,
                )
                .min(threads)
                .max(1),
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

/// What the coordinator measured around the window.
struct Window {
    measured_s: f64,
    server: Option<(crate::server::Snapshot, crate::server::Snapshot)>,
    /// The server's system calls over the window, counted by the kernel.
    kernel_syscalls: Option<u64>,
    /// The window's edges on the wall clock, Unix seconds (taken with the edge snapshots).
    wall: (f64, f64),
    client_cpu_us: u64,
    steal_pct: f64,
    /// Every CPU's busy time at the window's edges.
    busy: (CpuTimes, CpuTimes),
    /// At the window's start and at each interval's end.
    samples: Vec<sampler::Sample>,
    measure_start: Instant,
    interval: Duration,
}

const TICK: Duration = Duration::from_millis(100);

/// The calling thread pinned to some CPUs until dropped, then as before.
struct AffinityGuard(Vec<usize>);

impl AffinityGuard {
    fn pin(cpus: &[usize]) -> std::io::Result<AffinityGuard> {
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

/// What else reads the server at the window's edges.
struct ServerProbes<'a> {
    /// An external server's control address (`--server-control`).
    control: Option<std::net::SocketAddr>,
    /// The kernel's count of its system calls (`--count-syscalls`).
    kernel_syscalls: Option<&'a sys::SyscallCounter>,
}

/// The wall clock, Unix seconds.
fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The server's counters at a window edge: from loadgen's own server
/// (SIGUSR1), or from an external one's control address.
fn edge_snapshot(
    server: Option<&mut ServerChild>,
    control: Option<std::net::SocketAddr>,
) -> Result<Option<crate::server::Snapshot>> {
    Ok(match (server, control) {
        (Some(s), _) => Some(s.snapshot(Duration::from_secs(5))?),
        (None, Some(c)) => Some(
            crate::server::remote::fetch(c, Duration::from_secs(5))
                .context("--server-control at a window edge")?,
        ),
        (None, None) => None,
    })
}

fn check_server(shared: &Shared, server: &mut Option<&mut ServerChild>) -> Result<()> {
    if crate::signals::interrupted() {
        bail!("interrupted");
    }
    if shared.abort.load(Ordering::SeqCst) {
        bail!("a load-generator worker failed (see its message above)");
    }
    if let Some(s) = server {
        if let Some(status) = s.exited() {
            // Let the stderr reader catch up with its last words.
            std::thread::sleep(Duration::from_millis(50));
            bail!(
                "the server died during the run ({status}): {}",
                s.error_line()
            );
        }
    }
    Ok(())
}

fn coordinate(
    args: &RunArgs,
    threads_expected: usize,
    shared: &Shared,
    mut server: Option<&mut ServerChild>,
    probes: ServerProbes<'_>,
    sampler: &sampler::Sampler,
    progress: &mut dyn Progress,
) -> Result<(Window, Vec<String>)> {
    let mut warnings = Vec::new();
    // This thread waits for the window's edges, the intervals and --start-at:
    // 1 ns of timer slack while it does, its own again afterwards (a sweep's
    // next server is started from it and would inherit the slack).
    let _precise = sys::PreciseTimers::new()
        .map_err(|e| eprintln!("loadgen: warning: setting the timer slack: {e}"))
        .ok();
    let total_conns = (args.conns + args.idle) as f64;
    let connect_deadline = Instant::now()
        + Duration::from_secs_f64(total_conns / args.load.connect_rate * 2.0)
        + args.load.connect_timeout
        + Duration::from_secs(10);
    let t0 = Instant::now();
    while shared.connected.load(Ordering::SeqCst) < threads_expected {
        check_server(shared, &mut server)?;
        if Instant::now() > connect_deadline {
            bail!("connecting took longer than {:?}", connect_deadline - t0);
        }
        progress.update("connect", t0.elapsed(), Duration::ZERO, 0);
        std::thread::sleep(Duration::from_millis(10));
    }
    // Let the server accept and register every connection before measuring.
    if let Some(s) = server.as_deref_mut() {
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            let snap = s.snapshot(Duration::from_secs(5))?;
            let established = shared.established.load(Ordering::SeqCst);
            if snap.counters.accepts as usize >= established {
                break;
            }
            if Instant::now() > end {
                let w = format!(
                    "the server had accepted {} of {established} connections when measuring began",
                    snap.counters.accepts
                );
                eprintln!("loadgen: warning: {w}");
                warnings.push(w);
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    let start = match args.start_at {
        None => Instant::now(),
        Some(at) => {
            // The wall clock's `at` on this process's monotonic clock.
            let now_unix = unix_now();
            let warmup_at = at - args.warmup.as_secs_f64();
            if warmup_at < now_unix {
                bail!(
                    "--start-at is {:.1} s away after connecting, less than the {:?} warm-up: \
                     give the hosts more lead time",
                    at - now_unix,
                    args.warmup
                );
            }
            let start = Instant::now() + Duration::from_secs_f64(warmup_at - now_unix);
            while Instant::now() < start {
                check_server(shared, &mut server)?;
                progress.update("wait for --start-at", Duration::ZERO, Duration::ZERO, 0);
                std::thread::sleep(TICK.min(start.saturating_duration_since(Instant::now())));
            }
            start
        }
    };
    let measure_start = start + args.warmup;
    let measure_end = measure_start + args.duration;
    let interval = args.load.interval_for(args.duration);
    let timeline = Timeline {
        measure_start,
        measure_end,
        drain_end: measure_end + args.load.timeout,
        interval,
    };
    let total = args.warmup + args.duration;
    shared
        .timeline
        .set(timeline)
        .map_err(|_| anyhow!("timeline set twice"))?;

    // No echo for this long while connections are open means the server stopped
    // answering; at low open-loop rates, allow for the gaps between messages.
    let silence_limit = args.load.timeout
        + args.rate.map_or(Duration::ZERO, |r| {
            Duration::from_secs_f64((2.0 / r).min(3600.0))
        });
    let mut last_completed = 0;
    let mut last_progress = Instant::now();
    let mut tick_until =
        |until: Instant, phase: &str, server: &mut Option<&mut ServerChild>| -> Result<bool> {
            loop {
                let now = Instant::now();
                if now >= until {
                    return Ok(false);
                }
                check_server(shared, server)?;
                if shared.open_conns.load(Ordering::SeqCst) == 0 {
                    // Every active connection was closed (errors, counted): nothing
                    // more to measure. End the window now and report.
                    return Ok(true);
                }
                let done = shared.completed.load(Ordering::Relaxed);
                if done != last_completed {
                    last_completed = done;
                    last_progress = now;
                } else if now.duration_since(last_progress) > silence_limit {
                    bail!(
                        "the server stopped answering: no echo for {:?}",
                        now.duration_since(last_progress)
                    );
                }
                progress.update(phase, now.duration_since(start), total, done);
                std::thread::sleep(TICK.min(until - now));
            }
        };
    let mut all_closed = tick_until(measure_start, "warm-up", &mut server)?;
    // One sample at the start and one at each interval's end; the edge
    // snapshots (SIGUSR1) bracket them for the whole-window figures.
    let mut samples = vec![sampler.sample()];
    let window_start_unix = unix_now();
    let snap0 = edge_snapshot(server.as_deref_mut(), probes.control)?;
    let sys0 = probes
        .kernel_syscalls
        .map(sys::SyscallCounter::read)
        .transpose()?;
    let ru0 = sys::rusage_self()?;
    // The server's CPU busy time too (when it is ours and pinned there).
    let core = server.is_some().then_some(args.load.server_cpu);
    let cpu0 = CpuTimes::read_core(core);
    let mut boundary = measure_start;
    while !all_closed && boundary < measure_end {
        boundary = (boundary + interval).min(measure_end);
        all_closed = tick_until(boundary, "measure", &mut server)?;
        samples.push(sampler.sample());
    }
    let window_end = if all_closed {
        Instant::now().clamp(measure_start, measure_end)
    } else {
        measure_end
    };
    let window_end_unix = unix_now();
    let snap1 = edge_snapshot(server, probes.control)?;
    let sys1 = probes
        .kernel_syscalls
        .map(sys::SyscallCounter::read)
        .transpose()?;
    let ru1 = sys::rusage_self()?;
    let cpu1 = CpuTimes::read_core(core);
    if all_closed {
        warnings.push(format!(
            "every connection was closed by errors: the window ended after {:.2} s",
            (window_end - measure_start).as_secs_f64()
        ));
    }
    let measured_s = (window_end - measure_start).as_secs_f64();
    Ok((
        Window {
            measured_s,
            server: snap0.zip(snap1),
            kernel_syscalls: sys0.zip(sys1).map(|(a, b)| b.saturating_sub(a)),
            wall: (window_start_unix, window_end_unix),
            client_cpu_us: (ru1.user_us + ru1.sys_us).saturating_sub(ru0.user_us + ru0.sys_us),
            steal_pct: cpu0.steal_pct_until(&cpu1),
            busy: (cpu0, cpu1),
            samples,
            measure_start,
            interval,
        },
        warnings,
    ))
}
