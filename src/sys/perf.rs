//! The kernel's count of another process's system calls, through one
//! `raw_syscalls:sys_enter` tracepoint counter per thread (perf_event_open(2)).
//!
//! Raw because neither libc nor the crates the harness uses define
//! `perf_event_attr` or wrap the call; the attribute is declared here as far as
//! its first published size, all a tracepoint counter needs.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use super::syscall::syscall;

/// `perf_event_attr` as far as its first published size (`PERF_ATTR_SIZE_VER0`,
/// 64 bytes): all a tracepoint counter needs. Neither libc nor the crates we
/// use define it.
#[repr(C)]
#[derive(Default)]
struct PerfEventAttr {
    type_: u32,
    size: u32,
    config: u64,
    sample_period: u64,
    sample_type: u64,
    read_format: u64,
    /// Bit 0 `disabled`, bit 1 `inherit`, ...
    flags: u64,
    wakeup_events: u32,
    bp_type: u32,
    config1: u64,
}

const PERF_TYPE_TRACEPOINT: u32 = 2;
const PERF_ATTR_INHERIT: u64 = 1 << 1;
const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 1 << 3;
/// Where the kernel numbers its tracepoints (tracefs mounts itself here when read).
const SYS_ENTER_ID: &str = "/sys/kernel/tracing/events/raw_syscalls/sys_enter/id";

/// The kernel's count of another process's system calls: one
/// `raw_syscalls:sys_enter` tracepoint counter (perf_event_open(2)) per
/// thread the process has when attached, each inherited by the threads it
/// starts later. Reading is one `read` per counter.
pub struct SyscallCounter {
    fds: Vec<OwnedFd>,
}

impl SyscallCounter {
    /// Attach to every thread of `pid`. Needs tracefs and the right to
    /// observe the process (root, CAP_PERFMON, or `perf_event_paranoid` ≤ 1
    /// for one's own processes).
    pub fn attach(pid: u32) -> io::Result<SyscallCounter> {
        let id: u64 = std::fs::read_to_string(SYS_ENTER_ID)
            .map_err(|e| io::Error::new(e.kind(), format!("reading {SYS_ENTER_ID}: {e}")))?
            .trim()
            .parse()
            .map_err(|_| io::Error::other(format!("{SYS_ENTER_ID} holds no number")))?;
        let mut fds = Vec::new();
        for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
            let Some(tid) = task?
                .file_name()
                .to_str()
                .and_then(|t| t.parse::<libc::pid_t>().ok())
            else {
                continue;
            };
            let attr = PerfEventAttr {
                type_: PERF_TYPE_TRACEPOINT,
                size: std::mem::size_of::<PerfEventAttr>() as u32,
                config: id,
                sample_period: 0,
                flags: PERF_ATTR_INHERIT,
                ..PerfEventAttr::default()
            };
            // SAFETY: `attr` is a valid, initialised perf_event_attr of the
            // size it states, alive for the call; the other arguments are plain
            // integers (any thread of `tid`, no group).
            let fd = syscall!(syscall(
                libc::SYS_perf_event_open,
                &attr as *const PerfEventAttr,
                tid,
                -1 as libc::c_int,
                -1 as libc::c_int,
                PERF_FLAG_FD_CLOEXEC
            ))?;
            // SAFETY: perf_event_open returned a fresh descriptor that nobody else owns.
            fds.push(unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
        }
        if fds.is_empty() {
            return Err(io::Error::other(format!("process {pid} has no threads")));
        }
        Ok(SyscallCounter { fds })
    }

    /// System calls counted so far, every thread (and the threads they started) summed.
    pub fn read(&self) -> io::Result<u64> {
        let mut total = 0;
        for fd in &self.fds {
            let mut v = [0u8; 8];
            let n = rustix::io::read(fd, &mut v)?;
            if n != 8 {
                return Err(io::Error::other("short read of a perf counter"));
            }
            total += u64::from_ne_bytes(v);
        }
        Ok(total)
    }
}
