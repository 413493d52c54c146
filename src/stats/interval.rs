//! Student-t confidence intervals for repeats: the geometric mean, the ratio
//! of paired measurements and the Welch ratio of independent samples, all on
//! logarithms and back-transformed (figures are positive and their noise is
//! multiplicative), with the t quantile paying for the few degrees of freedom.
//!
//! The quantile comes from `statrs` (Student's t inverse CDF): the harness does
//! not measure it, and a maintained implementation replaces a hand-typed table.

use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

use super::describe::mean_var;

/// A point estimate with its 95 % confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// Point estimate.
    pub estimate: f64,
    /// Lower bound of the interval.
    pub lo: f64,
    /// Upper bound of the interval.
    pub hi: f64,
    /// Number of values (or pairs) the interval was computed from.
    pub n: usize,
}

impl Interval {
    /// Relative half-width: the larger of hi/estimate − 1 and 1 − lo/estimate (0.05 = ±5 %).
    /// Infinite if estimate is 0.
    pub fn rel_half_width(&self) -> f64 {
        if self.estimate == 0.0 {
            return f64::INFINITY;
        }
        (self.hi / self.estimate - 1.0).max(1.0 - self.lo / self.estimate)
    }

    /// Whether `v` lies outside [lo, hi].
    pub fn excludes(&self, v: f64) -> bool {
        v < self.lo || v > self.hi
    }
}

/// Up to this many degrees of freedom the quantile is statrs's inverse CDF;
/// beyond, that inversion loses accuracy (off by 7e-6 at df = 10⁵, and wrong
/// or endless far above), while the expansion below is within 3e-9 here.
const T_EXPANSION_FROM_DF: usize = 1000;

/// Two-sided 95 % critical value of Student's t with `df` degrees of freedom:
/// its 0.975 quantile, 4.30 for df = 2 and towards 1.96 as df grows; df = 0 →
/// f64::INFINITY (no interval). From `statrs` (Student's t inverse CDF) up to
/// df = 1000, and above from the normal quantile by the Cornish–Fisher
/// expansion (Abramowitz & Stegun 26.7.5, two terms). Rounded to 6 decimals,
/// the precision of the published table this replaced, so every interval
/// with df ≤ 30 (repeats) is exactly what it was.
pub fn t975(df: usize) -> f64 {
    if df == 0 {
        return f64::INFINITY;
    }
    let t = if df <= T_EXPANSION_FROM_DF {
        StudentsT::new(0.0, 1.0, df as f64)
            .expect("df ≥ 1 is a valid Student's t")
            .inverse_cdf(0.975)
    } else {
        let z = Normal::standard().inverse_cdf(0.975);
        let (z3, z5, n) = (z.powi(3), z.powi(5), df as f64);
        z + (z3 + z) / (4.0 * n) + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * n * n)
    };
    (t * 1e6).round() / 1e6
}

/// The t-interval mean ± t(n−1)·s/√n of log values, back-transformed with exp.
fn log_t_interval(logs: &[f64]) -> Option<Interval> {
    let n = logs.len();
    if n < 2 {
        return None;
    }
    let (mean, var) = mean_var(logs);
    let half = t975(n - 1) * (var / n as f64).sqrt();
    Some(Interval {
        estimate: mean.exp(),
        lo: (mean - half).exp(),
        hi: (mean + half).exp(),
        n,
    })
}

/// Whether a figure can enter a log-scale computation.
fn usable(x: f64) -> bool {
    x > 0.0 && x.is_finite()
}

/// Geometric mean of positive values with the 95 % t-interval computed on their logarithms
/// (back-transformed). None if fewer than 2 values or any value ≤ 0 or non-finite. With zero
/// spread, lo = hi = estimate.
pub fn geomean_ci(xs: &[f64]) -> Option<Interval> {
    if !xs.iter().all(|&x| usable(x)) {
        return None;
    }
    log_t_interval(&xs.iter().map(|x| x.ln()).collect::<Vec<_>>())
}

/// Ratio b/a of paired measurements (pairs (a_i, b_i) measured together, e.g. in the same
/// repeat): geometric mean of b_i/a_i with the t-interval on the log ratios. None if fewer
/// than 2 usable pairs (both positive and finite); unusable pairs are skipped.
pub fn paired_ratio_ci(pairs: &[(f64, f64)]) -> Option<Interval> {
    let logs: Vec<f64> = pairs
        .iter()
        .filter(|&&(a, b)| usable(a) && usable(b))
        .map(|&(a, b)| {
            // ln(b/a) keeps an exactly constant ratio exactly constant (ln 6 − ln 3 need not
            // equal ln 2 − ln 1); the difference of logs serves if b/a over- or underflows.
            let r = b / a;
            if r.is_normal() {
                r.ln()
            } else {
                b.ln() - a.ln()
            }
        })
        .collect();
    log_t_interval(&logs)
}

/// Ratio of geometric means gm(b)/gm(a) for unpaired samples, Welch t-interval on the
/// difference of log means (Welch–Satterthwaite df, rounded down, at least 1). Values that
/// are not positive and finite are skipped; None if either side has fewer than 2 left.
/// `n` of the result is the number of values used on both sides together.
pub fn welch_ratio_ci(a: &[f64], b: &[f64]) -> Option<Interval> {
    let logs = |xs: &[f64]| -> Vec<f64> {
        xs.iter()
            .copied()
            .filter(|&x| usable(x))
            .map(f64::ln)
            .collect()
    };
    let (la, lb) = (logs(a), logs(b));
    if la.len() < 2 || lb.len() < 2 {
        return None;
    }
    let ((ma, va), (mb, vb)) = (mean_var(&la), mean_var(&lb));
    let (na, nb) = (la.len() as f64, lb.len() as f64);
    // Squared standard errors of each log mean.
    let (sa, sb) = (va / na, vb / nb);
    let se2 = sa + sb;
    // Welch–Satterthwaite: df = (sa + sb)² / (sa²/(na − 1) + sb²/(nb − 1)).
    let df = if se2 > 0.0 {
        (se2 * se2 / (sa * sa / (na - 1.0) + sb * sb / (nb - 1.0))).floor() as usize
    } else {
        la.len() + lb.len() - 2
    };
    let half = t975(df.max(1)) * se2.sqrt();
    let d = mb - ma;
    Some(Interval {
        estimate: d.exp(),
        lo: (d - half).exp(),
        hi: (d + half).exp(),
        n: la.len() + lb.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::draws::aa_experiments;

    fn assert_close(got: f64, want: f64, tol: f64) {
        assert!((got - want).abs() <= tol, "got {got}, want {want} ± {tol}");
    }

    #[test]
    fn interval_helpers() {
        let iv = Interval {
            estimate: 2.0,
            lo: 1.8,
            hi: 2.3,
            n: 3,
        };
        assert_close(iv.rel_half_width(), 0.15, 1e-12);
        assert!(iv.excludes(1.0) && iv.excludes(2.4) && !iv.excludes(1.8) && !iv.excludes(2.0));
        assert!(Interval {
            estimate: 0.0,
            ..iv
        }
        .rel_half_width()
        .is_infinite());
    }

    #[test]
    fn t975_table_and_interpolation() {
        for (df, want) in [
            (1, 12.706),
            (2, 4.303),
            (4, 2.776),
            (10, 2.228),
            (30, 2.042),
        ] {
            assert_close(t975(df), want, 5e-4);
        }
        assert_close(t975(1000), 1.96, 0.01);
        // Interpolated against exact quantiles: t(50) = 2.008559, t(200) = 1.971896.
        assert_close(t975(50), 2.008559, 2e-4);
        assert_close(t975(200), 1.971896, 2e-4);
        assert_eq!(t975(0), f64::INFINITY);
        assert!((1..500).all(|df| t975(df + 1) < t975(df)));
    }

    /// Against R's `qt(0.975, df)` (to the 6 decimals kept), on both sides of
    /// the switch to the expansion, and far out where statrs's inversion fails.
    #[test]
    fn t975_matches_known_quantiles() {
        for (df, want) in [
            (1, 12.706_204_736_2),
            (2, 4.302_652_729_75),
            (3, 3.182_446_305_28),
            (5, 2.570_581_835_64),
            (10, 2.228_138_851_96),
            (30, 2.042_272_456_30),
            (50, 2.008_559_110_19),
            (120, 1.979_930_405_08),
            (1000, 1.962_339_080_82),
            (1001, 1.962_336_705_3),
            (100_000, 1.959_987_707_5),
            (10_000_000, 1.959_964_221_8),
            (usize::MAX, 1.959_963_984_5),
        ] {
            assert_close(t975(df), want, 5.000_1e-7);
        }
        assert!(t975(1000) > t975(1001) && t975(1001) > t975(1100));
    }

    #[test]
    fn geomean_ci_matches_formula() {
        let iv = geomean_ci(&[1.0, 2.0, 4.0]).unwrap();
        let logs = [1f64.ln(), 2f64.ln(), 4f64.ln()];
        let mean = logs.iter().sum::<f64>() / 3.0;
        let sd = (logs.iter().map(|l| (l - mean) * (l - mean)).sum::<f64>() / 2.0).sqrt();
        let half = 4.302653 * sd / 3f64.sqrt();
        assert_close(iv.estimate, 2.0, 1e-12);
        assert_close(iv.lo, (mean - half).exp(), 1e-9);
        assert_close(iv.hi, (mean + half).exp(), 1e-9);
        assert_eq!(iv.n, 3);
        let flat = geomean_ci(&[3.0, 3.0, 3.0]).unwrap();
        assert!(flat.lo == flat.estimate && flat.hi == flat.estimate);
        assert_eq!(geomean_ci(&[1.0]), None);
        assert_eq!(geomean_ci(&[1.0, 0.0, 2.0]), None);
        assert_eq!(geomean_ci(&[1.0, f64::NAN, 2.0]), None);
    }

    #[test]
    fn paired_ratio_constant_ratio_has_zero_width() {
        let iv = paired_ratio_ci(&[(1.0, 2.0), (3.0, 6.0), (5.0, 10.0), (0.0, 1.0)]).unwrap();
        assert_close(iv.estimate, 2.0, 1e-12);
        assert!(iv.lo == iv.estimate && iv.hi == iv.estimate);
        assert_eq!(iv.n, 3);
        assert_eq!(paired_ratio_ci(&[(1.0, 2.0), (f64::NAN, 1.0)]), None);
    }

    #[test]
    fn aa_paired_t_false_positive_rate_is_nominal() {
        let exps = aa_experiments();
        let hits = exps
            .iter()
            .filter(|p| paired_ratio_ci(&p[..]).unwrap().excludes(1.0))
            .count();
        let rate = hits as f64 / exps.len() as f64;
        eprintln!("A/A false-positive rate, paired t on logs, n = 3: {rate:.4}");
        assert!((0.02..=0.08).contains(&rate), "rate {rate}");
    }

    #[test]
    fn welch_detects_shift_and_uses_satterthwaite_df() {
        let a = [1.0, 1.02, 0.98, 1.01, 0.99];
        let b = [2.0, 2.04, 1.97, 2.02, 1.99];
        let iv = welch_ratio_ci(&a, &b).unwrap();
        assert!(iv.excludes(1.0));
        assert_close(iv.estimate, 2.0, 0.02);
        assert_eq!(iv.n, 10);
        // Equal log variances ln²2 and n = 3 each: df = 4, half = t(4)·√(2/3)·ln 2.
        let iv = welch_ratio_ci(&[1.0, 2.0, 4.0], &[2.0, 4.0, 8.0]).unwrap();
        let half = 2.776445 * (2.0f64 / 3.0).sqrt() * 2f64.ln();
        assert_close(iv.estimate, 2.0, 1e-12);
        assert_close(iv.lo, 2.0 * (-half).exp(), 1e-9);
        assert_close(iv.hi, 2.0 * half.exp(), 1e-9);
        assert_eq!(welch_ratio_ci(&[1.0], &b), None);
    }
}
