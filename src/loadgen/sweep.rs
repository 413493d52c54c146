//! `loadgen sweep`: a matrix of runs into one folder — `runs.csv` (one row per
//! run), one `.hgrm` per run, and `REPORT.md`, rewritten after every run so an
//! interruption or a crash keeps what finished.
//!
//! Within each repeat every scenario runs once on every backend, backends
//! interleaved (and their order rotated from one repeat to the next), so drift
//! on a shared machine hits all backends alike.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};

use super::args::{LoadSettings, RunArgs};
use super::{NoProgress, RunOutput};
use crate::limits;
use crate::mux::Backend;
use crate::report;
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
    /// Backends, comma-separated.
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
    /// Runs per cell (the whole sweep's planned time at most one day).
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Backend the report's ratios refer to.
    #[arg(long, default_value = "epoll-et")]
    pub baseline: String,
    /// Warm-up per run.
    #[arg(long, default_value = "0.5s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Measured duration per run.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Settings shared with a single run (`loadgen --help` explains each).
    #[command(flatten)]
    pub load: LoadSettings,
}

/// One point of the matrix (without the backend).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scenario {
    /// Active connections.
    pub conns: usize,
    /// Idle connections.
    pub idle: usize,
    /// Message size.
    pub msg_size: usize,
    /// Server read size.
    pub read_buf: usize,
}

/// A scenario and the backends it runs on.
#[derive(Debug, Clone)]
pub struct Cell {
    /// The scenario.
    pub scenario: Scenario,
    /// Its backends.
    pub backends: Vec<Backend>,
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
                        },
                        backends: backends.to_vec(),
                    });
                }
            }
        }
    }
    out
}

/// The matrix a sweep runs, in order, without repeats.
pub fn matrix(a: &SweepArgs) -> Vec<Cell> {
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
    fn run_args(&self, backend: Backend, s: Scenario) -> RunArgs {
        let mut r = RunArgs::with_defaults(backend);
        r.load = self.load.clone();
        r.conns = s.conns;
        r.idle = s.idle;
        r.msg_size = s.msg_size;
        r.read_buf = s.read_buf;
        r.warmup = self.warmup;
        r.duration = self.duration;
        r.allow_errors = true;
        r.csv = self.out.join("runs.csv");
        r.quiet = true;
        r
    }
}

fn hgrm_path(out: &Path, backend: Backend, s: Scenario, rep: usize) -> PathBuf {
    out.join("hgrm").join(format!(
        "{}-c{}-i{}-m{}-b{}-r{}.hgrm",
        backend, s.conns, s.idle, s.msg_size, s.read_buf, rep
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
    let rows = report::csv::read(&out.join("runs.csv"))?;
    let command = std::fs::read_to_string(out.join("command.txt")).ok();
    let mut md = report::markdown::render(&rows, baseline, command.as_deref().map(str::trim));
    if let Ok(skipped) = std::fs::read_to_string(out.join(SKIPPED_FILE)) {
        md.push_str("\n## Backends skipped\n\n");
        for line in skipped.lines() {
            let _ = writeln!(md, "- {line}");
        }
    }
    std::fs::write(out.join("REPORT.md"), md).context("writing REPORT.md")
}

/// Backends a sweep skipped and why, one per line (read back into REPORT.md).
const SKIPPED_FILE: &str = "skipped.txt";

/// Drop backends this machine cannot run (io_uring disabled or missing) from
/// the matrix, with a warning; returns one line per skipped backend.
fn skip_unavailable(cells: &mut [Cell]) -> String {
    let mut lines = String::new();
    let needs: Vec<Backend> = Backend::ALL
        .into_iter()
        .filter(|b| b.needs_io_uring() && cells.iter().any(|c| c.backends.contains(b)))
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
            cell.backends.retain(|b| !b.needs_io_uring());
        }
    }
    lines
}

/// Run the sweep. `exe` is the loadgen executable (the server is `exe serve`).
pub fn run(a: &SweepArgs, exe: &Path, command: &str) -> Result<SweepSummary> {
    if a.repeat == 0 {
        bail!("--repeat must be at least 1");
    }
    let mut cells = matrix(a);
    let skipped = skip_unavailable(&mut cells);
    let Some(total) = cells
        .iter()
        .map(|c| c.backends.len())
        .sum::<usize>()
        .checked_mul(a.repeat)
    else {
        bail!("--repeat {} is too large", a.repeat);
    };
    if total == 0 {
        bail!("the matrix is empty");
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
        for &backend in &cell.backends {
            let s = cell.scenario;
            super::check(&a.run_args(backend, s)).with_context(|| {
                format!(
                    "{backend} conns={} idle={} msg={} read-buf={}",
                    s.conns, s.idle, s.msg_size, s.read_buf
                )
            })?;
        }
    }
    std::fs::create_dir_all(a.out.join("hgrm"))
        .with_context(|| format!("creating {}", a.out.display()))?;
    std::fs::write(a.out.join("command.txt"), format!("{command}\n"))?;
    let skipped_path = a.out.join(SKIPPED_FILE);
    if skipped.is_empty() {
        let _ = std::fs::remove_file(&skipped_path);
    } else {
        std::fs::write(&skipped_path, skipped)?;
    }
    let started = Instant::now();
    let mut summary = SweepSummary {
        completed: 0,
        failed: 0,
        interrupted: false,
    };
    let mut done = 0;
    'sweep: for rep in 1..=a.repeat {
        for cell in &cells {
            let n = cell.backends.len();
            for j in 0..n {
                // Rotate the backend order each repeat.
                let backend = cell.backends[(j + rep - 1) % n];
                if crate::signals::interrupted() {
                    summary.interrupted = true;
                    break 'sweep;
                }
                let s = cell.scenario;
                let eta = if done == 0 {
                    "?".to_string()
                } else {
                    fmt_eta(started.elapsed() / done as u32 * (total - done) as u32)
                };
                eprintln!(
                    "[{}/{total}] {backend} conns={} idle={} msg={} read-buf={} repeat {rep}/{} · ETA {eta}",
                    done + 1,
                    s.conns,
                    s.idle,
                    s.msg_size,
                    s.read_buf,
                    a.repeat
                );
                let args = a.run_args(backend, s);
                match super::run(&args, exe, &mut NoProgress) {
                    Ok(out) => {
                        record(a, &out, backend, s, rep)?;
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
                            "{} {backend} conns={} idle={} msg={} read-buf={} repeat={rep}: {e:#}",
                            super::now_rfc3339(),
                            s.conns,
                            s.idle,
                            s.msg_size,
                            s.read_buf
                        );
                        append(&a.out.join("failures.log"), &log)?;
                    }
                }
                done += 1;
            }
        }
    }
    if a.out.join("runs.csv").exists() {
        write_report(&a.out, &a.baseline)?;
    }
    Ok(summary)
}

fn record(a: &SweepArgs, out: &RunOutput, backend: Backend, s: Scenario, rep: usize) -> Result<()> {
    report::csv::append(&a.out.join("runs.csv"), &out.result)?;
    report::hgrm::write_file(&hgrm_path(&a.out, backend, s, rep), &out.latency)
}

fn append(path: &Path, text: &str) -> Result<()> {
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
        assert!(all.iter().all(|c| c.backends == Backend::ALL));
        let four = matrix(&parse(&[
            "--preset",
            "reference",
            "--backends",
            "select,poll,epoll-lt,epoll-et",
        ]));
        assert_eq!(four.len(), 9);
        assert!(four
            .iter()
            .all(|c| c.backends.len() == 4 && !c.backends.iter().any(|b| b.needs_io_uring())));
    }
}
