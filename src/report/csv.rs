//! `runs.csv`: one row per run, columns in [`RunResult`]'s field order (each
//! documented there). Rows are appended; a new file gets the header first. An
//! existing file with another header is refused rather than mixed.

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
    super::ensure_parent(path)?;
    let expected = header()?;
    let exists = path.exists() && std::fs::metadata(path)?.len() > 0;
    if exists {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let first = text.lines().next().unwrap_or("");
        if first != expected {
            bail!(
                "{} has a different header (written by another version?); \
                 use another --csv file",
                path.display()
            );
        }
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let mut w = csv::WriterBuilder::new()
        .has_headers(!exists)
        .from_writer(file);
    w.serialize(result)?;
    w.flush()?;
    Ok(())
}

/// Read every row of a runs CSV.
pub fn read(path: &Path) -> Result<Vec<RunResult>> {
    let mut r =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    r.deserialize()
        .map(|row| row.with_context(|| format!("parsing {}", path.display())))
        .collect()
}
