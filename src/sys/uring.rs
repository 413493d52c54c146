//! io_uring: the ring, the provided-buffer ring, and the `unsafe` they need.
//!
//! (Over 400 lines with its tests: every `unsafe` touch of io_uring in the
//! crate is here on purpose, so it can be reviewed in one place.)
//!
//! The `io-uring` crate makes the system calls; this module is the only place
//! that queues submissions (which is `unsafe`: the kernel may read or write the
//! memory an SQE names until its completion arrives) and that shares memory
//! with the kernel (the provided-buffer ring). Callers get safe methods whose
//! contracts are written next to them.

use std::alloc::{self, Layout};
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use io_uring::types::{BufRingEntry, Fd, SubmitArgs, Timespec};
use io_uring::{cqueue, opcode, squeue, IoUring};

/// One completion: the SQE's `user_data`, its result (`-errno` on failure) and flags.
#[derive(Debug, Clone, Copy)]
pub struct Completion {
    /// What the submitter put in the SQE.
    pub user_data: u64,
    /// Bytes, a descriptor, or `-errno`.
    pub result: i32,
    /// `IORING_CQE_F_*`.
    pub flags: u32,
}

impl Completion {
    /// A multishot request stays armed (`IORING_CQE_F_MORE`); without it, re-arm.
    pub fn more(&self) -> bool {
        cqueue::more(self.flags)
    }
    /// The provided buffer the kernel picked for this completion, if any.
    pub fn buffer_id(&self) -> Option<u16> {
        cqueue::buffer_select(self.flags)
    }
}

/// Why io_uring cannot be used here, in one line with what to do.
fn unavailable(e: io::Error) -> io::Error {
    let disabled = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok());
    let why = unavailable_reason(&e, disabled);
    io::Error::new(e.kind(), format!("io_uring unavailable: {why}"))
}

/// The cause of a failed `io_uring_setup` and the remedy, from its errno and
/// the `kernel.io_uring_disabled` sysctl (absent on kernels before 6.6).
fn unavailable_reason(e: &io::Error, disabled: Option<u32>) -> String {
    match (e.raw_os_error(), disabled) {
        (Some(libc::ENOSYS), _) => {
            "the kernel has no io_uring (ENOSYS): it needs Linux 5.19 or later built with CONFIG_IO_URING"
                .to_string()
        }
        (Some(libc::EPERM), Some(d)) if d > 0 => format!(
            "io_uring is disabled by sysctl kernel.io_uring_disabled={d}; \
             run `sysctl kernel.io_uring_disabled=0` as root (or add this user to kernel.io_uring_group)"
        ),
        (Some(libc::EPERM), _) => {
            "io_uring_setup was refused (EPERM): a seccomp filter (e.g. a container runtime's) \
             blocks it; allow io_uring_setup/io_uring_enter/io_uring_register or run outside the container"
                .to_string()
        }
        _ => format!("io_uring_setup failed: {e}"),
    }
}

/// Whether io_uring works here, with the reason if not (sweeps skip such backends).
pub fn available() -> io::Result<()> {
    Ring::new(8).map(drop)
}

/// An io_uring instance with counters of its own costs.
pub struct Ring {
    ring: IoUring,
    /// `io_uring_enter` calls made.
    pub enters: u64,
    /// SQEs queued.
    pub sqes: u64,
    /// CQEs reaped.
    pub cqes: u64,
}

impl Ring {
    /// A ring with `entries` submission slots and four times as many completion
    /// slots. Single issuer with deferred task work where the kernel has it
    /// (6.1+): completions are produced only inside our own `io_uring_enter`,
    /// not by interrupting the loop, which is both cheaper and easier to reason
    /// about. Single issuer also means the ring must be used only from the
    /// thread that created it (elsewhere every enter fails with `EEXIST`).
    /// A clear error names the cause when io_uring is unavailable.
    pub fn new(entries: u32) -> io::Result<Ring> {
        let cq = entries.saturating_mul(4);
        let ring = IoUring::builder()
            .setup_cqsize(cq)
            .setup_single_issuer()
            .setup_defer_taskrun()
            // With deferred task work, a plain submit (a zero-timeout wait)
            // would not run pending completions; the flag tells the crate
            // when to ask for them (GETEVENTS).
            .setup_taskrun_flag()
            .build(entries)
            .or_else(|e| {
                if e.raw_os_error() == Some(libc::EINVAL) {
                    // Older kernel: no DEFER_TASKRUN / SINGLE_ISSUER.
                    IoUring::builder().setup_cqsize(cq).build(entries)
                } else {
                    Err(e)
                }
            })
            .map_err(unavailable)?;
        Ok(Ring {
            ring,
            enters: 0,
            sqes: 0,
            cqes: 0,
        })
    }

    /// Queue an SQE, submitting first if the submission queue is full.
    ///
    /// # Safety
    /// Every buffer the SQE names must stay valid (and unmoved, and not be
    /// written by us if the kernel reads it) until its completion is reaped.
    unsafe fn push(&mut self, sqe: &squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: forwarded from the caller's contract.
            if unsafe { self.ring.submission().push(sqe) }.is_ok() {
                self.sqes += 1;
                return Ok(());
            }
            self.enters += 1;
            match self.ring.submit() {
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    // The completion queue is full: the caller must reap first.
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Queue a request that names no user memory (poll, accept, cancel,
    /// shutdown, a receive into the provided-buffer ring).
    fn push_no_memory(&mut self, sqe: squeue::Entry) -> io::Result<()> {
        // SAFETY: the SQEs built by the callers below reference only descriptors,
        // user_data values and a registered buffer group, no memory of ours.
        unsafe { self.push(&sqe) }
    }

    /// `IORING_OP_POLL_ADD` for `mask` (poll(2) bits); `multi` keeps it armed.
    pub fn poll_add(
        &mut self,
        fd: RawFd,
        mask: u32,
        multi: bool,
        user_data: u64,
    ) -> io::Result<()> {
        let e = opcode::PollAdd::new(Fd(fd), mask)
            .multi(multi)
            .build()
            .user_data(user_data);
        self.push_no_memory(e)
    }

    /// Remove the poll request tagged `target`.
    pub fn poll_remove(&mut self, target: u64, user_data: u64) -> io::Result<()> {
        let e = opcode::PollRemove::new(target).build().user_data(user_data);
        self.push_no_memory(e)
    }

    /// Multishot accept on `listener`: one completion per connection, the new
    /// descriptor (close-on-exec) as the result.
    pub fn accept_multi(&mut self, listener: RawFd, user_data: u64) -> io::Result<()> {
        let e = opcode::AcceptMulti::new(Fd(listener))
            .flags(libc::SOCK_CLOEXEC)
            .build()
            .user_data(user_data);
        self.push_no_memory(e)
    }

    /// A receive of at most `len` bytes into a buffer the kernel picks from
    /// `group` (the completion names it: [`Completion::buffer_id`]). `multishot`
    /// keeps it armed, one completion per arrival, while buffers last (then
    /// `ENOBUFS` ends it); a multishot receive must ask for `len` 0 (a whole buffer).
    pub fn recv_provided(
        &mut self,
        fd: RawFd,
        group: u16,
        len: u32,
        multishot: bool,
        user_data: u64,
    ) -> io::Result<()> {
        let e = if multishot {
            opcode::RecvMulti::new(Fd(fd), group).build()
        } else {
            opcode::Recv::new(Fd(fd), std::ptr::null_mut(), len)
                .buf_group(group)
                .build()
                .flags(squeue::Flags::BUFFER_SELECT)
        };
        self.push_no_memory(e.user_data(user_data))
    }

    /// Cancel the request tagged `target` (its completion will say `-ECANCELED`
    /// unless it completed first).
    pub fn cancel(&mut self, target: u64, user_data: u64) -> io::Result<()> {
        let e = opcode::AsyncCancel::new(target)
            .build()
            .user_data(user_data);
        self.push_no_memory(e)
    }

    /// `writev` of `iov` on `fd`.
    ///
    /// # Safety
    /// `iov` and every buffer it points to must stay valid and unchanged until
    /// this request's completion is reaped (the kernel reads them
    /// asynchronously, possibly after this call returns).
    pub unsafe fn writev(
        &mut self,
        fd: RawFd,
        iov: &[libc::iovec],
        user_data: u64,
    ) -> io::Result<()> {
        let e = opcode::Writev::new(Fd(fd), iov.as_ptr(), iov.len() as u32)
            .build()
            .user_data(user_data);
        // SAFETY: forwarded from the caller's contract.
        unsafe { self.push(&e) }
    }

    /// Submit what is queued and wait for at least `want` completions, or until
    /// `timeout` passes (`None`: no limit). A timeout, a signal (`EINTR`) and
    /// a full completion queue (`EBUSY`: reap first) are not errors.
    pub fn submit_and_wait(&mut self, want: usize, timeout: Option<Duration>) -> io::Result<()> {
        self.enters += 1;
        let res = match timeout {
            None => self.ring.submit_and_wait(want),
            Some(t) if t.is_zero() || want == 0 => self.ring.submit(),
            Some(t) => {
                let ts = Timespec::new().sec(t.as_secs()).nsec(t.subsec_nanos());
                let args = SubmitArgs::new().timespec(&ts);
                self.ring.submitter().submit_with_args(want, &args)
            }
        };
        match res {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EBUSY)
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Move up to `max` completions into `out` (appended).
    pub fn reap(&mut self, out: &mut Vec<Completion>, max: usize) {
        let before = out.len();
        for cqe in self.ring.completion().take(max) {
            out.push(Completion {
                user_data: cqe.user_data(),
                result: cqe.result(),
                flags: cqe.flags(),
            });
        }
        self.cqes += (out.len() - before) as u64;
    }
}

/// A provided-buffer ring (`IORING_REGISTER_PBUF_RING`): `count` buffers of
/// `size` bytes the kernel picks from for receives. A buffer the kernel filled
/// is ours until [`recycle`](BufRing::recycle) hands it back.
///
/// Must be dropped after the [`Ring`] it is registered with is closed (declare
/// it after the ring in a struct): the kernel may write into the buffers until then.
pub struct BufRing {
    entries: *mut BufRingEntry,
    entries_layout: Layout,
    /// The buffers, `count * size` bytes, from `Box::into_raw`: addressed
    /// through this pointer only, never through a reference spanning buffers
    /// the kernel may be writing.
    bufs: *mut u8,
    bufs_len: usize,
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
        let entries_layout = Layout::array::<BufRingEntry>(count as usize)
            .and_then(|l| l.align_to(4096))
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        // SAFETY: the layout has a non-zero size (count ≥ 1).
        let entries = unsafe { alloc::alloc_zeroed(entries_layout) } as *mut BufRingEntry;
        if entries.is_null() {
            return Err(io::Error::from(io::ErrorKind::OutOfMemory));
        }
        let total = (count as usize)
            .checked_mul(size)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "buffer ring too large"))?;
        let mut bufs = vec![0u8; total].into_boxed_slice();
        for i in (0..total).step_by(4096) {
            // SAFETY: i < total: an in-bounds, aligned u8 of our own slice.
            unsafe { std::ptr::write_volatile(&mut bufs[i], 0) };
        }
        let bufs = Box::into_raw(bufs) as *mut u8;
        let mut this = BufRing {
            entries,
            entries_layout,
            bufs,
            bufs_len: total,
            size,
            mask: count - 1,
            tail: 0,
            group,
            free: 0,
        };
        // SAFETY: `entries` is page-aligned, holds `count` entries and lives
        // as long as `this`, which the caller drops only after the ring.
        unsafe {
            ring.ring
                .submitter()
                .register_buf_ring_with_flags(entries as u64, count, group, 0)
        }
        .map_err(|e| {
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
        // is ours until recycled (the kernel picks only published buffers).
        unsafe { std::slice::from_raw_parts(self.bufs.add(start), len.min(self.size)) }
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
        // SAFETY: bid ≤ mask, so the offset is within the allocation.
        let addr = unsafe { self.bufs.add(bid as usize * self.size) } as u64;
        // SAFETY: idx ≤ mask < count, within the allocation; the kernel reads
        // entries only up to the published tail, and this one is beyond it.
        let e = unsafe { &mut *self.entries.add(idx) };
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
            let tail = BufRingEntry::tail(self.entries) as *const AtomicU16;
            (*tail).store(self.tail, Ordering::Release);
        }
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: allocated in `register` with this layout and by
        // `Box::into_raw` with this length; the ring that used them is gone
        // (documented drop order).
        unsafe {
            alloc::dealloc(self.entries as *mut u8, self.entries_layout);
            drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                self.bufs,
                self.bufs_len,
            )));
        }
    }
}

/// Take ownership of the descriptor an accept completion returned.
///
/// # Safety
/// `fd` must be a freshly accepted socket descriptor that nothing else owns
/// (the result of a successful accept completion, used once).
pub unsafe fn accepted_stream(fd: RawFd) -> std::net::TcpStream {
    use std::os::fd::{FromRawFd, OwnedFd};
    // SAFETY: forwarded from the caller's contract.
    std::net::TcpStream::from(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unavailability_names_the_cause_and_the_remedy() {
        let enosys = io::Error::from_raw_os_error(libc::ENOSYS);
        assert!(unavailable_reason(&enosys, None).contains("5.19"));
        let eperm = io::Error::from_raw_os_error(libc::EPERM);
        let sysctl = unavailable_reason(&eperm, Some(2));
        assert!(sysctl.contains("kernel.io_uring_disabled=2"), "{sysctl}");
        assert!(
            sysctl.contains("sysctl kernel.io_uring_disabled=0"),
            "{sysctl}"
        );
        let seccomp = unavailable_reason(&eperm, Some(0));
        assert!(seccomp.contains("seccomp"), "{seccomp}");
        let msg = unavailable(eperm).to_string();
        assert!(msg.starts_with("io_uring unavailable: "), "{msg}");
    }

    /// On this project's machines io_uring works: this fails (never skips) if not.
    #[test]
    fn io_uring_is_available_here() {
        available().expect("io_uring must work on the test machines");
    }

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
        drop(ring); // the documented order: the ring first
        drop(bufs);
    }
}
