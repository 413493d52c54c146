//! Command-line settings of the server, shared by `muxserver` and the load
//! generator's hidden server mode.

use std::net::SocketAddr;

use anyhow::Context;
use clap::Args;

use super::config::Config;
use super::config::Protocol;
use super::config::ReadPolicy;
use super::counters::Snapshot;
use super::trace::TraceLevel;
use crate::backend::Backend;
use crate::units::parse_size;
use crate::{limits, sys};

fn parse_positive_size(s: &str) -> Result<usize, String> {
    match parse_size(s)? {
        0 => Err("must be at least 1".to_string()),
        n => Ok(n),
    }
}

/// `--read-buf`: at least 1, at most [`limits::MAX_BUF`].
pub fn parse_read_buf(s: &str) -> Result<usize, String> {
    let n = parse_positive_size(s)?;
    limits::check_buf(
        n,
        "the buffer is allocated at start, and one read never returns more than the \
         socket's receive queue (a few MiB)",
    )?;
    Ok(n)
}

/// `--max-line`: at least 1, at most [`limits::MAX_BUF`].
fn parse_max_line(s: &str) -> Result<usize, String> {
    let n = parse_positive_size(s)?;
    limits::check_buf(
        n,
        "a chat line is held whole in memory, once per client it is queued for",
    )?;
    Ok(n)
}

/// `--max-pending`: at least 1, at most [`limits::max_pending_bound`].
pub fn parse_max_pending(s: &str) -> Result<usize, String> {
    let n = parse_positive_size(s)?;
    limits::check_max_pending(n)?;
    Ok(n)
}

fn parse_events(s: &str) -> Result<usize, String> {
    let n = parse_positive_size(s)?;
    limits::check_events(n)?;
    Ok(n)
}

fn parse_nofile(s: &str) -> Result<u64, String> {
    let n: u64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number of descriptors"))?;
    if n < limits::MIN_NOFILE {
        return Err(format!(
            "at least {} descriptors are needed (stdio, the listener, the multiplexer, the \
             signal pipe and a few connections)",
            limits::MIN_NOFILE
        ));
    }
    Ok(n)
}

/// `--stack-size`: at least [`super::threads::MIN_STACK`], at most 64 MiB.
pub fn parse_stack_size(s: &str) -> Result<usize, String> {
    let n = parse_size(s)?;
    let min = super::threads::MIN_STACK;
    if n < min {
        return Err(format!(
            "at least {} KiB: the thread's frames, its read path and the C library's \
             thread-local storage live there",
            min / 1024
        ));
    }
    if n > 64 << 20 {
        return Err("at most 64 MiB per thread".to_string());
    }
    Ok(n)
}

/// A count of `what` from 1 to 1024 (threads, reactors).
fn parse_count(s: &str, what: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=1024).contains(&n) => Ok(n),
        Ok(_) => Err(format!("between 1 and 1024 {what}")),
        Err(_) => Err(format!("{s:?} is not a number of {what}")),
    }
}

/// `--threads`: 1 to 1024 runtime worker threads.
pub fn parse_runtime_threads(s: &str) -> Result<usize, String> {
    parse_count(s, "worker threads")
}

/// Settings of the echo server.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// How the server waits for work (the list below has what each one demonstrates).
    #[arg(long, value_enum, ignore_case = true)]
    pub backend: Backend,

    /// Protocol: echo (RFC 862) or chat (every line to every client).
    #[arg(long, value_enum, default_value_t = Protocol::Echo)]
    pub protocol: Protocol,

    /// Chat: longest line accepted (bytes, without the newline, at most 64 MiB); a longer one
    /// gets `ERR line too long` and the connection is closed.
    #[arg(long, default_value = "4096", value_parser = parse_max_line)]
    pub max_line: usize,

    /// Address to listen on, HOST:PORT (loopback unless told otherwise; port 0 picks a free
    /// port; a host name is resolved once, and the first of its addresses that binds is used).
    #[arg(long, default_value = "127.0.0.1:7000", value_parser = crate::addr::parse_listen_addr)]
    pub addr: SocketAddr,

    /// Bytes per read(2) (one buffer shared by all connections, at most 64 MiB). The textbook's
    /// experiment uses 4.
    #[arg(long, default_value = "16384", value_parser = parse_read_buf)]
    pub read_buf: usize,

    /// Level-triggered backends: `once` = one read per readiness event (textbook), `drain` =
    /// read until the receive queue is empty. Edge trigger always drains.
    #[arg(long, value_enum, default_value_t = ReadPolicy::Once)]
    pub read_policy: ReadPolicy,

    /// Cap on output pending per connection. Echo: the server stops reading a client that does
    /// not read its echoes once this much is queued for it (threads and tokio stop reading
    /// while one read's echo, at most this much, is unsent). Chat: a client whose queue would
    /// exceed it is disconnected (slow consumer). At most 1 GiB or half the available memory.
    #[arg(long, default_value = "256KiB", value_parser = parse_max_pending)]
    pub max_pending: usize,

    /// Bytes read from one connection per wake-up before others get a turn (drain mode).
    #[arg(long, default_value = "64KiB", value_parser = parse_positive_size)]
    pub read_budget: usize,

    /// Close connections beyond this many right after accept (counted as refused).
    #[arg(long)]
    pub max_conns: Option<usize>,

    /// Events returned per wait at most (epoll's maxevents; at most 65536).
    #[arg(long, default_value = "1024", value_parser = parse_events)]
    pub events: usize,

    /// Set the descriptor soft limit (RLIMIT_NOFILE) to N instead of raising it to the hard
    /// limit; used to test behaviour when descriptors run out. At least 16, at most the hard
    /// limit.
    #[arg(long, value_name = "N", value_parser = parse_nofile)]
    pub nofile_limit: Option<u64>,

    /// Pin the server to this CPU.
    #[arg(long, value_name = "CPU")]
    pub cpu: Option<usize>,

    /// Print one line per notable event on stderr: `--trace=waits` only what each wait returned
    /// (the textbook's view), `--trace` or `--trace=all` also every read, write, accept, close
    /// and interest change. Lines stderr cannot take at once are dropped and counted, never
    /// waited for.
    #[arg(
        long,
        value_enum,
        value_name = "WHAT",
        num_args = 0..=1,
        require_equals = true,
        default_value_t = TraceLevel::Off,
        default_missing_value = "all"
    )]
    pub trace: TraceLevel,

    /// Publish the counters into this file (created new, 512 bytes, mode 0600: a symlink or
    /// anything already at PATH is refused; put it on a tmpfs such as /dev/shm, in a
    /// directory only you can write) once per loop turn, for a reader that samples them
    /// without disturbing the server: loadgen does, once per --interval.
    #[arg(long, value_name = "PATH")]
    pub stats_page: Option<std::path::PathBuf>,

    /// threads: stack size of each connection thread (default 64 KiB; at least 32 KiB, at most
    /// 64 MiB). Only touched pages cost memory.
    #[arg(long, value_name = "SIZE", value_parser = parse_stack_size)]
    pub stack_size: Option<usize>,

    /// tokio: the multi-thread runtime with N worker threads (default: the current-thread
    /// runtime, one thread like the event loops).
    #[arg(long, value_name = "N", value_parser = parse_runtime_threads)]
    pub threads: Option<usize>,

    /// Readiness backends, echo: N event loops, each a thread with its own multiplexer
    /// (2 to 1024; default 1, the plain server).
    #[arg(long, value_name = "N", value_parser = parse_reactors)]
    pub reactors: Option<usize>,

    /// With --reactors: how connections reach the reactors: `reuseport` (a listener each,
    /// SO_REUSEPORT), `exclusive` (one listener, EPOLLEXCLUSIVE; epoll only) or `shared` (one
    /// listener, every reactor woken by every arrival: the thundering herd).
    #[arg(long, value_enum, requires = "reactors")]
    pub accept: Option<super::reactors::AcceptMode>,

    /// Serve the counters over TCP at this address (loopback unless told otherwise): each
    /// connection gets one JSON snapshot line and is closed. For `loadgen --addr HOST:PORT
    /// --server-control ADDR` on another host. Answered from the counters page by a thread of
    /// its own (with --stats-page that page, else one made for it).
    #[arg(long, value_name = "ADDR", value_parser = crate::addr::parse_listen_addr)]
    pub control: Option<SocketAddr>,

    /// uring: io_uring features beyond the plain server, comma-separated: fixed-files,
    /// multishot-recv, zc-send[=SIZE], skip-cqe, sqpoll[=CPU], taskrun=defer|coop|none
    /// (src/server/uring_features.rs says what each does and the kernel it needs; one this
    /// kernel lacks is refused, never left out). Default: $MUXBENCH_URING_FEATURES, if set.
    #[arg(long, value_name = "LIST", value_parser = super::uring_features::parse_uring_features)]
    pub uring_features: Option<super::uring_features::UringFeatures>,

    /// With --reactors: pin reactor i to CPU i of this list (cyclically), e.g. `0-3` or `0,2`.
    #[arg(long, value_name = "LIST", value_parser = crate::units::parse_cpus, requires = "reactors", conflicts_with = "cpu")]
    pub server_cpus: Option<crate::units::CpuList>,
}

/// `--reactors`: 1 to 1024 (1 is the plain server).
pub fn parse_reactors(s: &str) -> Result<usize, String> {
    parse_count(s, "reactors")
}

impl ServerArgs {
    /// The event-loop configuration these arguments describe.
    pub fn config(&self) -> Config {
        Config {
            protocol: self.protocol,
            max_line: self.max_line,
            read_buf: self.read_buf,
            read_policy: self.read_policy,
            max_pending: self.max_pending,
            read_budget: self.read_budget,
            max_conns: self.max_conns.unwrap_or(usize::MAX),
            events: self.events,
            trace: self.trace,
            stats_page: self.stats_page.clone(),
            stack_size: self.stack_size.unwrap_or(super::config::DEFAULT_STACK),
            runtime_threads: self.threads.unwrap_or(0),
            accept_exclusive: false,
            uring: match (self.uring_features, self.backend) {
                (Some(f), _) => f,
                (None, Backend::Uring) => super::uring_features::from_env().unwrap_or_default(),
                (None, _) => Default::default(),
            },
        }
    }

    /// Apply the process settings (descriptor limit, CPU pinning), serve, and
    /// print the protocol lines on stdout: `listening on ADDR backend=NAME` once
    /// ready, one JSON snapshot per SIGUSR1, and the final snapshot on exit.
    pub fn run(&self) -> anyhow::Result<Snapshot> {
        self.check_combinations()?;
        self.check_machine()?;
        self.apply_process_settings()?;
        let backend = self.backend;
        self.check_server_cpus()?;
        let plan = self.plan();
        let mut cfg = self.config();
        // --control reads the counters page: the one asked for, or one of its own.
        let control = self.control_server(&mut cfg)?;
        let snapshot = super::serve::serve(
            backend,
            self.addr,
            cfg,
            plan.as_ref(),
            |addr| announce(addr, backend, control),
            |snap| println!("{}", snap.clone().stamped().to_json_line()),
        )?;
        let snapshot = snapshot.stamped();
        println!("{}", snapshot.to_json_line());
        Ok(snapshot)
    }

    /// Refuse settings that contradict each other, before anything is changed.
    fn check_combinations(&self) -> anyhow::Result<()> {
        let longest = self.max_line + 1 + super::rules::LINE_TOO_LONG.len();
        if self.protocol == Protocol::Chat && self.max_pending < longest {
            anyhow::bail!(
                "--max-pending {} is smaller than one line of --max-line {} plus its newline \
                 and the error line: every client would be dropped as a slow consumer; \
                 use --max-pending {longest} or more",
                self.max_pending,
                self.max_line
            );
        }
        if self.stack_size.is_some() && self.backend != Backend::Threads {
            anyhow::bail!("--stack-size is for --backend threads");
        }
        if self.threads.is_some() && self.backend != Backend::Tokio {
            anyhow::bail!("--threads is for --backend tokio (its multi-thread runtime)");
        }
        if self.uring_features.is_some() && self.backend != Backend::Uring {
            anyhow::bail!("--uring-features is for --backend uring (the completion server)");
        }
        if self.backend == Backend::Uring {
            super::uring_features::from_env().map_err(anyhow::Error::msg)?;
            self.config()
                .uring
                .check_kernel()
                .map_err(|e| anyhow::anyhow!("--uring-features: {e}"))?;
        }
        if self.trace != TraceLevel::Off
            && matches!(self.backend, Backend::Threads | Backend::Tokio)
        {
            anyhow::bail!(
                "--trace follows an event loop's waits; {} has none of its own to show",
                self.backend
            );
        }
        Ok(())
    }

    /// Refuse a descriptor limit or a CPU this process cannot have.
    fn check_machine(&self) -> anyhow::Result<()> {
        let (_, hard) = sys::nofile_limit().context("reading RLIMIT_NOFILE")?;
        if let Some(n) = self.nofile_limit.filter(|&n| n > hard) {
            anyhow::bail!(
                "--nofile-limit {n} is above the hard limit of {hard} descriptors (ulimit -Hn), \
                 which only root can raise"
            );
        }
        if let Some(cpu) = self.cpu {
            let allowed = sys::allowed_cpus().context("reading the CPU affinity mask")?;
            if !allowed.contains(&cpu) {
                anyhow::bail!(
                    "--cpu {cpu} is not among the CPUs this process may use ({allowed:?})"
                );
            }
        }
        Ok(())
    }

    /// Set the descriptor limit and pin the process to `--cpu`.
    fn apply_process_settings(&self) -> anyhow::Result<()> {
        match self.nofile_limit {
            Some(n) => sys::set_nofile_soft_limit(n),
            None => sys::raise_nofile_limit(),
        }
        .context("setting RLIMIT_NOFILE")?;
        if let Some(cpu) = self.cpu {
            sys::pin_to_cpu(cpu).with_context(|| format!("pinning to CPU {cpu}"))?;
        }
        Ok(())
    }

    /// Refuse `--server-cpus` naming a CPU this process may not use.
    fn check_server_cpus(&self) -> anyhow::Result<()> {
        if let Some(cpus) = &self.server_cpus {
            let allowed = sys::allowed_cpus().context("reading the CPU affinity mask")?;
            if let Some(bad) = cpus.0.iter().find(|c| !allowed.contains(c)) {
                anyhow::bail!(
                    "--server-cpus: CPU {bad} is not among the CPUs this process may use ({allowed:?})"
                );
            }
        }
        Ok(())
    }

    /// The reactors asked for, if more than one.
    fn plan(&self) -> Option<super::reactors::Plan> {
        self.reactors
            .filter(|&n| n > 1)
            .map(|reactors| super::reactors::Plan {
                reactors,
                accept: self.accept.unwrap_or_default(),
                cpus: self.server_cpus.as_ref().map(|c| c.0.clone()),
            })
    }

    /// `--control`: its listener and the counters page it reads (the one
    /// asked for, or one of its own, then set in `cfg`).
    fn control_server(&self, cfg: &mut Config) -> anyhow::Result<Option<ControlServer>> {
        let Some(addr) = self.control else {
            return Ok(None);
        };
        let listener = std::net::TcpListener::bind(addr)
            .with_context(|| format!("--control: cannot listen on {addr}"))?;
        if let Some(w) = super::remote::exposure_warning(addr) {
            eprintln!("muxserver: warning: {w}");
        }
        let own = cfg.stats_page.is_none();
        let page = match cfg.stats_page.clone() {
            Some(p) => p,
            // Its own page in a private directory (0700, a random name):
            // nothing another user can plant or redirect.
            None => crate::sys::private_dir(&std::env::temp_dir(), "muxserver-")
                .context("--control: making a private directory for the counters page")?
                .join("counters.page"),
        };
        cfg.stats_page = Some(page.clone());
        Ok(Some((listener, page, own)))
    }
}

/// `--control`'s listener, the counters page it answers from, and whether
/// that page is its own (made for it, not asked for with `--stats-page`).
type ControlServer = (std::net::TcpListener, std::path::PathBuf, bool);

/// The readiness line, once the server accepts connections; with `--control`,
/// its thread is started first and its address is on the line too.
fn announce(addr: SocketAddr, backend: Backend, control: Option<ControlServer>) {
    match control {
        Some((listener, page, own)) => {
            let at = listener
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_default();
            match super::remote::spawn(listener, page, own, backend) {
                Ok(()) => println!("listening on {addr} backend={backend} control={at}"),
                Err(e) => {
                    // Before the readiness line: nobody relies on the server yet.
                    eprintln!("muxserver: error: --control: reading the counters page: {e}");
                    std::process::exit(1);
                }
            }
        }
        None => println!("listening on {addr} backend={backend}"),
    }
}
