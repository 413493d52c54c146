//! The one list of backends. Everything that addresses a backend — `--backend`
//! on every command, the child server, sweeps, chaos, reports, tests and
//! benches — comes from the table in [`for_each_backend!`](crate::for_each_backend): the enum, its
//! order ([`Backend::ALL`]), names, descriptions, serving models, and the
//! per-backend tests (`tests/common` expands one test per row). Adding a
//! backend is one row there plus the module that implements it (and, for a
//! readiness multiplexer, its arm in `mux::with_multiplexer!`).
//!
//! A backend is a *serving model* ([`Model`]): a readiness multiplexer driven
//! by the generic event loop (`server::EventLoop<M: Multiplexer>`), or a
//! server of its own kind (io_uring's completion loop, a thread per
//! connection, tokio's runtime). The server dispatches on the model once, at
//! start-up; what a model cannot count itself is [`Backend::counted`]. What
//! differs between backends beyond that is asked of the enum (capability
//! queries such as [`Backend::scans_set`]), never matched on a name string.

use std::fmt;
use std::str::FromStr;

use clap::builder::PossibleValue;

/// The table of backends, in report order (readiness by age, then io_uring,
/// then the models without a multiplexer of their own). Each row: the doc of
/// the enum variant, the variant, the name of its tests, its `--backend`
/// name, its serving model, and what it demonstrates (for `--help`).
///
/// `for_each_backend!(callback! { args })` expands to `callback! { { args }
/// rows… }`: the enum below is one such expansion, the test suites'
/// `per_backend!` another.
#[macro_export]
macro_rules! for_each_backend {
    ($callback:ident ! { $($args:tt)* }) => {
        $callback! { { $($args)* }
            /// select(2): portable, O(maxfd) per call, limited to FD_SETSIZE descriptors.
            Select select "select" Readiness
                "select(2): copies the whole fd_set in and scans 0..=maxfd out on every call; fds < 1024 only";
            /// poll(2): no FD_SETSIZE limit, still O(n) per call.
            Poll poll "poll" Readiness
                "poll(2): hands the whole pollfd array over on every call and scans it; no fd limit";
            /// epoll(7), level-triggered.
            EpollLt epoll_lt "epoll-lt" Readiness
                "epoll(7) level-triggered: interest set kept in the kernel, returns only ready fds; re-reports while data remains";
            /// epoll(7), edge-triggered (`EPOLLET`).
            EpollEt epoll_et "epoll-et" Readiness
                "epoll(7) edge-triggered: reports once per arrival; the server must drain non-blocking sockets to EAGAIN";
            /// io_uring as a readiness multiplexer (`IORING_OP_POLL_ADD`), in the same event loop.
            UringPoll uring_poll "uring-poll" Readiness
                "io_uring as a readiness multiplexer: one-shot POLL_ADD re-armed after each report (level-triggered), batched into one io_uring_enter per wait";
            /// io_uring's completion model: multishot accept and receive into a
            /// provided-buffer ring, sends from owned buffers.
            Uring uring "uring" Completion
                "io_uring completions: multishot accept and recv into a provided-buffer ring, sends from owned buffers, one io_uring_enter per loop turn";
            /// One blocking thread per connection (the textbook's first server).
            Threads threads "threads" Threads
                "one blocking thread per connection (--stack-size each): read, then write; the kernel's scheduler is the multiplexer";
            /// tokio: what a Rust programmer writes (one task per connection).
            Tokio tokio "tokio" Runtime
                "tokio: one task per connection on the current-thread runtime (--threads N: multi-thread); its reactor is epoll, hidden";
        }
    };
}

/// Expands the table into the enum and the facts every row carries.
macro_rules! define_backends {
    ({} $( $(#[$doc:meta])* $variant:ident $test:ident $name:literal $model:ident $describe:literal; )*) => {
        /// Every backend muxbench can serve with.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Backend {
            $( $(#[$doc])* $variant, )*
        }

        impl Backend {
            /// Every backend, in report order.
            pub const ALL: [Backend; [$($name),*].len()] = [$(Backend::$variant),*];

            /// The backend's name: the value of `--backend` and the label in every report.
            pub const fn name(self) -> &'static str {
                match self {
                    $( Backend::$variant => $name, )*
                }
            }

            /// What the backend demonstrates, for `--help` and the README.
            pub const fn describe(self) -> &'static str {
                match self {
                    $( Backend::$variant => $describe, )*
                }
            }

            /// The serving model.
            pub const fn model(self) -> Model {
                match self {
                    $( Backend::$variant => Model::$model, )*
                }
            }
        }
    };
}

for_each_backend!(define_backends! {});

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

/// How readiness is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Reported on every wait while the condition holds (select, poll, epoll default).
    Level,
    /// Reported once per change (`EPOLLET`); the caller must drain.
    Edge,
}

impl Backend {
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

    /// The trigger mode a readiness backend uses (the server's read policy
    /// follows it); completion backends are reported as level (they are told
    /// of every receive, like a level-triggered reader that reads once).
    pub const fn trigger(self) -> Trigger {
        match self {
            Backend::EpollEt => Trigger::Edge,
            _ => Trigger::Level,
        }
    }

    /// Whether its multiplexer scans the whole set it was handed on every wait
    /// (select's fd_set up to maxfd, poll's array): its wait cost grows with
    /// the connections, ready or not, and `--trace` shows the slots scanned.
    pub const fn scans_set(self) -> bool {
        matches!(self, Backend::Select | Backend::Poll)
    }

    /// Whether several reactors can each watch one listener such that an
    /// arrival wakes one of them (`EPOLLEXCLUSIVE`; `--accept exclusive`).
    pub const fn wakes_one_waiter(self) -> bool {
        matches!(self, Backend::EpollLt | Backend::EpollEt)
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

    /// The table, in report order, as `loadgen backends --json` prints it
    /// (scripts/plot.py reads its order and names from there).
    pub fn table_json() -> serde_json::Value {
        Backend::ALL
            .iter()
            .map(|b| {
                serde_json::json!({
                    "name": b.name(),
                    "model": format!("{:?}", b.model()).to_lowercase(),
                    "trigger": format!("{:?}", b.trigger()).to_lowercase(),
                    "needs_io_uring": b.needs_io_uring(),
                    "scans_set": b.scans_set(),
                    "describe": b.describe(),
                })
            })
            .collect()
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
