//! One small message echoed through an in-process server per backend: the
//! whole request path (client write, wake-up, read, write, client read), with
//! and without 1,000 idle connections registered on the server. Server and
//! client are pinned to different CPUs where there are two.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use muxbench::backend::Backend;
use muxbench::server::{serve_on, Config, Snapshot, CONTROL_SNAPSHOT, CONTROL_STOP};
use muxbench::sys;

struct InProcessServer {
    addr: std::net::SocketAddr,
    control: File,
    snapshots: mpsc::Receiver<Snapshot>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The backend's server on its own thread, through the same seam as
/// `muxserver` (`server::serve_on`), so every serving model is measured alike.
fn spawn(backend: Backend, cpu: Option<usize>) -> std::io::Result<InProcessServer> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let (control_read, control) = sys::pipe()?;
    let (tx, snapshots) = mpsc::channel();
    let (ready_tx, ready) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        if let Some(cpu) = cpu {
            let _ = sys::pin_to_cpu(cpu);
        }
        // Built on its own thread: the loops share chat lines through `Rc`,
        // and io_uring rings are single-issuer.
        serve_on(
            backend,
            listener,
            control_read,
            Config::default(),
            || {
                let _ = ready_tx.send(());
            },
            |s| {
                let _ = tx.send(s.clone());
            },
        )
        .expect("server loop");
    });
    ready
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| std::io::Error::other(format!("{backend} server did not start")))?;
    Ok(InProcessServer {
        addr,
        control,
        snapshots,
        thread: Some(thread),
    })
}

impl InProcessServer {
    /// Wait until the server holds `n` connections.
    fn wait_for_conns(&mut self, n: u64) {
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            self.control.write_all(&[CONTROL_SNAPSHOT]).unwrap();
            let s = self
                .snapshots
                .recv_timeout(Duration::from_secs(10))
                .unwrap();
            if s.counters.conns >= n {
                return;
            }
            assert!(
                Instant::now() < end,
                "server has {} of {n} connections",
                s.counters.conns
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for InProcessServer {
    fn drop(&mut self) {
        let _ = self.control.write_all(&[CONTROL_STOP]);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A connection whose client-side descriptor is moved above 2048, so that the
/// in-process server's accepted descriptors stay low (select's FD_SETSIZE
/// applies to the server, not to this test client).
fn high_fd_connection(addr: std::net::SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    let high = sys::dup_at_least(&s, 2048).unwrap();
    drop(s);
    TcpStream::from(high)
}

fn roundtrip(c: &mut Criterion) {
    sys::raise_nofile_limit().unwrap();
    let cpus = sys::allowed_cpus().unwrap_or_default();
    let (server_cpu, client_cpu) = if cpus.len() >= 2 {
        (Some(cpus[0]), Some(cpus[1]))
    } else {
        eprintln!("one CPU: server and client not pinned");
        (None, None)
    };
    if let Some(cpu) = client_cpu {
        sys::pin_to_cpu(cpu).unwrap();
    }
    for idle in [0usize, 1000] {
        let mut group = c.benchmark_group(format!("roundtrip_idle{idle}"));
        group.warm_up_time(Duration::from_secs(1));
        group.measurement_time(Duration::from_secs(3));
        for backend in Backend::ALL {
            let mut server = spawn(backend, server_cpu).unwrap();
            let idle_conns: Vec<TcpStream> =
                (0..idle).map(|_| high_fd_connection(server.addr)).collect();
            let mut client = high_fd_connection(server.addr);
            client.set_nodelay(true).unwrap();
            server.wait_for_conns(idle as u64 + 1);
            let msg = [0x5au8; 64];
            let mut back = [0u8; 64];
            group.bench_function(BenchmarkId::from_parameter(backend), |b| {
                b.iter(|| {
                    client.write_all(&msg).unwrap();
                    client.read_exact(&mut back).unwrap();
                })
            });
            drop(client);
            drop(idle_conns);
        }
        group.finish();
    }
}

criterion_group!(benches, roundtrip);
criterion_main!(benches);
