//! Sliced comparison: every arm's server up at once, the offered load moved
//! between them in short slices.
//!
//! Why: these VMs flip between a fast and a slow state for loopback TCP
//! (whole-machine busy time per request 7.7 ↔ 14.5 µs) in stretches of
//! 5–30 s that neither steal nor the calibration probe sees. A round of
//! whole runs (warm-up + 2 s per arm) is longer than a state, so pairing by
//! round leaves a flip between the two sides of many ratios. Here every
//! arm's server is started, pinned to the server CPU, connected and warmed
//! up once; then each *cycle* gives every arm one slice (default 0.5 s) in a
//! random order. A blocked server costs nothing while the others have the
//! load, the connections to every arm stay open (idle ones included), and a
//! ratio is taken within a cycle — from slices at most a cycle apart — so a
//! state flip hits both of its sides or, rarely, one cycle.
//!
//! A slice is closed loop: each active connection of the arm keeps
//! `--pipeline` messages in flight while the slice lasts; at its end sending
//! stops and what is in flight is drained (the drain's time is not in the
//! slice's length; its requests and the server's work for them are in the
//! slice's figures). The server's figures come from `SIGUSR1` snapshots at
//! the slice's edges, taken while the arm is quiet; the machine's busy time
//! per CPU and context from /proc/stat. Every echoed byte is verified.
//!
//! Each slice becomes one row with `repeat` = its cycle and `interleave` =
//! `slices`, so the report pairs arms by cycle exactly as it pairs runs by
//! round.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::args::RunArgs;
use super::child::ServerChild;
use super::client::measure::{new_histogram, us_between};
use super::client::schedule::{Schedule, Slot, OPEN_LOOP_MAX_IN_FLIGHT};
use super::client::sendbuf::SendBuf;
use super::machine::{CpuTimes, Machine};
use super::message::{encode, Verdict, Verifier};
use super::result;
use super::run::AffinityGuard;
use super::sampler::PagePath;
use super::setup::{check_settings, place, server_command};
use crate::mux::{Epoll, Events, Interest, Multiplexer, Token, Trigger};
use crate::record::LoadModel;
use crate::record::RunResult;
use crate::server::Protocol;
use crate::sys;

/// Default slice length.
pub const DEFAULT_SLICE: Duration = Duration::from_millis(500);
/// Shortest slice: a server snapshot costs about a millisecond at each edge.
pub const MIN_SLICE: Duration = Duration::from_millis(50);

/// Whether an arm can be run in slices: a server of our own, echo, one loop.
pub fn supports(args: &RunArgs) -> Result<(), String> {
    if args.addr.is_some() || args.backend.is_none() {
        return Err("an external server (slices start every arm's server)".into());
    }
    if args.load.workload != Protocol::Echo {
        return Err("the chat workload (slices drive echo)".into());
    }
    if args.load.reactors.is_some() {
        return Err("--reactors".into());
    }
    if args.count_syscalls {
        return Err("--count-syscalls (its counters are per run)".into());
    }
    Ok(())
}

/// One active connection.
struct Conn {
    stream: TcpStream,
    id: u32,
    verifier: Verifier,
    next_seq: u64,
    /// Send time of each message in flight, oldest first.
    in_flight: VecDeque<Instant>,
    out: SendBuf,
    open: bool,
}

/// One arm: its server, its connections and its settings.
struct Arm {
    label: String,
    args: RunArgs,
    server: ServerChild,
    _page: PagePath,
    conns: Vec<Conn>,
    /// Held open, never used: the idle connections the server watches.
    _idle: Vec<TcpStream>,
    /// Token of `conns[0]`.
    first_token: usize,
}

/// What one slice measured on the client's side.
struct Tally {
    requests: u64,
    corrupt: u64,
    missing: u64,
    closed: u64,
    /// Open loop: how late sends left after their intended time, µs.
    send_lag: hdrhistogram::Histogram<u64>,
    /// Open loop: messages due in the slice that were never sent.
    unsent: u64,
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            requests: 0,
            corrupt: 0,
            missing: 0,
            closed: 0,
            send_lag: new_histogram(),
            unsent: 0,
        }
    }
}

/// Every arm's server, up and connected; see the module docs.
pub struct Sliced {
    arms: Vec<Arm>,
    mux: Epoll,
    /// Token → (arm, connection).
    tokens: Vec<(usize, usize)>,
    buf: Vec<u8>,
    server_cpu: Option<usize>,
    client_cpus: String,
    machine: Machine,
    warmup: Duration,
    rng: rand::rngs::SmallRng,
    _affinity: Option<AffinityGuard>,
    /// This thread paces open-loop sends: 1 ns of timer slack while it does.
    _precise: Option<sys::PreciseTimers>,
}

impl Sliced {
    /// Start every arm's server (the settings of `arms[0]` place them all:
    /// the server CPU and the client CPUs), connect each arm's active and
    /// idle connections, and warm every arm up for `warmup` (unrecorded).
    pub fn start(
        arms: Vec<(String, RunArgs)>,
        exe: &Path,
        warmup: Duration,
        seed: u64,
    ) -> Result<Sliced> {
        let Some((_, first)) = arms.first() else {
            bail!("no arms to compare");
        };
        for (label, args) in &arms {
            supports(args).map_err(|why| anyhow!("{label}: slices do not support {why}"))?;
            check_settings(args).with_context(|| label.clone())?;
        }
        let placement = place(first)?;
        let mut started = Vec::new();
        for (label, args) in arms {
            let backend = args.backend.expect("checked by supports");
            let page =
                PagePath::new().context("making a private directory for the counters page")?;
            let server = ServerChild::spawn(
                server_command(exe, &args, backend, placement.server_cpu, page.path()),
                Duration::from_secs(10),
            )
            .with_context(|| format!("starting the server of {label}"))?;
            started.push((label, args, server, page));
        }
        // This thread drives the load: off the server's CPU (after the
        // servers started: a child inherits the mask of the thread that forks it).
        let affinity = placement
            .client_cpus
            .as_deref()
            .and_then(|cpus| AffinityGuard::pin(cpus).ok());
        let mut mux = Epoll::new(Trigger::Level).context("epoll_create")?;
        let mut tokens = Vec::new();
        let mut out = Vec::new();
        for (a, (label, args, mut server, page)) in started.into_iter().enumerate() {
            let addr = server.addr;
            let connect = |_: usize| -> Result<TcpStream> {
                let s = TcpStream::connect_timeout(&addr, args.load.connect_timeout)
                    .with_context(|| format!("{label}: connecting to {addr}"))?;
                s.set_nodelay(true)?;
                s.set_nonblocking(true)?;
                Ok(s)
            };
            let first_token = tokens.len();
            let mut conns = Vec::with_capacity(args.conns);
            for i in 0..args.conns {
                let stream = connect(i)?;
                mux.register(stream.as_raw_fd(), Token(tokens.len()), Interest::READABLE)
                    .context("registering a client connection")?;
                tokens.push((a, i));
                conns.push(Conn {
                    stream,
                    id: i as u32,
                    verifier: Verifier::new(i as u32, args.msg_size),
                    next_seq: 0,
                    in_flight: VecDeque::new(),
                    out: SendBuf::default(),
                    open: true,
                });
            }
            let idle = (0..args.idle).map(connect).collect::<Result<Vec<_>>>()?;
            // Every connection accepted and registered before any slice.
            let want = (args.conns + args.idle) as u64;
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let snap = server.snapshot(Duration::from_secs(5))?;
                if snap.counters.accepts >= want {
                    if snap.counters.refused > 0 {
                        bail!(
                            "{label}: the server refused {} of {want} connections",
                            snap.counters.refused
                        );
                    }
                    break;
                }
                if Instant::now() > deadline {
                    bail!(
                        "{label}: the server accepted {} of {want} connections in 10 s",
                        snap.counters.accepts
                    );
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            out.push(Arm {
                label,
                args,
                server,
                _page: page,
                conns,
                _idle: idle,
                first_token,
            });
        }
        let mut sliced = Sliced {
            arms: out,
            mux,
            tokens,
            buf: vec![0; 64 * 1024],
            server_cpu: placement.server_cpu,
            client_cpus: result::cpu_list(placement.client_cpus.as_deref()),
            machine: Machine::detect(),
            warmup,
            rng: rand::rngs::SmallRng::seed_from_u64(seed),
            _affinity: affinity,
            _precise: sys::PreciseTimers::new().ok(),
        };
        for a in 0..sliced.arms.len() {
            sliced.drive(a, warmup)?;
        }
        Ok(sliced)
    }

    /// The arms' labels, in the order given.
    pub fn labels(&self) -> Vec<String> {
        self.arms.iter().map(|a| a.label.clone()).collect()
    }

    /// One cycle: a slice of `length` for every arm, in a random order; one
    /// row per arm (in the order given), `repeat` = `cycle`.
    pub fn cycle(&mut self, cycle: usize, length: Duration) -> Result<Vec<RunResult>> {
        let mut order: Vec<usize> = (0..self.arms.len()).collect();
        order.shuffle(&mut self.rng);
        let mut rows: Vec<Option<RunResult>> = vec![None; self.arms.len()];
        for a in order {
            let mut r = self.slice(a, length)?;
            r.repeat = Some(cycle);
            rows[a] = Some(r);
        }
        Ok(rows
            .into_iter()
            .map(|r| r.expect("every arm ran"))
            .collect())
    }

    /// One measured slice of arm `a`.
    fn slice(&mut self, a: usize, length: Duration) -> Result<RunResult> {
        let s0 = self.arms[a].server.snapshot(Duration::from_secs(5))?;
        let (cpu0, ru0) = (CpuTimes::read_core(self.server_cpu), sys::rusage_self()?);
        let mut latency = new_histogram();
        let t0 = Instant::now();
        let (tally, t_stop) = self.run_slice(a, length, Some(&mut latency))?;
        let (cpu1, ru1) = (CpuTimes::read_core(self.server_cpu), sys::rusage_self()?);
        let s1 = self.arms[a].server.snapshot(Duration::from_secs(5))?;
        let measured_s = (t_stop - t0).as_secs_f64();
        let mut r = self.row(a, &tally, &latency, measured_s);
        result::apply_server_window(&mut r, &s0, &s1, tally.requests, measured_s);
        result::apply_machine(&mut r, &cpu0, &cpu1, self.server_cpu, tally.requests);
        let client_us = (ru1.user_us + ru1.sys_us).saturating_sub(ru0.user_us + ru0.sys_us);
        r.client_cpu_pct = 100.0 * client_us as f64 / (measured_s.max(1e-9) * 1e6);
        r.client_cpu_us_per_req =
            (tally.requests > 0).then(|| client_us as f64 / tally.requests as f64);
        r.steal_pct = cpu0.steal_pct_until(&cpu1);
        Ok(r)
    }

    /// Unrecorded load on arm `a` for `length`.
    fn drive(&mut self, a: usize, length: Duration) -> Result<()> {
        self.run_slice(a, length, None).map(|_| ())
    }

    /// Keep arm `a`'s connections busy for `length`, then drain; returns
    /// the tally and when sending stopped.
    fn run_slice(
        &mut self,
        a: usize,
        length: Duration,
        mut latency: Option<&mut hdrhistogram::Histogram<u64>>,
    ) -> Result<(Tally, Instant)> {
        let mut tally = Tally::default();
        let args = &self.arms[a].args;
        let (pipeline, timeout, pacing) = (args.load.pipeline, args.load.timeout, args.load.pacing);
        let n = self.arms[a].conns.len();
        let start = Instant::now();
        let stop_at = start + length;
        let seed = rand::Rng::gen(&mut self.rng);
        let mut schedule = args.rate.map(|rate| {
            let mut s = Schedule::new(rate / n.max(1) as f64, args.arrivals, seed);
            for i in 0..n {
                s.add(i, start, i as u32, n);
            }
            s
        });
        if schedule.is_none() {
            for i in 0..n {
                for _ in 0..pipeline {
                    self.send(a, i, start, start, &mut tally);
                }
            }
        }
        let mut events = Events::with_capacity(1024);
        let mut due = Vec::new();
        let mut sending = true;
        let mut stopped = stop_at;
        loop {
            let now = Instant::now();
            if sending && now >= stop_at {
                sending = false;
                stopped = now;
            }
            let mut next_due = None;
            if let (Some(s), true) = (&mut schedule, sending) {
                let conns = &self.arms[a].conns;
                next_due = s.take_due(
                    now,
                    |i| match &conns[i] {
                        c if !c.open => Slot::Gone,
                        c if c.in_flight.len() >= OPEN_LOOP_MAX_IN_FLIGHT => Slot::Busy,
                        c => Slot::Free(OPEN_LOOP_MAX_IN_FLIGHT - c.in_flight.len()),
                    },
                    &mut due,
                );
                for &(i, intended) in &due {
                    self.send(a, i, intended, now, &mut tally);
                }
            }
            let outstanding: usize = self.arms[a]
                .conns
                .iter()
                .filter(|c| c.open)
                .map(|c| c.in_flight.len())
                .sum();
            if !sending && outstanding == 0 {
                break;
            }
            if !sending && now > stopped + timeout {
                bail!(
                    "{}: {outstanding} echoes still missing {timeout:?} after the slice ended",
                    self.arms[a].label
                );
            }
            let mut wait = if sending {
                stop_at.saturating_duration_since(now)
            } else {
                Duration::from_millis(5)
            };
            if let Some(d) = next_due {
                wait = wait.min(pacing.wake_for(d, now).saturating_duration_since(now));
            }
            self.mux
                .wait_precise(&mut events, Some(wait.min(Duration::from_millis(20))))
                .context("epoll_pwait2")?;
            for ev in events.iter() {
                let (arm, i) = self.tokens[ev.token.0];
                if ev.writable {
                    self.flush(arm, i, &mut tally);
                }
                if ev.readable || ev.read_closed || ev.error {
                    let now = Instant::now();
                    let done = self.read(arm, i, now, &mut tally, latency.as_deref_mut());
                    if arm == a && sending && schedule.is_none() {
                        for _ in 0..done {
                            self.send(a, i, now, now, &mut tally);
                        }
                    }
                }
            }
        }
        if let Some(s) = &schedule {
            let conns = &self.arms[a].conns;
            tally.unsent = s.unsent_before(stop_at, |i| conns[i].open);
        }
        if tally.corrupt + tally.closed > 0 {
            bail!(
                "{}: {} corrupt echoes, {} connections closed by the server",
                self.arms[a].label,
                tally.corrupt,
                tally.closed
            );
        }
        Ok((tally, stopped))
    }

    /// Queue connection `i`'s next message, intended at `intended` (closed
    /// loop: now), and write what the socket takes.
    fn send(&mut self, a: usize, i: usize, intended: Instant, now: Instant, tally: &mut Tally) {
        let msg_size = self.arms[a].args.msg_size;
        let open_loop = self.arms[a].args.rate.is_some();
        let c = &mut self.arms[a].conns[i];
        if !c.open {
            return;
        }
        if open_loop {
            tally.send_lag.saturating_record(us_between(intended, now));
        }
        let was_empty = c.out.pending() == 0;
        encode(c.out.queue(), c.id, c.next_seq, msg_size);
        c.next_seq += 1;
        // Latency counts from the intended instant (coordinated omission).
        c.in_flight.push_back(intended);
        if was_empty {
            self.flush(a, i, tally);
        }
    }

    fn flush(&mut self, a: usize, i: usize, tally: &mut Tally) {
        let token = Token(self.arms[a].first_token + i);
        let c = &mut self.arms[a].conns[i];
        if c.open && c.out.flush(&mut c.stream, &mut self.mux, token).is_err() {
            self.close(a, i, tally);
        }
    }

    fn close(&mut self, a: usize, i: usize, tally: &mut Tally) {
        let c = &mut self.arms[a].conns[i];
        if c.open {
            c.open = false;
            let _ = self.mux.deregister(c.stream.as_raw_fd());
            tally.missing += c.in_flight.len() as u64;
            c.in_flight.clear();
            tally.closed += 1;
        }
    }

    /// Read what arrived on arm `a`'s connection `i`, verify it, record the
    /// echoes completed; returns how many.
    fn read(
        &mut self,
        a: usize,
        i: usize,
        now: Instant,
        tally: &mut Tally,
        mut latency: Option<&mut hdrhistogram::Histogram<u64>>,
    ) -> usize {
        let mut done = 0;
        loop {
            let c = &mut self.arms[a].conns[i];
            if !c.open {
                return done;
            }
            match c.stream.read(&mut self.buf) {
                Ok(0) => {
                    self.close(a, i, tally);
                    return done;
                }
                Ok(n) => {
                    let k = match c.verifier.feed(&self.buf[..n]) {
                        Verdict::Ok(k) => k,
                        Verdict::Corrupt { completed } => {
                            tally.corrupt += 1;
                            done += completed;
                            self.close(a, i, tally);
                            return done;
                        }
                    };
                    for _ in 0..k {
                        if let Some(sent) = c.in_flight.pop_front() {
                            tally.requests += 1;
                            if let Some(h) = latency.as_deref_mut() {
                                h.saturating_record(us_between(sent, now));
                            }
                        } else {
                            tally.corrupt += 1; // an echo of nothing sent
                        }
                    }
                    done += k;
                    if n < self.buf.len() {
                        return done;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return done,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.close(a, i, tally);
                    return done;
                }
            }
        }
    }

    /// A slice's row: the settings, the client's count and latency.
    fn row(
        &self,
        a: usize,
        t: &Tally,
        h: &hdrhistogram::Histogram<u64>,
        measured_s: f64,
    ) -> RunResult {
        let arm = &self.arms[a];
        let args = &arm.args;
        let req_per_s = t.requests as f64 / measured_s.max(1e-9);
        let mut r = RunResult {
            timestamp: super::now_rfc3339(),
            workload: args.load.workload,
            backend: args.target_name(),
            arm: if arm.label == args.target_name() {
                String::new()
            } else {
                arm.label.clone()
            },
            interleave: "slices".into(),
            conns: args.conns,
            idle: args.idle,
            msg_size: args.msg_size,
            load_model: if args.rate.is_some() {
                LoadModel::Open
            } else {
                LoadModel::Closed
            },
            target_rate: args.rate,
            arrivals: args.rate.map(|_| args.arrivals.to_string()),
            pacing: args.rate.map(|_| args.load.pacing.to_string()),
            unsent: args.rate.map(|_| t.unsent),
            rate_not_met: args.rate.map(|r| req_per_s < 0.95 * r),
            send_lag_p50_us: (!t.send_lag.is_empty()).then(|| t.send_lag.value_at_quantile(0.5)),
            send_lag_p99_us: (!t.send_lag.is_empty()).then(|| t.send_lag.value_at_quantile(0.99)),
            pipeline: args.load.pipeline,
            read_buf: args.read_buf,
            read_policy: args.load.read_policy,
            max_pending: args.load.max_pending,
            warmup_s: self.warmup.as_secs_f64(),
            duration_s: measured_s,
            timeout_s: args.load.timeout.as_secs_f64(),
            connect_rate: args.load.connect_rate,
            connect_timeout_s: args.load.connect_timeout.as_secs_f64(),
            measured_s,
            threads: 1,
            server_cpu: self.server_cpu,
            client_cpus: self.client_cpus.clone(),
            connected: arm.conns.iter().filter(|c| c.open).count(),
            connected_idle: args.idle,
            requests: t.requests,
            req_per_s,
            mb_per_s: req_per_s * args.msg_size as f64 / 1e6,
            errors: t.corrupt + t.missing + t.closed,
            err_corrupt: t.corrupt,
            err_missing: t.missing,
            err_closed_by_server: t.closed,
            cpu_model: self.machine.cpu_model.clone(),
            cores: self.machine.cores,
            kernel: self.machine.kernel.clone(),
            version: env!("CARGO_PKG_VERSION").into(),
            ..RunResult::default()
        };
        result::apply_latency(&mut r, h);
        r
    }

    /// Stop every server (SIGTERM, final snapshot, exit status).
    pub fn stop(self) -> Result<()> {
        let mut first_error = None;
        for arm in self.arms {
            let label = arm.label.clone();
            match arm.server.stop(Duration::from_secs(10)) {
                Ok((_, status)) if status.success() => {}
                Ok((_, status)) => {
                    first_error.get_or_insert(anyhow!("{label}: the server exited with {status}"));
                }
                Err(e) => {
                    first_error.get_or_insert(e.context(label));
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}
