//! Offered rates for a latency curve: the capacity calibration written to
//! `curve.txt`, and `--rates auto`'s search for the rates worth measuring.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::args::SweepArgs;
use super::matrix::{Cell, Scenario};
use super::output::{append, CURVE_FILE};
use crate::limits;
use crate::loadgen::progress::NoProgress;

/// Most rates `--rates auto` probes per scenario.
const AUTO_RATE_STEPS: usize = 20;

/// `x` to two significant digits (rates people can read).
fn round2(x: f64) -> f64 {
    if x <= 0.0 {
        return x;
    }
    let scale = 10f64.powi(x.log10().floor() as i32 - 1);
    (x / scale).round() * scale
}

/// Offered load of the calibration run: far beyond what any client sends.
const CALIBRATION_RATE: f64 = 50e6;

/// The client capacity guard: one short open-loop run of `cell`'s first arm
/// at a rate no client reaches, to measure how many messages per second this
/// client can send with these connections. Rates above 80 % of it are marked
/// client-limited in the report.
pub(super) fn write_curve_file(a: &SweepArgs, exe: &Path, cell: &Cell) -> Result<Option<f64>> {
    let mut capacity = None;
    let mut text = format!("slo_us={}\n", a.slo.as_micros());
    let arm = &cell.arms[0];
    let mut args = a.run_args(
        arm.backend,
        Scenario {
            rate: Some(CALIBRATION_RATE),
            ..cell.scenario
        },
    );
    args.warmup = Duration::from_millis(300);
    args.duration = Duration::from_secs(1);
    eprintln!(
        "calibrating the client: {} {} at {CALIBRATION_RATE:.0} msg/s for 1 s",
        arm.label, cell.scenario.conns
    );
    match crate::loadgen::run(&args, exe, &mut NoProgress) {
        Ok(out) => {
            if let Some(rate) = out.result.send_rate {
                capacity = Some(rate);
                eprintln!("  the client sends at most {rate:.0} msg/s with these connections");
                let _ = writeln!(
                    text,
                    "client_capacity={rate:.1}\nclient_capacity_conns={}",
                    cell.scenario.conns
                );
            }
        }
        Err(e) => eprintln!("  calibration failed ({e:#}); rates are not checked against it"),
    }
    std::fs::write(a.out.join(CURVE_FILE), text).context("writing curve.txt")?;
    Ok(capacity)
}

/// `--rates auto`: for each (closed-loop) cell, probe rising rates with short
/// runs (not recorded) until every arm misses the SLO or the rate, or the
/// client's capacity is passed; return the cells at the rates found, and
/// note them in curve.txt.
pub(super) fn discover_rates(
    a: &SweepArgs,
    exe: &Path,
    cells: Vec<Cell>,
    capacity: Option<f64>,
) -> Result<Vec<Cell>> {
    let top = capacity.unwrap_or(limits::MAX_RATE).min(limits::MAX_RATE);
    let start = round2(capacity.map_or(1000.0, |c| c * 0.02)).max(limits::MIN_RATE);
    let slo_us = a.slo.as_secs_f64() * 1e6;
    let mut notes = String::new();
    let mut out = Vec::new();
    for cell in cells {
        let mut rates = Vec::new();
        let mut rate = start;
        for _ in 0..AUTO_RATE_STEPS {
            rates.push(rate);
            let mut every_arm_missed = true;
            for arm in &cell.arms {
                let s = Scenario {
                    rate: Some(rate),
                    ..cell.scenario
                };
                let mut args = a.arm_args(arm, s);
                args.warmup = Duration::from_millis(300);
                args.duration = a.duration.min(Duration::from_secs(1));
                eprintln!("finding rates: {} {s} (probe, not recorded)", arm.label);
                match crate::loadgen::run(&args, exe, &mut NoProgress) {
                    Ok(o) => {
                        let r = &o.result;
                        if r.req_per_s >= 0.95 * rate && (r.lat_p99_us as f64) <= slo_us {
                            every_arm_missed = false;
                        }
                    }
                    Err(e) if crate::signals::interrupted() => bail!("interrupted: {e:#}"),
                    Err(e) => eprintln!("  probe failed ({e:#}): counted as a miss"),
                }
            }
            if every_arm_missed || rate >= top {
                break;
            }
            rate = round2(rate * 1.5).min(limits::MAX_RATE);
        }
        let _ = writeln!(
            notes,
            "auto_rates {}: {}",
            cell.scenario,
            rates
                .iter()
                .map(|r| format!("{r}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        out.extend(rates.into_iter().map(|r| Cell {
            scenario: Scenario {
                rate: Some(r),
                ..cell.scenario
            },
            arms: cell.arms.clone(),
        }));
    }
    append(&a.out.join(CURVE_FILE), &notes)?;
    Ok(out)
}
