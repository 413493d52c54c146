//! io_uring as a readiness multiplexer: `IORING_OP_POLL_ADD` per descriptor.
//!
//! Each registration is a one-shot poll request; when it completes, the
//! descriptor is reported once and its poll is re-armed at the start of the
//! next [`wait`](Multiplexer::wait). A re-armed poll on a descriptor that is
//! still ready completes at once, so a descriptor is reported on every wait
//! while the condition holds: **level-triggered**, like poll(2), but with the
//! interest set kept in the kernel like epoll. (A multishot poll,
//! `IORING_POLL_ADD_MULTI`, would instead post one completion per wake-up of
//! the socket — per arrival, not per state — which behaves like edge trigger
//! without `EPOLLET`'s contract; the loop's drain rule is written for
//! epoll's, so this backend stays level and one-shot.)
//!
//! Interest changes and removals are SQEs, not system calls: every re-arm,
//! change and removal queued since the last wait goes to the kernel with the
//! wait itself, in one `io_uring_enter`. A removal therefore reaches the
//! kernel at the next wait; until then the poll request holds its own
//! reference to the socket, so closing the descriptor right after
//! `deregister` is safe (the socket is released when the removal runs).
//!
//! `user_data` carries the descriptor and a generation number, so completions
//! of a removed or replaced request (including the `-ECANCELED` that a
//! removal produces) are recognised and dropped.
//!
//! One wrinkle: the kernel adds `POLLERR | POLLHUP | POLLRDHUP` to every
//! poll request (`IO_POLL_UNMASK`), and `POLLRDHUP` stays true once the peer
//! has sent FIN. A one-shot poll for *writable* on a half-closed socket with
//! a full send buffer would therefore complete at once on every wait — a busy
//! loop. Completions are masked to what was asked (plus errors and hang-ups);
//! one that leaves nothing is not reported, and that registration waits with
//! a multishot poll instead, which completes only on the socket's next
//! wake-up. The first reportable completion puts it back on one-shot polls.

use std::collections::HashMap;
use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use super::contract::{already_registered, not_registered};
use super::contract::{Event, Events, Interest, Multiplexer, MuxStats, Token};
use crate::backend::Backend;
use crate::sys::uring::{Completion, Ring};

/// `user_data` of poll-remove requests themselves (their completions carry nothing).
const REMOVAL: u64 = u64::MAX;
/// Submission slots; the queue is submitted early if it ever fills.
const RING_ENTRIES: u32 = 4096;

struct Registration {
    token: Token,
    interest: Interest,
    generation: u32,
    /// A poll request with this generation is in the kernel (or queued).
    armed: bool,
    /// That request is multishot (after a completion with nothing to report).
    multishot: bool,
}

/// The io_uring poll backend.
pub struct UringPoll {
    ring: Ring,
    regs: HashMap<RawFd, Registration>,
    /// Descriptors reported by the last wait, to re-arm before the next.
    rearm: Vec<RawFd>,
    /// Descriptors whose poll completed with nothing to report, to arm multishot.
    quiet: Vec<RawFd>,
    next_generation: u32,
    completions: Vec<Completion>,
    stats: MuxStats,
}

fn user_data(fd: RawFd, generation: u32) -> u64 {
    ((fd as u32 as u64) << 32) | generation as u64
}

/// What a completion may report: the interest plus errors and hang-ups
/// (POLLRDHUP only with readable interest, as the epoll backend asks for it).
fn report_mask(interest: Interest) -> i16 {
    poll_mask(interest) as i16 | libc::POLLERR | libc::POLLHUP
}

fn poll_mask(interest: Interest) -> u32 {
    let mut mask = 0;
    if interest.is_readable() {
        // POLLRDHUP with readable only, as the epoll backend does.
        mask |= libc::POLLIN | libc::POLLRDHUP;
    }
    if interest.is_writable() {
        mask |= libc::POLLOUT;
    }
    // POLLERR and POLLHUP are always reported.
    mask as u32
}

impl UringPoll {
    /// A new ring (fails with a clear message where io_uring is unavailable).
    pub fn new() -> io::Result<UringPoll> {
        Ok(UringPoll {
            ring: Ring::new(RING_ENTRIES)?,
            regs: HashMap::new(),
            rearm: Vec::new(),
            quiet: Vec::new(),
            next_generation: 0,
            completions: Vec::new(),
            stats: MuxStats::default(),
        })
    }

    fn arm(&mut self, fd: RawFd, multishot: bool) -> io::Result<()> {
        self.next_generation = self.next_generation.wrapping_add(1);
        let generation = self.next_generation;
        let reg = self.regs.get_mut(&fd).expect("arming a registered fd");
        let mask = poll_mask(reg.interest);
        self.ring
            .poll_add(fd, mask, multishot, user_data(fd, generation))?;
        reg.generation = generation;
        reg.armed = true;
        reg.multishot = multishot;
        Ok(())
    }

    fn disarm(&mut self, fd: RawFd) -> io::Result<()> {
        let reg = self.regs.get_mut(&fd).expect("disarming a registered fd");
        if std::mem::take(&mut reg.armed) {
            let target = user_data(fd, reg.generation);
            self.ring.poll_remove(target, REMOVAL)?;
        }
        Ok(())
    }
}

impl Multiplexer for UringPoll {
    fn backend(&self) -> Backend {
        Backend::UringPoll
    }

    fn max_fd(&self) -> Option<RawFd> {
        None
    }

    fn register(&mut self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        if fd < 0 {
            return Err(io::Error::from_raw_os_error(libc::EBADF));
        }
        if self.regs.contains_key(&fd) {
            return Err(already_registered(fd));
        }
        self.regs.insert(
            fd,
            Registration {
                token,
                interest,
                generation: 0,
                armed: false,
                multishot: false,
            },
        );
        self.arm(fd, false).inspect_err(|_| {
            self.regs.remove(&fd);
        })
    }

    fn reregister(&mut self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        let Some(reg) = self.regs.get_mut(&fd) else {
            return Err(not_registered(fd));
        };
        let same_interest = reg.interest == interest;
        reg.token = token;
        reg.interest = interest;
        if same_interest {
            return Ok(()); // the token is looked up when the completion arrives
        }
        self.disarm(fd)?;
        // If arming fails the registration stays, disarmed, and is re-armed
        // by the next wait.
        self.arm(fd, false).inspect_err(|_| self.rearm.push(fd))
    }

    fn deregister(&mut self, fd: RawFd) -> io::Result<()> {
        if !self.regs.contains_key(&fd) {
            return Err(not_registered(fd));
        }
        // Forgotten even if the removal cannot be queued: the stale request's
        // completions are then dropped by their generation.
        let res = self.disarm(fd);
        self.regs.remove(&fd);
        res
    }

    fn wait(&mut self, events: &mut Events, timeout: Option<Duration>) -> io::Result<usize> {
        events.clear();
        // Level trigger: whatever was reported last time is asked about again.
        let mut rearm = std::mem::take(&mut self.rearm);
        while let Some(fd) = rearm.pop() {
            if self.regs.get(&fd).is_some_and(|r| !r.armed) {
                if let Err(e) = self.arm(fd, false) {
                    rearm.push(fd); // kept for the next wait
                    self.rearm.append(&mut rearm);
                    return Err(e);
                }
            }
        }
        self.rearm = rearm;
        self.stats.wait_calls += 1;
        // (Completions left over from a wait that hit the events capacity make
        // this return at once.)
        self.ring.submit_and_wait(1, timeout)?;
        self.completions.clear();
        self.ring.reap(&mut self.completions, events.capacity());
        for c in &self.completions {
            if c.user_data == REMOVAL {
                continue;
            }
            let fd = (c.user_data >> 32) as u32 as RawFd;
            let generation = c.user_data as u32;
            let Some(reg) = self.regs.get_mut(&fd) else {
                continue; // deregistered since
            };
            if reg.generation != generation || !reg.armed {
                continue; // a replaced request (often its -ECANCELED)
            }
            let m = if c.result < 0 {
                0
            } else {
                c.result as i16 & report_mask(reg.interest)
            };
            if c.result >= 0 && m == 0 {
                // Only what was not asked for (POLLRDHUP): wait for the next
                // wake-up instead of spinning on a one-shot.
                if !reg.multishot || !c.more() {
                    reg.armed = false;
                    self.quiet.push(fd);
                }
                continue;
            }
            if reg.multishot && c.more() {
                // Back to one-shot (level) polls: retire the multishot one.
                let target = user_data(fd, generation);
                self.ring.poll_remove(target, REMOVAL)?;
            }
            reg.armed = false;
            self.rearm.push(fd);
            let mut ev = Event::new(reg.token);
            if c.result < 0 {
                ev.error = true;
            } else {
                ev.readable = m & libc::POLLIN != 0;
                ev.writable = m & libc::POLLOUT != 0;
                ev.read_closed = m & (libc::POLLRDHUP | libc::POLLHUP) != 0;
                ev.hangup = m & libc::POLLHUP != 0;
                ev.error = m & libc::POLLERR != 0;
            }
            events.push(ev);
        }
        for fd in std::mem::take(&mut self.quiet) {
            if self.regs.get(&fd).is_some_and(|r| !r.armed) {
                if let Err(e) = self.arm(fd, true) {
                    self.rearm.push(fd);
                    return Err(e);
                }
            }
        }
        self.stats.events += events.len() as u64;
        self.stats.slots_scanned += self.completions.len() as u64;
        Ok(events.len())
    }

    fn stats(&self) -> MuxStats {
        MuxStats {
            enters: self.ring.enters,
            sqes: self.ring.sqes,
            ..self.stats
        }
    }
}
