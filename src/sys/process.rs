//! The process and its threads: children that die with us, signals sent and
//! ignored, the descriptor limit, CPU affinity and timer slack.
//!
//! Raw only for `signal(SIGPIPE, SIG_IGN)`: signal-hook registers handlers
//! but cannot set a disposition to "ignore", and rustix offers sigaction only
//! to runtimes. The rest goes through `rlimit` and `rustix`.

use std::io;

/// Make the child started by `cmd` receive SIGKILL when this process dies,
/// so a server child is never left behind by a load generator that was killed.
pub fn kill_child_with_parent(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec and only makes
    // the prctl(2) system call (rustix calls it directly: async-signal-safe, no
    // allocation, no lock).
    unsafe {
        cmd.pre_exec(|| {
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
                .map_err(io::Error::from)
        });
    }
}

/// The `RLIMIT_NOFILE` limits: `(soft, hard)` (through the `rlimit` crate).
pub fn nofile_limit() -> io::Result<(u64, u64)> {
    rlimit::Resource::NOFILE.get()
}

/// Set the `RLIMIT_NOFILE` soft limit (capped at the hard limit, and lowering
/// it if asked: `--nofile-limit` tests running out of descriptors); returns the
/// new soft limit.
pub fn set_nofile_soft_limit(soft: u64) -> io::Result<u64> {
    let (_, hard) = nofile_limit()?;
    let soft = soft.min(hard);
    rlimit::Resource::NOFILE.set(soft, hard)?;
    Ok(soft)
}

/// Raise the `RLIMIT_NOFILE` soft limit to the hard limit; returns the new soft limit.
pub fn raise_nofile_limit() -> io::Result<u64> {
    // Not rlimit::increase_nofile_limit: it would never lower, and this wrapper
    // must mean exactly "soft = hard" for the reports that print it.
    set_nofile_soft_limit(u64::MAX)
}

/// CPUs an affinity mask can name: CPU numbers are below this.
pub const CPU_SETSIZE: usize = rustix::thread::CpuSet::MAX_CPU;

/// Pin the calling thread to one CPU (through `rustix`).
pub fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    if cpu >= CPU_SETSIZE {
        // Checked here: CpuSet::set would panic (or ignore it) instead.
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cpu {cpu} is out of range (an affinity mask names CPUs 0..{CPU_SETSIZE})"),
        ));
    }
    let mut set = rustix::thread::CpuSet::new();
    set.set(cpu);
    // None = the calling thread.
    rustix::thread::sched_setaffinity(None, &set).map_err(io::Error::from)
}

/// CPUs this process may run on (its affinity mask), in ascending order
/// (through `rustix`).
pub fn allowed_cpus() -> io::Result<Vec<usize>> {
    let set = rustix::thread::sched_getaffinity(None)?;
    Ok((0..CPU_SETSIZE).filter(|&c| set.is_set(c)).collect())
}

/// Pin the calling thread to the CPUs in `cpus` (any of them).
pub fn pin_to_cpus(cpus: &[usize]) -> io::Result<()> {
    let mut set = rustix::thread::CpuSet::new();
    for &cpu in cpus {
        if cpu >= CPU_SETSIZE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cpu {cpu} is out of range (an affinity mask names CPUs 0..{CPU_SETSIZE})"),
            ));
        }
        set.set(cpu);
    }
    rustix::thread::sched_setaffinity(None, &set).map_err(io::Error::from)
}

/// Timer slack the pacing threads run with, ns: the kernel's least. Linux
/// gives an ordinary thread 50 µs of slack — a timed wake-up may come that
/// late so the kernel can batch it — and an open-loop send measured from its
/// intended instant would report every microsecond of it as server latency.
pub const PRECISE_TIMER_SLACK_NS: u64 = 1;

/// The calling thread's timer slack, ns (`prctl(PR_GET_TIMERSLACK)` through `rustix`).
pub fn timer_slack_ns() -> io::Result<u64> {
    rustix::thread::current_timer_slack().map_err(io::Error::from)
}

/// Set the calling thread's timer slack, ns (at least 1: 0 would mean "the
/// default" to the kernel); returns the value it had.
pub fn set_timer_slack_ns(ns: u64) -> io::Result<u64> {
    let before = timer_slack_ns()?;
    let ns = std::num::NonZeroU64::new(ns.max(1)).expect("at least 1");
    rustix::thread::set_current_timer_slack(Some(ns)).map_err(io::Error::from)?;
    Ok(before)
}

/// The calling thread runs with [`PRECISE_TIMER_SLACK_NS`] until the guard
/// is dropped, then with the slack it had (so a process the thread starts
/// later, which inherits it, is not changed).
pub struct PreciseTimers {
    before: Option<u64>,
    /// Timer slack is per thread: the guard must be dropped where it was made.
    _not_send: std::marker::PhantomData<*const ()>,
}

impl PreciseTimers {
    /// Set the calling thread's slack to 1 ns.
    pub fn new() -> io::Result<PreciseTimers> {
        Ok(PreciseTimers {
            before: Some(set_timer_slack_ns(PRECISE_TIMER_SLACK_NS)?),
            _not_send: std::marker::PhantomData,
        })
    }
}

impl Drop for PreciseTimers {
    fn drop(&mut self) {
        if let Some(ns) = self.before.take() {
            let _ = set_timer_slack_ns(ns);
        }
    }
}

/// Ignore SIGPIPE for the whole process: a write to a reset peer must return
/// `EPIPE`, not kill the server. (Sockets are also written with `MSG_NOSIGNAL`
/// by std; this covers every other descriptor.) A Rust `main` already starts
/// with SIGPIPE ignored; this stays explicit because the server's correctness
/// depends on it whoever runs the library (see the module note on why raw).
pub fn ignore_sigpipe() -> io::Result<()> {
    // SAFETY: SIG_IGN is a valid disposition for SIGPIPE.
    let prev = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    if prev == libc::SIG_ERR {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `id` as a rustix process id and `signal` as a rustix signal, or why not.
fn pid_and_signal(
    id: u32,
    signal: libc::c_int,
) -> io::Result<(rustix::process::Pid, rustix::process::Signal)> {
    use rustix::process::{Pid, Signal};
    let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidInput, what);
    let pid = i32::try_from(id)
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(|| invalid(format!("{id} is not a process id")))?;
    let sig = Signal::from_named_raw(signal)
        .ok_or_else(|| invalid(format!("{signal} is not a signal number")))?;
    Ok((pid, sig))
}

/// Send `signal` to process `pid` (tests and the load generator use it on
/// children they started; through `rustix`).
pub fn kill(pid: u32, signal: libc::c_int) -> io::Result<()> {
    let (pid, sig) = pid_and_signal(pid, signal)?;
    Ok(rustix::process::kill_process(pid, sig)?)
}

/// Send `signal` to every process of group `pgid` (a child started in a
/// group of its own, with everything it started; through `rustix`).
pub fn kill_group(pgid: u32, signal: libc::c_int) -> io::Result<()> {
    let (pgid, sig) = pid_and_signal(pgid, signal)?;
    Ok(rustix::process::kill_process_group(pgid, sig)?)
}
