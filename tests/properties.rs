//! Properties of what reads or combines data from outside (issue 24 item 5;
//! the chat line splitter's are in `src/server/rules.rs`):
//!
//! - `loadgen merge`: however one run's latencies are split among load
//!   hosts, the merged histogram, spectrum and counts are the whole run's;
//! - a runs.csv row survives the file: written and read back, it is the
//!   same row, whatever its text fields hold (commas, quotes, newlines);
//! - the interval rule (95 % t-interval on logs): it holds its estimate, it
//!   scales with the data, and a ratio's interval turned around is the
//!   reciprocal one.

use std::path::PathBuf;

use hdrhistogram::Histogram;
use muxbench::loadgen::merge;
use muxbench::record::{RunResult, Warnings};
use muxbench::report;
use muxbench::report::json::{encode_histogram, spectrum_of, FullResult};
use muxbench::stats;
use proptest::prelude::*;

fn histogram(values: &[u64]) -> Histogram<u64> {
    let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    for &v in values {
        h.record(v).unwrap();
    }
    h
}

/// A host's result holding `values`, measured over the same window.
fn host(i: usize, values: &[u64]) -> (PathBuf, FullResult) {
    let h = histogram(values);
    let result = RunResult {
        backend: "epoll-et".into(),
        requests: values.len() as u64,
        req_per_s: values.len() as f64,
        host_label: Some(format!("host{i}")),
        window_start_unix: Some(1000.0),
        window_end_unix: Some(1001.0),
        ..RunResult::default()
    };
    let full = FullResult {
        result,
        latency_percentiles: spectrum_of(&h),
        uncorrected_percentiles: None,
        intervals: Vec::new(),
        histogram: Some(encode_histogram(&h).unwrap()),
        server_window: None,
        hosts: Vec::new(),
    };
    (PathBuf::from(format!("host{i}.json")), full)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_merge_of_any_split_is_the_whole_run(
        values in proptest::collection::vec(1u64..50_000_000, 1..400),
        owners in proptest::collection::vec(0usize..4, 400),
        hosts in 2usize..5,
    ) {
        let mut split = vec![Vec::new(); hosts];
        for (v, o) in values.iter().zip(&owners) {
            split[o % hosts].push(*v);
        }
        let inputs: Vec<_> = split.iter().enumerate().map(|(i, vs)| host(i, vs)).collect();
        let (merged, h) = merge::merge(&inputs).unwrap();
        let whole = histogram(&values);
        prop_assert_eq!(h.len(), whole.len());
        prop_assert_eq!((h.min(), h.max()), (whole.min(), whole.max()));
        prop_assert_eq!(&merged.latency_percentiles, &spectrum_of(&whole));
        prop_assert_eq!(merged.result.requests, values.len() as u64);
        prop_assert_eq!(merged.result.load_hosts, Some(hosts));
        // The merged JSON's own histogram is the sum too.
        let again = report::json::decode_histogram(merged.histogram.as_deref().unwrap()).unwrap();
        prop_assert_eq!(again, whole);
    }

    #[test]
    fn a_run_row_survives_runs_csv(
        backend in "[a-z-]{1,12}",
        // Not empty: `--host-label` refuses that (a CSV cell cannot tell it from none).
        label in proptest::option::of("[!-~][ -~\n\"]{0,20}"),
        warnings in proptest::collection::vec("[a-z ,\"]{1,10}", 0..3),
        conns in 0usize..100_000,
        requests in any::<u64>(),
        req_per_s in 0.0f64..1e9,
        rate in proptest::option::of(1.0f64..1e7),
        repeat in proptest::option::of(1usize..1000),
    ) {
        let row = RunResult {
            backend,
            host_label: label,
            // A warning never holds the separator "; " (see Warnings).
            warnings: Warnings(warnings.into_iter().filter(|w| !w.contains("; ")).collect()),
            conns,
            requests,
            req_per_s,
            target_rate: rate,
            repeat,
            ..RunResult::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.csv");
        report::csv::append(&path, &row).unwrap();
        report::csv::append(&path, &row).unwrap();
        let back = report::csv::read(&path).unwrap();
        prop_assert_eq!(back.len(), 2);
        for b in &back {
            prop_assert_eq!(&b.backend, &row.backend);
            prop_assert_eq!(&b.host_label, &row.host_label);
            prop_assert_eq!(&b.warnings, &row.warnings);
            prop_assert_eq!((b.conns, b.requests, b.repeat), (row.conns, row.requests, row.repeat));
            prop_assert_eq!(b.req_per_s.to_bits(), row.req_per_s.to_bits());
            prop_assert_eq!(b.target_rate.map(f64::to_bits), row.target_rate.map(f64::to_bits));
            // Every other column too: the row serializes to the same text.
            prop_assert_eq!(serde_json::to_string(b).unwrap(), serde_json::to_string(&row).unwrap());
        }
    }

    #[test]
    fn the_interval_holds_its_estimate_and_scales_with_the_data(
        xs in proptest::collection::vec(0.001f64..1e6, 2..40),
        scale in 0.001f64..1000.0,
    ) {
        let ci = stats::geomean_ci(&xs).unwrap();
        prop_assert!(ci.lo <= ci.estimate * (1.0 + 1e-12) && ci.estimate <= ci.hi * (1.0 + 1e-12), "{ci:?}");
        let scaled: Vec<f64> = xs.iter().map(|x| x * scale).collect();
        let s = stats::geomean_ci(&scaled).unwrap();
        for (a, b) in [(s.lo, ci.lo), (s.estimate, ci.estimate), (s.hi, ci.hi)] {
            prop_assert!((a / (b * scale) - 1.0).abs() < 1e-9, "{s:?} vs {ci:?} × {scale}");
        }
    }

    #[test]
    fn a_ratio_turned_around_is_the_reciprocal_interval(
        pairs in proptest::collection::vec((0.001f64..1e6, 0.001f64..1e6), 2..40),
    ) {
        let ab = stats::paired_ratio_ci(&pairs).unwrap();
        let swapped: Vec<(f64, f64)> = pairs.iter().map(|&(a, b)| (b, a)).collect();
        let ba = stats::paired_ratio_ci(&swapped).unwrap();
        prop_assert!((ab.estimate * ba.estimate - 1.0).abs() < 1e-9);
        prop_assert!((ab.lo * ba.hi - 1.0).abs() < 1e-9 && (ab.hi * ba.lo - 1.0).abs() < 1e-9, "{ab:?} {ba:?}");
        // Exactly constant ratios: no spread, the interval is the point.
        let k = pairs[0].1 / pairs[0].0;
        let constant: Vec<(f64, f64)> = pairs.iter().map(|&(a, _)| (a, a * k)).collect();
        let c = stats::paired_ratio_ci(&constant).unwrap();
        prop_assert!((c.hi / c.lo - 1.0).abs() < 1e-9, "{c:?}");
    }
}
