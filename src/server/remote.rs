//! `muxserver --control ADDR`: the server's counters over the network, for a
//! load generator on another host (`loadgen --server-control`). Each TCP
//! connection to ADDR receives one JSON line — a snapshot in the format of
//! the SIGUSR1 line, `kind: "control"` — and is closed.
//!
//! The figures come from the counters page the serving loop publishes every
//! turn (`stats_page.rs`), read by a thread of its own: answering costs the
//! serving loop nothing, not even a wake-up. The process's CPU time and
//! context switches come from getrusage(RUSAGE_SELF), which covers every
//! thread. Each line carries the server's identity and its clock
//! ([`Snapshot::server_id`], [`Snapshot::unix_ns`]).
//!
//! Whoever can connect reads the counters, and the control thread's work
//! is the server's CPU time: so the work is bounded. At most
//! [`ANSWERS_PER_S`] connections a second are answered (a token bucket);
//! beyond that a connection is closed unanswered, so a flood costs an
//! accept and a close each, and the serving loop, which never waits for
//! this thread, goes on. An answer is one short line written into an empty
//! socket buffer (with a write timeout besides): a client that never reads
//! cannot hold the thread. muxserver warns when ADDR is not a loopback
//! address.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};

use super::counters::Snapshot;
use super::stats_page::StatsReader;
use crate::backend::Backend;

/// Longest answer a client accepts.
const MAX_LINE: u64 = 1 << 20;

/// Most answers per second (a load generator asks once per interval, at
/// least 10 ms apart, and a few more at the window's edges).
pub const ANSWERS_PER_S: f64 = 200.0;

/// What muxserver says when its control address is not a loopback address.
pub fn exposure_warning(addr: SocketAddr) -> Option<String> {
    (!addr.ip().is_loopback()).then(|| {
        format!(
            "--control {addr} is not a loopback address: anyone who can reach it reads this \
             server's counters (at most {ANSWERS_PER_S:.0} answers a second)"
        )
    })
}

/// A token bucket: `take` says whether one more answer fits the rate.
struct Bucket {
    tokens: f64,
    at: std::time::Instant,
}

impl Bucket {
    fn new() -> Bucket {
        Bucket {
            tokens: ANSWERS_PER_S,
            at: std::time::Instant::now(),
        }
    }

    fn take(&mut self) -> bool {
        let now = std::time::Instant::now();
        let refill = now.duration_since(self.at).as_secs_f64() * ANSWERS_PER_S;
        self.tokens = (self.tokens + refill).min(ANSWERS_PER_S);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Serve snapshots on `listener` from the page at `page` (removed once
/// mapped if `remove`: it was made for this only). Runs on its own thread
/// until the process ends.
pub fn spawn(
    listener: TcpListener,
    page: PathBuf,
    remove: bool,
    backend: Backend,
) -> io::Result<()> {
    let reader = StatsReader::open(&page)?;
    if remove {
        // Mapped: the file and its private directory are no longer needed.
        let _ = std::fs::remove_file(&page);
        if let Some(dir) = page.parent() {
            let _ = std::fs::remove_dir(dir);
        }
    }
    listener.set_nonblocking(false)?;
    std::thread::Builder::new()
        .name("control".into())
        .spawn(move || {
            let mut bucket = Bucket::new();
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else {
                    // Out of descriptors (EMFILE) or the like: do not spin,
                    // which would show as the server's CPU.
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                };
                if !bucket.take() {
                    continue; // over the rate: closed unanswered (dropped)
                }
                let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
                let Some((counters, mux)) = reader.read() else {
                    continue; // torn through many tries: the client retries
                };
                let snap = Snapshot::now("control", backend.name(), counters, mux).stamped();
                let _ = stream.write_all(format!("{}\n", snap.to_json_line()).as_bytes());
            }
        })?;
    Ok(())
}

/// One snapshot from a server's control address, or an error that says what
/// went wrong (no answer, not a snapshot).
pub fn fetch(addr: SocketAddr, timeout: Duration) -> anyhow::Result<Snapshot> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("the server's control address {addr} does not answer"))?;
    stream.set_read_timeout(Some(timeout))?;
    let mut text = String::new();
    (&mut stream)
        .take(MAX_LINE)
        .read_to_string(&mut text)
        .with_context(|| format!("reading the snapshot from {addr}"))?;
    let line = text.lines().next().unwrap_or_default();
    match serde_json::from_str::<Snapshot>(line) {
        Ok(s) if s.kind == "control" => Ok(s),
        _ => {
            let shown: String = line.chars().take(80).collect();
            bail!(
                "{addr} answered something that is not a muxserver counters snapshot \
                 (is it `muxserver --control`?): {shown:?}"
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_loopback_control_address_goes_unwarned() {
        let at = |s: &str| exposure_warning(s.parse().unwrap());
        assert!(at("127.0.0.1:9").is_none() && at("[::1]:9").is_none());
        for open in ["0.0.0.0:9", "198.18.0.1:9", "[::]:9"] {
            assert!(
                at(open).unwrap().contains("not a loopback address"),
                "{open}"
            );
        }
    }

    #[test]
    fn the_bucket_answers_a_burst_then_the_rate() {
        let started = std::time::Instant::now();
        let mut b = Bucket::new();
        let burst = (0..1000).filter(|_| b.take()).count();
        // A full bucket, and what refilled while it was emptied.
        let refilled = (started.elapsed().as_secs_f64() * ANSWERS_PER_S).ceil() as usize;
        assert!(
            (ANSWERS_PER_S as usize..=ANSWERS_PER_S as usize + refilled).contains(&burst),
            "{burst}"
        );
        std::thread::sleep(Duration::from_millis(50));
        let later = (0..1000).filter(|_| b.take()).count();
        // 50 ms at 200/s: about 10 (a loaded machine may sleep longer).
        assert!((5..=ANSWERS_PER_S as usize).contains(&later), "{later}");
    }
}
