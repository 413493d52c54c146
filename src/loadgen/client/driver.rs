//! (A little over 400 lines: the one event loop every workload runs, kept in
//! one place on purpose.)
//!
//! The client driver: one worker's shard of connections on its own
//! non-blocking event loop (this crate's epoll backend, level-triggered) —
//! never a thread per connection. It owns what every workload does alike:
//! registration, the closed and open loop, the wait, flushing, reading until
//! the socket is empty, closing, and the end-of-window rules. A [`Workload`]
//! (echo, chat) says what a message is, what arriving bytes mean, and when
//! the worker may stop.
//!
//! Closed loop: each sending connection keeps `initial_sends` messages in
//! flight and sends the next when the workload says one came back. Open loop:
//! each sending connection has a schedule (phases spread evenly); a message
//! is sent when due and its latency is measured from the *intended* send time,
//! so a server that stalls is charged for every message that should have been
//! sent meanwhile (coordinated-omission correction, as wrk2 does).

use std::io::{self, Read};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::connect::connect_phase;
use super::coordination::{Shared, Timeline, WorkerPlan};
use super::measure::{new_interval_histogram, us_between, WorkerResult};
use super::schedule::{Pacing, Schedule, Slot, OPEN_LOOP_MAX_IN_FLIGHT};
use super::sendbuf::SendBuf;
use crate::mux::{Epoll, Events, Interest, Multiplexer, Token, Trigger};

/// The stream a connection received is not what was sent (already counted
/// by the workload); the driver closes the connection.
#[derive(Debug)]
pub struct Corrupt;

/// What a driver needs from a workload.
pub trait Workload {
    /// Per-connection state.
    type Conn;
    /// State of connection `id` (its global id).
    fn new_conn(&self, plan: &WorkerPlan, id: u32) -> Self::Conn;
    /// Whether connection `id` sends (echo: every one; chat: the senders).
    fn sends(&self, plan: &WorkerPlan, id: u32) -> bool;
    /// Open loop: how many sending connections share one interval's phases.
    fn phase_population(&self, plan: &WorkerPlan) -> usize;
    /// Closed loop: messages a sending connection starts with.
    fn initial_sends(&self, plan: &WorkerPlan) -> usize;
    /// Messages of this connection not yet seen back (the open loop's slot cap).
    fn outstanding(&self, c: &Self::Conn) -> usize;
    /// Append the next message, intended at `intended` and sent at `now`, to `out`.
    fn encode(
        &mut self,
        ctx: &mut Ctx<'_>,
        c: &mut Self::Conn,
        id: u32,
        out: &mut Vec<u8>,
        intended: Instant,
        now: Instant,
    );
    /// `data` arrived at `now`. Returns how many closed-loop sends follow, or
    /// `Err` if the stream is corrupt (counted by the workload; the driver
    /// closes the connection).
    fn on_data(
        &mut self,
        ctx: &mut Ctx<'_>,
        c: &mut Self::Conn,
        id: u32,
        data: &[u8],
        now: Instant,
    ) -> Result<usize, Corrupt>;
    /// After the window, while replies drain: whether this worker is done.
    fn finished(&self, ctx: &Ctx<'_>, conns: &[ClientConn<Self::Conn>], now: Instant) -> bool;
    /// The connection is closed: messages lost with it (counted missing).
    fn on_close(&mut self, c: &mut Self::Conn) -> u64;
    /// The run is over: count what never arrived on connections still open.
    fn at_end(&self, ctx: &mut Ctx<'_>, conns: &[ClientConn<Self::Conn>]);
}

/// The measurement context a workload records into.
pub struct Ctx<'a> {
    /// This worker's plan.
    pub plan: &'a WorkerPlan,
    /// State shared with the coordinator and the other workers.
    pub shared: &'a Shared,
    /// The run's phases.
    pub timeline: Timeline,
    /// What this worker measured so far.
    pub res: WorkerResult,
    /// This worker's random draws for the self-check samples (seeded).
    pub rng: rand::rngs::SmallRng,
}

impl Ctx<'_> {
    /// Whether a message intended at `t` belongs to the measured window.
    pub fn in_window(&self, t: Instant) -> bool {
        t >= self.timeline.measure_start && t < self.timeline.measure_end
    }

    /// Sending stops at the window's end (replies still drain).
    pub fn sending(&self, now: Instant) -> bool {
        now < self.timeline.measure_end
    }

    /// Closed loop (no `--rate`).
    pub fn closed_loop(&self) -> bool {
        self.plan.rate_per_conn.is_none()
    }

    /// A reply to a message intended at `intended` (actually sent at `actual`)
    /// arrived at `now`. A message belongs to the window its intended send
    /// time falls in, whenever its reply arrives, so the slowest replies of the
    /// window, which complete during the drain, are counted too.
    pub fn record(&mut self, intended: Instant, actual: Option<Instant>, now: Instant) {
        if !self.in_window(intended) {
            return;
        }
        let lat = us_between(intended, now);
        // The self-check's series: open loop only (closed loop has no check).
        if actual.is_some() && !self.closed_loop() {
            self.res.check.add_latency(lat);
        }
        self.res.requests += 1;
        self.res.latency.saturating_record(lat);
        if let Some(actual) = actual {
            self.res
                .latency_uncorrected
                .saturating_record(us_between(actual, now));
        }
        let i = interval_index(
            intended.duration_since(self.timeline.measure_start),
            self.timeline.interval,
        );
        if self.res.intervals.len() <= i {
            self.res
                .intervals
                .resize_with(i + 1, new_interval_histogram);
        }
        self.res.intervals[i].saturating_record(lat);
    }
}

/// One client connection: the socket, its pending output and the workload's state.
pub struct ClientConn<C> {
    stream: TcpStream,
    /// Global id.
    pub id: u32,
    /// Still open.
    pub open: bool,
    out: SendBuf,
    /// The workload's state.
    pub state: C,
    /// Open loop: when this connection last sent (the self-check's gaps).
    last_sent: Option<Instant>,
}

/// Connect the worker's connections, then drive them with `workload` to the
/// end of the run. Never panics on I/O errors: they are counted.
pub fn run<W: Workload>(workload: W, plan: &WorkerPlan, shared: &Shared) -> WorkerResult {
    let mut res = WorkerResult {
        timer_slack_ns: crate::sys::timer_slack_ns().unwrap_or(u64::MAX),
        ..WorkerResult::default()
    };
    let Some((connected, timeline)) = connect_phase(plan, shared, &mut res) else {
        return res;
    };
    let conns = connected
        .active
        .into_iter()
        .map(|(id, stream)| ClientConn {
            stream,
            id,
            open: true,
            last_sent: None,
            out: SendBuf::default(),
            state: workload.new_conn(plan, id),
        })
        .collect::<Vec<_>>();
    let mux = match Epoll::new(Trigger::Level) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("loadgen: worker: epoll_create: {e}");
            shared.abort.store(true, Ordering::SeqCst);
            return res;
        }
    };
    let mut driver = Driver {
        ctx: Ctx {
            plan,
            shared,
            timeline,
            res,
            // Another stream than the schedule's (which takes the seed itself).
            rng: rand::SeedableRng::seed_from_u64(plan.seed ^ 0x9e37_79b9_7f4a_7c15),
        },
        workload,
        mux,
        open_conns: conns.len(),
        conns,
        buf: vec![0u8; 64 * 1024],
    };
    driver.run();
    // The idle connections stay open until the active ones are done.
    drop(connected.idle);
    driver.ctx.res
}

struct Driver<'a, W: Workload> {
    ctx: Ctx<'a>,
    workload: W,
    mux: Epoll,
    conns: Vec<ClientConn<W::Conn>>,
    buf: Vec<u8>,
    open_conns: usize,
}

impl<W: Workload> Driver<'_, W> {
    fn run(&mut self) {
        let now = Instant::now();
        let plan = self.ctx.plan;
        let mut schedule = plan
            .rate_per_conn
            .map(|r| Schedule::new(r, plan.arrivals, plan.seed));
        for i in 0..self.conns.len() {
            let fd = self.conns[i].stream.as_raw_fd();
            if let Err(e) = self.mux.register(fd, Token(i), Interest::READABLE) {
                self.ctx.res.errors.connect_failed += 1;
                *self
                    .ctx
                    .res
                    .connect_failures
                    .entry(format!("register: {e}"))
                    .or_default() += 1;
                self.close(i, false);
                continue;
            }
            let id = self.conns[i].id;
            if !self.workload.sends(plan, id) {
                continue;
            }
            match &mut schedule {
                None => {
                    for _ in 0..self.workload.initial_sends(plan) {
                        self.send(i, now, now);
                    }
                }
                Some(s) => s.add(i, now, id, self.workload.phase_population(plan)),
            }
        }
        let mut events = Events::with_capacity(1024);
        let mut due = Vec::new();
        loop {
            if self.ctx.shared.abort.load(Ordering::Relaxed)
                || self.ctx.shared.open_conns.load(Ordering::Relaxed) == 0
            {
                break; // every connection of the run is gone: the coordinator ends it
            }
            let now = Instant::now();
            let sending = self.ctx.sending(now);
            if !sending
                && (now >= self.ctx.timeline.drain_end
                    || self.open_conns == 0
                    || self.workload.finished(&self.ctx, &self.conns, now))
            {
                break;
            }
            // Open loop: send everything that is due (and has a free slot).
            let mut next_due = None;
            if let (Some(s), true) = (&mut schedule, sending) {
                let (conns, workload) = (&self.conns, &self.workload);
                let held = std::cell::Cell::new(0u64);
                next_due = s.take_due(
                    now,
                    |i| match &conns[i] {
                        c if !c.open => Slot::Gone,
                        c => match workload.outstanding(&c.state) {
                            n if n >= OPEN_LOOP_MAX_IN_FLIGHT => {
                                held.set(held.get() + 1);
                                Slot::Busy
                            }
                            n => Slot::Free(OPEN_LOOP_MAX_IN_FLIGHT - n),
                        },
                    },
                    &mut due,
                );
                if self.ctx.in_window(now) {
                    self.ctx.res.check.held += held.get();
                }
                for &(i, intended) in &due {
                    self.send(i, intended, now);
                }
            }
            if !self.wait_and_dispatch(&mut events, now, sending, next_due) {
                break;
            }
        }
        // Open loop: what was due in the window but never sent.
        if let Some(s) = &schedule {
            let conns = &self.conns;
            self.ctx.res.unsent +=
                s.unsent_before(self.ctx.timeline.measure_end, |i| conns[i].open);
        }
        self.workload.at_end(&mut self.ctx, &self.conns);
        let t = self.ctx.timeline;
        self.ctx.res.intervals.truncate(
            (t.measure_end
                .saturating_duration_since(t.measure_start)
                .as_secs_f64()
                / t.interval.as_secs_f64())
            .ceil() as usize,
        );
    }

    /// Wait for events (at most 20 ms, and not past the window's end or the
    /// next due message) and handle them. `false`: stop (the wait failed).
    fn wait_and_dispatch(
        &mut self,
        events: &mut Events,
        now: Instant,
        sending: bool,
        next_due: Option<Instant>,
    ) -> bool {
        let timeout = wait_timeout(
            now,
            sending,
            self.ctx.timeline,
            next_due,
            self.ctx.plan.pacing,
        );
        if let Err(e) = self.mux.wait_precise(events, Some(timeout)) {
            eprintln!("loadgen: worker: epoll_pwait2: {e}");
            self.ctx.shared.abort.store(true, Ordering::SeqCst);
            return false;
        }
        for ev in events.iter() {
            let i = ev.token.0;
            if !self.conns[i].open {
                continue;
            }
            if ev.writable {
                self.flush(i);
            }
            if ev.readable || ev.read_closed || ev.error {
                self.read(i);
            }
        }
        true
    }

    /// Queue connection `i`'s next message and write what the socket takes.
    fn send(&mut self, i: usize, intended: Instant, now: Instant) {
        let c = &mut self.conns[i];
        if !c.open {
            return;
        }
        let was_empty = c.out.pending() == 0;
        self.workload.encode(
            &mut self.ctx,
            &mut c.state,
            c.id,
            c.out.queue(),
            intended,
            now,
        );
        if self.ctx.in_window(intended) {
            self.ctx.res.sent += 1;
        }
        // The self-check judges the sends made in the window, whenever they
        // were intended (a generator far behind sends only old messages).
        if let (Some(rate), true) = (self.ctx.plan.rate_per_conn, self.ctx.in_window(now)) {
            let check = &mut self.ctx.res.check;
            check.sent += 1;
            check.send_lag.saturating_record(us_between(intended, now));
            if let Some(last) = c.last_sent {
                let gap = now.saturating_duration_since(last).as_secs_f64() * rate;
                check.add_gap(gap, &mut self.ctx.rng);
            }
        }
        if self.ctx.plan.rate_per_conn.is_some() {
            c.last_sent = Some(now);
        }
        if was_empty {
            self.flush(i); // nothing was pending before: write now
        }
    }

    fn flush(&mut self, i: usize) {
        let c = &mut self.conns[i];
        if c.out.flush(&mut c.stream, &mut self.mux, Token(i)).is_err() {
            self.close(i, true);
        }
    }

    /// Read until the socket is empty (a read shorter than the buffer says
    /// so), handing every chunk to the workload.
    fn read(&mut self, i: usize) {
        loop {
            let c = &mut self.conns[i];
            match c.stream.read(&mut self.buf) {
                Ok(0) => {
                    self.close(i, true);
                    return;
                }
                Ok(n) => {
                    let now = Instant::now();
                    let data = &self.buf[..n];
                    match self
                        .workload
                        .on_data(&mut self.ctx, &mut c.state, c.id, data, now)
                    {
                        Ok(sends) => {
                            for _ in 0..sends {
                                self.send(i, now, now);
                            }
                        }
                        Err(Corrupt) => {
                            self.close(i, false);
                            return;
                        }
                    }
                    if !self.conns[i].open || n < self.buf.len() {
                        return; // the receive queue is empty
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.close(i, true);
                    return;
                }
            }
        }
    }

    fn close(&mut self, i: usize, by_server: bool) {
        let c = &mut self.conns[i];
        if !c.open {
            return;
        }
        c.open = false;
        self.open_conns = self.open_conns.saturating_sub(1);
        self.ctx.shared.open_conns.fetch_sub(1, Ordering::SeqCst);
        let _ = self.mux.deregister(c.stream.as_raw_fd());
        self.ctx.res.errors.missing += self.workload.on_close(&mut c.state);
        if by_server {
            self.ctx.res.errors.closed_by_server += 1;
        }
    }
}

/// How long a worker may wait: 20 ms at most (to notice aborts), and not past
/// the window's end (while sending) or the moment `pacing` wakes for the next
/// due open-loop message.
fn wait_timeout(
    now: Instant,
    sending: bool,
    timeline: Timeline,
    next_due: Option<Instant>,
    pacing: Pacing,
) -> Duration {
    let mut timeout = Duration::from_millis(20);
    if sending {
        timeout = timeout.min(timeline.measure_end.saturating_duration_since(now));
    }
    if let Some(due) = next_due {
        timeout = timeout.min(pacing.wake_for(due, now).saturating_duration_since(now));
    }
    timeout
}

/// The interval an instant `since_start` into the window falls in.
fn interval_index(since_start: Duration, interval: Duration) -> usize {
    (since_start.as_nanos() / interval.as_nanos().max(1)) as usize
}
