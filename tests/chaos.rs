//! `loadgen chaos`: short hostile runs for every backend must pass their
//! verdicts; descriptor pressure on a level- and an edge-triggered backend.

use std::process::Command;

use muxbench::loadgen::reliability::ReliabilityRow;
use muxbench::mux::Backend;

mod common;

fn chaos(backend: &str, scenario: &str, extra: &[&str]) -> Vec<ReliabilityRow> {
    common::raise_fd_limit();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args([
            "chaos",
            "--backends",
            backend,
            "--scenarios",
            scenario,
            "--out",
        ])
        .arg(dir.path())
        .args(extra)
        .output()
        .unwrap();
    let rows: Vec<ReliabilityRow> = csv::Reader::from_path(dir.path().join("reliability.csv"))
        .unwrap()
        .deserialize()
        .map(|r| r.unwrap())
        .collect();
    assert!(
        out.status.success(),
        "{}\n{rows:?}",
        String::from_utf8_lossy(&out.stderr)
    );
    rows
}

/// ~1 s of resets, half-closes, slow readers, never-readers, slowloris and
/// connect storms beside 20 verified clients.
fn survives_hostile_clients(backend: Backend) {
    let rows = chaos(
        backend.name(),
        "chaos",
        &["--duration", "1", "--conns", "20"],
    );
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r.verdict, "pass", "{r:?}");
    assert!(r.alive);
    assert_eq!(r.errors, Some(0));
    assert_eq!(r.lost_or_corrupt, Some(0));
    assert!(r.peak_rss_kib.unwrap() <= r.rss_bound_kib.unwrap());
    assert!(
        r.resets.unwrap() > 0,
        "the resets reached the server: {r:?}"
    );
    assert!(r.p99_ratio.is_some());
    assert!(r.detail.contains("(0 wrong)"), "{}", r.detail);
}
per_backend!(survives_hostile_clients);

#[test]
fn descriptor_pressure_level_and_edge() {
    let rows = chaos("epoll-lt,epoll-et", "fd-pressure", &[]);
    assert_eq!(rows.len(), 2);
    for r in &rows {
        assert_eq!(r.verdict, "pass", "{r:?}");
        assert!(
            r.detail.contains("400/400 waiting clients served"),
            "{}",
            r.detail
        );
    }
}

/// The chat room under hostile clients: over-long lines get the error and a
/// close, garbage and half lines never disturb the verified clients.
fn chat_room_survives_hostile_clients(backend: Backend) {
    let rows = chaos(
        backend.name(),
        "chat-chaos",
        &["--duration", "1", "--conns", "20"],
    );
    let r = &rows[0];
    assert_eq!(r.verdict, "pass", "{r:?}");
    assert_eq!(r.errors, Some(0));
    assert!(r.detail.contains("rejected (0 wrong)"), "{}", r.detail);
    assert!(
        !r.detail.contains(" 0 foreign lines"),
        "garbage reached the room: {}",
        r.detail
    );
}
per_backend!(chat_room_survives_hostile_clients);
