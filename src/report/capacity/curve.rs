//! Load–latency curves as numbers: the open-loop rows grouped into series
//! and arms, one [`Point`] per offered rate (p99 with its interval, achieved
//! rate, self-check counts, send lateness), and each arm's [`Capacity`] at
//! the latency target with its range and its ratio to the baseline arm. No
//! words here: `section.rs` writes them.

use std::collections::BTreeMap;

use super::validity::CLIENT_LIMIT;
use crate::record::{Check, LoadModel, RunResult};
use crate::report::summary::Estimate;
use crate::stats::median;

/// One offered rate of one arm.
#[derive(Debug, Clone)]
pub struct Point {
    /// Offered msg/s.
    pub rate: f64,
    /// p99, µs, with its interval.
    pub p99: Estimate,
    /// Achieved req/s (geometric mean).
    pub achieved: f64,
    /// Runs whose self-check did not fail (said `valid`, or predates it), of all runs.
    pub valid: usize,
    /// Runs whose self-check found the server saturated.
    pub saturated: usize,
    /// Runs whose only failure was p99's interval (a longer run needed).
    pub unconverged: usize,
    /// Runs.
    pub runs: usize,
    /// The generator's send lateness, µs: median over runs of each run's p50 and p99.
    pub late: Option<(f64, f64)>,
}

impl Point {
    fn meets(&self, slo_us: f64, p99: f64) -> bool {
        p99 <= slo_us && self.achieved >= 0.95 * self.rate
    }
}

/// An arm's capacity at the SLO: estimate and range (msg/s; 0: not even the lowest rate).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Capacity {
    /// From the point estimates.
    pub estimate: f64,
    /// Surely met up to here (interval wholly under the SLO).
    pub lo: f64,
    /// Possibly met up to here (interval reaching under the SLO).
    pub hi: f64,
}

/// The capacity of a curve (points in ascending rate).
pub fn capacity(points: &[Point], slo_us: f64) -> Capacity {
    let highest = |p99: &dyn Fn(&Point) -> f64| {
        points
            .iter()
            .take_while(|p| p.meets(slo_us, p99(p)))
            .last()
            .map_or(0.0, |p| p.rate)
    };
    Capacity {
        estimate: highest(&|p| p.p99.value),
        lo: highest(&|p| p.p99.ci.map_or(p.p99.value, |c| c.1)),
        hi: highest(&|p| p.p99.ci.map_or(p.p99.value, |c| c.0)),
    }
}

/// The median over `rows` of a lateness percentile they report.
fn median_late(rows: &[&RunResult], late: fn(&RunResult) -> Option<u64>) -> Option<f64> {
    median(
        &rows
            .iter()
            .filter_map(|r| late(r).map(|v| v as f64))
            .collect::<Vec<_>>(),
    )
}

fn point(rate: f64, rows: &[&RunResult]) -> Option<Point> {
    let p99s: Vec<f64> = rows.iter().map(|r| r.lat_p99_us as f64).collect();
    let mut p99 = Estimate::of(&p99s)?;
    if rows.len() == 1 {
        let r = rows[0];
        p99.ci = r
            .p99_ci_lo_us
            .zip(r.p99_ci_hi_us)
            .map(|(a, b)| (a as f64, b as f64));
    }
    let achieved = Estimate::of(&rows.iter().map(|r| r.req_per_s).collect::<Vec<_>>())?.value;
    let count = |keep: &dyn Fn(Check) -> bool| rows.iter().filter(|r| keep(r.check())).count();
    Some(Point {
        rate,
        p99,
        achieved,
        // Rows from before the self-check (no verdict) are not counted as failed.
        valid: count(&|c| matches!(c, Check::None | Check::Valid)),
        saturated: count(&|c| c == Check::Saturated),
        unconverged: count(&|c| c == Check::Unconverged),
        runs: rows.len(),
        late: median_late(rows, |r| r.send_lag_p50_us)
            .zip(median_late(rows, |r| r.send_lag_p99_us)),
    })
}

type SeriesKey = (usize, usize, usize, usize, String);

/// The curves in `rows`: per series (conns, idle, msg, read buffer, workload), per arm.
pub fn curves(rows: &[RunResult]) -> BTreeMap<SeriesKey, BTreeMap<String, Vec<Point>>> {
    let mut grouped: BTreeMap<SeriesKey, BTreeMap<String, BTreeMap<u64, Vec<&RunResult>>>> =
        BTreeMap::new();
    for r in rows.iter().filter(|r| r.load_model == LoadModel::Open) {
        let Some(rate) = r.target_rate else { continue };
        let key = (
            r.conns,
            r.idle,
            r.msg_size,
            r.read_buf,
            r.workload.to_string(),
        );
        grouped
            .entry(key)
            .or_default()
            .entry(r.arm_label().to_string())
            .or_default()
            .entry(rate.to_bits())
            .or_default()
            .push(r);
    }
    grouped
        .into_iter()
        .map(|(k, arms)| {
            let arms = arms
                .into_iter()
                .map(|(arm, by_rate)| {
                    let mut pts: Vec<Point> = by_rate
                        .into_iter()
                        .filter_map(|(bits, rows)| point(f64::from_bits(bits), &rows))
                        .collect();
                    pts.sort_by(|a, b| a.rate.total_cmp(&b.rate));
                    (arm, pts)
                })
                .collect();
            (k, arms)
        })
        .filter(|(_, arms): &(SeriesKey, BTreeMap<String, Vec<Point>>)| {
            arms.values().any(|p| p.len() >= 2)
        })
        .collect()
}

/// One arm's capacity as the report states it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArmCapacity {
    /// The capacity and its range.
    pub capacity: Capacity,
    /// Its ratio to the baseline's, with the range of the ratio when both
    /// ranges are positive; `None` without a baseline or when either is 0.
    pub vs_baseline: Option<(f64, Option<(f64, f64)>)>,
    /// Above [`CLIENT_LIMIT`] of the client's own capacity: the client set the bound.
    pub client_limited: bool,
}

/// Each arm's capacity at `slo_us`, compared with the baseline arm's (the one
/// named, or its first when it runs as several).
pub fn arm_capacities<'a>(
    arms: &'a BTreeMap<String, Vec<Point>>,
    baseline: &str,
    slo_us: f64,
    client_capacity: Option<f64>,
) -> Vec<(&'a String, ArmCapacity)> {
    let caps: BTreeMap<&String, Capacity> = arms
        .iter()
        .map(|(n, pts)| (n, capacity(pts, slo_us)))
        .collect();
    let base = caps
        .iter()
        .find(|(n, _)| n.as_str() == baseline || n.as_str() == format!("{baseline}#1"))
        .map(|(_, c)| *c);
    caps.into_iter()
        .map(|(n, c)| {
            let vs_baseline = base
                .filter(|b| b.estimate > 0.0 && c.estimate > 0.0)
                .map(|b| {
                    let range = (b.hi > 0.0 && b.lo > 0.0).then(|| (c.lo / b.hi, c.hi / b.lo));
                    (c.estimate / b.estimate, range)
                });
            let client_limited = client_capacity.is_some_and(|cc| c.estimate > CLIENT_LIMIT * cc);
            (
                n,
                ArmCapacity {
                    capacity: c,
                    vs_baseline,
                    client_limited,
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(rate: f64, p99: f64, ci: Option<(f64, f64)>, achieved: f64) -> Point {
        Point {
            rate,
            p99: Estimate {
                value: p99,
                ci,
                n: 3,
            },
            achieved,
            valid: 3,
            saturated: 0,
            unconverged: 0,
            runs: 3,
            late: None,
        }
    }

    #[test]
    fn capacity_is_the_highest_rate_under_the_target_with_its_range() {
        let pts = [
            p(1000.0, 200.0, Some((180.0, 220.0)), 1000.0),
            p(2000.0, 400.0, Some((350.0, 450.0)), 2000.0),
            p(4000.0, 900.0, Some((700.0, 1200.0)), 4000.0),
            p(8000.0, 3000.0, Some((950.0, 9000.0)), 7990.0),
            p(16000.0, 20000.0, Some((15000.0, 30000.0)), 9000.0),
        ];
        let c = capacity(&pts, 1000.0);
        // 4,000 is under by its estimate, but its interval reaches above:
        // surely met up to 2,000, possibly up to 8,000 (whose interval dips under).
        assert_eq!(
            c,
            Capacity {
                estimate: 4000.0,
                lo: 2000.0,
                hi: 8000.0
            }
        );
        // A rate not achieved does not count even with a low p99.
        let behind = [
            p(1000.0, 200.0, None, 1000.0),
            p(2000.0, 300.0, None, 1500.0),
        ];
        assert_eq!(capacity(&behind, 1000.0).estimate, 1000.0);
        // Over the target from the start.
        assert_eq!(capacity(&pts, 100.0).estimate, 0.0);
    }
}
