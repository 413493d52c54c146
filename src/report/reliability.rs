//! The reliability table (`loadgen chaos`) as Markdown.

use crate::record::ReliabilityRow;

fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map_or("–".into(), |v| v.to_string())
}

/// The Markdown table.
pub fn render(
    rows: &[ReliabilityRow],
    command: &str,
    cpu_model: &str,
    cores: usize,
    kernel: &str,
) -> String {
    let mut s = format!(
        "# Reliability\n\nMachine: {}, {} cores, Linux {}. Command: `{command}`\n\n\
         ## Verdicts\n\n\
         | backend | scenario | verdict | alive | peak RSS KiB (bound) | errors | lost/corrupt | p99 µs baseline → chaos (×) | req/s | refused | resets | read pauses |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n",
        cpu_model, cores, kernel
    );
    for r in rows {
        let p99 = match (r.p99_baseline_us, r.p99_us, r.p99_ratio) {
            (Some(b), Some(c), Some(x)) => format!("{b} → {c} ({x:.2}×)"),
            (None, Some(c), _) => c.to_string(),
            _ => "–".into(),
        };
        s.push_str(&format!(
            "| {} | {} | {} | {} | {}{} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.backend,
            r.scenario,
            r.verdict,
            if r.alive { "yes" } else { "no" },
            opt(&r.peak_rss_kib),
            r.rss_bound_kib.map_or(String::new(), |b| format!(" ({b})")),
            opt(&r.errors),
            opt(&r.lost_or_corrupt),
            p99,
            r.req_per_s.map_or("–".into(), |v| format!("{v:.0}")),
            opt(&r.refused),
            opt(&r.resets),
            opt(&r.read_pauses),
        ));
    }
    s.push_str("\nDetails:\n\n");
    for r in rows {
        s.push_str(&format!("- {} / {}: {}\n", r.backend, r.scenario, r.detail));
    }
    s
}
