//! Descriptive statistics: order statistics and quantiles (R type 7), the
//! median and quartiles, mean and sample variance, and the distribution-free
//! rank interval of a quantile — what every other statistic here starts from.

/// First quartile, median, third quartile of the finite values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quartiles {
    /// 25th percentile (R type 7).
    pub q1: f64,
    /// 50th percentile.
    pub median: f64,
    /// 75th percentile (R type 7).
    pub q3: f64,
}

impl Quartiles {
    /// Interquartile range, q3 − q1.
    pub fn iqr(&self) -> f64 {
        self.q3 - self.q1
    }
}

/// The finite values of `xs`, ascending.
pub(super) fn finite_sorted(xs: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    v
}

/// Median of the finite values (mean of the middle two for even count); None if none.
pub fn median(xs: &[f64]) -> Option<f64> {
    let v = finite_sorted(xs);
    (!v.is_empty()).then(|| quantile_sorted(&v, 0.5))
}

/// Quantile `q` in [0, 1] (clamped) of an ascending-sorted slice, by linear interpolation
/// between order statistics (R type 7: h = (n − 1)·q, x[⌊h⌋] + (h − ⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋])).
/// NaN for an empty slice or a NaN `q`.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    let h = (sorted.len() - 1) as f64 * q.clamp(0.0, 1.0);
    let i = h.floor() as usize;
    let frac = h - h.floor();
    match sorted.get(i + 1) {
        Some(&next) if frac > 0.0 => sorted[i] + frac * (next - sorted[i]),
        _ => sorted[i],
    }
}

/// Quartiles (R type 7) of the finite values; None if there are none.
pub fn quartiles(xs: &[f64]) -> Option<Quartiles> {
    let v = finite_sorted(xs);
    (!v.is_empty()).then(|| Quartiles {
        q1: quantile_sorted(&v, 0.25),
        median: quantile_sorted(&v, 0.5),
        q3: quantile_sorted(&v, 0.75),
    })
}

/// Mean and sample variance (divisor n − 1) of at least two values. The variance is exactly
/// 0 when all values are equal, so that a zero-spread interval collapses to its estimate.
pub(super) fn mean_var(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    if xs.iter().all(|&x| x == xs[0]) {
        return (mean, 0.0);
    }
    let ss: f64 = xs.iter().map(|x| (x - mean).powi(2)).sum();
    (mean, ss / (n - 1.0))
}

/// Distribution-free 95 % confidence interval for the q-quantile of a sample of size n, as
/// 0-based ranks (lo, hi) into the sorted sample, from the binomial(n, q) count of values
/// below the quantile via its normal approximation: lo = ⌊nq − 1.96·√(nq(1 − q))⌋,
/// hi = ⌈nq + 1.96·√(nq(1 − q))⌉, clamped to [0, n − 1]. `q` is clamped to [0, 1].
/// None when n == 0 or q is NaN.
pub fn quantile_rank_ci(n: usize, q: f64) -> Option<(usize, usize)> {
    if n == 0 || q.is_nan() {
        return None;
    }
    let q = q.clamp(0.0, 1.0);
    let nq = n as f64 * q;
    let half = 1.96 * (nq * (1.0 - q)).sqrt();
    let last = (n - 1) as f64;
    let lo = (nq - half).floor().clamp(0.0, last) as usize;
    let hi = (nq + half).ceil().clamp(0.0, last) as usize;
    Some((lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::draws::{rng, uniform};

    fn assert_close(got: f64, want: f64, tol: f64) {
        assert!((got - want).abs() <= tol, "got {got}, want {want} ± {tol}");
    }

    #[test]
    fn median_quartiles_quantile_match_r_type7() {
        // R: quantile(c(3, 1, 4, 1, 5, 9, 2, 6), c(.25, .5, .75, .9)) → 1.75 3.50 5.25 6.90
        let mut xs = vec![3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0];
        xs.extend([f64::NAN, f64::INFINITY]);
        let sorted = finite_sorted(&xs);
        assert_eq!(sorted, [1.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 9.0]);
        for (q, want) in [
            (0.0, 1.0),
            (0.25, 1.75),
            (0.5, 3.5),
            (0.75, 5.25),
            (0.9, 6.9),
            (1.0, 9.0),
        ] {
            assert_close(quantile_sorted(&sorted, q), want, 1e-12);
        }
        let qs = quartiles(&xs).unwrap();
        assert_close(qs.q1, 1.75, 1e-12);
        assert_close(qs.median, 3.5, 1e-12);
        assert_close(qs.q3, 5.25, 1e-12);
        assert_close(qs.iqr(), 3.5, 1e-12);
        assert_eq!(median(&xs), Some(3.5));
        assert_eq!(
            median(&[5.0, f64::NAN, 1.0, f64::NEG_INFINITY, 3.0]),
            Some(3.0)
        );
        assert_eq!(median(&[f64::NAN]), None);
        assert_eq!(quartiles(&[]), None);
        assert!(quantile_sorted(&[], 0.5).is_nan());
        assert_eq!(quantile_sorted(&[2.0], 0.3), 2.0);
    }

    #[test]
    fn quantile_rank_ci_p99() {
        let (lo, hi) = quantile_rank_ci(1000, 0.99).unwrap();
        assert!(lo < 990 && 990 <= hi, "({lo}, {hi})");
        assert!((980..=999).contains(&lo) && (980..=999).contains(&hi));
        assert_eq!(quantile_rank_ci(0, 0.5), None);
        assert_eq!(quantile_rank_ci(1, 0.5), Some((0, 0)));
        // Coverage: the true p99 of uniform(0, 1) is 0.99.
        let mut rng = rng(11);
        let covered = (0..300)
            .filter(|_| {
                let mut xs: Vec<f64> = (0..1000).map(|_| uniform(&mut rng)).collect();
                xs.sort_by(f64::total_cmp);
                xs[lo] <= 0.99 && 0.99 <= xs[hi]
            })
            .count();
        eprintln!(
            "p99 rank interval coverage, n = 1000: {}",
            covered as f64 / 300.0
        );
        assert!(covered >= 270, "covered {covered}/300");
    }
}
