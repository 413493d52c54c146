//! muxbench: measure how select(2), poll(2) and epoll(7) — level- and
//! edge-triggered — compare when they serve the same TCP protocol (RFC 862
//! echo, or a broadcast chat), beside io_uring, a thread per connection and
//! tokio, and show why. `docs/architecture.md` is the map.
//!
//! - [`backend`]: the one table of backends and what can be asked of each.
//! - [`mux`]: the [`Multiplexer`](mux::Multiplexer) contract and the readiness
//!   backends (select, poll, epoll level/edge, io_uring's POLL_ADD).
//! - [`server`]: the servers, one per serving model (the readiness event
//!   loop, io_uring completions, a thread per connection, tokio), with the
//!   counters (waits, reads, writes, …) that explain their costs.
//! - [`loadgen`]: the load generator: runs, sweeps, sliced comparisons,
//!   merging several hosts, chaos, the self-checks.
//! - [`record`], [`report`], [`stats`]: the result rows, the reports written
//!   from them, and the statistics they rest on.
//! - [`limits`]: the bounds of every command-line value, and why.
//! - [`addr`]: `HOST:PORT` flags, host names resolved once at start.
//! - [`signals`]: SIGUSR1 / SIGINT / SIGTERM, through `signal-hook`.
//! - [`sys`]: the only module that calls libc.
//! - [`units`]: durations, byte sizes and CPU lists as written on the command line.

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
