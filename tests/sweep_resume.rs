//! A sweep killed with SIGKILL in the middle, then started again on its
//! folder: it runs exactly the runs missing, never one twice; a different
//! plan on the same folder is refused by name; `--fresh` starts over.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use muxbench::report;

/// One sweep at a time (they would measure each other).
static ONE_SWEEP_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_SWEEP_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A child killed and reaped when dropped (also when the test fails).
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sweep(out: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_loadgen"));
    c.args(["sweep", "--backends", "poll,epoll-et", "--conns", "2,4"])
        .args(["--warmup", "0.1"])
        .args(extra)
        .arg("--out")
        .arg(out);
    c
}

/// Lines in `path` (0 if it is not there yet).
fn lines(path: &Path) -> usize {
    std::fs::read(path).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
}

/// Start the sweep, SIGKILL it once `runs.csv` has `rows` rows, reap it.
fn kill_after_rows(mut cmd: Command, out: &Path, rows: usize) {
    let mut child = Reaped(
        cmd.stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while lines(&out.join("runs.csv")) < rows + 1 {
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "the sweep ended before it was killed"
        );
        assert!(Instant::now() < deadline, "no {rows} rows in 60 s");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.0.kill().unwrap(); // SIGKILL: no handler runs
    child.0.wait().unwrap();
}

/// Rows per (conns, arm, repeat).
fn runs(out: &Path) -> BTreeMap<(usize, String, usize), usize> {
    let mut n = BTreeMap::new();
    for r in report::csv::read(&out.join("runs.csv")).unwrap() {
        *n.entry((r.conns, r.backend.clone(), r.repeat.unwrap()))
            .or_default() += 1;
    }
    n
}

/// The sweep's REPORT.md is the report of all its rows (before and after
/// the kill), as `loadgen report` makes it from runs.csv.
fn same_report_as_its_rows(out: &Path) {
    let again = out.join("again.md");
    let o = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .arg("report")
        .arg(out.join("runs.csv"))
        .arg("--output")
        .arg(&again)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let sweep_md = std::fs::read_to_string(out.join("REPORT.md")).unwrap();
    assert_eq!(sweep_md, std::fs::read_to_string(&again).unwrap());
    std::fs::remove_file(again).unwrap();
}

/// The plan: every (conns, arm, repeat) once.
fn plan(repeats: usize) -> BTreeMap<(usize, String, usize), usize> {
    let mut n = BTreeMap::new();
    for conns in [2, 4] {
        for arm in ["epoll-et", "poll"] {
            for k in 1..=repeats {
                n.insert((conns, arm.to_string(), k), 1);
            }
        }
    }
    n
}

#[test]
fn a_killed_round_sweep_resumes_to_exactly_its_plan() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rounds");
    let settings = [
        "--interleave",
        "rounds",
        "--repeat",
        "2",
        "--duration",
        "0.3",
    ];
    kill_after_rows(sweep(&out, &settings), &out, 3);
    let before = runs(&out);
    assert!(
        (3..8).contains(&before.values().sum::<usize>()),
        "{before:?}"
    );

    let o = sweep(&out, &settings).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(stderr.contains("resuming the sweep"), "{stderr}");
    let after = runs(&out);
    assert_eq!(after, plan(2), "{stderr}");
    // The rows measured before the kill are still there, unchanged in number.
    assert!(before.keys().all(|k| after.contains_key(k)));
    for (conns, arm, k) in after.keys() {
        let hgrm = format!("{arm}-c{conns}-i0-m64-b16384-r{k}.hgrm");
        assert!(out.join("hgrm").join(&hgrm).exists(), "{hgrm}");
    }
    same_report_as_its_rows(&out);

    // Run once more: nothing is missing, nothing runs, nothing is added.
    let o = sweep(&out, &settings).output().unwrap();
    assert!(o.status.success());
    assert_eq!(runs(&out), plan(2));
}

#[test]
fn a_killed_sliced_sweep_resumes_whole_cycles_only() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("slices");
    // 0.4 s in slices of 100 ms, twice: 8 cycles per cell.
    let settings = [
        "--interleave",
        "slices",
        "--slice",
        "100ms",
        "--repeat",
        "2",
        "--duration",
        "0.4",
    ];
    kill_after_rows(sweep(&out, &settings), &out, 5);
    let o = sweep(&out, &settings).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert_eq!(runs(&out), plan(8), "{stderr}");
    same_report_as_its_rows(&out);
    // Every row left is a slice of a cycle both arms finished.
    for r in report::csv::read(&out.join("runs.csv")).unwrap() {
        assert_eq!(r.interleave, "slices");
    }
}

#[test]
fn another_plan_is_refused_by_name_and_fresh_starts_over() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("s");
    let settings = [
        "--interleave",
        "rounds",
        "--repeat",
        "1",
        "--duration",
        "0.2",
    ];
    assert!(sweep(&out, &settings).status().unwrap().success());

    let other = [
        "--interleave",
        "rounds",
        "--repeat",
        "1",
        "--duration",
        "0.3",
    ];
    let o = sweep(&out, &other).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--duration: 0.2 in its plan, 0.3 now"),
        "{stderr}"
    );
    assert_eq!(runs(&out), plan(1), "the refused sweep changed nothing");

    // Rows with no plan (an older version's folder) are not resumed either.
    let old = dir.path().join("old");
    std::fs::create_dir(&old).unwrap();
    std::fs::copy(out.join("runs.csv"), old.join("runs.csv")).unwrap();
    let o = sweep(&old, &settings).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no plan.json"));

    let mut fresh = sweep(&out, &other);
    fresh.arg("--fresh");
    assert!(fresh.status().unwrap().success());
    assert_eq!(runs(&out), plan(1));
    let moved: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("previous-")
        })
        .collect();
    assert_eq!(moved.len(), 1);
    assert_eq!(runs(&moved[0]), plan(1), "the earlier rows were kept aside");
    let plan_now = std::fs::read_to_string(out.join("plan.json")).unwrap();
    assert!(plan_now.contains("\"duration\": 0.3"), "{plan_now}");
}
