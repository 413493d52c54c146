//! A server running as a child process: started, waited for (its readiness
//! line, never a sleep), asked for counter snapshots (SIGUSR1), stopped
//! (SIGTERM), and killed and reaped on drop whatever happened.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use crate::server::Snapshot;
use crate::sys;

/// Keep at most this much of the child's stderr (the tail).
const STDERR_KEEP: usize = 64 * 1024;

/// A running server child. See the module docs.
pub struct ServerChild {
    child: Child,
    /// Where it listens, from its readiness line.
    pub addr: SocketAddr,
    /// The backend it reported.
    pub backend: String,
    /// `control=ADDR` of the readiness line (`--control`), if any.
    pub control: Option<String>,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
    stderr_reader: std::thread::JoinHandle<()>,
}

impl ServerChild {
    /// Spawn `cmd` (stdout and stderr are captured) and wait up to `timeout` for
    /// `listening on ADDR backend=NAME`.
    pub fn spawn(mut cmd: Command, timeout: Duration) -> Result<ServerChild> {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting the server {:?}", cmd.get_program()))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let err_buf = Arc::new(Mutex::new(String::new()));
        let sink = err_buf.clone();
        let stderr_reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let mut s = sink.lock().unwrap_or_else(|p| p.into_inner());
                s.push_str(&line);
                s.push('\n');
                if s.len() > STDERR_KEEP {
                    let cut = s.len() - STDERR_KEEP / 2;
                    let cut = (cut..s.len()).find(|&i| s.is_char_boundary(i)).unwrap_or(0);
                    s.drain(..cut);
                }
            }
        });
        let mut server = ServerChild {
            child,
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            backend: String::new(),
            control: None,
            lines,
            stderr: err_buf,
            stderr_reader,
        };
        let line = server.next_line(Instant::now() + timeout, "its readiness line")?;
        let rest = line
            .strip_prefix("listening on ")
            .ok_or_else(|| anyhow!("server's first line is not a readiness line: {line:?}"))?;
        let (addr, backend) = rest
            .split_once(" backend=")
            .ok_or_else(|| anyhow!("readiness line without backend=: {line:?}"))?;
        server.addr = addr.parse().context("address in the readiness line")?;
        // More `key=value` words may follow (`control=ADDR`).
        let mut words = backend.split_whitespace();
        server.backend = words.next().unwrap_or_default().to_string();
        server.control = words
            .find_map(|w| w.strip_prefix("control="))
            .map(str::to_string);
        Ok(server)
    }

    /// The child's PID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The tail of what the child wrote to stderr.
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// `Some(status)` once the child has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The server's own error line, for the loadgen user: the last line of its
    /// stderr that says `error:` (clap's usage errors end with a `--help`
    /// hint after it, a panic with a backtrace), or else its last line.
    pub fn error_line(&self) -> String {
        error_line(&self.stderr())
    }

    fn died(&mut self, waiting_for: &str) -> anyhow::Error {
        // Its output closed: it is exiting. Give it a moment to be reaped and
        // its stderr to be read to the end, so that its error line is the one shown.
        let deadline = Instant::now() + Duration::from_secs(1);
        while (self.exited().is_none() || !self.stderr_reader.is_finished())
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        let status = self
            .exited()
            .map_or("closed its output".to_string(), |s| format!("exited ({s})"));
        anyhow!(
            "the server {status} while loadgen waited for {waiting_for}: {}",
            self.error_line()
        )
    }

    fn next_line(&mut self, deadline: Instant, waiting_for: &str) -> Result<String> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(left) {
            Ok(line) => Ok(line),
            Err(RecvTimeoutError::Disconnected) => Err(self.died(waiting_for)),
            Err(RecvTimeoutError::Timeout) => {
                bail!("the server did not print {waiting_for} within {left:?}")
            }
        }
    }

    fn next_snapshot(&mut self, kind: &str, timeout: Duration) -> Result<Snapshot> {
        let deadline = Instant::now() + timeout;
        loop {
            let line = self.next_line(deadline, &format!("a {kind} snapshot"))?;
            if let Ok(s) = serde_json::from_str::<Snapshot>(&line) {
                if s.kind == kind {
                    return Ok(s);
                }
            }
        }
    }

    /// Ask for a counters snapshot (SIGUSR1) and wait up to `timeout` for it.
    pub fn snapshot(&mut self, timeout: Duration) -> Result<Snapshot> {
        sys::kill(self.pid(), libc::SIGUSR1).context("signalling the server")?;
        self.next_snapshot("snapshot", timeout)
    }

    /// SIGTERM; wait for the final snapshot and the exit status.
    pub fn stop(mut self, timeout: Duration) -> Result<(Snapshot, ExitStatus)> {
        sys::kill(self.pid(), libc::SIGTERM).context("signalling the server")?;
        let snap = self.next_snapshot("final", timeout)?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited() {
                return Ok((snap, status));
            }
            if Instant::now() > deadline {
                bail!("the server did not exit within {timeout:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// See [`ServerChild::error_line`].
fn error_line(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let line = lines
        .iter()
        .rev()
        .find(|l| l.contains("error:") || l.contains("panicked"))
        .or(lines.last())
        .copied()
        .unwrap_or("(it wrote nothing on stderr)");
    // Our children are `loadgen serve`: drop their prefix, the user ran loadgen.
    let line = line.strip_prefix("loadgen serve: ").unwrap_or(line);
    line.strip_prefix("error: ").unwrap_or(line).to_string()
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::error_line;

    #[test]
    fn the_error_line_not_the_help_hint() {
        let clap = "error: invalid value '0' for '--read-buf <READ_BUF>': must be at least 1\n\n\
                    For more information, try '--help'.\n";
        assert_eq!(
            error_line(clap),
            "invalid value '0' for '--read-buf <READ_BUF>': must be at least 1"
        );
        assert_eq!(
            error_line("loadgen serve: error: cannot listen on 1.2.3.4:0\n"),
            "cannot listen on 1.2.3.4:0"
        );
        assert_eq!(error_line("something\nlast\n"), "last");
        assert_eq!(error_line(""), "(it wrote nothing on stderr)");
    }
}
