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
