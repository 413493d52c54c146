//! The contract every readiness backend implements: [`Multiplexer`], the
//! [`Token`] / [`Interest`] / [`Event`] it speaks in and the [`MuxStats`] it
//! counts (the [`Trigger`] it reports with is a fact of its [`Backend`]). The backends import this file
//! only; `mux/mod.rs` is the facade the rest of the crate uses.

use std::fmt;
use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use crate::backend::{Backend, Trigger};

/// Identifies a registration; the server uses it as an index into its connection table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(pub usize);

/// Which readiness a registration asks for: a small bitset.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Interest(u8);

impl Interest {
    /// Nothing: the descriptor stays registered but only errors/hang-ups are reported (epoll, poll).
    pub const NONE: Interest = Interest(0);
    /// Readable (data, EOF or a pending connection on a listener).
    pub const READABLE: Interest = Interest(1);
    /// Writable (room in the send buffer).
    pub const WRITABLE: Interest = Interest(2);
    /// Both.
    pub const BOTH: Interest = Interest(3);

    /// Union of two interests.
    pub const fn add(self, other: Interest) -> Interest {
        Interest(self.0 | other.0)
    }
    /// `self` without `other`.
    pub const fn remove(self, other: Interest) -> Interest {
        Interest(self.0 & !other.0)
    }
    /// Includes readable.
    pub const fn is_readable(self) -> bool {
        self.0 & 1 != 0
    }
    /// Includes writable.
    pub const fn is_writable(self) -> bool {
        self.0 & 2 != 0
    }
}

impl fmt::Debug for Interest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.is_readable(), self.is_writable()) {
            (false, false) => f.write_str("NONE"),
            (true, false) => f.write_str("READABLE"),
            (false, true) => f.write_str("WRITABLE"),
            (true, true) => f.write_str("READABLE | WRITABLE"),
        }
    }
}

/// One readiness report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// The registration's token.
    pub token: Token,
    /// Data, EOF, or a pending connection can be read without blocking.
    pub readable: bool,
    /// The send buffer has room.
    pub writable: bool,
    /// The peer shut down its sending side (`EPOLLRDHUP`/`POLLRDHUP`), or the
    /// connection hung up. select(2) cannot tell; it reports such a descriptor as
    /// readable and `read` returns 0.
    pub read_closed: bool,
    /// Both directions are closed (`EPOLLHUP`/`POLLHUP`); never set by select.
    pub hangup: bool,
    /// An error is pending on the socket (`EPOLLERR`/`POLLERR`); never set by select.
    pub error: bool,
}

impl Event {
    /// An event with only the token set.
    pub const fn new(token: Token) -> Event {
        Event {
            token,
            readable: false,
            writable: false,
            read_closed: false,
            hangup: false,
            error: false,
        }
    }
}

/// A reusable buffer of events filled by [`Multiplexer::wait`].
#[derive(Debug)]
pub struct Events {
    list: Vec<Event>,
    capacity: usize,
}

impl Events {
    /// Room for `capacity` events per wait. epoll returns at most this many per
    /// call (the rest stay queued); select and poll report every ready
    /// descriptor, growing the buffer if needed, since they have no queue to leave
    /// the rest in.
    pub fn with_capacity(capacity: usize) -> Events {
        let capacity = capacity.max(1);
        Events {
            list: Vec::with_capacity(capacity),
            capacity,
        }
    }
    /// The per-wait maximum for backends that honour one.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
    /// Events from the last wait.
    pub fn iter(&self) -> std::slice::Iter<'_, Event> {
        self.list.iter()
    }
    /// Number of events from the last wait.
    pub fn len(&self) -> usize {
        self.list.len()
    }
    /// No events.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
    /// Forget the events (backends call it at the start of a wait).
    pub fn clear(&mut self) {
        self.list.clear();
    }
    /// Append one (backends only).
    pub fn push(&mut self, event: Event) {
        self.list.push(event);
    }
}

impl<'a> IntoIterator for &'a Events {
    type Item = &'a Event;
    type IntoIter = std::slice::Iter<'a, Event>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// What a backend counts about itself: the costs that differ between mechanisms.
/// Only `u64` fields, `repr(C)`: the server's counters page copies it as words.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    bytemuck::Pod,
    bytemuck::Zeroable,
)]
#[repr(C)]
pub struct MuxStats {
    /// Calls to select / poll / epoll_wait.
    pub wait_calls: u64,
    /// Events returned by those calls.
    pub events: u64,
    /// Descriptor slots the backend examined after its waits: select scans
    /// `0..=maxfd`, poll every `pollfd`, epoll only the returned events. This is
    /// the O(n)-versus-O(ready) cost of textbook claim 1, counted.
    pub slots_scanned: u64,
    /// Kernel calls made to change the interest set (epoll_ctl); select and poll
    /// edit user-space state instead and hand it all over on every wait.
    pub ctl_calls: u64,
    /// io_uring backends: `io_uring_enter` calls (each wait is one; a full
    /// submission queue adds more). Zero for the others.
    #[serde(default)]
    pub enters: u64,
    /// io_uring backends: submission queue entries queued (poll arms,
    /// removals, receives, sends, cancels). Zero for the others.
    #[serde(default)]
    pub sqes: u64,
    /// io_uring zero-copy sends: notifications reaped (each says the kernel let
    /// go of a send's pages; a second completion per send).
    #[serde(default)]
    pub notifs: u64,
    /// io_uring completion server: provided buffers given back to the
    /// kernel (one per receive, unless bundles or incremental consumption
    /// make a buffer serve several).
    #[serde(default)]
    pub bufs_returned: u64,
}

impl MuxStats {
    /// Add another reactor's counts.
    pub fn merge(&mut self, other: &MuxStats) {
        let ws: &mut [u64] = bytemuck::cast_slice_mut(std::slice::from_mut(self));
        let os: &[u64] = bytemuck::cast_slice(std::slice::from_ref(other));
        for (w, o) in ws.iter_mut().zip(os) {
            *w += *o;
        }
    }

    /// The counts over a window ending with `self` and starting with `earlier`.
    pub fn since(&self, earlier: &MuxStats) -> MuxStats {
        let mut d = *self;
        let ws: &mut [u64] = bytemuck::cast_slice_mut(std::slice::from_mut(&mut d));
        let es: &[u64] = bytemuck::cast_slice(std::slice::from_ref(earlier));
        for (w, e) in ws.iter_mut().zip(es) {
            *w = w.saturating_sub(*e);
        }
        d
    }
}

/// A readiness-notification mechanism. See the module docs for the contract.
pub trait Multiplexer {
    /// The backend this multiplexer is.
    fn backend(&self) -> Backend;
    /// The label used in every report: the backend's name.
    fn name(&self) -> &'static str {
        self.backend().name()
    }
    /// The trigger mode; the server's read policy follows it.
    fn trigger(&self) -> Trigger {
        self.backend().trigger()
    }
    /// The highest descriptor the backend can watch, if limited (select: FD_SETSIZE − 1).
    fn max_fd(&self) -> Option<RawFd>;
    /// Start watching `fd`.
    fn register(&mut self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()>;
    /// Change the token or interest of a registered `fd`.
    fn reregister(&mut self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()>;
    /// Stop watching `fd`. Call it before closing the descriptor.
    fn deregister(&mut self, fd: RawFd) -> io::Result<()>;
    /// Wait for readiness, up to `timeout` (`None`: forever). Returns the number
    /// of events placed in `events`; `Ok(0)` on timeout or `EINTR`.
    fn wait(&mut self, events: &mut Events, timeout: Option<Duration>) -> io::Result<usize>;
    /// Counters kept by the backend.
    fn stats(&self) -> MuxStats;
    /// Watch a listening socket that other multiplexers (other reactors)
    /// watch too, such that one arrival wakes one of them, not all
    /// (`EPOLLEXCLUSIVE`). Only epoll can; the others say so.
    fn register_exclusive(&mut self, fd: RawFd, _token: Token) -> io::Result<()> {
        let _ = fd;
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!(
                "{} cannot wake one waiter of several (EPOLLEXCLUSIVE is epoll's)",
                self.name()
            ),
        ))
    }
}

/// The error every backend returns for a second registration of one fd.
pub(crate) fn already_registered(fd: RawFd) -> io::Error {
    io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("fd {fd} is already registered"),
    )
}

/// The error every backend returns for re-/deregistering an unknown fd.
pub(crate) fn not_registered(fd: RawFd) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("fd {fd} is not registered"),
    )
}
