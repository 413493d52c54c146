//! Interval sampling: once per `--interval` of the measured window the
//! coordinator reads the server's counters from its counters page (no signal,
//! nothing for the server to do), the server's CPU time from the kernel
//! (`clock_getcpuclockid`, nanoseconds), its own CPU time, the host's steal,
//! and times a calibration probe. Consecutive samples give one interval each.
//!
//! The probe is a fixed piece of work — a compute loop, a run of cheap system
//! calls and 64-byte messages through a Unix socket pair (the kind of work
//! the server does) — timed in its thread's own CPU time (so preemption does
//! not count), on a thread pinned to the server's CPU when the server is
//! pinned: on these VMs the CPU flips between a fast and a slow state, and
//! the probe is there to see the flip every time per request shifts with.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
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
    /// An external server's control address (`--server-control`): its
    /// counters and CPU time, one TCP round trip per sample.
    control: Option<std::net::SocketAddr>,
    prober: Prober,
    /// The server's CPU, whose busy time each sample reads.
    core: Option<usize>,
}

impl Sampler {
    /// A sampler for a server with process id `server_pid` publishing at
    /// `page` (both `None` for an external server: client figures only),
    /// probing on `probe_cpu`.
    pub fn new(
        page: Option<&Path>,
        server_pid: Option<u32>,
        probe_cpu: Option<usize>,
    ) -> std::io::Result<Sampler> {
        Ok(Sampler {
            page: page.map(StatsReader::open).transpose()?,
            server_pid,
            control: None,
            prober: Prober::start(probe_cpu)?,
            core: probe_cpu,
        })
    }

    /// Read an external server's counters and CPU time from its control
    /// address at every sample (its getrusage: microseconds, not the
    /// nanoseconds of the CPU clock an own server's samples use).
    pub fn with_control(mut self, control: Option<std::net::SocketAddr>) -> Sampler {
        self.control = control;
        self
    }

    /// Take a sample now.
    pub fn sample(&self) -> Sample {
        let probe_us = self.prober.run();
        let remote = self
            .control
            .and_then(|c| crate::server::remote::fetch(c, Duration::from_secs(1)).ok());
        Sample {
            at: Instant::now(),
            server: match &remote {
                Some(s) => Some((s.counters, s.mux)),
                None => self.page.as_ref().and_then(StatsReader::read),
            },
            server_cpu: match &remote {
                Some(s) => Some(Duration::from_micros(s.rusage.user_us + s.rusage.sys_us)),
                None => self
                    .server_pid
                    .and_then(|pid| sys::process_cpu_time(pid).ok()),
            },
            client_cpu_us: sys::rusage_self().map_or(0, |r| r.user_us + r.sys_us),
            cpu: CpuTimes::read_core(self.core),
            probe_us,
        }
    }
}

/// The probe's own thread (pinned where the server runs), driven over channels.
struct Prober {
    ask: Option<mpsc::Sender<()>>,
    answers: mpsc::Receiver<f64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Prober {
    fn start(cpu: Option<usize>) -> std::io::Result<Prober> {
        let (ask, asks) = mpsc::channel::<()>();
        let (answer, answers) = mpsc::channel();
        let mut pair = UnixStream::pair()?;
        let thread = std::thread::Builder::new()
            .name("loadgen-probe".into())
            .spawn(move || {
                if let Some(cpu) = cpu {
                    if let Err(e) = sys::pin_to_cpu(cpu) {
                        eprintln!("loadgen: warning: pinning the probe to CPU {cpu}: {e}");
                    }
                }
                while asks.recv().is_ok() {
                    if answer.send(probe(&mut pair)).is_err() {
                        break;
                    }
                }
            })?;
        Ok(Prober {
            ask: Some(ask),
            answers,
            thread: Some(thread),
        })
    }

    /// The probe's time now, µs (NaN if its thread is gone).
    fn run(&self) -> f64 {
        let asked = self.ask.as_ref().is_some_and(|a| a.send(()).is_ok());
        if !asked {
            return f64::NAN;
        }
        self.answers.recv().unwrap_or(f64::NAN)
    }
}

impl Drop for Prober {
    fn drop(&mut self) {
        self.ask = None; // its loop ends
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Compute-loop rounds of the probe (about 50 µs on a 2020s server core).
const PROBE_ROUNDS: u64 = 40_000;
/// System calls of the probe.
const PROBE_SYSCALLS: usize = 50;
/// 64-byte messages the probe sends through its socket pair and reads back.
const PROBE_MESSAGES: usize = 20;

/// Time the fixed probe work three times in this thread's CPU time and keep
/// the fastest (the least disturbed), µs. `pair` is a connected socket pair.
pub fn probe(pair: &mut (UnixStream, UnixStream)) -> f64 {
    let mut msg = [0u8; 64];
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
            for _ in 0..PROBE_MESSAGES {
                // A failed socket shows as a faster probe; it cannot fail
                // between two ends this thread holds, short of memory.
                let _ = pair.0.write_all(&msg);
                let _ = pair.1.read_exact(&mut msg);
            }
            let t1 = sys::thread_cpu_time().unwrap_or_default();
            t1.saturating_sub(t0).as_secs_f64() * 1e6
        })
        .fold(f64::INFINITY, f64::min)
}

/// The counters page of a server loadgen starts: a file on a tmpfs
/// (`/dev/shm` when there is one: a page on a disk file would be written
/// back, and writeback can stall the server's stores) inside a directory of
/// its own — mode 0700, a random name — so no other user can plant a
/// symlink or a file of theirs where the server (which may run as root)
/// creates it. Both are removed on drop.
pub struct PagePath {
    dir: Option<PathBuf>,
    path: PathBuf,
}

impl PagePath {
    /// A fresh page path in a fresh private directory.
    pub fn new() -> std::io::Result<PagePath> {
        let parent = Path::new("/dev/shm");
        let parent = if parent.is_dir() {
            parent.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let dir = sys::private_dir(&parent, "muxbench-")?;
        Ok(PagePath {
            path: dir.join("counters.page"),
            dir: Some(dir),
        })
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PagePath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_path_lives_in_a_private_directory_of_its_own() {
        use std::os::unix::fs::PermissionsExt;
        let (a, b) = (PagePath::new().unwrap(), PagePath::new().unwrap());
        let dir = a.path().parent().unwrap().to_path_buf();
        assert_ne!(dir, b.path().parent().unwrap());
        let meta = std::fs::symlink_metadata(&dir).unwrap();
        assert!(meta.is_dir());
        assert_eq!(meta.permissions().mode() & 0o777, 0o700);
        // The server creates the page itself; dropping removes both.
        std::fs::write(a.path(), b"x").unwrap();
        drop(a);
        assert!(!dir.exists());
    }

    #[test]
    fn the_probe_is_steady_and_counts_work() {
        let mut pair = UnixStream::pair().unwrap();
        let runs: Vec<f64> = (0..5).map(|_| probe(&mut pair)).collect();
        assert!(runs.iter().all(|&t| t > 1.0), "{runs:?}");
        let min = runs.iter().copied().fold(f64::INFINITY, f64::min);
        let max = runs.iter().copied().fold(0.0, f64::max);
        // Generous: the test machine is shared; the point is that it measures work.
        assert!(max < 5.0 * min, "{runs:?}");
        // The same from its own thread, pinned to CPU 0 (allowed here), and it stops on drop.
        let prober = Prober::start(Some(0)).unwrap();
        let t = prober.run();
        assert!(t > 1.0 && t < 5.0 * max, "{t} vs {runs:?}");
        drop(prober);
    }
}
