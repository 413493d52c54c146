//! Checks of the assumptions behind the intervals and of the load itself:
//! the Mann–Whitney rank test for a shift, the Kolmogorov–Smirnov test of a
//! sample against a CDF (e.g. an open-loop schedule's exponential gaps), lag-1
//! autocorrelation (are repeats independent?), and the host-steal limit that
//! marks a stretch of measurement disturbed.
//!
//! The normal tail (`erfc`) comes from `statrs`; the exact U distribution and
//! the Kolmogorov distribution stay here (statrs has neither).

use std::f64::consts::{PI, SQRT_2};

use statrs::function::erf::erfc;

use super::describe::{finite_sorted, mean_var};

/// Host steal above this, percent of all CPU time over an interval or a
/// slice, marks it disturbed: the host took the CPUs away, and what was
/// measured then is the host's doing.
pub const STEAL_LIMIT_PCT: f64 = 5.0;

/// [`STEAL_LIMIT_PCT`], for serde's defaults.
pub fn steal_limit_default() -> f64 {
    STEAL_LIMIT_PCT
}

/// Exact two-sided p-value of U without ties. Over the C(n1+n2, n1) equally likely orderings,
/// the number with U = u obeys c(m, k, u) = c(m − 1, k, u − k) + c(m, k − 1, u): the largest
/// value comes either from the first sample (beating all k of the second) or not.
fn exact_u_p(n1: usize, n2: usize, u: usize) -> f64 {
    let mut table: Vec<Vec<Vec<u64>>> = vec![vec![vec![1]; n2 + 1]; n1 + 1];
    for m in 1..=n1 {
        for k in 1..=n2 {
            let mut c = vec![0u64; m * k + 1];
            for (v, &x) in table[m - 1][k].iter().enumerate() {
                c[v + k] += x;
            }
            for (v, &x) in table[m][k - 1].iter().enumerate() {
                c[v] += x;
            }
            table[m][k] = c;
        }
    }
    let counts = &table[n1][n2];
    let total: u64 = counts.iter().sum();
    let below: u64 = counts[..=u].iter().sum();
    let above: u64 = counts[u..].iter().sum();
    (2.0 * below.min(above) as f64 / total as f64).min(1.0)
}

/// Two-sided p-value of the Mann–Whitney U test on the finite values: exact enumeration when
/// both samples have ≤ 8 values and no ties, else the normal approximation with tie and
/// continuity corrections. Returns 1.0 if either sample is empty.
pub fn mann_whitney_p(a: &[f64], b: &[f64]) -> f64 {
    let (a, b) = (finite_sorted(a), finite_sorted(b));
    if a.is_empty() || b.is_empty() {
        return 1.0;
    }
    let mut pooled: Vec<(f64, bool)> = a
        .iter()
        .map(|&x| (x, true))
        .chain(b.iter().map(|&x| (x, false)))
        .collect();
    pooled.sort_by(|x, y| x.0.total_cmp(&y.0));
    // Midranks: a tie group at 0-based positions i..j gets rank (i + 1 + j)/2.
    let (mut rank_sum_a, mut tie_term, mut i) = (0.0, 0.0, 0);
    while i < pooled.len() {
        let j = i + pooled[i..]
            .iter()
            .take_while(|p| p.0 == pooled[i].0)
            .count();
        let in_a = pooled[i..j].iter().filter(|p| p.1).count();
        rank_sum_a += (i + 1 + j) as f64 / 2.0 * in_a as f64;
        let t = (j - i) as f64;
        tie_term += t * t * t - t;
        i = j;
    }
    let (n1, n2, n) = (a.len() as f64, b.len() as f64, pooled.len() as f64);
    let u = rank_sum_a - n1 * (n1 + 1.0) / 2.0;
    if tie_term == 0.0 && a.len() <= 8 && b.len() <= 8 {
        return exact_u_p(a.len(), b.len(), u.round() as usize);
    }
    // Var(U) = n1·n2/12 · ((n + 1) − Σ(t³ − t)/(n(n − 1))).
    let var = n1 * n2 / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)));
    if var <= 0.0 {
        return 1.0;
    }
    let z = ((u - n1 * n2 / 2.0).abs() - 0.5).max(0.0) / var.sqrt();
    erfc(z / SQRT_2).min(1.0)
}

/// Survival function Q(λ) = P(K > λ) of the Kolmogorov distribution. For small λ the
/// alternating series 2·Σ(−1)^(j−1)·exp(−2j²λ²) converges slowly, so there the Jacobi form
/// 1 − √(2π)/λ · Σ exp(−(2j − 1)²π²/(8λ²)) is used.
fn kolmogorov_q(lambda: f64) -> f64 {
    if lambda <= 0.0 || lambda.is_nan() {
        return 1.0;
    }
    let q = if lambda < 1.18 {
        let s: f64 = (1..=6)
            .map(|j| f64::from(2 * j - 1))
            .map(|k| (-k * k * PI * PI / (8.0 * lambda * lambda)).exp())
            .sum();
        1.0 - (2.0 * PI).sqrt() / lambda * s
    } else {
        let s: f64 = (1..=10)
            .map(|j| {
                let sign = if j % 2 == 1 { 1.0 } else { -1.0 };
                sign * (-2.0 * f64::from(j * j) * lambda * lambda).exp()
            })
            .sum();
        2.0 * s
    };
    q.clamp(0.0, 1.0)
}

/// One-sample Kolmogorov–Smirnov test of the finite `samples` against the continuous CDF
/// `cdf`: returns (D statistic, asymptotic p-value from the Kolmogorov distribution at
/// (√n + 0.12 + 0.11/√n)·D, Stephens' small-sample correction). p = 1.0 for empty input.
pub fn ks_test(samples: &[f64], cdf: impl Fn(f64) -> f64) -> (f64, f64) {
    let xs = finite_sorted(samples);
    if xs.is_empty() {
        return (0.0, 1.0);
    }
    let n = xs.len() as f64;
    // D = max over i of max(F(x_i) − i/n, (i + 1)/n − F(x_i)), 0-based i.
    let d = xs
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let (f, i) = (cdf(x), i as f64);
            (f - i / n).max((i + 1.0) / n - f)
        })
        .fold(0.0, f64::max);
    let root = n.sqrt();
    (d, kolmogorov_q((root + 0.12 + 0.11 / root) * d))
}

/// Lag-1 autocorrelation Σ(x_t − m)(x_{t+1} − m) / Σ(x_t − m)² of a series (0.0 when fewer
/// than 3 values or zero variance; NaN if a value is not finite).
pub fn autocorr_lag1(xs: &[f64]) -> f64 {
    if xs.len() < 3 {
        return 0.0;
    }
    let (mean, var) = mean_var(xs);
    if var == 0.0 {
        return 0.0;
    }
    let num: f64 = xs.windows(2).map(|w| (w[0] - mean) * (w[1] - mean)).sum();
    let den: f64 = xs.iter().map(|x| (x - mean).powi(2)).sum();
    num / den
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::draws::{normal, rng, uniform};

    fn assert_close(got: f64, want: f64, tol: f64) {
        assert!((got - want).abs() <= tol, "got {got}, want {want} ± {tol}");
    }

    #[test]
    fn mann_whitney() {
        let a: Vec<f64> = (0..10).map(f64::from).collect();
        let b: Vec<f64> = (10..20).map(f64::from).collect();
        assert!(mann_whitney_p(&a, &a) > 0.5);
        assert!(mann_whitney_p(&a, &b) < 0.001);
        assert_eq!(mann_whitney_p(&a, &b), mann_whitney_p(&b, &a));
        // Exact: 2 of the C(6, 3) = 20 orderings are this extreme.
        assert_close(
            mann_whitney_p(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]),
            0.1,
            1e-12,
        );
        assert_eq!(mann_whitney_p(&[], &b), 1.0);
        // Normal path with ties, as R's wilcox.test(c(1, 2, 2, 3, 5), c(2, 4:11)): p = 0.018963.
        let tied = [2.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0];
        assert_close(
            mann_whitney_p(&[1.0, 2.0, 2.0, 3.0, 5.0], &tied),
            0.018963,
            1e-5,
        );
        assert_close(mann_whitney_p(&a, &b), 0.00018267, 1e-7);
        for (x, want) in [
            (0.0, 1.0),
            (1.0, 0.157299207),
            (-1.0, 1.842700793),
            (3.0, 2.20905e-5),
        ] {
            assert_close(erfc(x), want, 2e-7 * want);
        }
    }

    /// statrs's `erfc` against high-precision values: within 1e-9 relative
    /// (the Numerical Recipes fit it replaced was good to 1.2e-7).
    #[test]
    fn erfc_matches_known_values() {
        for (x, want) in [
            (0.5, 0.479_500_122_186_953_5),
            (-0.5, 1.520_499_877_813_046_5),
            (2.0, 4.677_734_981_047_266e-3),
            (5.0, 1.537_459_794_428_034_8e-12),
        ] {
            assert_close(erfc(x), want, 1e-9 * want);
        }
    }

    #[test]
    fn kolmogorov_distribution() {
        // Known critical values: Q(1.3581) = 0.05, Q(1.6276) = 0.01, Q(1.0) = 0.2700.
        assert_close(kolmogorov_q(1.3581), 0.05, 1e-4);
        assert_close(kolmogorov_q(1.6276), 0.01, 1e-4);
        assert_close(kolmogorov_q(1.0), 0.2700, 1e-4);
        assert_close(kolmogorov_q(1.18 - 1e-9), kolmogorov_q(1.18), 1e-6);
    }

    #[test]
    fn ks_test_exponential() {
        let exp_cdf = |x: f64| if x <= 0.0 { 0.0 } else { 1.0 - (-x).exp() };
        let mut rng = rng(99);
        let draws: Vec<f64> = (0..2000).map(|_| -(1.0 - uniform(&mut rng)).ln()).collect();
        let (_, p) = ks_test(&draws, exp_cdf);
        assert!(p > 0.01, "p {p}");
        // A uniform schedule's gaps are all equal: D = 1 − e⁻¹ ≈ 0.632.
        let (d, p) = ks_test(&[1.0; 2000], exp_cdf);
        assert_close(d, 1.0 - (-1.0f64).exp(), 1e-9);
        assert!(p < 1e-6, "p {p}");
        let n = 100;
        let grid: Vec<f64> = (0..n)
            .map(|i| (f64::from(i) + 0.5) / f64::from(n))
            .collect();
        let (d, p) = ks_test(&grid, |x| x.clamp(0.0, 1.0));
        assert!(d <= 1.0 / f64::from(n) && p > 0.99, "d {d} p {p}");
        assert_eq!(ks_test(&[], exp_cdf), (0.0, 1.0));
    }

    #[test]
    fn autocorrelation() {
        let alternating: Vec<f64> = (0..100)
            .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        assert!(autocorr_lag1(&alternating) < -0.95);
        let mut rng = rng(3);
        let noise: Vec<f64> = (0..2000).map(|_| normal(&mut rng)).collect();
        let walk: Vec<f64> = noise
            .iter()
            .scan(0.0, |s, x| {
                *s += x;
                Some(*s)
            })
            .collect();
        assert!(autocorr_lag1(&walk) > 0.9);
        assert!(autocorr_lag1(&noise).abs() < 0.1);
        assert_eq!(autocorr_lag1(&[1.0, 2.0]), 0.0);
        assert_eq!(autocorr_lag1(&[0.1; 10]), 0.0);
    }
}
