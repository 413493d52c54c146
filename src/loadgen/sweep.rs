//! `loadgen sweep`: a matrix of runs into one folder — `runs.csv` (one row per
//! run), one `.hgrm` per run, and `REPORT.md`, rewritten after every run so an
//! interruption or a crash keeps what finished.
//!
//! Within each repeat (round) every scenario runs once on every arm, arms
//! interleaved (and their order rotated from one round to the next), so drift
//! on a shared machine hits all arms alike, and the runs of one round are
//! paired in the report's ratios. An arm is a backend; a backend named twice
//! (`--backends epoll-et,epoll-et`) runs as two arms, `epoll-et#1` and
//! `epoll-et#2` — the A/A check that the method does not invent differences.
//!
//! `--repeat auto` repeats each cell until the 95 % confidence interval of
//! its key figures (server CPU µs per request, req/s) is within
//! `--target-ci` on every arm, or `--max-repeat` rounds were run; cells that
//! did not converge are listed in REPORT.md, never hidden.
//!
//! With `--interleave slices` (the default for closed-loop echo) the arms
//! take turns in slices instead of rounds: [`super::sliced_sweep`] drives it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};

use super::args::{parse_fraction, parse_repeat, LoadSettings, Repeat, RunArgs, AUTO_MIN_REPEAT};
use super::{NoProgress, RunOutput};
use crate::backend::Backend;
use crate::limits;
use crate::record::RunResult;
use crate::report;
use crate::report::summary::KEY_FIGURES;
use crate::stats;
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
    /// Output folder (runs.csv, hgrm/, REPORT.md); rows are appended if it exists.
    #[arg(long)]
    pub out: PathBuf,
    /// A ready-made matrix of scenarios instead of the lists below (run on `--backends`).
    #[arg(long, value_enum)]
    pub preset: Option<Preset>,
    /// Backends, comma-separated; a backend named twice runs as two arms (`epoll-et#1`,
    /// `epoll-et#2`: an A/A check).
    #[arg(long, value_delimiter = ',', value_enum, ignore_case = true,
          default_values_t = Backend::ALL)]
    pub backends: Vec<Backend>,
    /// Active connection counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "100")]
    pub conns: Vec<usize>,
    /// Idle connection counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0")]
    pub idle: Vec<usize>,
    /// Message sizes, comma-separated (16 B to 64 MiB).
    #[arg(long, value_delimiter = ',', default_value = "64", value_parser = super::args::parse_msg_size)]
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

/// A backend and the label its runs carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arm {
    /// The backend.
    pub backend: Backend,
    /// Its label: the backend's name, or `name#k` when the backend is named k times.
    pub label: String,
}

/// The arms of a backend list: a backend listed more than once becomes
/// `name#1`, `name#2`, … in the order given.
pub fn arms(backends: &[Backend]) -> Vec<Arm> {
    backends
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            let total = backends.iter().filter(|&&x| x == b).count();
            let nth = backends[..=i].iter().filter(|&&x| x == b).count();
            Arm {
                backend: b,
                label: if total > 1 {
                    format!("{b}#{nth}")
                } else {
                    b.name().to_string()
                },
            }
        })
        .collect()
}

/// One point of the matrix (without the backend).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scenario {
    /// Active connections.
    pub conns: usize,
    /// Idle connections.
    pub idle: usize,
    /// Message size.
    pub msg_size: usize,
    /// Server read size.
    pub read_buf: usize,
    /// Open loop: offered messages per second (`--rates`); `None`: closed loop.
    pub rate: Option<f64>,
}

impl std::fmt::Display for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "conns={} idle={} msg={} read-buf={}",
            self.conns, self.idle, self.msg_size, self.read_buf
        )?;
        match self.rate {
            Some(r) => write!(f, " rate={r}"),
            None => Ok(()),
        }
    }
}

/// A scenario and the arms it runs on.
#[derive(Debug, Clone)]
pub struct Cell {
    /// The scenario.
    pub scenario: Scenario,
    /// Its arms.
    pub arms: Vec<Arm>,
}

fn cross(
    backends: &[Backend],
    conns: &[usize],
    idle: &[usize],
    msg: &[usize],
    rb: &[usize],
) -> Vec<Cell> {
    let mut out = Vec::new();
    for &read_buf in rb {
        for &msg_size in msg {
            for &idle in idle {
                for &conns in conns {
                    out.push(Cell {
                        scenario: Scenario {
                            conns,
                            idle,
                            msg_size,
                            read_buf,
                            rate: None,
                        },
                        arms: arms(backends),
                    });
                }
            }
        }
    }
    out
}

/// The matrix a sweep runs, in order, without repeats; with `--rates`, each
/// scenario at each rate, ascending (a load–latency curve per arm).
pub fn matrix(a: &SweepArgs) -> Vec<Cell> {
    let cells = base_matrix(a);
    let mut rates: Vec<f64> = a
        .rates
        .iter()
        .filter_map(|r| match r {
            RateArg::At(x) => Some(*x),
            RateArg::Auto => None,
        })
        .collect();
    if rates.is_empty() {
        return cells; // closed loop, or `auto` (the rates are found after calibrating)
    }
    rates.sort_by(f64::total_cmp);
    rates.dedup();
    cells
        .into_iter()
        .flat_map(|c| {
            rates.iter().map(move |&r| Cell {
                scenario: Scenario {
                    rate: Some(r),
                    ..c.scenario
                },
                arms: c.arms.clone(),
            })
        })
        .collect()
}

fn base_matrix(a: &SweepArgs) -> Vec<Cell> {
    match a.preset {
        None => cross(&a.backends, &a.conns, &a.idle, &a.msg_size, &a.read_buf),
        Some(Preset::Reference) => {
            // The preset fixes the scenarios; `--backends` (default: all) picks who runs them.
            let b = &a.backends;
            let mut cells = cross(b, &[1, 10, 100, 1000], &[0], &[64], &[16384]);
            // 10 active with 0 idle is already above.
            cells.extend(cross(b, &[10], &[100, 500, 1000, 5000], &[64], &[16384]));
            // The textbook's 4-byte experiment; 16384 at 10 active is above.
            cells.extend(cross(b, &[10], &[0], &[64], &[4]));
            cells
        }
    }
}

impl SweepArgs {
    pub(super) fn run_args(&self, backend: Backend, s: Scenario) -> RunArgs {
        let mut r = RunArgs::with_defaults(backend);
        r.load = self.load.clone();
        r.conns = s.conns;
        r.idle = s.idle;
        r.msg_size = s.msg_size;
        r.read_buf = s.read_buf;
        r.rate = s.rate;
        r.warmup = self.warmup;
        r.duration = self.duration;
        r.allow_errors = true;
        r.target_ci = self.target_ci;
        r.count_syscalls = self.count_syscalls;
        r.csv = self.out.join("runs.csv");
        r.quiet = true;
        r
    }
}

fn hgrm_path(out: &Path, arm: &str, s: Scenario, rep: usize) -> PathBuf {
    let rate = s.rate.map_or(String::new(), |r| format!("-o{r}"));
    out.join("hgrm").join(format!(
        "{}-c{}-i{}-m{}-b{}{rate}-r{}.hgrm",
        arm, s.conns, s.idle, s.msg_size, s.read_buf, rep
    ))
}

fn fmt_eta(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// How a sweep ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweepSummary {
    /// Runs that produced a row.
    pub completed: usize,
    /// Runs that failed (no row).
    pub failed: usize,
    /// Stopped by SIGINT/SIGTERM.
    pub interrupted: bool,
}

/// Regenerate `REPORT.md` from `runs.csv` in `out`, naming the sweep command
/// recorded in `out/command.txt` (if any).
pub fn write_report(out: &Path, baseline: &str) -> Result<()> {
    let md = render_report(&out.join("runs.csv"), baseline)?;
    std::fs::write(out.join("REPORT.md"), md).context("writing REPORT.md")
}

/// The report of the rows in `csv`, with the sections a sweep keeps beside
/// it (`command.txt`, `convergence.txt`, `skipped.txt` in the same folder).
pub fn render_report(csv: &Path, baseline: &str) -> Result<String> {
    let rows = report::csv::read(csv)?;
    let out = csv.parent().unwrap_or(Path::new("."));
    let command = std::fs::read_to_string(out.join("command.txt")).ok();
    let mut md = report::markdown::render(&rows, baseline, command.as_deref().map(str::trim));
    if let Ok(text) = std::fs::read_to_string(out.join(CONVERGENCE_FILE)) {
        md.push_str("\n## Convergence (`--repeat auto`)\n\n");
        for line in text.lines() {
            let _ = writeln!(md, "- {line}");
        }
    }
    if let Ok(text) = std::fs::read_to_string(out.join(CURVE_FILE)) {
        let value = |key: &str| {
            text.lines().find_map(|l| {
                l.strip_prefix(key)?
                    .strip_prefix('=')?
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
        };
        if let Some(slo_us) = value("slo_us") {
            // Disturbed cycles of a sliced curve are left out, as in the tables.
            let (kept, _) = report::slices::kept(&rows);
            if let Some(section) =
                report::capacity::render(&kept, baseline, slo_us, value("client_capacity"))
            {
                md.push_str(&section);
            }
        }
    }
    if let Ok(skipped) = std::fs::read_to_string(out.join(SKIPPED_FILE)) {
        md.push_str("\n## Backends skipped\n\n");
        for line in skipped.lines() {
            let _ = writeln!(md, "- {line}");
        }
    }
    Ok(md)
}

/// Backends a sweep skipped and why, one per line (read back into REPORT.md).
const SKIPPED_FILE: &str = "skipped.txt";

/// Drop backends this machine cannot run (io_uring disabled or missing) from
/// the matrix, with a warning; returns one line per skipped backend.
fn skip_unavailable(cells: &mut [Cell]) -> String {
    let mut lines = String::new();
    let needs: Vec<Backend> = Backend::ALL
        .into_iter()
        .filter(|b| {
            b.needs_io_uring() && cells.iter().any(|c| c.arms.iter().any(|a| a.backend == *b))
        })
        .collect();
    if needs.is_empty() {
        return lines;
    }
    if let Err(e) = crate::sys::uring::available() {
        for b in needs {
            eprintln!("warning: skipping {b}: {e}");
            let _ = writeln!(lines, "{b}: {e}");
        }
        for cell in cells.iter_mut() {
            cell.arms.retain(|a| !a.backend.needs_io_uring());
        }
    }
    lines
}

/// With `--rates`: the SLO and the client's own sending capacity, `key=value`
/// lines (read back by the report and by plot.py).
pub const CURVE_FILE: &str = "curve.txt";

/// Offered load of the calibration run: far beyond what any client sends.
const CALIBRATION_RATE: f64 = 50e6;

/// The client capacity guard: one short open-loop run of `cell`'s first arm
/// at a rate no client reaches, to measure how many messages per second this
/// client can send with these connections. Rates above 80 % of it are marked
/// client-limited in the report.
fn write_curve_file(a: &SweepArgs, exe: &Path, cell: &Cell) -> Result<Option<f64>> {
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
    match super::run(&args, exe, &mut NoProgress) {
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
fn discover_rates(
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
                let mut args = a.run_args(arm.backend, s);
                args.warmup = Duration::from_millis(300);
                args.duration = a.duration.min(Duration::from_secs(1));
                eprintln!("finding rates: {} {s} (probe, not recorded)", arm.label);
                match super::run(&args, exe, &mut NoProgress) {
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

/// Cells `--repeat auto` left unconverged, one line each (read back into REPORT.md).
pub(super) const CONVERGENCE_FILE: &str = "convergence.txt";

/// Whether every arm's key figures have a 95 % CI within `target`; the
/// widest relative half-width found otherwise (infinite: too few runs).
pub fn converged(per_arm: &[Vec<RunResult>], target: f64) -> (bool, f64) {
    let mut widest: f64 = 0.0;
    for rows in per_arm {
        for fig in KEY_FIGURES {
            let values: Vec<f64> = rows.iter().filter_map(|r| fig.value(r)).collect();
            if values.is_empty() {
                continue; // an external server: no server CPU
            }
            let w = stats::geomean_ci(&values).map_or(f64::INFINITY, |ci| ci.rel_half_width());
            widest = widest.max(w);
        }
    }
    (widest <= target, widest)
}

/// Run the sweep. `exe` is the loadgen executable (the server is `exe serve`).
pub fn run(a: &SweepArgs, exe: &Path, command: &str) -> Result<SweepSummary> {
    let (min_rep, max_rep) = match a.repeat {
        Repeat::Fixed(0) => bail!("--repeat must be at least 1 (or auto)"),
        Repeat::Fixed(n) => (n, n),
        Repeat::Auto => {
            if !(AUTO_MIN_REPEAT..=1000).contains(&a.max_repeat) {
                bail!("--max-repeat must be between {AUTO_MIN_REPEAT} and 1000");
            }
            (AUTO_MIN_REPEAT, a.max_repeat)
        }
    };
    if a.slo.is_zero() || a.slo > Duration::from_secs(3600) {
        bail!("--slo must be more than 0 and at most 1 h");
    }
    let auto_rates = a.rates.contains(&RateArg::Auto);
    if auto_rates && a.rates.len() > 1 {
        bail!("--rates auto stands alone (give either rates or auto)");
    }
    let mut cells = matrix(a);
    let skipped = skip_unavailable(&mut cells);
    let Some(total) = cells
        .iter()
        .map(|c| c.arms.len())
        .sum::<usize>()
        .checked_mul(max_rep)
    else {
        bail!("--repeat {max_rep} is too large");
    };
    if total == 0 {
        bail!("the matrix is empty");
    }
    // The kernel's count needs tracefs and perf rights: tried once on this
    // process now, not found missing in every run.
    if a.count_syscalls {
        crate::sys::SyscallCounter::attach(std::process::id()).context(
            "--count-syscalls: cannot count system calls from the kernel (needs tracefs at \
             /sys/kernel/tracing and root, CAP_PERFMON or kernel.perf_event_paranoid <= 1)",
        )?;
    }
    // Every run is checked before the first starts: a bad cell found after an
    // hour of sweeping would be an hour lost.
    let planned = (a.warmup + a.duration).as_secs_f64() * total as f64;
    if planned > limits::MAX_DURATION.as_secs_f64() {
        bail!(
            "{total} runs of --warmup + --duration plan {planned:.0} s of measuring, longer than \
             the bound of one day ({} s): split the sweep",
            limits::MAX_DURATION.as_secs()
        );
    }
    for cell in &cells {
        for arm in &cell.arms {
            let s = cell.scenario;
            super::check(&a.run_args(arm.backend, s))
                .with_context(|| format!("{} {s}", arm.label))?;
        }
    }
    std::fs::create_dir_all(a.out.join("hgrm"))
        .with_context(|| format!("creating {}", a.out.display()))?;
    std::fs::write(a.out.join("command.txt"), format!("{command}\n"))?;
    if a.rates.is_empty() {
        let _ = std::fs::remove_file(a.out.join(CURVE_FILE));
    } else if let Some(first) = cells.first() {
        let capacity = write_curve_file(a, exe, first)?;
        if auto_rates {
            cells = discover_rates(a, exe, cells, capacity)?;
            let runs: usize = cells.iter().map(|c| c.arms.len()).sum::<usize>() * max_rep;
            let planned = (a.warmup + a.duration).as_secs_f64() * runs as f64;
            if planned > limits::MAX_DURATION.as_secs_f64() {
                bail!(
                    "the rates found make {runs} runs, {planned:.0} s of measuring, more than a \
                     day: give fewer repeats or a shorter --duration"
                );
            }
        }
    }
    let skipped_path = a.out.join(SKIPPED_FILE);
    if skipped.is_empty() {
        let _ = std::fs::remove_file(&skipped_path);
    } else {
        std::fs::write(&skipped_path, skipped)?;
    }
    let _ = std::fs::remove_file(a.out.join(CONVERGENCE_FILE));
    let interleave = super::sliced_sweep::choose_interleave(a, &cells)?;
    eprintln!(
        "arms interleaved in {}",
        match interleave {
            Interleave::Slices =>
                format!("slices of {:?} (every arm's server up at once)", a.slice),
            Interleave::Rounds => "rounds (one run per arm per round)".into(),
        }
    );
    if interleave == Interleave::Slices {
        let summary = super::sliced_sweep::run(a, exe, &cells, (min_rep, max_rep))?;
        if a.out.join("runs.csv").exists() {
            write_report(&a.out, &a.baseline)?;
        }
        return Ok(summary);
    }
    let started = Instant::now();
    let mut summary = SweepSummary {
        completed: 0,
        failed: 0,
        interrupted: false,
    };
    let mut done = 0;
    // This sweep's rows, per cell and arm: what `--repeat auto` judges.
    let mut measured: Vec<Vec<Vec<RunResult>>> = cells
        .iter()
        .map(|c| vec![Vec::new(); c.arms.len()])
        .collect();
    let mut settled = vec![false; cells.len()];
    let planned_runs = |done: usize, settled: &[bool], rep: usize| -> usize {
        done + cells
            .iter()
            .zip(settled)
            .filter(|(_, s)| !**s)
            .map(|(c, _)| c.arms.len() * (max_rep + 1 - rep))
            .sum::<usize>()
    };
    'sweep: for rep in 1..=max_rep {
        if settled.iter().all(|s| *s) {
            break;
        }
        let total_now = planned_runs(done, &settled, rep);
        for (ci, cell) in cells.iter().enumerate() {
            if settled[ci] {
                continue;
            }
            let n = cell.arms.len();
            for j in 0..n {
                // Rotate the arm order each round.
                let idx = (j + rep - 1) % n;
                let arm = &cell.arms[idx];
                if crate::signals::interrupted() {
                    summary.interrupted = true;
                    break 'sweep;
                }
                let s = cell.scenario;
                let eta = if done == 0 {
                    "?".to_string()
                } else {
                    let left = total_now.saturating_sub(done) as u32;
                    let bound = if a.repeat == Repeat::Auto { "≤ " } else { "" };
                    format!("{bound}{}", fmt_eta(started.elapsed() / done as u32 * left))
                };
                let of = match a.repeat {
                    Repeat::Fixed(n) => n.to_string(),
                    Repeat::Auto => format!("≤{max_rep}"),
                };
                eprintln!(
                    "[{}/{total_now}] {} {s} repeat {rep}/{of} · ETA {eta}",
                    done + 1,
                    arm.label,
                );
                let args = a.run_args(arm.backend, s);
                match super::run(&args, exe, &mut NoProgress) {
                    Ok(mut out) => {
                        out.result.repeat = Some(rep);
                        out.result.interleave = Interleave::Rounds.name().into();
                        if arm.label != arm.backend.name() {
                            out.result.arm = arm.label.clone();
                        }
                        record(a, &out, &arm.label, s, rep)?;
                        measured[ci][idx].push(out.result);
                        summary.completed += 1;
                        write_report(&a.out, &a.baseline)?;
                    }
                    Err(e) if crate::signals::interrupted() => {
                        eprintln!("  interrupted: {e:#}");
                        summary.interrupted = true;
                        break 'sweep;
                    }
                    Err(e) => {
                        eprintln!("  run failed: {e:#}");
                        summary.failed += 1;
                        let mut log = String::new();
                        let _ = writeln!(
                            log,
                            "{} {} {s} repeat={rep}: {e:#}",
                            super::now_rfc3339(),
                            arm.label,
                        );
                        append(&a.out.join("failures.log"), &log)?;
                    }
                }
                done += 1;
            }
            if a.repeat == Repeat::Auto && rep >= min_rep {
                let (ok, widest) = converged(&measured[ci], a.target_ci);
                if ok {
                    settled[ci] = true;
                    eprintln!(
                        "  converged after {rep} rounds (widest 95 % CI ±{:.1} %)",
                        widest * 100.0
                    );
                }
            }
        }
    }
    if a.repeat == Repeat::Auto && !summary.interrupted {
        let mut lines = String::new();
        for (ci, cell) in cells.iter().enumerate() {
            let s = cell.scenario;
            let (ok, widest) = converged(&measured[ci], a.target_ci);
            let rounds = measured[ci].iter().map(Vec::len).max().unwrap_or(0);
            let _ = writeln!(
                lines,
                "{} active + {} idle, {} B, read buffer {}: {} after {rounds} rounds (widest 95 % CI ±{:.1} %, target ±{:.1} %)",
                s.conns,
                s.idle,
                s.msg_size,
                s.read_buf,
                if ok { "converged" } else { "NOT converged" },
                widest * 100.0,
                a.target_ci * 100.0
            );
        }
        std::fs::write(a.out.join(CONVERGENCE_FILE), lines)?;
    }
    if a.out.join("runs.csv").exists() {
        write_report(&a.out, &a.baseline)?;
    }
    Ok(summary)
}

fn record(a: &SweepArgs, out: &RunOutput, arm: &str, s: Scenario, rep: usize) -> Result<()> {
    report::csv::append(&a.out.join("runs.csv"), &out.result)?;
    report::hgrm::write_file(&hgrm_path(&a.out, arm, s, rep), &out.latency)
}

pub(super) fn append(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backend_named_twice_runs_as_two_arms() {
        let labels: Vec<String> = arms(&[Backend::EpollEt, Backend::Poll, Backend::EpollEt])
            .into_iter()
            .map(|a| a.label)
            .collect();
        assert_eq!(labels, ["epoll-et#1", "poll", "epoll-et#2"]);
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
}
