//! Load–latency curves in the report: for each open-loop series (scenarios
//! that differ only in the offered rate), one table of p99 against offered
//! load per arm, and each arm's **capacity at the latency target** — the
//! highest offered rate whose p99 stays under the SLO, at every lower rate
//! too, with the achieved rate at least 95 % of the offered one.
//!
//! Uncertainty: a point's p99 is the geometric mean over repeats with its
//! 95 % t-interval (one run: the order-statistics interval of its p99). The
//! capacity's range runs from the highest rate whose p99 *interval* is wholly
//! under the SLO (and every lower one's) to the highest rate whose interval
//! still reaches under it — between two measured rates the answer is not
//! known more finely than the rates given.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::summary::Estimate;
use crate::record::{Check, LoadModel, RunResult};
use crate::stats::median;

/// Fraction of the client's own capacity above which a point measures the
/// client: up to half of it the generator keeps its schedule (send lateness
/// p99 ≤ 30 µs here, `results/curves/`); above it a failing self-check is put
/// down to the client, and the point is not drawn as the server's latency.
pub const CLIENT_LIMIT: f64 = 0.5;

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
    Some(Point {
        rate,
        p99,
        achieved,
        // Rows from before the self-check (no verdict) are not counted as failed.
        valid: rows
            .iter()
            .filter(|r| matches!(r.check(), Check::None | Check::Valid))
            .count(),
        saturated: rows
            .iter()
            .filter(|r| r.check() == Check::Saturated)
            .count(),
        unconverged: rows
            .iter()
            .filter(|r| r.check() == Check::Unconverged)
            .count(),
        runs: rows.len(),
        late: median(
            &rows
                .iter()
                .filter_map(|r| r.send_lag_p50_us.map(|v| v as f64))
                .collect::<Vec<_>>(),
        )
        .zip(median(
            &rows
                .iter()
                .filter_map(|r| r.send_lag_p99_us.map(|v| v as f64))
                .collect::<Vec<_>>(),
        )),
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

fn num(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

/// The report section, or `None` when `rows` hold no curve.
pub fn render(
    rows: &[RunResult],
    baseline: &str,
    slo_us: f64,
    client_capacity: Option<f64>,
) -> Option<String> {
    let all = curves(rows);
    if all.is_empty() {
        return None;
    }
    let mut s = format!(
        "\n## Capacity at the latency target (p99 ≤ {} µs)\n\n\
         Open-loop runs at increasing offered rates (Poisson arrivals unless the rows say \
         otherwise). A point's p99 is the geometric mean over repeats with its 95 % interval \
         (one run: the order-statistics interval). An arm's capacity is the highest offered \
         rate whose p99 stays under the target — at every lower rate too — with at least \
         95 % of the rate achieved; its range runs from where the p99 interval is wholly \
         under the target to where it still reaches under it. `late` is the generator's own \
         send lateness (median over runs of each run's p50 and p99, µs): it is inside every \
         latency in the row, since latency counts from the intended send time. `⊘n` counts \
         runs the server could not keep up with (connections' in-flight windows filled: \
         saturation, measured correctly); `≈n` runs whose p99 interval, from the \
         independent subsample of their latencies, was wider than --target-ci (a longer run \
         would narrow it; the point's interval over repeats stands); `✗n` runs whose \
         self-check failed for the generator's reasons; `⚑` marks rates above {:.0} % of what the client itself can \
         send{}, where a failed self-check is put down to the client.\n",
        slo_us,
        CLIENT_LIMIT * 100.0,
        client_capacity.map_or(String::new(), |c| format!(
            " ({} msg/s, measured before the curve)",
            num(c)
        ))
    );
    for ((conns, idle, msg, read_buf, workload), arms) in &all {
        let _ = writeln!(
            s,
            "\n### {workload} · {conns} active + {idle} idle · {msg} B · read buffer {read_buf}\n"
        );
        let mut rates: Vec<f64> = arms.values().flatten().map(|p| p.rate).collect();
        rates.sort_by(f64::total_cmp);
        rates.dedup();
        let names: Vec<&String> = arms.keys().collect();
        let _ = writeln!(
            s,
            "| offered msg/s | {} |",
            names
                .iter()
                .map(|n| format!("{n}: p99 µs (CI) · achieved · late p50/p99 µs"))
                .collect::<Vec<_>>()
                .join(" | ")
        );
        let _ = writeln!(s, "|---|{}", "---|".repeat(names.len()));
        for rate in &rates {
            let limited = client_capacity.is_some_and(|c| *rate > CLIENT_LIMIT * c);
            let mut line = format!("| {}{} |", num(*rate), if limited { " ⚑" } else { "" });
            for n in &names {
                let cell = arms[*n]
                    .iter()
                    .find(|p| p.rate == *rate)
                    .map_or("–".into(), |p| {
                        let ci = p
                            .p99
                            .ci
                            .map_or(String::new(), |(a, b)| format!(" ({}–{})", num(a), num(b)));
                        let bad = p.runs - p.valid - p.saturated - p.unconverged;
                        let mark = |n: usize, sign: &str| {
                            if n > 0 {
                                format!(" {sign}{n}")
                            } else {
                                String::new()
                            }
                        };
                        format!(
                            "{}{ci} · {} · late {}{}{}{}",
                            num(p.p99.value),
                            num(p.achieved),
                            p.late
                                .map_or("–".into(), |(a, b)| format!("{}/{}", num(a), num(b))),
                            mark(p.saturated, "⊘"),
                            mark(p.unconverged, "≈"),
                            mark(bad, "✗"),
                        )
                    });
                let _ = write!(line, " {cell} |");
            }
            let _ = writeln!(s, "{line}");
        }
        let _ = writeln!(s);
        let caps: BTreeMap<&String, Capacity> = arms
            .iter()
            .map(|(n, pts)| (n, capacity(pts, slo_us)))
            .collect();
        let base = caps
            .iter()
            .find(|(n, _)| n.as_str() == baseline || n.as_str() == format!("{baseline}#1"))
            .map(|(_, c)| *c);
        for (n, c) in &caps {
            let mut line = if c.estimate > 0.0 {
                format!(
                    "- {n}: capacity {} msg/s (between {} and {})",
                    num(c.estimate),
                    num(c.lo),
                    num(c.hi)
                )
            } else {
                format!("- {n}: p99 above the target already at the lowest rate")
            };
            if let Some(b) = base.filter(|b| b.estimate > 0.0 && c.estimate > 0.0) {
                let range = if b.hi > 0.0 && b.lo > 0.0 {
                    format!(" (range {:.2}–{:.2})", c.lo / b.hi, c.hi / b.lo)
                } else {
                    String::new()
                };
                let _ = write!(line, "; {:.2}× {baseline}{range}", c.estimate / b.estimate);
            }
            if client_capacity.is_some_and(|cc| c.estimate > CLIENT_LIMIT * cc) {
                line.push_str(" — client-limited: the client, not the server, set this bound");
            }
            line.push('.');
            let _ = writeln!(s, "{line}");
        }
    }
    s.push_str(&validity(rows, client_capacity));
    Some(s)
}

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

fn validity(rows: &[RunResult], client_capacity: Option<f64>) -> String {
    let v = count_validity(rows, client_capacity);
    let limit = client_capacity.map_or("every rate".to_string(), |c| {
        format!(
            "rates up to {:.0} % of the client's capacity ({} msg/s)",
            CLIENT_LIMIT * 100.0,
            num(CLIENT_LIMIT * c)
        )
    });
    let judged = v.runs - v.saturated;
    let mut s = format!(
        "\n**The generator's self-check.** At {limit}: of {judged} runs the server kept up \
         with, {} kept the schedule ({:.1} %: arrivals, rate and lateness as intended) and {} \
         were valid ({:.1} %); the other {} had a p99 interval wider than --target-ci from \
         their independent samples. {} more found the server saturated.",
        judged - v.generator_failed(),
        100.0 * v.schedule_kept_fraction(),
        v.valid,
        100.0 * v.valid_fraction(),
        v.unconverged,
        v.saturated,
    );
    if v.above > 0 {
        let _ = write!(
            s,
            " Above it, {} of {} runs failed the self-check: client-limited, left out of the \
             server's curve.",
            v.above_failed, v.above
        );
    }
    s.push('\n');
    s.push_str(&clock(rows, client_capacity));
    s
}

/// Most send lateness at p99 (µs) the generator aims for at rates up to
/// [`CLIENT_LIMIT`] of its capacity.
pub const LATE_P99_TARGET_US: f64 = 30.0;

/// The generator's clock and the independence check over the runs at or
/// below the limit that the server kept up with, one paragraph.
fn clock(rows: &[RunResult], client_capacity: Option<f64>) -> String {
    let judged: Vec<&RunResult> = rows
        .iter()
        .filter(|r| r.load_model == LoadModel::Open && r.check() != Check::Saturated)
        .filter(|r| {
            r.target_rate
                .is_some_and(|t| client_capacity.is_none_or(|c| t <= CLIENT_LIMIT * c))
        })
        .collect();
    let mut points: BTreeMap<(usize, String, u64), Vec<&RunResult>> = BTreeMap::new();
    for r in &judged {
        let rate = r.target_rate.unwrap_or_default().to_bits();
        points
            .entry((r.idle, r.arm_label().to_string(), rate))
            .or_default()
            .push(r);
    }
    let med = |rs: &[&RunResult], f: &dyn Fn(&RunResult) -> Option<f64>| {
        median(&rs.iter().filter_map(|r| f(r)).collect::<Vec<_>>())
    };
    let p50: Vec<f64> = points
        .values()
        .filter_map(|rs| med(rs, &|r| r.send_lag_p50_us.map(|v| v as f64)))
        .collect();
    let p99: Vec<f64> = points
        .values()
        .filter_map(|rs| med(rs, &|r| r.send_lag_p99_us.map(|v| v as f64)))
        .collect();
    if p99.is_empty() {
        return String::new();
    }
    let mut s = format!(
        "\n**The generator's clock.** Send lateness at those rates, the median of each \
         point's runs ({} points, saturated runs left out): p50 at most {} µs; p99 within \
         {LATE_P99_TARGET_US:.0} µs at {} points, median {} µs, worst {} µs.",
        p99.len(),
        num(p50.iter().copied().fold(0.0, f64::max)),
        p99.iter().filter(|&&v| v <= LATE_P99_TARGET_US).count(),
        num(median(&p99).unwrap_or(0.0)),
        num(p99.iter().copied().fold(0.0, f64::max)),
    );
    let all = |f: &dyn Fn(&RunResult) -> Option<f64>| {
        median(&judged.iter().filter_map(|r| f(r)).collect::<Vec<_>>())
    };
    if let (Some(stride), Some(n)) = (
        all(&|r| r.lat_stride.map(|v| v as f64)),
        all(&|r| r.lat_independent_n.map(|v| v as f64)),
    ) {
        let _ = write!(
            s,
            " Independence: the median run's latencies were thinned to every {}th \
             (median {} independent samples)",
            num(stride),
            num(n)
        );
        match all(&|r| r.needed_s) {
            Some(need) => {
                let _ = write!(
                    s,
                    "; for p99 to reach --target-ci, the median unconverged run would have \
                     needed {} s of measurement.",
                    num(need)
                );
            }
            None => s.push('.'),
        }
    }
    s.push('\n');
    s
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

    #[test]
    fn the_section_names_capacities_ratios_and_client_limits() {
        let row = |arm: &str, rate: f64, p99: u64| RunResult {
            backend: arm.into(),
            load_model: LoadModel::Open,
            target_rate: Some(rate),
            conns: 10,
            msg_size: 64,
            read_buf: 16384,
            req_per_s: rate,
            lat_p99_us: p99,
            verdict: "valid".into(),
            ..RunResult::default()
        };
        let rows = vec![
            row("poll", 1000.0, 300),
            row("epoll-et", 1000.0, 200),
            row("poll", 2000.0, 2000),
            row("epoll-et", 2000.0, 500),
            row("poll", 4000.0, 9000),
            row("epoll-et", 4000.0, 5000),
        ];
        let md = render(&rows, "epoll-et", 1000.0, Some(4000.0)).unwrap();
        assert!(md.contains("- epoll-et: capacity 2000 msg/s"), "{md}");
        assert!(md.contains("- poll: capacity 1000 msg/s"), "{md}");
        assert!(md.contains("0.50× epoll-et"), "{md}");
        // 4,000 is above 80 % of the client's 4,000: marked.
        assert!(md.contains("| 4000 ⚑ |"), "{md}");
        assert!(render(&rows[..0], "epoll-et", 1000.0, None).is_none());
    }
}
