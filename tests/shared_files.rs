//! Files in shared directories: nothing a local user can plant redirects a
//! write. The counters page is created as a new regular file (never through
//! a symlink, never over a file that is there), and the page a load
//! generator gives its server lives in a private directory with a random
//! name, gone after the run.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Run muxserver with `args` (it must exit by itself within 10 s; it is
/// killed otherwise) and return its status and stderr.
fn muxserver(args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_muxserver"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("muxserver {args:?} did not exit");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    (status, err)
}

#[test]
fn the_counters_page_is_never_written_through_a_symlink_or_over_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, b"precious").unwrap();
    // A symlink where the page would go, to a file someone else owns.
    let link = dir.path().join("planted.page");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    // And a regular file that is already there.
    let existing = dir.path().join("existing.page");
    std::fs::write(&existing, b"theirs").unwrap();
    for page in [&link, &existing] {
        let (status, err) = muxserver(&[
            "--backend",
            "epoll-et",
            "--addr",
            "127.0.0.1:0",
            "--stats-page",
            page.to_str().unwrap(),
        ]);
        assert_ne!(status, Some(0), "{err}");
        assert!(err.contains("already there"), "{err}");
    }
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    assert_eq!(std::fs::read(&existing).unwrap(), b"theirs");
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
}

/// The load generator's page directory: what is under the shared directory
/// before and after a run is the same (the run's own directory, 0700 with a
/// random name, is removed), and a symlink planted under the old predictable
/// name pattern is left alone.
#[test]
fn a_run_leaves_nothing_in_the_shared_directory_and_follows_no_planted_name() {
    let shm = if Path::new("/dev/shm").is_dir() {
        Path::new("/dev/shm").to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let list = || -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&shm)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("muxbench-"))
            .collect();
        v.sort();
        v
    };
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, b"precious").unwrap();
    // The names the page used to get (`muxbench-<pid>-<n>.stats`): plant a
    // few for the PIDs the next processes are likely to get.
    let base = std::process::id();
    let planted: Vec<_> = (1..=40)
        .map(|k| shm.join(format!("muxbench-{}-0.stats", base + k)))
        .filter(|p| std::os::unix::fs::symlink(&victim, p).is_ok())
        .collect();
    let before = list();
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["--backend", "epoll-et", "--conns", "4", "--duration", "0.3"])
        .args(["--warmup", "0.1", "--no-csv", "--quiet"])
        .output()
        .unwrap();
    let after = list();
    for p in &planted {
        let _ = std::fs::remove_file(p);
    }
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    assert_eq!(before, after, "the run left something behind");
}
