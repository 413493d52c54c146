//! The full result of one run as pretty JSON: the flat result (the CSV row),
//! the latency percentile spectrum and every interval's row.

use std::path::Path;

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::record::{IntervalRow, RunOutput, RunResult};
use crate::server::Snapshot;

/// One point of a latency spectrum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// The whole latency histogram (µs; corrected in open loop): HdrHistogram
    /// V2 serialization, base64 — what `loadgen merge` adds up.
    #[serde(default)]
    pub histogram: Option<String>,
    /// The server's snapshots at the window's edges (own server or
    /// `--server-control`): `loadgen merge` takes the server's figures from them.
    #[serde(default)]
    pub server_window: Option<(Snapshot, Snapshot)>,
    /// `loadgen merge`: each load host's row.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<RunResult>,
}

/// A histogram as V2 serialization in base64.
pub fn encode_histogram(h: &Histogram<u64>) -> Result<String> {
    use base64::Engine;
    use hdrhistogram::serialization::Serializer;
    let mut bytes = Vec::new();
    hdrhistogram::serialization::V2Serializer::new()
        .serialize(h, &mut bytes)
        .map_err(|e| anyhow::anyhow!("serializing the histogram: {e:?}"))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// The histogram [`encode_histogram`] wrote.
pub fn decode_histogram(text: &str) -> Result<Histogram<u64>> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .context("the histogram is not base64")?;
    hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| anyhow::anyhow!("the histogram does not deserialize: {e:?}"))
}

/// The latency spectrum of a histogram (the quantiles `--json` lists).
pub fn spectrum_of(h: &Histogram<u64>) -> Vec<Percentile> {
    spectrum(h)
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
            histogram: encode_histogram(&out.latency).ok(),
            server_window: out.server_window.clone(),
            hosts: Vec::new(),
        }
    }
}

/// Write a run's full result to `path`.
pub fn write(path: &Path, out: &RunOutput) -> Result<()> {
    write_full(path, &FullResult::of(out))
}

/// Write a full result to `path`.
pub fn write_full(path: &Path, full: &FullResult) -> Result<()> {
    super::ensure_parent(path)?;
    let text = serde_json::to_string_pretty(full)?;
    std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
}

/// A full result written by [`write()`].
pub fn read(path: &Path) -> Result<FullResult> {
    super::check_input(path, "a loadgen --json result")?;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a loadgen --json result", path.display()))
}
