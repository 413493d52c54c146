//! The provided-buffer ring (`IORING_REGISTER_PBUF_RING`): memory shared with
//! the kernel, which picks a buffer from it for each receive.
//!
//! Why a file of its own: this is the one place where the kernel writes into
//! memory we allocated, asynchronously. The memory (the entries and the
//! buffers) lives in a [`BufMem`] shared between the [`BufRing`] and the
//! [`Ring`] it is registered with, and is freed only when both are gone — so
//! no drop order, in a struct or elsewhere, can free buffers the kernel may
//! still write into.

use std::alloc::{self, Layout};
use std::io;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;

use io_uring::types::BufRingEntry;

use super::ring::Ring;

/// What a provided-buffer ring shares with the kernel: the ring of entries
/// (page-aligned, from `alloc`) and the buffers they name (`count * size`
/// bytes, from `Box::into_raw`). Both are addressed through these pointers
/// only, never through a reference spanning buffers the kernel may be writing.
struct BufMem {
    entries: *mut BufRingEntry,
    entries_layout: Layout,
    bufs: *mut u8,
    bufs_len: usize,
}

// SAFETY: BufMem owns its two allocations outright; the pointers are not
// shared with any other Rust value. Its only readers and writers are the one
// `BufRing` that made it (through `&mut self` for writes) and the kernel; the
// `Ring` holds it only to drop it. Moving or dropping it on another thread is
// moving or freeing plain heap memory.
unsafe impl Send for BufMem {}
// SAFETY: as above; `&BufMem` gives access to nothing but the pointer values.
unsafe impl Sync for BufMem {}

impl BufMem {
    /// `count` zeroed, page-aligned entries and `count * size` buffer bytes,
    /// every page of the buffers touched.
    fn new(count: u16, size: usize) -> io::Result<BufMem> {
        let entries_layout = Layout::array::<BufRingEntry>(count as usize)
            .and_then(|l| l.align_to(4096))
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let total = (count as usize)
            .checked_mul(size)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "buffer ring too large"))?;
        // SAFETY: the layout has a non-zero size (count ≥ 1, checked by the caller).
        let entries = unsafe { alloc::alloc_zeroed(entries_layout) }.cast::<BufRingEntry>();
        if entries.is_null() {
            return Err(io::Error::from(io::ErrorKind::OutOfMemory));
        }
        let mut bufs = vec![0u8; total].into_boxed_slice();
        for i in (0..total).step_by(4096) {
            // SAFETY: i < total: an in-bounds, aligned u8 of our own slice.
            unsafe { std::ptr::write_volatile(&mut bufs[i], 0) };
        }
        Ok(BufMem {
            entries,
            entries_layout,
            bufs: Box::into_raw(bufs).cast::<u8>(),
            bufs_len: total,
        })
    }
}

impl Drop for BufMem {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout and by `Box::into_raw`
        // with this length, freed once. The kernel no longer uses them: a
        // registered BufMem is also held by its `Ring`, which drops it only
        // after the ring itself is closed.
        unsafe {
            alloc::dealloc(self.entries.cast::<u8>(), self.entries_layout);
            drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                self.bufs,
                self.bufs_len,
            )));
        }
    }
}

/// A provided-buffer ring (`IORING_REGISTER_PBUF_RING`): `count` buffers of
/// `size` bytes the kernel picks from for receives. A buffer the kernel filled
/// is ours until [`recycle`](BufRing::recycle) hands it back.
///
/// It may be dropped before or after the [`Ring`] it is registered with: the
/// ring keeps the buffers' memory alive until it is closed.
pub struct BufRing {
    mem: Arc<BufMem>,
    size: usize,
    mask: u16,
    tail: u16,
    group: u16,
    /// Buffers the kernel can pick from now.
    free: usize,
}

impl BufRing {
    /// Allocate `count` (a power of two, ≤ 32768) buffers of `size` bytes and
    /// register them as buffer group `group`. Every page is touched here: the
    /// kernel hands buffers out in ring order, so under load all of them become
    /// resident anyway, and touching them now keeps the server's RSS from
    /// creeping up during a run (it is a fixed pool, not growth).
    pub fn register(ring: &Ring, group: u16, count: u16, size: usize) -> io::Result<BufRing> {
        assert!(
            count.is_power_of_two(),
            "buffer ring size must be a power of two"
        );
        let mem = Arc::new(BufMem::new(count, size)?);
        let mut this = BufRing {
            mem: Arc::clone(&mem),
            size,
            mask: count - 1,
            tail: 0,
            group,
            free: 0,
        };
        // SAFETY: `mem.entries` is page-aligned and holds `count` entries;
        // every buffer `put` names lies in `mem.bufs`; `mem` frees them only
        // when dropped, and the ring keeps a handle to it until it closes.
        unsafe { ring.register_buf_ring(mem.entries, count, group, mem) }.map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("registering a provided-buffer ring needs Linux 5.19 or later: {e}"),
            )
        })?;
        for bid in 0..count {
            this.put(bid);
        }
        this.publish();
        Ok(this)
    }

    /// The buffer group id to name in receives.
    pub fn group(&self) -> u16 {
        self.group
    }

    /// Bytes per buffer.
    pub fn buf_size(&self) -> usize {
        self.size
    }

    /// Buffers in the ring.
    pub fn count(&self) -> usize {
        self.mask as usize + 1
    }

    /// Buffers the kernel can pick from now.
    pub fn free(&self) -> usize {
        self.free
    }

    /// The first `len` bytes of buffer `bid` (filled by a completed receive,
    /// and not yet recycled: the kernel does not write it now).
    pub fn data(&self, bid: u16, len: usize) -> &[u8] {
        assert!(bid <= self.mask, "buffer id {bid} out of range");
        let start = bid as usize * self.size;
        // SAFETY: start + len.min(size) <= count * size = bufs_len; the buffer
        // is ours until recycled (the kernel picks only published buffers),
        // and `self.mem` keeps the allocation alive as long as the borrow.
        unsafe { std::slice::from_raw_parts(self.mem.bufs.add(start), len.min(self.size)) }
    }

    /// The kernel took a buffer (a receive completed into it).
    pub fn taken(&mut self) {
        self.free = self.free.saturating_sub(1);
    }

    /// Give buffer `bid` back to the kernel. The caller must no longer read it
    /// or have a send in flight from it.
    pub fn recycle(&mut self, bid: u16) {
        self.put(bid);
        self.publish();
    }

    fn put(&mut self, bid: u16) {
        debug_assert!(bid <= self.mask);
        let idx = (self.tail & self.mask) as usize;
        // SAFETY: bid ≤ mask, so the offset is within the buffers' allocation.
        let addr = unsafe { self.mem.bufs.add(bid as usize * self.size) } as u64;
        // SAFETY: idx ≤ mask < count, within the entries' allocation; the
        // kernel reads entries only up to the published tail, and this one is
        // beyond it; only this BufRing (borrowed mutably) writes entries.
        let e = unsafe { &mut *self.mem.entries.add(idx) };
        e.set_addr(addr);
        e.set_len(self.size as u32);
        e.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
        self.free += 1;
    }

    fn publish(&self) {
        // SAFETY: the tail field overlays the first entry's reserved word, as
        // the kernel defines it; it is 2-byte aligned and shared with the
        // kernel, hence the atomic release store (entries written before it
        // must be visible before the new tail).
        unsafe {
            let tail = BufRingEntry::tail(self.mem.entries).cast::<AtomicU16>();
            (*tail).store(self.tail, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_ring_hands_out_and_takes_back() {
        let ring = Ring::new(8).unwrap();
        let mut bufs = BufRing::register(&ring, 7, 4, 64).unwrap();
        assert_eq!(bufs.count(), 4);
        assert_eq!((bufs.group(), bufs.buf_size(), bufs.free()), (7, 64, 4));
        bufs.taken();
        assert_eq!(bufs.free(), 3);
        bufs.recycle(2);
        assert_eq!(bufs.free(), 4);
        assert_eq!(bufs.data(3, 1000).len(), 64, "clamped to the buffer");
        drop(ring);
        drop(bufs);
    }

    /// Either drop order is sound: the ring holds the memory until it closes.
    #[test]
    fn buffers_outlive_whichever_is_dropped_first() {
        let ring = Ring::new(8).unwrap();
        let bufs = BufRing::register(&ring, 3, 2, 32).unwrap();
        let mem = Arc::downgrade(&bufs.mem);
        drop(bufs);
        assert!(mem.upgrade().is_some(), "the ring keeps the buffers alive");
        drop(ring);
        assert!(mem.upgrade().is_none(), "freed once both are gone");

        let ring = Ring::new(8).unwrap();
        let bufs = BufRing::register(&ring, 3, 2, 32).unwrap();
        drop(ring);
        assert_eq!(bufs.data(1, 32).len(), 32, "still readable after the ring");
        drop(bufs);
    }

    #[test]
    fn the_same_group_twice_is_refused() {
        let ring = Ring::new(8).unwrap();
        let first = BufRing::register(&ring, 5, 2, 32).unwrap();
        // The same group twice: the kernel refuses it.
        assert!(BufRing::register(&ring, 5, 2, 32).is_err());
        drop(first);
    }
}
