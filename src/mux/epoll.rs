//! epoll(7): the interest set lives in the kernel (changed with `epoll_ctl`),
//! and `epoll_wait` returns only the ready descriptors, so a wait costs
//! O(ready), not O(watched). One struct serves both triggers; edge-triggered
//! registrations add `EPOLLET`, translated in one place ([`epoll_flags`]) as
//! smol-rs/polling does.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::contract::{Event, Events, Interest, Multiplexer, MuxStats, Token};
use crate::backend::{Backend, Trigger};
use crate::sys;

/// The epoll backend, level- or edge-triggered.
pub struct Epoll {
    epfd: OwnedFd,
    trigger: Trigger,
    buf: Vec<libc::epoll_event>,
    stats: MuxStats,
}

/// The `events` word for a registration.
fn epoll_flags(interest: Interest, trigger: Trigger) -> u32 {
    let mut flags = 0;
    if interest.is_readable() {
        // EPOLLRDHUP: the peer's FIN is reported as such, so an edge-triggered
        // reader knows it must read on to EOF (see the server's drain rule).
        // Only with readable interest: under level trigger a half-closed peer
        // would otherwise be reported on every wait while reading is paused.
        flags |= libc::EPOLLIN | libc::EPOLLRDHUP;
    }
    if interest.is_writable() {
        flags |= libc::EPOLLOUT;
    }
    if trigger == Trigger::Edge {
        flags |= libc::EPOLLET;
    }
    flags as u32
}

impl Epoll {
    /// A new epoll instance with the given trigger mode.
    pub fn new(trigger: Trigger) -> io::Result<Epoll> {
        Ok(Epoll {
            epfd: sys::epoll_create()?,
            trigger,
            buf: Vec::new(),
            stats: MuxStats::default(),
        })
    }

    /// Like [`Multiplexer::wait`] but with a nanosecond timeout (`epoll_pwait2`),
    /// for the load generator's open-loop schedule; the servers use `wait`.
    pub fn wait_precise(
        &mut self,
        events: &mut Events,
        timeout: Option<Duration>,
    ) -> io::Result<usize> {
        self.wait_with(events, timeout, sys::epoll_wait_precise)
    }

    fn wait_with(
        &mut self,
        events: &mut Events,
        timeout: Option<Duration>,
        call: fn(RawFd, &mut [libc::epoll_event], Option<Duration>) -> io::Result<usize>,
    ) -> io::Result<usize> {
        events.clear();
        if self.buf.len() != events.capacity() {
            self.buf
                .resize(events.capacity(), libc::epoll_event { events: 0, u64: 0 });
        }
        self.stats.wait_calls += 1;
        let n = match call(self.epfd.as_raw_fd(), &mut self.buf, timeout) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(0),
            Err(e) => return Err(e),
        };
        for ev in &self.buf[..n] {
            let bits = ev.events as libc::c_int;
            let hangup = bits & libc::EPOLLHUP != 0;
            let error = bits & libc::EPOLLERR != 0;
            events.push(Event {
                token: Token(ev.u64 as usize),
                readable: bits & libc::EPOLLIN != 0 || hangup || error,
                writable: bits & libc::EPOLLOUT != 0,
                read_closed: bits & libc::EPOLLRDHUP != 0 || hangup,
                hangup,
                error,
            });
        }
        self.stats.slots_scanned += n as u64;
        self.stats.events += n as u64;
        Ok(n)
    }

    fn ctl(
        &mut self,
        op: libc::c_int,
        fd: RawFd,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        self.stats.ctl_calls += 1;
        sys::epoll_ctl(
            self.epfd.as_raw_fd(),
            op,
            fd,
            epoll_flags(interest, self.trigger),
            token.0 as u64,
        )
        .map_err(|e| match e.raw_os_error() {
            Some(libc::EEXIST) => super::contract::already_registered(fd),
            Some(libc::ENOENT) => super::contract::not_registered(fd),
            _ => e,
        })
    }
}

impl Multiplexer for Epoll {
    fn backend(&self) -> Backend {
        match self.trigger {
            Trigger::Level => Backend::EpollLt,
            Trigger::Edge => Backend::EpollEt,
        }
    }

    fn trigger(&self) -> Trigger {
        self.trigger
    }

    fn max_fd(&self) -> Option<RawFd> {
        None
    }

    fn register(&mut self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, token, interest)
    }

    fn reregister(&mut self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, token, interest)
    }

    fn deregister(&mut self, fd: RawFd) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_DEL, fd, Token(0), Interest::NONE)
    }

    fn wait(&mut self, events: &mut Events, timeout: Option<Duration>) -> io::Result<usize> {
        self.wait_with(events, timeout, sys::epoll_wait)
    }

    fn stats(&self) -> MuxStats {
        self.stats
    }

    /// `EPOLLIN | EPOLLEXCLUSIVE` (plus `EPOLLET` under edge trigger; the
    /// kernel refuses `EPOLLRDHUP` with it, which a listener does not need).
    fn register_exclusive(&mut self, fd: RawFd, token: Token) -> io::Result<()> {
        self.stats.ctl_calls += 1;
        let mut flags = (libc::EPOLLIN | libc::EPOLLEXCLUSIVE) as u32;
        if self.trigger == Trigger::Edge {
            flags |= libc::EPOLLET as u32;
        }
        sys::epoll_ctl(
            self.epfd.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            fd,
            flags,
            token.0 as u64,
        )
        .map_err(|e| match e.raw_os_error() {
            Some(libc::EEXIST) => super::contract::already_registered(fd),
            _ => e,
        })
    }
}
