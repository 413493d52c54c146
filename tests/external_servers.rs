//! `loadgen --addr` against echo servers nobody here wrote, installed from
//! Debian's packages by `.ci/run`: `socat … fork EXEC:cat` (a process per
//! connection, the oldest server model) and `ncat --keep-open --exec cat`.
//! Each runs on the server host of a `loadgen netlab` lab (its own port
//! space, so a fixed port cannot collide) and every echoed byte is verified.
//! Needs root and the two programs: on CI both are there (and required);
//! elsewhere a missing one is said and the test ends.

use std::process::Command;

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether this machine can run the test; on CI it must.
fn can_run() -> bool {
    let root = rustix::process::geteuid().is_root();
    let tools = have("socat") && have("ncat");
    if root && tools {
        return true;
    }
    assert!(
        std::env::var("CI").is_err(),
        "CI must run this: root and socat + ncat (.ci/run installs them)"
    );
    eprintln!("skipped: needs root and socat + ncat (apt-get install socat ncat)");
    false
}

/// Run a verified load from a load host against `server` (a shell command
/// started on the server host, listening on port 7000); the run's result.
fn drive(lab: &str, server: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let script = format!(
        "set -e
ip netns exec $NETLAB_SERVER_NS {server} &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
for i in $(seq 50); do ip netns exec $NETLAB_LOAD_NS_1 {loadgen} --addr $NETLAB_SERVER_ADDR:7000 --conns 1 --warmup 0 --duration 0.1 --quiet --no-csv >/dev/null 2>&1 && break; sleep 0.1; done
ip netns exec $NETLAB_LOAD_NS_1 {loadgen} --addr $NETLAB_SERVER_ADDR:7000 --label external --conns 8 --pipeline 4 --msg-size 1000 --warmup 0.2 --duration 0.5 --quiet --no-csv --json {json}",
        loadgen = env!("CARGO_BIN_EXE_loadgen"),
        json = json.display(),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["netlab", "--name", lab, "--load-hosts", "1", "--"])
        .args(["sh", "-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{server}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    run["result"].clone()
}

#[test]
fn socat_and_ncat_echo_every_byte() {
    if !can_run() {
        return;
    }
    let lab = format!("mb{}x", std::process::id() % 10_000);
    for server in [
        "socat TCP-LISTEN:7000,fork,reuseaddr,bind=198.18.0.1 EXEC:cat",
        "ncat --listen --keep-open --exec /bin/cat 198.18.0.1 7000",
    ] {
        let r = drive(&lab, server);
        for counted in [
            "errors",
            "err_corrupt",
            "err_missing",
            "err_closed_by_server",
        ] {
            assert_eq!(r[counted], 0, "{server}: {counted} in {r}");
        }
        assert!(r["requests"].as_u64().unwrap() > 50, "{server}: {r}");
        assert_eq!(r["backend"], "external", "{server}: {r}");
        assert_eq!(r["addr"], "198.18.0.1:7000", "{server}: {r}");
    }
    assert!(muxbench::loadgen::netlab::namespaces()
        .unwrap()
        .iter()
        .all(|n| !n.starts_with(&format!("{lab}-"))));
}
