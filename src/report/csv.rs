//! `runs.csv`: one row per run, columns in [`RunResult`]'s field order (each
//! documented there). Rows are appended; a new file gets the header first.
//! A file written by an older version (fewer columns) is upgraded in place:
//! its rows are read (missing columns take their defaults) and written back
//! under the current header before the new row is appended, so nothing is
//! lost or mixed. A file whose rows cannot be read that way is refused.

use std::fs::OpenOptions;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::record::RunResult;

/// The header line, from the struct's field names (serde writes them
/// before the first record).
pub fn header() -> Result<String> {
    let mut w = csv::Writer::from_writer(vec![]);
    w.serialize(RunResult::default())?;
    let text = String::from_utf8(w.into_inner()?)?;
    Ok(text.lines().next().unwrap_or_default().to_string())
}

/// Append `result` to the CSV at `path`.
pub fn append(path: &Path, result: &RunResult) -> Result<()> {
    append_all(path, std::slice::from_ref(result))
}

/// Append `results` to the CSV at `path`, in one write.
pub fn append_all(path: &Path, results: &[RunResult]) -> Result<()> {
    super::ensure_parent(path)?;
    let expected = header()?;
    let exists = path.exists() && std::fs::metadata(path)?.len() > 0;
    if exists {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let first = text.lines().next().unwrap_or("");
        if first != expected {
            // Only an older runs.csv (its columns all ours) is upgraded; any
            // other file would silently lose its unknown columns.
            let known: Vec<&str> = expected.split(',').collect();
            if let Some(col) = first.split(',').find(|c| !known.contains(c)) {
                bail!(
                    "{} has a column {col:?} that runs.csv does not (not a runs file, or \
                     written by a newer version); use another --csv file",
                    path.display()
                );
            }
            upgrade(path).with_context(|| {
                format!(
                    "{} has a different header and its rows could not be read as this \
                     version's; use another --csv file",
                    path.display()
                )
            })?;
        }
    }
    // The row (with the header, for a new file) goes out in one write to a
    // file opened for appending: a process killed around it leaves the row
    // whole or a torn last line (no newline) that a resumed sweep sets aside.
    let mut w = csv::WriterBuilder::new()
        .has_headers(!exists)
        .from_writer(vec![]);
    for result in results {
        w.serialize(result)?;
    }
    let bytes = w.into_inner()?;
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    std::io::Write::write_all(&mut file, &bytes)
        .with_context(|| format!("appending to {}", path.display()))?;
    Ok(())
}

/// Rewrite an older runs CSV under the current header (via a temporary file
/// renamed over it, so a failure leaves the original).
fn upgrade(path: &Path) -> Result<()> {
    let rows = read(path)?;
    if rows.is_empty() {
        bail!("no rows");
    }
    let tmp = path.with_extension("csv.upgrading");
    {
        let mut w = csv::Writer::from_path(&tmp)?;
        for r in &rows {
            w.serialize(r)?;
        }
        w.flush()?;
    }
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Read every row of a runs CSV (none, if it has only its header).
pub fn read_rows(path: &Path) -> Result<Vec<RunResult>> {
    let shown = path.display();
    super::check_input(path, "a runs.csv")?;
    let mut r = csv::Reader::from_path(path).with_context(|| format!("reading {shown}"))?;
    // Every column has a default (older files lack newer ones), so any CSV
    // would parse: these say it is a loadgen runs.csv at all.
    let headers = r
        .headers()
        .with_context(|| format!("reading the header of {shown}"))?
        .clone();
    for needed in REQUIRED_COLUMNS {
        if !headers.iter().any(|h| h == needed) {
            anyhow::bail!(
                "{shown} is not a loadgen runs.csv: it has no `{needed}` column{}",
                if headers.is_empty() {
                    " (it is empty)"
                } else {
                    ""
                }
            );
        }
    }
    let rows: Vec<RunResult> = r
        .deserialize()
        .enumerate()
        .map(|(i, row)| row.with_context(|| format!("parsing {shown}, row {}", i + 1)))
        .collect::<Result<_>>()?;
    Ok(rows)
}

/// Every row of a runs CSV, at least one.
pub fn read(path: &Path) -> Result<Vec<RunResult>> {
    let rows = read_rows(path)?;
    if rows.is_empty() {
        anyhow::bail!("{} has a header but no rows", path.display());
    }
    Ok(rows)
}

/// Write `rows` as a whole runs CSV at `path`, replacing what is there in
/// one rename (a reader, or a process killed meanwhile, sees the old file or
/// the new one).
pub fn rewrite(path: &Path, rows: &[RunResult]) -> Result<()> {
    let mut w = csv::Writer::from_writer(vec![]);
    if rows.is_empty() {
        w.write_record(header()?.split(','))?;
    }
    for r in rows {
        w.serialize(r)?;
    }
    super::write_atomic(path, &w.into_inner()?)
}

/// Columns every runs.csv has had since the first version.
const REQUIRED_COLUMNS: [&str; 3] = ["timestamp", "backend", "req_per_s"];

/// Write a run's interval rows to `path` (a new file, with a header).
pub fn write_intervals(path: &Path, rows: &[crate::record::IntervalRow]) -> Result<()> {
    super::ensure_parent(path)?;
    let mut w =
        csv::Writer::from_path(path).with_context(|| format!("creating {}", path.display()))?;
    for r in rows {
        w.serialize(r)?;
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_older_file_is_upgraded_and_keeps_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.csv");
        // An older version's file: a subset of today's columns.
        std::fs::write(
            &path,
            "timestamp,backend,conns,req_per_s\nT0,poll,10,123.5\n",
        )
        .unwrap();
        let new = RunResult {
            backend: "uring".into(),
            conns: 100,
            ..RunResult::default()
        };
        append(&path, &new).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().next().unwrap(), header().unwrap());
        let rows = read(&path).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].backend.as_str(), rows[0].conns), ("poll", 10));
        assert_eq!(rows[0].req_per_s, 123.5);
        assert_eq!((rows[1].backend.as_str(), rows[1].conns), ("uring", 100));
    }

    #[test]
    fn an_unreadable_file_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.csv");
        let junk = "not,a,runs,file\nx,y,z,w\n";
        std::fs::write(&path, junk).unwrap();
        let err = append(&path, &RunResult::default()).unwrap_err();
        assert!(format!("{err:#}").contains("another --csv file"), "{err:#}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), junk);
    }
}
