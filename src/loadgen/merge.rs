//! `loadgen merge`: one result from several load hosts that drove one
//! server over the same window (`--start-at`), each with its own `--json`.
//!
//! - Latency: the hosts' HdrHistograms added (every recorded value counts
//!   once), percentiles read from the sum.
//! - Requests, bytes and errors summed; throughput is the sum of the hosts'
//!   rates, each over its own window (the windows are one window when the
//!   hosts' clocks agree).
//! - The server's figures once, from the hosts' control snapshots
//!   (`--server-control`): from the latest start snapshot to the earliest end
//!   snapshot, i.e. the window every host was measuring, with the requests of
//!   that span estimated from each host's rate.
//! - Client figures per host (the JSON's `hosts`); the merged row has the
//!   client CPU per request over all hosts and the busiest host's CPU share.
//!
//! It refuses windows that do not overlap, results from different servers
//! (their snapshots' `server_id`), and a mix of hosts with and without
//! server snapshots, each with a message that says which and why.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use hdrhistogram::Histogram;

use crate::record::RunResult;
use crate::report::json::{decode_histogram, encode_histogram, FullResult};
use crate::server::Snapshot;

/// Settings of `loadgen merge`.
#[derive(Debug, Clone, Args)]
pub struct MergeArgs {
    /// The load hosts' results (`loadgen --json FILE` on each host), two or more.
    #[arg(required = true, num_args = 2..)]
    pub inputs: Vec<PathBuf>,
    /// Write the merged result (its row, its spectrum, its histogram, each host's row) here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Append the merged row to this runs CSV (the usual schema; `load_hosts` says how many).
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Write the merged latency distribution as an HdrHistogram .hgrm file.
    #[arg(long)]
    pub hgrm: Option<PathBuf>,
}

/// A host's name in messages: its label, else its file.
fn name(r: &RunResult, path: &std::path::Path) -> String {
    r.host_label
        .clone()
        .unwrap_or_else(|| path.display().to_string())
}

fn fmt_unix(t: f64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(t.max(0.0));
    humantime::format_rfc3339_millis(at).to_string()
}

/// Merge the hosts' results (`paths` name them in messages).
pub fn merge(hosts: &[(PathBuf, FullResult)]) -> Result<(FullResult, Histogram<u64>)> {
    if hosts.len() < 2 {
        bail!("merging needs the results of two or more load hosts");
    }
    check_distinct(hosts)?;
    let (h, windows) = merged_histogram(hosts)?;
    let (start, end, mut warnings) = common_window(&windows)?;
    let server = server_span(hosts)?;
    let rows: Vec<&RunResult> = hosts.iter().map(|(_, f)| &f.result).collect();
    let mut r = rows[0].clone();
    sum_counts(&mut r, &rows);
    r.rate_not_met = r.target_rate.map(|t| r.req_per_s < 0.95 * t);
    clear_per_host(&mut r);
    r.mb_per_s = rows.iter().map(|r| r.mb_per_s).sum();
    r.measured_s = end - start;
    crate::loadgen::result::apply_latency(&mut r, &h);
    // Client: CPU per request over all hosts, the busiest host's share.
    let client_us: f64 = rows
        .iter()
        .map(|r| r.client_cpu_us_per_req.unwrap_or(0.0) * r.requests as f64)
        .sum();
    r.client_cpu_us_per_req = (r.requests > 0).then(|| client_us / r.requests as f64);
    r.client_cpu_pct = rows.iter().map(|r| r.client_cpu_pct).fold(0.0, f64::max);
    r.steal_pct = rows.iter().map(|r| r.steal_pct).fold(0.0, f64::max);
    r.host_label = Some(
        windows
            .iter()
            .map(|w| w.0.as_str())
            .collect::<Vec<_>>()
            .join("+"),
    );
    r.load_hosts = Some(hosts.len());
    r.window_start_unix = Some(start);
    r.window_end_unix = Some(end);
    let mut host_warnings: Vec<String> = rows
        .iter()
        .zip(&windows)
        .flat_map(|(r, w)| r.warnings.0.iter().map(move |x| format!("{}: {x}", w.0)))
        .collect();
    warnings.append(&mut host_warnings);
    if let Some((a, b)) = &server {
        let secs = (b.unix_ns.saturating_sub(a.unix_ns)) as f64 / 1e9;
        // The span's requests, each host at its own rate.
        let reqs = (rows.iter().map(|r| r.req_per_s).sum::<f64>() * secs).round() as u64;
        crate::loadgen::result::apply_server_window(&mut r, a, b, reqs, secs);
        r.backend = b.backend.clone();
    }
    r.warnings = crate::record::Warnings(warnings);
    let full = FullResult {
        result: r,
        latency_percentiles: crate::report::json::spectrum_of(&h),
        uncorrected_percentiles: None,
        intervals: Vec::new(),
        histogram: Some(encode_histogram(&h)?),
        server_window: server,
        hosts: rows.into_iter().cloned().collect(),
    };
    Ok((full, h))
}

/// The server's snapshots spanning the window every host measured: the
/// latest start and the earliest end, all from one server.
fn server_span(hosts: &[(PathBuf, FullResult)]) -> Result<Option<(Snapshot, Snapshot)>> {
    let with: Vec<_> = hosts
        .iter()
        .filter_map(|(p, f)| f.server_window.as_ref().map(|w| (name(&f.result, p), w)))
        .collect();
    if with.is_empty() {
        return Ok(None);
    }
    if with.len() < hosts.len() {
        let missing: Vec<String> = hosts
            .iter()
            .filter(|(_, f)| f.server_window.is_none())
            .map(|(p, f)| name(&f.result, p))
            .collect();
        bail!(
            "{} measured without the server's counters (give every host --server-control, or \
             none)",
            missing.join(", ")
        );
    }
    let (first, w0) = &with[0];
    for (who, w) in &with {
        for s in [&w.0, &w.1] {
            if s.server_id != w0.0.server_id {
                bail!(
                    "{first} and {who} measured different servers ({:?} vs {:?}): merge only \
                     the hosts of one run",
                    w0.0.server_id,
                    s.server_id
                );
            }
        }
    }
    let start = with
        .iter()
        .map(|(_, w)| &w.0)
        .max_by_key(|s| s.unix_ns)
        .expect("one or more");
    let end = with
        .iter()
        .map(|(_, w)| &w.1)
        .min_by_key(|s| s.unix_ns)
        .expect("one or more");
    if end.unix_ns <= start.unix_ns {
        bail!(
            "the server's snapshots of the hosts' windows do not overlap: use the same --start-at"
        );
    }
    Ok(Some((start.clone(), end.clone())))
}

/// `loadgen merge`: read, merge, write, print.
pub fn run(a: &MergeArgs) -> Result<RunResult> {
    let hosts = a
        .inputs
        .iter()
        .map(|p| Ok((p.clone(), crate::report::json::read(p)?)))
        .collect::<Result<Vec<_>>>()?;
    let (full, h) = merge(&hosts)?;
    if let Some(p) = &a.json {
        crate::report::json::write_full(p, &full)?;
    }
    if let Some(p) = &a.csv {
        crate::report::csv::append(p, &full.result)?;
    }
    if let Some(p) = &a.hgrm {
        crate::report::hgrm::write_file(p, &h)?;
    }
    Ok(full.result)
}

/// A host's name and its measured window (Unix seconds).
type HostWindow = (String, f64, f64);

/// One host given twice would count its requests twice.
fn check_distinct(hosts: &[(PathBuf, FullResult)]) -> Result<()> {
    for (i, (pa, fa)) in hosts.iter().enumerate() {
        for (pb, fb) in &hosts[..i] {
            let same_label =
                fa.result.host_label.is_some() && fa.result.host_label == fb.result.host_label;
            if pa == pb || same_label {
                bail!(
                    "{} and {} are the same host ({}): give each host's result once, each \
                     host its own --host-label",
                    pb.display(),
                    pa.display(),
                    name(&fa.result, pa)
                );
            }
        }
    }
    Ok(())
}

/// The hosts' latency histograms added into one, and each host's window.
fn merged_histogram(hosts: &[(PathBuf, FullResult)]) -> Result<(Histogram<u64>, Vec<HostWindow>)> {
    let mut merged_h: Option<Histogram<u64>> = None;
    let mut windows = Vec::new();
    for (path, f) in hosts {
        let who = name(&f.result, path);
        let text = f.histogram.as_deref().with_context(|| {
            format!("{who}: the result has no histogram (written by an older loadgen?)")
        })?;
        let h = decode_histogram(text).with_context(|| who.clone())?;
        match &mut merged_h {
            None => merged_h = Some(h),
            Some(m) => m
                .add(&h)
                .map_err(|e| anyhow::anyhow!("{who}: adding its histogram: {e:?}"))?,
        }
        let (Some(a), Some(b)) = (f.result.window_start_unix, f.result.window_end_unix) else {
            bail!("{who}: the result has no window times (written by an older loadgen?)");
        };
        windows.push((who, a, b));
    }
    Ok((merged_h.expect("two or more hosts"), windows))
}

/// The span every host measured in, and a warning when it is much shorter
/// than the longest host's window.
fn common_window(windows: &[HostWindow]) -> Result<(f64, f64, Vec<String>)> {
    let start = windows.iter().map(|w| w.1).fold(f64::MIN, f64::max);
    let end = windows.iter().map(|w| w.2).fold(f64::MAX, f64::min);
    if end <= start {
        let list: Vec<String> = windows
            .iter()
            .map(|(w, a, b)| format!("{w} {}–{}", fmt_unix(*a), fmt_unix(*b)))
            .collect();
        bail!(
            "the measured windows do not overlap ({}): run every host with the same --start-at, \
             and check that their clocks agree",
            list.join(", ")
        );
    }
    let longest = windows.iter().map(|w| w.2 - w.1).fold(0.0, f64::max);
    let mut warnings = Vec::new();
    if end - start < 0.9 * longest {
        warnings.push(format!(
            "the hosts' windows overlap for {:.2} s of {:.2} s: their clocks or start times differ",
            end - start,
            longest
        ));
    }

    Ok((start, end, warnings))
}

/// Counts add up over the hosts.
fn sum_counts(r: &mut RunResult, rows: &[&RunResult]) {
    let sum = |f: &dyn Fn(&RunResult) -> u64| rows.iter().map(|r| f(r)).sum::<u64>();
    r.requests = sum(&|r| r.requests);
    r.errors = sum(&|r| r.errors);
    r.err_corrupt = sum(&|r| r.err_corrupt);
    r.err_late = sum(&|r| r.err_late);
    r.err_missing = sum(&|r| r.err_missing);
    r.err_closed_by_server = sum(&|r| r.err_closed_by_server);
    r.err_connect = sum(&|r| r.err_connect);
    r.err_duplicated = sum(&|r| r.err_duplicated);
    r.err_reordered = sum(&|r| r.err_reordered);
    r.connected = rows.iter().map(|r| r.connected).sum();
    r.connected_idle = rows.iter().map(|r| r.connected_idle).sum();
    r.conns = rows.iter().map(|r| r.conns).sum();
    r.idle = rows.iter().map(|r| r.idle).sum();
    r.req_per_s = rows.iter().map(|r| r.req_per_s).sum();
    let sum_opt =
        |f: &dyn Fn(&RunResult) -> Option<u64>| rows.iter().map(|r| f(r)).sum::<Option<u64>>();
    r.unsent = sum_opt(&|r| r.unsent);
    r.lines_sent = sum_opt(&|r| r.lines_sent);
    r.foreign_lines = sum_opt(&|r| r.foreign_lines);
    r.target_rate = rows.iter().map(|r| r.target_rate).sum::<Option<f64>>();
}

/// Figures that are each host's own (kept in `hosts`), not a property of
/// the sum: self-check, per-interval medians, uncorrected percentiles.
fn clear_per_host(r: &mut RunResult) {
    r.uncorrected_p50_us = None;
    r.uncorrected_p99_us = None;
    r.send_rate = None;
    r.send_lag_p50_us = None;
    r.send_lag_p99_us = None;
    r.send_fit_d = None;
    r.send_fit_p = None;
    r.lat_autocorr = None;
    r.lat_stride = None;
    r.lat_independent_n = None;
    r.needed_s = None;
    r.p99_ci_lo_us = None;
    r.p99_ci_hi_us = None;
    r.verdict = String::new();
    r.req_per_s_med_lo = None;
    r.req_per_s_med_hi = None;
    r.server_cpu_us_per_req_med_lo = None;
    r.server_cpu_us_per_req_med_hi = None;
    r.probe_us = None;
    r.probe_iqr_us = None;
    r.intervals = 0;
    r.intervals_excluded = 0;
    r.intervals_client_limited = 0;
    r.req_per_s_med = None;
    r.req_per_s_iqr = None;
    r.lat_p99_med_us = None;
    r.lat_p99_iqr_us = None;
    r.server_cpu_us_per_req_med = None;
    r.server_cpu_us_per_req_iqr = None;
    r.server_syscalls_per_req_med = None;
    r.server_syscalls_kernel_per_req = None;
}
