//! What a sweep's numbers say, before any words are put to them: which
//! scenarios form a series (differ in one dimension only), which arm is the
//! baseline, each arm's ratio to the baseline or to its own other scenario
//! with the ratio's interval, where arms refused connections, and the A/A
//! check of arms of one backend. Kept apart from [`crate::report::markdown`]
//! so the verdicts can be read (and tested) without the sentences around them.

use crate::report::summary::{ratio, ArmSummary, Figure, ScenarioKey};
use crate::stats::Interval;

/// One arm's figure against a reference (the baseline arm, or the same arm
/// in the series' first scenario).
#[derive(Debug, Clone)]
pub struct Comparison {
    /// The arm compared.
    pub arm: String,
    /// The reference's value.
    pub from: f64,
    /// The arm's value.
    pub to: f64,
    /// `to / from` with its 95 % interval, when the runs give one.
    pub ci: Option<Interval>,
    /// The plain ratio, when the reference is positive.
    pub plain: Option<f64>,
}

impl Comparison {
    /// The ratio's interval excludes 1: a difference the report may state.
    pub fn significant(&self) -> bool {
        self.ci.is_some_and(|ci| ci.excludes(1.0))
    }
}

/// Figure `f` of `b` against `a`, when both have it.
fn compare(a: &ArmSummary, b: &ArmSummary, f: Figure) -> Option<Comparison> {
    let (x, y) = (a.estimate(f)?, b.estimate(f)?);
    Some(Comparison {
        arm: b.arm.clone(),
        from: x.value,
        to: y.value,
        ci: ratio(a, b, f).map(|(ci, _)| ci),
        plain: (x.value > 0.0).then(|| y.value / x.value),
    })
}

/// The arm named `arm` in `list`.
pub fn find<'a>(list: &'a [ArmSummary], arm: &str) -> Option<&'a ArmSummary> {
    list.iter().find(|b| b.arm == arm)
}

/// The baseline arm: the one named, or its first arm when it runs as several.
pub fn find_baseline<'a>(list: &'a [ArmSummary], baseline: &str) -> Option<&'a ArmSummary> {
    find(list, baseline).or_else(|| find(list, &format!("{baseline}#1")))
}

/// One scenario's arms against its baseline.
#[derive(Debug)]
pub struct ScenarioFindings<'a> {
    /// The baseline arm; `None` when it has no runs here (nothing else is found then).
    pub base: Option<&'a ArmSummary>,
    /// Per figure, every other arm against the baseline.
    pub figures: Vec<(Figure, Vec<Comparison>)>,
    /// Runs the load generator flagged.
    pub flagged: usize,
    /// All runs.
    pub runs: usize,
}

/// The figures every scenario compares with its baseline.
const SCENARIO_FIGURES: [Figure; 3] = [Figure::CpuPerReq, Figure::ReqPerS, Figure::P99];

/// One scenario's arms against its baseline.
pub fn scenario_findings<'a>(list: &'a [ArmSummary], baseline: &str) -> ScenarioFindings<'a> {
    let Some(base) = find_baseline(list, baseline) else {
        return ScenarioFindings {
            base: None,
            figures: Vec::new(),
            flagged: 0,
            runs: 0,
        };
    };
    let figures = SCENARIO_FIGURES
        .iter()
        .map(|&f| {
            let parts = list
                .iter()
                .filter(|a| a.arm != base.arm)
                .filter_map(|a| compare(base, a, f))
                .collect();
            (f, parts)
        })
        .collect();
    ScenarioFindings {
        base: Some(base),
        figures,
        flagged: list.iter().map(|b| b.flagged).sum(),
        runs: list.iter().map(ArmSummary::n).sum(),
    }
}

/// A series: scenarios that differ only in one dimension.
pub struct Series<'a> {
    /// The dimension that varies, in words (`"active connections"`, …).
    pub dim: &'static str,
    /// (value of the dimension, scenario, its arms), ascending.
    pub points: Vec<(usize, &'a ScenarioKey, &'a Vec<ArmSummary>)>,
}

fn dims(k: &ScenarioKey) -> [(&'static str, usize); 3] {
    [
        ("active connections", k.conns),
        ("idle connections", k.idle),
        ("read buffer", k.read_buf),
    ]
}

/// Every series of at least two scenarios, per dimension in turn.
pub fn series(summaries: &[(ScenarioKey, Vec<ArmSummary>)]) -> Vec<Series<'_>> {
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

/// An arm refusing connections along a series (select's `FD_SETSIZE`).
#[derive(Debug)]
pub struct Refusal {
    /// The arm.
    pub arm: String,
    /// (value of the dimension, refusals per run) where it refused any.
    pub at: Vec<(usize, f64)>,
}

/// One series: each arm's last scenario against its first.
#[derive(Debug)]
pub struct SeriesFindings {
    /// Per figure, every arm of the first scenario against itself in the last.
    pub figures: Vec<(Figure, Vec<Comparison>)>,
    /// Arms that refused connections somewhere along the series.
    pub refusals: Vec<Refusal>,
}

/// The figures a series compares: CPU and throughput, and along read-buffer
/// sizes also the calls that the buffer size changes.
fn series_figures(dim: &str) -> Vec<Figure> {
    let mut figures = vec![Figure::CpuPerReq, Figure::ReqPerS];
    if dim == "read buffer" {
        figures.extend([
            Figure::WaitsPerReq,
            Figure::EventsPerReq,
            Figure::ReadsPerReq,
        ]);
    }
    figures
}

/// One series: each arm's last scenario against its first, and its refusals.
pub fn series_findings(s: &Series<'_>) -> SeriesFindings {
    let (_, _, lo) = s.points[0];
    let (_, _, hi) = *s.points.last().expect("two points");
    let figures = series_figures(s.dim)
        .into_iter()
        .map(|f| {
            let parts = lo
                .iter()
                .filter_map(|a| compare(a, find(hi, &a.arm)?, f))
                .collect();
            (f, parts)
        })
        .collect();
    let refusals = lo
        .iter()
        .map(|a| Refusal {
            arm: a.arm.clone(),
            at: s
                .points
                .iter()
                .filter_map(|(v, _, list)| {
                    let r = find(list, &a.arm)?.estimate(Figure::Refused)?.value;
                    (r > 0.0).then_some((*v, r))
                })
                .collect(),
        })
        .filter(|r| !r.at.is_empty())
        .collect();
    SeriesFindings { figures, refusals }
}

/// A difference the A/A check found between two arms of one backend.
#[derive(Debug)]
pub struct AaHit {
    /// The later arm (`name#2`, …).
    pub arm: String,
    /// The first arm (`name#1`).
    pub first: String,
    /// The figure.
    pub figure: Figure,
    /// The scenario's title.
    pub scenario: String,
    /// The ratio with its interval (which excludes 1).
    pub ci: Interval,
}

/// The A/A check: how many comparisons were made, and which came out significant.
#[derive(Debug)]
pub struct AaCheck {
    /// Per-cell comparisons made.
    pub tested: usize,
    /// Those the method calls significant.
    pub significant: Vec<AaHit>,
}

/// A/A: arms of one backend (`name#1`, `name#2`, …) compared with the first,
/// in every scenario; `None` when no backend runs as several arms.
pub fn aa_check(summaries: &[(ScenarioKey, Vec<ArmSummary>)]) -> Option<AaCheck> {
    let mut check = AaCheck {
        tested: 0,
        significant: Vec::new(),
    };
    for (key, list) in summaries {
        for a in list.iter().filter(|a| a.arm.ends_with("#1")) {
            let stem = a.arm.trim_end_matches("#1");
            for b in list
                .iter()
                .filter(|b| b.arm != a.arm && b.arm.split('#').next() == Some(stem))
            {
                for f in [Figure::CpuPerReq, Figure::ReqPerS] {
                    if let Some((ci, _)) = ratio(a, b, f) {
                        check.tested += 1;
                        if ci.excludes(1.0) {
                            check.significant.push(AaHit {
                                arm: b.arm.clone(),
                                first: a.arm.clone(),
                                figure: f,
                                scenario: key.title(),
                                ci,
                            });
                        }
                    }
                }
            }
        }
    }
    (check.tested > 0).then_some(check)
}
