//! Signal handling, through the `signal-hook` crate: its handlers are
//! async-signal-safe, save and restore `errno`, and unregistering an action
//! waits for a handler still running it before dropping (closing) what it owns.
//!
//! - The server routes SIGUSR1 / SIGINT / SIGTERM into its control pipe:
//!   [`ControlSignals`]. signal-hook's pipe handler writes a fixed byte
//!   ([`WAKE`]), not the signal number, so each signal first sets a request
//!   flag and then writes the wake-up byte; a loop that reads [`WAKE`] takes
//!   the requests with [`take_requests`].
//! - The load generator turns SIGINT / SIGTERM into a flag:
//!   [`install_interrupt_flag`], [`interrupted`].
//!
//! signal-hook installs its handler with `SA_RESTART`. The waits the loops
//! block in (select, poll, epoll_wait) are never restarted (signal(7)), so a
//! signal still ends a wait with `EINTR`, which the multiplexers report as
//! zero events; io_uring's wait ends because the wake-up byte completes the
//! poll on the control pipe.

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

use signal_hook::consts::{SIGINT, SIGTERM, SIGUSR1};
use signal_hook::SigId;

/// The byte signal-hook's pipe handler writes on every signal.
pub const WAKE: u8 = b'X';

/// SIGUSR1 arrived: print a snapshot.
static SNAPSHOT_REQUESTED: AtomicBool = AtomicBool::new(false);
/// SIGINT or SIGTERM arrived: stop serving.
static STOP_REQUESTED: AtomicBool = AtomicBool::new(false);

/// What signals asked for since the last [`take_requests`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Requests {
    /// SIGUSR1 arrived (several coalesce into one snapshot).
    pub snapshot: bool,
    /// SIGINT or SIGTERM arrived.
    pub stop: bool,
}

/// Take and clear the requests made by signals routed with [`ControlSignals`].
pub fn take_requests() -> Requests {
    Requests {
        snapshot: SNAPSHOT_REQUESTED.swap(false, Ordering::SeqCst),
        stop: STOP_REQUESTED.swap(false, Ordering::SeqCst),
    }
}

/// SIGUSR1 (snapshot) and SIGINT / SIGTERM (stop) routed into a control pipe.
/// Dropping it unregisters the actions, which closes signal-hook's duplicates
/// of the write end; afterwards these signals are ignored (signal-hook keeps
/// its handler installed), where the hand-written version restored the default
/// disposition. The flags are process-wide, like the signals: one per process.
pub struct ControlSignals {
    ids: Vec<SigId>,
}

impl ControlSignals {
    /// Route the signals to the pipe whose write end is `pipe_write` (each
    /// registration gets its own duplicate; the caller keeps `pipe_write`).
    pub fn install(pipe_write: &File) -> io::Result<ControlSignals> {
        let mut guard = ControlSignals { ids: Vec::new() };
        for (sig, flag) in [
            (SIGUSR1, &SNAPSHOT_REQUESTED),
            (SIGINT, &STOP_REQUESTED),
            (SIGTERM, &STOP_REQUESTED),
        ] {
            // The flag first: signal-hook runs a signal's actions in the order
            // they were registered, so the flag is set before the byte that
            // wakes the loop. (Unregistered on drop, also if a later one fails.)
            guard.ids.push(signal_hook::flag::register(sig, flag)?);
            guard.ids.push(signal_hook::low_level::pipe::register(
                sig,
                pipe_write.try_clone()?,
            )?);
        }
        Ok(guard)
    }
}

impl Drop for ControlSignals {
    fn drop(&mut self) {
        for &id in &self.ids {
            signal_hook::low_level::unregister(id);
        }
    }
}

/// Set on SIGINT / SIGTERM once [`install_interrupt_flag`] ran.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Turn SIGINT and SIGTERM into a flag ([`interrupted`]) instead of death, so a
/// long-running command (the load generator) can stop its children and keep
/// what it has measured.
pub fn install_interrupt_flag() -> io::Result<()> {
    for sig in [SIGINT, SIGTERM] {
        signal_hook::flag::register(sig, &INTERRUPTED)?;
    }
    Ok(())
}

/// Whether SIGINT or SIGTERM arrived since [`install_interrupt_flag`].
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}
