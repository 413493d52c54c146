//! `REPORT.md` from a sweep's rows: the machine and settings, the method,
//! then per scenario one table row per arm (each figure with its 95 %
//! confidence interval over repeats, and as a ratio to a baseline arm with
//! the ratio's interval), and findings generated only from the numbers — a
//! difference only where the ratio's interval excludes 1 (see
//! [`super::summary`] for the method).
//!
//! What the findings are is worked out in [`super::findings`]; the files
//! here put it into Markdown: `format` (numbers), `preamble` (the opening
//! paragraphs), `tables` (a scenario's tables), `verdicts` (findings in
//! words) and `document` (the order of it all).

mod document;
pub(crate) mod format;
mod preamble;
mod tables;
mod verdicts;

pub use super::summary::{summarize, ArmSummary, Estimate, Figure, ScenarioKey};
pub use document::render;
pub use format::method_name;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{LoadModel, RunResult};
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

    #[test]
    fn a_report_whose_every_cycle_saw_steal_says_so() {
        let slice = |arm: &str, rep: usize| RunResult {
            interleave: "slices".into(),
            steal_pct: 12.0,
            steal_limit_pct: Some(5.0),
            ..row(arm, 0, rep, 100.0, 5.0)
        };
        let rows = vec![slice("poll", 1), slice("epoll-et", 1), slice("poll", 2)];
        let md = render(&rows, "epoll-et", None);
        assert!(
            md.contains("all 2 cycles of slices were left out whole")
                && md.contains("more than 5 %")
                && md.contains("The 3 slices are in `runs.csv`"),
            "{md}"
        );
        assert!(render(&[], "epoll-et", None).contains("No runs."));
    }

    #[test]
    fn settings_say_what_a_run_s_figures_are_over() {
        let with = |interval_s: f64| {
            let rows: Vec<RunResult> = (1..=2)
                .map(|k| RunResult {
                    interval_s,
                    ..row("epoll-et", 0, k, 100.0, 5.0)
                })
                .collect();
            render(&rows, "epoll-et", None)
        };
        assert!(with(0.5).contains("per run in 0.5 s intervals"));
        let old = with(0.0);
        assert!(!old.contains("in 0 s intervals"), "{old}");
        assert!(old.contains("whole-window figures"), "{old}");
    }
}
