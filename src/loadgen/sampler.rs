//! Interval sampling: once per `--interval` of the measured window the
//! coordinator reads the server's counters from its counters page (no signal,
//! nothing for the server to do), the server's CPU time from the kernel
//! (`clock_getcpuclockid`, nanoseconds), its own CPU time, the host's steal,
//! and times a calibration probe. Consecutive samples give one interval each.
//!
//! The probe is a fixed piece of work — a compute loop and a run of cheap
//! system calls — timed in the sampling thread's own CPU time (so preemption
//! does not count): on these VMs the CPU flips between a fast and a slow
//! state, and the probe sees the flip that every time per request shifts with.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::mux::MuxStats;
use crate::server::stats_page::StatsReader;
use crate::server::Counters;
use crate::sys;

use super::machine::CpuTimes;

/// One reading.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// When it was taken.
    pub at: Instant,
    /// The server's counters (own server with a counters page).
    pub server: Option<(Counters, MuxStats)>,
    /// The server's CPU time so far.
    pub server_cpu: Option<Duration>,
    /// The load generator's CPU time so far, µs.
    pub client_cpu_us: u64,
    /// Host CPU counters (steal).
    pub cpu: CpuTimes,
    /// The calibration probe's time, µs.
    pub probe_us: f64,
}

/// Reads samples of one run.
pub struct Sampler {
    page: Option<StatsReader>,
    server_pid: Option<u32>,
}

impl Sampler {
    /// A sampler for a server with process id `server_pid` publishing at
    /// `page` (both `None` for an external server: client figures only).
    pub fn new(page: Option<&Path>, server_pid: Option<u32>) -> std::io::Result<Sampler> {
        Ok(Sampler {
            page: page.map(StatsReader::open).transpose()?,
            server_pid,
        })
    }

    /// Take a sample now.
    pub fn sample(&self) -> Sample {
        let probe_us = probe();
        Sample {
            at: Instant::now(),
            server: self.page.as_ref().and_then(StatsReader::read),
            server_cpu: self
                .server_pid
                .and_then(|pid| sys::process_cpu_time(pid).ok()),
            client_cpu_us: sys::rusage_self().map_or(0, |r| r.user_us + r.sys_us),
            cpu: CpuTimes::read(),
            probe_us,
        }
    }
}

/// Compute-loop rounds of the probe (about 50 µs on a 2020s server core).
const PROBE_ROUNDS: u64 = 40_000;
/// System calls of the probe.
const PROBE_SYSCALLS: usize = 50;

/// Time the fixed probe work three times in this thread's CPU time and keep
/// the fastest (the least disturbed), µs.
pub fn probe() -> f64 {
    (0..3)
        .map(|_| {
            let t0 = sys::thread_cpu_time().unwrap_or_default();
            let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
            for i in 0..PROBE_ROUNDS {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(i | 1);
                x ^= x >> 29;
            }
            std::hint::black_box(x);
            for _ in 0..PROBE_SYSCALLS {
                std::hint::black_box(sys::thread_cpu_time().ok());
            }
            let t1 = sys::thread_cpu_time().unwrap_or_default();
            t1.saturating_sub(t0).as_secs_f64() * 1e6
        })
        .fold(f64::INFINITY, f64::min)
}

/// The counters page of a server loadgen starts: a file on a tmpfs
/// (`/dev/shm` when there is one: a page on a disk file would be written
/// back, and writeback can stall the server's stores), removed on drop.
pub struct PagePath(PathBuf);

impl PagePath {
    /// A fresh, unique path.
    pub fn new() -> PagePath {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = Path::new("/dev/shm");
        let dir = if dir.is_dir() {
            dir.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        PagePath(dir.join(format!(
            "muxbench-{}-{}.stats",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        )))
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Default for PagePath {
    fn default() -> Self {
        PagePath::new()
    }
}

impl Drop for PagePath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_is_steady_and_counts_work() {
        let runs: Vec<f64> = (0..5).map(|_| probe()).collect();
        assert!(runs.iter().all(|&t| t > 1.0), "{runs:?}");
        let min = runs.iter().copied().fold(f64::INFINITY, f64::min);
        let max = runs.iter().copied().fold(0.0, f64::max);
        // Generous: the test machine is shared; the point is that it measures work.
        assert!(max < 5.0 * min, "{runs:?}");
    }
}
