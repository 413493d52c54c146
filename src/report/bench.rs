//! Criterion's results (`target/criterion/<group>/<param>/new/estimates.json`)
//! as tables: median time per iteration for each backend at each N, and the
//! ratio to a baseline backend.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use anyhow::{Context, Result};

use crate::backend::Backend;

/// One measured point.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BenchPoint {
    /// Bench family, e.g. `wait_cost`, `roundtrip_idle1000`.
    pub family: String,
    /// Backend.
    pub backend: String,
    /// Parameter (N watched descriptors), or `-`.
    pub param: String,
    /// Median time per iteration, ns.
    pub median_ns: f64,
}

/// Split a group/parameter pair into (family, backend, param): groups are
/// `family_backend` with N as parameter, or `family` with the backend as parameter.
fn classify(group: &str, param: &str) -> Option<(String, String, String)> {
    for b in Backend::ALL {
        if let Some(family) = group.strip_suffix(&format!("_{}", b.name())) {
            return Some((family.into(), b.name().into(), param.into()));
        }
        if param == b.name() {
            return Some((group.into(), b.name().into(), "-".into()));
        }
    }
    None
}

/// Read every point under `criterion_dir`.
pub fn read(criterion_dir: &Path) -> Result<Vec<BenchPoint>> {
    let mut points = Vec::new();
    if criterion_dir.is_file() {
        anyhow::bail!(
            "{} is a file: give criterion's output folder (target/criterion)",
            criterion_dir.display()
        );
    }
    let groups = std::fs::read_dir(criterion_dir).with_context(|| {
        format!(
            "reading {} (run cargo bench first)",
            criterion_dir.display()
        )
    })?;
    for g in groups.flatten() {
        let group = g.file_name().to_string_lossy().to_string();
        let Ok(params) = std::fs::read_dir(g.path()) else {
            continue;
        };
        for p in params.flatten() {
            let param = p.file_name().to_string_lossy().to_string();
            let est = p.path().join("new").join("estimates.json");
            if !est.exists() {
                continue; // criterion's report folders, or a bench not run
            }
            let Some((family, backend, param)) = classify(&group, &param) else {
                continue; // another crate's benchmark
            };
            super::check_input(&est, "criterion's estimates.json")?;
            let text = std::fs::read_to_string(&est)
                .with_context(|| format!("reading {}", est.display()))?;
            let v: serde_json::Value = serde_json::from_str(&text).with_context(|| {
                format!("{} is not criterion's estimates (cut off?)", est.display())
            })?;
            let Some(median_ns) = v["median"]["point_estimate"]
                .as_f64()
                .filter(|m| m.is_finite() && *m >= 0.0)
            else {
                anyhow::bail!(
                    "{} has no median.point_estimate (written by another criterion version?)",
                    est.display()
                );
            };
            points.push(BenchPoint {
                family,
                backend,
                param,
                median_ns,
            });
        }
    }
    Ok(points)
}

/// Three significant digits (µs values span 0.005 to 6,000).
fn sig3(x: f64) -> String {
    let digits = (2 - x.abs().max(1e-9).log10().floor() as i32).clamp(0, 6) as usize;
    format!("{x:.digits$}")
}

/// Ratios: two significant digits below 10, whole numbers above.
fn sig2(x: f64) -> String {
    if x >= 10.0 {
        format!("{x:.0}")
    } else if x >= 0.1 {
        format!("{x:.1}")
    } else {
        format!("{x:.3}")
    }
}

fn param_key(p: &str) -> (u64, String) {
    (p.parse().unwrap_or(u64::MAX), p.to_string())
}

/// Markdown: one table per family, rows = parameter, columns = backends.
pub fn render(points: &[BenchPoint], baseline: &str) -> String {
    let mut families: BTreeMap<&str, Vec<&BenchPoint>> = BTreeMap::new();
    for p in points {
        families.entry(&p.family).or_default().push(p);
    }
    let mut s = String::new();
    for (family, pts) in families {
        let backends: Vec<&str> = Backend::ALL
            .iter()
            .map(|b| b.name())
            .filter(|b| pts.iter().any(|p| p.backend == *b))
            .collect();
        let mut params: Vec<&str> = pts.iter().map(|p| p.param.as_str()).collect();
        params.sort_by_key(|p| param_key(p));
        params.dedup();
        let _ = writeln!(s, "### {family}\n");
        let _ = writeln!(
            s,
            "Median time per iteration, µs (× {baseline} at the same N).\n"
        );
        let _ = writeln!(s, "| N | {} |", backends.join(" | "));
        let _ = writeln!(s, "|---|{}", "---|".repeat(backends.len()));
        for param in params {
            let get = |b: &str| {
                pts.iter()
                    .find(|p| p.backend == b && p.param == param)
                    .map(|p| p.median_ns)
            };
            let base = get(baseline);
            let cells: Vec<String> = backends
                .iter()
                .map(|b| match (get(b), base) {
                    (Some(v), Some(bv)) if bv > 0.0 => {
                        format!("{} ({}×)", sig3(v / 1e3), sig2(v / bv))
                    }
                    (Some(v), _) => sig3(v / 1e3),
                    (None, _) => "–".into(),
                })
                .collect();
            let _ = writeln!(s, "| {param} | {} |", cells.join(" | "));
        }
        let _ = writeln!(s);
    }
    s
}

/// Read the points a `bench-table --csv` wrote.
pub fn read_csv(path: &Path) -> Result<Vec<BenchPoint>> {
    super::check_input(path, "a CSV that bench-table --csv wrote")?;
    let mut r =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for (i, row) in r.deserialize::<BenchPoint>().enumerate() {
        let p = row.with_context(|| format!("{} line {}", path.display(), i + 2))?;
        if !(p.median_ns.is_finite() && p.median_ns >= 0.0) {
            anyhow::bail!(
                "{} line {}: median_ns {}",
                path.display(),
                i + 2,
                p.median_ns
            );
        }
        out.push(p);
    }
    Ok(out)
}

/// One figure per family measured at several N: time per iteration against
/// N, one line per backend, both axes log scale.
pub fn figures(points: &[BenchPoint]) -> Vec<super::html::Figure> {
    use super::svg::chart::{Axis, Chart, Point, Series};
    let mut families: BTreeMap<&str, Vec<&BenchPoint>> = BTreeMap::new();
    for p in points.iter().filter(|p| p.param.parse::<f64>().is_ok()) {
        families.entry(&p.family).or_default().push(p);
    }
    let mut out = Vec::new();
    for (family, pts) in families {
        let series: Vec<Series> = Backend::ALL
            .iter()
            .map(|b| b.name())
            .filter(|b| pts.iter().any(|p| p.backend == *b))
            .map(|b| Series {
                name: b.to_string(),
                points: pts
                    .iter()
                    .filter(|p| p.backend == b)
                    .filter_map(|p| {
                        Some(Point {
                            x: p.param.parse().ok()?,
                            y: p.median_ns / 1e3,
                            ci: None,
                            hollow: false,
                        })
                    })
                    .collect(),
                markers: true,
                line: true,
            })
            .collect();
        if series.iter().all(|s| s.points.len() < 2) {
            continue;
        }
        let chart = Chart {
            title: format!("{family}: time per iteration by N"),
            x: Axis::log("N (descriptors watched)"),
            y: Axis::log("median time per iteration (µs)"),
            series,
            hollow_means: None,
        };
        out.push(super::html::Figure {
            name: family.to_string(),
            svg: chart.svg(),
            caption: format!(
                "criterion's median time per iteration of `{family}` against N, per backend; \
                 both axes log scale, so a backend whose cost grows with N climbs and one \
                 that does not stays flat."
            ),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_and_params_are_classified_and_ratios_computed() {
        assert_eq!(
            classify("wait_cost_epoll-et", "100"),
            Some(("wait_cost".into(), "epoll-et".into(), "100".into()))
        );
        assert_eq!(
            classify("roundtrip_idle1000", "select"),
            Some(("roundtrip_idle1000".into(), "select".into(), "-".into()))
        );
        assert_eq!(classify("other", "x"), None);
        let pts = vec![
            BenchPoint {
                family: "wait_cost".into(),
                backend: "select".into(),
                param: "1000".into(),
                median_ns: 35_000.0,
            },
            BenchPoint {
                family: "wait_cost".into(),
                backend: "epoll-et".into(),
                param: "1000".into(),
                median_ns: 500.0,
            },
            BenchPoint {
                family: "wait_cost".into(),
                backend: "epoll-et".into(),
                param: "10".into(),
                median_ns: 400.0,
            },
        ];
        let md = render(&pts, "epoll-et");
        assert!(md.contains("| N | select | epoll-et |"), "{md}");
        assert!(md.contains("| 10 | – | 0.400 (1.0×) |"), "{md}");
        assert!(md.contains("| 1000 | 35.0 (70×) | 0.500 (1.0×) |"), "{md}");
        let rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| 1")).collect();
        assert_eq!(rows.len(), 2);
        assert!(rows[0].starts_with("| 10 "), "numeric order: {rows:?}");
    }
}
