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

/// The name of a sweep run's `.hgrm` file in its `hgrm/` folder.
pub fn run_file_name(
    arm: &str,
    (conns, idle, msg_size, read_buf): (usize, usize, usize, usize),
    rate: Option<f64>,
    round: usize,
) -> String {
    let rate = rate.map_or(String::new(), |r| format!("-o{r}"));
    format!("{arm}-c{conns}-i{idle}-m{msg_size}-b{read_buf}{rate}-r{round}.hgrm")
}

/// The percentile spectrum an `.hgrm` file holds: (1/(1−p), latency in µs)
/// for every line with p < 1.
pub fn read_spectrum(path: &Path) -> Result<Vec<(f64, f64)>> {
    super::check_input(path, "an .hgrm file")?;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != 4 || line.starts_with('#') {
            continue;
        }
        let (Ok(ms), Ok(inv)) = (f[0].parse::<f64>(), f[3].parse::<f64>()) else {
            continue;
        };
        out.push((inv, ms * 1000.0));
    }
    if out.is_empty() {
        anyhow::bail!("{} holds no percentile table", path.display());
    }
    Ok(out)
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
