//! `REPORT.md` from a sweep's rows: the machine and settings, the method,
//! then per scenario one table row per arm (each figure with its 95 %
//! confidence interval over repeats, and as a ratio to a baseline arm with
//! the ratio's interval), and findings generated only from the numbers — a
//! difference only where the ratio's interval excludes 1 (see
//! [`super::summary`] for the method).

use std::fmt::Write;

use super::summary::{ratio, RatioMethod};
pub use super::summary::{summarize, ArmSummary, Estimate, Figure, ScenarioKey};
use crate::record::RunResult;
use crate::stats::Interval;

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

fn fmt_ci(lo: f64, hi: f64) -> String {
    format!("{}–{}", fmt_num(lo), fmt_num(hi))
}

/// `value (lo–hi)`; no interval for one run or non-positive values.
fn fmt_estimate(e: &Estimate) -> String {
    match e.ci {
        Some((lo, hi)) => format!("{} ({})", fmt_num(e.value), fmt_ci(lo, hi)),
        None => fmt_num(e.value),
    }
}

/// A ratio with its interval, `✱` when significant (three decimals below
/// 10×, so a narrow interval near 1 does not print as 1.00–1.00).
fn fmt_ratio_ci(r: &Interval) -> String {
    let f = |x: f64| {
        if r.estimate >= 10.0 {
            format!("{x:.0}")
        } else {
            format!("{x:.3}")
        }
    };
    format!(
        "{}×{} ({}–{})",
        f(r.estimate),
        if r.excludes(1.0) { "✱" } else { "" },
        f(r.lo),
        f(r.hi)
    )
}

fn fmt_ratio(r: f64) -> String {
    if r >= 10.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.2}")
    }
}

/// A table cell: the estimate, and with a baseline the ratio to it (with its
/// interval for the figures that carry the comparison).
fn cell(arm: &ArmSummary, base: Option<&ArmSummary>, f: Figure, with_ci: bool) -> String {
    let Some(e) = arm.estimate(f) else {
        return "–".into();
    };
    let mut out = if with_ci {
        fmt_estimate(&e)
    } else {
        fmt_num(e.value)
    };
    if let Some(b) = base.filter(|b| b.arm != arm.arm) {
        if with_ci {
            if let Some((r, _)) = ratio(b, arm, f) {
                let _ = write!(out, " · {}", fmt_ratio_ci(&r));
                return out;
            }
        }
        if let Some(be) = b.estimate(f).filter(|be| be.value > 0.0) {
            let _ = write!(out, " · {}×", fmt_ratio(e.value / be.value));
        }
    }
    out
}

/// A series: scenarios that differ only in one dimension.
struct Series<'a> {
    dim: &'static str,
    points: Vec<(usize, &'a ScenarioKey, &'a Vec<ArmSummary>)>,
}

fn dims(k: &ScenarioKey) -> [(&'static str, usize); 3] {
    [
        ("active connections", k.conns),
        ("idle connections", k.idle),
        ("read buffer", k.read_buf),
    ]
}

fn series(summaries: &[(ScenarioKey, Vec<ArmSummary>)]) -> Vec<Series<'_>> {
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

fn find<'a>(list: &'a [ArmSummary], arm: &str) -> Option<&'a ArmSummary> {
    list.iter().find(|b| b.arm == arm)
}

/// The baseline arm: the one named, or its first arm when it runs as several.
fn find_baseline<'a>(list: &'a [ArmSummary], baseline: &str) -> Option<&'a ArmSummary> {
    find(list, baseline).or_else(|| find(list, &format!("{baseline}#1")))
}

/// "select 4.00×✱ (3.61–4.43)" parts, significant first, or the plain ratio
/// when there is no interval.
fn ratio_parts(
    pairs: impl Iterator<Item = (String, Option<Interval>, Option<f64>)>,
) -> (Vec<String>, Vec<String>) {
    let (mut sig, mut not) = (Vec::new(), Vec::new());
    for (name, ci, plain) in pairs {
        match (ci, plain) {
            (Some(ci), _) if ci.excludes(1.0) => sig.push(format!("{name} {}", fmt_ratio_ci(&ci))),
            (Some(ci), _) => not.push(format!("{name} {}", fmt_ratio_ci(&ci))),
            (None, Some(r)) => not.push(format!("{name} {}× (one run: no interval)", fmt_ratio(r))),
            (None, None) => {}
        }
    }
    (sig, not)
}

/// `head` followed by the significant parts, then the others, each group
/// introduced by its words; `None` when there are no parts.
fn verdict_line(
    head: String,
    sig: &[String],
    not: &[String],
    (sig_words, not_words): (&str, &str),
) -> Option<String> {
    if sig.is_empty() && not.is_empty() {
        return None;
    }
    let mut line = head;
    if !sig.is_empty() {
        let _ = write!(line, " {sig_words} {}", sig.join(", "));
    }
    if !not.is_empty() {
        let sep = if sig.is_empty() { "" } else { ";" };
        let _ = write!(line, "{sep} {not_words} {}", not.join(", "));
    }
    line.push('.');
    Some(line)
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
    let mut figure = |f: Figure| {
        let parts = lo.iter().filter_map(|a| {
            let b = find(hi, &a.arm)?;
            let (x, y) = (a.estimate(f)?, b.estimate(f)?);
            let ci = ratio(a, b, f).map(|(ci, _)| ci);
            let plain = (x.value > 0.0).then(|| y.value / x.value);
            Some((
                format!("{} ({} → {})", a.arm, fmt_num(x.value), fmt_num(y.value)),
                ci,
                plain,
            ))
        });
        let (sig, not) = ratio_parts(parts);
        lines.extend(verdict_line(
            format!("From {lo_v} to {hi_v} {} ({fixed}), {}:", s.dim, f.label()),
            &sig,
            &not,
            ("changes significantly for", "no significant change for"),
        ));
    };
    figure(Figure::CpuPerReq);
    figure(Figure::ReqPerS);
    if s.dim == "read buffer" {
        figure(Figure::WaitsPerReq);
        figure(Figure::EventsPerReq);
        figure(Figure::ReadsPerReq);
    }
    // Where an arm starts refusing connections along the series (select's FD_SETSIZE).
    for a in lo {
        let refusing: Vec<String> = s
            .points
            .iter()
            .filter_map(|(v, _, list)| {
                let r = find(list, &a.arm)?.estimate(Figure::Refused)?.value;
                (r > 0.0).then(|| format!("{} at {v}", fmt_num(r)))
            })
            .collect();
        if !refusing.is_empty() {
            lines.push(format!(
                "{} refused connections along this series (per run: {}); its figures there \
                 cover only the connections it kept.",
                a.arm,
                refusing.join(", ")
            ));
        }
    }
    lines
}

/// Findings for one scenario, from the numbers only.
fn scenario_findings(list: &[ArmSummary], baseline: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let Some(base) = find_baseline(list, baseline) else {
        lines.push(format!(
            "The baseline {baseline} has no runs here; ratios and significance are omitted."
        ));
        return lines;
    };
    for f in [Figure::CpuPerReq, Figure::ReqPerS, Figure::P99] {
        let parts = list.iter().filter(|a| a.arm != base.arm).filter_map(|a| {
            let (x, y) = (base.estimate(f)?, a.estimate(f)?);
            let ci = ratio(base, a, f).map(|(ci, _)| ci);
            Some((
                a.arm.clone(),
                ci,
                (x.value > 0.0).then(|| y.value / x.value),
            ))
        });
        let (sig, not) = ratio_parts(parts);
        lines.extend(verdict_line(
            format!("{} relative to {}:", f.label(), base.arm),
            &sig,
            &not,
            ("significant for", "no significant difference for"),
        ));
    }
    let flagged: usize = list.iter().map(|b| b.flagged).sum();
    let runs: usize = list.iter().map(ArmSummary::n).sum();
    if flagged > 0 {
        lines.push(format!(
            "{flagged} of {runs} runs were flagged by the load generator (⚠ column); read their \
             throughput and latency with care, their per-request server costs stand."
        ));
    }
    lines
}

/// A/A: arms of one backend (`name#1`, `name#2`, …) compared with the first,
/// in every scenario: how often the method calls a difference significant.
fn aa_check(summaries: &[(ScenarioKey, Vec<ArmSummary>)]) -> Option<String> {
    let mut tested = 0;
    let mut significant = Vec::new();
    for (key, list) in summaries {
        for a in list.iter().filter(|a| a.arm.ends_with("#1")) {
            let stem = a.arm.trim_end_matches("#1");
            for b in list
                .iter()
                .filter(|b| b.arm != a.arm && b.arm.split('#').next() == Some(stem))
            {
                for f in [Figure::CpuPerReq, Figure::ReqPerS] {
                    if let Some((ci, _)) = ratio(a, b, f) {
                        tested += 1;
                        if ci.excludes(1.0) {
                            significant.push(format!(
                                "{} vs {} {} in {}: {}",
                                b.arm,
                                a.arm,
                                f.label(),
                                key.title(),
                                fmt_ratio_ci(&ci)
                            ));
                        }
                    }
                }
            }
        }
    }
    if tested == 0 {
        return None;
    }
    let mut s = format!(
        "## A/A check\n\nArms of the same backend compared ({} per-cell comparisons of server CPU \
         per request and req/s): **{} significant** ({:.0} %; at a 5 % level about {:.1} are \
         expected by chance).\n",
        tested,
        significant.len(),
        100.0 * significant.len() as f64 / tested as f64,
        0.05 * tested as f64
    );
    for line in significant {
        let _ = writeln!(s, "\n- {line}");
    }
    Some(s)
}

/// The whole report.
pub fn render(rows: &[RunResult], baseline: &str, command: Option<&str>) -> String {
    let (kept, left_out) = super::slices::kept(rows);
    let rows = &kept[..];
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
        "Settings: warm-up {} s, measured {:.1} s per run in {} s intervals, {} worker thread(s), \
         server on CPU {}, workers on CPUs {}.\n",
        first.warmup_s,
        first.measured_s,
        first.interval_s,
        first.threads,
        first.server_cpu.map_or("-".into(), |c| c.to_string()),
        if first.client_cpus.is_empty() { "-" } else { &first.client_cpus }
    );
    let _ = writeln!(s, "{}", interleave_note(rows, left_out));
    let _ = writeln!(
        s,
        "How to read it: each run's value is its median over the measured intervals the \
         interval rule kept (steal > 5 %, a CPU-speed shift seen by the calibration probe, \
         stalls and short intervals are left out; the `excl.` column counts them). Each cell \
         is the geometric mean over repeats with its 95 % confidence interval in brackets \
         (Student-t interval on log values); `· r×` is the ratio to the baseline **{baseline}** \
         — for req/s, p99 and server CPU with its 95 % interval, from the runs of the same \
         round paired (t-interval on log ratios; Welch's when unpaired). `✱` marks a \
         significant difference: the ratio's interval excludes 1. Findings state a difference \
         only when it is significant. With 3–5 repeats a bootstrap interval is [min, max] \
         (about 75 % coverage), which is why the t-interval is used. Latency in µs; server \
         figures per echoed request over the measured window. ⚠ counts runs the load \
         generator flagged (client ≥ 90 % CPU, steal, errors, refusals, left-out intervals); \
         they are marked, not hidden.\n"
    );
    let summaries = summarize(rows);
    for (key, list) in &summaries {
        let base = find_baseline(list, baseline);
        let _ = writeln!(s, "## {}\n", key.title());
        let _ = writeln!(
            s,
            "| arm | runs | ⚠ | excl. | req/s | p50 | p99 | p99.9 | server CPU µs/req | syscalls/req | waits/req | events/req | reads/req | writes/req | events/wait | refused |"
        );
        let _ = writeln!(
            s,
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
        );
        for b in list {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                b.arm,
                b.n(),
                if b.flagged > 0 {
                    b.flagged.to_string()
                } else {
                    String::new()
                },
                if b.intervals > 0 {
                    format!("{}/{}", b.intervals_excluded, b.intervals)
                } else {
                    "–".into()
                },
                cell(b, base, Figure::ReqPerS, true),
                cell(b, base, Figure::P50, false),
                cell(b, base, Figure::P99, true),
                cell(b, base, Figure::P999, false),
                cell(b, base, Figure::CpuPerReq, true),
                cell(b, base, Figure::SyscallsPerReq, false),
                cell(b, base, Figure::WaitsPerReq, false),
                cell(b, base, Figure::EventsPerReq, false),
                cell(b, base, Figure::ReadsPerReq, false),
                cell(b, base, Figure::WritesPerReq, false),
                cell(b, base, Figure::EventsPerWait, false),
                b.estimate(Figure::Refused)
                    .map_or("–".into(), |r| format!("{:.0}", r.value)),
            );
        }
        let _ = writeln!(s);
        let kernel_seen = |f: Figure| list.iter().any(|b| b.estimate(f).is_some());
        if kernel_seen(Figure::KernelSyscallsPerReq) || kernel_seen(Figure::RssPerConnKib) {
            let _ = writeln!(
                s,
                "What the kernel sees (syscalls counted by the server itself and by the kernel, \
                 `--count-syscalls`; context switches; RSS growth per connection since before \
                 the first connection, KiB):\n"
            );
            let _ = writeln!(
                s,
                "| arm | syscalls/req (own) | syscalls/req (kernel) | ctx switches/req | RSS/conn KiB |"
            );
            let _ = writeln!(s, "|---|---|---|---|---|");
            for b in list {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} |",
                    b.arm,
                    cell(b, base, Figure::SyscallsPerReq, false),
                    cell(b, base, Figure::KernelSyscallsPerReq, false),
                    cell(b, base, Figure::CtxSwitchesPerReq, false),
                    cell(b, base, Figure::RssPerConnKib, false),
                );
            }
            let _ = writeln!(s);
        }
        if list
            .iter()
            .any(|b| b.estimate(Figure::MachineCpuPerReq).is_some())
        {
            let _ = writeln!(
                s,
                "What each figure includes (µs per request): the server process's own CPU time; \
                 the busy time of the CPU the server is pinned to, every context (its softirq \
                 share in brackets); the whole machine's busy time, every CPU and context. On \
                 loopback the receiver's TCP work runs as softirq on the *sender's* CPU, so \
                 the process figure holds part of the client's receive path and misses part \
                 of its own; the machine figure counts everything once.\n"
            );
            let _ = writeln!(
                s,
                "| arm | server process | server's CPU (softirq) | machine (softirq) |"
            );
            let _ = writeln!(s, "|---|---|---|---|");
            for b in list {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} ({}) | {} ({}) |",
                    b.arm,
                    cell(b, base, Figure::CpuPerReq, false),
                    cell(b, base, Figure::ServerCoreCpuPerReq, false),
                    b.estimate(Figure::ServerCoreSoftirqPerReq)
                        .map_or("–".into(), |e| fmt_num(e.value)),
                    cell(b, base, Figure::MachineCpuPerReq, false),
                    b.estimate(Figure::MachineSoftirqPerReq)
                        .map_or("–".into(), |e| fmt_num(e.value)),
                );
            }
            let _ = writeln!(s);
        }
        for line in scenario_findings(list, baseline) {
            let _ = writeln!(s, "- {line}");
        }
        let _ = writeln!(s);
    }
    let all_series = series(&summaries);
    if !all_series.is_empty() {
        let _ = writeln!(s, "## Findings across scenarios\n");
        let _ = writeln!(
            s,
            "Ratios between two scenarios of one arm pair the runs of the same round.\n"
        );
        for se in &all_series {
            for line in series_findings(se) {
                let _ = writeln!(s, "- {line}");
            }
        }
        let _ = writeln!(s);
    }
    if let Some(aa) = aa_check(&summaries) {
        let _ = writeln!(s, "{aa}");
    }
    s
}

/// How the rows' arms took turns, one paragraph.
fn interleave_note(rows: &[RunResult], left_out: usize) -> String {
    let slices: Vec<f64> = rows
        .iter()
        .filter(|r| r.interleave == "slices")
        .map(|r| r.measured_s)
        .collect();
    if slices.is_empty() {
        return "Arms interleaved in rounds: each round runs every scenario once on every arm \
                (a whole run each: warm-up, then the measured window), and a ratio pairs the \
                runs of one round.\n"
            .into();
    }
    let slice = crate::stats::median(&slices).unwrap_or(0.0);
    format!(
        "Arms interleaved in slices: per scenario every arm's server runs at once (pinned to \
         the server CPU, connected and warmed up), and the load moves between them in slices \
         of {slice:.2} s, in a random order within each cycle; in-flight requests are drained \
         at a slice's edge (not counted in its length). A row — a \"run\" below — is one \
         slice, its `repeat` the cycle, and a ratio pairs the slices of one cycle, at most a \
         cycle apart, so a machine that changes speed every few seconds hits both of its \
         sides. There are no intervals within a slice; instead a cycle in which any slice \
         saw host steal above {:.0} % is left out whole: {left_out} cycle{} here.{}\n",
        crate::stats::STEAL_LIMIT_PCT,
        if left_out == 1 { "" } else { "s" },
        if slices.len() < rows.len() {
            " (Some rows of this folder were interleaved in rounds.)"
        } else {
            ""
        }
    )
}

/// How a ratio was computed, for a caller that states it.
pub fn method_name(m: RatioMethod) -> &'static str {
    match m {
        RatioMethod::Paired => "paired t-interval on log ratios",
        RatioMethod::Welch => "Welch t-interval on log means",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::LoadModel;
    use crate::server::{Protocol, ReadPolicy};

    fn row(arm: &str, idle: usize, rep: usize, rps: f64, cpu: f64) -> RunResult {
        let (backend, arm_col) = match arm.split_once('#') {
            Some((b, _)) => (b.to_string(), arm.to_string()),
            None => (arm.to_string(), String::new()),
        };
        RunResult {
            workload: Protocol::Echo,
            load_model: LoadModel::Closed,
            backend,
            arm: arm_col,
            repeat: Some(rep),
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
    fn estimates_intervals_and_significance() {
        let rows = vec![
            row("select", 0, 1, 100.0, 10.0),
            row("epoll-et", 0, 1, 200.0, 5.0),
            row("select", 0, 2, 110.0, 12.0),
            row("epoll-et", 0, 2, 180.0, 6.0),
            row("select", 0, 3, 90.0, 11.0),
            row("epoll-et", 0, 3, 220.0, 5.0),
            row("select", 1000, 1, 50.0, 44.0),
            row("epoll-et", 1000, 1, 200.0, 5.5),
        ];
        let sums = summarize(&rows);
        assert_eq!(sums.len(), 2, "two scenarios (idle 0 and 1000)");
        let (_, list) = &sums[0];
        assert_eq!(list[0].arm, "select", "report order follows Backend::ALL");
        let cpu = list[0].estimate(Figure::CpuPerReq).unwrap();
        // Geometric mean of 10, 12, 11 and the t-interval on its logs.
        let logs = [10f64.ln(), 12f64.ln(), 11f64.ln()];
        let mean = logs.iter().sum::<f64>() / 3.0;
        assert!((cpu.value - mean.exp()).abs() < 1e-9);
        let (lo, hi) = cpu.ci.unwrap();
        assert!(lo < 10.5 && hi > 11.5 && lo > 7.0 && hi < 16.0, "{lo} {hi}");

        let md = render(&rows, "epoll-et", None);
        // select needs about twice the CPU per request in every round: significant.
        assert!(
            md.contains(
                "server CPU µs per request relative to epoll-et: significant for select 2.0"
            ),
            "{md}"
        );
        // One run at idle 1000: no interval, and it is said.
        assert!(md.contains("one run: no interval"), "{md}");
        assert!(md.contains("| select | 3 |"), "{md}");
    }

    #[test]
    fn overlapping_repeats_are_no_significant_difference() {
        // The noise is as large as the difference: the interval of the ratio spans 1.
        let rows = vec![
            row("poll", 0, 1, 100.0, 5.0),
            row("epoll-et", 0, 1, 100.0, 6.0),
            row("poll", 0, 2, 100.0, 6.0),
            row("epoll-et", 0, 2, 100.0, 5.0),
            row("poll", 0, 3, 100.0, 5.6),
            row("epoll-et", 0, 3, 100.0, 5.4),
        ];
        let md = render(&rows, "epoll-et", None);
        assert!(
            md.contains("server CPU µs per request relative to epoll-et: no significant difference for poll"),
            "{md}"
        );
        assert!(!md.contains("significant for poll"), "{md}");
    }

    #[test]
    fn aa_arms_are_compared_and_counted() {
        let mut rows = Vec::new();
        for rep in 1..=3 {
            let jitter = [1.0, 1.03, 0.98][rep - 1];
            rows.push(row("epoll-et#1", 0, rep, 100.0 * jitter, 5.0 * jitter));
            rows.push(row("epoll-et#2", 0, rep, 101.0 / jitter, 5.1 / jitter));
        }
        let md = render(&rows, "epoll-et", None);
        // The baseline named without `#` is its first arm.
        assert!(md.contains("relative to epoll-et#1"), "{md}");
        assert!(md.contains("## A/A check"), "{md}");
        assert!(md.contains("(2 per-cell comparisons"), "{md}");
        assert!(md.contains("| epoll-et#2 | 3 |"), "{md}");
    }
}
