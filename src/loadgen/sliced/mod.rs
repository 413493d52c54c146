//! Sliced comparison: every arm's server up at once, the offered load moved
//! between them in short slices.
//!
//! Why: these VMs flip between a fast and a slow state for loopback TCP
//! (whole-machine busy time per request 7.7 ↔ 14.5 µs) in stretches of
//! 5–30 s that neither steal nor the calibration probe sees. A round of
//! whole runs (warm-up + 2 s per arm) is longer than a state, so pairing by
//! round leaves a flip between the two sides of many ratios. Here every
//! arm's server is started, pinned to the server CPU, connected and warmed
//! up once; then each *cycle* gives every arm one slice (default 0.5 s) in a
//! random order. A blocked server costs nothing while the others have the
//! load, the connections to every arm stay open (idle ones included), and a
//! ratio is taken within a cycle — from slices at most a cycle apart — so a
//! state flip hits both of its sides or, rarely, one cycle.
//!
//! A slice is closed loop: each active connection of the arm keeps
//! `--pipeline` messages in flight while the slice lasts; at its end sending
//! stops and what is in flight is drained (the drain's time is not in the
//! slice's length; its requests and the server's work for them are in the
//! slice's figures). The server's figures come from `SIGUSR1` snapshots at
//! the slice's edges, taken while the arm is quiet; the machine's busy time
//! per CPU and context from /proc/stat. Every echoed byte is verified.
//!
//! Each slice becomes one row with `repeat` = its cycle and `interleave` =
//! `slices`, so the report pairs arms by cycle exactly as it pairs runs by
//! round.

mod drive;
mod row;
mod start;
mod state;

pub use state::{supports, Sliced, DEFAULT_SLICE, MIN_SLICE};
