//! The full result of one run as pretty JSON: the flat result (the CSV row),
//! the latency percentile spectrum and the per-second intervals.

use std::path::Path;

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::record::{RunOutput, RunResult};

/// One point of a latency spectrum.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Percentile {
    /// Quantile, 0..=1.
    pub quantile: f64,
    /// Latency at it, µs.
    pub value_us: u64,
}

/// One second of the measured window.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Interval {
    /// Seconds since the window began.
    pub second: usize,
    /// Echoes of messages sent in that second.
    pub count: u64,
    /// Median latency, µs.
    pub p50_us: u64,
    /// 99th percentile, µs.
    pub p99_us: u64,
    /// Maximum, µs.
    pub max_us: u64,
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
    /// Per-second latency.
    pub intervals: Vec<Interval>,
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
            intervals: out
                .intervals
                .iter()
                .enumerate()
                .map(|(second, h)| Interval {
                    second,
                    count: h.len(),
                    p50_us: h.value_at_quantile(0.5),
                    p99_us: h.value_at_quantile(0.99),
                    max_us: h.max(),
                })
                .collect(),
        }
    }
}

/// Write a run's full result to `path`.
pub fn write(path: &Path, out: &RunOutput) -> Result<()> {
    super::ensure_parent(path)?;
    let text = serde_json::to_string_pretty(&FullResult::of(out))?;
    std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
}
