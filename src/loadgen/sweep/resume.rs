//! Resuming a sweep. A sweep's folder records its plan (`plan.json`: the
//! settings that decide every run, the interleaving, and the cells with
//! their arms — with `--rates auto`, the rates found). Started again on a
//! folder with the same plan, a sweep runs only the runs missing, in the
//! same order; a different plan is refused with what differs named, and
//! `--fresh` moves the earlier files aside first.
//!
//! What an interrupted sweep may have left half-done is set aside before a
//! resume, never built on: a row cut off mid-write (`runs.csv.torn`), a
//! cycle of slices that not every arm finished, a row twice or of no
//! planned run (`set-aside.csv`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::args::{Interleave, RateArg, SweepArgs};
use super::matrix::{Arm, Cell, Scenario};
use crate::backend::Backend;
use crate::record::RunResult;
use crate::report;

/// The plan a sweep's folder records.
pub const PLAN_FILE: &str = "plan.json";
/// Rows of an interrupted sweep that a resumed one set aside.
pub const SET_ASIDE_FILE: &str = "set-aside.csv";
/// A last row cut off mid-write, set aside as it was.
pub const TORN_FILE: &str = "runs.csv.torn";
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
    /// `(backend, label)` of each arm.
    arms: Vec<(String, String)>,
}

/// Rows already measured, per cell and arm (in the plan's order).
pub(super) type Done = Vec<Vec<Vec<RunResult>>>;

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

/// No rows yet, shaped like `cells`.
pub(super) fn nothing_done(cells: &[Cell]) -> Done {
    cells
        .iter()
        .map(|c| vec![Vec::new(); c.arms.len()])
        .collect()
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
        "backends": a.backends.iter().map(|b| b.name()).collect::<Vec<_>>(),
        "conns": a.conns,
        "idle": a.idle,
        "msg_size": a.msg_size,
        "read_buf": a.read_buf,
        "rates": rates,
        "repeat": format!("{:?}", a.repeat),
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
                    .map(|a| (a.backend.name().to_string(), a.label.clone()))
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
        if let Some(moved) = move_aside(out)? {
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
    let done = repair(out, &cells, interleave, max_rep * per)?;
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
                .map(|(backend, label)| {
                    let backend: Backend = backend
                        .parse()
                        .map_err(|e| anyhow::anyhow!("{PLAN_FILE}: {e}"))?;
                    Ok(Arm {
                        backend,
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

/// Which cell and arm a row is a run of.
fn place(cells: &[Cell], r: &RunResult) -> Option<(usize, usize)> {
    cells.iter().enumerate().find_map(|(ci, c)| {
        let s = c.scenario;
        let same = (s.conns, s.idle, s.msg_size, s.read_buf)
            == (r.conns, r.idle, r.msg_size, r.read_buf)
            && s.rate.map(f64::to_bits) == r.target_rate.map(f64::to_bits);
        let arm = c.arms.iter().position(|a| a.label == r.arm_label())?;
        same.then_some((ci, arm))
    })
}

/// Make `out/runs.csv` hold only whole runs of the plan, and return them per
/// cell and arm: a torn last line is moved to [`TORN_FILE`]; rows of no
/// planned run, a run's second row, and (slices) the rows of a cycle not
/// every arm of its cell finished go to [`SET_ASIDE_FILE`].
fn repair(out: &Path, cells: &[Cell], interleave: Interleave, most: usize) -> Result<Done> {
    let runs = out.join("runs.csv");
    let mut done = nothing_done(cells);
    if !runs.exists() {
        return Ok(done);
    }
    cut_torn_line(&runs)?;
    let rows = report::csv::read_rows(&runs)
        .with_context(|| format!("{} cannot be resumed", out.display()))?;
    let mut kept = Vec::new();
    let mut aside = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for r in rows {
        let planned =
            place(cells, &r).filter(|_| r.repeat.is_some_and(|k| (1..=most).contains(&k)));
        match planned {
            Some((ci, arm)) if seen.insert((ci, arm, r.repeat)) => kept.push(((ci, arm), r)),
            _ => aside.push(r),
        }
    }
    if interleave == Interleave::Slices {
        // A cycle counts when every arm of its cell has its slice.
        let mut arms_in: BTreeMap<(usize, Option<usize>), usize> = BTreeMap::new();
        for ((ci, _), r) in &kept {
            *arms_in.entry((*ci, r.repeat)).or_default() += 1;
        }
        let (whole, partial) = kept
            .into_iter()
            .partition(|((ci, _), r)| arms_in[&(*ci, r.repeat)] == cells[*ci].arms.len());
        kept = whole;
        aside.extend(partial.into_iter().map(|(_, r)| r));
    }
    if !aside.is_empty() {
        for r in &aside {
            report::csv::append(&out.join(SET_ASIDE_FILE), r)?;
        }
        let rows: Vec<RunResult> = kept.iter().map(|(_, r)| r.clone()).collect();
        report::csv::rewrite(&runs, &rows)?;
        eprintln!(
            "resuming: {} row(s) of unfinished or unplanned runs moved to {}",
            aside.len(),
            out.join(SET_ASIDE_FILE).display()
        );
    }
    for ((ci, arm), r) in kept {
        done[ci][arm].push(r);
    }
    for arms in &mut done {
        for rows in arms {
            rows.sort_by_key(|r| r.repeat);
        }
    }
    Ok(done)
}

/// A last line with no newline is a row cut off mid-write: move it to
/// [`TORN_FILE`] and truncate `runs` after the last whole line.
fn cut_torn_line(runs: &Path) -> Result<()> {
    let bytes = std::fs::read(runs).with_context(|| format!("reading {}", runs.display()))?;
    if bytes.is_empty() || bytes.ends_with(b"\n") {
        return Ok(());
    }
    let whole = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let torn = runs.with_file_name(TORN_FILE);
    let mut line = bytes[whole..].to_vec();
    line.push(b'\n');
    super::output::append(&torn, &String::from_utf8_lossy(&line))?;
    std::fs::OpenOptions::new()
        .write(true)
        .open(runs)
        .and_then(|f| f.set_len(whole as u64))
        .with_context(|| format!("truncating {}", runs.display()))?;
    eprintln!(
        "resuming: the last row of {} was cut off mid-write; it is in {}",
        runs.display(),
        torn.display()
    );
    Ok(())
}

/// `--fresh`: move everything in `out` (but earlier moves) into
/// `out/previous-<time>/`; the folder it made, if there was anything.
fn move_aside(out: &Path) -> Result<Option<PathBuf>> {
    let Ok(entries) = std::fs::read_dir(out) else {
        return Ok(None); // no folder yet
    };
    let entries: Vec<_> = entries
        .filter_map(|e| e.ok())
        .filter(|e| !e.file_name().to_string_lossy().starts_with("previous-"))
        .collect();
    if entries.is_empty() {
        return Ok(None);
    }
    let mut name = String::from("previous-");
    let _ = write!(name, "{}", crate::loadgen::now_rfc3339().replace(':', ""));
    let to = out.join(name);
    std::fs::create_dir(&to).with_context(|| format!("creating {}", to.display()))?;
    for e in entries {
        std::fs::rename(e.path(), to.join(e.file_name()))
            .with_context(|| format!("moving {} aside", e.path().display()))?;
    }
    Ok(Some(to))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Backend;

    fn cell(conns: usize) -> Cell {
        Cell {
            scenario: Scenario {
                conns,
                idle: 0,
                msg_size: 64,
                read_buf: 16384,
                rate: None,
            },
            arms: super::super::matrix::arms(&[Backend::Poll, Backend::EpollEt]),
        }
    }

    fn row(backend: &str, conns: usize, repeat: usize) -> RunResult {
        RunResult {
            backend: backend.into(),
            conns,
            msg_size: 64,
            read_buf: 16384,
            repeat: Some(repeat),
            interleave: "slices".into(),
            ..RunResult::default()
        }
    }

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

    #[test]
    fn repair_keeps_whole_cycles_of_the_plan_and_sets_the_rest_aside() {
        let dir = tempfile::tempdir().unwrap();
        let runs = dir.path().join("runs.csv");
        let cells = [cell(4), cell(8)];
        let rows = [
            row("poll", 4, 1),
            row("epoll-et", 4, 1),
            row("epoll-et", 4, 1), // twice
            row("poll", 4, 2),     // its cycle's other slice is missing
            row("poll", 8, 1),
            row("epoll-et", 8, 1),
            row("select", 8, 1),   // no such arm
            row("poll", 16, 1),    // no such cell
            row("epoll-et", 8, 9), // beyond the planned cycles
        ];
        report::csv::append_all(&runs, &rows).unwrap();
        // A last row cut off mid-write.
        super::super::output::append(&runs, "2026-12-05T00:00:00Z,echo,po").unwrap();
        let done = repair(dir.path(), &cells, Interleave::Slices, 4).unwrap();
        let count: Vec<Vec<usize>> = done
            .iter()
            .map(|arms| arms.iter().map(Vec::len).collect())
            .collect();
        assert_eq!(count, [[1, 1], [1, 1]]);
        assert_eq!(report::csv::read(&runs).unwrap().len(), 4);
        let aside = report::csv::read(&dir.path().join(SET_ASIDE_FILE)).unwrap();
        assert_eq!(aside.len(), 5);
        let torn = std::fs::read_to_string(dir.path().join(TORN_FILE)).unwrap();
        assert_eq!(torn, "2026-12-05T00:00:00Z,echo,po\n");
        // Nothing left to set aside: a second repair changes nothing.
        let again = repair(dir.path(), &cells, Interleave::Slices, 4).unwrap();
        assert_eq!(again.iter().flatten().map(Vec::len).sum::<usize>(), 4);
        assert_eq!(
            report::csv::read(&dir.path().join(SET_ASIDE_FILE))
                .unwrap()
                .len(),
            5
        );
    }

    #[test]
    fn in_rounds_a_lone_run_counts() {
        let dir = tempfile::tempdir().unwrap();
        let runs = dir.path().join("runs.csv");
        let mut lone = row("poll", 4, 2);
        lone.interleave = "rounds".into();
        report::csv::append(&runs, &lone).unwrap();
        let done = repair(dir.path(), &[cell(4)], Interleave::Rounds, 3).unwrap();
        assert_eq!(done[0][0].len(), 1);
        assert!(done[0][1].is_empty());
    }

    #[test]
    fn fresh_moves_everything_but_earlier_moves_aside() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("runs.csv"), "x\n").unwrap();
        std::fs::create_dir(dir.path().join("hgrm")).unwrap();
        std::fs::create_dir(dir.path().join("previous-1")).unwrap();
        let to = move_aside(dir.path()).unwrap().unwrap();
        assert!(to.join("runs.csv").exists() && to.join("hgrm").is_dir());
        let left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with("previous-"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
        assert!(dir.path().join("previous-1").is_dir());
        assert!(
            move_aside(dir.path()).unwrap().is_none(),
            "nothing more to move"
        );
    }
}
