//! Measure the server's memory per idle connection.
//!
//! Starts `muxserver` (from the same target directory) as a child, opens 1
//! idle connection and reads the server's RSS (a SIGUSR1 snapshot, from
//! /proc/self/statm), then opens N idle connections in all and reads it again.
//!
//! ```text
//! cargo build --release --bins --examples
//! ./target/release/examples/idle_rss --backend epoll-et --conns 10000
//! ```

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use muxbench::backend::Backend;
use muxbench::server::Snapshot;
use muxbench::sys;

/// Server RSS with 1 and with N idle connections.
#[derive(Parser)]
struct Args {
    /// Backend of the server.
    #[arg(long, default_value = "epoll-et")]
    backend: Backend,
    /// Idle connections to open in all.
    #[arg(long, default_value_t = 10_000)]
    conns: usize,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let soft = sys::raise_nofile_limit()?;
    if (soft as usize) < args.conns + 64 {
        bail!(
            "descriptor limit {soft} is too low for {} connections",
            args.conns
        );
    }
    let exe = std::env::current_exe()?;
    let server_path = exe
        .parent()
        .and_then(|p| p.parent())
        .map(|p| p.join("muxserver"))
        .context("locating muxserver")?;
    let mut child = Command::new(&server_path)
        .args(["--backend", args.backend.name(), "--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {} (build it with --bins)", server_path.display()))?;
    let pid = child.id();
    let result = (|| -> Result<()> {
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = lines.next().context("no readiness line")??;
        let addr = ready
            .strip_prefix("listening on ")
            .and_then(|r| r.split(' ').next())
            .context("bad readiness line")?
            .to_string();
        let mut snapshot = |want_conns: usize| -> Result<Snapshot> {
            let end = Instant::now() + Duration::from_secs(30);
            loop {
                sys::kill(pid, libc::SIGUSR1)?;
                let line = lines.next().context("server closed stdout")??;
                let s: Snapshot = serde_json::from_str(&line)?;
                if s.counters.conns as usize >= want_conns {
                    return Ok(s);
                }
                if Instant::now() > end {
                    bail!(
                        "server has {} of {want_conns} connections",
                        s.counters.conns
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        };
        let mut conns = vec![TcpStream::connect(&addr)?];
        let one = snapshot(1)?;
        while conns.len() < args.conns {
            conns.push(TcpStream::connect(&addr)?);
        }
        let many = snapshot(args.conns)?;
        let grown = many.rss_kib as f64 - one.rss_kib as f64;
        println!(
            "backend={} rss_1_conn_kib={} rss_{}_conns_kib={} growth_kib={:.0} per_conn_bytes={:.0}",
            args.backend,
            one.rss_kib,
            args.conns,
            many.rss_kib,
            grown,
            grown * 1024.0 / (args.conns - 1).max(1) as f64
        );
        Ok(())
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}
