//! The comparison figure: per scenario, each arm's paired ratio to the
//! baseline with its 95 % interval, on a log axis around 1×. A filled point
//! is a significant difference (the interval excludes 1), a hollow one is
//! not — so the figure and the report's findings cannot disagree.

use std::fmt::Write;

use super::{dot, esc, line, open, text, text_width};

/// One arm in one scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The arm.
    pub label: String,
    /// Its value divided by the baseline's.
    pub ratio: f64,
    /// The ratio's 95 % interval (`None`: too few runs for one).
    pub ci: Option<(f64, f64)>,
}

impl Row {
    fn significant(&self) -> bool {
        self.ci.is_some_and(|(lo, hi)| lo > 1.0 || hi < 1.0)
    }
}

/// A ratio plot: groups (scenarios) of rows (arms).
#[derive(Debug, Clone, PartialEq)]
pub struct Forest {
    /// Its title.
    pub title: String,
    /// What the ratio is of, e.g. "server CPU µs per request ÷ uring's".
    pub axis_label: String,
    /// (scenario, its arms).
    pub groups: Vec<(String, Vec<Row>)>,
}

/// Ratios the axis may start or end at, and label.
const STOPS: [f64; 21] = [
    0.01, 0.02, 0.05, 0.1, 0.2, 0.333, 0.5, 0.667, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0, 3.0, 5.0,
    10.0, 20.0, 50.0, 100.0,
];

/// The ratio axis: from the largest stop at or below `min` (and 1) to the
/// smallest at or above `max` (and 1).
fn range(min: f64, max: f64) -> (f64, f64) {
    let lo = STOPS
        .iter()
        .rev()
        .copied()
        .find(|s| *s <= min.min(0.9))
        .unwrap_or(STOPS[0]);
    let hi = STOPS
        .iter()
        .copied()
        .find(|s| *s >= max.max(1.1))
        .unwrap_or(STOPS[STOPS.len() - 1]);
    (lo, hi)
}

fn fmt_ratio(v: f64) -> String {
    format!("{}×", super::fmt_num((v * 1000.0).round() / 1000.0))
}

const ROW_H: f64 = 17.0;
const GROUP_H: f64 = 22.0;
const PLOT_W: f64 = 360.0;

impl Forest {
    /// The SVG.
    pub fn svg(&self) -> String {
        let rows = || self.groups.iter().flat_map(|(_, r)| r.iter());
        let (mut min, mut max) = (1.0f64, 1.0f64);
        for r in rows() {
            let (lo, hi) = r.ci.unwrap_or((r.ratio, r.ratio));
            for v in [r.ratio, lo, hi] {
                if v.is_finite() && v > 0.0 {
                    min = min.min(v);
                    max = max.max(v);
                }
            }
        }
        let (lo, hi) = range(min, max);
        let label_w = rows()
            .map(|r| text_width(&r.label) * 1.1)
            .fold(80.0, f64::max)
            .min(380.0)
            + 24.0;
        let (x0, x1) = (label_w, label_w + PLOT_W);
        let w = x1 + 150.0;
        let n_rows = rows().count() as f64;
        let top = 40.0;
        let body = self.groups.len() as f64 * GROUP_H + n_rows * ROW_H;
        let h = top + body + 64.0;
        let px = |v: f64| {
            let t = (v.max(lo).min(hi).ln() - lo.ln()) / (hi.ln() - lo.ln());
            x0 + t * (x1 - x0)
        };
        let mut svg = String::new();
        open(&mut svg, w, h, &self.title);
        text(
            &mut svg,
            10.0,
            20.0,
            "start",
            " font-size=\"14\" font-weight=\"bold\"",
            &self.title,
        );
        let bottom = top + body;
        let grid = "stroke=\"#e4e4e4\" stroke-width=\"1\"";
        for s in STOPS.iter().copied().filter(|s| *s >= lo && *s <= hi) {
            let x = px(s);
            line(&mut svg, x, top, x, bottom, grid);
            text(&mut svg, x, bottom + 16.0, "middle", "", &fmt_ratio(s));
        }
        line(&mut svg, x0, bottom, x1, bottom, "stroke=\"#333\"");
        let one = px(1.0);
        line(
            &mut svg,
            one,
            top,
            one,
            bottom,
            "stroke=\"#333\" stroke-dasharray=\"4 3\"",
        );
        text(
            &mut svg,
            (x0 + x1) / 2.0,
            bottom + 34.0,
            "middle",
            "",
            &format!("{} (log scale)", self.axis_label),
        );
        let mut y = top;
        for (group, list) in &self.groups {
            y += GROUP_H;
            text(
                &mut svg,
                10.0,
                y - 6.0,
                "start",
                " font-weight=\"bold\"",
                group,
            );
            for r in list {
                y += ROW_H;
                draw_row(&mut svg, r, y - ROW_H / 2.0, x0, x1, &px);
            }
        }
        let key_y = bottom + 54.0;
        dot(&mut svg, x0, key_y - 4.0, 4.0, "#222", false);
        text(
            &mut svg,
            x0 + 9.0,
            key_y,
            "start",
            "",
            "interval excludes 1× (significant)",
        );
        dot(&mut svg, x0 + 230.0, key_y - 4.0, 4.0, "#888", true);
        text(&mut svg, x0 + 239.0, key_y, "start", "", "it does not");
        svg.push_str("</svg>");
        svg
    }
}

fn draw_row(svg: &mut String, r: &Row, y: f64, x0: f64, x1: f64, px: &dyn Fn(f64) -> f64) {
    let sig = r.significant();
    let color = if sig { "#222" } else { "#888" };
    text(svg, x0 - 10.0, y + 4.0, "end", "", &r.label);
    if let Some((lo, hi)) = r.ci {
        let style = format!("stroke=\"{color}\" stroke-width=\"1.5\"");
        line(svg, px(lo), y, px(hi), y, &style);
        line(svg, px(lo), y - 3.5, px(lo), y + 3.5, &style);
        line(svg, px(hi), y - 3.5, px(hi), y + 3.5, &style);
    }
    if r.ratio.is_finite() && r.ratio > 0.0 {
        dot(svg, px(r.ratio), y, 4.0, color, !sig);
    }
    let note = match r.ci {
        Some((lo, hi)) => format!("{:.3} [{:.3}, {:.3}]", r.ratio, lo, hi),
        None => format!("{:.3} (no interval)", r.ratio),
    };
    let _ = write!(
        svg,
        "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" fill=\"{color}\">{}</text>",
        x1 + 12.0,
        y + 4.0,
        esc(&note)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn significant_rows_are_filled_and_the_axis_holds_one() {
        let f = Forest {
            title: "server CPU per request".into(),
            axis_label: "÷ uring's".into(),
            groups: vec![(
                "100 conns".into(),
                vec![
                    Row {
                        label: "uring+multishot-recv".into(),
                        ratio: 0.93,
                        ci: Some((0.9, 0.96)),
                    },
                    Row {
                        label: "uring+zc-send".into(),
                        ratio: 1.02,
                        ci: Some((0.97, 1.08)),
                    },
                    Row {
                        label: "one run".into(),
                        ratio: 1.2,
                        ci: None,
                    },
                ],
            )],
        };
        let svg = f.svg();
        // Three rows + two key markers; hollow: zc-send, one run, the key's.
        assert_eq!(svg.matches("<circle").count(), 5);
        assert_eq!(
            svg.matches("fill=\"white\"").count(),
            1 + 3,
            "background + 3 hollow"
        );
        assert!(svg.contains("0.930 [0.900, 0.960]"));
        assert!(svg.contains("(no interval)"));
        assert!(
            svg.contains(">1×</text>") && svg.contains(">0.9×</text>"),
            "{svg}"
        );
        assert_eq!(range(0.9, 1.2), (0.9, 1.25));
        assert_eq!(range(0.3, 4.0), (0.2, 5.0));
    }
}
