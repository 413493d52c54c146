use super::*;
use crate::record::{LoadModel, RunResult};
use crate::server::{Protocol, ReadPolicy};

fn row(arm: &str, idle: usize, rep: usize, cpu: f64, refused: u64) -> RunResult {
    let (backend, arm_col) = match arm.split_once('#') {
        Some((b, _)) => (b.to_string(), arm.to_string()),
        None => (arm.to_string(), String::new()),
    };
    RunResult {
        timestamp: format!("2026-11-29T22:{:02}:00Z", 2 * rep + idle / 1000),
        workload: Protocol::Echo,
        load_model: LoadModel::Closed,
        backend,
        arm: arm_col,
        repeat: Some(rep),
        conns: 10,
        idle,
        msg_size: 64,
        read_buf: 16384,
        read_policy: ReadPolicy::Once,
        pipeline: 1,
        req_per_s: 1000.0,
        server_cpu_us_per_req: Some(cpu),
        server_refused: Some(refused),
        warmup_s: 30.0,
        measured_s: 30.0,
        ..RunResult::default()
    }
}

fn source() -> Source {
    let mut rows = Vec::new();
    for (rep, j) in [(1, 1.0), (2, 1.1), (3, 0.95)] {
        rows.push(row("epoll-et", 0, rep, 5.0 * j, 0));
        rows.push(row("select", 0, rep, 5.1 * j, 0));
        rows.push(row("epoll-et", 1000, rep, 5.2 * j, 0));
        rows.push(row(
            "select",
            1000,
            rep,
            18.0 * j * (1.0 + 0.01 * rep as f64),
            3996,
        ));
    }
    Source::new(&rows)
}

#[test]
fn counts_rounds_and_the_wall_clock_span() {
    let s = source();
    let v = |k: &str| s.value(k, "epoll-et").unwrap();
    assert_eq!(v("runs"), "12");
    assert_eq!(
        (v("scenarios"), v("arms"), v("rounds")),
        ("2".into(), "2".into(), "3".into())
    );
    // First run ends 22:02 after 60 s of warm-up and window, the last 22:07.
    assert_eq!(v("minutes"), "6");
}

#[test]
fn estimates_ratios_ranges_and_changes_are_the_reports() {
    let s = source();
    let v = |k: &str| s.value(k, "epoll-et").unwrap();
    let scn = "c10-i1000-m64-b16384";
    // Ratio to the baseline, paired: 18/5.2 × (1.01, 1.02, 1.03) → ~3.5, significant.
    let r = v(&format!("cpu-ratio/{scn}/select"));
    assert!(r.starts_with("3.5") && r.contains("×✱ ("), "{r}");
    assert_eq!(v(&format!("refused-range/{scn}/select")), "3,996");
    assert_eq!(v(&format!("refused-range/{scn}/epoll-et")), "0");
    let e = v(&format!("cpu/{scn}/epoll-et"));
    assert!(e.starts_with("5.") && e.contains(" ("), "{e}");
    let range = v(&format!("cpu-range/{scn}/select"));
    // 18 × 0.95 × 1.03 and 18 × 1.1 × 1.02.
    assert_eq!(range, "17.6–20.2", "lowest and highest run");
    // The same arm between two scenarios, paired by round.
    let c = v(&format!("cpu-change/c10-i0-m64-b16384..{scn}/select"));
    // 18 / 5.1 × ~1.02.
    assert!(c.starts_with("3.6") && c.contains('✱'), "{c}");
    // Against another baseline: select against itself is 1, not significant.
    let same = s
        .value(&format!("cpu-ratio/{scn}/select"), "select")
        .unwrap();
    assert!(same.starts_with("1.000× ("), "{same}");
    for bad in [
        "cpu/c1-i0-m64-b16384/select",
        "cpu/{scn}/tokio",
        "nope",
        "bogus/x/y",
    ] {
        assert!(s.value(bad, "epoll-et").is_err(), "{bad}");
    }
    let listed = s.list("epoll-et");
    assert!(listed
        .iter()
        .any(|(k, x)| k == "refused-range/c10-i1000-m64-b16384/select" && x == "3,996"));
}

#[test]
fn a_page_s_markers_are_checked_and_updated_from_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("results/x");
    std::fs::create_dir_all(&folder).unwrap();
    let mut rows = Vec::new();
    for (rep, j) in [(1, 1.0), (2, 1.1), (3, 0.95)] {
        rows.push(row("epoll-et", 1000, rep, 5.2 * j, 0));
        rows.push(row("select", 1000, rep, 18.0 * j, 3996));
    }
    let mut w = csv::Writer::from_path(folder.join("runs.csv")).unwrap();
    for r in &rows {
        w.serialize(r).unwrap();
    }
    w.flush().unwrap();
    let page = dir.path().join("page.md");
    let text = "select refused <!-- claim results/x refused-range/c10-i1000-m64-b16384/select -->3,994<!-- /claim --> of \
                <!-- claim results/x runs -->6<!-- /claim --> runs.\n";
    std::fs::write(&page, text).unwrap();
    let pages = [page.clone()];
    let bad = check_pages(dir.path(), &pages).unwrap();
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert_eq!(bad[0].marker.stated, "3,994");
    assert_eq!(bad[0].computed.as_deref(), Ok("3,996"));
    assert!(bad[0].to_string().contains("page.md:1:"), "{}", bad[0]);
    assert_eq!(update_pages(dir.path(), &pages).unwrap(), 1);
    let now = std::fs::read_to_string(&page).unwrap();
    assert!(now.contains("-->3,996<!-- /claim --> of"), "{now}");
    assert!(check_pages(dir.path(), &pages).unwrap().is_empty());
    // A marker naming no claim is reported, and update writes nothing.
    std::fs::write(
        &page,
        "<!-- claim results/x cpu/c1-i0-m64-b16384/select -->1<!-- /claim -->",
    )
    .unwrap();
    assert!(check_pages(dir.path(), &pages).unwrap()[0]
        .computed
        .is_err());
    assert!(update_pages(dir.path(), &pages).is_err());
    assert!(markers("<!-- claim a -->1<!-- /claim -->").is_err());
    assert!(markers("<!-- claim a b -->1").is_err());
}
