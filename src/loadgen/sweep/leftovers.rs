//! What an interrupted sweep leaves in its folder, and what a resumed one
//! does with it: rows of whole runs of the plan are kept, per cell and arm;
//! a row cut off mid-write goes to [`TORN_FILE`]; a cycle of slices that
//! not every arm finished, a row twice, or a row of no planned run goes to
//! [`SET_ASIDE_FILE`] — set aside, never built on. `--fresh` moves a whole
//! folder's files aside instead.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::args::Interleave;
use super::matrix::Cell;
use crate::record::RunResult;
use crate::report;

/// Rows of an interrupted sweep that a resumed one set aside.
pub const SET_ASIDE_FILE: &str = "set-aside.csv";
/// A last row cut off mid-write, set aside as it was.
pub const TORN_FILE: &str = "runs.csv.torn";
/// Rows already measured, per cell and arm (in the plan's order).
pub(super) type Done = Vec<Vec<Vec<RunResult>>>;

/// No rows yet, shaped like `cells`.
pub(super) fn nothing_done(cells: &[Cell]) -> Done {
    cells
        .iter()
        .map(|c| vec![Vec::new(); c.arms.len()])
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
pub(super) fn repair(
    out: &Path,
    cells: &[Cell],
    interleave: Interleave,
    most: usize,
) -> Result<Done> {
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
pub(super) fn move_aside(out: &Path) -> Result<Option<PathBuf>> {
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
    use crate::loadgen::sweep::matrix::Scenario;

    fn cell(conns: usize) -> Cell {
        Cell {
            scenario: Scenario {
                conns,
                idle: 0,
                msg_size: 64,
                read_buf: 16384,
                rate: None,
            },
            arms: super::super::arm::arms(&[Backend::Poll.into(), Backend::EpollEt.into()]),
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
