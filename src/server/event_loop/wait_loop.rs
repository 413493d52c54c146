//! The loop's state and its turn: wait, dispatch each event, then the work
//! that waits for the end of a batch (accepting, revisits, the protocol's
//! flush, publishing the counters). The steps themselves are in the files
//! beside this one.

use std::fs::File;
use std::io;
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use slab::Slab;

use crate::mux::{Event, Events, Interest, Multiplexer, Token};
use crate::server::config::Config;
use crate::server::conn::Conn;
use crate::server::control;
use crate::server::counters::{Counters, Snapshot};
use crate::server::protocol::{Echo, Handler, Loop, Parts};
use crate::server::rules::Step;
use crate::server::stats_page::StatsPage;
use crate::server::trace::{self, Tracer};

/// Token of the listening socket.
pub(super) const LISTENER: Token = Token(usize::MAX);
/// Token of the control pipe (signals and in-process commands).
const CONTROL: Token = Token(usize::MAX - 1);
/// Watch the listener: one of several reactors' exclusively
/// (`--accept exclusive`), or plainly.
pub(super) fn register_listener<M: Multiplexer>(
    mux: &mut M,
    listener: &TcpListener,
    exclusive: bool,
) -> io::Result<()> {
    if exclusive {
        mux.register_exclusive(listener.as_raw_fd(), LISTENER)
    } else {
        mux.register(listener.as_raw_fd(), LISTENER, Interest::READABLE)
    }
}

/// The echo server loop. Create it with [`EventLoop::new`], then [`EventLoop::run`].
pub struct EventLoop<M: Multiplexer, P: Handler = Echo> {
    pub(super) mux: M,
    pub(super) listener: TcpListener,
    pub(super) control: File,
    pub(super) conns: Slab<Conn<P::Conn>>,
    pub(super) read_buf: Box<[u8]>,
    pub(super) cfg: Config,
    pub(super) counters: Counters,
    /// The protocol's state for the whole loop (chat: who has output to flush).
    pub(super) proto: P,
    /// Connections to read again without waiting for an edge.
    pub(super) revisit: Vec<usize>,
    /// The listener hit the accept batch limit under edge trigger.
    pub(super) revisit_listener: bool,
    /// Accepting is paused (descriptors ran out) until this instant or until a
    /// connection closes, whichever comes first.
    pub(super) accept_paused_until: Option<Instant>,
    pub(super) warned_refusal: bool,
    pub(super) stop: bool,
    /// `--trace` output; one predictable branch per event when off.
    pub(super) trace: Tracer,
    /// The backend's `slots_scanned` at the last traced wait.
    pub(super) traced_scanned: u64,
    /// `--stats-page`: where the counters are published each turn.
    pub(super) page: Option<StatsPage>,
    /// `--reactors`: this reactor's slot, published each turn.
    pub(super) slot: Option<std::sync::Arc<crate::server::slot::Slot>>,
}

impl<M: Multiplexer, P: Handler> EventLoop<M, P> {
    /// Set up the loop: register the (non-blocking) listener and the control
    /// pipe's read end. Bytes written to the pipe are commands: `CONTROL_SNAPSHOT`
    /// or `CONTROL_STOP` (the signal numbers of SIGUSR1 / SIGTERM).
    pub fn new(mut mux: M, listener: TcpListener, control: File, cfg: Config) -> io::Result<Self> {
        listener.set_nonblocking(true)?;
        // A zero cap would leave every connection unread forever.
        let cfg = Config {
            max_pending: cfg.max_pending.max(1),
            ..cfg
        };
        register_listener(&mut mux, &listener, cfg.accept_exclusive)?;
        mux.register(control.as_raw_fd(), CONTROL, Interest::READABLE)?;
        let trace = Tracer::new(cfg.trace)?;
        let page = cfg
            .stats_page
            .as_deref()
            .map(StatsPage::create)
            .transpose()?;
        Ok(EventLoop {
            mux,
            listener,
            control,
            conns: Slab::new(),
            read_buf: vec![0; cfg.read_buf.max(1)].into_boxed_slice(),
            cfg,
            counters: Counters::default(),
            proto: P::default(),
            revisit: Vec::new(),
            revisit_listener: false,
            accept_paused_until: None,
            warned_refusal: false,
            stop: false,
            trace,
            traced_scanned: 0,
            page,
            slot: None,
        })
    }

    /// Publish the counters into `slot` every loop turn (one reactor of several).
    pub(crate) fn publish_to(&mut self, slot: std::sync::Arc<crate::server::slot::Slot>) {
        self.slot = Some(slot);
    }

    /// The loop's counters, with the gauges filled in.
    fn counters_now(&self) -> Counters {
        Counters {
            conns: self.conns.len() as u64,
            trace_lines_dropped: self.trace.dropped(),
            ..self.counters
        }
    }

    /// Current counters of the loop, the backend and the process.
    pub fn snapshot(&self, kind: &str) -> Snapshot {
        Snapshot::now(kind, self.mux.name(), self.counters_now(), self.mux.stats())
    }

    /// Serve until a stop command arrives. `on_snapshot` receives each snapshot
    /// requested through the control pipe; the final snapshot is returned.
    pub fn run(&mut self, mut on_snapshot: impl FnMut(&Snapshot)) -> io::Result<Snapshot> {
        let mut events = Events::with_capacity(self.cfg.events);
        while !self.stop {
            let timeout = self.wait_timeout();
            self.mux.wait(&mut events, timeout)?;
            if self.trace.waits() {
                self.trace_wait(&events);
            }
            let mut listener_ready = false;
            for ev in events.iter() {
                match ev.token {
                    // Accept after the batch: a connection accepted now could
                    // take the slab slot of one closed earlier in this batch,
                    // and that one's stale error event would then close it.
                    LISTENER => listener_ready = true,
                    CONTROL => self.control_ready(&mut on_snapshot),
                    Token(key) => self.conn_ready(key, ev),
                }
            }
            if listener_ready {
                self.accept_ready();
            }
            self.run_revisits();
            P::after_batch(self);
            self.maybe_resume_accepting();
            self.trace.end_turn();
            if let Some(page) = &self.page {
                page.publish(&self.counters_now(), &self.mux.stats());
            }
            if let Some(slot) = &self.slot {
                slot.publish(&self.counters_now(), &self.mux.stats());
            }
        }
        self.trace.finish();
        Ok(self.snapshot("final"))
    }

    /// `wait #N -> K events [fd 7 R, fd 9 R|RDHUP]`, plus the slots scanned
    /// for the backends that scan their whole set (select, poll).
    #[cold]
    #[inline(never)]
    fn trace_wait(&mut self, events: &Events) {
        use std::fmt::Write as _;
        let stats = self.mux.stats();
        let mut list = String::new();
        for ev in events.iter() {
            if !list.is_empty() {
                list.push_str(", ");
            }
            let flags = trace::event_flags(ev);
            let _ = match ev.token {
                LISTENER => write!(list, "fd {} {flags} (listener)", self.listener.as_raw_fd()),
                CONTROL => write!(list, "fd {} {flags} (control)", self.control.as_raw_fd()),
                Token(key) => match self.conns.get(key) {
                    Some(c) => write!(list, "fd {} {flags}", c.stream.as_raw_fd()),
                    None => write!(list, "slot {key} {flags} (closed)"),
                },
            };
        }
        let scanned = stats.slots_scanned - self.traced_scanned;
        self.traced_scanned = stats.slots_scanned;
        let scan = if self.mux.backend().scans_set() {
            format!(" scanned {scanned}")
        } else {
            String::new()
        };
        let n = events.len();
        let plural = if n == 1 { "" } else { "s" };
        self.trace.line(format_args!(
            "wait #{} -> {n} event{plural} [{list}]{scan}",
            stats.wait_calls
        ));
    }

    fn wait_timeout(&self) -> Option<Duration> {
        if !self.revisit.is_empty() || self.revisit_listener {
            return Some(Duration::ZERO);
        }
        self.accept_paused_until
            .map(|until| until.saturating_duration_since(Instant::now()))
    }

    fn control_ready(&mut self, on_snapshot: &mut impl FnMut(&Snapshot)) {
        let cmds = control::drain(&mut self.control);
        for _ in 0..cmds.snapshots {
            on_snapshot(&self.snapshot("snapshot"));
        }
        self.stop |= cmds.stop;
    }

    fn conn_ready(&mut self, key: usize, ev: &Event) {
        let Some(conn) = self.conns.get_mut(key) else {
            return; // closed earlier in this batch
        };
        if ev.error {
            // An error is pending (typically RST): nothing more can be delivered.
            self.close(key, true);
            return;
        }
        if ev.read_closed {
            conn.fin_seen = true;
        }
        let mut step = Step::Continue;
        if (ev.writable || ev.hangup) && conn.pending() > 0 {
            step = self.flush(key);
        }
        if matches!(step, Step::Continue) && (ev.readable || ev.read_closed) {
            step = self.read_ready(key);
        }
        if matches!(step, Step::Continue)
            && self.conns.get(key).is_some_and(|c| P::deferred(&c.proto))
        {
            return; // the protocol writes and settles it after the batch (chat)
        }
        self.settle(key, step);
    }
}

impl<M: Multiplexer, P: Handler> Loop<P> for EventLoop<M, P> {
    fn parts(&mut self) -> Parts<'_, P> {
        Parts {
            conns: &mut self.conns,
            read_buf: &mut self.read_buf,
            cfg: &self.cfg,
            counters: &mut self.counters,
            proto: &mut self.proto,
            trace: &mut self.trace,
        }
    }

    fn flush(&mut self, key: usize) -> Step {
        EventLoop::flush(self, key)
    }

    fn settle(&mut self, key: usize, step: Step) {
        EventLoop::settle(self, key, step);
    }

    fn close(&mut self, key: usize, reset: bool) {
        EventLoop::close(self, key, reset);
    }
}
