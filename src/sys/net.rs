//! Sockets: accepting, listening, lingering, sending without blocking,
//! reading into spare capacity, and shutting down a socket owned elsewhere.
//!
//! Only `accept4` is raw (one syscall for a ready non-blocking connection is
//! part of what is measured); the set-up calls go through `socket2` and
//! `rustix`, since creating a listener is not what the benchmark measures.

use std::io;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

use super::syscall::syscall;

/// accept4(2) with `SOCK_NONBLOCK | SOCK_CLOEXEC`: one syscall for a ready-to-use
/// non-blocking connection (std's accept would need a second one, `ioctl(FIONBIO)`).
pub fn accept_nonblocking(listener: &TcpListener) -> io::Result<TcpStream> {
    // Null address pointers: the peer address is not needed.
    let fd = syscall!(accept4(
        listener.as_raw_fd(),
        std::ptr::null_mut(),
        std::ptr::null_mut(),
        libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC
    ))?;
    // SAFETY: accept4 returned a fresh descriptor that nobody else owns.
    Ok(TcpStream::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// A TCP listener on `addr` with `SO_REUSEADDR`, a large backlog (the kernel caps
/// it at `net.core.somaxconn`) so bursts of connects are not dropped, non-blocking.
/// Set up through `socket2`: creating a listener is not what is measured.
pub fn tcp_listen(addr: std::net::SocketAddr, backlog: i32) -> io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    // socket2 opens it close-on-exec.
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// [`tcp_listen`] with `SO_REUSEPORT` too: several listeners on one port,
/// the kernel spreading connections over them (`--accept reuseport`).
pub fn tcp_listen_reuseport(addr: std::net::SocketAddr, backlog: i32) -> io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// `TCP_NODELAY` on (through `socket2`); on a listener, the sockets it
/// accepts inherit it.
pub fn set_nodelay(socket: &impl AsFd) -> io::Result<()> {
    socket2::SockRef::from(socket).set_tcp_nodelay(true)
}

/// Set `SO_LINGER {on, 0}` so that closing the socket sends RST instead of FIN
/// (through `socket2`).
pub fn set_linger_zero(socket: &impl AsFd) -> io::Result<()> {
    socket2::SockRef::from(socket).set_linger(Some(Duration::ZERO))
}

/// One blocking (or not) `read` into the spare capacity of `buf`, which
/// grows by what was read (through `rustix`). The bytes are never zeroed
/// first: a thread-per-connection server's buffer costs resident memory only
/// for what the kernel has written into it.
pub fn read_into_spare(fd: &impl AsFd, buf: &mut Vec<u8>) -> io::Result<usize> {
    Ok(rustix::io::read(fd, rustix::buffer::spare_capacity(buf))?)
}

/// `send(MSG_DONTWAIT)` on a (blocking) socket: what it takes now, or
/// `WouldBlock` (through `socket2`).
pub fn send_nowait(stream: &TcpStream, data: &[u8]) -> io::Result<usize> {
    socket2::SockRef::from(stream).send_with_flags(data, libc::MSG_DONTWAIT)
}

/// shutdown(2) on a socket held elsewhere (through `socket2`). The borrow
/// is the caller's promise that the descriptor is open and is the socket it
/// means for the duration of the call: a thread-per-connection server that
/// keeps raw numbers proves it with a lock the owning thread must take before
/// closing (see `server::threads`).
pub fn shutdown(fd: BorrowedFd<'_>, how: Shutdown) -> io::Result<()> {
    socket2::SockRef::from(&fd).shutdown(how)
}
