//! The echo workload (RFC 862): each message comes back on its own
//! connection. A message carries connection id, sequence number and length,
//! then a pattern derived from them ([`crate::loadgen::message`]); every
//! echoed byte is checked as it streams in.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::coordination::WorkerPlan;
use super::driver::{ClientConn, Corrupt, Ctx, Workload};
use crate::loadgen::message::{encode, Verdict, Verifier};

/// The echo workload.
pub struct Echo;

/// One echo connection's state.
pub struct EchoConn {
    next_seq: u64,
    verifier: Verifier,
    /// (intended, actual) send time of each message in flight, oldest first.
    in_flight: VecDeque<(Instant, Instant)>,
}

impl Workload for Echo {
    type Conn = EchoConn;

    fn new_conn(&self, plan: &WorkerPlan, id: u32) -> EchoConn {
        EchoConn {
            next_seq: 0,
            verifier: Verifier::new(id, plan.msg_size),
            in_flight: VecDeque::new(),
        }
    }

    fn sends(&self, _plan: &WorkerPlan, _id: u32) -> bool {
        true
    }

    fn phase_population(&self, plan: &WorkerPlan) -> usize {
        plan.total_conns
    }

    fn initial_sends(&self, plan: &WorkerPlan) -> usize {
        plan.pipeline
    }

    fn outstanding(&self, c: &EchoConn) -> usize {
        c.in_flight.len()
    }

    fn encode(
        &mut self,
        ctx: &mut Ctx<'_>,
        c: &mut EchoConn,
        id: u32,
        out: &mut Vec<u8>,
        intended: Instant,
        now: Instant,
    ) {
        encode(out, id, c.next_seq, ctx.plan.msg_size);
        c.next_seq += 1;
        c.in_flight.push_back((intended, now));
    }

    fn on_data(
        &mut self,
        ctx: &mut Ctx<'_>,
        c: &mut EchoConn,
        _id: u32,
        data: &[u8],
        now: Instant,
    ) -> Result<usize, Corrupt> {
        match c.verifier.feed(data) {
            Verdict::Ok(k) => Ok(self.complete(ctx, c, k, now)),
            Verdict::Corrupt { completed } => {
                self.complete(ctx, c, completed, now);
                ctx.res.errors.corrupt += 1;
                // The corrupt message is accounted for; the rest in flight
                // are lost with the connection (missing).
                c.in_flight.pop_front();
                Err(Corrupt)
            }
        }
    }

    fn finished(&self, _ctx: &Ctx<'_>, conns: &[ClientConn<EchoConn>], _now: Instant) -> bool {
        conns.iter().all(|c| c.state.in_flight.is_empty())
    }

    fn on_close(&mut self, c: &mut EchoConn) -> u64 {
        let lost = c.in_flight.len() as u64;
        c.in_flight.clear();
        lost
    }

    fn at_end(&self, ctx: &mut Ctx<'_>, conns: &[ClientConn<EchoConn>]) {
        // Whatever is still in flight now never came back.
        for c in conns {
            ctx.res.errors.missing += c.state.in_flight.len() as u64;
        }
    }
}

impl Echo {
    /// `k` echoes completed at `now`: record them; returns the closed-loop
    /// sends they allow.
    fn complete(&self, ctx: &mut Ctx<'_>, c: &mut EchoConn, k: usize, now: Instant) -> usize {
        if k == 0 {
            return 0;
        }
        ctx.shared.completed.fetch_add(k as u64, Ordering::Relaxed);
        let mut sends = 0;
        for _ in 0..k {
            let Some((intended, actual)) = c.in_flight.pop_front() else {
                // An echo of something never sent: the server made bytes up.
                ctx.res.errors.corrupt += 1;
                continue;
            };
            if now.saturating_duration_since(actual) > ctx.plan.timeout {
                ctx.res.errors.late += 1;
            }
            let uncorrected = (!ctx.closed_loop()).then_some(actual);
            ctx.record(intended, uncorrected, now);
            if ctx.closed_loop() && ctx.sending(now) {
                sends += 1;
            }
        }
        sends
    }
}
