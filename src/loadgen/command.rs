//! The `loadgen` command line: its arguments, subcommands and what each
//! runs (`src/bin/loadgen.rs` only calls [`main`]). It drives an echo
//! server with many connections and reports throughput, latency and the
//! server's per-request costs.

use std::io::IsTerminal;
use std::time::Duration;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;

use crate::backend::Backend;
use crate::loadgen::reliability::ChaosArgs;
use crate::loadgen::sweep::SweepArgs;
use crate::loadgen::{self, Progress, RunArgs};
use crate::report;
use crate::server::ServerArgs;

mod reports;

use reports::{bench_table, claims_cmd, report_cmd, ClaimsArgs};

/// Load generator for muxbench: starts an echo server on the chosen backend as a child
/// process (pinned to its own CPU), opens --conns active and --idle idle connections,
/// verifies every echoed byte, and reports req/s, latency percentiles and the server's
/// CPU time and syscalls per request measured over the window after warm-up.
///
/// Example: loadgen --backend epoll-et --conns 1000
#[derive(Parser)]
#[command(
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a matrix of backends × connections × idle × message sizes × read buffers (× offered
    /// rates with --rates: load–latency curves), each cell --repeat times, into --out DIR
    /// (runs.csv, hgrm/, REPORT.md).
    Sweep(Box<SweepArgs>),
    /// Hostile clients and limits: for each backend, a run with well-behaved verified
    /// clients beside resets, half-closes, slow readers, never-readers, slowloris and
    /// connect storms; descriptor pressure (server limit 512, 1,000 clients); C10K.
    /// Writes the reliability table (--out) and exits 1 if a verdict fails.
    Chaos(ChaosArgs),
    /// Merge the results of several load hosts that drove one server over the same window
    /// (each: `loadgen --addr HOST:PORT --server-control HOST:PORT --start-at TIME --host-label
    /// NAME --json FILE`): histograms added, requests and errors summed, the server's figures
    /// once from the control snapshots. Refuses windows that do not overlap and results from
    /// different servers.
    Merge(crate::loadgen::merge::MergeArgs),
    /// Hosts made of network namespaces (root): a server host and load hosts joined by veth
    /// pairs through a bridge, at 198.18.0.0/24; runs the command after `--` with the hosts
    /// in its environment (or holds the lab until Ctrl-C), then removes every namespace.
    Netlab(crate::loadgen::netlab::NetlabArgs),
    /// Regenerate a sweep's report from its runs.csv: REPORT.md, REPORT.html (one
    /// self-contained page: findings, figures with captions, sortable tables, machine,
    /// command and method) and the figures as SVG files in figures/.
    Report {
        /// The runs CSV (e.g. results/NAME/runs.csv); or a Markdown report with no rows to
        /// redraw it from (RELIABILITY.md), whose page is written beside it.
        csv: PathBuf,
        /// Where to write the Markdown report (default: REPORT.md next to the CSV); the
        /// page goes beside it with the extension .html, the figures into figures/ (for
        /// REPORT-X.md: figures-X/). Given a .md: where to write its page.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// The arm the ratios refer to (default: the --baseline of the sweep's command.txt
        /// beside the CSV, else epoll-et).
        #[arg(long)]
        baseline: Option<String>,
    },
    /// The numbers a page states about a committed result, computed from its runs.csv: list
    /// a folder's claims (KEY, tab, VALUE), or check or rewrite the values a page marks as
    /// claims (an HTML comment `claim FOLDER KEY [vs ARM]` before the value and `/claim`
    /// after it: docs/method.md, "Claims").
    Claims(ClaimsArgs),
    /// Tabulate criterion's results (after `cargo bench`): median time per iteration per
    /// backend and N, with the ratio to a baseline backend.
    BenchTable {
        /// Criterion's output folder.
        #[arg(long, default_value = "target/criterion")]
        criterion_dir: PathBuf,
        /// Read the points from a CSV an earlier `--csv` wrote, instead of criterion's folder.
        #[arg(long, conflicts_with = "criterion_dir")]
        points: Option<PathBuf>,
        /// Write the Markdown here (default: stdout), and beside it the page (.html) and the
        /// figures (time per iteration by N, as SVG files in NAME-figures/).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Also write the points as CSV (read back with --points).
        #[arg(long)]
        csv: Option<PathBuf>,
        /// Backend the ratios refer to.
        #[arg(long, default_value = "epoll-et")]
        baseline: String,
    },
    /// Check this machine for what makes numbers unstable (frequency governor, boost, steal,
    /// busy processes on the chosen CPUs, SMT siblings, isolated CPUs, IRQs, transparent huge
    /// pages, descriptor limit, listen backlog, ephemeral ports): one line each, ok / WARN /
    /// unknown, with what to do. Changes nothing.
    Doctor {
        /// The CPU the server would be pinned to.
        #[arg(long, default_value_t = 0)]
        server_cpu: usize,
        /// The client's CPUs, e.g. `1` or `1-3` (default: all but the server's).
        #[arg(long, value_parser = crate::units::parse_cpus)]
        client_cpus: Option<crate::units::CpuList>,
        /// How long to sample steal and busy processes (at most 60 s).
        #[arg(long, default_value = "1s", value_parser = crate::units::parse_duration)]
        sample: Duration,
    },
    /// List the backends in report order: name, serving model, what each demonstrates.
    Backends {
        /// As JSON (name, model, trigger, needs_io_uring, scans_set, describe): what
        /// scripts/plot.py reads.
        #[arg(long)]
        json: bool,
    },
    /// Run the echo server (what loadgen starts as its child).
    #[command(hide = true)]
    Serve(ServerArgs),
}

/// Progress bar with the live rate over the last half second or so.
struct Bar {
    bar: ProgressBar,
    last: Option<(Duration, u64)>,
    rate: f64,
}

impl Progress for Bar {
    fn update(&mut self, phase: &str, elapsed: Duration, total: Duration, completed: u64) {
        if total.is_zero() {
            self.bar.set_message(format!("{phase}…"));
            return;
        }
        self.bar.set_length(total.as_millis() as u64);
        self.bar
            .set_position(elapsed.as_millis().min(total.as_millis()) as u64);
        match self.last {
            Some((t, n)) if elapsed >= t + Duration::from_millis(500) => {
                self.rate = completed.saturating_sub(n) as f64 / (elapsed - t).as_secs_f64();
                self.last = Some((elapsed, completed));
            }
            None => self.last = Some((elapsed, completed)),
            _ => {}
        }
        self.bar
            .set_message(format!("{phase} · {:.0} req/s", self.rate));
    }
    fn finish(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// `run.json` → `run-r2.json` for the second of several runs.
fn numbered(path: &std::path::Path, k: usize, of_many: bool) -> PathBuf {
    if !of_many {
        return path.to_path_buf();
    }
    let stem = path
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    let name = match path.extension() {
        Some(ext) => format!("{stem}-r{k}.{}", ext.to_string_lossy()),
        None => format!("{stem}-r{k}"),
    };
    path.with_file_name(name)
}

/// `loadgen` without a subcommand: one run, or `--repeat` runs and their
/// figures with confidence intervals.
fn run_repeated(args: &RunArgs) -> anyhow::Result<bool> {
    use loadgen::{Repeat, AUTO_MIN_REPEAT};
    let (min, max) = match args.repeat {
        Repeat::Fixed(0) => anyhow::bail!("--repeat must be at least 1 (or auto)"),
        Repeat::Fixed(n) => (n, n),
        Repeat::Auto => {
            if !(AUTO_MIN_REPEAT..=1000).contains(&args.max_repeat) {
                anyhow::bail!("--max-repeat must be between {AUTO_MIN_REPEAT} and 1000");
            }
            (AUTO_MIN_REPEAT, args.max_repeat)
        }
    };
    if max == 1 {
        return run(args, 1, false);
    }
    loadgen::check(args)?;
    let planned = (args.warmup + args.duration).as_secs_f64() * max as f64;
    if planned > crate::limits::MAX_DURATION.as_secs_f64() {
        anyhow::bail!("{max} runs of --warmup + --duration plan {planned:.0} s, more than one day");
    }
    let mut ok = true;
    let mut rows = Vec::new();
    for k in 1..=max {
        println!(
            "run {k} of {}",
            if args.repeat == Repeat::Auto {
                format!("at most {max}")
            } else {
                max.to_string()
            }
        );
        let mut one = args.clone();
        one.repeat = Repeat::Fixed(1);
        ok &= run_one(&one, k, true, &mut rows)?;
        if args.repeat == Repeat::Auto && k >= min {
            let (done, widest) =
                loadgen::sweep::converged(std::slice::from_ref(&rows), args.target_ci);
            if done {
                println!(
                    "converged after {k} runs (widest 95 % CI ±{:.1} %)",
                    widest * 100.0
                );
                break;
            } else if k == max {
                println!(
                    "NOT converged after {k} runs: widest 95 % CI ±{:.1} %, target ±{:.1} %",
                    widest * 100.0,
                    args.target_ci * 100.0
                );
            }
        }
    }
    print!("{}", report::table::render_repeats(&rows));
    Ok(ok)
}

fn run(args: &RunArgs, k: usize, of_many: bool) -> anyhow::Result<bool> {
    run_one(args, k, of_many, &mut Vec::new())
}

fn run_one(
    args: &RunArgs,
    k: usize,
    of_many: bool,
    rows: &mut Vec<loadgen::RunResult>,
) -> anyhow::Result<bool> {
    let exe = std::env::current_exe()?;
    let mut progress: Box<dyn Progress> = if !args.quiet && std::io::stdout().is_terminal() {
        let bar = ProgressBar::new(1);
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {msg}")
                .expect("valid template"),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        Box::new(Bar {
            bar,
            last: None,
            rate: 0.0,
        })
    } else {
        Box::new(loadgen::NoProgress)
    };
    let mut out = loadgen::run(args, &exe, progress.as_mut())?;
    if of_many {
        out.result.repeat = Some(k);
    }
    let r = &out.result;
    print!("{}", report::table::render(r));
    // Files are written only now, after the run finished: a failed run leaves
    // no half row.
    if !args.no_csv {
        report::csv::append(&args.csv, r)?;
    }
    if let Some(p) = &args.json {
        report::json::write(&numbered(p, k, of_many), &out)?;
    }
    if let Some(p) = &args.hgrm {
        report::hgrm::write_file(&numbered(p, k, of_many), &out.latency)?;
    }
    if let Some(p) = &args.hlog {
        report::hgrm::write_interval_log(&numbered(p, k, of_many), &out.intervals, out.interval)?;
    }
    if let Some(p) = &args.intervals {
        report::csv::write_intervals(&numbered(p, k, of_many), &out.interval_rows)?;
    }
    if !r.warnings.is_empty() {
        println!("  hint: `loadgen doctor` checks this machine for what makes numbers unstable");
    }
    let refused = r.server_refused.unwrap_or(0);
    let mut ok = (r.errors == 0 && refused == 0) || args.allow_errors;
    if args.strict && !r.verdict.is_empty() && r.verdict != "valid" {
        eprintln!(
            "loadgen: --strict: the self-check found this measurement invalid: {}",
            r.verdict
        );
        ok = false;
    }
    rows.push(out.result);
    Ok(ok)
}

fn doctor(
    server_cpu: usize,
    client_cpus: Option<crate::units::CpuList>,
    sample: Duration,
) -> anyhow::Result<()> {
    if sample.is_zero() || sample > Duration::from_secs(60) {
        anyhow::bail!("--sample must be more than 0 and at most 60 s");
    }
    let allowed = crate::sys::allowed_cpus()?;
    if !allowed.contains(&server_cpu) {
        anyhow::bail!("--server-cpu {server_cpu} is not among this process's CPUs ({allowed:?})");
    }
    let clients: Vec<usize> = match client_cpus {
        Some(c) => c.0,
        None => allowed.into_iter().filter(|&c| c != server_cpu).collect(),
    };
    let m = loadgen::Machine::detect();
    println!(
        "machine: {}, {} cores, Linux {}; server CPU {server_cpu}, client CPUs {clients:?}",
        m.cpu_model, m.cores, m.kernel
    );
    for f in loadgen::doctor::diagnose(server_cpu, &clients, sample) {
        println!("{f}");
    }
    Ok(())
}

fn run_sweep(args: &SweepArgs) -> anyhow::Result<i32> {
    let exe = std::env::current_exe()?;
    // Named as a user would type it, whatever path the binary ran from.
    let command = std::iter::once("loadgen".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let s = loadgen::sweep::run(args, &exe, &command)?;
    eprintln!(
        "sweep: {} runs recorded, {} failed{}; report: {}",
        s.completed,
        s.failed,
        if s.interrupted { ", interrupted" } else { "" },
        args.out.join("REPORT.md").display()
    );
    Ok(if s.interrupted {
        130
    } else if s.failed > 0 {
        1
    } else {
        0
    })
}

fn run_chaos(args: &ChaosArgs) -> anyhow::Result<i32> {
    let exe = std::env::current_exe()?;
    let command = std::iter::once("loadgen".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let rows = loadgen::reliability::run(args, &exe, &command)?;
    let failed = rows
        .iter()
        .filter(|r| r.verdict == crate::record::Verdict::Fail)
        .count();
    eprintln!(
        "chaos: {} rows, {failed} failed; table: {}",
        rows.len(),
        args.out.join("RELIABILITY.md").display()
    );
    Ok(if crate::signals::interrupted() {
        130
    } else if failed > 0 {
        1
    } else {
        0
    })
}

/// `loadgen …`: exit status 0 on success, 1 when the run counted errors
/// (or the server failed), 2 when it could not run.
pub fn main() -> i32 {
    let cli = Cli::parse();
    if !matches!(cli.command, Some(Cmd::Serve(_))) {
        // Ctrl-C / SIGTERM end the run through its deadline checks, so the
        // server child is stopped and reaped rather than orphaned.
        if let Err(e) = crate::signals::install_interrupt_flag() {
            eprintln!("loadgen: warning: cannot install signal handlers: {e}");
        }
    }
    match cli.command {
        Some(Cmd::Sweep(sweep)) => or_fail(" sweep", 2, run_sweep(&sweep)),
        Some(Cmd::Chaos(chaos)) => or_fail(" chaos", 2, run_chaos(&chaos)),
        Some(Cmd::Merge(m)) => or_fail(
            " merge",
            2,
            crate::loadgen::merge::run(&m).map(|r| {
                print!("{}", crate::report::table::render(&r));
                0
            }),
        ),
        Some(Cmd::Netlab(n)) => or_fail(" netlab", 2, crate::loadgen::netlab::run(&n)),
        Some(Cmd::Report {
            csv,
            output,
            baseline,
        }) => or_fail(" report", 2, report_cmd(&csv, output, baseline).map(|()| 0)),
        Some(Cmd::Claims(c)) => or_fail(" claims", 2, claims_cmd(&c)),
        Some(Cmd::BenchTable {
            criterion_dir,
            points,
            output,
            csv,
            baseline,
        }) => or_fail(
            " bench-table",
            2,
            bench_table(&criterion_dir, points, output, csv, &baseline).map(|()| 0),
        ),
        Some(Cmd::Doctor {
            server_cpu,
            client_cpus,
            sample,
        }) => or_fail(
            " doctor",
            2,
            doctor(server_cpu, client_cpus, sample).map(|()| 0),
        ),
        Some(Cmd::Backends { json }) => {
            list_backends(json);
            0
        }
        Some(Cmd::Serve(server)) => or_fail(" serve", 1, server.run().map(|_| 0)),
        None => or_fail(
            "",
            2,
            run_repeated(&cli.run).map(|ok| {
                if !ok {
                    eprintln!(
                        "loadgen: error: errors or refused connections were counted, or --strict \
                         found the measurement invalid (see above); exit status 1 (--allow-errors \
                         ignores counted errors)"
                    );
                }
                i32::from(!ok)
            }),
        ),
    }
}

/// The exit status of a subcommand: its own, or `code` after saying why it failed.
fn or_fail(cmd: &str, code: i32, result: anyhow::Result<i32>) -> i32 {
    result.unwrap_or_else(|e| {
        eprintln!("loadgen{cmd}: error: {e:#}");
        code
    })
}

/// `loadgen backends [--json]`.
fn list_backends(json: bool) {
    if json {
        println!("{:#}", Backend::table_json());
        return;
    }
    for b in Backend::ALL {
        println!(
            "{:<11} {:<10} {}",
            b.name(),
            format!("{:?}", b.model()).to_lowercase(),
            b.describe()
        );
    }
}
