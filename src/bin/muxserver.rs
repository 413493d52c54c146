//! `muxserver`: the echo server on a chosen multiplexer.
//!
//! Prints `listening on ADDR backend=NAME` when ready, a JSON counters line on
//! SIGUSR1, and the final counters on SIGINT/SIGTERM (then exits 0).

use clap::Parser;
use muxbench::server::ServerArgs;

/// RFC 862 echo server on select, poll, epoll-lt or epoll-et.
///
/// Prints `listening on ADDR backend=NAME` once ready; SIGUSR1 prints a JSON line of counters
/// (wait calls, reads, writes, CPU time, ...) and keeps serving; SIGINT/SIGTERM prints the
/// final counters and exits 0.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = cli.server.run() {
        eprintln!("muxserver: error: {e:#}");
        std::process::exit(1);
    }
}
