//! `loadgen sweep` end to end on a tiny matrix, `loadgen report`, and the plot
//! script on a fixture.

use std::path::Path;
use std::process::Command;

use muxbench::report;

/// One sweep at a time: sweeps in parallel would share the server's CPU and
/// measure each other (late samples, fewer intervals).
static ONE_SWEEP_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_SWEEP_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[test]
fn tiny_sweep_writes_rows_hgrms_and_report() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let status = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args([
            "sweep",
            "--backends",
            "poll,epoll-et",
            "--conns",
            "5,20",
            "--repeat",
            "1",
            "--interleave",
            "rounds",
        ])
        .args(["--warmup", "0.1", "--duration", "0.5", "--out"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let rows = report::csv::read(&out.join("runs.csv")).unwrap();
    let mut cells: Vec<(String, usize)> =
        rows.iter().map(|r| (r.backend.clone(), r.conns)).collect();
    cells.sort();
    assert_eq!(
        cells,
        [
            ("epoll-et".into(), 5),
            ("epoll-et".into(), 20),
            ("poll".into(), 5),
            ("poll".into(), 20)
        ]
    );
    for r in &rows {
        assert_eq!(r.errors, 0);
        assert!(r.requests > 0);
        let hgrm = out
            .join("hgrm")
            .join(format!("{}-c{}-i0-m64-b16384-r1.hgrm", r.backend, r.conns));
        let text = std::fs::read_to_string(&hgrm).unwrap();
        assert!(
            text.contains("Percentile") && text.contains("#[Mean"),
            "{text}"
        );
    }
    let md = std::fs::read_to_string(out.join("REPORT.md")).unwrap();
    for conns in [5, 20] {
        let heading = format!("## echo · {conns} active + 0 idle");
        let section = md
            .split(&heading)
            .nth(1)
            .unwrap_or_else(|| panic!("{heading} missing:\n{md}"));
        let section = section.split("\n## ").next().unwrap();
        for b in ["poll", "epoll-et"] {
            assert!(
                section.contains(&format!("| {b} | 1 |")),
                "{b} row missing under {heading}:\n{md}"
            );
        }
    }
    assert!(md.contains("From 5 to 20 active connections"), "{md}");

    // Older runs.csv files (before later columns existed) still load.
    let old = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/runs.csv");
    assert_eq!(report::csv::read(&old).unwrap().len(), 108);

    // `loadgen report` regenerates the same tables from the CSV.
    let again = dir.path().join("again.md");
    let status = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .arg("report")
        .arg(out.join("runs.csv"))
        .arg("-o")
        .arg(&again)
        .status()
        .unwrap();
    assert!(status.success());
    let regenerated = std::fs::read_to_string(&again).unwrap();
    let tables = |s: &str| {
        s.lines()
            .filter(|l| l.starts_with('|'))
            .map(String::from)
            .collect::<Vec<_>>()
    };
    assert_eq!(tables(&md), tables(&regenerated));
}

/// One backend named twice runs as two arms (the A/A check), rounds are
/// numbered, and `--repeat auto` stops a cell once its intervals are narrow
/// enough (here a target no real run misses) — and says so in the report.
#[test]
fn aa_arms_and_auto_repeat() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("aa");
    let status = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["sweep", "--backends", "epoll-et,epoll-et", "--conns", "5"])
        .args(["--interleave", "rounds"])
        // What this checks is the arms and the stopping rule, not the steal
        // rule (src/loadgen/intervals.rs): a host that steals throughout
        // would leave every interval out and no median to converge on.
        .args(["--steal-limit", "100"])
        .args([
            "--repeat",
            "auto",
            "--max-repeat",
            "5",
            "--target-ci",
            "99%",
        ])
        .args([
            "--warmup",
            "0.1",
            "--duration",
            "0.3",
            "--interval",
            "0.1",
            "--out",
        ])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let rows = report::csv::read(&out.join("runs.csv")).unwrap();
    let md = std::fs::read_to_string(out.join("REPORT.md")).unwrap();
    // A target this wide is normally met at the minimum of 3 rounds; a
    // loaded machine may need more. Either way the report says after how
    // many rounds, every arm ran exactly that many, and stopping before
    // --max-repeat means the cell converged.
    let rounds: usize = md
        .split("## Convergence")
        .nth(1)
        .and_then(|c| c.split(" after ").nth(1))
        .and_then(|t| t.split(' ').next())
        .and_then(|k| k.parse().ok())
        .unwrap_or_else(|| panic!("no round count:\n{md}"));
    assert!((3..=5).contains(&rounds), "{md}");
    if rounds < 5 {
        assert!(
            md.contains(&format!(": converged after {rounds} rounds")),
            "{md}"
        );
    }
    let mut seen: Vec<(String, Option<usize>)> =
        rows.iter().map(|r| (r.arm.clone(), r.repeat)).collect();
    seen.sort();
    let expect: Vec<(String, Option<usize>)> = ["epoll-et#1", "epoll-et#2"]
        .iter()
        .flat_map(|a| (1..=rounds).map(move |k| (a.to_string(), Some(k))))
        .collect();
    assert_eq!(seen, expect, "every arm ran each round");
    for r in &rows {
        assert_eq!(r.backend, "epoll-et");
        assert_eq!(r.intervals, 3, "{r:?}");
        assert!(r.server_cpu_us_per_req_med.is_some());
    }
    assert!(out
        .join("hgrm/epoll-et#2-c5-i0-m64-b16384-r3.hgrm")
        .exists());
    assert!(
        md.contains(&format!("| epoll-et#1 | {rounds} |"))
            && md.contains(&format!("| epoll-et#2 | {rounds} |")),
        "{md}"
    );
    assert!(md.contains("## A/A check"), "{md}");
    assert!(md.contains("## Convergence"), "{md}");
}

/// Arms in slices: every arm's server at once, one row per slice with its
/// cycle, the server's bytes over each slice exactly its echoes (drained at
/// the edge), the machine's busy time beside the server's, and a report
/// that says how the arms took turns.
#[test]
fn sliced_sweep_pairs_arms_within_cycles() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sliced");
    let status = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["sweep", "--backends", "poll,epoll-et", "--conns", "4"])
        .args(["--idle", "20", "--repeat", "2", "--slice", "100ms"])
        .args(["--warmup", "0.1", "--duration", "0.3"])
        // Cycles with steal above the limit are left out whole (unit-tested in
        // src/report/slices.rs); a host that steals throughout would leave no
        // cycle to pair here. The limit is recorded in each row.
        .args(["--steal-limit", "100", "--out"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let rows = report::csv::read(&out.join("runs.csv")).unwrap();
    assert!(rows.iter().all(|r| r.steal_limit_pct == Some(100.0)));
    // --repeat 2 × (0.3 s / 0.1 s) = 6 cycles, each arm once per cycle.
    let mut seen: Vec<(String, Option<usize>)> =
        rows.iter().map(|r| (r.backend.clone(), r.repeat)).collect();
    seen.sort();
    let expect: Vec<(String, Option<usize>)> = ["epoll-et", "poll"]
        .iter()
        .flat_map(|b| (1..=6).map(move |k| (b.to_string(), Some(k))))
        .collect();
    assert_eq!(seen, expect);
    for r in &rows {
        assert_eq!(r.interleave, "slices");
        assert_eq!((r.errors, r.idle, r.connected_idle), (0, 20, 20), "{r:?}");
        assert!(
            r.requests > 0 && (0.09..0.2).contains(&r.measured_s),
            "{r:?}"
        );
        // Every echo of the slice was drained before its closing snapshot,
        // and nothing of another slice is in it.
        assert_eq!(r.server_bytes_out, Some(r.requests * 64), "{r:?}");
        assert!(r.server_cpu_us_per_req.unwrap() > 0.0);
        let machine = r.machine_cpu_us_per_req.unwrap();
        assert!(machine > 0.0 && r.server_core_us_per_req.is_some(), "{r:?}");
        assert!(r.server_waits_per_req.is_some());
    }
    let md = std::fs::read_to_string(out.join("REPORT.md")).unwrap();
    assert!(md.contains("Arms interleaved in slices"), "{md}");
    // No cycle is left out under a 100 % limit, and the report says which limit.
    assert!(
        md.contains("above 100 % (`--steal-limit`) is left out whole: 0 cycles"),
        "{md}"
    );
    assert!(md.contains("| poll | 6 |"), "{md}");
    assert!(md.contains("What each figure includes"), "{md}");

    // Open loop in slices: each slice follows its own schedule, latency from
    // the intended send, the generator's lateness recorded.
    let open = dir.path().join("open");
    let status = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["sweep", "--backends", "poll,epoll-et", "--conns", "4"])
        .args(["--interleave", "slices", "--rates", "2000", "--repeat", "1"])
        .args([
            "--slice",
            "200ms",
            "--warmup",
            "0.1",
            "--duration",
            "0.4",
            "--out",
        ])
        .arg(&open)
        .status()
        .unwrap();
    assert!(status.success());
    let rows = report::csv::read(&open.join("runs.csv")).unwrap();
    assert_eq!(rows.len(), 4, "{rows:?}");
    for r in &rows {
        assert_eq!(r.load_model, muxbench::record::LoadModel::Open);
        assert_eq!(
            (r.interleave.as_str(), r.target_rate),
            ("slices", Some(2000.0))
        );
        assert!(r.send_lag_p99_us.is_some() && r.errors == 0, "{r:?}");
        // About 2,000/s for 0.2 s: the schedule was kept.
        assert!((200..=600).contains(&r.requests), "{r:?}");
        assert_eq!(r.server_bytes_out, Some(r.requests * 64), "{r:?}");
    }

    // Slices need a loop per server: said before anything starts.
    let o = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["sweep", "--backends", "poll", "--conns", "2"])
        .args(["--interleave", "slices", "--reactors", "2", "--out"])
        .arg(dir.path().join("refused"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--reactors"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A short load–latency curve on two backends: the calibration run, one
/// open-loop row per backend and rate with its self-check verdict, the
/// capacity section of the report, and the plot of p99 against offered load.
#[test]
fn a_short_curve_gives_rows_capacities_and_a_plot() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("curve");
    let status = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["sweep", "--backends", "poll,epoll-et", "--conns", "5"])
        .args(["--rates", "2000,500", "--slo", "50ms", "--repeat", "1"])
        .args(["--warmup", "0.1", "--duration", "0.5", "--out"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let rows = report::csv::read(&out.join("runs.csv")).unwrap();
    let mut points: Vec<(String, Option<f64>)> = rows
        .iter()
        .map(|r| (r.backend.clone(), r.target_rate))
        .collect();
    points.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert_eq!(
        points,
        [
            ("epoll-et".into(), Some(500.0)),
            ("epoll-et".into(), Some(2000.0)),
            ("poll".into(), Some(500.0)),
            ("poll".into(), Some(2000.0)),
        ]
    );
    for r in &rows {
        assert_eq!(r.arrivals.as_deref(), Some("poisson"));
        assert!(!r.verdict.is_empty() && r.send_rate.is_some(), "{r:?}");
    }
    // Ascending rates: the 500 msg/s runs came first.
    assert_eq!(rows[0].target_rate, Some(500.0));
    let curve = std::fs::read_to_string(out.join("curve.txt")).unwrap();
    assert!(
        curve.contains("slo_us=50000") && curve.contains("client_capacity="),
        "{curve}"
    );
    let md = std::fs::read_to_string(out.join("REPORT.md")).unwrap();
    assert!(
        md.contains("## Capacity at the latency target (p99 ≤ 50000 µs)"),
        "{md}"
    );
    for b in ["epoll-et", "poll"] {
        assert!(md.contains(&format!("- {b}: ")), "{md}");
    }
    // The page beside it draws the curve: p99 against offered load.
    let page = std::fs::read_to_string(out.join("REPORT.html")).unwrap();
    assert!(page.contains("p99 latency by offered load"), "{page}");
    let svg = std::fs::read_to_string(out.join("figures/p99_vs_load_1.svg")).unwrap();
    assert!(svg.contains("offered load (messages per second) (log scale)"));
    assert_eq!(svg.matches("<polyline").count(), 2, "one line per arm");
}

/// `--rates auto` probes rising rates until every arm misses the SLO: with a
/// target no server meets (1 µs) that is the first rate, 2 % of the client's
/// calibrated capacity, and only that rate is swept.
#[test]
fn auto_rates_stop_where_every_arm_misses_the_target() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("auto");
    let status = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["sweep", "--backends", "poll,epoll-et", "--conns", "5"])
        .args(["--rates", "auto", "--slo", "1us", "--repeat", "1"])
        .args(["--warmup", "0.1", "--duration", "0.3", "--out"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let curve = std::fs::read_to_string(out.join("curve.txt")).unwrap();
    let capacity: f64 = curve
        .lines()
        .find_map(|l| l.strip_prefix("client_capacity="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{curve}"));
    assert!(curve.contains("auto_rates conns=5"), "{curve}");
    let rows = report::csv::read(&out.join("runs.csv")).unwrap();
    assert_eq!(rows.len(), 2, "one rate, two arms");
    let rate = rows[0].target_rate.unwrap();
    assert!(rows.iter().all(|r| r.target_rate == Some(rate)));
    // Two significant digits of 2 % of the capacity.
    assert!(
        (rate / (0.02 * capacity) - 1.0).abs() < 0.06,
        "{rate} vs {capacity}"
    );
}

/// `loadgen report` (and `scripts/plot.py`, its front end) on a sweep's
/// rows with their `.hgrm` files: the page and every figure the rows allow,
/// as files too.
#[test]
fn the_report_draws_every_figure_from_the_fixture() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixtures = root.join("tests/fixtures");
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixtures.join("runs.csv"), dir.path().join("runs.csv")).unwrap();
    std::fs::create_dir(dir.path().join("hgrm")).unwrap();
    for h in [
        "epoll-et-c100-i0-m64-b16384-r1.hgrm",
        "select-c100-i0-m64-b16384-r1.hgrm",
    ] {
        std::fs::copy(fixtures.join(h), dir.path().join("hgrm").join(h)).unwrap();
    }
    let out = Command::new("python3")
        .arg(root.join("scripts/plot.py"))
        .arg(dir.path().join("runs.csv"))
        .env("LOADGEN", env!("CARGO_BIN_EXE_loadgen"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = std::fs::read_to_string(dir.path().join("REPORT.html")).unwrap();
    for name in [
        "cpu_ratio",
        "p99_ratio",
        "throughput_ratio",
        "latency_spectrum_1",
    ] {
        assert!(
            page.contains(&format!("id=\"fig-{name}\"")),
            "{name} not on the page"
        );
        let svg = std::fs::read_to_string(dir.path().join(format!("figures/{name}.svg")))
            .unwrap_or_else(|_| panic!("{name}.svg not written"));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"), "{name}");
    }
    assert!(
        page.matches("<figure").count() >= 7,
        "ratios, values by a dimension, a spectrum"
    );
    // The spectrum names its lines by arm and round, not by file.
    let spectrum =
        std::fs::read_to_string(dir.path().join("figures/latency_spectrum_1.svg")).unwrap();
    assert!(spectrum.contains("epoll-et (round 1)") && !spectrum.contains(".hgrm"));
}

/// The comparison figure and the findings say the same: a filled point for
/// every significant ratio of the committed feature ablation, hollow for
/// the rest.
#[test]
fn the_ratio_figure_marks_what_the_findings_call_significant() {
    use muxbench::report::findings::scenario_findings;
    use muxbench::report::summary::{summarize, Figure};
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rows = report::csv::read(&root.join("results/uring/features/pipeline1/runs.csv")).unwrap();
    let (kept, _) = report::slices::kept(&rows);
    let mut significant = 0;
    let mut all = 0;
    for (_, list) in summarize(&kept) {
        let found = scenario_findings(&list, "uring");
        let (_, comps) = found
            .figures
            .iter()
            .find(|(f, _)| *f == Figure::CpuPerReq)
            .unwrap();
        significant += comps.iter().filter(|c| c.significant()).count();
        all += comps.len();
    }
    assert!(
        significant > 0 && significant < all,
        "{significant} of {all}"
    );
    let figs = report::html::figures::sweep_figures(&rows, "uring", None);
    let cpu = figs.iter().find(|f| f.name == "cpu_ratio").unwrap();
    // Filled markers are the significant rows plus the key's one.
    assert_eq!(
        cpu.svg.matches("fill=\"#222\" stroke").count(),
        significant + 1
    );
    assert_eq!(cpu.svg.matches("<circle").count(), all + 2);
}
