//! The percentile bootstrap of a median, for large samples inside one run
//! (n ≥ 10): it assumes no distribution, but with 3 values its interval is
//! [min, max], which is why repeats use the t-intervals instead.
//!
//! Resampling draws from `rand`'s `SmallRng`, seeded by the caller, so a
//! report is reproducible for a given seed (and the crate's locked `rand`).

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::describe::{finite_sorted, quantile_sorted};
use super::interval::Interval;

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
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut buf = vec![0.0; n];
    let mut medians: Vec<f64> = (0..resamples)
        .map(|_| {
            for slot in buf.iter_mut() {
                *slot = data[rng.gen_range(0..n)];
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::describe::median;
    use crate::stats::draws::{aa_experiments, lognormal, rng};

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
    fn bootstrap_is_deterministic_and_covers() {
        let mut rng = rng(7);
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
}
