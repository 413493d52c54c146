//! The echo server's event loop, generic over the multiplexer.
//!
//! Accepting, the drain rule, back-pressure, interest changes and closing are
//! one state machine per connection, one [`EventLoop`]; its steps are in files
//! of their own: the loop's turn and its state (`wait_loop.rs`), accepting
//! (`accept.rs`), reading (`read.rs`, with the drain rule) and writing,
//! settling and closing (`write.rs`, with back-pressure). What echo and chat
//! decide is behind the protocol seam, `protocol.rs` and `chat.rs`.
//!
//! One thread, one multiplexer, one shared read buffer. Per connection the
//! loop keeps a socket, an output buffer that exists only while output is
//! pending, and a few flags (see [`Conn`](super::conn::Conn)), so an idle
//! connection costs no heap buffer.
//!
//! # Spurious events
//!
//! A token in an event batch may refer to a connection closed earlier in the
//! same batch, or to a new connection that reused its slot. Such an event leads
//! at worst to a read or write that returns `EAGAIN`, which is harmless.

mod accept;
mod read;
mod wait_loop;
mod write;

pub use wait_loop::EventLoop;
