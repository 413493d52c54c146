//! What a process has used: CPU time (getrusage, per-process and per-thread
//! CPU clocks), context switches and resident memory.
//!
//! These are the CPU-time measurements themselves. getrusage and
//! `clock_getcpuclockid` stay raw (rustix 1.x offers neither); the calling
//! thread's CPU clock is read through `rustix`.

use std::io;
use std::time::Duration;

use super::syscall::syscall;

/// The calling process's resource usage, in the units reports use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rusage {
    /// User CPU time, µs.
    pub user_us: u64,
    /// System CPU time, µs.
    pub sys_us: u64,
    /// Voluntary context switches (the process blocked, e.g. in a wait call).
    pub voluntary_ctx_switches: u64,
    /// Involuntary context switches (the process was preempted).
    pub involuntary_ctx_switches: u64,
    /// Peak resident set size, KiB.
    pub max_rss_kib: u64,
}

/// getrusage(RUSAGE_SELF).
pub fn rusage_self() -> io::Result<Rusage> {
    // SAFETY: rusage is plain data; all-zero is a valid value to overwrite.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // &mut ru is a valid rusage to fill.
    syscall!(getrusage(libc::RUSAGE_SELF, &mut ru))?;
    let us = |tv: libc::timeval| tv.tv_sec as u64 * 1_000_000 + tv.tv_usec as u64;
    Ok(Rusage {
        user_us: us(ru.ru_utime),
        sys_us: us(ru.ru_stime),
        voluntary_ctx_switches: ru.ru_nvcsw as u64,
        involuntary_ctx_switches: ru.ru_nivcsw as u64,
        max_rss_kib: ru.ru_maxrss as u64,
    })
}

/// The current resident set size in KiB (from `/proc/self/statm`), unlike
/// `ru_maxrss`, which only ever grows.
pub fn current_rss_kib() -> io::Result<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm")?;
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unexpected /proc/self/statm"))?;
    let page = rustix::param::page_size() as u64;
    Ok(pages * page / 1024)
}

fn timespec_duration(ts: libc::timespec) -> Duration {
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// CPU time used so far by process `pid` (all its threads), nanosecond
/// resolution, read from outside without disturbing it (`clock_getcpuclockid`).
pub fn process_cpu_time(pid: u32) -> io::Result<Duration> {
    let pid = libc::pid_t::try_from(pid)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "not a process id"))?;
    let mut clock: libc::clockid_t = 0;
    // SAFETY: &mut clock is a valid clockid_t to fill. Returns an errno value, not -1.
    let rc = unsafe { libc::clock_getcpuclockid(pid, &mut clock) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    // SAFETY: timespec is plain data; all-zero is valid to overwrite.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // &mut ts is a valid timespec to fill.
    syscall!(clock_gettime(clock, &mut ts))?;
    Ok(timespec_duration(ts))
}

/// CPU time used so far by the calling thread (`CLOCK_THREAD_CPUTIME_ID`,
/// through `rustix`, which reads it by the vDSO as libc does): time the thread
/// was preempted does not count.
pub fn thread_cpu_time() -> io::Result<Duration> {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    let secs = u64::try_from(ts.tv_sec).map_err(|_| io::Error::other("negative CPU time"))?;
    let nanos = u32::try_from(ts.tv_nsec).map_err(|_| io::Error::other("bad nanoseconds"))?;
    Ok(Duration::new(secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_clocks_advance_with_work() {
        let (t0, p0) = (
            thread_cpu_time().unwrap(),
            process_cpu_time(std::process::id()).unwrap(),
        );
        let mut x = 0u64;
        while thread_cpu_time().unwrap() < t0 + Duration::from_millis(5) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        assert!(process_cpu_time(std::process::id()).unwrap() >= p0 + Duration::from_millis(5));
        assert!(rusage_self().unwrap().user_us + rusage_self().unwrap().sys_us > 0);
    }
}
