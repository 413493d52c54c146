//! Values against a dimension: one line per arm, points with their 95 %
//! intervals as error bars, hollow points for values that are not the
//! server's, the legend beside the data (never over it).

use std::fmt::Write;

use super::{color, dash, dot, esc, fmt_num, line, open, text, text_width, Scale};

/// One point of a series.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Where on the x axis.
    pub x: f64,
    /// The value.
    pub y: f64,
    /// Its 95 % interval, when there is one.
    pub ci: Option<(f64, f64)>,
    /// Not the server's value (drawn hollow; the chart's `hollow_means` says why).
    pub hollow: bool,
}

/// One arm's points (sorted by x when drawn).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The legend's name.
    pub name: String,
    /// The points.
    pub points: Vec<Point>,
    /// Draw a marker at every point (a spectrum is a line only).
    pub markers: bool,
    /// Join the points (a sweep); two settings side by side are not joined.
    pub line: bool,
}

/// One axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// What it shows, with its unit.
    pub label: String,
    /// Logarithmic (said in the label).
    pub log: bool,
    /// Ticks placed and labelled by the caller (value, label), instead of
    /// the scale's own.
    pub ticks: Option<Vec<(f64, String)>>,
}

impl Axis {
    /// A linear axis from 0.
    pub fn linear(label: &str) -> Axis {
        Axis {
            label: label.to_string(),
            log: false,
            ticks: None,
        }
    }

    /// A log axis.
    pub fn log(label: &str) -> Axis {
        Axis {
            label: label.to_string(),
            log: true,
            ticks: None,
        }
    }

    fn shown_label(&self) -> String {
        if self.log {
            format!("{} (log scale)", self.label)
        } else {
            self.label.clone()
        }
    }
}

/// A chart of series against one dimension.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// Its title (what is drawn, the scenario).
    pub title: String,
    /// The x axis.
    pub x: Axis,
    /// The y axis.
    pub y: Axis,
    /// The series.
    pub series: Vec<Series>,
    /// What a hollow point means (shown in the legend when there is one).
    pub hollow_means: Option<String>,
}

const PLOT_W: f64 = 540.0;
const LEFT: f64 = 72.0;
const TOP: f64 = 34.0;
const PLOT_H: f64 = 300.0;
/// The widest legend.
const LEGEND_MAX: f64 = 380.0;

impl Chart {
    /// The scale of one axis over every value (and interval) drawn on it.
    fn scale(axis: &Axis, values: impl Iterator<Item = f64>, a: f64, b: f64) -> Scale {
        let vals: Vec<f64> = values.filter(|v| v.is_finite()).collect();
        let max = vals.iter().copied().fold(f64::MIN, f64::max);
        if axis.log {
            let min = vals
                .iter()
                .copied()
                .filter(|v| *v > 0.0)
                .fold(f64::MAX, f64::min);
            Scale::log(min, max, a, b)
        } else if let Some(t) = &axis.ticks {
            // Evenly spaced categories 1..=n: half a step of room at the end.
            Scale::linear(t.iter().map(|t| t.0).fold(max, f64::max) + 0.5, a, b)
        } else {
            Scale::linear(max, a, b)
        }
    }

    /// The SVG.
    pub fn svg(&self) -> String {
        let legend_rows = self.series.len() + usize::from(self.hollow_means.is_some()) * 4;
        let h = (TOP + PLOT_H + 56.0).max(TOP + 16.0 * legend_rows as f64 + 20.0);
        let legend_w = self.legend_width();
        let w = LEFT + PLOT_W + 24.0 + legend_w;
        let (x0, x1) = (LEFT, LEFT + PLOT_W);
        let (y0, y1) = (TOP + PLOT_H, TOP);
        let pts = || self.series.iter().flat_map(|s| s.points.iter());
        let xs = Chart::scale(&self.x, pts().map(|p| p.x), x0, x1);
        // On a log axis an interval from three runs can span decades; the
        // axis follows the points and cuts such an interval at its edge.
        let (ymin, ymax) = pts()
            .map(|p| p.y)
            .filter(|y| *y > 0.0 && y.is_finite())
            .fold((f64::MAX, f64::MIN), |(a, b), y| (a.min(y), b.max(y)));
        let keep = |v: f64| !self.y.log || (v >= ymin / 3.0 && v <= ymax * 3.0);
        let ys = Chart::scale(
            &self.y,
            pts()
                .flat_map(|p| {
                    let (lo, hi) = p.ci.unwrap_or((p.y, p.y));
                    [p.y, lo, hi]
                })
                .filter(|v| keep(*v)),
            y0,
            y1,
        );
        let mut svg = String::new();
        open(&mut svg, w, h, &self.title);
        text(
            &mut svg,
            LEFT,
            20.0,
            "start",
            " font-size=\"14\" font-weight=\"bold\"",
            &self.title,
        );
        self.axes(&mut svg, &xs, &ys);
        // Categories: the arms side by side within each, so their
        // intervals do not hide each other.
        let n = self.series.len() as f64;
        let dodge = if self.x.ticks.is_some() && !self.x.log && n > 1.0 {
            let step = xs.px(2.0) - xs.px(1.0);
            (0.7 * step / n).min(9.0)
        } else {
            0.0
        };
        for (i, s) in self.series.iter().enumerate() {
            let shift = (i as f64 - (n - 1.0) / 2.0) * dodge;
            draw_series(&mut svg, s, i, (&xs, shift), &ys);
        }
        self.legend(&mut svg, x1 + 24.0);
        svg.push_str("</svg>");
        svg
    }

    fn axes(&self, svg: &mut String, xs: &Scale, ys: &Scale) {
        let axis = "stroke=\"#333\" stroke-width=\"1\"";
        let grid = "stroke=\"#e4e4e4\" stroke-width=\"1\"";
        line(svg, xs.a, ys.a, xs.b, ys.a, axis);
        line(svg, xs.a, ys.a, xs.a, ys.b, axis);
        let own = |s: &Scale| s.ticks().into_iter().map(|v| (v, fmt_num(v))).collect();
        let within = |s: &Scale, t: Vec<(f64, String)>| -> Vec<(f64, String)> {
            t.into_iter()
                .filter(|(v, _)| *v >= s.lo * (1.0 - 1e-9) && *v <= s.hi * (1.0 + 1e-9))
                .collect()
        };
        let xt = within(xs, self.x.ticks.clone().unwrap_or_else(|| own(xs)));
        for (v, label) in xt {
            let x = xs.px(v);
            line(svg, x, ys.a, x, ys.b, grid);
            line(svg, x, ys.a, x, ys.a + 4.0, axis);
            text(svg, x, ys.a + 17.0, "middle", "", &label);
        }
        let yt = within(ys, self.y.ticks.clone().unwrap_or_else(|| own(ys)));
        for (v, label) in yt {
            let y = ys.px(v);
            line(svg, xs.a, y, xs.b, y, grid);
            line(svg, xs.a - 4.0, y, xs.a, y, axis);
            text(svg, xs.a - 7.0, y + 4.0, "end", "", &label);
        }
        text(
            svg,
            (xs.a + xs.b) / 2.0,
            ys.a + 38.0,
            "middle",
            "",
            &self.x.shown_label(),
        );
        let mid = (ys.a + ys.b) / 2.0;
        let _ = write!(
            svg,
            "<text x=\"16\" y=\"{mid:.1}\" text-anchor=\"middle\" \
             transform=\"rotate(-90 16 {mid:.1})\">{}</text>",
            esc(&self.y.shown_label())
        );
    }

    /// The legend's width: its longest name, within bounds.
    fn legend_width(&self) -> f64 {
        self.series
            .iter()
            .map(|s| text_width(&s.name) + 40.0)
            .fold(190.0, f64::max)
            .min(LEGEND_MAX)
    }

    fn legend(&self, svg: &mut String, x: f64) {
        let mut y = TOP + 6.0;
        for (i, s) in self.series.iter().enumerate() {
            if s.line {
                line(svg, x, y, x + 22.0, y, &stroke(i));
            }
            if s.markers {
                marker(svg, x + 11.0, y, i, false);
            }
            let name = clip(&s.name, LEGEND_MAX - 34.0);
            text(svg, x + 28.0, y + 4.0, "start", "", &name);
            y += 16.0;
        }
        if let Some(why) = &self.hollow_means {
            y += 6.0;
            dot(svg, x + 11.0, y, 3.6, "#333", true);
            text(svg, x + 28.0, y + 4.0, "start", "", "hollow:");
            for (i, l) in wrap(why, 28).iter().enumerate() {
                let ly = y + 19.0 + 14.0 * i as f64;
                text(svg, x + 28.0, ly, "start", " font-size=\"11\"", l);
            }
        }
    }
}

/// `s` in lines of at most `width` characters, broken between words.
fn wrap(s: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for w in s.split_whitespace() {
        match lines.last_mut() {
            Some(l) if l.chars().count() + 1 + w.chars().count() <= width => {
                l.push(' ');
                l.push_str(w);
            }
            _ => lines.push(w.to_string()),
        }
    }
    lines
}

/// `s`, cut with an ellipsis to fit `width` pixels.
fn clip(s: &str, width: f64) -> String {
    if text_width(s) <= width {
        return s.to_string();
    }
    let keep = (width / 6.8) as usize;
    let mut out: String = s.chars().take(keep.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The stroke of series `i`.
fn stroke(i: usize) -> String {
    let dashes = dash(i).map_or(String::new(), |d| format!(" stroke-dasharray=\"{d}\""));
    format!(
        "stroke=\"{}\" stroke-width=\"1.8\" fill=\"none\"{dashes}",
        color(i)
    )
}

/// A series' marker: a circle for the first ten colours, then a square,
/// then a diamond (colours repeat; shapes keep the series apart).
fn marker(svg: &mut String, x: f64, y: f64, i: usize, hollow: bool) {
    let c = color(i);
    let fill = if hollow { "white" } else { c };
    let r = 3.6;
    match i / 10 {
        0 => dot(svg, x, y, r, c, hollow),
        1 => {
            let _ = write!(
                svg,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{fill}\" \
                 stroke=\"{c}\" stroke-width=\"1.5\"/>",
                x - r,
                y - r,
                2.0 * r,
                2.0 * r
            );
        }
        _ => {
            let _ = write!(
                svg,
                "<polygon points=\"{:.1},{:.1} {:.1},{:.1} {:.1},{:.1} {:.1},{:.1}\" fill=\"{fill}\" \
                 stroke=\"{c}\" stroke-width=\"1.5\"/>",
                x,
                y - r - 1.0,
                x + r + 1.0,
                y,
                x,
                y + r + 1.0,
                x - r - 1.0,
                y
            );
        }
    }
}

fn draw_series(svg: &mut String, s: &Series, i: usize, (xs, shift): (&Scale, f64), ys: &Scale) {
    let mut pts: Vec<&Point> = s
        .points
        .iter()
        .filter(|p| p.x.is_finite() && p.y.is_finite())
        .collect();
    pts.sort_by(|a, b| a.x.total_cmp(&b.x));
    if s.line && pts.len() > 1 {
        let path: Vec<String> = pts
            .iter()
            .map(|p| format!("{:.1},{:.1}", xs.px(p.x) + shift, ys.px(p.y)))
            .collect();
        let _ = write!(
            svg,
            "<polyline points=\"{}\" {}/>",
            path.join(" "),
            stroke(i)
        );
    }
    if !s.markers {
        return;
    }
    let whisker = format!(
        "stroke=\"{}\" stroke-width=\"1.2\" stroke-opacity=\"0.6\"",
        color(i)
    );
    for p in pts {
        let (x, y) = (xs.px(p.x) + shift, ys.px(p.y));
        if let Some((lo, hi)) = p.ci {
            let (ylo, yhi) = (ys.px(lo), ys.px(hi));
            line(svg, x, ylo, x, yhi, &whisker);
            line(svg, x - 3.0, ylo, x + 3.0, ylo, &whisker);
            line(svg, x - 3.0, yhi, x + 3.0, yhi, &whisker);
        }
        marker(svg, x, y, i, p.hollow);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(log: bool) -> Chart {
        let pt = |x: f64, y: f64, hollow| Point {
            x,
            y,
            ci: Some((y * 0.9, y * 1.1)),
            hollow,
        };
        Chart {
            title: "throughput <by> connections".into(),
            x: Axis::log("active connections"),
            y: if log {
                Axis::log("req/s")
            } else {
                Axis::linear("req/s")
            },
            series: vec![Series {
                name: "epoll-et".into(),
                points: vec![
                    pt(1.0, 5.0, false),
                    pt(100.0, 50.0, true),
                    pt(10.0, 20.0, false),
                ],
                markers: true,
                line: true,
            }],
            hollow_means: Some("the client was the bottleneck".into()),
        }
    }

    #[test]
    fn a_chart_draws_every_point_its_interval_and_says_what_hollow_means() {
        let svg = chart(false).svg();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(
            svg.contains("throughput &lt;by&gt; connections"),
            "escaped title"
        );
        assert_eq!(
            svg.matches("<circle").count(),
            3 + 1 + 1,
            "3 points, legend, hollow key"
        );
        assert_eq!(
            svg.matches("fill=\"white\" stroke").count(),
            2,
            "one hollow point + key"
        );
        assert!(svg.contains(">the client was the</text>"), "{svg}");
        assert!(
            svg.contains(">bottleneck</text>"),
            "wrapped, not cut: {svg}"
        );
        assert!(svg.contains("active connections (log scale)"));
        // The linear y axis starts at 0 and covers the top interval (55).
        assert!(
            svg.contains(">0</text>") && svg.contains(">60</text>"),
            "{svg}"
        );
    }

    #[test]
    fn a_log_axis_is_labelled_with_plain_numbers() {
        let svg = chart(true).svg();
        assert!(svg.contains("req/s (log scale)"));
        assert!(!svg.contains('×') && !svg.contains("10^"), "{svg}");
        assert!(svg.contains(">100</text>"), "{svg}");
    }
}
