//! Per-connection state and its output queue.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
use std::net::TcpStream;
use std::rc::Rc;

use super::rules::IOV_MAX;
use crate::mux::Interest;

/// Largest chunk the echo path grows in place before starting a new one.
const OWNED_CHUNK_MAX: usize = 64 * 1024;

/// A piece of pending output.
enum Chunk {
    /// Bytes only this connection sends (echo): grown in place while it is the
    /// back of the queue and not yet being written.
    Owned(Vec<u8>),
    /// A broadcast line shared by every recipient (chat): one allocation per
    /// line, however many connections it goes to.
    Shared(Rc<[u8]>),
}

impl Chunk {
    fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Owned(v) => v,
            Chunk::Shared(r) => r,
        }
    }
}

/// Pending output: a queue of chunks. An empty queue holds no allocation, so
/// an idle connection costs no buffer.
#[derive(Default)]
pub struct OutQueue {
    chunks: VecDeque<Chunk>,
    /// Bytes of the front chunk already written.
    front_off: usize,
    /// Bytes pending in all.
    bytes: usize,
}

impl OutQueue {
    /// Bytes pending.
    pub fn len(&self) -> usize {
        self.bytes
    }

    /// Append a copy of `data` (echo). Coalesces into the back chunk when that
    /// chunk is not partly written, so a slowly drained queue never keeps a
    /// sent prefix alive: memory stays within the cap plus one chunk.
    pub fn push_copy(&mut self, data: &[u8]) {
        self.bytes += data.len();
        let writing_back = self.chunks.len() == 1 && self.front_off > 0;
        if let Some(Chunk::Owned(v)) = self.chunks.back_mut() {
            if !writing_back && v.len() + data.len() <= OWNED_CHUNK_MAX {
                v.extend_from_slice(data);
                return;
            }
        }
        self.chunks.push_back(Chunk::Owned(data.to_vec()));
    }

    /// Append a shared line (chat).
    pub fn push_shared(&mut self, line: Rc<[u8]>) {
        self.bytes += line.len();
        self.chunks.push_back(Chunk::Shared(line));
    }

    /// One `writev` of (up to 64 of) the pending chunks. Returns the bytes
    /// written and whether the socket took everything offered: if it did and
    /// output is still pending, the caller must write again — the socket is
    /// still writable, so an edge-triggered backend will not report it again.
    pub fn write_to(&mut self, stream: &mut TcpStream) -> io::Result<(usize, bool)> {
        let mut slices: [IoSlice<'_>; IOV_MAX] = [IoSlice::new(&[]); IOV_MAX];
        let mut n = 0;
        let mut offered = 0;
        for (i, c) in self.chunks.iter().take(IOV_MAX).enumerate() {
            let b = c.bytes();
            let b = if i == 0 { &b[self.front_off..] } else { b };
            slices[i] = IoSlice::new(b);
            offered += b.len();
            n += 1;
        }
        let written = stream.write_vectored(&slices[..n])?;
        self.advance(written);
        Ok((written, written == offered))
    }

    fn advance(&mut self, mut n: usize) {
        self.bytes -= n;
        while n > 0 {
            let front_left = self.chunks[0].bytes().len() - self.front_off;
            if n >= front_left {
                n -= front_left;
                self.chunks.pop_front();
                self.front_off = 0;
            } else {
                self.front_off += n;
                n = 0;
            }
        }
        if self.chunks.is_empty() {
            // Free the ring too: an idle connection holds no buffer.
            self.chunks = VecDeque::new();
        }
    }
}

/// Per-connection state: the loop's, and the protocol's (`proto`). No buffer
/// unless output (or a partial chat line) is pending.
pub struct Conn<S> {
    /// The socket.
    pub stream: TcpStream,
    /// Output not yet written.
    pub out: OutQueue,
    /// The interest currently registered.
    pub interest: Interest,
    /// `read` returned 0: the peer will send nothing more.
    pub read_eof: bool,
    /// The peer's FIN was reported (`read_closed`): drain to EOF, no shortcut.
    pub fin_seen: bool,
    /// On the revisit list (edge trigger only).
    pub revisit: bool,
    /// The protocol's state (nothing for echo).
    pub proto: S,
}

impl<S: Default> Conn<S> {
    /// A new connection, reading.
    pub fn new(stream: TcpStream) -> Conn<S> {
        Conn {
            stream,
            out: OutQueue::default(),
            interest: Interest::READABLE,
            read_eof: false,
            fin_seen: false,
            revisit: false,
            proto: S::default(),
        }
    }

    /// Bytes of output pending.
    pub fn pending(&self) -> usize {
        self.out.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn queue_writes_in_order_and_frees_when_empty() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut b, _) = l.accept().unwrap();
        let mut q = OutQueue::default();
        q.push_copy(b"he");
        q.push_copy(b"llo ");
        let shared: Rc<[u8]> = Rc::from(&b"world\n"[..]);
        q.push_shared(shared.clone());
        q.push_copy(b"!");
        assert_eq!(q.len(), 13);
        // Two owned pieces coalesced, then the shared line, then a new owned chunk.
        assert_eq!(q.chunks.len(), 3);
        assert_eq!(Rc::strong_count(&shared), 2);
        let (n, all) = q.write_to(&mut a).unwrap();
        assert_eq!((n, all), (13, true));
        assert_eq!(q.len(), 0);
        assert_eq!(q.chunks.capacity(), 0, "empty queue holds no allocation");
        assert_eq!(Rc::strong_count(&shared), 1);
        let mut got = [0u8; 13];
        b.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hello world\n!");
    }

    #[test]
    fn partly_written_chunk_stops_growing() {
        let mut q = OutQueue::default();
        q.push_copy(b"abcdef");
        q.advance(2);
        q.push_copy(b"gh");
        assert_eq!(q.chunks.len(), 2, "no append into a chunk being written");
        q.advance(4);
        assert_eq!(q.chunks.len(), 1);
        assert_eq!(q.chunks[0].bytes(), b"gh");
    }
}
