//! Accepting and the control pipe: the two requests that are not a
//! connection's. A multishot accept that ran out of descriptors waits to be
//! re-armed rather than failing in a loop.

use std::io;
use std::os::fd::AsRawFd;
use std::time::Instant;

use super::ops::{user_data, OP_ACCEPT, OP_CANCEL, OP_CONTROL};
use super::ring_loop::UringServer;
use crate::server::control;
use crate::server::counters::{note_accept_pause, Snapshot};
use crate::server::rules::ACCEPT_PAUSE;
use crate::server::serve::LISTEN_BACKLOG;
use crate::sys;
use crate::sys::uring::{Completion, Target};

impl UringServer {
    pub(super) fn arm_accept(&mut self) -> io::Result<()> {
        let fd = self.listener.as_raw_fd();
        let ud = user_data(OP_ACCEPT, 0);
        let Some(slots) = self.slots else {
            self.accept_armed = true;
            return self.ring.accept_multi(fd, false, ud);
        };
        // A direct accept that finds the table full has already taken the
        // connection off the backlog, and the kernel closes it: never let one
        // find the table full. A multishot accept may take the whole backlog
        // in one wake-up, so it is armed only while more slots are free than
        // the backlog holds; below that, one accept at a time; none when no
        // slot is free (accepting resumes when a connection is released).
        let free = slots.free();
        if free == 0 {
            if !self.accept_waits_for_slot {
                // As out of descriptors: a pause, counted and said.
                let full = io::Error::from_raw_os_error(libc::ENFILE);
                note_accept_pause(&mut self.counters, &full);
                self.accept_waits_for_slot = true;
            }
            return Ok(());
        }
        self.accept_armed = true;
        self.accept_multishot = free > LISTEN_BACKLOG as usize;
        if self.accept_multishot {
            self.ring.accept_multi(fd, true, ud)
        } else {
            self.ring.accept_direct_once(fd, ud)
        }
    }

    pub(super) fn arm_control(&mut self) -> io::Result<()> {
        self.control_armed = true;
        let mask = libc::POLLIN as u32;
        self.ring.poll_add(
            self.control.as_raw_fd(),
            mask,
            true,
            user_data(OP_CONTROL, 0),
        )
    }

    pub(super) fn accepted(&mut self, c: &Completion) {
        if !c.more() {
            self.accept_armed = false;
        }
        if c.result >= 0 {
            self.counters.accepts += 1;
            if let Some(slots) = &mut self.slots {
                slots.used += 1;
                if self.accept_armed
                    && self.accept_multishot
                    && slots.free() <= LISTEN_BACKLOG as usize
                {
                    // Fewer free slots than a backlog: one accept at a time from here.
                    let _ = self
                        .ring
                        .cancel(user_data(OP_ACCEPT, 0), user_data(OP_CANCEL, 0));
                    self.accept_multishot = false;
                }
                // A slot of the fixed file table: no descriptor exists.
                self.add_conn(Target::Fixed(c.result as u32), None);
            } else {
                // SAFETY: a successful accept completion's result is a new
                // descriptor that only this completion hands out.
                let stream = unsafe { sys::uring::accepted_stream(c.result) };
                self.add_conn(Target::Fd(c.result), Some(stream));
            }
        } else {
            let e = io::Error::from_raw_os_error(-c.result);
            match -c.result {
                libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM => {
                    self.pause_accepting(&e);
                    return;
                }
                libc::EINTR | libc::ECONNABORTED | libc::ECANCELED => {}
                _ => {
                    if self.counters.errors == 0 {
                        eprintln!("muxserver: accept: {e} (counted as errors)");
                    }
                    self.counters.errors += 1;
                    if !c.more() {
                        // Re-arming at once could fail the same way forever
                        // (a broken listener): wait as after EMFILE.
                        self.accept_paused_until = Some(Instant::now() + ACCEPT_PAUSE);
                        return;
                    }
                }
            }
        }
        if !self.accept_armed && self.accept_paused_until.is_none() && !self.stop {
            self.rearm_accept();
        }
    }

    fn rearm_accept(&mut self) {
        if let Err(e) = self.arm_accept() {
            self.counters.errors += 1;
            eprintln!("muxserver: re-arming accept: {e}");
        }
    }

    /// Out of descriptors: the multishot accept has ended; it is re-armed when
    /// a connection closes or after `ACCEPT_PAUSE`, so a full backlog cannot
    /// turn into a loop of failing accepts.
    fn pause_accepting(&mut self, e: &io::Error) {
        note_accept_pause(&mut self.counters, e);
        self.accept_paused_until = Some(Instant::now() + ACCEPT_PAUSE);
        if self.accept_armed {
            // A multishot accept that failed with F_MORE set would still be armed.
            let _ = self
                .ring
                .cancel(user_data(OP_ACCEPT, 0), user_data(OP_CANCEL, 0));
        }
    }

    pub(super) fn maybe_resume_accepting(&mut self) {
        if let Some(until) = self.accept_paused_until {
            if Instant::now() >= until {
                self.resume_accepting();
            }
        }
    }

    pub(super) fn resume_accepting(&mut self) {
        if self.stopping {
            return;
        }
        if std::mem::take(&mut self.accept_waits_for_slot) && !self.accept_armed {
            self.rearm_accept();
        }
        if self.accept_paused_until.take().is_some() && !self.accept_armed {
            self.rearm_accept();
        }
    }

    pub(super) fn control_ready(
        &mut self,
        c: &Completion,
        on_snapshot: &mut impl FnMut(&Snapshot),
    ) {
        if !c.more() {
            self.control_armed = false;
        }
        let cmds = control::drain(&mut self.control);
        for _ in 0..cmds.snapshots {
            on_snapshot(&self.snapshot("snapshot"));
        }
        self.stop |= cmds.stop;
        if !self.control_armed && !self.stop {
            if let Err(e) = self.arm_control() {
                self.counters.errors += 1;
                eprintln!("muxserver: re-arming the control pipe: {e}");
            }
        }
    }
}
