//! A folder's claims, computed from its rows (the keys: see the module above).

use std::fmt::Write;

use anyhow::{anyhow, bail, Result};

use crate::record::{LoadModel, RunResult};
use crate::report::markdown::format::{fmt_estimate, fmt_num, fmt_ratio_ci};
use crate::report::summary::{ratio, summarize, ArmSummary, Figure, ScenarioKey};
use crate::server::{Protocol, ReadPolicy};

/// Short names of the figures a key may name.
pub const FIGURES: [(&str, Figure); 19] = [
    ("rps", Figure::ReqPerS),
    ("p50", Figure::P50),
    ("p99", Figure::P99),
    ("p999", Figure::P999),
    ("cpu", Figure::CpuPerReq),
    ("syscalls", Figure::SyscallsPerReq),
    ("waits", Figure::WaitsPerReq),
    ("reads", Figure::ReadsPerReq),
    ("writes", Figure::WritesPerReq),
    ("events-per-wait", Figure::EventsPerWait),
    ("events", Figure::EventsPerReq),
    ("refused", Figure::Refused),
    ("kernel-syscalls", Figure::KernelSyscallsPerReq),
    ("ctxsw", Figure::CtxSwitchesPerReq),
    ("rss-per-conn", Figure::RssPerConnKib),
    ("machine-cpu", Figure::MachineCpuPerReq),
    ("machine-softirq", Figure::MachineSoftirqPerReq),
    ("core-cpu", Figure::ServerCoreCpuPerReq),
    ("core-softirq", Figure::ServerCoreSoftirqPerReq),
];

/// A scenario's id in keys.
pub fn scenario_id(k: &ScenarioKey) -> String {
    let mut s = format!("c{}-i{}-m{}-b{}", k.conns, k.idle, k.msg_size, k.read_buf);
    if k.pipeline != 1 {
        let _ = write!(s, "-p{}", k.pipeline);
    }
    if let (LoadModel::Open, Some(r)) = (k.load_model, k.target_rate) {
        let _ = write!(s, "-o{r}");
    }
    if k.workload == Protocol::Chat {
        s.push_str("-chat");
    }
    if k.read_policy == ReadPolicy::Drain {
        s.push_str("-drain");
    }
    s
}

/// A count as a whole number (thousands grouped), anything else as the
/// report writes it.
fn fmt_whole(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1000.0 {
        format!("{x:.0}")
    } else {
        fmt_num(x)
    }
}

/// A folder's rows, summarised once, for any number of claims.
pub struct Source {
    rows: Vec<RunResult>,
    summaries: Vec<(ScenarioKey, Vec<ArmSummary>)>,
}

impl Source {
    /// From a sweep's rows (the report's rule for sliced cycles applied).
    pub fn new(rows: &[RunResult]) -> Source {
        let (kept, _) = crate::report::slices::kept(rows);
        Source {
            summaries: summarize(&kept),
            rows: rows.to_vec(),
        }
    }

    /// The rows a claim's folder names: `DIR/runs.csv`, or a CSV named directly.
    pub fn rows_file(path: &std::path::Path) -> std::path::PathBuf {
        if path.extension().is_some_and(|e| e == "csv") {
            path.to_path_buf()
        } else {
            path.join("runs.csv")
        }
    }

    /// From [`Source::rows_file`] of `path`.
    pub fn load(path: &std::path::Path) -> Result<Source> {
        Ok(Source::new(&crate::report::csv::read(&Source::rows_file(
            path,
        ))?))
    }

    /// The value of `key`, ratios against `baseline`.
    pub fn value(&self, key: &str, baseline: &str) -> Result<String> {
        match key {
            "runs" => return Ok(fmt_whole(self.rows.len() as f64)),
            "scenarios" => return Ok(self.summaries.len().to_string()),
            "arms" => return Ok(self.arm_labels().len().to_string()),
            "rounds" => return self.rounds(),
            "minutes" => return self.minutes(),
            _ => {}
        }
        let mut parts = key.splitn(3, '/');
        let (Some(fig), Some(scn), Some(arm)) = (parts.next(), parts.next(), parts.next()) else {
            bail!("{key:?} is not a claim (see `loadgen claims DIR` for the keys)");
        };
        let (name, kind) = match fig.rsplit_once('-') {
            Some((n, k @ ("ratio" | "range" | "change"))) => (n, k),
            _ => (fig, ""),
        };
        let figure = FIGURES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| *f)
            .ok_or_else(|| anyhow!("{key:?}: no figure {name:?}"))?;
        if kind == "change" {
            let (a, b) = scn
                .split_once("..")
                .ok_or_else(|| anyhow!("{key:?}: a change names two scenarios, SCN..SCN2"))?;
            let from = self.arm(a, arm)?;
            let to = self.arm(b, arm)?;
            let (ci, _) = ratio(from, to, figure)
                .ok_or_else(|| anyhow!("{key:?}: too few runs for a ratio"))?;
            return Ok(fmt_ratio_ci(&ci));
        }
        let summary = self.arm(scn, arm)?;
        match kind {
            "ratio" => {
                let base = self.arm(scn, &self.baseline_label(scn, baseline)?)?;
                let (ci, _) = ratio(base, summary, figure)
                    .ok_or_else(|| anyhow!("{key:?}: too few runs for a ratio"))?;
                Ok(fmt_ratio_ci(&ci))
            }
            "range" => {
                let v: Vec<f64> = summary
                    .runs
                    .iter()
                    .filter_map(|(_, r)| figure.value(r))
                    .collect();
                let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                if v.is_empty() {
                    bail!("{key:?}: not measured");
                }
                Ok(if lo == hi {
                    fmt_whole(lo)
                } else {
                    format!("{}–{}", fmt_whole(lo), fmt_whole(hi))
                })
            }
            _ => summary
                .estimate(figure)
                .map(|e| fmt_estimate(&e))
                .ok_or_else(|| anyhow!("{key:?}: not measured")),
        }
    }

    /// Every key this folder offers (changes between scenarios aside: any
    /// two scenarios of one arm make one), with its value.
    pub fn list(&self, baseline: &str) -> Vec<(String, String)> {
        let mut keys: Vec<String> = ["runs", "scenarios", "arms", "rounds", "minutes"]
            .map(String::from)
            .to_vec();
        for (k, arms) in &self.summaries {
            let scn = scenario_id(k);
            for a in arms {
                for (name, _) in FIGURES {
                    for kind in ["", "-ratio", "-range"] {
                        keys.push(format!("{name}{kind}/{scn}/{}", a.arm));
                    }
                }
            }
        }
        keys.into_iter()
            .filter_map(|k| self.value(&k, baseline).ok().map(|v| (k, v)))
            .collect()
    }

    fn scenario(&self, scn: &str) -> Result<&[ArmSummary]> {
        self.summaries
            .iter()
            .find(|(k, _)| scenario_id(k) == scn)
            .map(|(_, arms)| &arms[..])
            .ok_or_else(|| anyhow!("no scenario {scn:?} in these runs"))
    }

    fn arm(&self, scn: &str, arm: &str) -> Result<&ArmSummary> {
        self.scenario(scn)?
            .iter()
            .find(|a| a.arm == arm)
            .ok_or_else(|| anyhow!("no arm {arm:?} in scenario {scn:?}"))
    }

    /// The baseline as the report resolves it (`epoll-et` is `epoll-et#1`
    /// when the arm ran twice).
    fn baseline_label(&self, scn: &str, baseline: &str) -> Result<String> {
        crate::report::findings::find_baseline(self.scenario(scn)?, baseline)
            .map(|a| a.arm.clone())
            .ok_or_else(|| anyhow!("no baseline {baseline:?} in scenario {scn:?}"))
    }

    fn arm_labels(&self) -> std::collections::BTreeSet<&str> {
        self.summaries
            .iter()
            .flat_map(|(_, arms)| arms.iter().map(|a| a.arm.as_str()))
            .collect()
    }

    fn rounds(&self) -> Result<String> {
        let n = self
            .summaries
            .iter()
            .flat_map(|(_, a)| a.iter().map(ArmSummary::n));
        let (lo, hi) = n.fold((usize::MAX, 0), |(lo, hi), n| (lo.min(n), hi.max(n)));
        if hi == 0 {
            bail!("no runs");
        }
        Ok(if lo == hi {
            lo.to_string()
        } else {
            format!("{lo} to {hi}")
        })
    }

    /// From the first run's start (its end less its warm-up and window) to
    /// the last run's end, in whole minutes.
    fn minutes(&self) -> Result<String> {
        let at = |r: &RunResult| {
            humantime::parse_rfc3339_weak(&r.timestamp)
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_secs_f64())
        };
        let ends: Vec<(f64, &RunResult)> = self
            .rows
            .iter()
            .filter_map(|r| at(r).map(|t| (t, r)))
            .collect();
        let first = ends
            .iter()
            .map(|(t, r)| t - r.warmup_s - r.measured_s)
            .fold(f64::INFINITY, f64::min);
        let last = ends
            .iter()
            .map(|(t, _)| *t)
            .fold(f64::NEG_INFINITY, f64::max);
        if ends.is_empty() {
            bail!("no run has a timestamp");
        }
        Ok(format!("{:.0}", (last - first) / 60.0))
    }
}
