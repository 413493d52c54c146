//! Building SQEs: what a request acts on (a descriptor or a fixed-file
//! slot), and receives into provided buffers — multishot, bundles, and the
//! total limit the crate's `Recv` builder cannot set. Nothing here queues
//! anything (that is `ring`'s).

use std::os::fd::RawFd;

use io_uring::types::{Fd, Fixed};
use io_uring::{opcode, squeue};

/// What a request acts on: a descriptor, or a slot of the ring's fixed file
/// table (a direct descriptor, which no other process or table can see).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// An ordinary descriptor.
    Fd(RawFd),
    /// A fixed-file-table slot.
    Fixed(u32),
}

/// Build an opcode on either kind of target (the crate takes each as its own type).
macro_rules! on_target {
    ($t:expr, |$f:ident| $e:expr) => {
        match $t {
            Target::Fd(fd) => {
                let $f = Fd(fd);
                $e
            }
            Target::Fixed(i) => {
                let $f = Fixed(i);
                $e
            }
        }
    };
}

pub(super) use on_target;

/// `ioprio` bits of a receive (include/uapi/linux/io_uring.h; the crate does
/// not export them).
const IORING_RECV_MULTISHOT: u16 = 1 << 1;
const IORING_RECVSEND_BUNDLE: u16 = 1 << 4;
/// Register flag: a provided-buffer ring consumed incrementally.
pub(super) const IOU_PBUF_RING_INC: u16 = 2;

/// How a receive into provided buffers behaves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecvMode {
    /// Stays armed: one completion per arrival.
    pub multishot: bool,
    /// One completion may fill several buffers.
    pub bundle: bool,
    /// Multishot only: end after this many bytes in all (0: no limit).
    pub limit: u32,
}

/// Where a receive's total multishot limit goes: `sqe->optlen`, at byte 44
/// of the SQE (a union with `file_index`), which the crate's `Recv` builder
/// cannot set.
const SQE_OPTLEN_OFFSET: usize = 44;
const _: () = assert!(std::mem::size_of::<squeue::Entry>() == 64);

/// `e` with `sqe->optlen` set.
fn with_optlen(e: squeue::Entry, optlen: u32) -> squeue::Entry {
    // SAFETY: `squeue::Entry` is `repr(C)` around the 64-byte
    // `io_uring_sqe` (size checked above); any bytes are a valid SQE to
    // Rust (plain integers and unions of them), and only the 4 bytes of
    // the `optlen` union member are changed.
    let mut bytes: [u8; 64] = unsafe { std::mem::transmute(e) };
    bytes[SQE_OPTLEN_OFFSET..SQE_OPTLEN_OFFSET + 4].copy_from_slice(&optlen.to_ne_bytes());
    // SAFETY: as above.
    unsafe { std::mem::transmute::<[u8; 64], squeue::Entry>(bytes) }
}

/// A receive of at most `len` bytes (one-shot) into a buffer of `group`,
/// as `mode` says (see [`super::Ring::recv_provided`]).
pub(super) fn recv_sqe(target: Target, group: u16, len: u32, mode: RecvMode) -> squeue::Entry {
    let mut ioprio = 0;
    if mode.multishot {
        ioprio |= IORING_RECV_MULTISHOT;
    }
    if mode.bundle {
        ioprio |= IORING_RECVSEND_BUNDLE;
    }
    let len = if mode.multishot { 0 } else { len };
    let e = on_target!(target, |f| opcode::Recv::new(f, std::ptr::null_mut(), len)
        .buf_group(group)
        .ioprio(ioprio)
        .build()
        .flags(squeue::Flags::BUFFER_SELECT));
    if mode.multishot && mode.limit > 0 {
        with_optlen(e, mode.limit)
    } else {
        e
    }
}
