//! The server (RFC 862 echo, or broadcast chat), generic over the multiplexer.
//!
//! [`serve`] binds, routes the signals to the control pipe, dispatches on the backend
//! once and runs [`EventLoop`] monomorphised for it.

use std::fs::File;
use std::io;
use std::net::SocketAddr;

mod chat;
mod cli;
mod conn;
mod control;
mod counters;
mod event_loop;
mod protocol;
pub mod reactors;
pub mod remote;
mod room;
mod shards;
pub mod stats_page;
pub mod threads;
pub mod tokio_rt;
mod trace;
pub mod uring;

pub use chat::Chat;
pub use chat::LINE_TOO_LONG;
pub use cli::{
    parse_max_pending, parse_reactors, parse_read_buf, parse_runtime_threads, parse_stack_size,
    ServerArgs,
};
pub use control::{CONTROL_SNAPSHOT, CONTROL_STOP};
pub use counters::{Counters, Snapshot};
pub use event_loop::EventLoop;
pub use event_loop::Step;
pub use protocol::{Echo, Handler};
pub use trace::TraceLevel;

use crate::backend::Model;
use crate::mux::{Backend, Multiplexer};
use crate::sys;

/// What the server speaks.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// RFC 862: every byte received is sent back on the same connection.
    #[default]
    Echo,
    /// Newline-terminated lines, each delivered to every connected client.
    Chat,
}

/// How a level-triggered backend reads a readable connection.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ReadPolicy {
    /// One `read` per readiness event (the textbook's form); the kernel reports again while data remains.
    #[default]
    Once,
    /// Read until the receive queue is empty, as edge trigger must.
    Drain,
}

impl Protocol {
    /// The name `--protocol` and the reports use.
    pub const fn name(self) -> &'static str {
        match self {
            Protocol::Echo => "echo",
            Protocol::Chat => "chat",
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl ReadPolicy {
    /// The name `--read-policy` and the reports use.
    pub const fn name(self) -> &'static str {
        match self {
            ReadPolicy::Once => "once",
            ReadPolicy::Drain => "drain",
        }
    }
}

impl std::fmt::Display for ReadPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Event-loop settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Echo or chat.
    pub protocol: Protocol,
    /// Chat: longest accepted line, bytes (without the newline).
    pub max_line: usize,
    /// Size of the one shared read buffer (bytes per `read`).
    pub read_buf: usize,
    /// Read policy for level-triggered backends (edge trigger always drains).
    pub read_policy: ReadPolicy,
    /// Cap on output pending per connection, bytes; reading pauses at the cap.
    pub max_pending: usize,
    /// Bytes read from one connection per wake-up before others get a turn.
    pub read_budget: usize,
    /// Connections beyond this are closed right after accept (counted as refused).
    pub max_conns: usize,
    /// Events returned per wait at most (epoll's `maxevents`).
    pub events: usize,
    /// `--trace`: what the loop reports on stderr as it happens.
    pub trace: TraceLevel,
    /// `--stats-page`: publish the counters into this shared-memory file once
    /// per loop turn (see [`stats_page`]).
    pub stats_page: Option<std::path::PathBuf>,
    /// `threads`: stack size of each connection thread, bytes.
    pub stack_size: usize,
    /// `tokio`: worker threads of the multi-thread runtime; 0 = the
    /// current-thread runtime.
    pub runtime_threads: usize,
    /// Register the listener with `EPOLLEXCLUSIVE` (one reactor of several
    /// sharing it: `--accept exclusive`).
    pub accept_exclusive: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            protocol: Protocol::Echo,
            max_line: 4096,
            read_buf: 16 * 1024,
            read_policy: ReadPolicy::Once,
            max_pending: 256 * 1024,
            read_budget: 64 * 1024,
            max_conns: usize::MAX,
            events: 1024,
            trace: TraceLevel::Off,
            stats_page: None,
            stack_size: DEFAULT_STACK,
            runtime_threads: 0,
            accept_exclusive: false,
        }
    }
}

/// `threads`: default stack of a connection thread.
pub const DEFAULT_STACK: usize = 64 * 1024;

/// The kernel caps the listen backlog at `net.core.somaxconn`.
const LISTEN_BACKLOG: i32 = 4096;

/// Bind `addr`, then serve with `backend` (on several reactors if asked) until SIGINT/SIGTERM. `on_ready` is
/// called with the bound address once the server accepts connections; SIGUSR1
/// snapshots go to `on_snapshot`. Returns the final snapshot.
pub fn serve(
    backend: Backend,
    addr: SocketAddr,
    cfg: Config,
    reactors: Option<&reactors::Plan>,
    on_ready: impl FnOnce(SocketAddr),
    on_snapshot: impl FnMut(&Snapshot),
) -> anyhow::Result<Snapshot> {
    use anyhow::Context;
    if let Some(plan) = reactors {
        return reactors::serve(
            backend,
            addr,
            cfg,
            plan,
            LISTEN_BACKLOG,
            on_ready,
            on_snapshot,
        );
    }
    sys::ignore_sigpipe().context("ignoring SIGPIPE")?;
    let listener = sys::tcp_listen(addr, LISTEN_BACKLOG)
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    let (control, wake) = sys::pipe().context("creating the control pipe")?;
    // Held until serving ends; signal-hook keeps its own duplicates of `wake`.
    let _signals =
        crate::signals::ControlSignals::install(&wake).context("installing signal handlers")?;
    drop(wake);
    let snapshot = serve_on(
        backend,
        listener,
        control,
        cfg,
        || on_ready(local),
        on_snapshot,
    )
    .with_context(|| format!("{backend} server"))?;
    Ok(snapshot)
}

/// The serving-model seam: run `backend` on a bound, non-blocking `listener`
/// until a stop command arrives on `control` (bytes [`CONTROL_SNAPSHOT`] /
/// [`CONTROL_STOP`], written by tests and benches; signals arrive as wake-up
/// bytes, see [`crate::signals`]). Dispatches once on the backend's [`Model`]:
/// a readiness multiplexer runs inside [`EventLoop`], monomorphised for it; a
/// completion backend runs its own loop. Every model gets the same listener, control pipe and
/// [`Config`], and reports the same [`Snapshot`].
pub fn serve_on(
    backend: Backend,
    listener: std::net::TcpListener,
    control: File,
    cfg: Config,
    on_ready: impl FnOnce(),
    on_snapshot: impl FnMut(&Snapshot),
) -> io::Result<Snapshot> {
    match backend.model() {
        Model::Readiness => crate::with_multiplexer!(backend, |mux| run_loop(
            mux,
            listener,
            control,
            cfg,
            on_ready,
            on_snapshot
        ))
        .expect("a readiness backend has a multiplexer"),
        Model::Completion => uring::serve(listener, control, cfg, on_ready, on_snapshot),
        Model::Threads => threads::serve(listener, control, cfg, on_ready, on_snapshot),
        Model::Runtime => tokio_rt::serve(listener, control, cfg, on_ready, on_snapshot),
    }
}

/// The readiness loop for `mux`, monomorphised for the configured protocol too.
fn run_loop<M: Multiplexer>(
    mux: M,
    listener: std::net::TcpListener,
    control: File,
    cfg: Config,
    on_ready: impl FnOnce(),
    on_snapshot: impl FnMut(&Snapshot),
) -> io::Result<Snapshot> {
    match cfg.protocol {
        Protocol::Echo => {
            let mut event_loop = EventLoop::<M, Echo>::new(mux, listener, control, cfg)?;
            on_ready();
            event_loop.run(on_snapshot)
        }
        Protocol::Chat => {
            let mut event_loop = EventLoop::<M, Chat>::new(mux, listener, control, cfg)?;
            on_ready();
            event_loop.run(on_snapshot)
        }
    }
}
