//! The baseline loadgen is compared with: a blocking client with one thread
//! per connection (what haraldh/rust_echo_bench does), closed loop, one
//! 64-byte message in flight per connection, every echo verified.
//!
//! ```text
//! cargo run --release --example thread_client -- --addr 127.0.0.1:7100 --conns 50 --cpu 1
//! ```
//! Prints req/s and the client's CPU µs per request (getrusage over the run).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::Parser;
use muxbench::loadgen::message::{encode, Verdict, Verifier};
use muxbench::sys;
use muxbench::units::parse_duration;

/// Thread-per-connection echo client.
#[derive(Parser)]
struct Args {
    /// Echo server address.
    #[arg(long)]
    addr: SocketAddr,
    /// Connections (= threads).
    #[arg(long, default_value_t = 50)]
    conns: usize,
    /// Measured duration.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    duration: Duration,
    /// Message size.
    #[arg(long, default_value_t = 64)]
    msg_size: usize,
    /// Pin the process (all threads) to this CPU.
    #[arg(long)]
    cpu: Option<usize>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(cpu) = args.cpu {
        sys::pin_to_cpu(cpu)?; // threads spawned later inherit the mask
    }
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let mut streams = Vec::new();
    for _ in 0..args.conns {
        let s = TcpStream::connect(args.addr)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        streams.push(s);
    }
    let ru0 = sys::rusage_self()?;
    let t0 = Instant::now();
    let handles: Vec<_> = streams
        .into_iter()
        .enumerate()
        .map(|(id, mut s)| {
            let (stop, done, errors) = (stop.clone(), done.clone(), errors.clone());
            let size = args.msg_size;
            std::thread::spawn(move || {
                let mut verifier = Verifier::new(id as u32, size);
                let mut msg = Vec::with_capacity(size);
                let mut buf = vec![0u8; size];
                let mut seq = 0;
                while !stop.load(Ordering::Relaxed) {
                    msg.clear();
                    encode(&mut msg, id as u32, seq, size);
                    seq += 1;
                    if s.write_all(&msg).is_err() || s.read_exact(&mut buf).is_err() {
                        errors.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    if verifier.feed(&buf) != Verdict::Ok(1) {
                        errors.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(args.duration);
    let n = done.load(Ordering::Relaxed);
    let elapsed = t0.elapsed().as_secs_f64();
    let ru1 = sys::rusage_self()?;
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        let _ = h.join();
    }
    let cpu_us = (ru1.user_us + ru1.sys_us) - (ru0.user_us + ru0.sys_us);
    println!(
        "thread-per-connection conns={} req_per_s={:.0} client_cpu_us_per_req={:.2} client_cpu_pct={:.0} errors={}",
        args.conns,
        n as f64 / elapsed,
        cpu_us as f64 / n.max(1) as f64,
        100.0 * cpu_us as f64 / (elapsed * 1e6),
        errors.load(Ordering::Relaxed)
    );
    if errors.load(Ordering::Relaxed) > 0 {
        bail!("errors");
    }
    Ok(())
}
