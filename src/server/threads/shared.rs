//! What the calling thread and every connection thread share, and the one
//! rule that keeps stopping safe: a socket is closed only under the
//! registry's lock.

use std::net::Shutdown;
use std::os::fd::{BorrowedFd, RawFd};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use slab::Slab;

use crate::server::config::Config;
use crate::server::room::{Member, Room, Wake};
use crate::server::shards::Shards;
use crate::sys;

/// A connection's registration: its descriptor, to shut it down at stop.
pub(super) struct Entry {
    pub(super) fd: RawFd,
    pub(super) handle: JoinHandle<()>,
}

/// A chat member's wake-up: its writer's condition variable, and its socket.
pub(super) struct CondWake(pub(super) Condvar, pub(super) RawFd);

impl Wake for CondWake {
    fn wake(&self) {
        self.0.notify_one();
    }

    /// Dropped as a slow consumer: its writer may be blocked writing to the
    /// stalled socket, its reader in `read`; shutting the socket down ends
    /// both. The socket is open: the member is still in the room, and its
    /// thread leaves the room before it closes the socket.
    fn dropped(&self) {
        // SAFETY: open, and this member's socket (as said above).
        let _ = sys::shutdown(unsafe { BorrowedFd::borrow_raw(self.1) }, Shutdown::Both);
    }
}

/// What every connection thread shares.
pub(super) struct Shared {
    pub(super) cfg: Config,
    pub(super) shards: Arc<Shards>,
    /// Open connections. A thread closes its socket only while holding this
    /// lock, after removing itself, so the stop path never shuts down a
    /// descriptor number that has been reused.
    pub(super) registry: Mutex<Slab<Entry>>,
    pub(super) room: Room<CondWake>,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A chat member's key in the room, and the member.
pub(super) type Membership = (usize, Arc<Member<CondWake>>);
