//! `loadgen report` and `loadgen bench-table`: the files a sweep's rows or
//! criterion's points become — Markdown, the page, the figures.

use std::path::PathBuf;

use crate::loadgen;
use crate::report;

pub(super) fn report_cmd(
    csv: &std::path::Path,
    output: Option<PathBuf>,
    baseline: Option<String>,
) -> anyhow::Result<()> {
    if csv.extension().is_some_and(|e| e == "md") {
        return page_of(csv, output);
    }
    let out = output.unwrap_or_else(|| csv.with_file_name("REPORT.md"));
    let baseline = baseline.unwrap_or_else(|| sweep_baseline(csv));
    loadgen::sweep::write_report_files(csv, &out, &baseline)?;
    eprintln!(
        "wrote {}, {} and {}/",
        out.display(),
        out.with_extension("html").display(),
        loadgen::sweep::figures_dir(&out).display()
    );
    Ok(())
}

/// A Markdown report with no rows to redraw it from (`RELIABILITY.md`,
/// written by `loadgen chaos`): its page beside it (or at `output`), no
/// figures.
fn page_of(md: &std::path::Path, output: Option<PathBuf>) -> anyhow::Result<()> {
    use anyhow::Context;
    report::check_input(md, "a report's .md file or a sweep's runs.csv")?;
    let text = std::fs::read_to_string(md).with_context(|| format!("reading {}", md.display()))?;
    if !text.starts_with("# ") {
        anyhow::bail!("{} is not a muxbench report (no title line)", md.display());
    }
    let out = output.unwrap_or_else(|| md.with_extension("html"));
    report::write_atomic(&out, report::html::page(&text, &[]).as_bytes())?;
    eprintln!("wrote {}", out.display());
    Ok(())
}

/// `loadgen claims`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["dir", "check", "update"])))]
pub struct ClaimsArgs {
    /// A results folder with a runs.csv (or a CSV of rows): print every claim it offers.
    pub(super) dir: Option<PathBuf>,
    /// The arm the listed ratios refer to.
    #[arg(long, default_value = "epoll-et", requires = "dir")]
    pub(super) baseline: String,
    /// Pages whose marked claims to check against their data: exit 1 naming each that
    /// disagrees.
    #[arg(long, num_args = 1.., value_name = "PAGE", conflicts_with_all = ["dir", "update"])]
    pub(super) check: Vec<PathBuf>,
    /// Pages whose marked claims to rewrite from their data.
    #[arg(long, num_args = 1.., value_name = "PAGE", conflicts_with = "dir")]
    pub(super) update: Vec<PathBuf>,
    /// The folder the markers' result folders are relative to.
    #[arg(long, default_value = ".")]
    pub(super) root: PathBuf,
}

/// `loadgen claims`: list, check or update; the exit status.
pub(super) fn claims_cmd(c: &ClaimsArgs) -> anyhow::Result<i32> {
    use report::claims;
    if let Some(dir) = &c.dir {
        let csv = claims::Source::rows_file(dir);
        report::check_input(&csv, "a results folder with a runs.csv, or a CSV of rows")?;
        for (k, v) in claims::Source::load(dir)?.list(&c.baseline) {
            println!("{k}\t{v}");
        }
        return Ok(0);
    }
    if !c.update.is_empty() {
        let n = claims::update_pages(&c.root, &c.update)?;
        eprintln!("{n} claim(s) rewritten");
        return Ok(0);
    }
    let bad = claims::check_pages(&c.root, &c.check)?;
    for m in &bad {
        eprintln!("{m}");
    }
    if !bad.is_empty() {
        eprintln!(
            "loadgen claims: error: {} claim(s) disagree with their data (--update rewrites them)",
            bad.len()
        );
    }
    Ok(i32::from(!bad.is_empty()))
}

/// The `--baseline` of the sweep whose `command.txt` is beside `csv`, else epoll-et.
fn sweep_baseline(csv: &std::path::Path) -> String {
    let command = std::fs::read_to_string(csv.with_file_name("command.txt")).unwrap_or_default();
    let mut words = command.split_whitespace();
    while let Some(w) = words.next() {
        if let Some(b) = w.strip_prefix("--baseline=") {
            return b.to_string();
        }
        if w == "--baseline" {
            if let Some(b) = words.next() {
                return b.to_string();
            }
        }
    }
    "epoll-et".to_string()
}

pub(super) fn bench_table(
    dir: &std::path::Path,
    from_csv: Option<PathBuf>,
    output: Option<PathBuf>,
    csv: Option<PathBuf>,
    baseline: &str,
) -> anyhow::Result<()> {
    let points = match &from_csv {
        Some(p) => report::bench::read_csv(p)?,
        None => report::bench::read(dir)?,
    };
    if points.is_empty() {
        match from_csv {
            Some(p) => anyhow::bail!("no points in {}", p.display()),
            None => anyhow::bail!(
                "no criterion results under {} (run cargo bench first)",
                dir.display()
            ),
        }
    }
    let md = report::bench::render(&points, baseline);
    match output {
        Some(p) => {
            let figures = report::bench::figures(&points);
            let page = report::html::page(&format!("# Micro-benchmarks\n\n{md}"), &figures);
            report::write_atomic(&p, md.as_bytes())?;
            report::write_atomic(&p.with_extension("html"), page.as_bytes())?;
            let dir = loadgen::sweep::figures_dir(&p);
            for f in &figures {
                report::write_atomic(&dir.join(format!("{}.svg", f.name)), f.svg.as_bytes())?;
            }
        }
        None => print!("{md}"),
    }
    if let Some(p) = csv {
        let mut w = ::csv::Writer::from_path(p)?;
        for pt in &points {
            w.serialize(pt)?;
        }
        w.flush()?;
    }
    Ok(())
}
