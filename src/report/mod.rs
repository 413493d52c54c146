//! Writers for run results, one file per format: CSV rows, JSON, the
//! HdrHistogram percentile distribution (`.hgrm`) and interval log, and the
//! human-readable table printed after a run, and the reliability table. They
//! read [`crate::record`]; nothing here imports the load generator.
//! [`findings`] works out what a sweep's numbers say (series, ratios to the
//! baseline, significance, the A/A check); [`markdown`] puts it into words.

pub mod bench;
pub mod capacity;
pub mod claims;
pub mod csv;
pub mod findings;
pub mod hgrm;
pub mod html;
pub mod json;
pub mod markdown;
pub mod reliability;
pub mod slices;
pub mod summary;
pub mod svg;
pub mod table;

use std::path::Path;

/// Create the parent directory of `path` if needed.
pub(crate) fn ensure_parent(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => std::fs::create_dir_all(p),
        _ => Ok(()),
    }
}

/// Write `contents` to `path` through a temporary file in the same folder,
/// synced and renamed over it: whoever reads `path` — a report, a resumed
/// sweep, a process that starts after this one was killed — sees the old
/// file or the new one, never half of one.
pub(crate) fn write_atomic(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::io::Write;
    ensure_parent(path)?;
    let name = path
        .file_name()
        .with_context(|| format!("{} names no file", path.display()))?;
    let tmp = path.with_file_name(format!(".{}.partial", name.to_string_lossy()));
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(contents)
        .and_then(|()| f.sync_data())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))
}

/// The largest result file the readers take. A row of runs.csv is ~0.6 kB:
/// a day-long sweep of two arms in the default 500 ms slices writes ~0.2 GB;
/// a bigger file is refused rather than read into memory whole.
pub const MAX_INPUT_BYTES: u64 = 1 << 30;

/// Check that `path` is a regular file of at most [`MAX_INPUT_BYTES`]
/// before it is read: a directory, a device or a huge file gets one clear
/// error instead of a confusing read error or an exhausted memory.
pub fn check_input(path: &Path, what: &str) -> anyhow::Result<()> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| anyhow::anyhow!("reading {shown}: {e}"))?;
    if meta.is_dir() {
        anyhow::bail!("{shown} is a directory (give {what})");
    }
    if !meta.is_file() {
        anyhow::bail!("{shown} is not a regular file (give {what})");
    }
    if meta.len() > MAX_INPUT_BYTES {
        anyhow::bail!(
            "{shown} is {:.1} GiB, more than the {} GiB a result file may be (is it {what}?)",
            meta.len() as f64 / (1u64 << 30) as f64,
            MAX_INPUT_BYTES >> 30
        );
    }
    Ok(())
}
