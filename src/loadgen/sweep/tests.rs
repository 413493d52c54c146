//! The sweep's parsing, matrix and convergence rules.

use super::*;
use crate::backend::Backend;
use crate::loadgen::args::{parse_fraction, parse_repeat, Repeat};
use crate::record::RunResult;

#[test]
fn a_backend_named_twice_runs_as_two_arms() {
    let uring_ff = parse_arm_spec("uring+fixed-files").unwrap();
    let labels: Vec<String> = arms(&[
        Backend::EpollEt.into(),
        Backend::Poll.into(),
        Backend::EpollEt.into(),
        uring_ff,
        Backend::Uring.into(),
    ])
    .into_iter()
    .map(|a| a.label)
    .collect();
    assert_eq!(
        labels,
        [
            "epoll-et#1",
            "poll",
            "epoll-et#2",
            "uring+fixed-files",
            "uring"
        ]
    );
    assert!(uring_ff.features.fixed_files);
    assert!(parse_arm_spec("poll+fixed-files").is_err());
    assert!(parse_arm_spec("uring+bogus").is_err());
    assert_eq!(parse_repeat("auto"), Ok(Repeat::Auto));
    assert_eq!(parse_repeat("4"), Ok(Repeat::Fixed(4)));
    assert!(parse_repeat("x").is_err());
    assert_eq!(parse_fraction("5%"), Ok(0.05));
    assert_eq!(parse_fraction("0.02"), Ok(0.02));
    assert!(parse_fraction("5").is_err() && parse_fraction("0%").is_err());
}

#[test]
fn auto_repeat_stops_when_every_arm_is_within_the_target() {
    let run = |cpu: f64, rps: f64| RunResult {
        server_cpu_us_per_req: Some(cpu),
        req_per_s: rps,
        ..RunResult::default()
    };
    let tight = vec![run(5.0, 1000.0), run(5.05, 1010.0), run(4.95, 990.0)];
    let loose = vec![run(5.0, 1000.0), run(7.0, 1010.0), run(4.0, 990.0)];
    assert!(converged(std::slice::from_ref(&tight), 0.05).0);
    let (ok, widest) = converged(&[tight, loose], 0.05);
    assert!(!ok && widest > 0.3, "{widest}");
    let (ok, widest) = converged(&[vec![run(5.0, 1000.0)]], 0.05);
    assert!(!ok && widest.is_infinite(), "one run has no interval");
}

fn parse(args: &[&str]) -> SweepArgs {
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        sweep: SweepArgs,
    }
    let argv = ["sweep", "--out", "/tmp/x"].iter().chain(args);
    <Cli as clap::Parser>::parse_from(argv).sweep
}

#[test]
fn the_reference_preset_runs_on_the_chosen_backends() {
    let all = matrix(&parse(&["--preset", "reference"]));
    assert_eq!(all.len(), 9, "nine scenarios");
    assert!(all
        .iter()
        .all(|c| c.arms.iter().map(|a| a.backend).eq(Backend::ALL)));
    let four = matrix(&parse(&[
        "--preset",
        "reference",
        "--backends",
        "select,poll,epoll-lt,epoll-et",
    ]));
    assert_eq!(four.len(), 9);
    assert!(four
        .iter()
        .all(|c| c.arms.len() == 4 && !c.arms.iter().any(|a| a.backend.needs_io_uring())));
}
