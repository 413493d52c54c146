//! `--reactors N`: N event loops, each a thread with its own multiplexer
//! (the readiness backends), optionally pinned (`--server-cpus`). How
//! connections reach them (`--accept`):
//!
//! - `reuseport`: one listener per reactor, all bound to the port with
//!   `SO_REUSEPORT`; the kernel hashes each connection to one of them.
//! - `exclusive`: one listener, registered in every reactor with
//!   `EPOLLEXCLUSIVE` (epoll only): an arrival wakes one waiting reactor
//!   (or a few), not all.
//! - `shared`: one listener registered plainly in every reactor: every
//!   arrival wakes every reactor, and all but one find nothing to accept —
//!   the thundering herd, counted as `accept_wakeups` per accepted
//!   connection.
//!
//! The calling thread keeps the signals and the control pipe: it sums the
//! reactors' counters (each publishes them into its `Slot` every loop
//! turn) for snapshots and the stats page, and stops every reactor through
//! its own control pipe.

use std::fs::File;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;

use super::config::Config;
use super::config::Protocol;
use super::control::CONTROL_STOP;
use super::control::{self, PUBLISH_EVERY};
use super::counters::Counters;
use super::counters::Snapshot;
use super::slot::Slot;
use super::stats_page::StatsPage;
use crate::backend::Backend;
use crate::mux::{Multiplexer, MuxStats};
use crate::sys;

/// How often, without a page, the main thread checks that every reactor runs.
const REACTOR_CHECK: Duration = Duration::from_millis(100);

/// How the reactors get their connections.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum AcceptMode {
    /// A listener per reactor on one port (SO_REUSEPORT): the kernel spreads connections.
    #[default]
    Reuseport,
    /// One listener in every reactor with EPOLLEXCLUSIVE (epoll backends): one wake-up per arrival.
    Exclusive,
    /// One listener in every reactor, plainly: every arrival wakes every reactor (the herd).
    Shared,
}

impl AcceptMode {
    /// The name `--accept` and the reports use.
    pub const fn name(self) -> &'static str {
        match self {
            AcceptMode::Reuseport => "reuseport",
            AcceptMode::Exclusive => "exclusive",
            AcceptMode::Shared => "shared",
        }
    }
}

impl std::fmt::Display for AcceptMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The reactors asked for.
#[derive(Debug, Clone)]
pub struct Plan {
    /// How many (at least 2; one is the plain server).
    pub reactors: usize,
    /// How connections reach them.
    pub accept: AcceptMode,
    /// CPUs to pin them to, reactor `i` on `cpus[i % len]`.
    pub cpus: Option<Vec<usize>>,
}

/// Sum the reactors' counters into one snapshot; each reactor's own are in
/// `reactors` (the balance across them).
fn combine(kind: &str, backend: Backend, parts: &[(Counters, MuxStats)]) -> Snapshot {
    let mut counters = Counters::default();
    let mut mux = MuxStats::default();
    for (c, m) in parts {
        counters.merge(c);
        mux.merge(m);
    }
    // Each reactor knows only its own peak: their sum bounds the server's
    // from above (the peaks need not have coincided).
    counters.peak_conns = parts.iter().map(|(c, _)| c.peak_conns).sum();
    Snapshot {
        reactors: parts.iter().map(|(c, _)| *c).collect(),
        ..Snapshot::now(kind, backend.name(), counters, mux)
    }
}

/// The listeners, one per reactor (duplicates of one for `exclusive` and `shared`).
fn listeners(addr: SocketAddr, plan: &Plan, backlog: i32) -> anyhow::Result<Vec<TcpListener>> {
    match plan.accept {
        AcceptMode::Reuseport => {
            let first = sys::tcp_listen_reuseport(addr, backlog)
                .with_context(|| format!("cannot listen on {addr}"))?;
            // Port 0 picked a port: the others join that one.
            let bound = first.local_addr()?;
            let mut all = vec![first];
            for _ in 1..plan.reactors {
                all.push(
                    sys::tcp_listen_reuseport(bound, backlog).with_context(|| {
                        format!("cannot listen on {bound} again (SO_REUSEPORT)")
                    })?,
                );
            }
            Ok(all)
        }
        AcceptMode::Exclusive | AcceptMode::Shared => {
            let one = sys::tcp_listen(addr, backlog)
                .with_context(|| format!("cannot listen on {addr}"))?;
            let mut all = Vec::with_capacity(plan.reactors);
            for _ in 1..plan.reactors {
                all.push(one.try_clone()?);
            }
            all.push(one);
            Ok(all)
        }
    }
}

/// Serve `backend` with `plan.reactors` event loops until SIGINT / SIGTERM.
pub fn serve(
    backend: Backend,
    addr: SocketAddr,
    cfg: Config,
    plan: &Plan,
    backlog: i32,
    on_ready: impl FnOnce(SocketAddr),
    mut on_snapshot: impl FnMut(&Snapshot),
) -> anyhow::Result<Snapshot> {
    check(backend, &cfg, plan)?;
    sys::ignore_sigpipe().context("ignoring SIGPIPE")?;
    let listeners = listeners(addr, plan, backlog)?;
    let local = listeners[0].local_addr()?;
    let (mut control, wake) = sys::pipe().context("creating the control pipe")?;
    let _signals =
        crate::signals::ControlSignals::install(&wake).context("installing signal handlers")?;
    drop(wake);
    let page = cfg
        .stats_page
        .as_deref()
        .map(StatsPage::create)
        .transpose()
        .context("creating the stats page")?;
    let reactor_cfg = Config {
        stats_page: None,
        accept_exclusive: plan.accept == AcceptMode::Exclusive,
        ..cfg
    };
    let (mut running, ready_rx) = start(backend, listeners, &reactor_cfg, plan)?;
    wait_ready(&mut running, &ready_rx)?;
    on_ready(local);
    supervise(
        &mut control,
        page.as_ref(),
        backend,
        &running,
        &mut on_snapshot,
    )?;
    stop_all(&mut running.stops);
    join_all(backend, running.handles)
}

/// Refuse what `--reactors` cannot serve, before anything is set up.
fn check(backend: Backend, cfg: &Config, plan: &Plan) -> anyhow::Result<()> {
    if backend.model() != crate::backend::Model::Readiness {
        let readiness: Vec<&str> = Backend::multiplexers().map(Backend::name).collect();
        anyhow::bail!(
            "--reactors is for the readiness backends ({}), not {backend}",
            readiness.join(", ")
        );
    }
    if plan.accept == AcceptMode::Exclusive && !backend.wakes_one_waiter() {
        anyhow::bail!("--accept exclusive needs EPOLLEXCLUSIVE: an epoll backend, not {backend}");
    }
    if cfg.max_conns != usize::MAX {
        anyhow::bail!(
            "--max-conns with --reactors: each reactor would apply it to its own connections"
        );
    }
    if cfg.protocol == Protocol::Chat {
        anyhow::bail!(
            "--reactors serves echo only: chat needs one room, and each reactor would hold its own"
        );
    }
    Ok(())
}

/// The reactor threads, as the calling thread holds them.
struct Running {
    /// Each reactor's control pipe (write end).
    stops: Vec<File>,
    /// Where each reactor publishes its counters.
    slots: Vec<Arc<Slot>>,
    handles: Vec<JoinHandle<io::Result<Snapshot>>>,
}

/// A reactor's word that it serves (or why it cannot).
type Ready = std::sync::mpsc::Receiver<io::Result<()>>;

/// Start one reactor thread per listener, reactor `i` pinned to its CPU.
fn start(
    backend: Backend,
    listeners: Vec<TcpListener>,
    reactor_cfg: &Config,
    plan: &Plan,
) -> io::Result<(Running, Ready)> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<io::Result<()>>();
    let mut running = Running {
        stops: Vec::new(),
        slots: Vec::new(),
        handles: Vec::new(),
    };
    for (i, listener) in listeners.into_iter().enumerate() {
        let (ctl_read, ctl_write) = sys::pipe()?;
        running.stops.push(ctl_write);
        let slot = Arc::new(Slot::new());
        running.slots.push(Arc::clone(&slot));
        let cfg = reactor_cfg.clone();
        let cpu = plan.cpus.as_ref().map(|c| c[i % c.len()]);
        let ready = ready_tx.clone();
        let handle = std::thread::Builder::new()
            .name(format!("reactor-{i}"))
            .spawn(move || -> io::Result<Snapshot> {
                let started = (|| {
                    if let Some(cpu) = cpu {
                        sys::pin_to_cpu(cpu)?;
                    }
                    crate::with_multiplexer!(backend, |mux| reactor(
                        mux, listener, ctl_read, cfg, slot, &ready
                    ))
                    .expect("a readiness backend has a multiplexer")
                })();
                if let Err(e) = &started {
                    // Unblock the start-up wait if the reactor never got going.
                    let _ = ready.send(Err(io::Error::new(e.kind(), e.to_string())));
                }
                started
            })?;
        running.handles.push(handle);
    }
    drop(ready_tx);
    Ok((running, ready_rx))
}

/// Wait until every reactor serves; if one cannot, stop the others.
fn wait_ready(running: &mut Running, ready_rx: &Ready) -> anyhow::Result<()> {
    for _ in 0..running.handles.len() {
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                stop_all(&mut running.stops);
                return Err(e).context("starting a reactor");
            }
            Err(_) => anyhow::bail!("a reactor thread ended before it was ready"),
        }
    }
    Ok(())
}

/// Every reactor's counters as last published.
fn load(slots: &[Arc<Slot>]) -> Vec<(Counters, MuxStats)> {
    slots.iter().map(|s| s.load()).collect()
}

/// Obey the control pipe (snapshots, stop) and publish the summed counters
/// until a stop command arrives or a reactor ends.
fn supervise(
    control: &mut File,
    page: Option<&StatsPage>,
    backend: Backend,
    running: &Running,
    on_snapshot: &mut impl FnMut(&Snapshot),
) -> io::Result<()> {
    loop {
        // With a timeout even without a page: a reactor that fails is noticed.
        let timeout = if page.is_some() {
            PUBLISH_EVERY
        } else {
            REACTOR_CHECK
        };
        let cmds = control::wait(control, Some(timeout))?;
        for _ in 0..cmds.snapshots {
            on_snapshot(&combine("snapshot", backend, &load(&running.slots)));
        }
        if cmds.stop {
            return Ok(());
        }
        if running.handles.iter().any(|h| h.is_finished()) {
            return Ok(()); // a reactor failed: stop the others, report its error below
        }
        if let Some(p) = page {
            let s = combine("snapshot", backend, &load(&running.slots));
            p.publish(&s.counters, &s.mux);
        }
    }
}

/// Join every reactor; the final snapshot sums theirs.
fn join_all(
    backend: Backend,
    handles: Vec<JoinHandle<io::Result<Snapshot>>>,
) -> anyhow::Result<Snapshot> {
    let mut finals = Vec::new();
    for (i, h) in handles.into_iter().enumerate() {
        let snap = h
            .join()
            .map_err(|_| anyhow::anyhow!("reactor {i} panicked"))?
            .with_context(|| format!("reactor {i}"))?;
        finals.push((snap.counters, snap.mux));
    }
    Ok(combine("final", backend, &finals))
}

fn stop_all(stops: &mut [File]) {
    for s in stops {
        let _ = s.write_all(&[CONTROL_STOP]);
    }
}

/// One reactor: the ordinary event loop, publishing into its slot.
fn reactor<M: Multiplexer>(
    mux: M,
    listener: TcpListener,
    control: File,
    cfg: Config,
    slot: Arc<Slot>,
    ready: &std::sync::mpsc::Sender<io::Result<()>>,
) -> io::Result<Snapshot> {
    match cfg.protocol {
        Protocol::Echo => {
            let mut lp = super::event_loop::EventLoop::<M, super::protocol::Echo>::new(
                mux, listener, control, cfg,
            )?;
            lp.publish_to(slot);
            let _ = ready.send(Ok(()));
            lp.run(|_| {})
        }
        Protocol::Chat => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "chat with --reactors: each reactor would hold a separate room",
        )),
    }
}
