//! The readiness calls the benchmark measures: select(2), poll(2) and the
//! epoll(7) family, plus the `fd_set` and timeout conversions they need.
//!
//! These stay raw on purpose: the benchmark compares exactly these calls, so
//! each wrapper makes one system call per operation, with no layer that could
//! add a syscall or an allocation. Each call goes through [`syscall!`].

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::syscall::syscall;

/// `FD_SETSIZE`: select(2) cannot watch a descriptor at or above this number.
pub const FD_SETSIZE: usize = libc::FD_SETSIZE;

/// A `fd_set` whose operations refuse descriptors outside `0..FD_SETSIZE`
/// instead of writing past the end of the bitmap (which `FD_SET` would do).
#[derive(Clone, Copy)]
pub struct FdSet(libc::fd_set);

impl Default for FdSet {
    fn default() -> Self {
        Self::new()
    }
}

impl FdSet {
    /// An empty set.
    pub fn new() -> Self {
        // SAFETY: fd_set is plain data; all-zero is the empty set (what FD_ZERO writes).
        FdSet(unsafe { std::mem::zeroed() })
    }

    fn check(fd: RawFd) -> io::Result<()> {
        if fd < 0 || fd as usize >= FD_SETSIZE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "fd {fd} is outside select(2)'s range 0..{FD_SETSIZE} (FD_SETSIZE); \
                     select cannot watch it"
                ),
            ));
        }
        Ok(())
    }

    /// Add `fd`; an error (and no write) when it is outside `0..FD_SETSIZE`.
    pub fn insert(&mut self, fd: RawFd) -> io::Result<()> {
        Self::check(fd)?;
        // SAFETY: fd is in 0..FD_SETSIZE, so the bit lies inside the set.
        unsafe { libc::FD_SET(fd, &mut self.0) };
        Ok(())
    }

    /// Remove `fd` (a no-op for descriptors outside the range).
    pub fn remove(&mut self, fd: RawFd) {
        if Self::check(fd).is_ok() {
            // SAFETY: fd is in 0..FD_SETSIZE.
            unsafe { libc::FD_CLR(fd, &mut self.0) };
        }
    }

    /// Whether `fd` is in the set (false outside the range).
    pub fn contains(&self, fd: RawFd) -> bool {
        // SAFETY: fd checked to be in 0..FD_SETSIZE first.
        Self::check(fd).is_ok() && unsafe { libc::FD_ISSET(fd, &self.0) }
    }
}

fn duration_to_timeval(d: Duration) -> libc::timeval {
    libc::timeval {
        tv_sec: d.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
        tv_usec: d.subsec_micros() as libc::suseconds_t,
    }
}

/// select(2) on read and write sets; `EINTR` is returned as an error for the
/// caller to map. `nfds` is the highest descriptor plus one.
pub fn select(
    nfds: RawFd,
    read: &mut FdSet,
    write: &mut FdSet,
    timeout: Option<Duration>,
) -> io::Result<usize> {
    let mut tv = timeout.map(duration_to_timeval);
    let tv_ptr = tv
        .as_mut()
        .map_or(std::ptr::null_mut(), |t| t as *mut libc::timeval);
    // The sets are valid fd_sets owned by the caller; tv_ptr is null or points
    // to a live timeval.
    syscall!(select(
        nfds,
        &mut read.0,
        &mut write.0,
        std::ptr::null_mut(),
        tv_ptr
    ))
    .map(|n| n as usize)
}

/// A timeout in whole milliseconds, rounded up (so 1 µs waits 1 ms rather than
/// busy-polling with 0), `-1` for "forever", capped at `i32::MAX`.
pub fn timeout_ms_round_up(timeout: Option<Duration>) -> libc::c_int {
    match timeout {
        None => -1,
        Some(d) => {
            let ms = d.as_nanos().div_ceil(1_000_000);
            ms.min(libc::c_int::MAX as u128) as libc::c_int
        }
    }
}

/// poll(2) over the given array.
pub fn poll(fds: &mut [libc::pollfd], timeout: Option<Duration>) -> io::Result<usize> {
    // fds is a valid, exclusively borrowed array of fds.len() pollfds.
    syscall!(poll(
        fds.as_mut_ptr(),
        fds.len() as libc::nfds_t,
        timeout_ms_round_up(timeout)
    ))
    .map(|n| n as usize)
}

/// epoll_create1(EPOLL_CLOEXEC).
pub fn epoll_create() -> io::Result<OwnedFd> {
    let fd = syscall!(epoll_create1(libc::EPOLL_CLOEXEC))?;
    // SAFETY: epoll_create1 returned a fresh descriptor that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// epoll_ctl(2); `event` is ignored by the kernel for `EPOLL_CTL_DEL`.
pub fn epoll_ctl(
    epfd: RawFd,
    op: libc::c_int,
    fd: RawFd,
    events: u32,
    data: u64,
) -> io::Result<()> {
    let mut ev = libc::epoll_event { events, u64: data };
    // ev lives across the call.
    syscall!(epoll_ctl(epfd, op, fd, &mut ev)).map(drop)
}

/// epoll_wait(2) into `buf`; returns how many entries were filled.
pub fn epoll_wait(
    epfd: RawFd,
    buf: &mut [libc::epoll_event],
    timeout: Option<Duration>,
) -> io::Result<usize> {
    let max = buf.len().min(libc::c_int::MAX as usize) as libc::c_int;
    // buf is a valid, exclusively borrowed array of at least `max` entries.
    syscall!(epoll_wait(
        epfd,
        buf.as_mut_ptr(),
        max,
        timeout_ms_round_up(timeout)
    ))
    .map(|n| n as usize)
}

/// epoll_pwait2(2): like [`epoll_wait`] but with a nanosecond timeout, for a
/// client that must send at scheduled instants (whole-millisecond rounding
/// would add up to 1 ms to every open-loop send).
pub fn epoll_wait_precise(
    epfd: RawFd,
    buf: &mut [libc::epoll_event],
    timeout: Option<Duration>,
) -> io::Result<usize> {
    let max = buf.len().min(libc::c_int::MAX as usize) as libc::c_int;
    let ts = timeout.map(|d| libc::timespec {
        tv_sec: d.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    });
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // buf is a valid, exclusively borrowed array of at least `max` entries; ts_ptr
    // is null or points to a live timespec; a null sigmask leaves the mask alone.
    syscall!(epoll_pwait2(
        epfd,
        buf.as_mut_ptr(),
        max,
        ts_ptr,
        std::ptr::null()
    ))
    .map(|n| n as usize)
}
