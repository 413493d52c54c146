//! Counters for the servers whose connections run on many threads or tasks
//! (`threads`, `tokio`). Each connection counts into its own plain
//! [`Counters`] and, after every request, copies them into its own shard with
//! relaxed stores: no lock, no shared cache line in the hot path. A snapshot
//! sums the shards (plus what finished connections left behind).
//!
//! A connection registers its shard on its first publication, so 10,000 idle
//! connections cost the snapshot nothing; the registry's lock is taken once
//! per connection at each end and once per snapshot.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use slab::Slab;

use super::counters::{Counters, COUNTER_WORDS};
use super::rules::{classify, Step};

/// One connection's published counters.
struct Shard {
    words: [AtomicU64; COUNTER_WORDS],
}

impl Shard {
    fn new() -> Shard {
        Shard {
            words: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    fn store(&self, c: &Counters) {
        for (a, w) in self.words.iter().zip(c.as_words()) {
            a.store(*w, Ordering::Relaxed);
        }
    }

    fn load(&self) -> Counters {
        Counters::from_words(self.words.iter().map(|a| a.load(Ordering::Relaxed)))
    }
}

#[derive(Default)]
struct Registry {
    live: Slab<Arc<Shard>>,
    /// Counters of connections that have ended.
    retired: Counters,
}

/// Every shard of one server.
#[derive(Default)]
pub struct Shards {
    registry: Mutex<Registry>,
    /// Connections open now (one increment and one decrement per connection).
    open: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking connection thread must not take the counters with it.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shards {
    /// The sum over every connection, live or ended; `conns` is the number open.
    pub fn total(&self) -> Counters {
        let reg = lock(&self.registry);
        let mut t = reg.retired;
        for (_, s) in reg.live.iter() {
            t.merge(&s.load());
        }
        t.conns = self.open.load(Ordering::Relaxed);
        t
    }

    /// A new connection opened: returns how many are open now.
    pub fn opened(&self) -> u64 {
        self.open.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// A connection counted by [`Shards::opened`] never started.
    pub fn unopened(&self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }

    /// Connections open now.
    pub fn open(&self) -> u64 {
        self.open.load(Ordering::Relaxed)
    }

    /// A counting handle for one thread or task of the server.
    pub fn handle(self: &Arc<Self>) -> Tally {
        Tally {
            shards: Arc::clone(self),
            shard: None,
            c: Counters::default(),
        }
    }
}

/// One thread's (or task's) counters: count into `c`, then [`Tally::publish`].
/// Dropping it folds the counters into the ended connections' total.
pub struct Tally {
    shards: Arc<Shards>,
    shard: Option<(usize, Arc<Shard>)>,
    /// The counts, owned by this thread alone.
    pub c: Counters,
}

impl Tally {
    /// Make the counts visible to snapshots.
    pub fn publish(&mut self) {
        let shard = self.shard.get_or_insert_with(|| {
            let s = Arc::new(Shard::new());
            let key = lock(&self.shards.registry).live.insert(Arc::clone(&s));
            (key, s)
        });
        shard.1.store(&self.c);
    }

    /// The connection ends after an I/O error: returns whether the peer reset
    /// it (the event loop's rule, [`classify`]); other errors are counted.
    pub fn failed(&mut self, e: &std::io::Error) -> bool {
        let Step::Close { reset } = classify(e) else {
            unreachable!("classify always closes")
        };
        if !reset {
            self.c.errors += 1;
        }
        reset
    }

    /// This connection has ended (it counts its close; `open` drops by one).
    pub fn closed(&mut self, reset: bool) {
        self.c.closes += 1;
        if reset {
            self.c.resets += 1;
        }
        self.shards.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Drop for Tally {
    fn drop(&mut self) {
        let mut reg = lock(&self.shards.registry);
        if let Some((key, _)) = self.shard.take() {
            reg.live.remove(key);
        }
        // In the same critical section as the removal: a snapshot sees these
        // counts exactly once.
        reg.retired.merge(&self.c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_count_live_and_ended_once() {
        let shards = Arc::new(Shards::default());
        let mut a = shards.handle();
        let mut b = shards.handle();
        shards.opened();
        shards.opened();
        a.c.reads = 3;
        a.c.peak_pending_bytes = 10;
        a.publish();
        b.c.reads = 4;
        b.c.peak_pending_bytes = 7;
        // b has not published: not seen yet.
        assert_eq!(shards.total().reads, 3);
        b.publish();
        let t = shards.total();
        assert_eq!((t.reads, t.peak_pending_bytes, t.conns), (7, 10, 2));
        b.c.reads = 5; // counted after its last publication: still counted at its end
        b.closed(false);
        drop(b);
        let t = shards.total();
        assert_eq!((t.reads, t.closes, t.conns), (8, 1, 1));
        drop(a);
        assert_eq!(shards.total().reads, 8);
    }
}
