//! The figures of a sweep's page, from its rows: the paired ratios to the
//! baseline (what every comparison rests on), the figures against the
//! dimension the scenarios vary in (client-bound points hollow), latency
//! against offered load for open-loop curves, and the latency spectrum
//! where the runs' `.hgrm` files are at hand.

use std::collections::BTreeMap;
use std::path::Path;

use super::Figure;
use crate::record::RunResult;
use crate::report::capacity::{curves, Point as CurvePoint, CLIENT_LIMIT};
use crate::report::findings::{scenario_findings, series, Series as FSeries};
use crate::report::summary::{summarize, ArmSummary, Estimate, Figure as Fig, ScenarioKey};
use crate::report::svg::chart::{Axis, Chart, Point, Series};
use crate::report::svg::forest::{Forest, Row};
use crate::report::{hgrm, slices};

/// A run the load generator's own CPU limited: its throughput and latency
/// are the client's, not the server's.
pub fn client_bound(r: &RunResult) -> bool {
    r.warnings.any_contains("load generator at")
}

/// The dimensions a scenario has, as (name, value).
fn dims(k: &ScenarioKey) -> [(&'static str, String); 7] {
    [
        ("workload", k.workload.to_string()),
        ("conns", k.conns.to_string()),
        ("idle", k.idle.to_string()),
        ("msg", k.msg_size.to_string()),
        ("read buffer", k.read_buf.to_string()),
        ("pipeline", k.pipeline.to_string()),
        ("policy", k.read_policy.to_string()),
    ]
}

/// A short name for each scenario: only what differs between them.
fn short_names(keys: &[&ScenarioKey]) -> Vec<String> {
    let all: Vec<_> = keys.iter().map(|k| dims(k)).collect();
    let varies = |i: usize| all.iter().any(|d| d[i].1 != all[0][i].1);
    keys.iter()
        .zip(&all)
        .map(|(k, d)| {
            let mut parts: Vec<String> = (0..d.len())
                .filter(|i| varies(*i))
                .map(|i| match d[i].0 {
                    "conns" => format!("{} conns", d[i].1),
                    "idle" => format!("{} idle", d[i].1),
                    "msg" => format!("{} B", d[i].1),
                    "pipeline" => format!("pipeline {}", d[i].1),
                    name => format!("{name} {}", d[i].1),
                })
                .collect();
            if let Some(r) = k.target_rate {
                parts.push(format!("{r:.0} msg/s"));
            }
            if parts.is_empty() {
                "all runs".to_string()
            } else {
                parts.join(" · ")
            }
        })
        .collect()
}

/// Every figure of a sweep's page. `dir`: the sweep's folder (for its
/// `.hgrm` files), when the rows came from one.
pub fn sweep_figures(rows: &[RunResult], baseline: &str, dir: Option<&Path>) -> Vec<Figure> {
    let (kept, _) = slices::kept(rows);
    let summaries = summarize(&kept);
    if summaries.is_empty() {
        return Vec::new();
    }
    let mut out = ratio_figures(&summaries, baseline);
    if kept.iter().any(|r| r.target_rate.is_some()) {
        out.extend(load_figures(&kept, dir.and_then(client_capacity)));
    } else {
        out.extend(dimension_figures(&summaries));
    }
    if let Some(dir) = dir {
        out.extend(spectra(&summaries, dir));
    }
    out
}

const RATIO_FIGURES: [(Fig, &str, &str); 3] = [
    (Fig::CpuPerReq, "cpu_ratio", "less server CPU per request"),
    (Fig::P99, "p99_ratio", "a lower p99 latency"),
    (Fig::ReqPerS, "throughput_ratio", "less throughput"),
];

/// Per figure, each arm's paired ratio to the baseline in every scenario.
fn ratio_figures(summaries: &[(ScenarioKey, Vec<ArmSummary>)], baseline: &str) -> Vec<Figure> {
    let keys: Vec<&ScenarioKey> = summaries.iter().map(|(k, _)| k).collect();
    let names = short_names(&keys);
    let mut out = Vec::new();
    for (fig, name, left) in RATIO_FIGURES {
        let mut groups = Vec::new();
        let mut base_name = None;
        for ((_, list), scen) in summaries.iter().zip(&names) {
            let found = scenario_findings(list, baseline);
            let Some(base) = found.base else { continue };
            base_name = Some(base.arm.clone());
            let Some((_, comps)) = found.figures.iter().find(|(f, _)| *f == fig) else {
                continue;
            };
            let rows: Vec<Row> = comps
                .iter()
                .filter_map(|c| {
                    let ratio = c.ci.map(|i| i.estimate).or(c.plain)?;
                    Some(Row {
                        label: c.arm.clone(),
                        ratio,
                        ci: c.ci.map(|i| (i.lo, i.hi)),
                    })
                })
                .collect();
            if !rows.is_empty() {
                groups.push((scen.clone(), rows));
            }
        }
        let Some(base) = base_name.filter(|_| !groups.is_empty()) else {
            continue;
        };
        let forest = Forest {
            title: format!("{} relative to {base}", fig.label()),
            axis_label: format!("{} ÷ {base}'s", fig.label()),
            groups,
        };
        out.push(Figure {
            name: name.to_string(),
            svg: forest.svg(),
            caption: format!(
                "Each arm's {} divided by **{base}**'s in the same scenario, paired by round, \
                 with the ratio's 95 % interval. Left of 1× is {left}. A filled point's interval \
                 excludes 1×: a difference the findings state; a hollow one's does not, \
                 whatever the point's distance from 1×.",
                fig.label()
            ),
        });
    }
    out
}

const DIMENSION_FIGURES: [(Fig, &str, &str); 3] = [
    (Fig::ReqPerS, "throughput", "requests per second"),
    (Fig::CpuPerReq, "cpu", "server CPU µs per request"),
    (Fig::P99, "p99", "p99 latency (µs)"),
];

/// What stays fixed along a series, in words.
fn fixed(dim: &str, k: &ScenarioKey) -> String {
    let mut parts = Vec::new();
    if dim != "active connections" {
        parts.push(format!("{} active", k.conns));
    }
    if dim != "idle connections" {
        parts.push(format!("{} idle", k.idle));
    }
    parts.push(format!("{} B", k.msg_size));
    if dim != "read buffer" {
        parts.push(format!("read buffer {}", k.read_buf));
    }
    if k.pipeline != 1 {
        parts.push(format!("pipeline {}", k.pipeline));
    }
    format!("{} · {}", k.workload, parts.join(" · "))
}

/// Each key figure along every series (scenarios that differ in one
/// dimension only): connections, idle connections, read buffer.
fn dimension_figures(summaries: &[(ScenarioKey, Vec<ArmSummary>)]) -> Vec<Figure> {
    let all = series(summaries);
    let mut out = Vec::new();
    for (fig, stem, ylabel) in DIMENSION_FIGURES {
        for (si, se) in all.iter().enumerate() {
            let what = fixed(se.dim, se.points[0].1);
            let chart = series_chart(se, fig, ylabel, &what);
            let Some(chart) = chart else { continue };
            let swept = se.points.len() >= 3;
            out.push(Figure {
                name: format!("{stem}_by_{}_{}", se.dim.replace(' ', "_"), si + 1),
                svg: chart.svg(),
                caption: format!(
                    "{} by {} ({what}): each point the geometric mean over rounds with its 95 % \
                     interval; the measured values spaced evenly (not to scale){}. {}",
                    fig.label(),
                    se.dim,
                    if swept {
                        ""
                    } else {
                        ", and not joined: two settings, not a sweep"
                    },
                    if fig == Fig::CpuPerReq {
                        "Server CPU per request is the server's own cost whether or not the \
                         load generator was the bottleneck."
                    } else {
                        "Hollow points had the load generator at the limit of its CPU: there \
                         the figure is the client's, not the server's capacity."
                    }
                ),
            });
        }
    }
    out
}

fn series_chart(se: &FSeries<'_>, fig: Fig, ylabel: &str, what: &str) -> Option<Chart> {
    let swept = se.points.len() >= 3;
    let mut by_arm: BTreeMap<(usize, String), Vec<Point>> = BTreeMap::new();
    for (i, (_, _, list)) in se.points.iter().enumerate() {
        for arm in list.iter() {
            let Some(e) = arm.estimate(fig) else { continue };
            let order = crate::backend::Backend::ALL
                .iter()
                .position(|b| arm.arm.split('#').next() == Some(b.name()))
                .unwrap_or(usize::MAX);
            // Per-request server costs stand when the client is the limit;
            // throughput and latency are then the client's.
            let hollow = fig != Fig::CpuPerReq && arm.runs.iter().any(|(_, r)| client_bound(r));
            by_arm
                .entry((order, arm.arm.clone()))
                .or_default()
                .push(point(i as f64 + 1.0, &e, hollow));
        }
    }
    if by_arm.is_empty() {
        return None;
    }
    let ticks = se
        .points
        .iter()
        .enumerate()
        .map(|(i, (v, _, _))| (i as f64 + 1.0, v.to_string()))
        .collect();
    let any_hollow = by_arm.values().flatten().any(|p| p.hollow);
    Some(Chart {
        title: format!("{} by {} · {what}", fig.label(), se.dim),
        x: Axis {
            label: format!("{} (evenly spaced)", se.dim),
            log: false,
            ticks: Some(ticks),
        },
        y: Axis::linear(ylabel),
        series: by_arm
            .into_iter()
            .map(|((_, name), points)| Series {
                name,
                points,
                markers: true,
                line: swept,
            })
            .collect(),
        hollow_means: any_hollow.then(|| "the load generator was CPU-bound".to_string()),
    })
}

fn point(x: f64, e: &Estimate, hollow: bool) -> Point {
    Point {
        x,
        y: e.value,
        ci: e.ci,
        hollow,
    }
}

/// The client's own sending capacity a curve sweep measured (`curve.txt`).
fn client_capacity(dir: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(dir.join("curve.txt")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("client_capacity="))
        .and_then(|v| v.trim().parse().ok())
}

/// An open-loop point is not the server's latency when a run's generator
/// failed or the server saturated, or — above [`CLIENT_LIMIT`] of the
/// client's capacity — when any run failed its self-check (as the report's
/// capacity section counts them).
fn not_servers(p: &CurvePoint, capacity: Option<f64>) -> bool {
    let above = capacity.is_some_and(|c| p.rate > CLIENT_LIMIT * c);
    let failed = p.runs - p.valid - p.saturated - p.unconverged;
    failed > 0 || p.saturated > 0 || (above && p.unconverged > 0)
}

/// Open loop: p99 against offered load, one chart per series of the
/// report's capacity section.
fn load_figures(rows: &[RunResult], capacity: Option<f64>) -> Vec<Figure> {
    let mut out = Vec::new();
    for (i, ((conns, idle, msg, read_buf, workload), arms)) in curves(rows).iter().enumerate() {
        let scen =
            format!("{workload} · {conns} active + {idle} idle · {msg} B · read buffer {read_buf}");
        let series: Vec<Series> = arms
            .iter()
            .map(|(arm, pts)| Series {
                name: arm.clone(),
                points: pts
                    .iter()
                    .map(|p| point(p.rate, &p.p99, not_servers(p, capacity)))
                    .collect(),
                markers: true,
                line: true,
            })
            .collect();
        let chart = Chart {
            title: format!("p99 latency by offered load · {scen}"),
            x: Axis::log("offered load (messages per second)"),
            y: Axis::log("p99 latency (µs)"),
            series,
            hollow_means: Some("not the server's latency (see the self-check)".into()),
        };
        out.push(Figure {
            name: format!("p99_vs_load_{}", i + 1),
            svg: chart.svg(),
            caption: format!(
                "p99 latency against the offered load ({scen}), each point the geometric mean \
                 over rounds with its 95 % interval (cut at the plot's edge where it reaches \
                 far beyond the points); both axes log scale. Hollow points are not the \
                 server's latency: a run's generator failed its self-check or the server \
                 saturated, or — above half the client's own capacity — a run failed the \
                 self-check at all (see the report's capacity section)."
            ),
        });
    }
    out
}

/// The latency spectrum per scenario (at most four), from each arm's
/// median round by p99.
fn spectra(summaries: &[(ScenarioKey, Vec<ArmSummary>)], dir: &Path) -> Vec<Figure> {
    let keys: Vec<&ScenarioKey> = summaries.iter().map(|(k, _)| k).collect();
    let names = short_names(&keys);
    let mut out = Vec::new();
    for ((key, list), scen) in summaries.iter().zip(&names) {
        if out.len() == 4 {
            break;
        }
        let mut series = Vec::new();
        for arm in list {
            let cell = (key.conns, key.idle, key.msg_size, key.read_buf);
            let found = rounds_from_median(arm).into_iter().find_map(|round| {
                let file = hgrm::run_file_name(&arm.arm, cell, key.target_rate, round);
                hgrm::read_spectrum(&dir.join("hgrm").join(file))
                    .ok()
                    .map(|spec| (round, spec))
            });
            let Some((round, spec)) = found else { continue };
            series.push(Series {
                name: format!("{} (round {round})", arm.arm),
                points: spec
                    .into_iter()
                    .map(|(x, y)| Point {
                        x,
                        y,
                        ci: None,
                        hollow: false,
                    })
                    .collect(),
                markers: false,
                line: true,
            });
        }
        if series.is_empty() {
            continue;
        }
        let ticks = [
            (2.0, "50%"),
            (10.0, "90%"),
            (100.0, "99%"),
            (1e3, "99.9%"),
            (1e4, "99.99%"),
            (1e5, "99.999%"),
        ];
        let chart = Chart {
            title: format!("latency by percentile · {scen}"),
            x: Axis {
                label: "percentile".into(),
                log: true,
                ticks: Some(ticks.iter().map(|(v, l)| (*v, l.to_string())).collect()),
            },
            y: Axis::log("latency (µs)"),
            series,
            hollow_means: None,
        };
        out.push(Figure {
            name: format!("latency_spectrum_{}", out.len() + 1),
            svg: chart.svg(),
            caption: format!(
                "The whole latency distribution ({scen}): for each arm the round whose p99 is \
                 the median of its rounds (or the nearest round with an `.hgrm` file), as its \
                 legend says. The x axis stretches the tail \
                 (1/(1−p), log scale), so 99 % and 99.9 % are as far apart as 90 % and 99 %."
            ),
        });
    }
    out
}

/// The arm's rounds, the one whose p99 is the median first, then the
/// others by their distance from it (the first whose `.hgrm` is there is drawn).
fn rounds_from_median(arm: &ArmSummary) -> Vec<usize> {
    let mut by: Vec<(usize, f64)> = arm
        .runs
        .iter()
        .filter_map(|(k, r)| Fig::P99.value(r).map(|v| (*k, v)))
        .collect();
    by.sort_by(|a, b| a.1.total_cmp(&b.1));
    let mid = by.len().saturating_sub(1) / 2;
    let mut order: Vec<(usize, usize)> = by
        .iter()
        .enumerate()
        .map(|(i, (k, _))| (i.abs_diff(mid), *k))
        .collect();
    order.sort_unstable();
    order.into_iter().map(|(_, k)| k).collect()
}
