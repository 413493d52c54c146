//! Resuming a sweep. A sweep's folder records its plan (`plan.json`: the
//! settings that decide every run, the interleaving, and the cells with
//! their arms — with `--rates auto`, the rates found). Started again on a
//! folder with the same plan, a sweep runs only the runs missing, in the
//! same order; a different plan is refused with what differs named, and
//! `--fresh` moves the earlier files aside first.
//! What an interrupted sweep left half-done is set aside first
//! ([`super::leftovers`]).

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::args::{Interleave, RateArg, SweepArgs};
use super::arm::{parse_arm_spec, Arm, ArmSpec};
use super::leftovers::{self, Done};
use super::matrix::{Cell, Scenario};
use crate::backend::Backend;
use crate::loadgen::args::Repeat;
use crate::report;

/// The plan a sweep's folder records.
pub const PLAN_FILE: &str = "plan.json";
/// The format of `plan.json`.
const PLAN_VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
struct Plan {
    /// The format of this file ([`PLAN_VERSION`]).
    version: u32,
    /// What decides every run, by setting.
    settings: Map<String, Value>,
    /// `slices` or `rounds`.
    interleave: String,
    /// The cells in the order they run.
    cells: Vec<PlannedCell>,
}

#[derive(Debug, Serialize, Deserialize)]
struct PlannedCell {
    conns: usize,
    idle: usize,
    msg_size: usize,
    read_buf: usize,
    rate: Option<f64>,
    /// `(backend with its features, label)` of each arm.
    arms: Vec<(String, String)>,
}

/// How a sweep starts on its folder.
pub(super) enum Start {
    /// Nothing to resume: plan, prepare and run everything.
    Fresh,
    /// The folder's plan, and what it already holds of it.
    Resume {
        cells: Vec<Cell>,
        interleave: Interleave,
        done: Done,
    },
}

/// Everything that decides a sweep's runs (not where it writes, nor the
/// report's baseline), by setting name.
pub(super) fn settings(a: &SweepArgs) -> Result<Map<String, Value>> {
    let probe = Scenario {
        conns: 0,
        idle: 0,
        msg_size: 0,
        read_buf: 0,
        rate: None,
    };
    let Value::Object(mut m) = serde_json::to_value(a.run_args(Backend::EpollEt, probe))? else {
        bail!("a run's settings are not a JSON object");
    };
    // What the matrix varies, and where a run's files go.
    for per_run in [
        "backend",
        "conns",
        "idle",
        "msg_size",
        "read_buf",
        "rate",
        "csv",
        "no_csv",
        "json",
        "hgrm",
        "hlog",
        "intervals",
        "quiet",
        "max_repeat",
    ] {
        m.remove(per_run);
    }
    let rates: Vec<String> = a
        .rates
        .iter()
        .map(|r| match r {
            RateArg::At(x) => x.to_string(),
            RateArg::Auto => "auto".into(),
        })
        .collect();
    let sweep = serde_json::json!({
        "preset": a.preset.map(|p| format!("{p:?}").to_lowercase()),
        "backends": a.backends.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "conns": a.conns,
        "idle": a.idle,
        "msg_size": a.msg_size,
        "read_buf": a.read_buf,
        "rates": rates,
        // As given on the command line: `3` or `auto`.
        "repeat": match a.repeat {
            Repeat::Fixed(n) => n.to_string(),
            Repeat::Auto => "auto".into(),
        },
        "max_repeat": a.max_repeat,
        "slo": a.slo.as_secs_f64(),
        "interleave": a.interleave.map(Interleave::name),
        "slice": a.slice.as_secs_f64(),
    });
    if let Value::Object(s) = sweep {
        m.extend(s);
    }
    Ok(m)
}

/// Record the plan in `out` (before the first run).
pub(super) fn write_plan(
    out: &Path,
    settings: Map<String, Value>,
    interleave: Interleave,
    cells: &[Cell],
) -> Result<()> {
    let plan = Plan {
        version: PLAN_VERSION,
        settings,
        interleave: interleave.name().into(),
        cells: cells
            .iter()
            .map(|c| PlannedCell {
                conns: c.scenario.conns,
                idle: c.scenario.idle,
                msg_size: c.scenario.msg_size,
                read_buf: c.scenario.read_buf,
                rate: c.scenario.rate,
                arms: c
                    .arms
                    .iter()
                    .map(|a| {
                        let spec = ArmSpec {
                            backend: a.backend,
                            features: a.features,
                        };
                        (spec.to_string(), a.label.clone())
                    })
                    .collect(),
            })
            .collect(),
    };
    let text = serde_json::to_string_pretty(&plan)? + "\n";
    report::write_atomic(&out.join(PLAN_FILE), text.as_bytes())
}

/// How the sweep of `a` starts on its folder: fresh (an empty or new
/// folder, or `--fresh` after moving the earlier files aside), or resumed
/// (the same plan); a folder holding another plan, or rows with no plan, is
/// refused. `max_rep`: the most rounds a cell gets.
pub(super) fn open(a: &SweepArgs, max_rep: usize) -> Result<Start> {
    let out = &a.out;
    if a.fresh {
        if let Some(moved) = leftovers::move_aside(out)? {
            eprintln!("--fresh: the earlier files are in {}", moved.display());
        }
        return Ok(Start::Fresh);
    }
    let plan_path = out.join(PLAN_FILE);
    if !plan_path.exists() {
        if out.join("runs.csv").exists() {
            bail!(
                "{} holds runs.csv but no {PLAN_FILE} (rows of an older loadgen, or of \
                 something else): it cannot be resumed; give --fresh to move its files aside, \
                 or another --out",
                out.display()
            );
        }
        return Ok(Start::Fresh);
    }
    let text = std::fs::read_to_string(&plan_path)
        .with_context(|| format!("reading {}", plan_path.display()))?;
    let plan: Plan = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a sweep plan this loadgen can read; give --fresh to move the folder's \
             files aside, or another --out",
            plan_path.display()
        )
    })?;
    if plan.version != PLAN_VERSION {
        bail!(
            "{} is format {} (this loadgen writes {PLAN_VERSION}); give --fresh or another --out",
            plan_path.display(),
            plan.version
        );
    }
    let diffs = differences(&plan.settings, &settings(a)?);
    if !diffs.is_empty() {
        bail!(
            "{} holds another sweep ({}); give the same settings to resume it, --fresh to move \
             its files aside, or another --out",
            out.display(),
            diffs.join("; ")
        );
    }
    let cells = plan_cells(&plan)?;
    let interleave = match plan.interleave.as_str() {
        "slices" => Interleave::Slices,
        "rounds" => Interleave::Rounds,
        other => bail!("{}: unknown interleave {other:?}", plan_path.display()),
    };
    let per = cycles_per_repeat(a, interleave);
    let done = leftovers::repair(out, &cells, interleave, max_rep * per)?;
    Ok(Start::Resume {
        cells,
        interleave,
        done,
    })
}

/// How many rows an arm gets per `--repeat`: cycles of slices, or one run.
pub(super) fn cycles_per_repeat(a: &SweepArgs, interleave: Interleave) -> usize {
    match interleave {
        Interleave::Rounds => 1,
        Interleave::Slices => (a.duration.as_secs_f64() / a.slice.as_secs_f64())
            .ceil()
            .max(1.0) as usize,
    }
}

/// The settings that differ, as `--flag: then → now`.
fn differences(then: &Map<String, Value>, now: &Map<String, Value>) -> Vec<String> {
    let keys: std::collections::BTreeSet<&String> = then.keys().chain(now.keys()).collect();
    keys.into_iter()
        .filter(|k| then.get(*k) != now.get(*k))
        .map(|k| {
            let show = |v: Option<&Value>| match v {
                None | Some(Value::Null) => "not given".to_string(),
                Some(Value::String(s)) => s.clone(),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                    .collect::<Vec<_>>()
                    .join(","),
                Some(v) => v.to_string(),
            };
            format!(
                "--{}: {} in its plan, {} now",
                k.replace('_', "-"),
                show(then.get(k)),
                show(now.get(k))
            )
        })
        .collect()
}

fn plan_cells(plan: &Plan) -> Result<Vec<Cell>> {
    plan.cells
        .iter()
        .map(|c| {
            let arms = c
                .arms
                .iter()
                .map(|(spec, label)| {
                    let spec =
                        parse_arm_spec(spec).map_err(|e| anyhow::anyhow!("{PLAN_FILE}: {e}"))?;
                    Ok(Arm {
                        backend: spec.backend,
                        features: spec.features,
                        label: label.clone(),
                    })
                })
                .collect::<Result<_>>()?;
            Ok(Cell {
                scenario: Scenario {
                    conns: c.conns,
                    idle: c.idle,
                    msg_size: c.msg_size,
                    read_buf: c.read_buf,
                    rate: c.rate,
                },
                arms,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_different_plan_is_named_flag_by_flag() {
        let mut then = Map::new();
        then.insert("duration".into(), serde_json::json!(2.0));
        then.insert("backends".into(), serde_json::json!(["poll", "epoll-et"]));
        then.insert("interleave".into(), Value::Null);
        let mut now = then.clone();
        assert!(differences(&then, &now).is_empty());
        now.insert("duration".into(), serde_json::json!(1.0));
        now.insert("backends".into(), serde_json::json!(["poll"]));
        now.insert("interleave".into(), serde_json::json!("rounds"));
        assert_eq!(
            differences(&then, &now),
            [
                "--backends: poll,epoll-et in its plan, poll now",
                "--duration: 2.0 in its plan, 1.0 now",
                "--interleave: not given in its plan, rounds now",
            ]
        );
    }
}
