//! What the event loop counts, and the snapshot it prints as one JSON line.

use serde::{Deserialize, Serialize};

use crate::backend::{Backend, Model};
use crate::mux::MuxStats;
use crate::sys::Rusage;

/// Counters kept by the event loop. Monotonic except `conns`, so two
/// snapshots can be subtracted to get the figures of a measured window.
/// Only `u64` fields, `repr(C)`: the counters page copies it as words.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    bytemuck::Pod,
    bytemuck::Zeroable,
)]
#[repr(C)]
pub struct Counters {
    /// Connections accepted (including ones refused right after accept).
    pub accepts: u64,
    /// `read` calls on connections, whatever they returned.
    pub reads: u64,
    /// Reads that returned `EAGAIN` (the drain loop's last, empty read).
    pub reads_eagain: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// `write` calls on connections, whatever they returned.
    pub writes: u64,
    /// Writes that sent only part of what was asked (the send buffer filled up).
    pub partial_writes: u64,
    /// Writes that returned `EAGAIN`.
    pub writes_eagain: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Interest changes made by the loop (arming / disarming writable, pausing reads).
    pub interest_changes: u64,
    /// Times a connection stopped being read because its pending output reached the cap.
    pub read_pauses: u64,
    /// Connections closed (orderly, reset or error).
    pub closes: u64,
    /// Of those, closed because the peer reset the connection (ECONNRESET / EPIPE / EPOLLERR).
    pub resets: u64,
    /// Connections closed right after accept: over `--max-conns`, or not
    /// registrable (select: fd >= FD_SETSIZE).
    pub refused: u64,
    /// Times accepting was paused because descriptors ran out (EMFILE / ENFILE).
    pub accept_pauses: u64,
    /// Other I/O errors.
    pub errors: u64,
    /// Connections open now.
    pub conns: u64,
    /// Most connections open at once.
    pub peak_conns: u64,
    /// Most output ever pending on one connection, bytes (bounded by `--max-pending`).
    pub peak_pending_bytes: u64,
    /// Chat: complete lines received.
    #[serde(default)]
    pub lines_in: u64,
    /// Chat: lines queued to recipients (one per line per recipient).
    #[serde(default)]
    pub deliveries: u64,
    /// Chat: buffers allocated for broadcast lines (one per line, shared by its recipients).
    #[serde(default)]
    pub broadcast_allocs: u64,
    /// Chat: clients disconnected because their output queue would exceed the cap.
    #[serde(default)]
    pub slow_consumer_drops: u64,
    /// Chat: clients rejected for a line longer than `--max-line`.
    #[serde(default)]
    pub lines_too_long: u64,
    /// Chat: unterminated lines dropped when their sender closed.
    #[serde(default)]
    pub partial_lines_dropped: u64,
    /// `--trace`: lines dropped because stderr could not take them at once.
    #[serde(default)]
    pub trace_lines_dropped: u64,
    /// Times the listener was reported ready and accepting began. With many
    /// reactors sharing one listener, more wake-ups than connections is the
    /// thundering herd.
    #[serde(default)]
    pub accept_wakeups: u64,
}

/// Word offsets of the fields that are levels or peaks, not running totals.
const LEVELS: [usize; 3] = [
    std::mem::offset_of!(Counters, conns) / 8,
    std::mem::offset_of!(Counters, peak_conns) / 8,
    std::mem::offset_of!(Counters, peak_pending_bytes) / 8,
];

impl Counters {
    /// The system calls `backend`'s server made to serve, when these
    /// counters and `m` are deltas over a window: waits + reads + writes for
    /// a readiness loop (plus io_uring's extra enters), the enters of the
    /// completion loop (receives and sends are ring requests), reads +
    /// writes for blocking threads (the blocking call is the wait); `None`
    /// for a runtime that hides them.
    pub fn syscalls(&self, backend: Backend, m: &MuxStats) -> Option<u64> {
        let io = self.reads + self.writes;
        match backend.model() {
            Model::Readiness => Some(m.wait_calls + io + m.enters.saturating_sub(m.wait_calls)),
            Model::Completion => Some(m.enters),
            Model::Threads => Some(io),
            Model::Runtime => None,
        }
    }

    fn words(&self) -> &[u64] {
        bytemuck::cast_slice(std::slice::from_ref(self))
    }

    fn words_mut(&mut self) -> &mut [u64] {
        bytemuck::cast_slice_mut(std::slice::from_mut(self))
    }

    /// The counts over a window ending with `self` and starting with
    /// `earlier`: totals subtracted, levels and peaks as they are now.
    pub fn since(&self, earlier: &Counters) -> Counters {
        let mut d = *self;
        for (i, (w, e)) in d.words_mut().iter_mut().zip(earlier.words()).enumerate() {
            if !LEVELS.contains(&i) {
                *w = w.saturating_sub(*e);
            }
        }
        d
    }

    /// Fold in the counters of another thread of the same server: totals
    /// added, peaks the larger (`conns` is added too: each part counts its own).
    pub fn merge(&mut self, other: &Counters) {
        for (i, (w, o)) in self.words_mut().iter_mut().zip(other.words()).enumerate() {
            if i == LEVELS[0] || !LEVELS.contains(&i) {
                *w += *o;
            } else {
                *w = (*w).max(*o);
            }
        }
    }

    /// The counters as 64-bit words (the layout the stats page and the
    /// threads' shards copy).
    pub fn as_words(&self) -> &[u64] {
        self.words()
    }

    /// Counters from words written by [`Counters::as_words`].
    pub fn from_words(words: impl IntoIterator<Item = u64>) -> Counters {
        let mut c = Counters::default();
        for (w, v) in c.words_mut().iter_mut().zip(words) {
            *w = v;
        }
        c
    }
}

/// Words in [`Counters`].
pub const COUNTER_WORDS: usize = std::mem::size_of::<Counters>() / 8;

/// Count a pause of accepting (descriptors ran out); the first one is also
/// said. Both loops pause the same way, for the same reason.
pub(super) fn note_accept_pause(counters: &mut Counters, e: &std::io::Error) {
    if counters.accept_pauses == 0 {
        eprintln!(
            "muxserver: warning: accept: {e}; pausing accepts until descriptors free up \
             (counted as accept_pauses)"
        );
    }
    counters.accept_pauses += 1;
}

/// One JSON line: the loop's counters, the backend's, and the process's resource usage.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    /// "snapshot" (SIGUSR1) or "final" (on exit).
    pub kind: String,
    /// Backend name.
    pub backend: String,
    /// Counters kept by the event loop.
    pub counters: Counters,
    /// Counters kept by the multiplexer.
    pub mux: MuxStats,
    /// getrusage(RUSAGE_SELF) of the server process.
    pub rusage: Rusage,
    /// Current resident set size, KiB.
    pub rss_kib: u64,
    /// `--reactors`: each reactor's own counters (how the connections spread).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactors: Vec<Counters>,
    /// Which server process: `HOST:PID:START` (start in Unix ns), the same in
    /// every snapshot of one process (`loadgen merge` refuses to combine
    /// windows of different servers).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub server_id: String,
    /// When it was taken, Unix time in ns (the server's clock).
    #[serde(default)]
    pub unix_ns: u64,
    /// `uring`: the io_uring features it serves with (empty: the plain server).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub features: String,
}

/// This process as a server: `HOST:PID:START`.
pub fn server_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        let host = rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned();
        format!("{host}:{}:{}", std::process::id(), unix_ns_now())
    })
}

/// The wall clock, Unix ns.
pub fn unix_ns_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

impl Snapshot {
    /// A snapshot of `backend`'s counters now, with the process's resource
    /// usage (not yet [`stamped`](Snapshot::stamped)).
    pub fn now(kind: &str, backend: &str, counters: Counters, mux: MuxStats) -> Snapshot {
        Snapshot {
            kind: kind.to_string(),
            backend: backend.to_string(),
            counters,
            mux,
            rusage: crate::sys::rusage_self().unwrap_or_default(),
            rss_kib: crate::sys::current_rss_kib().unwrap_or(0),
            reactors: Vec::new(),
            server_id: String::new(),
            unix_ns: 0,
            features: String::new(),
        }
    }

    /// Name the process and the moment (done where a snapshot leaves the server).
    pub fn stamped(mut self) -> Snapshot {
        self.server_id = server_id().to_string();
        self.unix_ns = unix_ns_now();
        self
    }

    /// The snapshot as one line of JSON.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).expect("a Snapshot always serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_subtracts_totals_and_keeps_levels() {
        let a = Counters {
            reads: 10,
            conns: 5,
            peak_conns: 7,
            ..Counters::default()
        };
        let b = Counters {
            reads: 25,
            conns: 3,
            peak_conns: 9,
            peak_pending_bytes: 4,
            ..Counters::default()
        };
        let d = b.since(&a);
        assert_eq!(
            (d.reads, d.conns, d.peak_conns, d.peak_pending_bytes),
            (15, 3, 9, 4)
        );
        let mut m = a;
        m.merge(&b);
        assert_eq!((m.reads, m.conns, m.peak_conns), (35, 8, 9));
        assert_eq!(Counters::from_words(b.as_words().iter().copied()), b);
    }
}
