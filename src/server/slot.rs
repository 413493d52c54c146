//! Where one reactor of several publishes its counters every loop turn, for
//! the thread that sums them.

use std::sync::atomic::{AtomicU64, Ordering};

use super::counters::{Counters, COUNTER_WORDS};
use crate::mux::MuxStats;

const MUX_WORDS: usize = std::mem::size_of::<MuxStats>() / 8;

/// One reactor's counters, published every loop turn (relaxed word stores:
/// each word is whole, and a snapshot is a few words behind at worst).
pub struct Slot {
    counters: [AtomicU64; COUNTER_WORDS],
    mux: [AtomicU64; MUX_WORDS],
}

impl Slot {
    /// A slot of zeros.
    pub fn new() -> Slot {
        Slot {
            counters: std::array::from_fn(|_| AtomicU64::new(0)),
            mux: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// Publish the reactor's counters.
    pub fn publish(&self, c: &Counters, m: &MuxStats) {
        for (a, w) in self.counters.iter().zip(c.as_words()) {
            a.store(*w, Ordering::Relaxed);
        }
        let mw: &[u64] = bytemuck::cast_slice(std::slice::from_ref(m));
        for (a, w) in self.mux.iter().zip(mw) {
            a.store(*w, Ordering::Relaxed);
        }
    }

    /// The counters last published.
    pub fn load(&self) -> (Counters, MuxStats) {
        let c = Counters::from_words(self.counters.iter().map(|a| a.load(Ordering::Relaxed)));
        let mut m = MuxStats::default();
        let mw: &mut [u64] = bytemuck::cast_slice_mut(std::slice::from_mut(&mut m));
        for (w, a) in mw.iter_mut().zip(&self.mux) {
            *w = a.load(Ordering::Relaxed);
        }
        (c, m)
    }
}
