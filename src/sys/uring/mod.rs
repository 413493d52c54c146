//! io_uring: the ring, the provided-buffer ring, and the `unsafe` they need.
//!
//! Every `unsafe` touch of io_uring in the crate is in this directory on
//! purpose, so it can be reviewed in one place. The `io-uring` crate makes the
//! system calls; this module is the only place that queues submissions (which
//! is `unsafe`: the kernel may read or write the memory an SQE names until its
//! completion arrives) and that shares memory with the kernel (the
//! provided-buffer ring). Callers get safe methods whose contracts are written
//! next to them.
//!
//! - `ring`: the instance — submissions, waiting, completions.
//! - `setup`: how a ring is set up, and why it cannot be.
//! - `sqe`: building submissions (targets, receives into provided buffers).
//! - `buf_ring`: the provided-buffer ring, whose memory the ring keeps alive
//!   until it is closed.

mod buf_ring;
mod ring;
mod setup;
mod sqe;

pub use buf_ring::{BufRing, Piece, Unexpected};
pub use ring::{accepted_stream, available, Completion, Ring};
pub use setup::{Setup, TaskRun};
pub use sqe::{RecvMode, Target};
