//! The one list of backends. Everything that addresses a backend — `--backend`
//! on every command, the child server, sweeps, chaos, reports, tests and
//! benches — iterates [`Backend::ALL`] and names it with [`Backend::name`], so
//! adding a backend is one arm here plus the module that implements it.
//!
//! A backend is a *serving model* ([`Model`]): a readiness multiplexer driven
//! by the generic event loop (`server::EventLoop<M: Multiplexer>`), or a
//! server of its own kind (io_uring's completion loop, a thread per
//! connection, tokio's runtime). The server dispatches on the model once, at
//! start-up; what a model cannot count itself is [`Backend::counted`].

use std::fmt;
use std::str::FromStr;

use clap::builder::PossibleValue;

use crate::mux::Trigger;

/// Every backend muxbench can serve with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Backend {
    /// select(2): portable, O(maxfd) per call, limited to FD_SETSIZE descriptors.
    Select,
    /// poll(2): no FD_SETSIZE limit, still O(n) per call.
    Poll,
    /// epoll(7), level-triggered.
    EpollLt,
    /// epoll(7), edge-triggered (`EPOLLET`).
    EpollEt,
    /// io_uring as a readiness multiplexer (`IORING_OP_POLL_ADD`), in the same event loop.
    UringPoll,
    /// io_uring's completion model: multishot accept and receive into a
    /// provided-buffer ring, sends from owned buffers.
    Uring,
    /// One blocking thread per connection (the textbook's first server).
    Threads,
    /// tokio: what a Rust programmer writes (one task per connection).
    Tokio,
}

/// How a backend serves: the level above the [`Multiplexer`](crate::mux::Multiplexer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    /// Readiness notification driving `server::EventLoop<M>`; the backend is a
    /// [`Multiplexer`](crate::mux::Multiplexer) (`mux::make` builds it).
    Readiness,
    /// Completion notification: the kernel performs the I/O and reports it done
    /// (`server::uring`).
    Completion,
    /// No multiplexer: one blocking thread per connection (`server::threads`).
    Threads,
    /// An async runtime's own reactor (tokio, `server::tokio_rt`): the
    /// server's code never sees a system call.
    Runtime,
}

/// Which of a backend's costs it can count itself. What it cannot count is
/// reported as unknown (an empty cell, "–"), never as zero; `loadgen
/// --count-syscalls` counts system calls from the kernel for every backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted {
    /// Its `reads` + `writes` (+ waits) are every system call it makes to serve.
    pub syscalls: bool,
    /// It has a multiplexer whose waits, events and scanned slots are counted.
    pub mux: bool,
}

impl Backend {
    /// Every backend, in report order (readiness by age, then io_uring).
    pub const ALL: [Backend; 8] = [
        Backend::Select,
        Backend::Poll,
        Backend::EpollLt,
        Backend::EpollEt,
        Backend::UringPoll,
        Backend::Uring,
        Backend::Threads,
        Backend::Tokio,
    ];

    /// The backend's name: the value of `--backend` and the label in every report.
    pub const fn name(self) -> &'static str {
        match self {
            Backend::Select => "select",
            Backend::Poll => "poll",
            Backend::EpollLt => "epoll-lt",
            Backend::EpollEt => "epoll-et",
            Backend::UringPoll => "uring-poll",
            Backend::Uring => "uring",
            Backend::Threads => "threads",
            Backend::Tokio => "tokio",
        }
    }

    /// What the backend demonstrates, for `--help` and the README.
    pub const fn describe(self) -> &'static str {
        match self {
            Backend::Select => "select(2): copies the whole fd_set in and scans 0..=maxfd out on every call; fds < 1024 only",
            Backend::Poll => "poll(2): hands the whole pollfd array over on every call and scans it; no fd limit",
            Backend::EpollLt => "epoll(7) level-triggered: interest set kept in the kernel, returns only ready fds; re-reports while data remains",
            Backend::EpollEt => "epoll(7) edge-triggered: reports once per arrival; the server must drain non-blocking sockets to EAGAIN",
            Backend::UringPoll => "io_uring as a readiness multiplexer: one-shot POLL_ADD re-armed after each report (level-triggered), batched into one io_uring_enter per wait",
            Backend::Uring => "io_uring completions: multishot accept and recv into a provided-buffer ring, sends from owned buffers, one io_uring_enter per loop turn",
            Backend::Threads => "one blocking thread per connection (--stack-size each): read, then write; the kernel's scheduler is the multiplexer",
            Backend::Tokio => "tokio: one task per connection on the current-thread runtime (--threads N: multi-thread); its reactor is epoll, hidden",
        }
    }

    /// The serving model.
    pub const fn model(self) -> Model {
        match self {
            Backend::Uring => Model::Completion,
            Backend::Threads => Model::Threads,
            Backend::Tokio => Model::Runtime,
            _ => Model::Readiness,
        }
    }

    /// What the backend counts itself.
    pub const fn counted(self) -> Counted {
        match self.model() {
            Model::Readiness | Model::Completion => Counted {
                syscalls: true,
                mux: true,
            },
            Model::Threads => Counted {
                syscalls: true,
                mux: false,
            },
            Model::Runtime => Counted {
                syscalls: false,
                mux: false,
            },
        }
    }

    /// The system calls the server made to serve, from its counters' deltas
    /// over a window: waits + reads + writes for a readiness loop (plus
    /// io_uring's extra enters), the enters of the completion loop (receives
    /// and sends are ring requests), reads + writes for blocking threads
    /// (the blocking call is the wait); `None` for a runtime that hides them.
    pub fn syscalls(self, c: &crate::server::Counters, m: &crate::mux::MuxStats) -> Option<u64> {
        match self.model() {
            Model::Readiness => {
                Some(m.wait_calls + c.reads + c.writes + m.enters.saturating_sub(m.wait_calls))
            }
            Model::Completion => Some(m.enters),
            Model::Threads => Some(c.reads + c.writes),
            Model::Runtime => None,
        }
    }

    /// The trigger mode a readiness backend uses (the server's read policy
    /// follows it); completion backends are reported as level (they are told
    /// of every receive, like a level-triggered reader that reads once).
    pub const fn trigger(self) -> Trigger {
        match self {
            Backend::EpollEt => Trigger::Edge,
            _ => Trigger::Level,
        }
    }

    /// Whether the backend needs io_uring from the kernel.
    pub const fn needs_io_uring(self) -> bool {
        matches!(self, Backend::UringPoll | Backend::Uring)
    }

    /// The backends built on a [`Multiplexer`](crate::mux::Multiplexer)
    /// (the conformance suite and the multiplexer benches cover these).
    pub fn multiplexers() -> impl Iterator<Item = Backend> {
        Backend::ALL
            .into_iter()
            .filter(|b| b.model() == Model::Readiness)
    }

    /// Comma-separated names of every backend (defaults of list flags).
    pub fn all_names() -> String {
        Backend::ALL.map(Backend::name).join(",")
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// clap's view of the list: written by hand rather than derived so that the
/// names and help texts come from [`Backend::name`] and [`Backend::describe`]
/// (one place) instead of being repeated in attributes.
impl clap::ValueEnum for Backend {
    fn value_variants<'a>() -> &'a [Self] {
        &Backend::ALL
    }
    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.name()).help(self.describe()))
    }
}

/// An unknown backend name.
#[derive(Debug, thiserror::Error)]
#[error("unknown backend {given:?}; valid backends: {}", Backend::ALL.map(Backend::name).join(", "))]
pub struct UnknownBackend {
    /// The name that was given.
    pub given: String,
}

impl FromStr for Backend {
    type Err = UnknownBackend;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Backend::ALL
            .into_iter()
            .find(|b| b.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownBackend {
                given: s.to_string(),
            })
    }
}
