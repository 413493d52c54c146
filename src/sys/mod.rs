//! The only module that calls libc directly.
//!
//! Every raw call goes through the `syscall!` macro, which turns the C
//! convention (`-1` and `errno`) into an [`io::Result`](std::io::Result). Each
//! `unsafe` block says why it is sound. Everything above this module works with
//! safe types: [`OwnedFd`](std::os::fd::OwnedFd), `TcpStream`, [`FdSet`],
//! slices of `pollfd` / `epoll_event`.
//!
//! One file per idea, each naming what it keeps raw and why:
//! - `wait`: select, poll and epoll — what is measured, so called
//!   exactly, once per operation, with no layer that could add a syscall or an
//!   allocation (io_uring likewise, in [`uring`]).
//! - `net`: sockets; `accept4` raw for the same reason, set-up through
//!   `socket2` and `rustix`.
//! - `usage`: getrusage and the process CPU clock (`clock_getcpuclockid`), the
//!   CPU-time measurement itself, which no crate we use exposes (rustix 1.x does
//!   not); the thread CPU clock through `rustix`.
//! - `process`: `signal(SIGPIPE, SIG_IGN)` raw (signal-hook cannot set a
//!   disposition to "ignore"; rustix offers sigaction only to runtimes); the
//!   descriptor limit (`rlimit`), affinity, timer slack, kill and the
//!   parent-death signal (`rustix`).
//! - `shm`: the server's counters page ([`SharedWords`]), mapped by `memmap2`.
//! - `perf`: the kernel's count of another process's system calls
//!   (perf_event_open), declared by hand as no crate we use has it.
//! - `files`: pipes, dup, an exclusively created file, a private directory.
//!
//! Signals are in [`crate::signals`] (`signal-hook`).

mod files;
mod net;
mod perf;
mod process;
mod shm;
mod syscall;
pub mod uring;
mod usage;
mod wait;

pub use files::{create_exclusive, dup_at_least, pipe, private_dir};
pub use net::{
    accept_nonblocking, read_into_spare, send_nowait, set_linger_zero, set_nodelay, shutdown,
    tcp_listen, tcp_listen_reuseport,
};
pub use perf::SyscallCounter;
pub use process::{
    allowed_cpus, ignore_sigpipe, kill, kill_child_with_parent, kill_group, nofile_limit,
    pin_to_cpu, pin_to_cpus, raise_nofile_limit, set_nofile_soft_limit, set_timer_slack_ns,
    timer_slack_ns, PreciseTimers, CPU_SETSIZE, PRECISE_TIMER_SLACK_NS,
};
pub use shm::SharedWords;
pub use usage::{current_rss_kib, process_cpu_time, rusage_self, thread_cpu_time, Rusage};
pub use wait::{
    epoll_create, epoll_ctl, epoll_wait, epoll_wait_precise, poll, select, timeout_ms_round_up,
    FdSet, FD_SETSIZE,
};
