//! The io_uring instance: setup (with a clear reason when io_uring is
//! unavailable), queueing submissions, waiting, and reaping completions.
//!
//! Queueing is the `unsafe` part: the kernel may read or write the memory an
//! SQE names until its completion arrives. Callers get safe methods for
//! requests that name no memory of theirs, and `unsafe` ones (with their
//! contract written next to them) for those that do. The ring also keeps alive
//! the memory registered with it (a provided-buffer ring's), so that memory
//! cannot be freed while the kernel may still write into it.

use std::io;
use std::os::fd::RawFd;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use io_uring::types::{BufRingEntry, Fd, Fixed, SubmitArgs, Timespec};
use io_uring::{cqueue, opcode, squeue, IoUring};

use super::setup::{unavailable, Setup, TaskRun, SQPOLL_IDLE_MS};
use super::sqe::{on_target, recv_sqe, RecvMode, Target, IOU_PBUF_RING_INC};

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

    /// Incremental consumption: the completion's (last) buffer has room left
    /// and stays in the ring (`IORING_CQE_F_BUF_MORE`).
    pub fn buf_more(&self) -> bool {
        cqueue::buffer_more(self.flags)
    }

    /// A zero-copy send's notification (`IORING_CQE_F_NOTIF`): the kernel let
    /// go of the send's pages.
    pub fn notif(&self) -> bool {
        cqueue::notif(self.flags)
    }
}

/// Whether io_uring works here, with the reason if not (sweeps skip such backends).
pub fn available() -> io::Result<()> {
    Ring::new(8).map(drop)
}

/// An io_uring instance with counters of its own costs.
pub struct Ring {
    /// Declared before `registered`: fields drop in declaration order, so the
    /// ring closes (and the kernel stops using registered memory) before
    /// that memory is released.
    ring: IoUring,
    /// Memory registered with the ring (provided-buffer rings), kept alive
    /// until the ring is closed, whoever else drops its handle first.
    registered: Mutex<Vec<Arc<dyn Send + Sync>>>,
    /// `io_uring_enter` calls made.
    pub enters: u64,
    /// SQEs queued.
    pub sqes: u64,
    /// CQEs reaped.
    pub cqes: u64,
    /// SQPOLL: a kernel thread submits; entering is needed only to wait or wake it.
    sqpoll: bool,
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
        Ring::with_setup(entries, Setup::default())
    }

    /// A ring set up as `setup` says; an asked-for mode the kernel refuses is
    /// an error naming it (the default ring alone falls back, on kernels
    /// before 6.1, to no deferred task work).
    pub fn with_setup(entries: u32, setup: Setup) -> io::Result<Ring> {
        let cq = entries.saturating_mul(4);
        let mut b = IoUring::builder();
        b.setup_cqsize(cq);
        match setup.taskrun {
            // With deferred task work, a plain submit (a zero-timeout wait)
            // would not run pending completions; the flag tells the crate
            // when to ask for them (GETEVENTS).
            TaskRun::Defer => {
                b.setup_single_issuer()
                    .setup_defer_taskrun()
                    .setup_taskrun_flag();
            }
            TaskRun::Coop => {
                b.setup_coop_taskrun().setup_taskrun_flag();
            }
            TaskRun::None => {}
        }
        if let Some(cpu) = setup.sqpoll {
            b.setup_sqpoll(SQPOLL_IDLE_MS);
            if let Some(cpu) = cpu {
                b.setup_sqpoll_cpu(cpu as u32);
            }
        }
        let ring = b
            .build(entries)
            .or_else(|e| {
                if setup.fallback && e.raw_os_error() == Some(libc::EINVAL) {
                    // Older kernel: no DEFER_TASKRUN / SINGLE_ISSUER.
                    IoUring::builder().setup_cqsize(cq).build(entries)
                } else if e.raw_os_error() == Some(libc::EINVAL) {
                    Err(io::Error::new(
                        e.kind(),
                        format!("the kernel refused this ring setup ({setup:?}): {e}"),
                    ))
                } else {
                    Err(e)
                }
            })
            .map_err(unavailable)?;
        Ok(Ring {
            ring,
            registered: Mutex::new(Vec::new()),
            enters: 0,
            sqes: 0,
            cqes: 0,
            sqpoll: setup.sqpoll.is_some(),
        })
    }

    /// Give the ring a fixed file table of `slots` empty slots (accepts with
    /// direct descriptors fill it).
    pub fn register_files_sparse(&self, slots: u32) -> io::Result<()> {
        self.ring.submitter().register_files_sparse(slots)
    }

    /// Register a provided-buffer ring of `count` entries at `entries` as
    /// buffer group `group`, and keep `owner` (the memory behind it) alive
    /// until this ring is closed: the kernel may write into the buffers until
    /// then, so neither may be freed before.
    ///
    /// # Safety
    /// `entries` must point to `count` page-aligned [`BufRingEntry`]s, and
    /// every buffer they will name must lie in memory that `owner` owns and
    /// frees only when dropped.
    pub(super) unsafe fn register_buf_ring(
        &self,
        entries: *mut BufRingEntry,
        count: u16,
        group: u16,
        incremental: bool,
        owner: Arc<dyn Send + Sync>,
    ) -> io::Result<()> {
        let flags = if incremental { IOU_PBUF_RING_INC } else { 0 };
        // SAFETY: forwarded from the caller's contract; `owner` is kept below
        // for as long as the ring lives, so the memory outlives the registration.
        unsafe {
            self.ring
                .submitter()
                .register_buf_ring_with_flags(entries as u64, count, group, flags)
        }?;
        self.registered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(owner);
        Ok(())
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
            let submitted = if self.sqpoll && !self.ring.submission().need_wakeup() {
                // The SQ thread is emptying the queue: wait for room.
                self.ring.submitter().squeue_wait()
            } else {
                // Submits, or wakes the sleeping SQ thread.
                self.ring.submit()
            };
            match submitted {
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
    /// shutdown, close, a receive into the provided-buffer ring).
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
    /// `direct`: into a free slot of the fixed file table instead (the
    /// result is the slot; no descriptor is made).
    pub fn accept_multi(
        &mut self,
        listener: RawFd,
        direct: bool,
        user_data: u64,
    ) -> io::Result<()> {
        let e = opcode::AcceptMulti::new(Fd(listener))
            .flags(if direct { 0 } else { libc::SOCK_CLOEXEC })
            .allocate_file_index(direct)
            .build()
            .user_data(user_data);
        self.push_no_memory(e)
    }

    /// One accept into a free slot of the fixed file table (the result is the slot).
    pub fn accept_direct_once(&mut self, listener: RawFd, user_data: u64) -> io::Result<()> {
        let e = opcode::Accept::new(Fd(listener), std::ptr::null_mut(), std::ptr::null_mut())
            .file_index(Some(io_uring::types::DestinationSlot::auto_target()))
            .build()
            .user_data(user_data);
        self.push_no_memory(e)
    }

    /// Shut down the sending side of `target` (a FIN); `skip`: no completion on success.
    pub fn shutdown_write(&mut self, target: Target, skip: bool, user_data: u64) -> io::Result<()> {
        let e = on_target!(target, |f| opcode::Shutdown::new(f, libc::SHUT_WR).build());
        self.push_no_memory(skip_success(e, skip).user_data(user_data))
    }

    /// Close fixed-file-table slot `slot`; `skip`: no completion on success.
    pub fn close_fixed(&mut self, slot: u32, skip: bool, user_data: u64) -> io::Result<()> {
        let e = opcode::Close::new(Fixed(slot)).build();
        self.push_no_memory(skip_success(e, skip).user_data(user_data))
    }

    /// A receive of at most `len` bytes into a buffer the kernel picks from
    /// `group` (the completion names it: [`Completion::buffer_id`]).
    /// `mode.multishot` keeps it armed, one completion per arrival, while
    /// buffers last (then `ENOBUFS` ends it); a multishot receive asks for no
    /// length (a whole buffer each). `mode.bundle` lets one completion fill
    /// several consecutive buffers of the ring (`IORING_RECVSEND_BUNDLE`,
    /// Linux 6.10). A bundle's length is not a cap on the first try (the
    /// kernel fills as many buffers as data and the ring allow); only a
    /// multishot receive's total `mode.limit` (`sqe->optlen`, Linux 6.18) is
    /// — after that many bytes it ends (no `F_MORE`).
    pub fn recv_provided(
        &mut self,
        target: Target,
        group: u16,
        len: u32,
        mode: RecvMode,
        user_data: u64,
    ) -> io::Result<()> {
        let e = recv_sqe(target, group, len, mode);
        self.push_no_memory(e.user_data(user_data))
    }

    /// Cancel the request tagged `target` (its completion will say `-ECANCELED`
    /// unless it completed first).
    pub fn cancel(&mut self, target: u64, user_data: u64) -> io::Result<()> {
        self.cancel_skip(target, false, user_data)
    }

    /// [`Ring::cancel`]; `skip`: no completion when the cancel succeeds.
    pub fn cancel_skip(&mut self, target: u64, skip: bool, user_data: u64) -> io::Result<()> {
        let e = opcode::AsyncCancel::new(target).build();
        self.push_no_memory(skip_success(e, skip).user_data(user_data))
    }

    /// `writev` of `iov` on `fd`.
    ///
    /// # Safety
    /// `iov` and every buffer it points to must stay valid and unchanged until
    /// this request's completion is reaped (the kernel reads them
    /// asynchronously, possibly after this call returns).
    pub unsafe fn writev(
        &mut self,
        target: Target,
        iov: &[libc::iovec],
        user_data: u64,
    ) -> io::Result<()> {
        let e = on_target!(target, |f| opcode::Writev::new(
            f,
            iov.as_ptr(),
            iov.len() as u32
        )
        .build())
        .user_data(user_data);
        // SAFETY: forwarded from the caller's contract.
        unsafe { self.push(&e) }
    }

    /// Zero-copy `sendmsg` of `msg` on `target`: two completions, the result
    /// (with `F_MORE` when a notification follows) and the notification
    /// ([`Completion::notif`]) once the kernel no longer reads the pages.
    ///
    /// # Safety
    /// `msg`, the iovec array it names and every buffer that array points to
    /// must stay valid and unchanged until the notification is reaped (or
    /// the result, if it comes without `F_MORE`).
    pub unsafe fn sendmsg_zc(
        &mut self,
        target: Target,
        msg: *const libc::msghdr,
        user_data: u64,
    ) -> io::Result<()> {
        let e = on_target!(target, |f| opcode::SendMsgZc::new(f, msg)
            .flags(libc::MSG_NOSIGNAL as u32)
            .build())
        .user_data(user_data);
        // SAFETY: forwarded from the caller's contract.
        unsafe { self.push(&e) }
    }

    /// Submit what is queued and wait for at least `want` completions, or until
    /// `timeout` passes (`None`: no limit). A timeout, a signal (`EINTR`) and
    /// a full completion queue (`EBUSY`: reap first) are not errors.
    pub fn submit_and_wait(&mut self, want: usize, timeout: Option<Duration>) -> io::Result<()> {
        if self.sqpoll {
            // The SQ thread submits: enter only to wake it, or to wait for
            // completions when none are there yet.
            let waiting = want > 0 && self.ring.completion().is_empty();
            let asleep = self.ring.submission().need_wakeup();
            if !waiting && !asleep {
                return Ok(());
            }
            if !waiting {
                self.enters += 1;
                return self.ring.submit().map(drop); // wakes the thread
            }
        }
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

/// `e` with `IOSQE_CQE_SKIP_SUCCESS` if `skip`: only a failure completes.
fn skip_success(e: squeue::Entry, skip: bool) -> squeue::Entry {
    if skip {
        e.flags(squeue::Flags::SKIP_SUCCESS)
    } else {
        e
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
