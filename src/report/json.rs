//! The full result of one run as pretty JSON: the flat result (the CSV row),
//! the latency percentile spectrum and every interval's row.

use std::path::Path;

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::record::{IntervalRow, RunOutput, RunResult};

/// One point of a latency spectrum.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Percentile {
    /// Quantile, 0..=1.
    pub quantile: f64,
    /// Latency at it, µs.
    pub value_us: u64,
}

/// What `--json` writes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FullResult {
    /// The flat result (the CSV row).
    pub result: RunResult,
    /// Latency spectrum (corrected in open loop).
    pub latency_percentiles: Vec<Percentile>,
    /// Open loop: the uncorrected spectrum.
    pub uncorrected_percentiles: Option<Vec<Percentile>>,
    /// Every interval: client and server figures, and the interval rule's verdict.
    pub intervals: Vec<IntervalRow>,
}

fn spectrum(h: &Histogram<u64>) -> Vec<Percentile> {
    const QS: [f64; 12] = [
        0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 0.9999, 0.99999, 1.0,
    ];
    if h.is_empty() {
        return Vec::new();
    }
    QS.iter()
        .map(|&q| Percentile {
            quantile: q,
            value_us: h.value_at_quantile(q),
        })
        .collect()
}

impl FullResult {
    /// Gather it from a run's output.
    pub fn of(out: &RunOutput) -> FullResult {
        FullResult {
            result: out.result.clone(),
            latency_percentiles: spectrum(&out.latency),
            uncorrected_percentiles: out.latency_uncorrected.as_ref().map(spectrum),
            intervals: out.interval_rows.clone(),
        }
    }
}

/// Write a run's full result to `path`.
pub fn write(path: &Path, out: &RunOutput) -> Result<()> {
    super::ensure_parent(path)?;
    let text = serde_json::to_string_pretty(&FullResult::of(out))?;
    std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
}
