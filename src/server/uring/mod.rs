//! The completion-based server: io_uring as its experts write one.
//!
//! Where the readiness loop asks "which sockets can I read?" and then reads,
//! this loop asks the kernel to do the I/O and learns when it is done:
//!
//! - **Accept**: one multishot accept on the listener; each completion is a
//!   new connection. Out of descriptors (EMFILE/ENFILE) the multishot ends and
//!   is re-armed only when a connection closes or 100 ms pass — no spin.
//! - **Receive** into a registered *provided-buffer ring*: the kernel picks a
//!   buffer when data arrives, so idle connections hold no buffer. Chat uses a
//!   multishot receive (one request, one completion per arrival, re-armed when
//!   a completion comes without `F_MORE`, e.g. after `ENOBUFS`). Echo uses a
//!   one-shot receive re-armed after each completion and sized to the room
//!   left under `--max-pending`: a multishot receive may post up to 32
//!   completions per wake-up before a cancel lands (the kernel's multishot
//!   retry limit), which would break the per-connection output cap that every
//!   backend honours. Re-arming costs an SQE, not a system call.
//! - **Send**: at most one `writev` in flight per connection, so output stays
//!   in order; a partial send resubmits the rest. Echo sends straight from the
//!   provided buffer the data arrived in (no copy) when nothing is queued, and
//!   that buffer returns to the ring only when its send has completed; data
//!   that arrives while a send is in flight is copied into the connection's
//!   queue and its buffer recycled at once, so one connection holds at most
//!   one ring buffer.
//! - **One `io_uring_enter` per loop turn** submits everything queued while
//!   handling the last batch of completions and waits for the next.
//!
//! `user_data` is (operation, connection slot). A connection's slot is freed
//! only when none of its requests is in the kernel, so a completion always
//! finds the connection it belongs to. Counters mean what they mean for the
//! readiness loop where they can: `reads` = receive completions, `writes` =
//! sends submitted; the backend's `wait_calls` are `io_uring_enter` calls,
//! `events` the completions reaped, plus `sqes` submitted.
//!
//! One loop and the life cycle of a connection under it, in files by step:
//! the loop itself and its state (`ring_loop.rs`), `user_data` (`ops.rs`),
//! the connection (`conn.rs`), accepting and control (`accept.rs`), admission,
//! settling and closing (`life.rs`), receiving (`recv.rs`), echo and chat
//! (`echo.rs`, `chat.rs`), sending (`send.rs`), stopping (`stop.rs`) and the
//! trace lines (`cqe_trace.rs`). Each adds methods to the one `UringServer`.

mod accept;
mod chat;
mod conn;
mod cqe_trace;
mod echo;
mod life;
mod ops;
mod recv;
mod ring_loop;
mod send;
mod stop;

pub use ring_loop::serve;
