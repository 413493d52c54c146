//! The control pipe: its bytes are commands, read the same way by every
//! serving loop. Tests and benches write `CONTROL_SNAPSHOT` / `CONTROL_STOP`
//! directly; signals arrive as [`signals::WAKE`] bytes whose meaning is in the
//! flags [`signals::take_requests`] reads (see [`crate::signals`]).

use std::fs::File;
use std::io::{self, Read};

use crate::signals;

/// A control byte: print a snapshot and continue.
pub const CONTROL_SNAPSHOT: u8 = libc::SIGUSR1 as u8;
/// A control byte: stop the loop (the final snapshot is returned).
pub const CONTROL_STOP: u8 = libc::SIGTERM as u8;
/// SIGINT's byte, which also stops the loop.
const CONTROL_INTERRUPT: u8 = libc::SIGINT as u8;

/// How often a server whose connections are served elsewhere (threads,
/// tokio, reactors) refreshes its stats page from their counters: the event
/// loops publish every turn, but no single thread here sees every request.
pub(super) const PUBLISH_EVERY: std::time::Duration = std::time::Duration::from_millis(10);

/// What one drain of the control pipe asks the loop to do.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Commands {
    /// Snapshots to print, in order, before stopping (if asked to).
    pub snapshots: usize,
    /// Stop: a stop byte, SIGINT / SIGTERM, or every write end is closed.
    pub stop: bool,
}

/// Read everything pending on the (non-blocking) control pipe and decode it.
pub(super) fn drain(control: &mut File) -> Commands {
    let mut cmds = Commands::default();
    let mut woken = false;
    let mut buf = [0u8; 64];
    loop {
        match control.read(&mut buf) {
            Ok(0) => {
                // Every write end is gone: nobody can stop us any more, so stop now.
                cmds.stop = true;
                break;
            }
            Ok(n) => {
                for &b in &buf[..n] {
                    match b {
                        CONTROL_SNAPSHOT => cmds.snapshots += 1,
                        CONTROL_STOP | CONTROL_INTERRUPT => cmds.stop = true,
                        signals::WAKE => woken = true,
                        _ => {}
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break, // WouldBlock: drained
        }
    }
    if woken {
        // After draining: a signal sets its flag before writing its byte.
        let r = signals::take_requests();
        cmds.snapshots += usize::from(r.snapshot);
        cmds.stop |= r.stop;
    }
    cmds
}

/// Wait up to `timeout` on the control pipe alone (the main thread of a
/// server whose work runs on other threads) and decode what arrived:
/// nothing after a timeout or a signal's EINTR.
pub(super) fn wait(
    control: &mut File,
    timeout: Option<std::time::Duration>,
) -> io::Result<Commands> {
    use std::os::fd::AsRawFd;
    let mut fds = [libc::pollfd {
        fd: control.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    }];
    match crate::sys::poll(&mut fds, timeout) {
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(Commands::default()),
        Err(e) => Err(e),
        Ok(_) if fds[0].revents != 0 => Ok(drain(control)),
        Ok(_) => Ok(Commands::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn bytes_decode_to_commands() {
        let (mut read, mut write) = crate::sys::pipe().unwrap();
        assert_eq!(drain(&mut read), Commands::default());
        write
            .write_all(&[CONTROL_SNAPSHOT, 0, CONTROL_SNAPSHOT])
            .unwrap();
        let c = drain(&mut read);
        assert_eq!((c.snapshots, c.stop), (2, false));
        write.write_all(&[CONTROL_INTERRUPT]).unwrap();
        assert!(drain(&mut read).stop);
        drop(write);
        assert!(drain(&mut read).stop, "closed pipe stops");
    }
}
