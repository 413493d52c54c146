//! `REPORT.md` from a sweep's rows: the machine and settings, then per
//! scenario one table row per backend (medians over repeats, each figure also
//! as a ratio to a baseline backend), and findings generated only from the
//! numbers.

use std::fmt::Write;

pub use super::summary::{summarize, BackendSummary, ScenarioKey, Stat};
use crate::record::RunResult;

fn fmt_num(x: f64) -> String {
    if x.abs() >= 1000.0 {
        let s = format!("{:.0}", x);
        let (sign, digits) = s.split_at(usize::from(s.starts_with('-')));
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        format!("{sign}{out}")
    } else if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn cell(s: Option<Stat>, base: Option<Stat>, range: bool) -> String {
    let Some(s) = s else {
        return "–".into();
    };
    let mut out = fmt_num(s.median);
    if range && s.min != s.max {
        let _ = write!(out, " ({}–{})", fmt_num(s.min), fmt_num(s.max));
    }
    if let Some(b) = base {
        if b.median > 0.0 {
            let _ = write!(out, " · {:.2}×", s.median / b.median);
        }
    }
    out
}

fn median_of(s: &Option<Stat>) -> Option<f64> {
    s.map(|s| s.median)
}

/// A series: scenarios that differ only in one dimension.
struct Series<'a> {
    dim: &'static str,
    points: Vec<(usize, &'a ScenarioKey, &'a Vec<BackendSummary>)>,
}

fn dims(k: &ScenarioKey) -> [(&'static str, usize); 3] {
    [
        ("active connections", k.conns),
        ("idle connections", k.idle),
        ("read buffer", k.read_buf),
    ]
}

fn series(summaries: &[(ScenarioKey, Vec<BackendSummary>)]) -> Vec<Series<'_>> {
    let mut out = Vec::new();
    for d in 0..3 {
        let mut groups: Vec<(ScenarioKey, Series)> = Vec::new();
        for (k, list) in summaries {
            // The key with this dimension blanked identifies the series.
            let mut norm = k.clone();
            match d {
                0 => norm.conns = 0,
                1 => norm.idle = 0,
                _ => norm.read_buf = 0,
            }
            let value = dims(k)[d].1;
            match groups.iter_mut().find(|(n, _)| *n == norm) {
                Some((_, s)) => s.points.push((value, k, list)),
                None => groups.push((
                    norm,
                    Series {
                        dim: dims(k)[d].0,
                        points: vec![(value, k, list)],
                    },
                )),
            }
        }
        for (_, mut s) in groups {
            s.points.sort_by_key(|p| p.0);
            s.points.dedup_by_key(|p| p.0);
            if s.points.len() >= 2 {
                out.push(s);
            }
        }
    }
    out
}

fn find<'a>(list: &'a [BackendSummary], backend: &str) -> Option<&'a BackendSummary> {
    list.iter().find(|b| b.backend == backend)
}

/// Findings for one series, from the numbers only.
fn series_findings(s: &Series<'_>) -> Vec<String> {
    let (lo_v, lo_k, lo) = s.points[0];
    let (hi_v, _, hi) = *s.points.last().expect("two points");
    let mut lines = Vec::new();
    let fixed = match s.dim {
        "active connections" => format!("{} idle, read buffer {}", lo_k.idle, lo_k.read_buf),
        "idle connections" => format!("{} active, read buffer {}", lo_k.conns, lo_k.read_buf),
        _ => format!("{} active, {} idle", lo_k.conns, lo_k.idle),
    };
    let mut figure = |label: &str, f: &dyn Fn(&BackendSummary) -> Option<f64>| {
        let parts: Vec<String> = lo
            .iter()
            .filter_map(|a| {
                let b = find(hi, &a.backend)?;
                let (x, y) = (f(a)?, f(b)?);
                (x > 0.0).then(|| {
                    format!(
                        "{} {}× ({} → {})",
                        a.backend,
                        fmt_ratio(y / x),
                        fmt_num(x),
                        fmt_num(y)
                    )
                })
            })
            .collect();
        if !parts.is_empty() {
            lines.push(format!(
                "From {lo_v} to {hi_v} {} ({fixed}): {label} changes {}.",
                s.dim,
                parts.join(", ")
            ));
        }
    };
    figure("server CPU µs per request", &|b| {
        median_of(&b.cpu_us_per_req)
    });
    figure("median throughput (req/s)", &|b| median_of(&b.req_per_s));
    if s.dim == "read buffer" {
        figure("wait calls per request", &|b| median_of(&b.waits_per_req));
        figure("events (wake-ups) per request", &|b| {
            median_of(&b.events_per_req)
        });
        figure("reads per request", &|b| median_of(&b.reads_per_req));
    }
    // Where a backend starts refusing connections along the series (select's FD_SETSIZE).
    for a in lo {
        let refusing: Vec<String> = s
            .points
            .iter()
            .filter_map(|(v, _, list)| {
                let r = median_of(&find(list, &a.backend)?.refused)?;
                (r > 0.0).then(|| format!("{} at {v}", fmt_num(r)))
            })
            .collect();
        if !refusing.is_empty() {
            lines.push(format!(
                "{} refused connections along this series (median per run: {}); its figures there \
                 cover only the connections it kept.",
                a.backend,
                refusing.join(", ")
            ));
        }
    }
    lines
}

fn fmt_ratio(r: f64) -> String {
    if r >= 10.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.2}")
    }
}

/// Findings for one scenario, from the numbers only.
fn scenario_findings(list: &[BackendSummary], baseline: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let best = |f: &dyn Fn(&BackendSummary) -> Option<f64>, highest: bool| {
        list.iter()
            .filter_map(|b| f(b).map(|v| (b, v)))
            .max_by(|x, y| {
                if highest {
                    x.1.total_cmp(&y.1)
                } else {
                    y.1.total_cmp(&x.1)
                }
            })
    };
    let base = find(list, baseline);
    if let Some((b, v)) = best(&|b| median_of(&b.req_per_s), true) {
        lines.push(format!(
            "Highest median throughput: {} ({} req/s).",
            b.backend,
            fmt_num(v)
        ));
    }
    if let Some((b, v)) = best(&|b| median_of(&b.cpu_us_per_req), false) {
        let (w, wv) = best(&|b| median_of(&b.cpu_us_per_req), true).expect("non-empty");
        lines.push(format!(
            "Server CPU per request: lowest {} ({} µs), highest {} ({} µs, {}× the lowest).",
            b.backend,
            fmt_num(v),
            w.backend,
            fmt_num(wv),
            fmt_ratio(wv / v)
        ));
    }
    if base.is_none() {
        lines.push(format!(
            "The baseline {baseline} has no runs here; ratios are omitted."
        ));
    }
    let flagged: usize = list.iter().map(|b| b.flagged).sum();
    let runs: usize = list.iter().map(|b| b.runs).sum();
    if flagged > 0 {
        lines.push(format!(
            "{flagged} of {runs} runs were flagged by the load generator (⚠ column); read their \
             throughput and latency with care, their per-request server costs stand."
        ));
    }
    lines
}

/// The whole report.
pub fn render(rows: &[RunResult], baseline: &str, command: Option<&str>) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# muxbench sweep report\n");
    if rows.is_empty() {
        let _ = writeln!(s, "No runs.");
        return s;
    }
    let first = &rows[0];
    let _ = writeln!(
        s,
        "Machine: {}, {} cores, Linux {}. muxbench {}. {} runs, {} to {}.\n",
        first.cpu_model,
        first.cores,
        first.kernel,
        first.version,
        rows.len(),
        rows.iter()
            .map(|r| r.timestamp.as_str())
            .min()
            .unwrap_or(""),
        rows.iter()
            .map(|r| r.timestamp.as_str())
            .max()
            .unwrap_or("")
    );
    if let Some(c) = command {
        let _ = writeln!(s, "Command: `{c}`\n");
    }
    let _ =
        writeln!(
        s,
        "Settings: warm-up {} s, measured {:.1} s per run, {} worker thread(s), server on CPU {}, \
         workers on CPUs {}.\n",
        first.warmup_s,
        first.measured_s,
        first.threads,
        first.server_cpu.map_or("-".into(), |c| c.to_string()),
        if first.client_cpus.is_empty() { "-" } else { &first.client_cpus }
    );
    let _ = writeln!(
        s,
        "Each cell is the median over repeats; req/s also shows min–max; `· N×` is the ratio to \
         the baseline **{baseline}**. Latency in µs. Server figures are per echoed request over \
         the measured window (warm-up excluded). ⚠ counts runs the load generator flagged \
         (client ≥ 90 % CPU, steal > 5 %, errors, refused connections); they are marked, not \
         hidden.\n"
    );
    let summaries = summarize(rows);
    for (key, list) in &summaries {
        let base = find(list, baseline);
        let _ = writeln!(s, "## {}\n", key.title());
        let _ = writeln!(
            s,
            "| backend | runs | ⚠ | req/s | p50 | p99 | p99.9 | server CPU µs/req | syscalls/req | waits/req | events/req | reads/req | writes/req | events/wait | refused |"
        );
        let _ = writeln!(
            s,
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
        );
        for b in list {
            let bs = |f: &dyn Fn(&BackendSummary) -> Option<Stat>| base.and_then(f);
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                b.backend,
                b.runs,
                if b.flagged > 0 {
                    b.flagged.to_string()
                } else {
                    String::new()
                },
                cell(b.req_per_s, bs(&|x| x.req_per_s), true),
                cell(b.p50, bs(&|x| x.p50), false),
                cell(b.p99, bs(&|x| x.p99), false),
                cell(b.p999, bs(&|x| x.p999), false),
                cell(b.cpu_us_per_req, bs(&|x| x.cpu_us_per_req), false),
                cell(b.syscalls_per_req, bs(&|x| x.syscalls_per_req), false),
                cell(b.waits_per_req, bs(&|x| x.waits_per_req), false),
                cell(b.events_per_req, bs(&|x| x.events_per_req), false),
                cell(b.reads_per_req, bs(&|x| x.reads_per_req), false),
                cell(b.writes_per_req, bs(&|x| x.writes_per_req), false),
                cell(b.events_per_wait, bs(&|x| x.events_per_wait), false),
                b.refused.map_or("–".into(), |r| format!("{:.0}", r.median)),
            );
        }
        let _ = writeln!(s);
        for line in scenario_findings(list, baseline) {
            let _ = writeln!(s, "- {line}");
        }
        let _ = writeln!(s);
    }
    let all_series = series(&summaries);
    if !all_series.is_empty() {
        let _ = writeln!(s, "## Findings across scenarios\n");
        for se in &all_series {
            for line in series_findings(se) {
                let _ = writeln!(s, "- {line}");
            }
        }
        let _ = writeln!(s);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::LoadModel;
    use crate::server::{Protocol, ReadPolicy};

    fn row(backend: &str, idle: usize, rps: f64, cpu: f64) -> RunResult {
        RunResult {
            workload: Protocol::Echo,
            load_model: LoadModel::Closed,
            backend: backend.into(),
            conns: 10,
            idle,
            msg_size: 64,
            read_buf: 16384,
            read_policy: ReadPolicy::Once,
            pipeline: 1,
            req_per_s: rps,
            server_cpu_us_per_req: Some(cpu),
            server_waits_per_req: Some(0.5),
            lat_p99_us: (1000.0 / cpu) as u64,
            ..RunResult::default()
        }
    }

    #[test]
    fn medians_ranges_and_ratios() {
        assert_eq!(
            Stat::of([3.0, 1.0, 2.0]),
            Some(Stat {
                median: 2.0,
                min: 1.0,
                max: 3.0
            })
        );
        assert_eq!(Stat::of([4.0, 1.0, 2.0, 3.0]).unwrap().median, 2.5);
        assert_eq!(Stat::of([f64::NAN]), None);

        let rows = vec![
            row("select", 0, 100.0, 10.0),
            row("epoll-et", 0, 200.0, 5.0),
            row("select", 0, 110.0, 12.0),
            row("epoll-et", 0, 180.0, 6.0),
            row("select", 0, 90.0, 11.0),
            row("epoll-et", 0, 220.0, 5.0),
            row("select", 1000, 50.0, 44.0),
            row("epoll-et", 1000, 200.0, 5.5),
        ];
        let sums = summarize(&rows);
        assert_eq!(sums.len(), 2, "two scenarios (idle 0 and 1000)");
        let (_, list) = &sums[0];
        assert_eq!(
            list[0].backend, "select",
            "report order follows Backend::ALL"
        );
        let sel = &list[0];
        assert_eq!(sel.runs, 3);
        assert_eq!(
            sel.req_per_s,
            Some(Stat {
                median: 100.0,
                min: 90.0,
                max: 110.0
            })
        );
        assert_eq!(sel.cpu_us_per_req.unwrap().median, 11.0);
        let et = &list[1];
        assert_eq!(et.req_per_s.unwrap().median, 200.0);

        let md = render(&rows, "epoll-et", None);
        // select's median req/s 100 with its range and 0.50× the baseline's 200.
        assert!(
            md.contains("| select | 3 |  | 100 (90.0–110) · 0.50× |"),
            "{md}"
        );
        // CPU per request 11 vs 5 → 2.20×.
        assert!(md.contains("11.0 · 2.20×"), "{md}");
        // Across idle 0 → 1000: select 11 → 44 = 4.00×, epoll-et 5 → 5.5 = 1.10×.
        assert!(md.contains("select 4.00× (11.0 → 44.0)"), "{md}");
        assert!(md.contains("epoll-et 1.10× (5.00 → 5.50)"), "{md}");
    }
}
