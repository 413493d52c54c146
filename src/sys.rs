//! The only module that calls libc directly.
//!
//! Every raw call goes through [`syscall!`], which turns the C convention
//! (`-1` and `errno`) into an [`io::Result`]. Each `unsafe` block says why it is
//! sound. Everything above this module works with safe types: [`OwnedFd`],
//! [`TcpStream`], [`FdSet`], slices of `pollfd` / `epoll_event`.
//!
//! What stays raw, and why:
//! - select, poll, epoll and accept4 (and io_uring in [`uring`]): they are what
//!   is measured, so the benchmark calls exactly them, once per operation, with
//!   no layer that could add a syscall or an allocation.
//! - getrusage: the CPU-time measurement itself, and no maintained crate we use
//!   exposes it (rustix 1.x does not).
//! - `signal(SIGPIPE, SIG_IGN)`: signal-hook registers handlers but cannot set
//!   a disposition to "ignore"; rustix only offers sigaction to runtimes.
//! - `mmap` of the server's counters page ([`SharedWords`]) and the CPU-time
//!   clocks (`clock_getcpuclockid`, `CLOCK_THREAD_CPUTIME_ID`): the interval
//!   sampler's readings, as direct as getrusage.
//!
//! Everything else goes through crates, behind the same small functions:
//! `rlimit` (RLIMIT_NOFILE), `rustix` (affinity, pipe, dup, kill, prctl, page
//! size), `socket2` (listen backlog, SO_LINGER); signals are in
//! [`crate::signals`] (`signal-hook`).

use std::fs::File;
use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

pub mod uring;

/// Call a libc function and map a negative return value to the current `errno`.
macro_rules! syscall {
    ($fn:ident ( $($arg:expr),* $(,)? )) => {{
        #[allow(unused_unsafe)]
        // SAFETY: each call site passes pointers and lengths that are valid for
        // the duration of the call; see the comment next to it.
        let res = unsafe { libc::$fn($($arg),*) };
        if res < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}

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

/// accept4(2) with `SOCK_NONBLOCK | SOCK_CLOEXEC`: one syscall for a ready-to-use
/// non-blocking connection (std's accept would need a second one, `ioctl(FIONBIO)`).
pub fn accept_nonblocking(listener: &TcpListener) -> io::Result<TcpStream> {
    // Null address pointers: the peer address is not needed.
    let fd = syscall!(accept4(
        listener.as_raw_fd(),
        std::ptr::null_mut(),
        std::ptr::null_mut(),
        libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC
    ))?;
    // SAFETY: accept4 returned a fresh descriptor that nobody else owns.
    Ok(TcpStream::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// A TCP listener on `addr` with `SO_REUSEADDR`, a large backlog (the kernel caps
/// it at `net.core.somaxconn`) so bursts of connects are not dropped, non-blocking.
/// Set up through `socket2`: creating a listener is not what is measured.
pub fn tcp_listen(addr: std::net::SocketAddr, backlog: i32) -> io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    // socket2 opens it close-on-exec.
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// [`tcp_listen`] with `SO_REUSEPORT` too: several listeners on one port,
/// the kernel spreading connections over them (`--accept reuseport`).
pub fn tcp_listen_reuseport(addr: std::net::SocketAddr, backlog: i32) -> io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Set `SO_LINGER {on, 0}` so that closing the socket sends RST instead of FIN
/// (through `socket2`).
pub fn set_linger_zero(socket: &impl AsFd) -> io::Result<()> {
    socket2::SockRef::from(socket).set_linger(Some(Duration::ZERO))
}

/// Duplicate `fd` onto the lowest free descriptor number `>= min`
/// (`F_DUPFD_CLOEXEC`, through `rustix`).
pub fn dup_at_least(fd: &impl AsFd, min: RawFd) -> io::Result<OwnedFd> {
    Ok(rustix::io::fcntl_dupfd_cloexec(fd, min)?)
}

/// A non-blocking, close-on-exec pipe: `(read end, write end)` (through `rustix`).
pub fn pipe() -> io::Result<(File, File)> {
    use rustix::pipe::PipeFlags;
    let (read, write) = rustix::pipe::pipe_with(PipeFlags::NONBLOCK | PipeFlags::CLOEXEC)?;
    Ok((File::from(read), File::from(write)))
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

/// Create `path` as a new regular file for reading and writing: refused if
/// anything is there already (`O_EXCL`), a symlink included, and never
/// following one (`O_NOFOLLOW`) — so a name another user could guess cannot
/// be turned into a write to a file of theirs or of root's.
pub fn create_exclusive(path: &std::path::Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .mode(0o600)
        .open(path)
}

/// A new directory only this user can enter (0700), with a name nobody can
/// guess (`prefix` and 64 random bits), under `parent`; made with `mkdir`,
/// which fails on anything already there, so nothing can be planted in it.
pub fn private_dir(parent: &std::path::Path, prefix: &str) -> io::Result<std::path::PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    for _ in 0..16 {
        let path = parent.join(format!("{prefix}{:016x}", rand::random::<u64>()));
        match std::fs::DirBuilder::new().mode(0o700).create(&path) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("no fresh directory name under {}", parent.display()),
    ))
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

/// Send `signal` to process `pid` (tests and the load generator use it on
/// children they started; through `rustix`).
pub fn kill(pid: u32, signal: libc::c_int) -> io::Result<()> {
    use rustix::process::{kill_process, Pid, Signal};
    let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidInput, what);
    let target = i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(|| invalid(format!("{pid} is not a process id")))?;
    let sig = Signal::from_named_raw(signal)
        .ok_or_else(|| invalid(format!("{signal} is not a signal number")))?;
    Ok(kill_process(target, sig)?)
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

/// A file mapped `MAP_SHARED` as 64-bit atomic words: the server's counters
/// page, written by the server and read by the load generator in another
/// process. Unmapped on drop.
pub struct SharedWords {
    ptr: std::ptr::NonNull<std::sync::atomic::AtomicU64>,
    len: usize,
}

// SAFETY: the mapping is only ever accessed through atomics.
unsafe impl Send for SharedWords {}
// SAFETY: as above; shared access is what atomics are for.
unsafe impl Sync for SharedWords {}

impl SharedWords {
    /// Map the first `words` 64-bit words of `file` (which must be at least
    /// that long, or touching the end would raise SIGBUS), writable or read-only.
    pub fn map(file: &File, words: usize, writable: bool) -> io::Result<SharedWords> {
        let bytes = words
            .checked_mul(8)
            .filter(|&b| b > 0)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "bad mapping size"))?;
        if file.metadata()?.len() < bytes as u64 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the file is shorter than the {bytes} bytes to map"),
            ));
        }
        let prot = libc::PROT_READ | if writable { libc::PROT_WRITE } else { 0 };
        // SAFETY: a fresh mapping chosen by the kernel (no address given) of a
        // file we hold open and checked to be long enough; nothing aliases it
        // in this process.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                prot,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr =
            std::ptr::NonNull::new(p.cast()).ok_or_else(|| io::Error::other("mmap gave NULL"))?;
        Ok(SharedWords { ptr, len: words })
    }

    /// The words. Another process may change them at any time: read them with
    /// a protocol (the counters page uses a sequence lock).
    pub fn words(&self) -> &[std::sync::atomic::AtomicU64] {
        // SAFETY: `len` page-aligned, mapped, 8-byte-aligned words, alive as
        // long as `self`; AtomicU64 has the layout of u64 and allows shared
        // mutation (atomic loads from a read-only mapping are plain loads).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for SharedWords {
    fn drop(&mut self) {
        // SAFETY: exactly the region mapped in `map`; no reference to it outlives `self`.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len * 8) };
    }
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

/// CPU time used so far by the calling thread (`CLOCK_THREAD_CPUTIME_ID`):
/// time the thread was preempted does not count.
pub fn thread_cpu_time() -> io::Result<Duration> {
    // SAFETY: timespec is plain data; all-zero is valid to overwrite.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // &mut ts is a valid timespec to fill.
    syscall!(clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts))?;
    Ok(timespec_duration(ts))
}

/// One blocking (or not) `read` into the spare capacity of `buf`, which
/// grows by what was read (through `rustix`). The bytes are never zeroed
/// first: a thread-per-connection server's buffer costs resident memory only
/// for what the kernel has written into it.
pub fn read_into_spare(fd: &impl AsFd, buf: &mut Vec<u8>) -> io::Result<usize> {
    Ok(rustix::io::read(fd, rustix::buffer::spare_capacity(buf))?)
}

/// `send(MSG_DONTWAIT)` on a (blocking) socket: what it takes now, or
/// `WouldBlock` (through `socket2`).
pub fn send_nowait(stream: &TcpStream, data: &[u8]) -> io::Result<usize> {
    socket2::SockRef::from(stream).send_with_flags(data, libc::MSG_DONTWAIT)
}

/// shutdown(2) on a descriptor held elsewhere. The caller guarantees that
/// `fd` is still open and is the socket it means (the thread server holds a
/// lock that the owning thread must take before it closes the descriptor);
/// the call itself touches no memory, so a wrong number is an error, not
/// undefined behaviour.
pub fn shutdown_raw(fd: RawFd, how: std::net::Shutdown) -> io::Result<()> {
    let how = match how {
        std::net::Shutdown::Read => libc::SHUT_RD,
        std::net::Shutdown::Write => libc::SHUT_WR,
        std::net::Shutdown::Both => libc::SHUT_RDWR,
    };
    syscall!(shutdown(fd, how)).map(drop)
}

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
