//! `REPORT.html` in a real browser: headless Chromium (Debian's `chromium`,
//! which `.ci/run` installs) opens the page `loadgen report` makes from a
//! committed sweep, with no error in its console, every figure laid out
//! with a size, and the tables sortable by a click; a screenshot of the page
//! is kept as the test run's artifact (`target/html-report/`). Without
//! Chromium the test says it skipped — except on CI, where it must run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Measures the page from inside: errors from the first script on (a
/// failed resource too), each figure's laid-out size, and whether a click
/// on a numeric column's heading sorts its table. Added to a copy of the
/// page only; the report itself carries none of it.
const PROBE_HEAD: &str = "<script>window.__errs=[];\
addEventListener('error',function(e){__errs.push(String(e.message||(e.target&&(e.target.src||e.target.href))||'error'))},true);\
var __ce=console.error;console.error=function(){__errs.push([].join.call(arguments,' '));__ce.apply(console,arguments)};</script>";

const PROBE_TAIL: &str = "<script>(function(){\
var figs=[].map.call(document.querySelectorAll('figure'),function(f){var s=f.querySelector('svg');\
var r=s?s.getBoundingClientRect():{width:0,height:0};return [f.id,Math.round(r.width),Math.round(r.height)]});\
var sorted=null;var t=[].filter.call(document.querySelectorAll('table'),function(t){return t.tBodies[0]&&t.tBodies[0].rows.length>=3})[0];\
if(t){var col=-1;var cells=t.tBodies[0].rows[0].cells;for(var i=1;i<cells.length;i++){if(!isNaN(parseFloat(cells[i].textContent.replace(/,/g,'')))){col=i;break}}\
if(col>0){t.tHead.rows[0].cells[col].click();var v=[].map.call(t.tBodies[0].rows,function(r){return parseFloat(r.cells[col].textContent.replace(/,/g,''))}).filter(function(x){return !isNaN(x)});\
sorted=v.length>=3&&v.every(function(x,i){return i==0||v[i-1]<=x})}}\
var p=document.createElement('pre');p.id='probe';p.textContent=JSON.stringify({errors:__errs,figures:figs,sorted:sorted});document.body.appendChild(p)})();</script>";

/// Debian's Chromium, or another Chromium or Chrome on the PATH.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// Run Chromium headless with `args`, at most 90 s; its whole process
/// group is killed if it overruns. Its output goes to files (a helper that
/// left the group could hold a pipe open forever). (stdout, stderr).
fn run_chromium(exe: &Path, profile: &Path, args: &[String]) -> (String, String) {
    use std::os::unix::process::CommandExt;
    let (out_path, err_path) = (profile.with_extension("out"), profile.with_extension("err"));
    let mut child = Command::new(exe)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-crash-reporter",
            "--disable-breakpad",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdout(Stdio::from(std::fs::File::create(&out_path).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&err_path).unwrap()))
        .process_group(0)
        .spawn()
        .expect("chromium starts");
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) => {}
            Err(e) => {
                let _ = muxbench::sys::kill_group(pid, libc::SIGKILL);
                let _ = child.wait();
                panic!("waiting for chromium: {e}");
            }
        }
        if Instant::now() > deadline {
            let _ = muxbench::sys::kill_group(pid, libc::SIGKILL);
            let _ = child.wait();
            panic!("chromium did not finish in 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Helpers it started end with it; make sure of it.
    let _ = muxbench::sys::kill_group(pid, libc::SIGKILL);
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    (read(&out_path), read(&err_path))
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

#[test]
fn the_report_page_loads_cleanly_in_chromium() {
    let Some(exe) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium missing in CI: .ci/run must install it"
        );
        eprintln!("skipped: no chromium (apt-get install chromium)");
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // The io_uring feature ablation: 15 arms, 4 scenarios (the README shows
    // this page's screenshot).
    let src = root.join("results/uring/features/pipeline16");
    let dir = tempfile::tempdir().unwrap();
    for f in ["runs.csv", "command.txt"] {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    let status = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .arg("report")
        .arg(dir.path().join("runs.csv"))
        .status()
        .unwrap();
    assert!(status.success());
    let page = std::fs::read_to_string(dir.path().join("REPORT.html")).unwrap();
    let figures = page.matches("<figure").count();
    assert!(figures >= 6, "{figures} figures");

    let probe = page
        .replacen("<head>", &format!("<head>{PROBE_HEAD}"), 1)
        .replacen("</body>", &format!("{PROBE_TAIL}</body>"), 1);
    let probe_path = dir.path().join("probe.html");
    std::fs::write(&probe_path, probe).unwrap();
    let profile = dir.path().join("profile");
    let (dom, log) = run_chromium(
        &exe,
        &profile,
        &[
            "--window-size=1280,1600".into(),
            "--dump-dom".into(),
            format!("file://{}", probe_path.display()),
        ],
    );
    let json = dom
        .split_once("<pre id=\"probe\">")
        .and_then(|(_, r)| r.split_once("</pre>"))
        .map(|(j, _)| unescape(j))
        .unwrap_or_else(|| panic!("no probe output; chromium said:\n{log}"));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["errors"], serde_json::json!([]), "console errors:\n{log}");
    assert!(!log.contains("Uncaught"), "{log}");
    let laid_out = v["figures"].as_array().unwrap();
    assert_eq!(laid_out.len(), figures);
    for f in laid_out {
        let (w, h) = (f[1].as_u64().unwrap(), f[2].as_u64().unwrap());
        assert!(w >= 300 && h >= 150, "figure {} is {w}×{h}", f[0]);
    }
    assert_eq!(
        v["sorted"],
        serde_json::json!(true),
        "a click sorts a table"
    );

    // The screenshot: the artifact of this run (the README shows one).
    let shots = root.join("target/html-report");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = shots.join("REPORT.png");
    let _ = std::fs::remove_file(&shot);
    run_chromium(
        &exe,
        &profile,
        &[
            "--window-size=1280,2200".into(),
            "--hide-scrollbars".into(),
            format!("--screenshot={}", shot.display()),
            format!("file://{}", dir.path().join("REPORT.html").display()),
        ],
    );
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "{} bytes",
        png.len()
    );
}
