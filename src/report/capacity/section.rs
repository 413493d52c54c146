//! The capacity section of `REPORT.md` in words: the method paragraph, per
//! series a table of p99 against offered rate for every arm and a line per
//! arm stating its capacity, and the closing paragraphs on the generator's
//! self-check and clock. The numbers come from `curve.rs` and `validity.rs`.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::curve::{arm_capacities, curves, ArmCapacity, Point};
use super::validity::{clock, count_validity, CLIENT_LIMIT, LATE_P99_TARGET_US};
use crate::record::RunResult;

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
    let mut s = intro(slo_us, client_capacity);
    for ((conns, idle, msg, read_buf, workload), arms) in &all {
        let _ = writeln!(
            s,
            "\n### {workload} · {conns} active + {idle} idle · {msg} B · read buffer {read_buf}\n"
        );
        write_curve_table(&mut s, arms, client_capacity);
        let _ = writeln!(s);
        for (n, c) in arm_capacities(arms, baseline, slo_us, client_capacity) {
            let _ = writeln!(s, "{}", capacity_line(n, &c, baseline));
        }
    }
    s.push_str(&validity(rows, client_capacity));
    Some(s)
}

/// The section's heading and method paragraph.
fn intro(slo_us: f64, client_capacity: Option<f64>) -> String {
    format!(
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
    )
}

/// One series' table: a row per offered rate, a column per arm.
fn write_curve_table(
    s: &mut String,
    arms: &BTreeMap<String, Vec<Point>>,
    client_capacity: Option<f64>,
) {
    let mut rates: Vec<f64> = arms.values().flatten().map(|p| p.rate).collect();
    rates.sort_by(f64::total_cmp);
    rates.dedup();
    let _ = writeln!(
        s,
        "| offered msg/s | {} |",
        arms.keys()
            .map(|n| format!("{n}: p99 µs (CI) · achieved · late p50/p99 µs"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(s, "|---|{}", "---|".repeat(arms.len()));
    for rate in &rates {
        let limited = client_capacity.is_some_and(|c| *rate > CLIENT_LIMIT * c);
        let mut line = format!("| {}{} |", num(*rate), if limited { " ⚑" } else { "" });
        for pts in arms.values() {
            let cell = pts
                .iter()
                .find(|p| p.rate == *rate)
                .map_or("–".into(), point_cell);
            let _ = write!(line, " {cell} |");
        }
        let _ = writeln!(s, "{line}");
    }
}

/// `p99 (lo–hi) · achieved · late p50/p99` and the self-check marks.
fn point_cell(p: &Point) -> String {
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
}

/// `- arm: capacity … (between … and …); r× baseline (range …).`
fn capacity_line(n: &str, a: &ArmCapacity, baseline: &str) -> String {
    let c = &a.capacity;
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
    if let Some((r, range)) = a.vs_baseline {
        let range = range.map_or(String::new(), |(lo, hi)| {
            format!(" (range {lo:.2}–{hi:.2})")
        });
        let _ = write!(line, "; {r:.2}× {baseline}{range}");
    }
    if a.client_limited {
        line.push_str(" — client-limited: the client, not the server, set this bound");
    }
    line.push('.');
    line
}

/// The self-check paragraph, then the clock's.
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
    s.push_str(&clock_paragraph(rows, client_capacity));
    s
}

/// The generator's clock and the independence check over the runs at or
/// below the limit that the server kept up with, one paragraph.
fn clock_paragraph(rows: &[RunResult], client_capacity: Option<f64>) -> String {
    let Some(c) = clock(rows, client_capacity) else {
        return String::new();
    };
    let mut s = format!(
        "\n**The generator's clock.** Send lateness at those rates, the median of each \
         point's runs ({} points, saturated runs left out): p50 at most {} µs; p99 within \
         {LATE_P99_TARGET_US:.0} µs at {} points, median {} µs, worst {} µs.",
        c.points,
        num(c.p50_max),
        c.p99_within,
        num(c.p99_median),
        num(c.p99_worst),
    );
    if let Some((stride, n, needed)) = c.independence {
        let _ = write!(
            s,
            " Independence: the median run's latencies were thinned to every {}th \
             (median {} independent samples)",
            num(stride),
            num(n)
        );
        match needed {
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
    use crate::record::LoadModel;

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
