//! What a sweep is told: its command line (`loadgen sweep --help`).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::loadgen::args::{parse_fraction, parse_repeat, LoadSettings, Repeat};
use crate::units::parse_duration;

/// Ready-made matrices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    /// The committed reference sweep: active connections 1/10/100/1000 (no idle);
    /// 10 active with 0/100/500/1000/5000 idle; read buffer 4 vs 16384 at 10
    /// active (epoll-lt vs epoll-et, with select and poll for contrast).
    Reference,
}

/// Settings of a sweep.
#[derive(Debug, Clone, Args)]
pub struct SweepArgs {
    /// Output folder (runs.csv, hgrm/, REPORT.md, plan.json). A folder holding an interrupted
    /// sweep of the same plan (the same settings) is resumed: only the missing runs run, in
    /// the same order. A folder holding another plan is refused, naming what differs.
    #[arg(long)]
    pub out: PathBuf,
    /// Start over on an --out that holds an earlier sweep: its files are moved into
    /// `previous-<time>/` inside it first.
    #[arg(long)]
    pub fresh: bool,
    /// A ready-made matrix of scenarios instead of the lists below (run on `--backends`).
    #[arg(long, value_enum)]
    pub preset: Option<Preset>,
    /// Backends, comma-separated; a backend named twice runs as two arms (`epoll-et#1`,
    /// `epoll-et#2`: an A/A check). `uring+FEATURE+…` is uring with io_uring features (see
    /// --uring-features), an arm of its own: `uring,uring+fixed-files,uring+sqpoll`.
    #[arg(long, value_delimiter = ',', value_parser = super::arm::parse_arm_spec,
          default_values_t = super::arm::ArmSpec::all())]
    pub backends: Vec<super::arm::ArmSpec>,
    /// Active connection counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "100")]
    pub conns: Vec<usize>,
    /// Idle connection counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0")]
    pub idle: Vec<usize>,
    /// Message sizes, comma-separated (16 B to 64 MiB).
    #[arg(long, value_delimiter = ',', default_value = "64", value_parser = crate::loadgen::args::parse_msg_size)]
    pub msg_size: Vec<usize>,
    /// Server read sizes, comma-separated (1 B to 64 MiB).
    #[arg(long, value_delimiter = ',', default_value = "16384", value_parser = crate::server::parse_read_buf)]
    pub read_buf: Vec<usize>,
    /// Runs per cell and arm, or `auto`: repeat until the 95 % CI of server CPU µs per
    /// request and req/s is within --target-ci on every arm (at least 3, at most
    /// --max-repeat rounds). The whole sweep's planned time is at most one day.
    #[arg(long, default_value = "3", value_parser = parse_repeat)]
    pub repeat: Repeat,
    /// `--repeat auto`: the CI half-width to reach, relative (`5%` or `0.05`).
    #[arg(long, default_value = "5%", value_parser = parse_fraction)]
    pub target_ci: f64,
    /// `--repeat auto`: most rounds per cell.
    #[arg(long, default_value_t = 10)]
    pub max_repeat: usize,
    /// Open loop: offered rates in msg/s, comma-separated, or `auto`; every scenario runs at
    /// each, in ascending order — a load–latency curve per arm, with Poisson arrivals and the
    /// generator's self-check on every point. A calibration run first measures what the
    /// client itself can send; the report gives each arm's capacity at --slo. `auto`: short
    /// probing runs from 2 % of that capacity up, ×1.5 per step, until every arm misses the
    /// SLO or the rate (or the client's capacity is reached); those rates are then swept.
    #[arg(long, value_delimiter = ',', value_parser = parse_rate_arg)]
    pub rates: Vec<RateArg>,
    /// With --rates: the p99 latency target the report's capacity refers to.
    #[arg(long, default_value = "1ms", value_parser = parse_duration)]
    pub slo: Duration,
    /// Backend the report's ratios refer to.
    #[arg(long, default_value = "epoll-et")]
    pub baseline: String,
    /// Warm-up per run.
    #[arg(long, default_value = "0.5s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Measured duration per run.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub duration: Duration,
    /// How arms take turns within a scenario. slices: every arm's server runs at once and
    /// the load moves between them in --slice slices, in a random order within each cycle;
    /// ratios are paired within a cycle (a machine that changes speed every few seconds hits
    /// both sides of a ratio); `--repeat N` gives N × (--duration / --slice) cycles. rounds:
    /// one whole run per arm per round (warm-up, --duration), ratios paired by round.
    /// Default: slices where every arm supports them (echo, servers of our own, no
    /// --reactors, no --count-syscalls) and the load is closed loop; rounds for curves (--rates: each whole run
    /// gets the generator's self-check) and everything else.
    #[arg(long, value_enum)]
    pub interleave: Option<Interleave>,
    /// --interleave slices: the length of one slice (50 ms to 10 s).
    #[arg(long, default_value = "500ms", value_parser = parse_duration)]
    pub slice: Duration,
    /// Count every run's server system calls from the kernel too (`loadgen --help`:
    /// --count-syscalls); the only syscall count tokio gets.
    #[arg(long)]
    pub count_syscalls: bool,
    /// Settings shared with a single run (`loadgen --help` explains each).
    #[command(flatten)]
    pub load: LoadSettings,
}

/// How a sweep interleaves its arms (see `--interleave`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Interleave {
    /// Every arm's server at once, the load moved between them in slices.
    Slices,
    /// One whole run per arm per round.
    Rounds,
}

impl Interleave {
    /// The name rows record.
    pub fn name(self) -> &'static str {
        match self {
            Interleave::Slices => "slices",
            Interleave::Rounds => "rounds",
        }
    }
}

/// One `--rates` item.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RateArg {
    /// This many messages per second.
    At(f64),
    /// Find the rates (see `--rates`).
    Auto,
}

fn parse_rate_arg(s: &str) -> Result<RateArg, String> {
    if s.eq_ignore_ascii_case("auto") {
        return Ok(RateArg::Auto);
    }
    match s.parse::<f64>() {
        Ok(r) if r.is_finite() => Ok(RateArg::At(r)),
        _ => Err(format!("{s:?} is neither a rate in msg/s nor `auto`")),
    }
}
