//! `muxclient HOST:PORT`: a small interactive client for the echo and chat
//! servers, like the textbook's: lines from stdin go to the server, whatever
//! arrives is printed, both at once. Ctrl-D (end of input) half-closes the
//! connection and waits for the rest (an echo server sends back what is left
//! and closes; a chat server closes once it has delivered what it owed).

use std::io::{self, BufRead, Read, Write};
use std::net::{Shutdown, TcpStream};

use clap::Parser;

/// Interactive client for muxserver (echo or chat).
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Server address, HOST:PORT, e.g. 127.0.0.1:7000 or localhost:7000.
    addr: String,
}

fn run(addr: &str) -> io::Result<()> {
    // Host names resolve once; the first address that accepts is used.
    let addrs = muxbench::addr::resolve(addr).map_err(io::Error::other)?;
    let stream = TcpStream::connect(&addrs[..])?;
    let mut reader = stream.try_clone()?;
    // Print whatever arrives, as it arrives, until the server closes.
    let printer = std::thread::spawn(move || -> io::Result<()> {
        let mut buf = [0u8; 16 * 1024];
        let mut out = io::stdout();
        loop {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            out.write_all(&buf[..n])?;
            out.flush()?;
        }
    });
    let mut writer = &stream;
    for line in io::stdin().lock().lines() {
        // One write per line, newline included: written separately, the
        // newline would wait for the server's ACK (Nagle) and arrive alone,
        // splitting what `muxserver --trace` shows for one line in two.
        let mut line = line?;
        line.push('\n');
        writer.write_all(line.as_bytes())?;
    }
    stream.shutdown(Shutdown::Write)?;
    printer
        .join()
        .map_err(|_| io::Error::other("the reader thread panicked"))?
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(&cli.addr) {
        eprintln!("muxclient: error: {}: {e}", cli.addr);
        std::process::exit(1);
    }
}
