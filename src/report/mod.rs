//! Writers for run results, one file per format: CSV rows, JSON, the
//! HdrHistogram percentile distribution (`.hgrm`) and interval log, and the
//! human-readable table printed after a run, and the reliability table. They
//! read [`crate::record`]; nothing here imports the load generator.
//! [`findings`] works out what a sweep's numbers say (series, ratios to the
//! baseline, significance, the A/A check); [`markdown`] puts it into words.

pub mod bench;
pub mod capacity;
pub mod csv;
pub mod findings;
pub mod hgrm;
pub mod json;
pub mod markdown;
pub mod reliability;
pub mod slices;
pub mod summary;
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
