//! How far the open-loop runs can be trusted, as numbers: the runs counted
//! by self-check class, below and above the rate where the client itself
//! becomes the limit, and the generator's clock (its send lateness and the
//! independence of the latency samples) over the runs the server kept up
//! with. `section.rs` puts these into the report's closing paragraphs.

use std::collections::BTreeMap;

use crate::record::{Check, LoadModel, RunResult};
use crate::stats::median;

/// Fraction of the client's own capacity above which a point measures the
/// client: up to half of it the generator keeps its schedule (send lateness
/// p99 ≤ 30 µs here, `results/curves/`); above it a failing self-check is put
/// down to the client, and the point is not drawn as the server's latency.
pub const CLIENT_LIMIT: f64 = 0.5;

/// Most send lateness at p99 (µs) the generator aims for at rates up to
/// [`CLIENT_LIMIT`] of its capacity.
pub const LATE_P99_TARGET_US: f64 = 30.0;

/// Runs (open loop) by self-check class, at rates up to [`CLIENT_LIMIT`] of the client's
/// capacity and above it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// Runs at or below the limit.
    pub runs: usize,
    /// Of them valid.
    pub valid: usize,
    /// Of them saturated (the server's limit, measured).
    pub saturated: usize,
    /// Of them unconverged (p99's interval wider than the target).
    pub unconverged: usize,
    /// Runs above the limit.
    pub above: usize,
    /// Of them failing (put down to the client).
    pub above_failed: usize,
}

impl Validity {
    /// Runs at or below the limit whose generator failed its own checks.
    pub fn generator_failed(&self) -> usize {
        self.runs - self.saturated - self.valid - self.unconverged
    }

    /// Runs whose generator kept its schedule among those the server kept up
    /// with, at or below the limit (1 when none).
    pub fn schedule_kept_fraction(&self) -> f64 {
        let judged = self.runs - self.saturated;
        if judged == 0 {
            1.0
        } else {
            1.0 - self.generator_failed() as f64 / judged as f64
        }
    }

    /// Valid runs among those the server kept up with, at or below the limit (1 when none).
    pub fn valid_fraction(&self) -> f64 {
        let judged = self.runs - self.saturated;
        if judged == 0 {
            1.0
        } else {
            self.valid as f64 / judged as f64
        }
    }
}

/// Count `rows` by self-check class, split at [`CLIENT_LIMIT`] of `client_capacity`
/// (all at or below when it is unknown).
pub fn count_validity(rows: &[RunResult], client_capacity: Option<f64>) -> Validity {
    let mut v = Validity::default();
    for r in rows.iter().filter(|r| r.load_model == LoadModel::Open) {
        let Some(rate) = r.target_rate else { continue };
        let class = r.check();
        if client_capacity.is_some_and(|c| rate > CLIENT_LIMIT * c) {
            v.above += 1;
            v.above_failed += usize::from(!matches!(class, Check::Valid | Check::None));
        } else {
            v.runs += 1;
            v.valid += usize::from(matches!(class, Check::Valid | Check::None));
            v.saturated += usize::from(class == Check::Saturated);
            v.unconverged += usize::from(class == Check::Unconverged);
        }
    }
    v
}

/// The generator's clock over the runs at or below the limit that the server
/// kept up with: send lateness per point (median of the point's runs), and
/// the independence thinning of the median run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Clock {
    /// Points (idle count, arm, rate) with a p99 lateness.
    pub points: usize,
    /// The largest p50 lateness of a point, µs.
    pub p50_max: f64,
    /// Points whose p99 lateness is within [`LATE_P99_TARGET_US`].
    pub p99_within: usize,
    /// The median point's p99 lateness, µs.
    pub p99_median: f64,
    /// The worst point's p99 lateness, µs.
    pub p99_worst: f64,
    /// The median run's stride and independent samples, and the measurement
    /// the median unconverged run would have needed (s).
    pub independence: Option<(f64, f64, Option<f64>)>,
}

/// The median over `rows` of a figure some of them have.
fn median_of(rows: &[&RunResult], f: &dyn Fn(&RunResult) -> Option<f64>) -> Option<f64> {
    median(&rows.iter().filter_map(|r| f(r)).collect::<Vec<_>>())
}

/// The open-loop runs at or below the limit whose server kept up.
fn judged(rows: &[RunResult], client_capacity: Option<f64>) -> Vec<&RunResult> {
    rows.iter()
        .filter(|r| r.load_model == LoadModel::Open && r.check() != Check::Saturated)
        .filter(|r| {
            r.target_rate
                .is_some_and(|t| client_capacity.is_none_or(|c| t <= CLIENT_LIMIT * c))
        })
        .collect()
}

/// The generator's clock, or `None` when no judged run reports its lateness.
pub fn clock(rows: &[RunResult], client_capacity: Option<f64>) -> Option<Clock> {
    let judged = judged(rows, client_capacity);
    let mut points: BTreeMap<(usize, String, u64), Vec<&RunResult>> = BTreeMap::new();
    for r in &judged {
        let rate = r.target_rate.unwrap_or_default().to_bits();
        points
            .entry((r.idle, r.arm_label().to_string(), rate))
            .or_default()
            .push(r);
    }
    let p50: Vec<f64> = points
        .values()
        .filter_map(|rs| median_of(rs, &|r| r.send_lag_p50_us.map(|v| v as f64)))
        .collect();
    let p99: Vec<f64> = points
        .values()
        .filter_map(|rs| median_of(rs, &|r| r.send_lag_p99_us.map(|v| v as f64)))
        .collect();
    if p99.is_empty() {
        return None;
    }
    let independence = median_of(&judged, &|r| r.lat_stride.map(|v| v as f64))
        .zip(median_of(&judged, &|r| {
            r.lat_independent_n.map(|v| v as f64)
        }))
        .map(|(stride, n)| (stride, n, median_of(&judged, &|r| r.needed_s)));
    Some(Clock {
        points: p99.len(),
        p50_max: p50.iter().copied().fold(0.0, f64::max),
        p99_within: p99.iter().filter(|&&v| v <= LATE_P99_TARGET_US).count(),
        p99_median: median(&p99).unwrap_or(0.0),
        p99_worst: p99.iter().copied().fold(0.0, f64::max),
        independence,
    })
}
