//! Result files are the inputs of `loadgen report` and `loadgen merge`:
//! empty, truncated, foreign, of another kind, or a directory given for a
//! file, each gets one clear error line and exit status 2 — no panic, and
//! no partial output left behind.

use std::path::Path;
use std::process::Command;

/// The inputs, made in `dir`: (name, path).
fn inputs(dir: &Path) -> Vec<(&'static str, std::path::PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let runs = std::fs::read_to_string(root.join("tests/fixtures/runs.csv")).unwrap();
    let header = runs.lines().next().unwrap();
    let files: [(&str, String); 6] = [
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
    ];
    let mut out: Vec<_> = files
        .iter()
        .map(|(name, text)| {
            let p = dir.join(name.replace(' ', "-"));
            std::fs::write(&p, text).unwrap();
            (*name, p)
        })
        .collect();
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
        let merged = dir.path().join(format!("{}.json", what.replace(' ', "-")));
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
