//! [`serve`]: bind, route the signals to the control pipe, dispatch on the
//! backend once and run the serving model it names.

use std::fs::File;
use std::io;
use std::net::SocketAddr;

use super::chat::Chat;
use super::config::{Config, Protocol};
use super::counters::Snapshot;
use super::event_loop::EventLoop;
use super::protocol::Echo;
use super::{reactors, threads, tokio_rt, uring};
use crate::backend::{Backend, Model};
use crate::mux::Multiplexer;
use crate::sys;

/// The kernel caps the listen backlog at `net.core.somaxconn`.
pub(crate) const LISTEN_BACKLOG: i32 = 4096;

/// Bind `addr`, then serve with `backend` (on several reactors if asked) until SIGINT/SIGTERM. `on_ready` is
/// called with the bound address once the server accepts connections; SIGUSR1
/// snapshots go to `on_snapshot`. Returns the final snapshot.
pub fn serve(
    backend: Backend,
    addr: SocketAddr,
    cfg: Config,
    reactors: Option<&reactors::Plan>,
    on_ready: impl FnOnce(SocketAddr),
    on_snapshot: impl FnMut(&Snapshot),
) -> anyhow::Result<Snapshot> {
    use anyhow::Context;
    if let Some(plan) = reactors {
        return reactors::serve(
            backend,
            addr,
            cfg,
            plan,
            LISTEN_BACKLOG,
            on_ready,
            on_snapshot,
        );
    }
    sys::ignore_sigpipe().context("ignoring SIGPIPE")?;
    let listener = sys::tcp_listen(addr, LISTEN_BACKLOG)
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    let (control, wake) = sys::pipe().context("creating the control pipe")?;
    // Held until serving ends; signal-hook keeps its own duplicates of `wake`.
    let _signals =
        crate::signals::ControlSignals::install(&wake).context("installing signal handlers")?;
    drop(wake);
    let snapshot = serve_on(
        backend,
        listener,
        control,
        cfg,
        || on_ready(local),
        on_snapshot,
    )
    .with_context(|| format!("{backend} server"))?;
    Ok(snapshot)
}

/// The serving-model seam: run `backend` on a bound, non-blocking `listener`
/// until a stop command arrives on `control` (bytes `CONTROL_SNAPSHOT` /
/// `CONTROL_STOP`, written by tests and benches; signals arrive as wake-up
/// bytes, see [`crate::signals`]). Dispatches once on the backend's [`Model`]:
/// a readiness multiplexer runs inside [`EventLoop`], monomorphised for it; a
/// completion backend runs its own loop. Every model gets the same listener, control pipe and
/// [`Config`], and reports the same [`Snapshot`].
pub fn serve_on(
    backend: Backend,
    listener: std::net::TcpListener,
    control: File,
    cfg: Config,
    on_ready: impl FnOnce(),
    on_snapshot: impl FnMut(&Snapshot),
) -> io::Result<Snapshot> {
    match backend.model() {
        Model::Readiness => crate::with_multiplexer!(backend, |mux| run_loop(
            mux,
            listener,
            control,
            cfg,
            on_ready,
            on_snapshot
        ))
        .expect("a readiness backend has a multiplexer"),
        Model::Completion => uring::serve(listener, control, cfg, on_ready, on_snapshot),
        Model::Threads => threads::serve(listener, control, cfg, on_ready, on_snapshot),
        Model::Runtime => tokio_rt::serve(listener, control, cfg, on_ready, on_snapshot),
    }
}

/// The readiness loop for `mux`, monomorphised for the configured protocol too.
fn run_loop<M: Multiplexer>(
    mux: M,
    listener: std::net::TcpListener,
    control: File,
    cfg: Config,
    on_ready: impl FnOnce(),
    on_snapshot: impl FnMut(&Snapshot),
) -> io::Result<Snapshot> {
    match cfg.protocol {
        Protocol::Echo => {
            let mut event_loop = EventLoop::<M, Echo>::new(mux, listener, control, cfg)?;
            on_ready();
            event_loop.run(on_snapshot)
        }
        Protocol::Chat => {
            let mut event_loop = EventLoop::<M, Chat>::new(mux, listener, control, cfg)?;
            on_ready();
            event_loop.run(on_snapshot)
        }
    }
}
