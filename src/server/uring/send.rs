//! Sending: one `writev` in flight per connection, straight from its queue,
//! so output stays in order and the memory the kernel reads stays put.

use std::collections::VecDeque;

use super::conn::Chunk;
use super::ops::{user_data, OP_SEND};
use super::ring_loop::UringServer;
use crate::server::rules::IOV_MAX;
use crate::sys::uring::Completion;

impl UringServer {
    /// Submit one `writev` of the queued chunks if none is in flight.
    pub(super) fn start_send(&mut self, key: usize) {
        let conn = &mut self.conns[key];
        if conn.sending || conn.closed || conn.pending == 0 {
            return;
        }
        conn.iov.clear();
        for (i, chunk) in conn.out.iter().take(IOV_MAX).enumerate() {
            let bytes: &[u8] = match chunk {
                Chunk::Provided(p) => self.bufs.data(*p),
                Chunk::Owned(v) => v,
                Chunk::Shared(r) => r,
            };
            let bytes = if i == 0 {
                &bytes[conn.front_off..]
            } else {
                bytes
            };
            conn.iov.push(libc::iovec {
                iov_base: bytes.as_ptr() as *mut libc::c_void,
                iov_len: bytes.len(),
            });
        }
        conn.sending_chunks = conn.iov.len();
        let target = conn.target;
        let zero_copy = self
            .cfg
            .uring
            .zc_send
            .is_some_and(|min| conn.iov.iter().map(|v| v.iov_len).sum::<usize>() >= min);
        // SAFETY: the vector lives in `conn.iov` and the chunks it points to in
        // `conn.out` (heap data that does not move with the deque); neither is
        // changed or freed while `sending` is set — `push_copy` never appends
        // into an in-flight chunk, provided buffers are recycled only after
        // their send completed (a zero-copy send: after its notification),
        // and a closed connection keeps its slot until the send's completion
        // arrives (or, on stop, the buffers are leaked if the kernel does not
        // give them back). The zero-copy message header is boxed in
        // `conn.zc_msg`, which is replaced only by the next send.
        let res = if zero_copy {
            // SAFETY: an all-zero msghdr is valid (no name, no control data).
            let mut msg: Box<libc::msghdr> = Box::new(unsafe { std::mem::zeroed() });
            msg.msg_iov = conn.iov.as_mut_ptr();
            msg.msg_iovlen = conn.iov.len();
            let ptr: *const libc::msghdr = &*msg;
            conn.zc_msg = Some(msg);
            conn.zc_result = None;
            // SAFETY: as above; `msg` lives in `conn.zc_msg` until the notification.
            unsafe { self.ring.sendmsg_zc(target, ptr, user_data(OP_SEND, key)) }
        } else {
            // SAFETY: as above.
            unsafe { self.ring.writev(target, &conn.iov, user_data(OP_SEND, key)) }
        };
        self.counters.writes += 1;
        match res {
            Ok(()) => conn.sending = true,
            Err(e) => {
                conn.sending_chunks = 0;
                self.counters.errors += 1;
                eprintln!("muxserver: submitting a send: {e}");
                self.close(key, false);
            }
        }
    }

    pub(super) fn sent(&mut self, key: usize, c: &Completion) {
        let conn = &mut self.conns[key];
        // A zero-copy send completes twice: its result (`F_MORE`: a
        // notification follows), then the notification, after which the
        // kernel no longer reads the buffers. The result waits for it.
        let mut c = *c;
        if c.notif() {
            self.counters_notifs += 1;
            c.result = conn.zc_result.take().unwrap_or(0);
        } else if c.more() {
            conn.zc_result = Some(c.result);
            return;
        }
        conn.zc_msg = None;
        let c = &c;
        conn.sending = false;
        let offered: usize = conn.iov.iter().map(|v| v.iov_len).sum();
        conn.sending_chunks = 0;
        if conn.closed {
            // Bytes a send delivered before its connection was closed reached the client.
            if c.result > 0 {
                self.counters.bytes_out += c.result as u64;
            }
            self.maybe_release(key);
            return;
        }
        if c.result < 0 {
            match -c.result {
                libc::ECONNRESET | libc::EPIPE | libc::ETIMEDOUT => self.close(key, true),
                libc::ECANCELED => self.close(key, false),
                _ => {
                    self.counters.errors += 1;
                    self.close(key, false);
                }
            }
            return;
        }
        let n = c.result as usize;
        self.counters.bytes_out += n as u64;
        if n < offered {
            self.counters.partial_writes += 1;
        }
        self.advance(key, n);
        self.start_send(key);
        self.settle(key);
    }

    /// Drop `n` sent bytes from the front of the queue, recycling provided buffers.
    fn advance(&mut self, key: usize, mut n: usize) {
        let conn = &mut self.conns[key];
        conn.pending -= n;
        while n > 0 {
            let len = match &conn.out[0] {
                Chunk::Provided(p) => p.len,
                Chunk::Owned(v) => v.len(),
                Chunk::Shared(r) => r.len(),
            };
            let left = len - conn.front_off;
            if n >= left {
                n -= left;
                conn.front_off = 0;
                if let Some(Chunk::Provided(p)) = conn.out.pop_front() {
                    self.bufs.release(p.bid);
                }
            } else {
                conn.front_off += n;
                n = 0;
                // The socket is full: the rest may wait long. Move what is
                // queued out of the ring (no send is in flight now), so no
                // provided buffer is pinned meanwhile — a bundle's pieces
                // included.
                for (i, chunk) in conn.out.iter_mut().enumerate() {
                    if let Chunk::Provided(p) = *chunk {
                        // The front's sent part is dropped with the copy.
                        let from = if i == 0 {
                            std::mem::take(&mut conn.front_off)
                        } else {
                            0
                        };
                        *chunk = Chunk::Owned(self.bufs.data(p)[from..].to_vec());
                        self.bufs.release(p.bid);
                    }
                }
            }
        }
        if conn.out.is_empty() {
            conn.out = VecDeque::new(); // an idle connection holds no allocation
            conn.iov = Vec::new();
        }
    }
}
