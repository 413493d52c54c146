//! Result files are the inputs of `loadgen report`, `loadgen merge`,
//! `loadgen bench-table` and `scripts/plot.py`: empty, truncated, foreign,
//! of another kind, huge, or a directory given for a file, each gets one
//! clear error line and exit status 2 — no panic, and no partial output
//! left behind.

use std::path::Path;
use std::process::Command;

use muxbench::report;

/// The inputs, made in `dir`: (name, path).
fn inputs(dir: &Path) -> Vec<(&'static str, std::path::PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let runs = std::fs::read_to_string(root.join("tests/fixtures/runs.csv")).unwrap();
    let header = runs.lines().next().unwrap();
    let files: [(&str, String); 7] = [
        ("empty", String::new()),
        // Cut inside the header.
        ("truncated header", runs[..200].to_string()),
        ("header only", format!("{header}\n")),
        // Cut inside a row: fewer fields than the header.
        ("truncated row", {
            let mut lines = runs.lines();
            let h = lines.next().unwrap();
            let row = lines.next().unwrap();
            format!("{h}\n{}\n", &row[..row.len() / 2])
        }),
        ("another tool's CSV", "name,value\nx,1\n".into()),
        ("JSON", "{\"result\": 1}\n".into()),
        // A latency table's header and nothing under it.
        (
            "an hgrm cut off",
            "       Value     Percentile TotalCount 1/(1-Percentile)\n\n".into(),
        ),
    ];
    let mut out: Vec<_> = files
        .iter()
        .map(|(name, text)| {
            let ext = match *name {
                "JSON" => "json",
                "an hgrm cut off" => "hgrm",
                _ => "csv",
            };
            let p = dir.join(format!("{}.{ext}", name.replace(' ', "-")));
            std::fs::write(&p, text).unwrap();
            (*name, p)
        })
        .collect();
    // Larger than any reader takes (sparse: no disk used).
    let huge = dir.join("huge.csv");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(report::MAX_INPUT_BYTES + 1)
        .unwrap();
    out.push(("huge", huge));
    let sub = dir.join("a-directory");
    std::fs::create_dir(&sub).unwrap();
    out.push(("a directory", sub));
    out.push(("missing", dir.join("missing.csv")));
    out
}

fn check(cmd: &[&str], input: &Path, output: Option<&Path>, what: &str) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_loadgen"));
    c.args(cmd).arg(input);
    if let Some(o) = output {
        c.arg("-o").arg(o);
    }
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{cmd:?} on {what}: {err}");
    let errors = err.lines().filter(|l| l.contains("error:")).count();
    assert_eq!(errors, 1, "{cmd:?} on {what}: {err}");
    assert!(!err.contains("panicked"), "{cmd:?} on {what}: {err}");
    if let Some(o) = output {
        assert!(!o.exists(), "{cmd:?} on {what} left {}", o.display());
    }
}

#[test]
fn report_refuses_what_is_not_a_runs_csv() {
    let dir = tempfile::tempdir().unwrap();
    for (what, input) in inputs(dir.path()) {
        let out = dir.path().join(format!("{}.md", what.replace(' ', "-")));
        check(&["report"], &input, Some(&out), what);
    }
}

#[test]
fn merge_refuses_what_is_not_a_loadgen_json() {
    let dir = tempfile::tempdir().unwrap();
    for (what, input) in inputs(dir.path()) {
        // The same input twice: each must be refused for what it is.
        let mut c = Command::new(env!("CARGO_BIN_EXE_loadgen"));
        let merged = dir
            .path()
            .join(format!("merged-{}.json", what.replace(' ', "-")));
        c.args(["merge"])
            .arg(&input)
            .arg(&input)
            .arg("--json")
            .arg(&merged);
        let out = c.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "merge on {what}: {err}");
        assert_eq!(
            err.lines().filter(|l| l.contains("error:")).count(),
            1,
            "merge on {what}: {err}"
        );
        assert!(!merged.exists(), "merge on {what} left output");
    }
}

/// One error line, exit status 2, no panic, nothing at `output`.
fn refused(out: &std::process::Output, output: &Path, what: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{what}: {err}");
    assert_eq!(
        err.lines().filter(|l| l.contains("error:")).count(),
        1,
        "{what}: {err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("Traceback"),
        "{what}: {err}"
    );
    assert!(!output.exists(), "{what} left {}", output.display());
}

#[test]
fn plot_refuses_what_it_cannot_draw_before_drawing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/plot.py");
    for (what, input) in inputs(dir.path()) {
        // plot.py hands each CSV to `loadgen report`, which reads it whole
        // before it writes anything beside it.
        let page = input.with_file_name("REPORT.html");
        let out = Command::new("python3")
            .arg(&script)
            .arg(&input)
            .env("LOADGEN", env!("CARGO_BIN_EXE_loadgen"))
            .output()
            .unwrap();
        refused(&out, &page, &format!("plot.py on {what}"));
    }
}

#[test]
fn bench_table_refuses_what_is_not_criterions_output() {
    let dir = tempfile::tempdir().unwrap();
    let estimates = |name: &str, text: &str| {
        let d = dir.path().join(name).join("wait_cost_epoll-et/10/new");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("estimates.json"), text).unwrap();
        dir.path().join(name)
    };
    let huge = estimates("huge", "");
    std::fs::File::create(huge.join("wait_cost_epoll-et/10/new/estimates.json"))
        .unwrap()
        .set_len(report::MAX_INPUT_BYTES + 1)
        .unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let foreign = dir.path().join("foreign");
    std::fs::create_dir_all(foreign.join("some_other_bench/x")).unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let cases = [
        ("missing", dir.path().join("missing")),
        ("a file", file),
        ("an empty folder", empty),
        ("another crate's benchmarks", foreign),
        (
            "estimates cut off",
            estimates("cut", "{\"mean\": {\"point_es"),
        ),
        (
            "estimates with no median",
            estimates("nomedian", "{\"mean\": {}}"),
        ),
        ("estimates of another kind", estimates("json", "[1, 2]")),
        ("huge estimates", huge),
    ];
    for (what, input) in cases {
        let table = dir.path().join(format!("{}.md", what.replace(' ', "-")));
        let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
            .arg("bench-table")
            .arg("--criterion-dir")
            .arg(&input)
            .arg("-o")
            .arg(&table)
            .output()
            .unwrap();
        refused(&out, &table, &format!("bench-table on {what}"));
    }
}
