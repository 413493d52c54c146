//! A scenario's tables in `REPORT.md`, each a list of column specs: the
//! main table (every arm's figures, the ones that carry the comparison with
//! their interval and ratio to the baseline), what the kernel sees, and what
//! each CPU figure includes. A column is a heading and the rule for its
//! cell, so adding a figure is one line, and the heading row, the separator
//! and every arm's row cannot disagree on the number of columns.

use std::fmt::Write;

use super::format::{fmt_estimate, fmt_num, fmt_ratio, fmt_ratio_ci};
use crate::report::summary::{ratio, ArmSummary, Figure};

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

/// What a column shows of an arm.
#[derive(Clone, Copy)]
enum Cell {
    /// The arm's label.
    Arm,
    /// Its number of runs.
    Runs,
    /// Runs the load generator flagged (empty when none).
    Flagged,
    /// Intervals left out of all intervals.
    Excluded,
    /// A figure with its 95 % interval and the ratio's interval to the baseline.
    Compared(Figure),
    /// A figure with the plain ratio to the baseline.
    Figure(Figure),
    /// A figure with the plain ratio, and a share of it in brackets (no ratio).
    WithShare(Figure, Figure),
    /// Refused connections per run, whole.
    Refused,
}

impl Cell {
    fn show(self, b: &ArmSummary, base: Option<&ArmSummary>) -> String {
        match self {
            Cell::Arm => b.arm.clone(),
            Cell::Runs => b.n().to_string(),
            Cell::Flagged if b.flagged > 0 => b.flagged.to_string(),
            Cell::Flagged => String::new(),
            Cell::Excluded if b.intervals > 0 => {
                format!("{}/{}", b.intervals_excluded, b.intervals)
            }
            Cell::Excluded => "–".into(),
            Cell::Compared(f) => cell(b, base, f, true),
            Cell::Figure(f) => cell(b, base, f, false),
            Cell::WithShare(f, share) => format!(
                "{} ({})",
                cell(b, base, f, false),
                b.estimate(share).map_or("–".into(), |e| fmt_num(e.value))
            ),
            Cell::Refused => b
                .estimate(Figure::Refused)
                .map_or("–".into(), |r| format!("{:.0}", r.value)),
        }
    }
}

/// A table: when it is shown, the paragraph before it, and its columns.
struct Table {
    /// Shown when some arm has one of these figures; always when empty.
    shown_if: &'static [Figure],
    /// The paragraph introducing it.
    intro: Option<&'static str>,
    /// Heading and cell of each column.
    columns: &'static [(&'static str, Cell)],
}

const MAIN: Table = Table {
    shown_if: &[],
    intro: None,
    columns: &[
        ("arm", Cell::Arm),
        ("runs", Cell::Runs),
        ("⚠", Cell::Flagged),
        ("excl.", Cell::Excluded),
        ("req/s", Cell::Compared(Figure::ReqPerS)),
        ("p50", Cell::Figure(Figure::P50)),
        ("p99", Cell::Compared(Figure::P99)),
        ("p99.9", Cell::Figure(Figure::P999)),
        ("server CPU µs/req", Cell::Compared(Figure::CpuPerReq)),
        ("syscalls/req", Cell::Figure(Figure::SyscallsPerReq)),
        ("waits/req", Cell::Figure(Figure::WaitsPerReq)),
        ("events/req", Cell::Figure(Figure::EventsPerReq)),
        ("reads/req", Cell::Figure(Figure::ReadsPerReq)),
        ("writes/req", Cell::Figure(Figure::WritesPerReq)),
        ("events/wait", Cell::Figure(Figure::EventsPerWait)),
        ("refused", Cell::Refused),
    ],
};

const KERNEL: Table = Table {
    shown_if: &[Figure::KernelSyscallsPerReq, Figure::RssPerConnKib],
    intro: Some(
        "What the kernel sees (syscalls counted by the server itself and by the kernel, \
         `--count-syscalls`; context switches; RSS growth per connection since before \
         the first connection, KiB):",
    ),
    columns: &[
        ("arm", Cell::Arm),
        ("syscalls/req (own)", Cell::Figure(Figure::SyscallsPerReq)),
        (
            "syscalls/req (kernel)",
            Cell::Figure(Figure::KernelSyscallsPerReq),
        ),
        ("ctx switches/req", Cell::Figure(Figure::CtxSwitchesPerReq)),
        ("RSS/conn KiB", Cell::Figure(Figure::RssPerConnKib)),
    ],
};

const CPU_SCOPES: Table = Table {
    shown_if: &[Figure::MachineCpuPerReq],
    intro: Some(
        "What each figure includes (µs per request): the server process's own CPU time; \
         the busy time of the CPU the server is pinned to, every context (its softirq \
         share in brackets); the whole machine's busy time, every CPU and context. On \
         loopback the receiver's TCP work runs as softirq on the *sender's* CPU, so \
         the process figure holds part of the client's receive path and misses part \
         of its own; the machine figure counts everything once.",
    ),
    columns: &[
        ("arm", Cell::Arm),
        ("server process", Cell::Figure(Figure::CpuPerReq)),
        (
            "server's CPU (softirq)",
            Cell::WithShare(Figure::ServerCoreCpuPerReq, Figure::ServerCoreSoftirqPerReq),
        ),
        (
            "machine (softirq)",
            Cell::WithShare(Figure::MachineCpuPerReq, Figure::MachineSoftirqPerReq),
        ),
    ],
};

/// A scenario's tables, in report order.
const TABLES: [Table; 3] = [MAIN, KERNEL, CPU_SCOPES];

/// `| a | b | … |`
fn row(cells: impl Iterator<Item = String>) -> String {
    format!("| {} |", cells.collect::<Vec<_>>().join(" | "))
}

impl Table {
    fn shown(&self, list: &[ArmSummary]) -> bool {
        self.shown_if.is_empty()
            || self
                .shown_if
                .iter()
                .any(|&f| list.iter().any(|b| b.estimate(f).is_some()))
    }

    fn write(&self, s: &mut String, list: &[ArmSummary], base: Option<&ArmSummary>) {
        if let Some(intro) = self.intro {
            let _ = writeln!(s, "{intro}\n");
        }
        let _ = writeln!(
            s,
            "{}",
            row(self.columns.iter().map(|(h, _)| h.to_string()))
        );
        let _ = writeln!(s, "|{}", "---|".repeat(self.columns.len()));
        for b in list {
            let _ = writeln!(
                s,
                "{}",
                row(self.columns.iter().map(|(_, c)| c.show(b, base)))
            );
        }
        let _ = writeln!(s);
    }
}

/// Write the tables of one scenario that its arms have figures for.
pub fn write_tables(s: &mut String, list: &[ArmSummary], base: Option<&ArmSummary>) {
    for table in TABLES.iter().filter(|t| t.shown(list)) {
        table.write(s, list, base);
    }
}
