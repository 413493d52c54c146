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
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
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
        std::thread::spawn(move || {
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
            lines,
            stderr: err_buf,
        };
        let line = server.next_line(Instant::now() + timeout, "its readiness line")?;
        let rest = line
            .strip_prefix("listening on ")
            .ok_or_else(|| anyhow!("server's first line is not a readiness line: {line:?}"))?;
        let (addr, backend) = rest
            .split_once(" backend=")
            .ok_or_else(|| anyhow!("readiness line without backend=: {line:?}"))?;
        server.addr = addr.parse().context("address in the readiness line")?;
        server.backend = backend.to_string();
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

    fn died(&mut self, waiting_for: &str) -> anyhow::Error {
        let status = self
            .exited()
            .map_or("closed its output".to_string(), |s| format!("exited ({s})"));
        let err = self.stderr();
        let tail = err.trim_end().lines().last().unwrap_or("");
        anyhow!(
            "the server {status} while loadgen waited for {waiting_for}; its last words: {tail:?}"
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

impl Drop for ServerChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
