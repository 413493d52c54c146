//! How the report writes a number: thousands grouped, precision by
//! magnitude, an estimate with its interval, a ratio with its interval and
//! the `✱` of significance. One place, so every table and finding of
//! `REPORT.md` prints a figure the same way.

use crate::report::summary::{Estimate, RatioMethod};
use crate::stats::Interval;

/// A figure: thousands grouped above 1,000, fewer decimals the larger it is.
pub fn fmt_num(x: f64) -> String {
    if x.abs() >= 1000.0 {
        let s = format!("{:.0}", x);
        let (sign, digits) = s.split_at(usize::from(s.starts_with('-')));
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        format!("{sign}{out}")
    } else if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn fmt_ci(lo: f64, hi: f64) -> String {
    format!("{}–{}", fmt_num(lo), fmt_num(hi))
}

/// `value (lo–hi)`; no interval for one run or non-positive values.
pub fn fmt_estimate(e: &Estimate) -> String {
    match e.ci {
        Some((lo, hi)) => format!("{} ({})", fmt_num(e.value), fmt_ci(lo, hi)),
        None => fmt_num(e.value),
    }
}

/// A ratio with its interval, `✱` when significant (three decimals below
/// 10×, so a narrow interval near 1 does not print as 1.00–1.00).
pub fn fmt_ratio_ci(r: &Interval) -> String {
    let f = |x: f64| {
        if r.estimate >= 10.0 {
            format!("{x:.0}")
        } else {
            format!("{x:.3}")
        }
    };
    format!(
        "{}×{} ({}–{})",
        f(r.estimate),
        if r.excludes(1.0) { "✱" } else { "" },
        f(r.lo),
        f(r.hi)
    )
}

/// A ratio without an interval.
pub fn fmt_ratio(r: f64) -> String {
    if r >= 10.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.2}")
    }
}

/// How a ratio was computed, for a caller that states it.
pub fn method_name(m: RatioMethod) -> &'static str {
    match m {
        RatioMethod::Paired => "paired t-interval on log ratios",
        RatioMethod::Welch => "Welch t-interval on log means",
    }
}
