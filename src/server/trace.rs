//! `--trace`: the kernel's notifications, one line each, live on stderr — the
//! textbook's level-versus-edge experiment made visible (its level-triggered
//! server prints a line per `epoll_wait` return; with a 4-byte buffer one
//! 20-byte message gives five, the edge-triggered server one).
//!
//! Lines (stable, one event each; `--trace=waits` keeps only the first kind):
//!
//! ```text
//! wait #17 -> 2 events [fd 7 R, fd 9 R|RDHUP]      readiness backends; select and poll add "scanned N"
//! enter #5 -> 2 cqes [recv fd 7: 4 B, send fd 7: 4 B]   uring: completions reaped by one io_uring_enter
//! read fd 7: 4 B | read fd 7: EAGAIN | read fd 7: EOF
//! write fd 7: 4 B | write fd 7: 2 of 4 B | write fd 7: EAGAIN
//! accept fd 9 | close fd 7 (EOF) | interest fd 7: +W
//! cqe recv fd 7: 4 B                                  uring, --trace=all: one line per completion
//! ```
//!
//! # Zero cost when off
//!
//! The loop asks [`Tracer::waits`] / [`Tracer::all`] — a compare of one byte
//! that is the same on every call, so the branch predictor never misses — and
//! only then calls a formatting function, which is `#[cold]` and
//! `#[inline(never)]` so that its code stays out of the hot loop.
//!
//! # Bounded when on
//!
//! Lines are formatted into a buffer that is handed, at the end of each loop
//! turn (or when it passes [`CHUNK`]), to a writer thread over a channel; the
//! hand-over never waits. The bound is on bytes, not chunks (a turn's chunk
//! may be one line): if the writer is more than [`BACKLOG`] bytes behind — a
//! slow terminal, a stalled pipe — the chunk is dropped and its lines counted,
//! so the loop neither blocks nor grows (at most `BACKLOG + CHUNK` bytes).
//! The writer owns a duplicate of descriptor 2, so `eprintln!` elsewhere never
//! waits on its lock, and stderr's file flags are left alone: setting
//! `O_NONBLOCK` on it would change the terminal for every process sharing it.
//! At exit the count of dropped lines is printed (if the writer drains within
//! [`FINISH_WAIT`]) and reported as `trace_lines_dropped` in the final snapshot.

use std::fmt::{self, Write as _};
use std::fs::File;
use std::io::{self, Write as _};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::Duration;

use crate::sys;

/// Bytes buffered before a chunk is handed to the writer mid-turn.
const CHUNK: usize = 16 * 1024;
/// Bytes the writer may be behind before lines are dropped.
const BACKLOG: usize = 1 << 20;
/// How long exit waits for the writer to drain.
const FINISH_WAIT: Duration = Duration::from_secs(1);

/// What `--trace` shows.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum TraceLevel {
    /// Nothing (the default; costs one predictable branch per event).
    #[default]
    Off,
    /// Only the wait lines: what each wait (io_uring: each enter) returned.
    Waits,
    /// Every notable event: waits, reads, writes, accepts, closes, interest changes.
    All,
}

/// The loop's trace output. See the module docs.
pub struct Tracer {
    level: TraceLevel,
    out: Option<Box<Output>>,
}

struct Output {
    buf: String,
    tx: Option<Sender<String>>,
    /// Bytes handed over and not yet written (the writer subtracts).
    backlog: Arc<AtomicUsize>,
    done: Receiver<()>,
    dropped: u64,
}

impl Tracer {
    /// A tracer at `level`; starts the writer thread unless `level` is off.
    pub fn new(level: TraceLevel) -> io::Result<Tracer> {
        if level == TraceLevel::Off {
            return Ok(Tracer { level, out: None });
        }
        let mut stderr = File::from(sys::dup_at_least(&std::io::stderr(), 0)?);
        let (tx, rx) = mpsc::channel::<String>();
        let (done_tx, done) = mpsc::channel();
        let backlog = Arc::new(AtomicUsize::new(0));
        let written = backlog.clone();
        std::thread::Builder::new()
            .name("trace-writer".into())
            .spawn(move || {
                for chunk in rx {
                    if stderr.write_all(chunk.as_bytes()).is_err() {
                        break; // stderr is gone: nothing more can be shown
                    }
                    written.fetch_sub(chunk.len(), Ordering::Release);
                }
                let _ = done_tx.send(());
            })?;
        Ok(Tracer {
            level,
            out: Some(Box::new(Output {
                buf: String::with_capacity(CHUNK + 256),
                tx: Some(tx),
                backlog,
                done,
                dropped: 0,
            })),
        })
    }

    /// Trace the waits (and everything else if `all`)?
    #[inline(always)]
    pub fn waits(&self) -> bool {
        self.level != TraceLevel::Off
    }

    /// Trace every event?
    #[inline(always)]
    pub fn all(&self) -> bool {
        self.level == TraceLevel::All
    }

    /// Append one line.
    #[cold]
    #[inline(never)]
    pub fn line(&mut self, args: fmt::Arguments<'_>) {
        let Some(out) = self.out.as_deref_mut() else {
            return;
        };
        let _ = out.buf.write_fmt(args);
        out.buf.push('\n');
        if out.buf.len() >= CHUNK {
            out.hand_over();
        }
    }

    /// `close fd N (reset|EOF|by server)`, the same for every loop.
    #[cold]
    #[inline(never)]
    pub fn close(&mut self, fd: i32, reset: bool, read_eof: bool) {
        self.close_named(&format!("fd {fd}"), reset, read_eof);
    }

    /// [`Tracer::close`] of a connection named otherwise (`slot 3`: a slot
    /// of io_uring's fixed file table).
    pub fn close_named(&mut self, name: &str, reset: bool, read_eof: bool) {
        let why = match (reset, read_eof) {
            (true, _) => "reset",
            (false, true) => "EOF",
            (false, false) => "by server",
        };
        self.line(format_args!("close {name} ({why})"));
    }

    /// End of a loop turn: hand what this turn traced to the writer.
    #[inline(always)]
    pub fn end_turn(&mut self) {
        if self.waits() {
            self.hand_over();
        }
    }

    #[cold]
    #[inline(never)]
    fn hand_over(&mut self) {
        if let Some(out) = self.out.as_deref_mut() {
            out.hand_over();
        }
    }

    /// A read or write on `fd` and how it ended (`asked`: bytes offered to a
    /// write, to show a partial one).
    #[cold]
    #[inline(never)]
    pub fn io(
        &mut self,
        op: &str,
        fd: std::os::fd::RawFd,
        res: Result<usize, &io::Error>,
        asked: Option<usize>,
    ) {
        let outcome = io_result(res, op == "read");
        match (res, asked) {
            (Ok(n), Some(asked)) if n < asked => {
                self.line(format_args!("{op} fd {fd}: {n} of {asked} B"))
            }
            _ => self.line(format_args!("{op} fd {fd}: {outcome}")),
        }
    }

    /// Lines dropped so far because stderr could not keep up.
    pub fn dropped(&self) -> u64 {
        self.out.as_ref().map_or(0, |o| o.dropped)
    }

    /// Hand over the rest and the dropped-lines count, and give the writer up
    /// to [`FINISH_WAIT`] to write it. Returns the lines dropped.
    pub fn finish(&mut self) -> u64 {
        let Some(out) = self.out.as_deref_mut() else {
            return 0;
        };
        out.hand_over();
        let dropped = out.dropped;
        if dropped > 0 {
            out.buf.push_str(&format!(
                "trace: {dropped} lines dropped (stderr was too slow)\n"
            ));
            out.hand_over();
        }
        out.tx = None; // the writer ends after the last chunk
        let _ = out.done.recv_timeout(FINISH_WAIT);
        self.level = TraceLevel::Off;
        dropped
    }
}

impl Output {
    fn hand_over(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let Some(tx) = &self.tx else {
            self.buf.clear();
            return;
        };
        let len = self.buf.len();
        if self.backlog.load(Ordering::Acquire) + len <= BACKLOG {
            let chunk = std::mem::replace(&mut self.buf, String::with_capacity(CHUNK + 256));
            self.backlog.fetch_add(len, Ordering::AcqRel);
            match tx.send(chunk) {
                Ok(()) => return,
                Err(mpsc::SendError(chunk)) => self.buf = chunk, // the writer is gone
            }
        }
        self.dropped += self.buf.bytes().filter(|&b| b == b'\n').count() as u64;
        self.buf.clear(); // keeps the allocation
    }
}

/// `R|W|RDHUP|HUP|ERR` for a readiness event (`-` if none is set).
pub fn event_flags(ev: &crate::mux::Event) -> String {
    let mut s = String::new();
    for (on, name) in [
        (ev.readable, "R"),
        (ev.writable, "W"),
        (ev.read_closed, "RDHUP"),
        (ev.hangup, "HUP"),
        (ev.error, "ERR"),
    ] {
        if on {
            if !s.is_empty() {
                s.push('|');
            }
            s.push_str(name);
        }
    }
    if s.is_empty() {
        s.push('-');
    }
    s
}

/// How a read or write call ended, for a trace line: `4 B`, `EAGAIN`, `EOF`
/// (reads of 0), or the error.
pub fn io_result(res: Result<usize, &io::Error>, is_read: bool) -> String {
    match res {
        Ok(0) if is_read => "EOF".to_string(),
        Ok(n) => format!("{n} B"),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => "EAGAIN".to_string(),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => "EINTR".to_string(),
        Err(e) => format!("error ({e})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_has_no_output_and_all_implies_waits() {
        let mut t = Tracer::new(TraceLevel::Off).unwrap();
        assert!(!t.waits() && !t.all());
        t.line(format_args!("ignored"));
        assert_eq!(t.finish(), 0);
        let t = Tracer::new(TraceLevel::Waits).unwrap();
        assert!(t.waits() && !t.all());
        let t = Tracer::new(TraceLevel::All).unwrap();
        assert!(t.waits() && t.all());
    }

    #[test]
    fn a_full_backlog_drops_and_counts_instead_of_waiting() {
        // A writer that never drains: a channel nobody reads.
        let (tx, rx) = mpsc::channel::<String>();
        let (_done_tx, done) = mpsc::channel();
        let mut out = Output {
            buf: String::new(),
            tx: Some(tx),
            backlog: Arc::new(AtomicUsize::new(0)),
            done,
            dropped: 0,
        };
        let line = "x".repeat(99) + "\n";
        for _ in 0..BACKLOG / 100 {
            out.buf.push_str(&line);
            out.hand_over(); // one line per turn: many small chunks fit
        }
        assert_eq!(out.dropped, 0);
        out.buf.push_str(&line.repeat(3));
        out.hand_over(); // beyond the backlog: dropped, counted, not blocked
        assert_eq!(out.dropped, 3);
        assert!(out.buf.is_empty());
        assert_eq!(rx.try_iter().count(), BACKLOG / 100);
    }

    #[test]
    fn flags_are_compact() {
        let ev = crate::mux::Event {
            readable: true,
            read_closed: true,
            ..crate::mux::Event::new(crate::mux::Token(0))
        };
        assert_eq!(event_flags(&ev), "R|RDHUP");
        assert_eq!(io_result(Ok(4), true), "4 B");
        assert_eq!(io_result(Ok(0), true), "EOF");
        let eagain = io::Error::from_raw_os_error(libc::EAGAIN);
        assert_eq!(io_result(Err(&eagain), false), "EAGAIN");
    }
}
