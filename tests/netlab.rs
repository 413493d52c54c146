//! `loadgen netlab` (needs root, as CI runs; elsewhere each test checks the
//! refusal instead): a lab of network namespaces carries a verified load
//! from a load host to a server host over veth and a bridge, and leaves
//! nothing behind — after its command succeeds or fails, on SIGINT, and
//! after a refusal; a taken name is refused; `--remove` clears leftovers.

use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use muxbench::loadgen::netlab;

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A lab name of this test process (namespaces are machine-wide).
fn lab_name(test: &str) -> String {
    format!("mb{}{test}", std::process::id() % 10_000)
}

/// Namespaces of lab `name` that exist.
fn left(name: &str) -> Vec<String> {
    netlab::namespaces()
        .unwrap()
        .into_iter()
        .filter(|n| n.starts_with(&format!("{name}-")))
        .collect()
}

/// Removes whatever lab `name` left when the test ends, passed or failed.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for ns in left(&self.0) {
            let _ = Command::new("ip").args(["netns", "del", &ns]).status();
        }
    }
}

/// A child stopped with SIGTERM (so the lab it holds is removed) and reaped.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = muxbench::sys::kill(self.0.id(), libc::SIGTERM);
        let _ = self.0.wait();
    }
}

fn loadgen() -> Command {
    Command::new(env!("CARGO_BIN_EXE_loadgen"))
}

fn netlab_cmd(name: &str, extra: &[&str]) -> Command {
    let mut c = loadgen();
    c.args(["netlab", "--name", name]).args(extra);
    c
}

/// Not root: the lab is refused in one line naming why.
fn refused_without_root(out: &Output) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("need root"), "{err}");
}

#[test]
fn a_lab_carries_a_verified_load_and_leaves_nothing_behind() {
    let name = lab_name("a");
    let _cleanup = Cleanup(name.clone());
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    // In the lab: a server on the server host, a run from load host 1
    // (every echoed byte verified), the server stopped.
    let script = format!(
        "set -e
ip netns exec $NETLAB_SERVER_NS {server} --backend epoll-et --addr $NETLAB_SERVER_ADDR:7007 >/dev/null &
pid=$!
trap 'kill $pid; wait $pid' EXIT
for i in $(seq 50); do ip netns exec $NETLAB_LOAD_NS_1 {loadgen} --addr $NETLAB_SERVER_ADDR:7007 --conns 1 --warmup 0 --duration 0.1 --quiet --no-csv >/dev/null 2>&1 && break; sleep 0.1; done
ip netns exec $NETLAB_LOAD_NS_1 {loadgen} --addr $NETLAB_SERVER_ADDR:7007 --conns 8 --warmup 0.1 --duration 0.5 --quiet --no-csv --json {json}",
        server = env!("CARGO_BIN_EXE_muxserver"),
        loadgen = env!("CARGO_BIN_EXE_loadgen"),
        json = json.display(),
    );
    let out = netlab_cmd(&name, &["--load-hosts", "2", "--", "sh", "-c", &script])
        .output()
        .unwrap();
    if !is_root() {
        return refused_without_root(&out);
    }
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("198.18.0.11 in"), "{err}");
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let r = &run["result"];
    assert_eq!(r["addr"], "198.18.0.1:7007", "{r}");
    assert!(r["requests"].as_u64().unwrap() > 100, "{r}");
    assert_eq!(r["errors"], 0, "{r}");
    assert!(left(&name).is_empty(), "left behind: {:?}", left(&name));
}

#[test]
fn a_failed_command_and_an_interrupt_remove_the_lab() {
    let name = lab_name("b");
    let _cleanup = Cleanup(name.clone());
    let out = netlab_cmd(&name, &["--load-hosts", "1", "--", "sh", "-c", "exit 3"])
        .output()
        .unwrap();
    if !is_root() {
        return refused_without_root(&out);
    }
    assert_eq!(out.status.code(), Some(3), "the command's status");
    assert!(left(&name).is_empty(), "left behind: {:?}", left(&name));

    // Held until Ctrl-C.
    let mut held = Reaped(netlab_cmd(&name, &["--hold", "60s"]).spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    while left(&name).len() < 4 {
        assert!(Instant::now() < deadline, "the lab did not come up");
        std::thread::sleep(Duration::from_millis(20));
    }
    muxbench::sys::kill(held.0.id(), libc::SIGINT).unwrap();
    let status = held.0.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(left(&name).is_empty(), "left behind: {:?}", left(&name));
}

#[test]
fn a_taken_name_is_refused_and_remove_clears_leftovers() {
    let name = lab_name("c");
    let _cleanup = Cleanup(name.clone());
    if !is_root() {
        return refused_without_root(&netlab_cmd(&name, &["--", "true"]).output().unwrap());
    }
    let add = |ns: &str| {
        assert!(Command::new("ip")
            .args(["netns", "add", ns])
            .status()
            .unwrap()
            .success());
    };
    add(&format!("{name}-server"));
    let out = netlab_cmd(&name, &["--", "true"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("{name}-server exists already")),
        "{err}"
    );
    // The refusal made nothing.
    assert_eq!(left(&name), [format!("{name}-server")]);

    // What a killed lab leaves, removed by name (and nothing of another lab).
    add(&format!("{name}-hub"));
    add(&format!("{name}-load1"));
    add(&format!("{name}x-hub"));
    let other = Cleanup(format!("{name}x"));
    let out = netlab_cmd(&name, &["--remove"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(left(&name).is_empty(), "left behind: {:?}", left(&name));
    assert_eq!(
        left(&format!("{name}x")).len(),
        1,
        "another lab's namespace kept"
    );
    drop(other);
}

/// Several load hosts for real: the server with `--control` on the server
/// host, two load hosts with `--server-control`, `--start-at` and
/// `--host-label`, then `loadgen merge` — the merged requests are both
/// hosts', and the server's own counters over the common window agree.
#[test]
fn two_load_hosts_across_namespaces_merge_into_the_servers_counts() {
    let name = lab_name("d");
    let _cleanup = Cleanup(name.clone());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let script = format!(
        "set -e
ip netns exec $NETLAB_SERVER_NS {server} --backend epoll-et --addr $NETLAB_SERVER_ADDR:7007 --control $NETLAB_SERVER_ADDR:7008 >/dev/null &
pid=$!
trap 'kill $pid; wait $pid' EXIT
for i in $(seq 50); do ip netns exec $NETLAB_LOAD_NS_1 {loadgen} --addr $NETLAB_SERVER_ADDR:7007 --conns 1 --warmup 0 --duration 0.1 --quiet --no-csv >/dev/null 2>&1 && break; sleep 0.1; done
at=$(python3 -c 'import time; print(round(time.time() + 2.5, 3))')
hosts=''
for h in 1 2; do
  eval ns=\\$NETLAB_LOAD_NS_$h
  ip netns exec $ns {loadgen} --addr $NETLAB_SERVER_ADDR:7007 --server-control $NETLAB_SERVER_ADDR:7008 \\
    --start-at $at --host-label host$h --conns 10 --warmup 0.3 --duration 1 --quiet --no-csv --json {d}/host$h.json &
  hosts=\"$hosts $!\"
done
for p in $hosts; do wait $p; done
{loadgen} merge {d}/host1.json {d}/host2.json --json {d}/merged.json >/dev/null",
        server = env!("CARGO_BIN_EXE_muxserver"),
        loadgen = env!("CARGO_BIN_EXE_loadgen"),
    );
    let out = netlab_cmd(&name, &["--load-hosts", "2", "--", "sh", "-c", &script])
        .output()
        .unwrap();
    if !is_root() {
        return refused_without_root(&out);
    }
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read = |f: &str| muxbench::report::json::read(&dir.path().join(f)).unwrap();
    let (a, b, m) = (read("host1.json"), read("host2.json"), read("merged.json"));
    let r = &m.result;
    assert_eq!(r.load_hosts, Some(2));
    assert_eq!(r.requests, a.result.requests + b.result.requests);
    assert_eq!(r.errors, 0);
    for (f, addr) in [(&a, "198.18.0.1:7007"), (&b, "198.18.0.1:7007")] {
        assert_eq!(f.result.addr, addr);
        assert!(f.result.requests > 0);
    }
    // One server process, seen by both hosts; its bytes over the span both
    // hosts measured are that span's requests (each host at its own rate),
    // give or take what was in flight at the edges (as tests/multihost.rs).
    let id = |f: &muxbench::report::json::FullResult| {
        f.server_window.as_ref().unwrap().0.server_id.clone()
    };
    assert_eq!(id(&a), id(&b));
    let (s0, s1) = m.server_window.as_ref().expect("merged server window");
    let span = s1.unix_ns.saturating_sub(s0.unix_ns) as f64 / 1e9;
    let expected = (a.result.req_per_s + b.result.req_per_s) * span;
    let server_msgs = r.server_bytes_out.unwrap() as f64 / r.msg_size as f64;
    let margin = 2.0 * 20.0 + 0.05 * expected;
    assert!(
        span > 0.0 && (server_msgs - expected).abs() <= margin,
        "server {server_msgs} vs {expected:.0} requests over the common {span:.3} s (merged: {})",
        r.requests
    );
    assert!(left(&name).is_empty(), "left behind: {:?}", left(&name));
}
