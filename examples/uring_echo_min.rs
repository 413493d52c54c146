//! The yardstick for `muxserver --backend uring`: the smallest io_uring echo
//! server written the way liburing's `io_uring-echo-server.c` and
//! tokio-rs/io-uring's `tcp_echo.rs` do it — multishot accept, multishot
//! receive into a provided-buffer ring, a send straight from the received
//! buffer, the buffer recycled when its send completes, one
//! `io_uring_enter` per loop turn. No back-pressure, no chat, no limits, no
//! counters beyond bytes and CPU time: what the full backend pays for those
//! is the difference between the two.
//!
//! ```text
//! cargo run --release --example uring_echo_min -- --addr 127.0.0.1:7300 --cpu 0
//! ```
//! Prints `listening on ADDR`; on SIGTERM/SIGINT prints
//! `bytes_out=N cpu_us=N enters=N sqes=N cqes=N` and exits.

use std::collections::VecDeque;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};

use anyhow::{Context, Result};
use clap::Parser;
use muxbench::sys;
use muxbench::sys::uring::{BufRing, Completion, Piece, RecvMode, Ring, Target};
use slab::Slab;

/// Minimal multishot io_uring echo server.
#[derive(Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7300")]
    addr: SocketAddr,
    /// Pin to this CPU.
    #[arg(long)]
    cpu: Option<usize>,
    /// Bytes per provided buffer.
    #[arg(long, default_value_t = 16384)]
    buf_size: usize,
    /// Provided buffers (a power of two).
    #[arg(long, default_value_t = 512)]
    buffers: u16,
}

const ACCEPT: u64 = 1 << 56;
const RECV: u64 = 2 << 56;
const SEND: u64 = 3 << 56;
const CONTROL: u64 = 4 << 56;
const KEY: u64 = (1 << 56) - 1;

struct Conn {
    stream: TcpStream,
    /// Received buffers not yet sent: (buffer id, length).
    queue: VecDeque<Piece>,
    /// The in-flight send's vector (one buffer, from its offset).
    iov: [libc::iovec; 1],
    offset: usize,
    sending: bool,
    receiving: bool,
    eof: bool,
}

/// The server: the ring, its provided buffers, the connections.
struct Echo {
    ring: Ring,
    bufs: BufRing,
    conns: Slab<Conn>,
    /// Connections whose receive ended for want of a free buffer.
    starved: Vec<usize>,
    bytes_out: u64,
}

/// Every receive here: multishot, one buffer per completion.
const MULTISHOT: RecvMode = RecvMode {
    multishot: true,
    bundle: false,
    limit: 0,
};

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(cpu) = args.cpu {
        sys::pin_to_cpu(cpu).with_context(|| format!("pinning to CPU {cpu}"))?;
    }
    sys::ignore_sigpipe()?;
    let listener =
        TcpListener::bind(args.addr).with_context(|| format!("binding {}", args.addr))?;
    // Any byte on the control pipe stops: signal-hook writes one per signal.
    let (control, wake) = sys::pipe()?;
    for sig in [libc::SIGINT, libc::SIGTERM] {
        signal_hook::low_level::pipe::register(sig, wake.try_clone()?).context("signals")?;
    }
    let mut ring = Ring::new(4096)?;
    let bufs = BufRing::register(&ring, 1, args.buffers, args.buf_size, false)?;
    ring.accept_multi(listener.as_raw_fd(), false, ACCEPT)?;
    ring.poll_add(control.as_raw_fd(), libc::POLLIN as u32, false, CONTROL)?;
    println!("listening on {}", listener.local_addr()?);
    let mut echo = Echo {
        ring,
        bufs,
        conns: Slab::new(),
        starved: Vec::new(),
        bytes_out: 0,
    };
    echo.serve(listener.as_raw_fd())?;
    let ru = sys::rusage_self()?;
    println!(
        "bytes_out={} cpu_us={} enters={} sqes={} cqes={}",
        echo.bytes_out,
        ru.user_us + ru.sys_us,
        echo.ring.enters,
        echo.ring.sqes,
        echo.ring.cqes
    );
    // The process exits now; the kernel may still hold requests naming the
    // buffers, so they are not freed first.
    let Echo { bufs, conns, .. } = echo;
    std::mem::forget(bufs);
    std::mem::forget(conns);
    Ok(())
}

impl Echo {
    /// One `io_uring_enter` per turn, then every completion it reaped, until
    /// the control pipe is readable.
    fn serve(&mut self, listener: RawFd) -> Result<()> {
        let mut batch: Vec<Completion> = Vec::new();
        loop {
            self.ring.submit_and_wait(1, None)?;
            batch.clear();
            self.ring.reap(&mut batch, usize::MAX);
            for c in &batch {
                let key = (c.user_data & KEY) as usize;
                match c.user_data & !KEY {
                    CONTROL => return Ok(()),
                    ACCEPT => self.accepted(c, listener)?,
                    RECV => self.received(c, key)?,
                    SEND => self.sent(c, key)?,
                    _ => {}
                }
                // Closed when the client is done and everything owed is sent.
                if matches!(c.user_data & !KEY, RECV | SEND) {
                    let conn = &self.conns[key];
                    if conn.eof && !conn.sending && !conn.receiving && conn.queue.is_empty() {
                        self.conns.remove(key);
                    }
                }
            }
            self.rearm_starved()?;
        }
    }

    /// A new connection: its multishot receive; the accept re-armed if it
    /// ended.
    fn accepted(&mut self, c: &Completion, listener: RawFd) -> Result<()> {
        if c.result >= 0 {
            // SAFETY: a successful accept completion's result is a
            // new descriptor handed out once.
            let stream = unsafe { sys::uring::accepted_stream(c.result) };
            let _ = stream.set_nodelay(true);
            let fd = stream.as_raw_fd();
            let k = self.conns.insert(Conn {
                stream,
                queue: VecDeque::new(),
                iov: [libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0,
                }],
                offset: 0,
                sending: false,
                receiving: true,
                eof: false,
            });
            self.ring.recv_provided(
                Target::Fd(fd),
                self.bufs.group(),
                0,
                MULTISHOT,
                RECV | k as u64,
            )?;
        }
        if !c.more() {
            self.ring.accept_multi(listener, false, ACCEPT)?;
        }
        Ok(())
    }

    /// Received data queued for sending (an empty buffer recycled); a receive
    /// that ended re-armed, or the connection marked starved or at EOF.
    fn received(&mut self, c: &Completion, key: usize) -> Result<()> {
        let conn = &mut self.conns[key];
        if let Some(bid) = c.buffer_id() {
            let mut pieces = Vec::new();
            let n = c.result.max(0) as usize;
            self.bufs
                .consume(bid, n, c.buf_more(), &mut pieces)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            conn.queue.extend(pieces);
        }
        if !c.more() {
            conn.receiving = false;
            if c.result == -libc::ENOBUFS {
                self.starved.push(key);
            } else if c.result <= 0 {
                conn.eof = true;
            } else {
                let fd = conn.stream.as_raw_fd();
                conn.receiving = true;
                self.ring.recv_provided(
                    Target::Fd(fd),
                    self.bufs.group(),
                    0,
                    MULTISHOT,
                    RECV | key as u64,
                )?;
            }
        }
        send_next(&mut self.ring, &self.bufs, &mut self.conns, key)
    }

    /// A send done: its buffer recycled once fully sent (all of them on an
    /// error), then the next send.
    fn sent(&mut self, c: &Completion, key: usize) -> Result<()> {
        let conn = &mut self.conns[key];
        conn.sending = false;
        if c.result < 0 {
            conn.eof = true;
            conn.queue.drain(..).for_each(|p| self.bufs.release(p.bid));
            conn.offset = 0;
        } else {
            self.bytes_out += c.result as u64;
            conn.offset += c.result as usize;
            let p = conn.queue[0];
            if conn.offset == p.len {
                conn.queue.pop_front();
                conn.offset = 0;
                self.bufs.release(p.bid);
            }
        }
        send_next(&mut self.ring, &self.bufs, &mut self.conns, key)
    }

    /// Starved connections receive again while buffers are free.
    fn rearm_starved(&mut self) -> Result<()> {
        while self.bufs.free() > 0 {
            let Some(key) = self.starved.pop() else { break };
            if let Some(conn) = self.conns.get_mut(key) {
                conn.receiving = true;
                let fd = conn.stream.as_raw_fd();
                self.ring.recv_provided(
                    Target::Fd(fd),
                    self.bufs.group(),
                    0,
                    MULTISHOT,
                    RECV | key as u64,
                )?;
            }
        }
        Ok(())
    }
}

/// Send the front received buffer if no send is in flight.
fn send_next(ring: &mut Ring, bufs: &BufRing, conns: &mut Slab<Conn>, key: usize) -> Result<()> {
    let conn = &mut conns[key];
    if conn.sending || (conn.eof && conn.queue.is_empty()) {
        return Ok(());
    }
    let Some(&p) = conn.queue.front() else {
        return Ok(());
    };
    let data = &bufs.data(p)[conn.offset..];
    conn.iov[0] = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    conn.sending = true;
    let fd = conn.stream.as_raw_fd();
    // SAFETY: the iovec lives in the connection (not removed while `sending`)
    // and points into buffer `bid`, recycled only after this send completes.
    unsafe { ring.writev(Target::Fd(fd), &conn.iov, SEND | key as u64)? };
    Ok(())
}
