//! The server (RFC 862 echo, or broadcast chat), generic over the multiplexer.
//!
//! This file is the facade: it declares the modules and re-exports what the
//! rest of the crate uses. Nothing here is imported by the modules below it.
//! [`serve`] binds, routes the signals to the control pipe, dispatches on the
//! backend once and runs the serving model it names.

mod chat;
mod cli;
mod config;
mod conn;
mod control;
mod counters;
mod event_loop;
mod protocol;
pub mod reactors;
pub mod remote;
mod room;
mod rules;
mod serve;
mod shards;
mod slot;
pub mod stats_page;
pub mod threads;
pub mod tokio_rt;
mod trace;
pub mod uring;
pub mod uring_features;

pub use chat::Chat;
pub use cli::{
    parse_max_pending, parse_reactors, parse_read_buf, parse_runtime_threads, parse_stack_size,
    ServerArgs,
};
pub use config::{Config, Protocol, ReadPolicy, DEFAULT_STACK};
pub use control::{CONTROL_SNAPSHOT, CONTROL_STOP};
pub use counters::{Counters, Snapshot};
pub use event_loop::EventLoop;
pub use protocol::{Echo, Handler};
pub use rules::{Step, LINE_TOO_LONG};
pub use serve::{serve, serve_on};
pub use trace::TraceLevel;
