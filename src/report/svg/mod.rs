//! Figures as SVG text, drawn here: every figure of the project — in
//! `REPORT.html` and the `.svg` files beside it — comes from this one
//! implementation. Two kinds cover them:
//!
//! - [`forest`]: each arm's paired ratio to the baseline with its 95 %
//!   interval, per scenario, on a log axis around 1× — what a comparison's
//!   finding rests on (two absolute intervals can overlap while the paired
//!   ratio's excludes 1);
//! - [`chart`]: values against a dimension (connections, offered load, a
//!   percentile), lines and points with their intervals; points that are not
//!   the server's (the client was the bottleneck, or the run was flagged)
//!   hollow, and said so in the legend.
//!
//! Axes are honest by construction: a linear axis starts at 0; a log axis
//! starts and ends at 1, 2 or 5 × a power of ten and says "log scale"; tick
//! labels are plain numbers (0.5, 2, 10k), never "6×10⁰".

pub mod chart;
pub mod forest;

use std::fmt::Write;

/// Ten colours that stay apart (Tableau 10); arms beyond ten repeat them dashed.
const PALETTE: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#6b6b6b",
];

/// The colour of series `i`.
pub fn color(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// The dash pattern of series `i` (`None`: solid).
pub fn dash(i: usize) -> Option<&'static str> {
    match i / PALETTE.len() {
        0 => None,
        1 => Some("6 3"),
        _ => Some("2 2"),
    }
}

/// Text escaped for SVG and HTML.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A number as a tick label: `0`, `0.05`, `2.5`, `40`, `1.5k`, `2M`.
pub fn fmt_num(v: f64) -> String {
    let a = v.abs();
    let (x, suffix) = if a >= 1e9 {
        (v / 1e9, "G")
    } else if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e4 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let mut s = format!("{x:.3}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" {
        s = "0".into();
    }
    s + suffix
}

/// Where values go on one axis, in pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    /// Smallest value shown.
    pub lo: f64,
    /// Largest value shown.
    pub hi: f64,
    /// Logarithmic.
    pub log: bool,
    /// Pixel of `lo`.
    pub a: f64,
    /// Pixel of `hi`.
    pub b: f64,
}

/// 1, 2, 5 × 10^k at or below `v` (> 0).
fn nice_floor(v: f64) -> f64 {
    let p = 10f64.powf(v.log10().floor());
    [5.0, 2.0, 1.0]
        .iter()
        .map(|m| m * p)
        .find(|c| *c <= v * (1.0 + 1e-9))
        .unwrap_or(p)
}

/// 1, 2, 5 × 10^k at or above `v` (> 0).
fn nice_ceil(v: f64) -> f64 {
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|c| *c >= v * (1.0 - 1e-9))
        .unwrap_or(10.0 * p)
}

impl Scale {
    /// A linear scale from 0 to a round number at or above `max`.
    pub fn linear(max: f64, a: f64, b: f64) -> Scale {
        let max = if max.is_finite() && max > 0.0 {
            max
        } else {
            1.0
        };
        let step = nice_ceil(max / 5.0);
        Scale {
            lo: 0.0,
            hi: (max / step).ceil() * step,
            log: false,
            a,
            b,
        }
    }

    /// A log scale from 1, 2 or 5 × 10^k at or below `min` to one at or
    /// above `max` (both > 0; otherwise 1 to 10).
    pub fn log(min: f64, max: f64, a: f64, b: f64) -> Scale {
        let (min, max) = if min > 0.0 && max >= min && max.is_finite() {
            (min, max)
        } else {
            (1.0, 10.0)
        };
        let (lo, mut hi) = (nice_floor(min), nice_ceil(max));
        if hi <= lo {
            hi = nice_ceil(lo * 1.5);
        }
        Scale {
            lo,
            hi,
            log: true,
            a,
            b,
        }
    }

    /// The pixel of `v` (clamped to the axis).
    pub fn px(&self, v: f64) -> f64 {
        let t = if self.log {
            let v = v.max(self.lo * 1e-3);
            (v.ln() - self.lo.ln()) / (self.hi.ln() - self.lo.ln())
        } else {
            (v - self.lo) / (self.hi - self.lo)
        };
        let t = if t.is_finite() {
            t.clamp(-0.02, 1.02)
        } else {
            0.0
        };
        self.a + t * (self.b - self.a)
    }

    /// Tick values: about five on a linear axis; on a log axis every
    /// decade, with 2 and 5 between when it spans three decades or fewer.
    pub fn ticks(&self) -> Vec<f64> {
        if !self.log {
            let step = nice_ceil(self.hi / 5.0);
            let n = (self.hi / step).round() as usize;
            return (0..=n).map(|i| self.lo + i as f64 * step).collect();
        }
        let decades = (self.hi / self.lo).log10();
        let mults: &[f64] = if decades <= 3.0 {
            &[1.0, 2.0, 5.0]
        } else {
            &[1.0]
        };
        let mut out = Vec::new();
        let mut p = 10f64.powf(self.lo.log10().floor());
        while p <= self.hi * (1.0 + 1e-9) {
            for m in mults {
                let v = m * p;
                if v >= self.lo * (1.0 - 1e-9) && v <= self.hi * (1.0 + 1e-9) {
                    out.push(v);
                }
            }
            p *= 10.0;
        }
        out
    }
}

/// An SVG document's opening tag, its style and a white background.
pub(crate) fn open(svg: &mut String, w: f64, h: f64, title: &str) {
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w:.0} {h:.0}\" \
         width=\"{w:.0}\" height=\"{h:.0}\" role=\"img\" \
         font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"12\">\
         <title>{}</title><rect width=\"100%\" height=\"100%\" fill=\"white\"/>",
        esc(title)
    );
}

/// Text at (x, y): `anchor` start, middle or end.
pub(crate) fn text(svg: &mut String, x: f64, y: f64, anchor: &str, extra: &str, s: &str) {
    let _ = write!(
        svg,
        "<text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"{anchor}\"{extra}>{}</text>",
        esc(s)
    );
}

/// A line segment.
pub(crate) fn line(svg: &mut String, x1: f64, y1: f64, x2: f64, y2: f64, style: &str) {
    let _ = write!(
        svg,
        "<line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\" {style}/>"
    );
}

/// A marker: a filled or hollow circle.
pub(crate) fn dot(svg: &mut String, x: f64, y: f64, r: f64, color: &str, hollow: bool) {
    let fill = if hollow { "white" } else { color };
    let _ = write!(
        svg,
        "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"{r}\" fill=\"{fill}\" stroke=\"{color}\" \
         stroke-width=\"1.5\"/>"
    );
}

/// Width of `s` in pixels at 12 px, roughly (for laying out labels).
pub(crate) fn text_width(s: &str) -> f64 {
    s.chars().count() as f64 * 6.8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_labels_are_plain_numbers() {
        for (v, s) in [
            (0.0, "0"),
            (0.05, "0.05"),
            (2.5, "2.5"),
            (6.0, "6"),
            (40.0, "40"),
            (1500.0, "1500"),
            (15000.0, "15k"),
            (2e6, "2M"),
        ] {
            assert_eq!(fmt_num(v), s, "{v}");
        }
    }

    #[test]
    fn a_linear_axis_starts_at_zero_and_ends_round() {
        let s = Scale::linear(5.3, 0.0, 100.0);
        assert_eq!((s.lo, s.hi), (0.0, 6.0));
        assert_eq!(s.ticks(), [0.0, 2.0, 4.0, 6.0]);
        assert_eq!(s.px(3.0), 50.0);
    }

    #[test]
    fn a_log_axis_ends_at_one_two_or_five() {
        let s = Scale::log(5.3, 12.7, 0.0, 100.0);
        assert_eq!((s.lo, s.hi), (5.0, 20.0));
        assert_eq!(s.ticks(), [5.0, 10.0, 20.0]);
        let wide = Scale::log(3.0, 2e5, 0.0, 100.0);
        assert_eq!((wide.lo, wide.hi), (2.0, 2e5));
        assert_eq!(wide.ticks(), [10.0, 100.0, 1e3, 1e4, 1e5]);
        assert!((wide.px(2.0) - 0.0).abs() < 1e-9 && (wide.px(2e5) - 100.0).abs() < 1e-9);
    }
}
