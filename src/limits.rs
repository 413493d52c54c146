//! Upper bounds of the command-line values: every size, count, rate and
//! duration a user can type is checked here before anything is allocated or
//! started, and refused with a message that states the bound and why.
//!
//! Two kinds of bound. Fixed ones, where a larger value buys nothing (a read
//! of more than 64 MiB never returns more than the socket's receive queue,
//! which the kernel caps at a few MiB) or turns a typing slip into an hour of
//! waiting. And machine ones, computed from the machine this runs on: memory
//! (`MemAvailable` in /proc/meminfo), CPUs (the affinity mask) and descriptors
//! (`RLIMIT_NOFILE`, checked where the connections are counted).

use std::time::Duration;

/// Largest `--read-buf`, `--max-line` and `--msg-size`: 64 MiB. One read never
/// returns more than the receive queue (`net.ipv4.tcp_rmem` caps it at a few
/// MiB), and a message or line is held whole in memory on both sides.
pub const MAX_BUF: usize = 64 << 20;

/// Largest `--max-pending` (output queued per connection): 1 GiB, and at most
/// half the memory available (see [`max_pending_bound`]).
pub const MAX_PENDING: usize = 1 << 30;

/// Largest `--events` (epoll's `maxevents`): 65,536 — 768 KiB of
/// `epoll_event`s; a wait returns at most one event per ready connection, and
/// larger batches only delay the first of them.
pub const MAX_EVENTS: usize = 65_536;

/// Longest duration any flag takes: one day. A benchmark window longer than
/// that is a typing slip (`--duration 5m` meant as 5 minutes is fine).
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// Largest open-loop `--rate`: 100 million messages per second, two orders of
/// magnitude above what one loopback echo server answers; the schedule beyond
/// what can be sent only piles up.
pub const MAX_RATE: f64 = 1e8;

/// Smallest open-loop `--rate`: one message per 1,000 s in total.
pub const MIN_RATE: f64 = 1e-3;

/// Load-generator worker threads per client CPU at most. Each worker is an
/// event loop that keeps its CPU busy; more workers than CPUs only time-slice
/// (context switches, cache misses). A small multiple is allowed for
/// experiments on oversubscription.
pub const THREADS_PER_CPU: usize = 4;

/// Largest total of bytes in flight (`--conns` × `--pipeline` × `--msg-size`):
/// 1 GiB, and at most an eighth of available memory (see
/// [`in_flight_bound`]). The client queues every in-flight message at once and
/// the server and the kernel hold copies; beyond this a run spends its window
/// building and draining the queue instead of measuring.
pub const MAX_IN_FLIGHT: u64 = 1 << 30;

/// Fewest descriptors a server can run with (`--nofile-limit`): stdio, the
/// listener, the multiplexer, the signal pipe, and a few connections.
pub const MIN_NOFILE: u64 = 16;

/// Memory this machine can give without swapping (`MemAvailable`), bytes;
/// `None` where /proc/meminfo does not say.
pub fn mem_available() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.saturating_mul(1024))
}

/// A byte count for messages: `64 MiB`, `1.5 GiB`, `512 KiB`, `100 B`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (name, size) in UNITS {
        if n >= size {
            let v = n as f64 / size as f64;
            return if v.fract() == 0.0 {
                format!("{v:.0} {name}")
            } else {
                format!("{v:.1} {name}")
            };
        }
    }
    format!("{n} B")
}

/// Refuse a buffer-like size above [`MAX_BUF`]; `why` says what it would cost.
pub fn check_buf(n: usize, why: &str) -> Result<(), String> {
    if n > MAX_BUF {
        return Err(format!(
            "{n} bytes is above the bound of {} ({MAX_BUF}): {why}",
            human_bytes(MAX_BUF as u64)
        ));
    }
    Ok(())
}

/// The bound on `--max-pending`: [`MAX_PENDING`], or half the available
/// memory if less (one connection that never reads can fill its queue).
pub fn max_pending_bound() -> usize {
    let half = mem_available().map_or(u64::MAX, |m| m / 2);
    (MAX_PENDING as u64).min(half) as usize
}

/// Refuse a `--max-pending` above [`max_pending_bound`].
pub fn check_max_pending(n: usize) -> Result<(), String> {
    let bound = max_pending_bound();
    if n > bound {
        return Err(format!(
            "{n} bytes is above the bound of {} ({bound} bytes: 1 GiB or half the \
             memory available, whichever is less): a client that stops reading makes the \
             server queue that much for it",
            human_bytes(bound as u64)
        ));
    }
    Ok(())
}

/// Refuse an `--events` above [`MAX_EVENTS`].
pub fn check_events(n: usize) -> Result<(), String> {
    if n > MAX_EVENTS {
        return Err(format!(
            "{n} is above the bound of {MAX_EVENTS}: a wait returns at most one \
             event per ready connection, and the event array is allocated up front"
        ));
    }
    Ok(())
}

/// The bound on bytes in flight: [`MAX_IN_FLIGHT`], or an eighth of the
/// available memory if less.
pub fn in_flight_bound() -> u64 {
    MAX_IN_FLIGHT.min(mem_available().map_or(u64::MAX, |m| m / 8))
}

/// Refuse `conns × pipeline × msg_size` above [`in_flight_bound`].
pub fn check_in_flight(conns: usize, pipeline: usize, msg_size: usize) -> Result<(), String> {
    let bound = in_flight_bound();
    let total = (conns as u128) * (pipeline as u128) * (msg_size as u128);
    if total > bound as u128 {
        let per_conn = bound / conns.max(1) as u64 / msg_size.max(1) as u64;
        let advice = if per_conn == 0 {
            "even --pipeline 1 does not fit: use a smaller --msg-size or fewer --conns".to_string()
        } else {
            format!("at these settings --pipeline {per_conn} is the most that fits")
        };
        return Err(format!(
            "--conns {conns} × --pipeline {pipeline} × --msg-size {msg_size} puts {total} bytes \
             in flight, above the bound of {} (1 GiB or an eighth of the memory available, \
             whichever is less): the client queues every message at once; {advice}",
            human_bytes(bound),
        ));
    }
    Ok(())
}

/// The bound on worker threads for `cpus` client CPUs.
pub fn max_threads(cpus: usize) -> usize {
    cpus.max(1) * THREADS_PER_CPU
}

/// Refuse a duration above [`MAX_DURATION`].
pub fn check_duration(d: Duration) -> Result<(), String> {
    if d > MAX_DURATION {
        return Err(format!(
            "{:.0} s is longer than the bound of one day ({} s): a run that long is more \
             likely a slip of the unit; split long measurements into a sweep with --repeat",
            d.as_secs_f64(),
            MAX_DURATION.as_secs()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_bound_refuses_the_issue_case() {
        // The issue's `--conns 2 --pipeline 100000000`: 12.8 GB.
        assert!(check_in_flight(2, 100_000_000, 64).is_err());
        assert!(check_in_flight(2, 100_000, 64).is_ok());
        assert!(check_in_flight(usize::MAX, usize::MAX, usize::MAX).is_err());
    }

    #[test]
    fn bytes_read_as_people_write_them() {
        assert_eq!(human_bytes(64 << 20), "64 MiB");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(10), "10 B");
    }
}
