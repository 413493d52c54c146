//! Each io_uring feature switch of the completion server takes effect — not
//! just that it is accepted: a fixed-file server opens no descriptor per
//! connection, multishot receives are armed once rather than per message,
//! zero-copy sends post notifications, skipped completions are not posted,
//! SQPOLL runs a submission thread. A feature this kernel lacks, or a
//! contradiction, is refused by name (`uring_features.rs` unit tests hold
//! the parsing; the echo suites run with the recommended set in CI).

mod common;

use std::net::TcpStream;

use common::{connect, payload, round_trip, Server};
use muxbench::backend::Backend;

fn uring(features: &str, extra: &[&str]) -> Server {
    let flag = format!("--uring-features={features}");
    let mut args = vec![flag.as_str()];
    args.extend_from_slice(extra);
    Server::start(Backend::Uring, &args)
}

/// Descriptors the process has open.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// `n` connections, each with one verified round trip of `len` bytes.
fn clients(server: &Server, n: usize, len: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|i| {
            let mut c = connect(server.addr, None).unwrap();
            round_trip(&mut c, &payload(i as u64, len)).unwrap();
            c
        })
        .collect()
}

#[test]
fn fixed_files_open_no_descriptor_per_connection() {
    for (features, per_conn) in [("", true), ("fixed-files", false)] {
        let s = uring(features, &[]);
        let before = open_fds(s.pid());
        let conns = clients(&s, 40, 100);
        s.wait_until("40 connections", |snap| snap.counters.conns == 40);
        let during = open_fds(s.pid());
        if per_conn {
            assert!(during >= before + 40, "plain: {before} -> {during}");
        } else {
            assert!(during <= before + 2, "fixed-files: {before} -> {during}");
        }
        drop(conns);
        s.wait_until("closes", |snap| snap.counters.closes == 40);
        let snap = s.stop();
        assert_eq!(snap.features, features);
        assert_eq!(snap.counters.errors, 0);
    }
}

#[test]
fn multishot_receives_are_armed_once_per_connection() {
    // Room for two bursts of 32 buffers: multishot (see recv.rs).
    let pending = ["--max-pending", "4MiB"];
    let mut sqes = Vec::new();
    for features in ["", "multishot-recv"] {
        let s = uring(features, &pending);
        let mut conns = clients(&s, 4, 64);
        for k in 0..100 {
            for (i, c) in conns.iter_mut().enumerate() {
                round_trip(c, &payload((k * 4 + i) as u64, 64)).unwrap();
            }
        }
        let snap = s.snapshot();
        assert!(snap.counters.reads >= 404, "{snap:?}");
        sqes.push((snap.mux.sqes, snap.counters.reads, snap.counters.writes));
        drop(conns);
        s.stop();
    }
    let (plain, multi) = (sqes[0], sqes[1]);
    // Plain: a receive SQE per receive; multishot: a handful in all.
    assert!(plain.0 >= plain.1 + plain.2, "{plain:?}");
    assert!(
        multi.0 <= multi.2 + 20,
        "multishot {multi:?} vs plain {plain:?}"
    );
}

#[test]
fn receive_bundles_fill_several_buffers_per_completion() {
    // 16 KiB messages into 1 KiB buffers: a plain receive fills one buffer,
    // a bundle as many as have arrived.
    let mut per_receive = Vec::new();
    for features in ["", "recv-bundle"] {
        let s = uring(features, &["--read-buf", "1024"]);
        let mut conns = clients(&s, 2, 16 * 1024);
        for k in 0..20 {
            for (i, c) in conns.iter_mut().enumerate() {
                round_trip(c, &payload((k * 2 + i) as u64, 16 * 1024)).unwrap();
            }
        }
        drop(conns);
        let snap = s.stop();
        assert_eq!(snap.features, features);
        assert_eq!(snap.counters.errors, 0, "{snap:?}");
        assert_eq!(snap.counters.bytes_out, snap.counters.bytes_in);
        per_receive.push(snap.counters.bytes_in as f64 / snap.counters.reads as f64);
    }
    assert!(per_receive[0] <= 1024.0, "{per_receive:?}");
    assert!(per_receive[1] > 4.0 * 1024.0, "{per_receive:?}");
}

#[test]
fn incremental_buffers_serve_several_receives() {
    // 64-byte messages into 16 KiB buffers: a plain receive uses up a
    // buffer; an incremental one only the bytes it fills.
    for (features, incremental) in [("", false), ("buf-inc", true)] {
        let s = uring(features, &["--read-buf", "16KiB"]);
        let mut conns = clients(&s, 4, 64);
        for k in 0..100 {
            for (i, c) in conns.iter_mut().enumerate() {
                round_trip(c, &payload((k * 4 + i) as u64, 64)).unwrap();
            }
        }
        let snap = s.snapshot();
        let (reads, returned) = (snap.counters.reads, snap.mux.bufs_returned);
        assert!(reads >= 404, "{snap:?}");
        if incremental {
            // 404 × 64 bytes fill about two 16 KiB buffers.
            assert!(returned <= 4, "{features}: {returned} of {reads}");
        } else {
            // Every receive's buffer is back once its echo was sent.
            assert!(returned + 8 >= reads, "{features}: {returned} of {reads}");
        }
        drop(conns);
        let snap = s.stop();
        assert_eq!(snap.features, features);
        assert_eq!(snap.counters.bytes_out, snap.counters.bytes_in);
    }
}

#[test]
fn zero_copy_sends_post_notifications() {
    for (features, zero_copy) in [("", false), ("zc-send=1024", true)] {
        let s = uring(features, &[]);
        let mut conns = clients(&s, 3, 4096);
        for k in 0..20 {
            for (i, c) in conns.iter_mut().enumerate() {
                round_trip(c, &payload((k * 3 + i) as u64, 4096)).unwrap();
            }
        }
        drop(conns);
        let snap = s.stop();
        if zero_copy {
            // One notification per zero-copy send, at most one send per write.
            assert!(
                snap.mux.notifs >= 60 && snap.mux.notifs <= snap.counters.writes,
                "{snap:?}"
            );
        } else {
            assert_eq!(snap.mux.notifs, 0, "{snap:?}");
        }
        assert_eq!(snap.counters.bytes_out, snap.counters.bytes_in);
    }
}

#[test]
fn skipped_completions_are_not_posted() {
    // With fixed files every close is a ring request: its completion is
    // traced as `cancel` (the user_data of requests whose result is ignored)
    // unless skip-cqe skips it.
    for (features, posted) in [("fixed-files", true), ("fixed-files,skip-cqe", false)] {
        let s = uring(features, &["--trace=waits"]);
        let conns = clients(&s, 10, 64);
        drop(conns);
        s.wait_until("closes", |snap| snap.counters.closes == 10);
        // One more turn of the loop, so the closes' completions are reaped.
        let conns = clients(&s, 1, 64);
        drop(conns);
        s.wait_until("the last close", |snap| snap.counters.closes == 11);
        let stderr = s.stderr();
        let cancels = stderr.matches("cancel").count();
        if posted {
            assert!(cancels >= 10, "{features}: {cancels} in {stderr}");
        } else {
            assert_eq!(cancels, 0, "{features}: {stderr}");
        }
        s.stop();
    }
}

#[test]
fn sqpoll_runs_a_submission_thread_whose_time_is_the_servers() {
    let s = uring("sqpoll", &[]);
    let sq_thread = std::fs::read_dir(format!("/proc/{}/task", s.pid()))
        .unwrap()
        .map(|t| t.unwrap().path())
        .find(|t| std::fs::read_to_string(t.join("comm")).is_ok_and(|c| c.starts_with("iou-sqp")))
        .expect("an SQ thread (iou-sqp-PID) in the server process");
    let mut conns = clients(&s, 4, 64);
    for k in 0..300 {
        for (i, c) in conns.iter_mut().enumerate() {
            round_trip(c, &payload((k * 4 + i) as u64, 64)).unwrap();
        }
    }
    // The thread's CPU time (clock ticks, fields 14 and 15 of its stat)...
    let stat = std::fs::read_to_string(sq_thread.join("stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<u64> = after_name
        .split(' ')
        .skip(11)
        .take(2)
        .map(|f| f.parse().unwrap())
        .collect();
    let tick_us = 1_000_000 / USER_HZ;
    let sq_us = (fields[0] + fields[1]) * tick_us;
    assert!(sq_us > 0, "the SQ thread never ran: {stat}");
    // ...is within the process's, which the reports divide by requests.
    let snap = s.snapshot();
    let process_us = snap.rusage.user_us + snap.rusage.sys_us;
    assert!(
        process_us >= sq_us,
        "process {process_us} µs < SQ thread {sq_us} µs"
    );
    drop(conns);
    s.stop();
}

/// The clock ticks /proc counts CPU time in (`USER_HZ`: 100 on every Linux).
const USER_HZ: u64 = 100;

#[test]
fn features_a_server_cannot_have_are_refused_by_name() {
    for (args, says) in [
        (
            vec!["--backend", "epoll-et", "--uring-features", "fixed-files"],
            "is for --backend uring",
        ),
        (
            vec![
                "--backend",
                "uring",
                "--uring-features",
                "sqpoll,taskrun=defer",
            ],
            "refuses taskrun=defer",
        ),
        (
            vec!["--backend", "uring", "--uring-features", "sqpoll=4096"],
            "sqpoll=4096",
        ),
    ] {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_muxserver"))
            .args(&args)
            .args(["--addr", "127.0.0.1:0"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}
