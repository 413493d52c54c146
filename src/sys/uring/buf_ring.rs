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
use std::collections::VecDeque;
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

/// A piece of received data: `len` bytes at `off` in buffer `bid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    /// The buffer.
    pub bid: u16,
    /// Where in it the piece starts.
    pub off: usize,
    /// Its length.
    pub len: usize,
}

/// A completion named buffers the ring cannot account for: a bug here or in
/// the kernel, never to be papered over (the data would be misattributed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unexpected(pub String);

impl std::fmt::Display for Unexpected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A provided-buffer ring (`IORING_REGISTER_PBUF_RING`): `count` buffers of
/// `size` bytes the kernel picks from for receives.
///
/// The kernel takes buffers from the ring's head in the order they were
/// added, one per receive — or several, consecutive, for a bundle
/// (`IORING_RECVSEND_BUNDLE`); with incremental consumption
/// (`IOU_PBUF_RING_INC`) a receive takes only the part of the head buffer it
/// fills, and the next receive continues in the same buffer. So the ring
/// keeps the order it added buffers in, and [`consume`](BufRing::consume)
/// turns a completion (first buffer id, bytes, `F_BUF_MORE`) into the pieces
/// it filled. A piece is ours until [`release`](BufRing::release)d; a buffer
/// goes back to the kernel once the kernel has moved past it and no piece of
/// it is held.
///
/// It may be dropped before or after the [`Ring`] it is registered with: the
/// ring keeps the buffers' memory alive until it is closed.
pub struct BufRing {
    mem: Arc<BufMem>,
    size: usize,
    mask: u16,
    tail: u16,
    group: u16,
    incremental: bool,
    /// Buffers in the ring (the kernel may write into them), head first.
    queued: VecDeque<u16>,
    /// Per buffer: in the ring.
    in_ring: Vec<bool>,
    /// Per buffer: bytes the kernel has written into it since it was added
    /// (incremental consumption; 0 otherwise until it is consumed).
    fill: Vec<usize>,
    /// Per buffer: pieces of it still held.
    refs: Vec<u32>,
    /// Buffers added to the ring since it was registered.
    puts: u64,
}

impl BufRing {
    /// Allocate `count` (a power of two, ≤ 32768) buffers of `size` bytes and
    /// register them as buffer group `group`, incrementally consumed if
    /// `incremental` (Linux 6.12). Every page is touched here: the kernel
    /// hands buffers out in ring order, so under load all of them become
    /// resident anyway, and touching them now keeps the server's RSS from
    /// creeping up during a run (it is a fixed pool, not growth).
    pub fn register(
        ring: &Ring,
        group: u16,
        count: u16,
        size: usize,
        incremental: bool,
    ) -> io::Result<BufRing> {
        assert!(
            count.is_power_of_two(),
            "buffer ring size must be a power of two"
        );
        let mem = Arc::new(BufMem::new(count, size)?);
        let n = count as usize;
        let mut this = BufRing {
            mem: Arc::clone(&mem),
            size,
            mask: count - 1,
            tail: 0,
            group,
            incremental,
            queued: VecDeque::with_capacity(n),
            in_ring: vec![false; n],
            fill: vec![0; n],
            refs: vec![0; n],
            puts: 0,
        };
        // SAFETY: `mem.entries` is page-aligned and holds `count` entries;
        // every buffer `put` names lies in `mem.bufs`; `mem` frees them only
        // when dropped, and the ring keeps a handle to it until it closes.
        unsafe { ring.register_buf_ring(mem.entries, count, group, incremental, mem) }.map_err(
            |e| {
                let needs = if incremental {
                    "an incrementally consumed provided-buffer ring needs Linux 6.12 or later"
                } else {
                    "registering a provided-buffer ring needs Linux 5.19 or later"
                };
                io::Error::new(e.kind(), format!("{needs}: {e}"))
            },
        )?;
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

    /// Buffers the kernel can write into now (a partly filled one counts).
    pub fn free(&self) -> usize {
        self.queued.len()
    }

    /// Buffers given back to the kernel since registration.
    pub fn returned(&self) -> u64 {
        self.puts - self.count() as u64
    }

    /// The length the ring entry of the buffer `k` places from the head
    /// gives it now. The kernel may have shortened it: a bundle capped
    /// below a buffer's size truncates that buffer's entry, and if the
    /// receive then found no data the shortened buffer stays at the head
    /// for the next receive (kernels before the fix that stopped doing so).
    fn entry_len(&self, k: usize) -> usize {
        let head = self.tail.wrapping_sub(self.queued.len() as u16);
        let idx = (head.wrapping_add(k as u16) & self.mask) as usize;
        // SAFETY: idx ≤ mask < count, within the entries' allocation; the
        // entry is published and the kernel may write its length, hence a
        // volatile read of the whole (plain-data) entry.
        let e = unsafe { std::ptr::read_volatile(self.mem.entries.add(idx)) };
        (e.len() as usize).min(self.size)
    }

    /// A receive completed with `n` bytes (> 0) starting in buffer `first`;
    /// `buf_more`: its last buffer stays in the ring (`IORING_CQE_F_BUF_MORE`,
    /// incremental consumption only). Appends the pieces it filled, in
    /// order, to `out`; each is held until [`release`](BufRing::release)d.
    /// A completion of no data names no buffer the kernel consumed: it is
    /// refused, as is anything else that does not match the ring.
    pub fn consume(
        &mut self,
        first: u16,
        n: usize,
        buf_more: bool,
        out: &mut Vec<Piece>,
    ) -> Result<(), Unexpected> {
        if n == 0 {
            return Err(Unexpected(format!(
                "a receive of no data named buffer {first}"
            )));
        }
        match self.queued.front() {
            Some(&head) if head == first => {}
            head => {
                return Err(Unexpected(format!(
                    "a receive completed into buffer {first}, but the ring's head is {head:?}"
                )))
            }
        }
        let mut left = n;
        loop {
            let Some(&bid) = self.queued.front() else {
                return Err(Unexpected(format!(
                    "a receive of {n} bytes from buffer {first} ran past the buffers in the ring"
                )));
            };
            let b = bid as usize;
            let off = self.fill[b];
            // Incrementally: what the kernel has not filled yet (its entry
            // already says what is left *after* this receive). Otherwise:
            // the entry's length, which the kernel may have shortened.
            let room = if self.incremental {
                self.size - off
            } else {
                self.entry_len(0)
            };
            let take = left.min(room);
            if take > 0 {
                out.push(Piece {
                    bid,
                    off,
                    len: take,
                });
                self.refs[b] += 1;
            }
            left -= take;
            // Without incremental consumption a receive takes whole
            // buffers; with it, a buffer stays at the head while the kernel
            // says it has room (only the last one a receive touched can).
            let stays = self.incremental && left == 0 && buf_more;
            if stays && off + take >= self.size {
                return Err(Unexpected(format!(
                    "buffer {bid} is full, yet the kernel keeps it in the ring"
                )));
            }
            if self.incremental {
                self.fill[b] = off + take;
            }
            if !stays {
                self.queued.pop_front();
                self.in_ring[b] = false;
                if self.refs[b] == 0 {
                    self.put(bid);
                    self.publish();
                }
            }
            if left == 0 {
                return Ok(());
            }
        }
    }

    /// The bytes of a piece [`consume`](BufRing::consume) gave out.
    pub fn data(&self, p: Piece) -> &[u8] {
        assert!(p.bid <= self.mask, "buffer id {} out of range", p.bid);
        assert!(p.off + p.len <= self.size, "piece beyond its buffer");
        let start = p.bid as usize * self.size + p.off;
        // SAFETY: start + len <= count * size = bufs_len. These bytes were
        // filled by a completed receive and are not written again until the
        // buffer is back in the ring, which needs this piece released (with
        // incremental consumption the kernel writes only beyond `fill`,
        // after this piece); `self.mem` keeps the allocation alive as long
        // as the borrow.
        unsafe { std::slice::from_raw_parts(self.mem.bufs.add(start), p.len) }
    }

    /// Give up a piece of buffer `bid`: the caller no longer reads it and has
    /// no send in flight from it. The buffer goes back to the kernel when
    /// it was its last piece and the kernel has moved past it.
    pub fn release(&mut self, bid: u16) {
        let b = bid as usize;
        assert!(
            self.refs[b] > 0,
            "buffer {bid} released more often than held"
        );
        self.refs[b] -= 1;
        if self.refs[b] == 0 && !self.in_ring[b] {
            self.put(bid);
            self.publish();
        }
    }

    fn put(&mut self, bid: u16) {
        debug_assert!(bid <= self.mask);
        debug_assert!(!self.in_ring[bid as usize], "buffer {bid} put twice");
        let idx = (self.tail & self.mask) as usize;
        // SAFETY: bid ≤ mask, so the offset is within the buffers' allocation.
        let addr = unsafe { self.mem.bufs.add(bid as usize * self.size) } as u64;
        // SAFETY: idx ≤ mask < count, within the entries' allocation; the
        // kernel reads entries only up to the published tail, and this one is
        // beyond it (at most `count` buffers are in the ring, so the slot is
        // not one the kernel is still using); only this BufRing (borrowed
        // mutably) writes entries.
        let e = unsafe { &mut *self.mem.entries.add(idx) };
        e.set_addr(addr);
        e.set_len(self.size as u32);
        e.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
        self.puts += 1;
        self.queued.push_back(bid);
        self.in_ring[bid as usize] = true;
        self.fill[bid as usize] = 0;
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
mod tests;
