//! One slice on the wire: the arm's connections keep their messages in
//! flight, every echoed byte verified, then drained at the slice's end.

use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::state::*;
use crate::loadgen::client::measure::{new_histogram, us_between};
use crate::loadgen::client::schedule::{Schedule, Slot, OPEN_LOOP_MAX_IN_FLIGHT};
use crate::loadgen::machine::CpuTimes;
use crate::loadgen::message::{encode, Verdict};
use crate::loadgen::result;
use crate::mux::{Events, Multiplexer, Token};
use crate::record::RunResult;
use crate::sys;

impl Sliced {
    /// One measured slice of arm `a`.
    pub(super) fn slice(&mut self, a: usize, length: Duration) -> Result<RunResult> {
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
    pub(super) fn drive(&mut self, a: usize, length: Duration) -> Result<()> {
        self.run_slice(a, length, None).map(|_| ())
    }

    /// Open loop: arm `a`'s send schedule from `start`, the rate spread over
    /// its connections; `None` in closed loop.
    fn open_loop_schedule(&mut self, a: usize, start: Instant) -> Option<Schedule> {
        let seed = rand::Rng::gen(&mut self.rng);
        let args = &self.arms[a].args;
        let n = self.arms[a].conns.len();
        args.rate.map(|rate| {
            let mut s = Schedule::new(rate / n.max(1) as f64, args.arrivals, seed);
            for i in 0..n {
                s.add(i, start, i as u32, n);
            }
            s
        })
    }

    /// Keep arm `a`'s connections busy for `length`, then drain; returns
    /// the tally and when sending stopped.
    pub(super) fn run_slice(
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
        let mut schedule = self.open_loop_schedule(a, start);
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
    pub(super) fn send(
        &mut self,
        a: usize,
        i: usize,
        intended: Instant,
        now: Instant,
        tally: &mut Tally,
    ) {
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

    pub(super) fn flush(&mut self, a: usize, i: usize, tally: &mut Tally) {
        let token = Token(self.arms[a].first_token + i);
        let c = &mut self.arms[a].conns[i];
        if c.open && c.out.flush(&mut c.stream, &mut self.mux, token).is_err() {
            self.close(a, i, tally);
        }
    }

    pub(super) fn close(&mut self, a: usize, i: usize, tally: &mut Tally) {
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
    pub(super) fn read(
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
}
