//! The open loop's schedule: when each connection's next message is due.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// Open loop: messages a connection may have in flight before due messages
/// wait for a free slot (their latency still counts from the intended time).
pub const OPEN_LOOP_MAX_IN_FLIGHT: usize = 64;

/// Open loop: when each connection's next message is due. Connections are
/// spread evenly over one interval; a message whose connection has no free
/// slot waits, keeping its intended time, without holding up the others.
pub struct Schedule {
    heap: BinaryHeap<Reverse<(Instant, usize)>>,
    interval: Duration,
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
    /// A schedule at `rate` messages per second per connection.
    pub fn new(rate: f64) -> Schedule {
        Schedule {
            heap: BinaryHeap::new(),
            interval: Duration::from_secs_f64(1.0 / rate),
        }
    }

    /// Add connection `i`, the `rank`-th of `of`, starting at `start`.
    pub fn add(&mut self, i: usize, start: Instant, rank: u32, of: usize) {
        let phase = self.interval.as_secs_f64() * rank as f64 / of.max(1) as f64;
        self.heap
            .push(Reverse((start + Duration::from_secs_f64(phase), i)));
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
                        due += self.interval;
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
    /// which `open` holds.
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
        let mut s = Schedule::new(1000.0);
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
}
