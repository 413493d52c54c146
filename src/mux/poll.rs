//! poll(2): the interest set is a `Vec<pollfd>` handed to the kernel, all of
//! it, on every call, and scanned, all of it, afterwards. No FD_SETSIZE limit,
//! but the same O(n) per call as select.
//!
//! Removal is O(1): `index_of[fd]` locates the entry, which is swap-removed, and
//! the entry moved into its place has its index updated.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use super::contract::{Event, Events, Interest, Multiplexer, MuxStats, Token};
use crate::backend::Backend;
use crate::sys;

const NO_INDEX: u32 = u32::MAX;

/// The poll(2) backend (level-triggered only).
pub struct Poll {
    fds: Vec<libc::pollfd>,
    /// Token of `fds[i]`.
    tokens: Vec<Token>,
    /// Position in `fds` per descriptor number, `NO_INDEX` when absent.
    index_of: Vec<u32>,
    stats: MuxStats,
}

fn poll_events(interest: Interest) -> libc::c_short {
    let mut ev = 0;
    if interest.is_readable() {
        // POLLRDHUP reports the peer's FIN even when no data is left, which
        // lets the server tell a half-close apart (Linux-specific).
        ev |= libc::POLLIN | libc::POLLRDHUP;
    }
    if interest.is_writable() {
        ev |= libc::POLLOUT;
    }
    ev
}

impl Poll {
    /// An empty interest set.
    pub fn new() -> io::Result<Poll> {
        Ok(Poll {
            fds: Vec::new(),
            tokens: Vec::new(),
            index_of: Vec::new(),
            stats: MuxStats::default(),
        })
    }

    fn index(&self, fd: RawFd) -> Option<usize> {
        let i = *self.index_of.get(usize::try_from(fd).ok()?)?;
        (i != NO_INDEX).then_some(i as usize)
    }
}

impl Multiplexer for Poll {
    fn backend(&self) -> Backend {
        Backend::Poll
    }

    fn max_fd(&self) -> Option<RawFd> {
        None
    }

    fn register(&mut self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        let slot = usize::try_from(fd)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("invalid fd {fd}")))?;
        if self.index(fd).is_some() {
            return Err(super::contract::already_registered(fd));
        }
        if self.index_of.len() <= slot {
            self.index_of.resize(slot + 1, NO_INDEX);
        }
        self.index_of[slot] = self.fds.len() as u32;
        self.fds.push(libc::pollfd {
            fd,
            events: poll_events(interest),
            revents: 0,
        });
        self.tokens.push(token);
        Ok(())
    }

    fn reregister(&mut self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        let i = self
            .index(fd)
            .ok_or_else(|| super::contract::not_registered(fd))?;
        self.fds[i].events = poll_events(interest);
        self.tokens[i] = token;
        Ok(())
    }

    fn deregister(&mut self, fd: RawFd) -> io::Result<()> {
        let i = self
            .index(fd)
            .ok_or_else(|| super::contract::not_registered(fd))?;
        self.fds.swap_remove(i);
        self.tokens.swap_remove(i);
        self.index_of[fd as usize] = NO_INDEX;
        if let Some(moved) = self.fds.get(i) {
            self.index_of[moved.fd as usize] = i as u32;
        }
        Ok(())
    }

    fn wait(&mut self, events: &mut Events, timeout: Option<Duration>) -> io::Result<usize> {
        events.clear();
        self.stats.wait_calls += 1;
        let ready = match sys::poll(&mut self.fds, timeout) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(0),
            Err(e) => return Err(e),
        };
        if ready == 0 {
            return Ok(0);
        }
        // The O(n) scan: poll returns a count, not a list.
        for (pfd, &token) in self.fds.iter().zip(&self.tokens) {
            let r = pfd.revents;
            if r != 0 {
                events.push(Event {
                    token,
                    readable: r & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0,
                    writable: r & libc::POLLOUT != 0,
                    read_closed: r & (libc::POLLRDHUP | libc::POLLHUP) != 0,
                    hangup: r & libc::POLLHUP != 0,
                    // POLLNVAL: the fd was closed while registered (a caller bug); report it
                    // as an error rather than drop it, so it cannot spin unseen.
                    error: r & (libc::POLLERR | libc::POLLNVAL) != 0,
                });
            }
        }
        self.stats.slots_scanned += self.fds.len() as u64;
        self.stats.events += events.len() as u64;
        Ok(events.len())
    }

    fn stats(&self) -> MuxStats {
        self.stats
    }
}
