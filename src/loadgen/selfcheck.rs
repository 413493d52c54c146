//! After an open-loop run the generator checks its own measurement, as
//! Lancet does, and says in one line whether the run can be trusted:
//!
//! - **arrivals** — the achieved send rate against the target, how late sends
//!   left after their intended time, and (Poisson) a Kolmogorov–Smirnov test
//!   of the actual gaps between one connection's sends against the
//!   exponential they were drawn from: a generator that fell behind or sent
//!   in clumps is named as the cause;
//! - **independence** — the lag-1 autocorrelation of a sparse random
//!   subsample of the latency samples, in completion order: strongly
//!   correlated samples make any percentile interval too narrow;
//! - **convergence** — the 95 % interval of p99 from order statistics
//!   (binomial ranks into the histogram) against `--target-ci`.

use hdrhistogram::Histogram;

use super::client::measure::CheckSamples;
use super::client::schedule::Arrivals;
use crate::stats;

/// Achieved send rate below this fraction of the target: fell behind.
pub const MIN_RATE_FRACTION: f64 = 0.95;
/// KS p-value below this: the gaps are not the intended distribution.
pub const FIT_ALPHA: f64 = 0.001;
/// Fewest gaps for the fit test to speak.
pub const MIN_GAPS: usize = 100;
/// Most gaps the fit test reads (spread evenly over the samples). Sends leave
/// on event-loop turns, tens of µs apart: with tens of thousands of gaps the
/// test would reject that timer granularity itself (D ≈ 0.08 at 20,000 msg/s
/// on this machine) and blame a generator that kept its schedule; at 500 it
/// rejects what matters — clumps and a schedule left behind (D ≈ 0.3).
pub const FIT_GAPS: usize = 500;
/// 99th percentile of send lateness above this, µs: sends were late.
pub const MAX_LAG_P99_US: u64 = 1000;
/// |lag-1 autocorrelation| above this: samples strongly correlated.
pub const MAX_AUTOCORR: f64 = 0.5;
/// Fewest latency samples for the autocorrelation to speak.
pub const MIN_LAT_SAMPLES: usize = 30;

/// What the self-check found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SelfCheck {
    /// Messages sent per second in the window.
    pub send_rate: f64,
    /// Send lateness, µs: median and 99th percentile.
    pub lag_p50_us: u64,
    /// 99th percentile.
    pub lag_p99_us: u64,
    /// KS statistic and p-value of the gaps against the exponential (Poisson only).
    pub fit: Option<(f64, f64)>,
    /// Lag-1 autocorrelation of the latency subsample.
    pub autocorr: Option<f64>,
    /// 95 % interval of p99, µs.
    pub p99_ci: Option<(u64, u64)>,
    /// What failed, one phrase each; empty: the measurement is valid.
    pub failures: Vec<String>,
}

impl SelfCheck {
    /// "valid", or what failed.
    pub fn verdict(&self) -> String {
        if self.failures.is_empty() {
            "valid".into()
        } else {
            self.failures.join("; ")
        }
    }
}

/// What the run intended.
#[derive(Debug, Clone, Copy)]
pub struct Intended {
    /// How sends were to be spaced.
    pub arrivals: Arrivals,
    /// Messages per second, all connections.
    pub rate: f64,
    /// Connections that send.
    pub conns: usize,
    /// `--target-ci` for the p99 interval.
    pub target_ci: f64,
}

/// Run the checks on what the window's sends (`samples`, over `measured_s`
/// seconds) left behind.
pub fn check(
    samples: &CheckSamples,
    latency: &Histogram<u64>,
    intended: Intended,
    measured_s: f64,
) -> SelfCheck {
    let Intended {
        arrivals,
        rate: target_rate,
        conns,
        target_ci,
    } = intended;
    let mut c = SelfCheck {
        send_rate: samples.sent as f64 / measured_s.max(1e-9),
        ..SelfCheck::default()
    };
    if c.send_rate < MIN_RATE_FRACTION * target_rate {
        c.failures.push(format!(
            "generator fell behind: sent {:.0} of {target_rate:.0} msg/s",
            c.send_rate
        ));
    }
    if !samples.send_lag.is_empty() {
        c.lag_p50_us = samples.send_lag.value_at_quantile(0.5);
        c.lag_p99_us = samples.send_lag.value_at_quantile(0.99);
        if c.lag_p99_us > MAX_LAG_P99_US {
            c.failures.push(format!(
                "sends late: p99 {} µs after their intended time",
                c.lag_p99_us
            ));
        }
    }
    if arrivals == Arrivals::Poisson && samples.gaps.len() >= MIN_GAPS {
        let step = samples.gaps.len().div_ceil(FIT_GAPS);
        let gaps: Vec<f64> = samples.gaps.iter().step_by(step).copied().collect();
        let (d, p) = stats::ks_test(&gaps, |x| 1.0 - (-x).exp());
        c.fit = Some((d, p));
        if p < FIT_ALPHA {
            let gaps_late = c.lag_p50_us as f64 * 1e-6 * target_rate / conns.max(1) as f64;
            c.failures.push(format!(
                "send gaps are not the intended exponential (KS D = {d:.3}, p = {p:.1e}; sends \
                 left a median {} µs late, {} a connection's mean gap): the sends departed \
                 from the schedule — quantised to the client's loop turns, clumped, or behind it",
                c.lag_p50_us,
                if gaps_late < 10.0 {
                    format!("{:.0} % of", 100.0 * gaps_late)
                } else {
                    format!("{gaps_late:.0e} times")
                }
            ));
        }
    }
    let (mut weighted, mut n) = (0.0, 0usize);
    for seq in samples.latencies.iter().filter(|s| s.len() >= 3) {
        weighted += stats::autocorr_lag1(seq) * seq.len() as f64;
        n += seq.len();
    }
    if n >= MIN_LAT_SAMPLES {
        let r = weighted / n as f64;
        c.autocorr = Some(r);
        if r.abs() > MAX_AUTOCORR {
            c.failures.push(format!(
                "latency samples strongly correlated (lag-1 r = {r:.2}): the p99 interval is too \
                 narrow"
            ));
        }
    }
    let total = latency.len();
    if let Some((lo, hi)) = usize::try_from(total)
        .ok()
        .and_then(|n| stats::quantile_rank_ci(n, 0.99))
    {
        let at = |rank: usize| latency.value_at_quantile((rank as f64 + 0.5) / total as f64);
        let (lo_v, hi_v) = (at(lo), at(hi));
        c.p99_ci = Some((lo_v, hi_v));
        let p99 = latency.value_at_quantile(0.99).max(1) as f64;
        let half = ((hi_v as f64 / p99) - 1.0).max(1.0 - lo_v as f64 / p99);
        if half > target_ci {
            c.failures.push(format!(
                "p99 not converged: its 95 % interval {lo_v}–{hi_v} µs is ±{:.0} % (target ±{:.0} %)",
                half * 100.0,
                target_ci * 100.0
            ));
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loadgen::client::measure::new_histogram;
    use rand::{Rng, SeedableRng};

    fn samples(gaps: Vec<f64>, lag_us: u64, lats: Vec<f64>) -> CheckSamples {
        let mut s = CheckSamples {
            sent: 1000,
            ..CheckSamples::default()
        };
        for _ in 0..1000 {
            s.send_lag.record(lag_us).unwrap();
        }
        s.gaps = gaps;
        s.latencies = vec![lats];
        s
    }

    fn latency(n: u64) -> Histogram<u64> {
        let mut h = new_histogram();
        let mut rng = rand::rngs::SmallRng::seed_from_u64(3);
        for _ in 0..n {
            h.record(100 + rng.gen_range(0..100)).unwrap();
        }
        h
    }

    #[test]
    fn a_good_run_is_valid_and_each_failure_is_named() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(9);
        let exp: Vec<f64> = (0..3000).map(|_| -(1.0 - rng.gen::<f64>()).ln()).collect();
        let iid: Vec<f64> = (0..3000).map(|_| rng.gen::<f64>()).collect();
        let lat = latency(200_000);
        let good = check(
            &samples(exp.clone(), 20, iid.clone()),
            &lat,
            Intended {
                arrivals: Arrivals::Poisson,
                rate: 1000.0,
                conns: 10,
                target_ci: 0.05,
            },
            1.0,
        );
        assert_eq!(good.verdict(), "valid", "{good:?}");

        // Sends in clumps: gaps of 0 and 2 mean gaps are not exponential.
        let clumped: Vec<f64> = (0..3000)
            .map(|i| if i % 2 == 0 { 0.0 } else { 2.0 })
            .collect();
        let bad = check(
            &samples(clumped, 20, iid.clone()),
            &lat,
            Intended {
                arrivals: Arrivals::Poisson,
                rate: 1000.0,
                conns: 10,
                target_ci: 0.05,
            },
            1.0,
        );
        assert!(
            bad.verdict().contains("not the intended exponential"),
            "{bad:?}"
        );
        // Behind: too few sends, and late.
        let bad = check(
            &samples(exp.clone(), 50_000, iid.clone()),
            &lat,
            Intended {
                arrivals: Arrivals::Poisson,
                rate: 1000.0,
                conns: 10,
                target_ci: 0.05,
            },
            2.0, // 1,000 sends in 2 s: half the rate
        );
        assert!(
            bad.verdict().contains("fell behind") && bad.verdict().contains("sends late"),
            "{bad:?}"
        );
        // Correlated latencies: a slow drift.
        let drift: Vec<f64> = (0..3000).map(|i| i as f64).collect();
        let bad = check(
            &samples(exp.clone(), 20, drift),
            &lat,
            Intended {
                arrivals: Arrivals::Poisson,
                rate: 1000.0,
                conns: 10,
                target_ci: 0.05,
            },
            1.0,
        );
        assert!(bad.verdict().contains("strongly correlated"), "{bad:?}");
        // Too few samples of a heavy tail for a ±5 % p99.
        let mut tail = new_histogram();
        for _ in 0..300 {
            tail.record((100.0 / (1.0 - rng.gen::<f64>())) as u64)
                .unwrap();
        }
        let bad = check(
            &samples(exp, 20, iid),
            &tail,
            Intended {
                arrivals: Arrivals::Poisson,
                rate: 1000.0,
                conns: 10,
                target_ci: 0.05,
            },
            1.0,
        );
        assert!(bad.verdict().contains("p99 not converged"), "{bad:?}");
    }
}
