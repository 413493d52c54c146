//! How many of a run's latency samples are independent, and what p99 they
//! can vouch for — done as Lancet does it (Kogias, Mallon, Bugnion, "Lancet:
//! A self-correcting Latency Measuring Tool", USENIX ATC 2019).
//!
//! Under load, queueing makes consecutive latencies correlated: a slow reply
//! delays the ones queued behind it. That is a property of the server, not a
//! fault of the measurement, so a run is not rejected for it. But a
//! percentile's order-statistics interval assumes independent samples; on a
//! correlated series it is too narrow. The remedy is to thin the series —
//! every k-th sample in completion order — with the smallest stride k at
//! which the lag-1 autocorrelation is no longer significant, and to compute
//! the interval from that subsample. Correlation then costs samples (a wider
//! interval, a longer run), never a false claim of precision.

use crate::stats;

/// z for a two-sided 5 % test: |r| above z/√n is a significant lag-1
/// autocorrelation (under independence r is about normal, variance 1/n).
const Z_95: f64 = 1.96;

/// Fewest samples a subsample needs for its autocorrelation to speak.
pub const MIN_SAMPLES: usize = 30;

/// A thinned series of samples in arrival order that never holds more than
/// `cap` values: when full it drops every other value and keeps only every
/// `2·stride`-th from then on, so what it holds is always evenly spaced.
#[derive(Debug, Clone, PartialEq)]
pub struct Thinned {
    /// The kept values, every `stride`-th offered.
    pub values: Vec<f64>,
    /// Offered values per kept value.
    pub stride: usize,
    offered: u64,
    cap: usize,
}

impl Thinned {
    /// An empty series that keeps at most `cap` (at least 2) values.
    pub fn new(cap: usize) -> Thinned {
        Thinned {
            values: Vec::new(),
            stride: 1,
            offered: 0,
            cap: cap.max(2),
        }
    }

    /// Offer the next value.
    pub fn push(&mut self, x: f64) {
        let i = self.offered;
        self.offered += 1;
        if !i.is_multiple_of(self.stride as u64) {
            return;
        }
        if self.values.len() == self.cap {
            // Keep offered values 0, 2s, 4s, …: still evenly spaced.
            let mut k = 0;
            self.values.retain(|_| {
                k += 1;
                k % 2 == 1
            });
            self.stride *= 2;
            if !i.is_multiple_of(self.stride as u64) {
                return;
            }
        }
        self.values.push(x);
    }
}

/// The stride the subsample was thinned to and what it shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Independence {
    /// Every `stride`-th sample (in completion order) of the series.
    pub stride: usize,
    /// Lag-1 rank autocorrelation at that stride (pooled over the series).
    pub r: f64,
    /// Samples in the subsample.
    pub n: usize,
    /// Whether `r` is below significance: false when even the sparsest
    /// subsample with [`MIN_SAMPLES`] values was still correlated.
    pub independent: bool,
}

/// Every `stride`-th value of each series.
fn thin(series: &[Vec<f64>], stride: usize) -> Vec<Vec<f64>> {
    series
        .iter()
        .map(|s| s.iter().step_by(stride).copied().collect())
        .collect()
}

/// The ranks of `xs` (0-based; ties share their mean rank).
fn ranks(xs: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..xs.len()).collect();
    order.sort_by(|&a, &b| xs[a].total_cmp(&xs[b]));
    let mut r = vec![0.0; xs.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && xs[order[j + 1]] == xs[order[i]] {
            j += 1;
        }
        let mean = (i + j) as f64 / 2.0;
        for &k in &order[i..=j] {
            r[k] = mean;
        }
        i = j + 1;
    }
    r
}

/// Lag-1 rank (Spearman) autocorrelation: the lag-1 autocorrelation of the
/// series' ranks. Latencies have heavy tails; on the values themselves one
/// stall of a few milliseconds among microsecond replies would decide the
/// coefficient alone, on ranks every sample counts once.
pub fn rank_autocorr_lag1(xs: &[f64]) -> f64 {
    stats::autocorr_lag1(&ranks(xs))
}

/// Lag-1 rank autocorrelation pooled over several series (each weighted by
/// its length), and how many values it rests on.
fn pooled_autocorr(series: &[Vec<f64>]) -> (f64, usize) {
    let (mut weighted, mut n) = (0.0, 0usize);
    for s in series.iter().filter(|s| s.len() >= 3) {
        weighted += rank_autocorr_lag1(s) * s.len() as f64;
        n += s.len();
    }
    (if n > 0 { weighted / n as f64 } else { 0.0 }, n)
}

/// The smallest stride (1, 2, 4, …) at which the pooled lag-1
/// autocorrelation of `series` (one per worker, in completion order) is not
/// significant at 5 %. When none is before the subsample falls under
/// [`MIN_SAMPLES`], the sparsest tried is returned with `independent: false`.
/// `None` when there are fewer than [`MIN_SAMPLES`] samples at all.
pub fn choose_stride(series: &[Vec<f64>]) -> Option<Independence> {
    let mut last = None;
    let mut stride = 1;
    loop {
        let (r, n) = pooled_autocorr(&thin(series, stride));
        if n < MIN_SAMPLES {
            return last.map(|l: Independence| Independence {
                independent: false,
                ..l
            });
        }
        let here = Independence {
            stride,
            r,
            n,
            independent: r.abs() <= Z_95 / (n as f64).sqrt(),
        };
        if here.independent {
            return Some(here);
        }
        last = Some(here);
        stride *= 2;
    }
}

/// The 95 % interval of the `q`-quantile from every `stride`-th value of
/// `series`, by order statistics (binomial ranks), and the subsample's size.
pub fn quantile_ci(series: &[Vec<f64>], stride: usize, q: f64) -> Option<(f64, f64, usize)> {
    let mut sub: Vec<f64> = thin(series, stride.max(1)).concat();
    sub.retain(|x| x.is_finite());
    sub.sort_by(f64::total_cmp);
    let (lo, hi) = stats::quantile_rank_ci(sub.len(), q)?;
    Some((sub[lo], sub[hi], sub.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// A stationary AR(1) series with N(0, 1) marginals and lag-1 correlation
    /// `phi`, mapped to latencies 100·e^x µs (lognormal: a known p99).
    fn ar1(phi: f64, n: usize, seed: u64) -> Vec<f64> {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
        let mut normal = || {
            // Box–Muller.
            let (u, v): (f64, f64) = (1.0 - rng.gen::<f64>(), rng.gen());
            (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
        };
        let mut x = normal();
        let scale = (1.0 - phi * phi).sqrt();
        (0..n)
            .map(|_| {
                x = phi * x + scale * normal();
                100.0 * x.exp()
            })
            .collect()
    }

    /// z of the standard normal's 99th percentile.
    const Z_99: f64 = 2.326_347_874;

    #[test]
    fn the_stride_is_where_the_known_correlation_stops_being_significant() {
        let n = 100_000;
        for (phi, seed) in [(0.0, 1), (0.5, 2), (0.9, 3), (0.97, 4)] {
            let got = choose_stride(&[ar1(phi, n, seed)]).unwrap();
            assert!(got.independent, "phi {phi}: {got:?}");
            let k = got.stride as f64;
            // The correlation of the series thinned to stride k is phi^k
            // (for the log-normal map a little less). Chosen: it is not
            // clearly significant there ...
            let threshold = |k: f64| Z_95 / (n as f64 / k).sqrt();
            assert!(phi.powf(k) <= 2.0 * threshold(k), "phi {phi}: {got:?}");
            // ... and was clearly so at half the stride (not chance).
            if got.stride > 1 {
                assert!(
                    phi.powf(k / 2.0) >= 0.5 * threshold(k / 2.0),
                    "phi {phi}: stride {} too sparse",
                    got.stride
                );
            }
        }
        // Independent samples need no thinning.
        assert_eq!(choose_stride(&[ar1(0.0, n, 9)]).unwrap().stride, 1);
        // Too few samples: no answer.
        assert!(choose_stride(&[vec![1.0; 10]]).is_none());
    }

    #[test]
    fn the_subsample_interval_covers_the_true_p99_and_the_dense_one_does_not() {
        let truth = 100.0 * Z_99.exp();
        let trials = 100;
        let (mut covered, mut dense_covered) = (0, 0);
        for seed in 0..trials {
            // Two workers' series, as a run has one per worker.
            let series = vec![ar1(0.9, 20_000, 2 * seed), ar1(0.9, 20_000, 2 * seed + 1)];
            let ind = choose_stride(&series).unwrap();
            let (lo, hi, _) = quantile_ci(&series, ind.stride, 0.99).unwrap();
            covered += usize::from(lo <= truth && truth <= hi);
            let (lo, hi, _) = quantile_ci(&series, 1, 0.99).unwrap();
            dense_covered += usize::from(lo <= truth && truth <= hi);
        }
        assert!(covered >= 90, "covered {covered} of {trials}");
        // The interval from every (correlated) sample is too narrow: the
        // check above would fail without the thinning.
        assert!(
            dense_covered < 80,
            "dense covered {dense_covered} of {trials}"
        );
    }

    #[test]
    fn a_thinned_series_stays_evenly_spaced_under_its_cap() {
        for cap in [2, 7, 8, 100] {
            let mut t = Thinned::new(cap);
            for i in 0..10_000 {
                t.push(i as f64);
            }
            assert!(t.values.len() <= cap, "cap {cap}: {}", t.values.len());
            assert!(
                t.values.len() > cap / 2 - 1,
                "cap {cap}: {}",
                t.values.len()
            );
            for w in t.values.windows(2) {
                assert_eq!(w[1] - w[0], t.stride as f64, "cap {cap}: {:?}", t.values);
            }
            assert_eq!(t.values[0], 0.0);
        }
        let mut t = Thinned::new(1000);
        (0..500).for_each(|i| t.push(i as f64));
        assert_eq!((t.values.len(), t.stride), (500, 1));
    }
}
