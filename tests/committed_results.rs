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

/// The committed reliability tables have their pages, which `loadgen
/// report` makes from the Markdown (there are no rows to redraw from), the
/// table as the page's content; something else given as `.md` is refused.
#[test]
fn committed_reliability_tables_have_their_pages() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    for d in ["results/reliability", "results/reliability-uring"] {
        let md = root.join(d).join("RELIABILITY.md");
        assert!(
            md.with_extension("html").is_file(),
            "{d}: no RELIABILITY.html"
        );
        let out = dir.path().join("page.html");
        let status = std::process::Command::new(env!("CARGO_BIN_EXE_loadgen"))
            .arg("report")
            .arg(&md)
            .arg("-o")
            .arg(&out)
            .status()
            .unwrap();
        assert!(status.success());
        let page = std::fs::read_to_string(&out).unwrap();
        assert_eq!(
            page,
            std::fs::read_to_string(md.with_extension("html")).unwrap(),
            "{d}: RELIABILITY.html is not what loadgen report makes now"
        );
        assert!(page.find("<table>").unwrap() > page.find("id=\"tables\"").unwrap());
    }
    let other = dir.path().join("notes.md");
    std::fs::write(&other, "just notes\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .arg("report")
        .arg(&other)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!other.with_extension("html").exists());
}

/// Every block of the README (and docs/) marked as generated from a results
/// folder quotes lines of that folder's report as `loadgen report` makes it
/// now from the committed rows: a number in the text cannot drift from its
/// data. A block is
///
/// ```text
/// <!-- generated from results/NAME -->
/// - a line of results/NAME/REPORT.md, verbatim
/// <!-- end generated -->
/// ```
///
/// (the baseline is epoll-et unless the marker says `baseline ARM`).
#[test]
fn readme_numbers_are_the_committed_reports() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut docs = vec![root.join("README.md")];
    if let Ok(dir) = std::fs::read_dir(root.join("docs")) {
        docs.extend(
            dir.map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "md")),
        );
    }
    let mut blocks = 0;
    for doc in docs {
        let text = std::fs::read_to_string(&doc).unwrap();
        let mut rest = text.as_str();
        while let Some(at) = rest.find("<!-- generated from ") {
            let after = &rest[at + "<!-- generated from ".len()..];
            let (marker, body) = after.split_once("-->").unwrap();
            let (body, tail) = body
                .split_once("<!-- end generated -->")
                .unwrap_or_else(|| panic!("{}: unterminated block {marker}", doc.display()));
            rest = tail;
            let mut words = marker.split_whitespace();
            let folder = words.next().unwrap();
            let baseline = match (words.next(), words.next()) {
                (Some("baseline"), Some(b)) => b,
                _ => "epoll-et",
            };
            // A folder: its report made anew from its rows. A file: a page a
            // script generates (and a test below regenerates), or a run's
            // printed output.
            let md = if root.join(folder).is_file() {
                std::fs::read_to_string(root.join(folder)).unwrap()
            } else {
                muxbench::loadgen::sweep::render_report(
                    &root.join(folder).join("runs.csv"),
                    baseline,
                )
                .unwrap_or_else(|e| panic!("{folder}: {e:#}"))
            };
            // Code fences frame a quoted file; they are not its lines.
            let quoted = body
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with("```"));
            for line in quoted {
                let line = line.strip_prefix("> ").unwrap_or(line);
                assert!(
                    md.contains(line),
                    "{}: this line is not in the report of {folder} any more:\n{line}",
                    doc.display()
                );
            }
            blocks += 1;
        }
    }
    assert!(blocks >= 2, "only {blocks} generated blocks found");
}

/// Every number the README and docs/ mark as a claim is what its results
/// folder's rows give now (`loadgen claims --update` rewrites them).
#[test]
fn every_marked_claim_is_what_its_data_gives() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pages = vec![root.join("README.md")];
    for e in std::fs::read_dir(root.join("docs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            pages.push(p);
        }
    }
    let marked: usize = pages
        .iter()
        .map(|p| {
            report::claims::markers(&std::fs::read_to_string(p).unwrap())
                .unwrap()
                .len()
        })
        .sum();
    assert!(marked >= 20, "only {marked} claims marked");
    let bad = report::claims::check_pages(root, &pages).unwrap();
    let listed: Vec<String> = bad.iter().map(ToString::to_string).collect();
    assert!(
        bad.is_empty(),
        "pages disagree with their data (cargo run --release --bin loadgen -- claims --update README.md docs/*.md):\n{}",
        listed.join("\n")
    );
}

/// `results/sliced/COMPARISON.md` is what `scripts/sliced_check.py` makes
/// from the committed sweeps beside it, to the byte.
#[test]
fn sliced_comparison_is_regenerated_from_its_sweeps() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new("python3")
        .arg(root.join("scripts/sliced_check.py"))
        .arg(root.join("results/sliced"))
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let committed = std::fs::read_to_string(root.join("results/sliced/COMPARISON.md")).unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), committed);
}
