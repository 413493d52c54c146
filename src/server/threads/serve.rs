//! The calling thread: it polls the listener and the control pipe (not the
//! connections), so stopping, snapshots and the stats page work as in the
//! event loops.

use std::fs::File;
use std::io;
use std::net::{Shutdown, TcpListener};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use slab::Slab;

use super::accept::accept_all;
use super::shared::{lock, Entry, Shared};
use crate::backend::Backend;
use crate::mux::MuxStats;
use crate::server::config::Config;
use crate::server::control::{self, PUBLISH_EVERY};
use crate::server::counters::{note_accept_pause, Snapshot};
use crate::server::room::Room;
use crate::server::rules::ACCEPT_PAUSE;
use crate::server::shards::{Shards, Tally};
use crate::server::stats_page::StatsPage;
use crate::sys;

/// Serve on `listener` with a thread per connection until a stop command
/// arrives on `control`.
pub fn serve(
    listener: TcpListener,
    mut control: File,
    cfg: Config,
    on_ready: impl FnOnce(),
    mut on_snapshot: impl FnMut(&Snapshot),
) -> io::Result<Snapshot> {
    let page = cfg
        .stats_page
        .as_deref()
        .map(StatsPage::create)
        .transpose()?;
    let shards = Arc::new(Shards::default());
    let shared = Arc::new(Shared {
        room: Room::new(cfg.max_pending, shards.handle()),
        cfg,
        shards,
        registry: Mutex::new(Slab::new()),
    });
    let mut acc = shared.shards.handle();
    let totals = |acc: &Tally| {
        let mut t = shared.shards.total();
        t.peak_conns = acc.c.peak_conns;
        t
    };
    let mut paused_until: Option<Instant> = None;
    let mut warned_spawn = false;
    on_ready();
    loop {
        let now = Instant::now();
        if paused_until.is_some_and(|u| now >= u) {
            paused_until = None;
        }
        let listen_events = if paused_until.is_some() {
            0
        } else {
            libc::POLLIN
        };
        let mut fds = [
            libc::pollfd {
                fd: listener.as_raw_fd(),
                events: listen_events,
                revents: 0,
            },
            libc::pollfd {
                fd: control.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let timeout = [
            paused_until.map(|u| u.saturating_duration_since(now)),
            page.as_ref().map(|_| PUBLISH_EVERY),
        ]
        .into_iter()
        .flatten()
        .min();
        match sys::poll(&mut fds, timeout) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => other?,
        };
        if fds[1].revents != 0 {
            let cmds = control::drain(&mut control);
            for _ in 0..cmds.snapshots {
                on_snapshot(&Snapshot::now(
                    "snapshot",
                    Backend::Threads.name(),
                    totals(&acc),
                    MuxStats::default(),
                ));
            }
            if cmds.stop {
                break;
            }
        }
        if fds[0].revents != 0 && paused_until.is_none() {
            if let Some(e) = accept_all(&listener, &shared, &mut acc, &mut warned_spawn) {
                note_accept_pause(&mut acc.c, &e);
                paused_until = Some(Instant::now() + ACCEPT_PAUSE);
            }
        }
        acc.publish();
        if let Some(p) = &page {
            p.publish(&totals(&acc), &MuxStats::default());
        }
    }
    // Shut every connection down (blocked reads return 0, blocked writes
    // fail), then wait for every thread.
    let entries: Vec<Entry> = {
        let mut reg = lock(&shared.registry);
        let entries: Vec<Entry> = reg.drain().collect();
        for e in &entries {
            // SAFETY: under the registry lock an entry's socket is open (`Shared::registry`).
            let _ = sys::shutdown(unsafe { BorrowedFd::borrow_raw(e.fd) }, Shutdown::Both);
        }
        entries
    };
    for e in entries {
        if e.handle.join().is_err() {
            acc.c.errors += 1;
        }
    }
    acc.publish();
    Ok(Snapshot::now(
        "final",
        Backend::Threads.name(),
        totals(&acc),
        MuxStats::default(),
    ))
}
