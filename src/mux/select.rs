//! select(2), as in Redis's `ae_select.c`: master sets kept between calls,
//! copied into scratch sets before every call (select overwrites its arguments),
//! then a scan of `0..=maxfd` to find what is ready.
//!
//! Both costs are the subject of the measurement and are kept honest: the
//! whole interest set crosses into the kernel on every call (textbook claim 2),
//! and the scan after it is O(maxfd), however few descriptors are ready
//! (claim 1). A descriptor `>= FD_SETSIZE` cannot be represented in an
//! `fd_set`; registering one fails instead of corrupting memory.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use super::contract::{Event, Events, Interest, Multiplexer, MuxStats, Token};
use crate::backend::Backend;
use crate::sys::{self, FdSet, FD_SETSIZE};

/// The select(2) backend (level-triggered only).
pub struct Select {
    master_read: FdSet,
    master_write: FdSet,
    scratch_read: FdSet,
    scratch_write: FdSet,
    /// Token per descriptor number; `None` when not registered.
    tokens: Box<[Option<Token>; FD_SETSIZE]>,
    /// Highest registered descriptor, `-1` when none.
    max_fd: RawFd,
    stats: MuxStats,
}

impl Select {
    /// An empty interest set.
    pub fn new() -> io::Result<Select> {
        Ok(Select {
            master_read: FdSet::new(),
            master_write: FdSet::new(),
            scratch_read: FdSet::new(),
            scratch_write: FdSet::new(),
            tokens: Box::new([None; FD_SETSIZE]),
            max_fd: -1,
            stats: MuxStats::default(),
        })
    }

    fn set_interest(&mut self, fd: RawFd, interest: Interest) -> io::Result<()> {
        if interest.is_readable() {
            self.master_read.insert(fd)?;
        } else {
            self.master_read.remove(fd);
        }
        if interest.is_writable() {
            self.master_write.insert(fd)?;
        } else {
            self.master_write.remove(fd);
        }
        Ok(())
    }

    fn slot(&self, fd: RawFd) -> Option<Token> {
        usize::try_from(fd)
            .ok()
            .and_then(|i| self.tokens.get(i).copied().flatten())
    }
}

impl Multiplexer for Select {
    fn backend(&self) -> Backend {
        Backend::Select
    }

    fn max_fd(&self) -> Option<RawFd> {
        Some(FD_SETSIZE as RawFd - 1)
    }

    fn register(&mut self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        // FdSet::insert refuses fd >= FD_SETSIZE before any bit is touched.
        FdSet::new().insert(fd)?;
        if self.slot(fd).is_some() {
            return Err(super::contract::already_registered(fd));
        }
        self.set_interest(fd, interest)?;
        self.tokens[fd as usize] = Some(token);
        self.max_fd = self.max_fd.max(fd);
        Ok(())
    }

    fn reregister(&mut self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        if self.slot(fd).is_none() {
            return Err(super::contract::not_registered(fd));
        }
        self.set_interest(fd, interest)?;
        self.tokens[fd as usize] = Some(token);
        Ok(())
    }

    fn deregister(&mut self, fd: RawFd) -> io::Result<()> {
        if self.slot(fd).is_none() {
            return Err(super::contract::not_registered(fd));
        }
        self.master_read.remove(fd);
        self.master_write.remove(fd);
        self.tokens[fd as usize] = None;
        if fd == self.max_fd {
            // As ae_select does: walk down to the next registered descriptor.
            while self.max_fd >= 0 && self.tokens[self.max_fd as usize].is_none() {
                self.max_fd -= 1;
            }
        }
        Ok(())
    }

    fn wait(&mut self, events: &mut Events, timeout: Option<Duration>) -> io::Result<usize> {
        events.clear();
        self.scratch_read = self.master_read;
        self.scratch_write = self.master_write;
        self.stats.wait_calls += 1;
        let ready = match sys::select(
            self.max_fd + 1,
            &mut self.scratch_read,
            &mut self.scratch_write,
            timeout,
        ) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(0),
            Err(e) => return Err(e),
        };
        if ready == 0 {
            return Ok(0);
        }
        // The O(maxfd) scan: select says how many bits are set, not which.
        // Deliberately not cut short when `ready` bits have been found, so the
        // cost measured is the one every select loop in the wild pays.
        for fd in 0..=self.max_fd {
            let readable = self.scratch_read.contains(fd);
            let writable = self.scratch_write.contains(fd);
            if readable || writable {
                if let Some(token) = self.tokens[fd as usize] {
                    events.push(Event {
                        readable,
                        writable,
                        ..Event::new(token)
                    });
                }
            }
        }
        self.stats.slots_scanned += (self.max_fd + 1) as u64;
        self.stats.events += events.len() as u64;
        Ok(events.len())
    }

    fn stats(&self) -> MuxStats {
        self.stats
    }
}
