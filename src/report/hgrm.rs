//! HdrHistogram's text formats: the percentile distribution (`.hgrm`, as
//! printed by HdrHistogram's `outputPercentileDistribution` and read by its
//! plotter) and the V2 interval log (`.hlog`).

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use hdrhistogram::serialization::interval_log::IntervalLogWriterBuilder;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::Histogram;

/// Write the percentile distribution of `h` (recorded in µs) to `out`, values
/// in milliseconds as HdrHistogram's tools print them (scaling ratio 1000).
pub fn write_distribution(out: &mut impl Write, h: &Histogram<u64>) -> std::io::Result<()> {
    const SCALE: f64 = 1000.0;
    writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    )?;
    if !h.is_empty() {
        let mut cumulative = 0u64;
        for v in h.iter_quantiles(5) {
            cumulative += v.count_since_last_iteration();
            let q = v.quantile_iterated_to();
            let value = v.value_iterated_to() as f64 / SCALE;
            if q < 1.0 {
                writeln!(
                    out,
                    "{value:12.3} {q:14.12} {cumulative:10} {:14.2}",
                    1.0 / (1.0 - q)
                )?;
            } else {
                writeln!(out, "{value:12.3} {q:14.12} {cumulative:10}")?;
            }
        }
    }
    writeln!(
        out,
        "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]",
        h.mean() / SCALE,
        h.stdev() / SCALE
    )?;
    writeln!(
        out,
        "#[Max     = {:12.3}, Total count    = {:12}]",
        h.max() as f64 / SCALE,
        h.len()
    )?;
    Ok(())
}

/// Write the `.hgrm` file.
pub fn write_file(path: &Path, h: &Histogram<u64>) -> Result<()> {
    let mut text = Vec::new();
    write_distribution(&mut text, h)?;
    super::write_atomic(path, &text)
}

/// Write an HdrHistogram V2 interval log: one histogram per `interval` of the
/// measured window (values in µs; `max` column divided to ms).
pub fn write_interval_log(
    path: &Path,
    intervals: &[Histogram<u64>],
    interval: Duration,
) -> Result<()> {
    super::ensure_parent(path)?;
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
    );
    let mut serializer = V2DeflateSerializer::new();
    let mut log = IntervalLogWriterBuilder::new()
        .add_comment("muxbench loadgen latency, values in microseconds")
        .with_start_time(std::time::SystemTime::now())
        .with_max_value_divisor(1000.0)
        .begin_log_with(&mut f, &mut serializer)?;
    for (i, h) in intervals.iter().enumerate() {
        log.write_histogram(h, interval * i as u32, interval, None)
            .map_err(|e| anyhow::anyhow!("writing the interval log: {e:?}"))?;
    }
    drop(log);
    f.flush()?;
    Ok(())
}
