//! muxbench: measure how select(2), poll(2) and epoll(7) — level- and
//! edge-triggered — compare when they serve the same TCP protocol, and show why.
//!
//! - [`mux`]: the [`Multiplexer`](mux::Multiplexer) contract and its four backends.
//! - [`server`]: an RFC 862 echo server generic over the multiplexer, with the
//!   counters (wait calls, reads, writes, …) that explain its costs.
//! - [`limits`]: the bounds of every command-line value, and why.
//! - [`addr`]: `HOST:PORT` flags, host names resolved once at start.
//! - [`signals`]: SIGUSR1 / SIGINT / SIGTERM, through `signal-hook`.
//! - [`sys`]: the only module that calls libc.
//! - [`units`]: durations and byte sizes as written on the command line.

#![warn(missing_docs)]

pub mod addr;
pub mod backend;
pub mod limits;
pub mod loadgen;
pub mod mux;
pub mod record;
pub mod report;
pub mod server;
pub mod signals;
pub mod stats;
pub mod sys;
pub mod units;
