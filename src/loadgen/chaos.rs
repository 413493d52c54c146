//! Hostile clients, run beside the well-behaved verified ones of a normal run
//! (`loadgen chaos`), and the verdicts that say whether a server survived them.
//!
//! Every population is bounded in count and time and talks to loopback only:
//! - resets: connect, send part of a message, RST (SO_LINGER 0) — again and again;
//! - half-closers: connect, send some bytes, `shutdown(SHUT_WR)`, read what comes
//!   back (it must be exactly what was sent, then EOF);
//! - slow readers: keep sending, read one byte every 100 ms;
//! - never-readers: send until the socket blocks, never read;
//! - slowloris: send one byte every 100 ms;
//! - connect-and-drop storms: connect and close at once, at a bounded rate;
//! - chat only: over-long lines (each must end in `ERR line too long` and a
//!   close), binary garbage lines, lines left unterminated by a client that
//!   leaves. (Slow and never-reading chat clients are slow consumers; they are
//!   tested in `tests/chat.rs` and not run here, where their flood would be
//!   broadcast to the verified clients.)
//!
//! Hostile chat lines start with byte 0xFF, which no verified line does, so
//! the verified clients can tell them apart ("foreign" lines) from corruption.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use clap::Args;
use serde::{Deserialize, Serialize};

use crate::record::ChaosStats;
use crate::sys;

/// Sizes of the hostile populations (each at most [`MAX_POPULATION`]).
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
pub struct ChaosSpec {
    /// Connections that send part of a message and reset, each every 100 ms.
    #[arg(long, default_value_t = 10)]
    pub resets: usize,
    /// Connections that send, half-close and read back, each every 100 ms.
    #[arg(long, default_value_t = 10)]
    pub half_closers: usize,
    /// Connections that keep sending and read one byte every 100 ms.
    #[arg(long, default_value_t = 5)]
    pub slow_readers: usize,
    /// Connections that send until their socket blocks and never read.
    #[arg(long, default_value_t = 5)]
    pub never_readers: usize,
    /// Connections that send one byte every 100 ms.
    #[arg(long, default_value_t = 20)]
    pub slowloris: usize,
    /// Connect-and-close attempts per second (0 to 10,000).
    #[arg(long, default_value_t = 200.0)]
    pub connect_drops_per_s: f64,
    /// Chat: connections sending a line longer than the limit, each every 100 ms.
    #[arg(long, default_value_t = 5)]
    pub long_liners: usize,
    /// Chat: connections sending a binary garbage line every 100 ms (and reading).
    #[arg(long, default_value_t = 5)]
    pub garbage_senders: usize,
    /// Chat: connections sending half a line and leaving, each every 100 ms.
    #[arg(long, default_value_t = 5)]
    pub unterminated: usize,
}

const TICK: Duration = Duration::from_millis(100);

fn connect(addr: SocketAddr, stats: &mut ChaosStats) -> Option<TcpStream> {
    match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
        Ok(s) => Some(s),
        Err(_) => {
            stats.connect_failures += 1;
            None
        }
    }
}

/// Garbage of a length that varies with `k` (1..=63 bytes): never a whole
/// verified message, so the reset lands mid-message. Starts with 0xFF and
/// holds no newline, so in chat it is never a line of its own.
fn garbage(k: u64) -> Vec<u8> {
    let len = 1 + (k.wrapping_mul(2_654_435_761) % 63) as usize;
    (0..len)
        .map(|i| match (k as usize + i) as u8 {
            _ if i == 0 => 0xFF,
            b'\n' => b'.',
            b => b,
        })
        .collect()
}

/// Read whatever is there without blocking (hostile chat clients that must
/// not become slow consumers themselves).
fn drain_nonblocking(s: &mut TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
    }
}

/// Most clients in one hostile population: one thread drives them all, every
/// 100 ms, opening the short-lived ones one after another; beyond this a tick
/// outlasts the window.
pub const MAX_POPULATION: usize = 1000;

/// Most connect-and-close attempts per second (one thread makes them).
pub const MAX_CONNECT_DROPS_PER_S: f64 = 10_000.0;

impl ChaosSpec {
    /// Connections held open for the whole window.
    pub fn persistent(&self) -> usize {
        self.slow_readers + self.never_readers + self.slowloris + self.garbage_senders
    }

    /// Refuse populations and rates beyond their bounds.
    pub fn check(&self) -> anyhow::Result<()> {
        let populations = [
            ("--resets", self.resets),
            ("--half-closers", self.half_closers),
            ("--slow-readers", self.slow_readers),
            ("--never-readers", self.never_readers),
            ("--slowloris", self.slowloris),
            ("--long-liners", self.long_liners),
            ("--garbage-senders", self.garbage_senders),
            ("--unterminated", self.unterminated),
        ];
        for (flag, n) in populations {
            if n > MAX_POPULATION {
                anyhow::bail!(
                    "{flag} {n} is above the bound of {MAX_POPULATION}: one thread drives every \
                     hostile client every 100 ms, and more would make one turn outlast the window"
                );
            }
        }
        let r = self.connect_drops_per_s;
        if !(r.is_finite() && (0.0..=MAX_CONNECT_DROPS_PER_S).contains(&r)) {
            anyhow::bail!(
                "--connect-drops-per-s {r} is outside 0 to {MAX_CONNECT_DROPS_PER_S}: one thread \
                 makes the attempts, one after another"
            );
        }
        Ok(())
    }
}

/// Run the hostile populations against `addr` until `until`; `chat` selects
/// the chat populations (see the module docs).
pub fn run(addr: SocketAddr, spec: &ChaosSpec, until: Instant, chat: bool) -> ChaosStats {
    let mut st = ChaosStats::default();
    let (slow_n, never_n) = if chat {
        (0, 0)
    } else {
        (spec.slow_readers, spec.never_readers)
    };
    let open_persistent = |n: usize, st: &mut ChaosStats| -> Vec<TcpStream> {
        (0..n)
            .filter_map(|_| connect(addr, st))
            .filter(|s| s.set_nonblocking(true).is_ok())
            .collect()
    };
    let mut slow = open_persistent(slow_n, &mut st);
    let mut never = open_persistent(never_n, &mut st);
    let mut loris = open_persistent(spec.slowloris, &mut st);
    let mut garbage_conns = open_persistent(if chat { spec.garbage_senders } else { 0 }, &mut st);
    let flood = vec![0x42u8; 64 * 1024];
    let mut k = 0u64;
    let mut drop_budget = 0.0;
    let mut last = Instant::now();
    while Instant::now() < until {
        let tick_start = Instant::now();
        k = one_shot_clients(addr, spec, chat, k, &mut st);
        if chat {
            k = chat_clients(addr, spec, &mut garbage_conns, k, &mut st);
        }
        feed_persistent(&mut slow, &mut never, &mut loris, &flood, chat, &mut st);
        let now = Instant::now();
        drop_budget += spec.connect_drops_per_s * now.duration_since(last).as_secs_f64();
        last = now;
        while drop_budget >= 1.0 && Instant::now() < until {
            drop_budget -= 1.0;
            if connect(addr, &mut st).is_some() {
                st.connect_drops += 1;
            }
        }
        let left = until.saturating_duration_since(Instant::now());
        std::thread::sleep(TICK.saturating_sub(tick_start.elapsed()).min(left));
    }
    // Leave abruptly, as hostile clients do.
    for s in slow
        .iter()
        .chain(&never)
        .chain(&loris)
        .chain(&garbage_conns)
    {
        let _ = sys::set_linger_zero(&s);
    }
    st
}

/// This tick's one-shot clients: resetters (garbage, then RST) and half-closers
/// (send, FIN, expect the echo and EOF). Returns the message counter.
fn one_shot_clients(
    addr: SocketAddr,
    spec: &ChaosSpec,
    chat: bool,
    mut k: u64,
    st: &mut ChaosStats,
) -> u64 {
    for _ in 0..spec.resets {
        k += 1;
        if let Some(mut s) = connect(addr, st) {
            let _ = s.write_all(&garbage(k));
            let _ = sys::set_linger_zero(&s);
            st.resets += 1;
        }
    }
    for _ in 0..spec.half_closers {
        k += 1;
        if let Some(mut s) = connect(addr, st) {
            let sent = garbage(k);
            let ok = s.write_all(&sent).is_ok()
                && s.shutdown(std::net::Shutdown::Write).is_ok()
                && s.set_read_timeout(Some(Duration::from_secs(2))).is_ok();
            let mut back = Vec::new();
            let got_eof = ok && s.read_to_end(&mut back).is_ok();
            // Echo: exactly the bytes sent, then EOF. Chat: the half line is
            // dropped; EOF must still come once the server owes nothing.
            if got_eof && (chat || back == sent) {
                st.half_closes += 1;
            } else {
                st.half_close_failures += 1;
            }
        }
    }
    k
}

/// This tick's chat-only clients: long lines (expect the error line),
/// garbage lines on the kept connections, unterminated lines.
fn chat_clients(
    addr: SocketAddr,
    spec: &ChaosSpec,
    garbage_conns: &mut [TcpStream],
    mut k: u64,
    st: &mut ChaosStats,
) -> u64 {
    for _ in 0..spec.long_liners {
        if let Some(mut s) = connect(addr, st) {
            let mut back = Vec::new();
            let ok = s.write_all(&[b'z'; 5000]).is_ok()
                && s.set_read_timeout(Some(Duration::from_secs(2))).is_ok()
                && s.read_to_end(&mut back).is_ok();
            if ok && back.ends_with(crate::server::LINE_TOO_LONG) {
                st.long_lines += 1;
            } else {
                st.long_line_failures += 1;
            }
        }
    }
    for s in garbage_conns.iter_mut() {
        k += 1;
        let mut line = garbage(k);
        line.push(b'\n');
        if s.write_all(&line).is_ok() {
            st.garbage_lines += 1;
        }
        drain_nonblocking(s);
    }
    for _ in 0..spec.unterminated {
        k += 1;
        if let Some(mut s) = connect(addr, st) {
            if s.write_all(&garbage(k)).is_ok() {
                st.unterminated += 1;
            }
        }
    }
    k
}

/// This tick's writes on the persistent connections: slow readers read a
/// byte, never-readers fill their windows, slowloris sends one byte.
fn feed_persistent(
    slow: &mut [TcpStream],
    never: &mut [TcpStream],
    loris: &mut [TcpStream],
    flood: &[u8],
    chat: bool,
    st: &mut ChaosStats,
) {
    for s in slow.iter_mut() {
        let _ = s.write(flood);
        let mut b = [0u8; 1];
        if let Ok(n) = s.read(&mut b) {
            st.slow_read_bytes += n as u64;
        }
    }
    for s in never.iter_mut() {
        while let Ok(n) = s.write(flood) {
            if n == 0 {
                break;
            }
            st.never_reader_bytes += n as u64;
        }
    }
    for s in loris.iter_mut() {
        if s.write(b"x").is_ok() {
            st.slowloris_bytes += 1;
        }
        if chat {
            drain_nonblocking(s);
        }
    }
}

/// After a chaos run: does the server still answer a fresh connection?
/// Echo: the bytes come back. Chat: our own line comes back to us.
pub fn answers_fresh_connection(addr: SocketAddr, chat: bool) -> bool {
    let attempt = || -> std::io::Result<bool> {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        s.set_read_timeout(Some(Duration::from_secs(2)))?;
        let msg = b"\xffare you still there?\n";
        if chat {
            // Lines of others may come first; the client registers on accept,
            // so give it a moment before speaking.
            std::thread::sleep(Duration::from_millis(50));
        }
        s.write_all(msg)?;
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let end = Instant::now() + Duration::from_secs(2);
        while Instant::now() < end {
            let n = s.read(&mut buf)?;
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
            if got.windows(msg.len()).any(|w| w == msg) {
                return Ok(true);
            }
        }
        Ok(false)
    };
    attempt().unwrap_or(false)
}
