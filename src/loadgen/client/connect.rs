//! The connect phase: open a worker's connections at the planned pace, then
//! wait for the coordinator to publish the run's timeline.

use std::io;
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::coordination::{Shared, Timeline, WorkerPlan};
use super::measure::WorkerResult;

/// Name an I/O error's cause for the connect-failure table.
pub fn cause(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::ECONNREFUSED) => "ECONNREFUSED".into(),
        Some(libc::ETIMEDOUT) => "ETIMEDOUT".into(),
        Some(libc::EMFILE) => "EMFILE".into(),
        Some(libc::ENFILE) => "ENFILE".into(),
        Some(libc::EADDRNOTAVAIL) => "EADDRNOTAVAIL".into(),
        Some(libc::ECONNRESET) => "ECONNRESET".into(),
        Some(n) => format!("errno {n}"),
        None if e.kind() == io::ErrorKind::TimedOut => "timeout".into(),
        None => e.kind().to_string(),
    }
}

/// The connections a worker opened: active ones (with their global ids) and idle ones.
pub struct Connected {
    /// Active connections with their global ids.
    pub active: Vec<(u32, TcpStream)>,
    /// Idle connections (held open, never used).
    pub idle: Vec<TcpStream>,
}

/// Open the worker's connections, paced at the plan's interval; failures are
/// counted by cause in `res`. Then wait for the coordinator's timeline
/// (`None`: the run was aborted meanwhile).
pub fn connect_phase(
    plan: &WorkerPlan,
    shared: &Shared,
    res: &mut WorkerResult,
) -> Option<(Connected, Timeline)> {
    let mut conns = Connected {
        active: Vec::with_capacity(plan.conn_ids.len()),
        idle: Vec::with_capacity(plan.idle),
    };
    let start = Instant::now();
    let mut k = 0u32;
    let mut connect = |res: &mut WorkerResult| -> Option<TcpStream> {
        let due = start + plan.connect_interval * k;
        k += 1;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let attempt = TcpStream::connect_timeout(&plan.addr, plan.connect_timeout).and_then(|s| {
            s.set_nodelay(true)?;
            s.set_nonblocking(true)?;
            Ok(s)
        });
        match attempt {
            Ok(s) => {
                shared.established.fetch_add(1, Ordering::Relaxed);
                Some(s)
            }
            Err(e) => {
                res.errors.connect_failed += 1;
                *res.connect_failures.entry(cause(&e)).or_default() += 1;
                None
            }
        }
    };
    for &id in &plan.conn_ids {
        if shared.abort.load(Ordering::Relaxed) {
            break;
        }
        if let Some(stream) = connect(res) {
            shared.open_conns.fetch_add(1, Ordering::SeqCst);
            conns.active.push((id, stream));
        }
    }
    for _ in 0..plan.idle {
        if shared.abort.load(Ordering::Relaxed) {
            break;
        }
        if let Some(stream) = connect(res) {
            conns.idle.push(stream);
        }
    }
    res.connected_active = conns.active.len();
    res.connected_idle = conns.idle.len();
    shared.connected.fetch_add(1, Ordering::SeqCst);
    loop {
        if let Some(t) = shared.timeline.get() {
            return Some((conns, *t));
        }
        if shared.abort.load(Ordering::Relaxed) {
            return None;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
