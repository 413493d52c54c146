//! Confidence intervals and tests for benchmark figures.
//!
//! Every figure the harness reports carries a 95 % confidence interval, and a difference
//! between two backends is called significant only when the interval of their ratio
//! excludes 1. Runs are repeated only 3–10 times, so the methods must keep their nominal
//! coverage at small n:
//!
//! - Repeats (`interval`): figures (throughput, latency) are positive and their noise is
//!   multiplicative, so intervals are Student-t intervals on the logarithms,
//!   back-transformed: [`geomean_ci`], [`paired_ratio_ci`] (pairs measured in the same
//!   repeat) and [`welch_ratio_ci`] (independent samples). The t quantile [`t975`] pays for
//!   the few degrees of freedom: with 3 values it is 4.30, not 1.96.
//! - Large samples inside one run, n ≥ 10 (`bootstrap`): [`bootstrap_median_ci`], a
//!   percentile bootstrap of the median, which assumes no distribution. It is *not* used
//!   for repeats: with 3 values its interval is [min, max], which holds the median only
//!   1 − 2·(1/2)³ = 75 % of the time, so an A/A comparison (same backend twice) would look
//!   significant in about a quarter of cells. The tests measure both false-positive rates.
//! - Descriptive (`describe`): [`median`], [`quartiles`], [`quantile_sorted`] (R type 7),
//!   and [`quantile_rank_ci`], a distribution-free interval for a quantile (e.g. p99), as
//!   ranks into the sorted sample.
//! - Checks (`checks`): [`mann_whitney_p`] (rank test for a shift), [`ks_test`] (does a
//!   sample follow a given CDF, e.g. the exponential gaps of an open-loop schedule),
//!   [`autocorr_lag1`] (are successive repeats independent, as every interval here
//!   assumes) and [`STEAL_LIMIT_PCT`].
//!
//! The t quantile and the normal tail come from `statrs`; the bootstrap draws from `rand`'s
//! `SmallRng`, seeded by the caller, so reports are reproducible.

mod bootstrap;
mod checks;
mod describe;
#[cfg(test)]
mod draws;
mod interval;

pub use bootstrap::bootstrap_median_ci;
pub use checks::{autocorr_lag1, ks_test, mann_whitney_p, steal_limit_default, STEAL_LIMIT_PCT};
pub use describe::{median, quantile_rank_ci, quantile_sorted, quartiles, Quartiles};
pub use interval::{geomean_ci, paired_ratio_ci, t975, welch_ratio_ci, Interval};
