//! Starting every arm (servers, connections, warm-up), one cycle of slices,
//! and stopping them all.

use std::collections::VecDeque;
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::state::*;
use crate::loadgen::args::RunArgs;
use crate::loadgen::child::ServerChild;
use crate::loadgen::client::sendbuf::SendBuf;
use crate::loadgen::machine::Machine;
use crate::loadgen::message::Verifier;
use crate::loadgen::result;
use crate::loadgen::run::AffinityGuard;
use crate::loadgen::sampler::PagePath;
use crate::loadgen::setup::{check_settings, place, server_command};
use crate::mux::{Epoll, Interest, Multiplexer, Token, Trigger};
use crate::record::RunResult;
use crate::sys;

impl Sliced {
    /// Start every arm's server (the settings of `arms[0]` place them all:
    /// the server CPU and the client CPUs), connect each arm's active and
    /// idle connections, and warm every arm up for `warmup` (unrecorded).
    pub fn start(
        arms: Vec<(String, RunArgs)>,
        exe: &Path,
        warmup: Duration,
        seed: u64,
    ) -> Result<Sliced> {
        let Some((_, first)) = arms.first() else {
            bail!("no arms to compare");
        };
        for (label, args) in &arms {
            supports(args).map_err(|why| anyhow!("{label}: slices do not support {why}"))?;
            check_settings(args).with_context(|| label.clone())?;
        }
        let placement = place(first)?;
        let mut started = Vec::new();
        for (label, args) in arms {
            let backend = args.backend.expect("checked by supports");
            let page =
                PagePath::new().context("making a private directory for the counters page")?;
            let server = ServerChild::spawn(
                server_command(exe, &args, backend, placement.server_cpu, page.path()),
                Duration::from_secs(10),
            )
            .with_context(|| format!("starting the server of {label}"))?;
            started.push((label, args, server, page));
        }
        // This thread drives the load: off the server's CPU (after the
        // servers started: a child inherits the mask of the thread that forks it).
        let affinity = placement
            .client_cpus
            .as_deref()
            .and_then(|cpus| AffinityGuard::pin(cpus).ok());
        let mut mux = Epoll::new(Trigger::Level).context("epoll_create")?;
        let mut tokens = Vec::new();
        let mut out = Vec::new();
        for (a, (label, args, mut server, page)) in started.into_iter().enumerate() {
            let addr = server.addr;
            let connect = |_: usize| -> Result<TcpStream> {
                let s = TcpStream::connect_timeout(&addr, args.load.connect_timeout)
                    .with_context(|| format!("{label}: connecting to {addr}"))?;
                s.set_nodelay(true)?;
                s.set_nonblocking(true)?;
                Ok(s)
            };
            let first_token = tokens.len();
            let mut conns = Vec::with_capacity(args.conns);
            for i in 0..args.conns {
                let stream = connect(i)?;
                mux.register(stream.as_raw_fd(), Token(tokens.len()), Interest::READABLE)
                    .context("registering a client connection")?;
                tokens.push((a, i));
                conns.push(Conn {
                    stream,
                    id: i as u32,
                    verifier: Verifier::new(i as u32, args.msg_size),
                    next_seq: 0,
                    in_flight: VecDeque::new(),
                    out: SendBuf::default(),
                    open: true,
                });
            }
            let idle = (0..args.idle).map(connect).collect::<Result<Vec<_>>>()?;
            wait_accepted(&label, &mut server, (args.conns + args.idle) as u64)?;
            out.push(Arm {
                label,
                args,
                server,
                _page: page,
                conns,
                _idle: idle,
                first_token,
            });
        }
        let mut sliced = Sliced {
            arms: out,
            mux,
            tokens,
            buf: vec![0; 64 * 1024],
            server_cpu: placement.server_cpu,
            client_cpus: result::cpu_list(placement.client_cpus.as_deref()),
            machine: Machine::detect(),
            warmup,
            rng: rand::rngs::SmallRng::seed_from_u64(seed),
            seed,
            _affinity: affinity,
            _precise: sys::PreciseTimers::new().ok(),
        };
        for a in 0..sliced.arms.len() {
            sliced.drive(a, warmup)?;
        }
        Ok(sliced)
    }

    /// The arms' labels, in the order given.
    pub fn labels(&self) -> Vec<String> {
        self.arms.iter().map(|a| a.label.clone()).collect()
    }

    /// One cycle: a slice of `length` for every arm, in a random order; one
    /// row per arm (in the order given), `repeat` = `cycle`.
    pub fn cycle(&mut self, cycle: usize, length: Duration) -> Result<Vec<RunResult>> {
        // The cycle's order and send schedules follow from the seed and the
        // cycle number alone: a resumed sweep runs cycle k as an
        // uninterrupted one would.
        self.rng = rand::rngs::SmallRng::seed_from_u64(
            self.seed ^ (cycle as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
        );
        let mut order: Vec<usize> = (0..self.arms.len()).collect();
        order.shuffle(&mut self.rng);
        let mut rows: Vec<Option<RunResult>> = vec![None; self.arms.len()];
        for a in order {
            let mut r = self.slice(a, length)?;
            r.repeat = Some(cycle);
            rows[a] = Some(r);
        }
        Ok(rows
            .into_iter()
            .map(|r| r.expect("every arm ran"))
            .collect())
    }

    /// Stop every server (SIGTERM, final snapshot, exit status).
    pub fn stop(self) -> Result<()> {
        let mut first_error = None;
        for arm in self.arms {
            let label = arm.label.clone();
            match arm.server.stop(Duration::from_secs(10)) {
                Ok((_, status)) if status.success() => {}
                Ok((_, status)) => {
                    first_error.get_or_insert(anyhow!("{label}: the server exited with {status}"));
                }
                Err(e) => {
                    first_error.get_or_insert(e.context(label));
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Every connection accepted and registered before any slice (none refused).
fn wait_accepted(label: &str, server: &mut ServerChild, want: u64) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let snap = server.snapshot(Duration::from_secs(5))?;
        if snap.counters.accepts >= want {
            if snap.counters.refused > 0 {
                bail!(
                    "{label}: the server refused {} of {want} connections",
                    snap.counters.refused
                );
            }
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "{label}: the server accepted {} of {want} connections in 10 s",
                snap.counters.accepts
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
