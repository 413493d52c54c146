//! What the loop keeps per connection, and the one rule about its output queue
//! that makes sending from it safe: a chunk the kernel may be reading is never
//! changed.

use std::collections::VecDeque;
use std::net::TcpStream;
use std::rc::Rc;

use crate::sys::uring::{Piece, Target};

/// A piece of pending output.
pub(super) enum Chunk {
    /// Received data still in a provided buffer (echo, sent without a copy).
    Provided(Piece),
    /// Bytes only this connection sends.
    Owned(Vec<u8>),
    /// A chat line shared by every recipient.
    Shared(Rc<[u8]>),
}

pub(super) struct UConn {
    /// What its requests name: its descriptor, or its fixed-file-table slot.
    pub(super) target: Target,
    /// The descriptor's owner (closed on drop); `None` for a table slot,
    /// closed by a ring request instead.
    pub(super) stream: Option<TcpStream>,
    /// Zero-copy send in flight: the message header the kernel reads.
    pub(super) zc_msg: Option<Box<libc::msghdr>>,
    /// Zero-copy send: its result, held until the notification arrives.
    pub(super) zc_result: Option<i32>,
    pub(super) out: VecDeque<Chunk>,
    /// Bytes of the front chunk already sent.
    pub(super) front_off: usize,
    /// Bytes pending, the in-flight send included.
    pub(super) pending: usize,
    /// The in-flight `writev`'s vector: the kernel reads it until the send completes.
    pub(super) iov: Vec<libc::iovec>,
    /// Chunks (from the front) covered by the in-flight send; they must not change.
    pub(super) sending_chunks: usize,
    pub(super) sending: bool,
    pub(super) recv_armed: bool,
    pub(super) recv_multishot: bool,
    /// The multishot receive ends itself once the room it was armed with
    /// has arrived (a bundle's total limit).
    pub(super) recv_limited: bool,
    pub(super) recv_cancelling: bool,
    pub(super) read_eof: bool,
    /// Closed: waiting for its requests to leave the kernel before the slot is freed.
    pub(super) closed: bool,
    /// Chat: unterminated line.
    pub(super) line: Vec<u8>,
    /// Chat: rejected (line too long): input discarded, closed after the error line.
    pub(super) rejected: bool,
    pub(super) write_shut: bool,
    pub(super) discarded: usize,
    /// Waiting for a provided buffer (`ENOBUFS`).
    pub(super) starved: bool,
    /// Not receiving because its output reached the cap (counted once per pause).
    pub(super) paused: bool,
    /// Chat: has new output to send after this batch.
    pub(super) dirty: bool,
}

impl UConn {
    pub(super) fn new(target: Target, stream: Option<TcpStream>) -> UConn {
        UConn {
            target,
            stream,
            zc_msg: None,
            zc_result: None,
            out: VecDeque::new(),
            front_off: 0,
            pending: 0,
            iov: Vec::new(),
            sending_chunks: 0,
            sending: false,
            recv_armed: false,
            recv_multishot: false,
            recv_limited: false,
            recv_cancelling: false,
            read_eof: false,
            closed: false,
            line: Vec::new(),
            rejected: false,
            write_shut: false,
            discarded: 0,
            starved: false,
            paused: false,
            dirty: false,
        }
    }

    /// The number its trace lines show: descriptor or table slot.
    pub(super) fn number(&self) -> String {
        match self.target {
            Target::Fd(fd) => format!("fd {fd}"),
            Target::Fixed(slot) => format!("slot {slot}"),
        }
    }

    /// Requests of this connection in the kernel.
    pub(super) fn in_kernel(&self) -> bool {
        self.recv_armed || self.sending
    }

    /// Queue a copy of `data`, coalescing into the back chunk unless that one
    /// is part of the send in flight (the kernel may be reading it).
    pub(super) fn push_copy(&mut self, data: &[u8]) {
        self.pending += data.len();
        let back = self.out.len();
        if back > self.sending_chunks {
            if let Some(Chunk::Owned(v)) = self.out.back_mut() {
                if v.len() + data.len() <= 64 * 1024 {
                    v.extend_from_slice(data);
                    return;
                }
            }
        }
        self.out.push_back(Chunk::Owned(data.to_vec()));
    }
}
