//! `loadgen chaos`: short hostile runs for every backend must pass their
//! verdicts; descriptor pressure on a level- and an edge-triggered backend.

use std::process::Command;

use muxbench::backend::Backend;
use muxbench::record::{ReliabilityRow, Verdict};

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
    assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
    assert!(r.alive);
    assert_eq!(r.errors, Some(0));
    assert_eq!(r.lost_or_corrupt, Some(0));
    assert!(r.peak_rss_kib.unwrap() <= r.rss_bound_kib.unwrap());
    assert!(
        r.resets.unwrap() > 0,
        "the resets reached the server: {r:?}"
    );
    assert!(r.p99_ratio.is_some());
    assert_eq!(r.half_close_failures, Some(0), "{r:?}");
}
per_backend!(survives_hostile_clients);

#[test]
fn descriptor_pressure_level_and_edge() {
    let rows = chaos("epoll-lt,epoll-et", "fd-pressure", &[]);
    assert_eq!(rows.len(), 2);
    for r in &rows {
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
        assert_eq!(r.waiting_clients, Some(400), "{r:?}");
        assert_eq!(r.waiting_served, Some(400), "{r:?}");
        assert!(r.waits_out_of_fds.unwrap() < 100, "spinning: {r:?}");
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
    assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
    assert_eq!(r.errors, Some(0));
    assert!(r.long_lines_rejected.unwrap() > 0, "{r:?}");
    assert_eq!(r.long_line_failures, Some(0), "{r:?}");
    assert!(
        r.foreign_lines.unwrap() > 0,
        "the hostile lines reached the room and were told apart: {r:?}"
    );
}
per_backend!(chat_room_survives_hostile_clients);
