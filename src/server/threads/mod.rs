//! `threads`: the textbook's first server. One blocking thread per
//! connection reads, then writes; the kernel's scheduler is the multiplexer.
//!
//! - The calling thread accepts and obeys the control pipe: it polls the
//!   listener and the pipe (not the connections), so stopping, snapshots and
//!   the stats page work as in the event loops.
//! - Each connection thread has a small stack (`--stack-size`, 64 KiB by
//!   default) and a read buffer of `--read-buf` bytes (at most
//!   `--max-pending`) that is never zeroed, so an idle connection costs its
//!   stack, a few pages and the kernel's task: `results/models` measures it.
//! - Echo: a blocking `read`, then a `send(MSG_DONTWAIT)` of what was read.
//!   If the socket takes less, the rest goes out in blocking writes while the
//!   thread reads nothing (back-pressure, counted as `read_pauses`), so at
//!   most one read's worth is pending for a connection.
//! - Chat: a second thread per connection writes the member's outbox of the
//!   shared room (`room.rs`): a reader blocked in `read` cannot also wait for
//!   lines to send.
//! - Counting: each thread counts into its own
//!   `shards::Tally` and publishes it after every request; a
//!   snapshot sums them (`shards::Shards`).
//! - Stopping: every connection is shut down (its blocked `read` returns),
//!   then every thread is joined.
//!
//! The calling thread's loop is in `serve.rs`, accepting and starting
//! connection threads in `accept.rs`, what the threads share in `shared.rs`,
//! a connection thread and echo in `connection.rs`, chat in `chat.rs`.

mod accept;
mod chat;
mod connection;
mod serve;
mod shared;

pub use accept::MIN_STACK;
pub use serve::serve;
