//! The committed results must keep loading as the result model evolves:
//! every `runs.csv` under `results/` parses into `RunResult` rows (older
//! files lack newer columns, which read as their defaults), the reliability
//! table into `ReliabilityRow`s, and a report can be regenerated from them.

use std::path::{Path, PathBuf};

use muxbench::record::{ReliabilityRow, Verdict};
use muxbench::report;

fn runs_csvs(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            runs_csvs(&path, out);
        } else if path.file_name().is_some_and(|n| n == "runs.csv") {
            out.push(path);
        }
    }
}

#[test]
fn every_committed_runs_csv_loads_and_renders() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
    let mut files = Vec::new();
    runs_csvs(&root, &mut files);
    assert!(files.len() >= 4, "found only {files:?}");
    for f in files {
        let rows = report::csv::read(&f).unwrap_or_else(|e| panic!("{}: {e:#}", f.display()));
        assert!(!rows.is_empty(), "{}", f.display());
        assert!(
            rows.iter().all(|r| !r.backend.is_empty()),
            "{}",
            f.display()
        );
        let md = report::markdown::render(&rows, "epoll-et", None);
        assert!(md.contains('|'), "{}: no table rendered", f.display());
    }
}

#[test]
fn committed_reliability_table_loads() {
    let f = Path::new(env!("CARGO_MANIFEST_DIR")).join("results/reliability/reliability.csv");
    let rows: Vec<ReliabilityRow> = csv::Reader::from_path(&f)
        .unwrap()
        .deserialize()
        .map(|r| r.unwrap())
        .collect();
    assert!(!rows.is_empty());
    assert!(rows.iter().any(|r| r.verdict == Verdict::Pass));
    assert!(rows.iter().any(|r| r.verdict == Verdict::Degrades));
}
