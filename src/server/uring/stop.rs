//! Stopping: the kernel may still write into or read from our buffers, so the
//! loop cancels everything and waits for it to let go before any is freed.

use std::time::{Duration, Instant};

use super::ops::{key_of, op_of, user_data, OP_ACCEPT, OP_CANCEL, OP_RECV, OP_SEND};
use super::ring_loop::UringServer;
use crate::sys;

/// How long stopping waits for the kernel to give back buffers still in use.
const STOP_DRAIN: Duration = Duration::from_secs(1);

impl UringServer {
    /// On stop, cancel every request and wait (briefly) for the kernel to
    /// return the buffers it may still write into or read from. If it does not,
    /// leak them rather than free memory the kernel might touch.
    pub(super) fn drain_on_stop(mut self) {
        self.stopping = true;
        self.accept_paused_until = None;
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for key in keys {
            self.close(key, false);
        }
        if self.accept_armed {
            let _ = self
                .ring
                .cancel(user_data(OP_ACCEPT, 0), user_data(OP_CANCEL, 0));
        }
        let deadline = Instant::now() + STOP_DRAIN;
        while !self.conns.is_empty() && Instant::now() < deadline {
            if self
                .ring
                .submit_and_wait(1, Some(Duration::from_millis(50)))
                .is_err()
            {
                break;
            }
            let mut batch = std::mem::take(&mut self.completions);
            batch.clear();
            self.ring.reap(&mut batch, usize::MAX);
            for c in &batch {
                let key = key_of(c.user_data);
                match op_of(c.user_data) {
                    OP_RECV => self.received(key, c),
                    OP_SEND => self.sent(key, c),
                    // A table slot is closed with the ring.
                    OP_ACCEPT if c.result >= 0 && !self.cfg.uring.fixed_files => {
                        // SAFETY: as in `accepted`; dropped at once (closed).
                        drop(unsafe { sys::uring::accepted_stream(c.result) });
                    }
                    _ => {}
                }
            }
        }
        if !self.conns.is_empty() {
            // The kernel still holds requests that name our memory.
            std::mem::forget(self);
        }
    }
}
