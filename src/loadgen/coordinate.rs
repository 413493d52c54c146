//! The coordinator's side of the measured window: it times warm-up, the
//! window, the intervals and `--start-at`, snapshots the server at the
//! window's edges and watches that the server and the workers still run.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use super::args::RunArgs;
use super::child::ServerChild;
use super::client::{Shared, Timeline};
use super::machine::CpuTimes;
use super::progress::Progress;
use super::sampler;
use crate::sys;

/// What the coordinator measured around the window.
pub(super) struct Window {
    pub(super) measured_s: f64,
    pub(super) server: Option<(crate::server::Snapshot, crate::server::Snapshot)>,
    /// The server's system calls over the window, counted by the kernel.
    pub(super) kernel_syscalls: Option<u64>,
    /// The window's edges on the wall clock, Unix seconds (taken with the edge snapshots).
    pub(super) wall: (f64, f64),
    pub(super) client_cpu_us: u64,
    pub(super) steal_pct: f64,
    /// Every CPU's busy time at the window's edges.
    pub(super) busy: (CpuTimes, CpuTimes),
    /// At the window's start and at each interval's end.
    pub(super) samples: Vec<sampler::Sample>,
    pub(super) measure_start: Instant,
    pub(super) interval: Duration,
}

const TICK: Duration = Duration::from_millis(100);

/// What else reads the server at the window's edges.
pub(super) struct ServerProbes<'a> {
    /// An external server's control address (`--server-control`).
    pub(super) control: Option<std::net::SocketAddr>,
    /// The kernel's count of its system calls (`--count-syscalls`).
    pub(super) kernel_syscalls: Option<&'a sys::SyscallCounter>,
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

/// Time the run from connect to drain on this thread while the workers load the
/// server; returns what was measured around the window and the warnings.
pub(super) fn coordinate(
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
    wait_connected(args, threads_expected, shared, &mut server, progress)?;
    if let Some(s) = server.as_deref_mut() {
        warnings.extend(wait_accepted(s, shared)?);
    }
    let start = wait_start(args, shared, &mut server, progress)?;
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

    let mut watch = Watch {
        shared,
        // No echo for this long while connections are open means the server
        // stopped answering; at low open-loop rates, allow for the gaps
        // between messages.
        silence_limit: args.load.timeout
            + args.rate.map_or(Duration::ZERO, |r| {
                Duration::from_secs_f64((2.0 / r).min(3600.0))
            }),
        last_completed: 0,
        last_progress: Instant::now(),
        start,
        total,
        progress,
    };
    let mut all_closed = watch.tick_until(measure_start, "warm-up", &mut server)?;
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
        all_closed = watch.tick_until(boundary, "measure", &mut server)?;
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

/// Wait until every worker has opened its connections (paced at
/// `--connect-rate`), with a deadline twice the planned time plus margins.
fn wait_connected(
    args: &RunArgs,
    threads_expected: usize,
    shared: &Shared,
    server: &mut Option<&mut ServerChild>,
    progress: &mut dyn Progress,
) -> Result<()> {
    let total_conns = (args.conns + args.idle) as f64;
    let connect_deadline = Instant::now()
        + Duration::from_secs_f64(total_conns / args.load.connect_rate * 2.0)
        + args.load.connect_timeout
        + Duration::from_secs(10);
    let t0 = Instant::now();
    while shared.connected.load(Ordering::SeqCst) < threads_expected {
        check_server(shared, server)?;
        if Instant::now() > connect_deadline {
            bail!("connecting took longer than {:?}", connect_deadline - t0);
        }
        progress.update("connect", t0.elapsed(), Duration::ZERO, 0);
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// Let our server accept and register every connection before measuring; a
/// warning if it has not within 10 s.
fn wait_accepted(server: &mut ServerChild, shared: &Shared) -> Result<Option<String>> {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let snap = server.snapshot(Duration::from_secs(5))?;
        let established = shared.established.load(Ordering::SeqCst);
        if snap.counters.accepts as usize >= established {
            return Ok(None);
        }
        if Instant::now() > end {
            let w = format!(
                "the server had accepted {} of {established} connections when measuring began",
                snap.counters.accepts
            );
            eprintln!("loadgen: warning: {w}");
            return Ok(Some(w));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// When warm-up starts: now, or `--start-at` minus the warm-up (the wall
/// clock's instant on this process's monotonic clock), waited for here.
fn wait_start(
    args: &RunArgs,
    shared: &Shared,
    server: &mut Option<&mut ServerChild>,
    progress: &mut dyn Progress,
) -> Result<Instant> {
    let Some(at) = args.start_at else {
        return Ok(Instant::now());
    };
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
        check_server(shared, server)?;
        progress.update("wait for --start-at", Duration::ZERO, Duration::ZERO, 0);
        std::thread::sleep(TICK.min(start.saturating_duration_since(Instant::now())));
    }
    Ok(start)
}

/// The coordinator's watch over warm-up and the window: the server alive,
/// the connections open, echoes still coming, the progress bar fed.
struct Watch<'a> {
    shared: &'a Shared,
    silence_limit: Duration,
    last_completed: u64,
    last_progress: Instant,
    start: Instant,
    total: Duration,
    progress: &'a mut dyn Progress,
}

impl Watch<'_> {
    /// Watch until `until`; `true` when every active connection was closed
    /// (errors, counted): nothing more to measure, the window ends now.
    fn tick_until(
        &mut self,
        until: Instant,
        phase: &str,
        server: &mut Option<&mut ServerChild>,
    ) -> Result<bool> {
        loop {
            let now = Instant::now();
            if now >= until {
                return Ok(false);
            }
            check_server(self.shared, server)?;
            if self.shared.open_conns.load(Ordering::SeqCst) == 0 {
                return Ok(true);
            }
            let done = self.shared.completed.load(Ordering::Relaxed);
            if done != self.last_completed {
                self.last_completed = done;
                self.last_progress = now;
            } else if now.duration_since(self.last_progress) > self.silence_limit {
                bail!(
                    "the server stopped answering: no echo for {:?}",
                    now.duration_since(self.last_progress)
                );
            }
            self.progress
                .update(phase, now.duration_since(self.start), self.total, done);
            std::thread::sleep(TICK.min(until - now));
        }
    }
}
