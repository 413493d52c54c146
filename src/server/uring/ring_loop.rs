//! The ring, its provided buffers and the turn of the loop: one
//! `io_uring_enter` submits what the last batch queued and waits for the next,
//! whose completions are dispatched by operation.

use std::fs::File;
use std::io;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use slab::Slab;

use super::conn::UConn;
use super::ops::{key_of, op_of, OP_ACCEPT, OP_CONTROL, OP_RECV, OP_SEND};
use crate::mux::MuxStats;
use crate::server::config::Config;
use crate::server::counters::{Counters, Snapshot};
use crate::server::stats_page::StatsPage;
use crate::server::trace::Tracer;
use crate::sys::uring::{BufRing, Completion, Piece, Ring, Setup};

/// Submission slots (completions: four times as many).
const RING_ENTRIES: u32 = 4096;
/// Provided buffers, shared by every connection; a connection holds at most
/// one beyond the receive being filled.
const BUFFERS_MAX: usize = 4096;
/// Memory the provided buffers may take in all. The ring hands buffers out in
/// turn, so under load every one of them is touched and resident.
const BUFFER_BYTES_MAX: usize = 8 << 20;
/// Fewest provided buffers, whatever their size.
const BUFFERS_MIN: usize = 16;
/// Largest provided buffer: with a larger `--read-buf`, one receive
/// completion still carries at most this much.
const BUFFER_SIZE_MAX: usize = 1 << 20;
const BUFFER_GROUP: u16 = 1;

/// Serve with io_uring until a stop command arrives on `control`.
pub fn serve(
    listener: TcpListener,
    control: File,
    cfg: Config,
    on_ready: impl FnOnce(),
    on_snapshot: impl FnMut(&Snapshot),
) -> io::Result<Snapshot> {
    let mut server = UringServer::new(listener, control, cfg)?;
    on_ready();
    let res = server.run(on_snapshot);
    server.drain_on_stop();
    res
}

pub(super) struct UringServer {
    // Field order is drop order: the ring must close before the buffers it
    // may write into are freed.
    pub(super) ring: Ring,
    pub(super) bufs: BufRing,
    pub(super) listener: TcpListener,
    pub(super) control: File,
    pub(super) conns: Slab<UConn>,
    pub(super) live: usize,
    pub(super) cfg: Config,
    pub(super) counters: Counters,
    pub(super) completions: Vec<Completion>,
    pub(super) to_flush: Vec<usize>,
    pub(super) starved: Vec<usize>,
    pub(super) scratch: Vec<u8>,
    /// Pieces of provided buffers one completion filled (reused).
    pub(super) pieces: Vec<Piece>,
    /// Why the loop must end with an error (set mid-batch).
    pub(super) broken: Option<String>,
    pub(super) accept_armed: bool,
    pub(super) control_armed: bool,
    pub(super) accept_paused_until: Option<Instant>,
    pub(super) stop: bool,
    /// Draining after a stop: nothing is re-armed.
    pub(super) stopping: bool,
    /// `--trace` output; one predictable branch per event when off.
    pub(super) trace: Tracer,
    /// `--stats-page`: where the counters are published each turn.
    pub(super) page: Option<StatsPage>,
    /// Zero-copy send notifications reaped.
    pub(super) counters_notifs: u64,
    /// `fixed-files`: the table's slots and how many connections hold one.
    pub(super) slots: Option<Slots>,
    /// The accept armed is multishot.
    pub(super) accept_multishot: bool,
    /// `fixed-files`: no slot was free; accepting resumes on a release.
    pub(super) accept_waits_for_slot: bool,
}

/// The fixed file table's occupancy.
#[derive(Debug, Clone, Copy)]
pub(super) struct Slots {
    pub(super) total: usize,
    pub(super) used: usize,
}

impl Slots {
    pub(super) fn free(&self) -> usize {
        self.total.saturating_sub(self.used)
    }
}

impl UringServer {
    fn new(listener: TcpListener, control: File, cfg: Config) -> io::Result<UringServer> {
        let f = cfg.uring;
        let ring = if f.is_plain() {
            Ring::new(RING_ENTRIES)?
        } else {
            f.check_kernel().map_err(io::Error::other)?;
            let setup = Setup {
                taskrun: f.taskrun(),
                sqpoll: f.sqpoll,
                fallback: false,
            };
            Ring::with_setup(RING_ENTRIES, setup)?
        };
        let slots = if f.fixed_files {
            // Every connection a slot (the kernel caps the table at the
            // descriptor limit; `arm_accept` never lets an accept find it full).
            let (soft, _) = crate::sys::nofile_limit()?;
            let total = cfg
                .max_conns
                .saturating_add(16)
                .min(soft as usize)
                .min(1 << 20);
            ring.register_files_sparse(total as u32)?;
            // Accepted slots cannot be given TCP_NODELAY one by one; they
            // inherit it from the listener.
            crate::sys::set_nodelay(&listener)?;
            Some(Slots { total, used: 0 })
        } else {
            None
        };
        let size = cfg.read_buf.clamp(1, BUFFER_SIZE_MAX);
        let count = (BUFFER_BYTES_MAX / size).clamp(BUFFERS_MIN, BUFFERS_MAX);
        // Round down to a power of two (the ring's index mask).
        let count = 1u16 << (usize::BITS - 1 - count.leading_zeros());
        let bufs = BufRing::register(&ring, BUFFER_GROUP, count, size, f.buf_inc)?;
        let cfg = Config {
            max_pending: cfg.max_pending.max(1),
            ..cfg
        };
        let trace = Tracer::new(cfg.trace)?;
        let page = cfg
            .stats_page
            .as_deref()
            .map(StatsPage::create)
            .transpose()?;
        let mut server = UringServer {
            ring,
            bufs,
            listener,
            control,
            conns: Slab::new(),
            live: 0,
            cfg,
            counters: Counters::default(),
            completions: Vec::with_capacity(1024),
            to_flush: Vec::new(),
            starved: Vec::new(),
            scratch: Vec::new(),
            pieces: Vec::new(),
            broken: None,
            accept_armed: false,
            control_armed: false,
            accept_paused_until: None,
            stop: false,
            stopping: false,
            trace,
            page,
            counters_notifs: 0,
            slots,
            accept_multishot: false,
            accept_waits_for_slot: false,
        };
        server.arm_accept()?;
        server.arm_control()?;
        // Submit now, so a client that connects right after `on_ready` is accepted.
        server.ring.submit_and_wait(0, Some(Duration::ZERO))?;
        Ok(server)
    }

    /// The loop's counters, with the gauges filled in.
    fn counters_now(&self) -> Counters {
        Counters {
            conns: self.live as u64,
            trace_lines_dropped: self.trace.dropped(),
            ..self.counters
        }
    }

    /// The ring's counters in the multiplexers' terms.
    fn mux_stats(&self) -> MuxStats {
        MuxStats {
            wait_calls: self.ring.enters,
            events: self.ring.cqes,
            slots_scanned: self.ring.cqes,
            ctl_calls: 0,
            enters: self.ring.enters,
            sqes: self.ring.sqes,
            notifs: self.counters_notifs,
            bufs_returned: self.bufs.returned(),
        }
    }

    pub(super) fn snapshot(&self, kind: &str) -> Snapshot {
        let mut s = Snapshot::now(
            kind,
            crate::backend::Backend::Uring.name(),
            self.counters_now(),
            self.mux_stats(),
        );
        s.features = self.cfg.uring.to_string();
        s
    }

    fn run(&mut self, mut on_snapshot: impl FnMut(&Snapshot)) -> io::Result<Snapshot> {
        while !self.stop {
            let timeout = self
                .accept_paused_until
                .map(|until| until.saturating_duration_since(Instant::now()));
            self.ring.submit_and_wait(1, timeout)?;
            let mut batch = std::mem::take(&mut self.completions);
            batch.clear();
            self.ring.reap(&mut batch, usize::MAX);
            if self.trace.waits() {
                self.trace_enter(&batch);
            }
            for c in &batch {
                let key = key_of(c.user_data);
                match op_of(c.user_data) {
                    OP_ACCEPT => self.accepted(c),
                    OP_CONTROL => self.control_ready(c, &mut on_snapshot),
                    OP_RECV => self.received(key, c),
                    OP_SEND => self.sent(key, c),
                    _ => {} // cancellations: their targets report themselves
                }
            }
            self.completions = batch;
            if let Some(why) = self.broken.take() {
                return Err(io::Error::other(why));
            }
            self.flush_dirty();
            self.feed_starved();
            self.maybe_resume_accepting();
            self.trace.end_turn();
            if let Some(page) = &self.page {
                page.publish(&self.counters_now(), &self.mux_stats());
            }
        }
        self.trace.finish();
        Ok(self.snapshot("final"))
    }
}
