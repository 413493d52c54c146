//! Confidence intervals and tests for benchmark figures.
//!
//! Every figure the harness reports carries a 95 % confidence interval, and a difference
//! between two backends is called significant only when the interval of their ratio
//! excludes 1. Runs are repeated only 3–10 times, so the methods must keep their nominal
//! coverage at small n:
//!
//! - Repeats: figures (throughput, latency) are positive and their noise is multiplicative,
//!   so intervals are Student-t intervals on the logarithms, back-transformed:
//!   [`geomean_ci`], [`paired_ratio_ci`] (pairs measured in the same repeat) and
//!   [`welch_ratio_ci`] (independent samples). The t quantile [`t975`] pays for the few
//!   degrees of freedom: with 3 values it is 4.30, not 1.96.
//! - Large samples inside one run (n ≥ 10): [`bootstrap_median_ci`], a percentile bootstrap
//!   of the median, which assumes no distribution. It is *not* used for repeats: with 3
//!   values its interval is [min, max], which holds the median only 1 − 2·(1/2)³ = 75 % of
//!   the time, so an A/A comparison (same backend twice) would look significant in about a
//!   quarter of cells. The tests measure both false-positive rates.
//! - [`quantile_rank_ci`]: a distribution-free interval for a quantile (e.g. p99), as ranks
//!   into the sorted sample.
//! - Checks: [`mann_whitney_p`] (rank test for a shift), [`ks_test`] (does a sample follow a
//!   given CDF, e.g. the exponential gaps of an open-loop schedule) and [`autocorr_lag1`]
//!   (are successive repeats independent, as every interval here assumes).
//!
//! Only `std` is used; the bootstrap draws from an inline, seeded SplitMix64 generator, so
//! reports are reproducible.

use std::f64::consts::{PI, SQRT_2};

/// Two-sided 95 % critical value of the standard normal distribution.
const Z975: f64 = 1.959964;

/// Two-sided 95 % critical values of Student's t for df = 1..=30.
const T975_TABLE: [f64; 30] = [
    12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004, 2.262157,
    2.228139, 2.200985, 2.178813, 2.160369, 2.144787, 2.131450, 2.119905, 2.109816, 2.100922,
    2.093024, 2.085963, 2.079614, 2.073873, 2.068658, 2.063899, 2.059539, 2.055529, 2.051831,
    2.048407, 2.045230, 2.042272,
];

/// Knots beyond the table as (1/df, t), down to df = ∞. The quantile is nearly linear in
/// 1/df (Cornish–Fisher: t ≈ z + (z³ + z)/(4·df)), so linear interpolation in 1/df is
/// accurate to about 1e-4.
const T975_TAIL: [(f64, f64); 5] = [
    (1.0 / 30.0, 2.042272),
    (1.0 / 40.0, 2.021075),
    (1.0 / 60.0, 2.000298),
    (1.0 / 120.0, 1.979930),
    (0.0, Z975),
];

/// Host steal above this, percent of all CPU time over an interval or a
/// slice, marks it disturbed: the host took the CPUs away, and what was
/// measured then is the host's doing.
pub const STEAL_LIMIT_PCT: f64 = 5.0;

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
fn finite_sorted(xs: &[f64]) -> Vec<f64> {
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

/// Two-sided 95 % critical value of Student's t with `df` degrees of freedom (df ≥ 1): exact
/// table for df 1..=30, then 40, 60, 120 interpolated (in 1/df), and 1.959964 as df → ∞.
/// df = 0 → f64::INFINITY.
pub fn t975(df: usize) -> f64 {
    match df {
        0 => f64::INFINITY,
        1..=30 => T975_TABLE[df - 1],
        _ => {
            let x = 1.0 / df as f64;
            T975_TAIL
                .windows(2)
                .find(|w| x >= w[1].0)
                .map_or(Z975, |w| {
                    let ((x0, t0), (x1, t1)) = (w[0], w[1]);
                    t1 + (t0 - t1) * (x - x1) / (x0 - x1)
                })
        }
    }
}

/// Mean and sample variance (divisor n − 1) of at least two values. The variance is exactly
/// 0 when all values are equal, so that a zero-spread interval collapses to its estimate.
fn mean_var(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    if xs.iter().all(|&x| x == xs[0]) {
        return (mean, 0.0);
    }
    let ss: f64 = xs.iter().map(|x| (x - mean).powi(2)).sum();
    (mean, ss / (n - 1.0))
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

/// SplitMix64 (Steele, Lea & Flood 2014): a tiny, well-mixed 64-bit generator, enough for
/// resampling indices.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform index in 0..n by Lemire's multiply-shift (bias at most n/2⁶⁴).
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}

/// Median of a non-empty slice, reordering it: O(n) selection instead of a sort, with the
/// same arithmetic as [`quantile_sorted`] at q = 0.5.
fn median_in_place(v: &mut [f64]) -> f64 {
    let odd = !v.len().is_multiple_of(2);
    let (left, &mut upper, _) = v.select_nth_unstable_by(v.len() / 2, f64::total_cmp);
    if odd {
        return upper;
    }
    let lower = left.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    lower + 0.5 * (upper - lower)
}

/// Percentile bootstrap 95 % interval of the median of the finite values: `resamples`
/// resamples with replacement, deterministic for a given `seed`; lo and hi are the 2.5 % and
/// 97.5 % quantiles of the resampled medians. estimate = sample median. None if fewer than 2
/// finite values or `resamples` is 0. Use for n ≥ 10 only (see the module doc).
pub fn bootstrap_median_ci(xs: &[f64], resamples: usize, seed: u64) -> Option<Interval> {
    let data = finite_sorted(xs);
    let n = data.len();
    if n < 2 || resamples == 0 {
        return None;
    }
    let mut rng = SplitMix64(seed);
    let mut buf = vec![0.0; n];
    let mut medians: Vec<f64> = (0..resamples)
        .map(|_| {
            for slot in buf.iter_mut() {
                *slot = data[rng.below(n)];
            }
            median_in_place(&mut buf)
        })
        .collect();
    medians.sort_by(f64::total_cmp);
    Some(Interval {
        estimate: quantile_sorted(&data, 0.5),
        lo: quantile_sorted(&medians, 0.025),
        hi: quantile_sorted(&medians, 0.975),
        n,
    })
}

/// Complementary error function (Numerical Recipes `erfcc`, Chebyshev fit, relative error
/// below 1.2e-7 everywhere).
fn erfc(x: f64) -> f64 {
    const C: [f64; 10] = [
        -1.26551223,
        1.00002368,
        0.37409196,
        0.09678418,
        -0.18628806,
        0.27886807,
        -1.13520398,
        1.48851587,
        -0.82215223,
        0.17087277,
    ];
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    // erfc(z) ≈ t·exp(−z² + C0 + C1·t + … + C9·t⁹), the polynomial evaluated by Horner.
    let poly = C.iter().rev().fold(0.0, |acc, c| c + t * acc);
    let r = t * (-z * z + poly).exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
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

    fn assert_close(got: f64, want: f64, tol: f64) {
        assert!((got - want).abs() <= tol, "got {got}, want {want} ± {tol}");
    }

    /// Uniform in [0, 1) from the top 53 bits.
    fn uniform(rng: &mut SplitMix64) -> f64 {
        (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal by Box–Muller: √(−2 ln u1)·cos(2π u2).
    fn normal(rng: &mut SplitMix64) -> f64 {
        let u1 = 1.0 - uniform(rng);
        (-2.0 * u1.ln()).sqrt() * (2.0 * PI * uniform(rng)).cos()
    }

    fn lognormal(rng: &mut SplitMix64, sigma: f64) -> f64 {
        (sigma * normal(rng)).exp()
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

    /// 2000 A/A experiments of 3 pairs, every value log-normal with σ = 0.2.
    fn aa_experiments() -> Vec<[(f64, f64); 3]> {
        let mut rng = SplitMix64(20_240_601);
        (0..2000)
            .map(|_| [(); 3].map(|()| (lognormal(&mut rng, 0.2), lognormal(&mut rng, 0.2))))
            .collect()
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
    fn aa_bootstrap_false_positive_rate_is_too_high_at_n3() {
        // With 3 values the percentile bootstrap of the median is [min, max]; it excludes 1
        // whenever all three ratios fall on the same side: 2·(1/2)³ = 25 %. This is why
        // repeats use the t-interval.
        let exps = aa_experiments();
        let hits = (0u64..)
            .zip(&exps)
            .filter(|(seed, p)| {
                let ratios = p.map(|(a, b)| b / a);
                bootstrap_median_ci(&ratios, 1000, *seed)
                    .unwrap()
                    .excludes(1.0)
            })
            .count();
        let rate = hits as f64 / exps.len() as f64;
        eprintln!("A/A false-positive rate, bootstrap median, n = 3: {rate:.4}");
        assert!(rate > 0.15, "rate {rate}");
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

    #[test]
    fn bootstrap_is_deterministic_and_covers() {
        let mut rng = SplitMix64(7);
        // Log-normal with σ = 1: true median 1.
        let xs: Vec<f64> = (0..200).map(|_| lognormal(&mut rng, 1.0)).collect();
        let iv = bootstrap_median_ci(&xs, 2000, 42).unwrap();
        assert_eq!(Some(iv), bootstrap_median_ci(&xs, 2000, 42));
        assert!(!iv.excludes(1.0) && iv.lo < iv.hi, "{iv:?}");
        assert_eq!(Some(iv.estimate), median(&xs));
        assert_eq!(bootstrap_median_ci(&[1.0, f64::NAN], 100, 1), None);

        let covered = (0..300)
            .filter(|&seed| {
                let xs: Vec<f64> = (0..30).map(|_| lognormal(&mut rng, 1.0)).collect();
                !bootstrap_median_ci(&xs, 1000, seed).unwrap().excludes(1.0)
            })
            .count();
        let coverage = covered as f64 / 300.0;
        eprintln!("bootstrap median coverage, n = 30: {coverage:.4}");
        assert!((0.88..=0.99).contains(&coverage), "coverage {coverage}");
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
        let mut rng = SplitMix64(99);
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
        let mut rng = SplitMix64(3);
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

    #[test]
    fn quantile_rank_ci_p99() {
        let (lo, hi) = quantile_rank_ci(1000, 0.99).unwrap();
        assert!(lo < 990 && 990 <= hi, "({lo}, {hi})");
        assert!((980..=999).contains(&lo) && (980..=999).contains(&hi));
        assert_eq!(quantile_rank_ci(0, 0.5), None);
        assert_eq!(quantile_rank_ci(1, 0.5), Some((0, 0)));
        // Coverage: the true p99 of uniform(0, 1) is 0.99.
        let mut rng = SplitMix64(11);
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
