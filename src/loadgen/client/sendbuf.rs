//! A client connection's pending output.

use std::io::{self, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;

use crate::mux::{Epoll, Interest, Multiplexer, Token};

/// The connection is broken (a write or an interest change failed): close it.
#[derive(Debug)]
pub struct Broken;

/// A client connection's outgoing bytes and its registered interest: write
/// what the socket takes, keep the rest, watch for writability only while
/// something is left.
#[derive(Default)]
pub struct SendBuf {
    buf: Vec<u8>,
    pos: usize,
    writable_armed: bool,
}

impl SendBuf {
    /// Bytes not yet written.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The buffer to append a message to.
    pub fn queue(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Write what the socket takes and (re)arm writable interest accordingly.
    /// `Err` means the connection is broken and must be closed.
    pub fn flush(
        &mut self,
        stream: &mut TcpStream,
        mux: &mut Epoll,
        token: Token,
    ) -> Result<(), Broken> {
        while self.pos < self.buf.len() {
            match stream.write(&self.buf[self.pos..]) {
                Ok(n) => self.pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(Broken),
            }
        }
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        let want_writable = !self.buf.is_empty();
        if want_writable != self.writable_armed {
            self.writable_armed = want_writable;
            let interest = if want_writable {
                Interest::BOTH
            } else {
                Interest::READABLE
            };
            mux.reregister(stream.as_raw_fd(), token, interest)
                .map_err(|_| Broken)?;
        }
        Ok(())
    }
}
