//! What a server is told: the protocol, the read policy and the [`Config`]
//! every serving model takes.

use super::trace::TraceLevel;

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
    /// per loop turn (see `server::stats_page`).
    pub stats_page: Option<std::path::PathBuf>,
    /// `threads`: stack size of each connection thread, bytes.
    pub stack_size: usize,
    /// `tokio`: worker threads of the multi-thread runtime; 0 = the
    /// current-thread runtime.
    pub runtime_threads: usize,
    /// Register the listener with `EPOLLEXCLUSIVE` (one reactor of several
    /// sharing it: `--accept exclusive`).
    pub accept_exclusive: bool,
    /// `uring`: the io_uring features it uses beyond the plain default.
    pub uring: super::uring_features::UringFeatures,
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
            uring: super::uring_features::UringFeatures::default(),
        }
    }
}

/// `threads`: default stack of a connection thread.
pub const DEFAULT_STACK: usize = 64 * 1024;
