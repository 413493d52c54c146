//! The open loop's schedule: when each connection's next message is due.
//!
//! Each sending connection is its own arrival process at the per-connection
//! rate: `poisson` draws exponential gaps (so the whole client, the sum of
//! independent Poisson processes, is Poisson at the total rate — users that
//! arrive independently), `uniform` spaces messages evenly with the
//! connections' phases spread over one gap. Draws come from one seeded
//! generator per worker, so `--seed` repeats a run's arrivals.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// How open-loop sends are spaced.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Arrivals {
    /// Exponential gaps (independent arrivals): queueing shows in the tail.
    #[default]
    Poisson,
    /// Even gaps, connections phase-shifted (the older behaviour).
    Uniform,
}

impl std::fmt::Display for Arrivals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Arrivals::Poisson => "poisson",
            Arrivals::Uniform => "uniform",
        })
    }
}

/// How an open-loop worker waits for its next due send.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Pacing {
    /// Sleep in the timed wait until the instant (the kernel's timer decides
    /// how late: tens of µs on a VM, even with 1 ns of timer slack).
    Sleep,
    /// Never sleep while sending: poll the sockets without blocking until
    /// the instant (a whole client CPU, the least lateness).
    Spin,
    /// Sleep until [`SPIN_AHEAD`] before the instant, then poll without
    /// blocking until it: spin-level lateness for a fraction of the CPU.
    #[default]
    Hybrid,
}

impl std::fmt::Display for Pacing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Pacing::Sleep => "sleep",
            Pacing::Spin => "spin",
            Pacing::Hybrid => "hybrid",
        })
    }
}

/// Hybrid pacing: how long before a due send the worker stops sleeping and
/// polls its sockets without blocking. On this VM a timed wake-up comes tens
/// of µs late even with 1 ns of slack (the virtual CPU has to be woken from
/// idle). Measured at 5,000 and 10,000 msg/s on 10 connections, three runs
/// each: with 50 µs ahead sends left a p99 23–3,321 µs late, with 100 µs
/// 16–34 µs (one disturbed run 205), with 200 µs no better than 100 — for
/// 46–69 % of a client CPU instead of 32–51 %. While it spins the worker
/// still reads replies (each turn is a zero-timeout `epoll_pwait2`), so no
/// reply waits for a send.
pub const SPIN_AHEAD: Duration = Duration::from_micros(100);

impl Pacing {
    /// When a worker that has a send due at `due` should wake from its wait.
    pub fn wake_for(self, due: Instant, now: Instant) -> Instant {
        match self {
            Pacing::Sleep => due,
            Pacing::Spin => now,
            Pacing::Hybrid => due.checked_sub(SPIN_AHEAD).unwrap_or(now),
        }
    }
}

/// Open loop: messages a connection may have in flight before due messages
/// wait for a free slot (their latency still counts from the intended time).
pub const OPEN_LOOP_MAX_IN_FLIGHT: usize = 64;

/// Open loop: when each connection's next message is due. A message whose
/// connection has no free slot waits, keeping its intended time, without
/// holding up the others.
pub struct Schedule {
    heap: BinaryHeap<Reverse<(Instant, usize)>>,
    /// Mean gap between two messages of one connection.
    interval: Duration,
    arrivals: Arrivals,
    rng: SmallRng,
}

/// What the caller says about a connection whose message is due.
pub enum Slot {
    /// Up to this many messages may be sent now (free in-flight slots, ≥ 1).
    Free(usize),
    /// Full: the message waits.
    Busy,
    /// Closed: forget it.
    Gone,
}

impl Schedule {
    /// A schedule at `rate` messages per second per connection, its draws
    /// seeded with `seed`.
    pub fn new(rate: f64, arrivals: Arrivals, seed: u64) -> Schedule {
        Schedule {
            heap: BinaryHeap::new(),
            interval: Duration::from_secs_f64(1.0 / rate),
            arrivals,
            rng: SmallRng::seed_from_u64(seed),
        }
    }

    /// The gap to a connection's next message.
    fn gap(&mut self) -> Duration {
        match self.arrivals {
            Arrivals::Uniform => self.interval,
            Arrivals::Poisson => {
                // Inverse transform: −ln(U) is exponential with mean 1; U in (0, 1].
                let u: f64 = 1.0 - self.rng.gen::<f64>();
                self.interval.mul_f64(-u.ln())
            }
        }
    }

    /// Add connection `i`, the `rank`-th of `of`, starting at `start`:
    /// uniform phases spread over one gap; Poisson starts after a first draw
    /// (a Poisson process has no phase).
    pub fn add(&mut self, i: usize, start: Instant, rank: u32, of: usize) {
        let first = match self.arrivals {
            Arrivals::Uniform => self.interval.mul_f64(f64::from(rank) / of.max(1) as f64),
            Arrivals::Poisson => self.gap(),
        };
        self.heap.push(Reverse((start + first, i)));
    }

    /// Collect into `out` the `(connection, intended time)` of the messages
    /// due by `now`, at most as many per connection as it has free slots
    /// (so a client that fell far behind its schedule sends what fits, not
    /// every message it owes at once: the rest stay due and, if never sent,
    /// are counted as unsent); returns when to look again.
    pub fn take_due(
        &mut self,
        now: Instant,
        slot: impl Fn(usize) -> Slot,
        out: &mut Vec<(usize, Instant)>,
    ) -> Option<Instant> {
        out.clear();
        let mut blocked = Vec::new();
        let mut next = None;
        while let Some(&Reverse((due, i))) = self.heap.peek() {
            if due > now {
                next = Some(due);
                break;
            }
            self.heap.pop();
            match slot(i) {
                Slot::Gone => {}
                Slot::Busy => blocked.push(Reverse((due, i))),
                Slot::Free(room) => {
                    let mut due = due;
                    for _ in 0..room.max(1) {
                        if due > now {
                            break;
                        }
                        out.push((i, due));
                        due += self.gap();
                    }
                    if due > now {
                        self.heap.push(Reverse((due, i)));
                    } else {
                        blocked.push(Reverse((due, i))); // out of slots, still behind
                    }
                }
            }
        }
        if !blocked.is_empty() {
            // Look again soon: a reply may free a slot.
            let soon = now + Duration::from_millis(1);
            next = Some(next.map_or(soon, |d: Instant| d.min(soon)));
            self.heap.extend(blocked);
        }
        next
    }

    /// Messages due before `end` that were never sent, on connections for
    /// which `open` holds: the one due, and those after it at the mean gap
    /// (exact for uniform arrivals, the expectation for Poisson).
    pub fn unsent_before(&self, end: Instant, open: impl Fn(usize) -> bool) -> u64 {
        self.heap
            .iter()
            .filter(|Reverse((due, i))| *due < end && open(*i))
            .map(|Reverse((due, _))| {
                ((end - *due).as_secs_f64() / self.interval.as_secs_f64()).ceil() as u64
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_far_behind_takes_only_its_free_slots() {
        // 1 ms per message, 10 s behind: 10,000 messages owed, 64 slots free.
        let mut s = Schedule::new(1000.0, Arrivals::Uniform, 1);
        let start = Instant::now();
        s.add(0, start, 0, 1);
        let now = start + Duration::from_secs(10);
        let mut out = Vec::new();
        let next = s.take_due(now, |_| Slot::Free(64), &mut out);
        assert_eq!(out.len(), 64);
        assert_eq!(
            out[1].1 - out[0].1,
            Duration::from_millis(1),
            "intended times kept"
        );
        assert!(
            next.unwrap() <= now + Duration::from_millis(1),
            "look again soon"
        );
        // What was not sent stays due and is counted as unsent at the end.
        let unsent = s.unsent_before(now, |_| true);
        assert_eq!(unsent, 10_000 - 64);
        // A busy connection takes nothing; a closed one is forgotten.
        assert!(s.take_due(now, |_| Slot::Busy, &mut out).is_some());
        assert!(out.is_empty());
        s.take_due(now, |_| Slot::Gone, &mut out);
        assert_eq!(s.unsent_before(now, |_| true), 0);
    }

    /// The gaps one connection's schedule produces when every message is
    /// sent on time, in units of the mean gap.
    fn gaps(arrivals: Arrivals, seed: u64) -> Vec<f64> {
        let mut s = Schedule::new(100.0, arrivals, seed);
        let start = Instant::now();
        s.add(0, start, 0, 1);
        let mut out = Vec::new();
        let mut times = Vec::new();
        let end = start + Duration::from_secs(30);
        while times.len() < 2000 {
            let next = s.heap.peek().unwrap().0 .0;
            s.take_due(next.min(end), |_| Slot::Free(1), &mut out);
            times.extend(out.iter().map(|&(_, t)| t));
        }
        times
            .windows(2)
            .map(|w| (w[1] - w[0]).as_secs_f64() * 100.0)
            .collect()
    }

    #[test]
    fn poisson_gaps_are_exponential_and_uniform_ones_are_not() {
        let exp_cdf = |x: f64| 1.0 - (-x).exp();
        let poisson = gaps(Arrivals::Poisson, 7);
        let (_, p) = crate::stats::ks_test(&poisson, exp_cdf);
        assert!(p > 0.01, "Poisson gaps vs exponential: p = {p}");
        let mean = poisson.iter().sum::<f64>() / poisson.len() as f64;
        assert!((mean - 1.0).abs() < 0.1, "mean gap {mean} of the set rate");
        let uniform = gaps(Arrivals::Uniform, 7);
        let (_, p) = crate::stats::ks_test(&uniform, exp_cdf);
        assert!(p < 1e-6, "uniform gaps vs exponential: p = {p}");
        // And vice versa: the uniform schedule's gaps are its constant gap,
        // the Poisson ones spread as an exponential's (coefficient of variation 1).
        let cv = |g: &[f64]| {
            let m = g.iter().sum::<f64>() / g.len() as f64;
            (g.iter().map(|x| (x - m).powi(2)).sum::<f64>() / g.len() as f64).sqrt() / m
        };
        assert!(cv(&uniform) < 1e-3 && (cv(&poisson) - 1.0).abs() < 0.1);
        // The same seed repeats the arrivals; another does not.
        assert_eq!(gaps(Arrivals::Poisson, 7), poisson);
        assert_ne!(gaps(Arrivals::Poisson, 8), poisson);
    }
}
