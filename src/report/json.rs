//! The full result of one run as pretty JSON.

use std::path::Path;

use anyhow::{Context, Result};

use crate::loadgen::RunResult;

/// Write `result` to `path`.
pub fn write(path: &Path, result: &RunResult) -> Result<()> {
    super::ensure_parent(path)?;
    let text = serde_json::to_string_pretty(result)?;
    std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
}
