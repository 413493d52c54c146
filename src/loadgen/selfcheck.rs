//! After an open-loop run the generator checks its own measurement, as
//! Lancet does, and says in one line whether the run can be trusted:
//!
//! - **arrivals** — the achieved send rate against the target, how late sends
//!   left after their intended time, and (Poisson) a Kolmogorov–Smirnov test
//!   of the actual gaps between one connection's sends against the
//!   exponential they were drawn from: a generator that fell behind or sent
//!   in clumps is named as the cause;
//! - **independence** — consecutive latencies are correlated under any real
//!   load (queueing), which is the server's nature, not a fault: the latency
//!   series (in completion order) is thinned to the smallest stride at which
//!   its lag-1 autocorrelation is not significant ([`super::independence`]);
//! - **convergence** — the 95 % interval of p99 from order statistics of that
//!   independent subsample against `--target-ci`. Only a subsample too small
//!   for the target makes the run invalid, and the message says how much
//!   longer the run would have to be.

use hdrhistogram::Histogram;

use super::client::measure::CheckSamples;
use super::client::schedule::Arrivals;
use super::independence::{self, Independence};
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

/// How a saturated run's verdict begins.
pub const SATURATED: &str = "server saturated";

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
    /// Lag-1 autocorrelation of the latency series in completion order (every sample).
    pub autocorr: Option<f64>,
    /// The independent subsample: its stride, lag-1 autocorrelation and size.
    pub independence: Option<Independence>,
    /// 95 % interval of p99 from the independent subsample, µs.
    pub p99_ci: Option<(u64, u64)>,
    /// Measured seconds the run would need for p99's interval to reach `--target-ci`
    /// (when it did not).
    pub needed_s: Option<f64>,
    /// The server did not keep up (connections' in-flight windows filled):
    /// the run measured saturation; the generator's own checks are not made.
    pub saturated: bool,
    /// What failed, one phrase each; empty: the measurement is valid.
    pub failures: Vec<String>,
}

/// "sample", "2nd sample", "8th sample".
fn ordinal(stride: usize) -> String {
    match stride {
        1 => "sample".into(),
        2 => "2nd sample".into(),
        3 => "3rd sample".into(),
        k => format!("{k}th sample"),
    }
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
    if !samples.send_lag.is_empty() {
        c.lag_p50_us = samples.send_lag.value_at_quantile(0.5);
        c.lag_p99_us = samples.send_lag.value_at_quantile(0.99);
    }
    if samples.held > 0 {
        // Every connection may keep 64 messages in flight; a full window means
        // replies stopped keeping up. Sends then leave late and the rate is not
        // met because of the server: a measurement of saturation, not a
        // generator fault (the generator's own checks would blame itself).
        c.saturated = true;
        c.failures.push(format!(
            "{SATURATED}: due messages found a connection's {} in-flight slots full {} times \
             (sent {:.0} of {target_rate:.0} msg/s): this rate is beyond what the server answers",
            super::client::OPEN_LOOP_MAX_IN_FLIGHT,
            samples.held,
            c.send_rate
        ));
        return c;
    }
    if c.send_rate < MIN_RATE_FRACTION * target_rate {
        c.failures.push(format!(
            "generator fell behind: sent {:.0} of {target_rate:.0} msg/s",
            c.send_rate
        ));
    }
    if c.lag_p99_us > MAX_LAG_P99_US {
        c.failures.push(format!(
            "sends late: p99 {} µs after their intended time",
            c.lag_p99_us
        ));
    }
    if arrivals == Arrivals::Poisson && samples.gaps.len() >= MIN_GAPS {
        check_fit(&mut c, samples, target_rate, conns);
    }
    check_independence(&mut c, samples, latency, target_ci, measured_s);
    c
}

/// Poisson arrivals: do the window's send gaps fit the intended exponential?
fn check_fit(c: &mut SelfCheck, samples: &CheckSamples, target_rate: f64, conns: usize) {
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

/// The latency series' independence, and p99's interval from the
/// independent subsample: converged, or how long the run would have to be.
fn check_independence(
    c: &mut SelfCheck,
    samples: &CheckSamples,
    latency: &Histogram<u64>,
    target_ci: f64,
    measured_s: f64,
) {
    let series: Vec<Vec<f64>> = samples.latencies.iter().map(|t| t.values.clone()).collect();
    if let Some(dense) = independence::choose_stride(&series) {
        // Stride 1 of the kept series (every sample, unless a series was thinned).
        let ones: Vec<&Vec<f64>> = series.iter().filter(|s| s.len() >= 3).collect();
        let n: usize = ones.iter().map(|s| s.len()).sum();
        c.autocorr = Some(
            ones.iter()
                .map(|s| stats::autocorr_lag1(s) * s.len() as f64)
                .sum::<f64>()
                / n.max(1) as f64,
        );
        // A series past its cap was thinned already: strides count every sample.
        let base = samples
            .latencies
            .iter()
            .map(|t| t.stride)
            .max()
            .unwrap_or(1);
        c.independence = Some(Independence {
            stride: dense.stride * base,
            ..dense
        });
        let ci = independence::quantile_ci(&series, dense.stride, 0.99);
        if let Some((lo, hi, n)) = ci {
            let (lo_v, hi_v) = (lo.round() as u64, hi.round() as u64);
            c.p99_ci = Some((lo_v, hi_v));
            let p99 = latency.value_at_quantile(0.99).max(1) as f64;
            let half = ((hi / p99) - 1.0).max(1.0 - lo / p99);
            if !dense.independent || half > target_ci {
                // An interval's half-width shrinks as 1/√n: (half/target)² as many
                // independent samples, the run that much longer.
                let factor = if dense.independent {
                    (half / target_ci).powi(2)
                } else {
                    4.0 // at least twice the stride's worth of samples
                };
                c.needed_s = Some(measured_s * factor);
                c.failures.push(format!(
                    "p99 not converged: from {n} independent samples (every {}{} in completion \
                     order, lag-1 r {:.2}) its 95 % interval {lo_v}–{hi_v} µs is ±{:.0} % (target \
                     ±{:.0} %), about {:.0} s of measurement would reach it",
                    ordinal(dense.stride * base),
                    if dense.independent {
                        ""
                    } else {
                        ", still correlated"
                    },
                    dense.r,
                    half * 100.0,
                    target_ci * 100.0,
                    measured_s * factor,
                ));
            }
        }
    } else if !latency.is_empty() {
        c.failures.push(format!(
            "p99 not converged: fewer than {} latency samples",
            independence::MIN_SAMPLES
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loadgen::client::measure::new_histogram;
    use crate::loadgen::independence::Thinned;
    use rand::{Rng, SeedableRng};

    /// Check a run whose sends left `gaps` apart and `lag_us` late and whose
    /// latencies were `lats` (in completion order), measured over `secs`.
    fn check_run(gaps: &[f64], lag_us: u64, lats: &[f64], secs: f64, target_ci: f64) -> SelfCheck {
        let mut s = CheckSamples {
            sent: 1000,
            ..CheckSamples::default()
        };
        for _ in 0..1000 {
            s.send_lag.record(lag_us).unwrap();
        }
        s.gaps = gaps.to_vec();
        let mut series = Thinned::new(1 << 20);
        let mut latency = new_histogram();
        for &x in lats {
            series.push(x);
            latency.record(x as u64).unwrap();
        }
        s.latencies = vec![series];
        let intended = Intended {
            arrivals: Arrivals::Poisson,
            rate: 1000.0,
            conns: 10,
            target_ci,
        };
        check(&s, &latency, intended, secs)
    }

    #[test]
    fn a_good_run_is_valid_and_each_failure_is_named() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(9);
        let exp: Vec<f64> = (0..3000).map(|_| -(1.0 - rng.gen::<f64>()).ln()).collect();
        let iid: Vec<f64> = (0..200_000)
            .map(|_| 100.0 + 100.0 * rng.gen::<f64>())
            .collect();
        let good = check_run(&exp, 20, &iid, 1.0, 0.05);
        assert_eq!(good.verdict(), "valid", "{good:?}");
        // Independent samples: stride 1, but a 5 % test says otherwise 1 time in 20.
        assert!(good.independence.unwrap().stride <= 2, "{good:?}");

        // Sends in clumps: gaps of 0 and 2 mean gaps are not exponential.
        let clumped: Vec<f64> = (0..3000)
            .map(|i| if i % 2 == 0 { 0.0 } else { 2.0 })
            .collect();
        let bad = check_run(&clumped, 20, &iid, 1.0, 0.05);
        assert!(
            bad.verdict().contains("not the intended exponential"),
            "{bad:?}"
        );
        // Behind: too few sends (1,000 in 2 s: half the rate), and late.
        let bad = check_run(&exp, 50_000, &iid, 2.0, 0.05);
        assert!(
            bad.verdict().contains("fell behind") && bad.verdict().contains("sends late"),
            "{bad:?}"
        );

        // Correlated latencies (queueing) are not a failure: the check thins
        // them to an independent subsample and takes p99's interval from it.
        let mut x = 0.0f64;
        let ar: Vec<f64> = (0..200_000)
            .map(|_| {
                x = 0.9 * x + rng.gen::<f64>() - 0.5;
                100.0 + 20.0 * x
            })
            .collect();
        let corr = check_run(&exp, 20, &ar, 1.0, 0.05);
        let ind = corr.independence.unwrap();
        assert!(ind.independent && ind.stride >= 16, "{corr:?}");
        assert!(corr.autocorr.unwrap() > 0.8, "{corr:?}");
        assert!(!corr.verdict().contains("correlated"), "{corr:?}");
        // ... but too few of them for the target is, with how long it would take.
        let short = check_run(&exp, 20, &ar[..3000], 1.0, 0.01);
        assert!(
            short.verdict().contains("p99 not converged")
                && short.verdict().contains("s of measurement"),
            "{short:?}"
        );
        assert!(short.needed_s.unwrap() > 1.0, "{short:?}");
        // Held back by the server: saturation, not the generator's fault.
        let mut sat = CheckSamples {
            sent: 500,
            held: 40,
            ..CheckSamples::default()
        };
        sat.send_lag.record(50_000).unwrap();
        let v = check(
            &sat,
            &new_histogram(),
            Intended {
                arrivals: Arrivals::Poisson,
                rate: 1000.0,
                conns: 10,
                target_ci: 0.05,
            },
            1.0,
        );
        assert!(v.saturated && v.verdict().starts_with(SATURATED), "{v:?}");
        // The reports read the class from the verdict's text.
        let row = |verdict: String| crate::record::RunResult {
            verdict,
            ..Default::default()
        };
        assert_eq!(row(v.verdict()).check(), crate::record::Check::Saturated);
        assert_eq!(
            row(short.verdict()).check(),
            crate::record::Check::Unconverged
        );
        assert_eq!(row(good.verdict()).check(), crate::record::Check::Valid);
        assert!(!v.verdict().contains("fell behind"), "{v:?}");
        // Too few samples of a heavy tail for a ±5 % p99.
        let tail: Vec<f64> = (0..300)
            .map(|_| (100.0 / (1.0 - rng.gen::<f64>())).floor())
            .collect();
        let bad = check_run(&exp, 20, &tail, 1.0, 0.05);
        assert!(bad.verdict().contains("p99 not converged"), "{bad:?}");
    }
}
