//! The opening of `REPORT.md`, before any scenario: the machine and the
//! run's span, the command, the settings every run shared, how the arms took
//! turns, and how to read the tables. Words about the method, kept apart
//! from the per-scenario tables and findings they explain.

use std::fmt::Write;

use crate::record::RunResult;
use crate::stats::median;

/// Machine, command, settings, interleaving and the method, as paragraphs.
pub fn write_preamble(
    s: &mut String,
    rows: &[RunResult],
    left_out: usize,
    baseline: &str,
    command: Option<&str>,
) {
    write_machine(s, rows);
    if let Some(c) = command {
        let _ = writeln!(s, "Command: `{c}`\n");
    }
    write_settings(s, &rows[0]);
    let _ = writeln!(s, "{}", interleave_note(rows, left_out));
    write_how_to_read(s, baseline);
}

fn write_machine(s: &mut String, rows: &[RunResult]) {
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
}

fn write_settings(s: &mut String, first: &RunResult) {
    let intervals = if first.interval_s > 0.0 {
        format!("in {} s intervals", first.interval_s)
    } else if first.interleave == "slices" {
        "(a slice: no intervals within it)".into()
    } else {
        "(recorded before runs were sampled in intervals: whole-window figures)".into()
    };
    let _ = writeln!(
        s,
        "Settings: warm-up {} s, measured {:.1} s per run {intervals}, {} worker thread(s), \
         server on CPU {}, workers on CPUs {}.\n",
        first.warmup_s,
        first.measured_s,
        first.threads,
        first.server_cpu.map_or("-".into(), |c| c.to_string()),
        if first.client_cpus.is_empty() {
            "-"
        } else {
            &first.client_cpus
        }
    );
}

fn write_how_to_read(s: &mut String, baseline: &str) {
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
    let slice = median(&slices).unwrap_or(0.0);
    let limit = rows
        .iter()
        .filter(|r| r.interleave == "slices")
        .map(RunResult::steal_limit)
        .fold(f64::NAN, f64::min);
    format!(
        "Arms interleaved in slices: per scenario every arm's server runs at once (pinned to \
         the server CPU, connected and warmed up), and the load moves between them in slices \
         of {slice:.2} s, in a random order within each cycle; in-flight requests are drained \
         at a slice's edge (not counted in its length). A row — a \"run\" below — is one \
         slice, its `repeat` the cycle, and a ratio pairs the slices of one cycle, at most a \
         cycle apart, so a machine that changes speed every few seconds hits both of its \
         sides. There are no intervals within a slice; instead a cycle in which any slice \
         saw host steal above {limit} % (`--steal-limit`) is left out whole: {left_out} \
         cycle{} here.{}\n",
        if left_out == 1 { "" } else { "s" },
        if slices.len() < rows.len() {
            " (Some rows of this folder were interleaved in rounds.)"
        } else {
            ""
        }
    )
}
