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

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};

use super::stats_page::StatsReader;
use super::Snapshot;
use crate::mux::Backend;

/// Longest answer a client accepts.
const MAX_LINE: u64 = 1 << 20;

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
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else {
                    // Out of descriptors (EMFILE) or the like: do not spin,
                    // which would show as the server's CPU.
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                };
                let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
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
