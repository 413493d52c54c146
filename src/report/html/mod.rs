//! `REPORT.html`: the report as one self-contained page (figures inline as
//! SVG, no script or style fetched from anywhere, opens from disk), in the
//! order a reader wants it: the findings, then each figure with a caption
//! saying what to read from it, then the tables (sortable: click a
//! heading), then the machine, the command and the method.
//!
//! The words are the Markdown report's own — the page is assembled from the
//! same text `REPORT.md` holds, split into its parts — so the two cannot say
//! different things. The figures come from [`figures`], drawn by
//! [`crate::report::svg`].

pub mod figures;

use std::fmt::Write;

use pulldown_cmark::{html as md_html, Event, Options, Parser};

use super::svg::esc;

/// A figure of the page.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// A file-name stem for the figure saved beside the report (`cpu_ratio`).
    pub name: String,
    /// The SVG.
    pub svg: String,
    /// What to read from it.
    pub caption: String,
}

/// A Markdown report split into what the page shows in its own order.
#[derive(Debug, Default, PartialEq)]
struct Parts {
    title: String,
    /// Before the first `## ` section: machine, command, method.
    preamble: String,
    /// Per section: its heading, its bullet lines (the findings), and the rest.
    sections: Vec<(String, Vec<String>, String)>,
}

fn split(md: &str) -> Parts {
    let mut p = Parts::default();
    let mut current: Option<(String, Vec<String>, String)> = None;
    for line in md.lines() {
        if let Some(t) = line.strip_prefix("# ") {
            p.title = t.trim().to_string();
        } else if let Some(h) = line.strip_prefix("## ") {
            p.sections.extend(current.take());
            current = Some((h.trim().to_string(), Vec::new(), String::new()));
        } else if let Some((_, bullets, rest)) = current.as_mut() {
            match line.strip_prefix("- ") {
                Some(b) => bullets.push(b.to_string()),
                None => {
                    rest.push_str(line);
                    rest.push('\n');
                }
            }
        } else {
            p.preamble.push_str(line);
            p.preamble.push('\n');
        }
    }
    p.sections.extend(current);
    if p.sections.is_empty() && !p.preamble.trim().is_empty() {
        // A report of tables only (the reliability table, bench-table's):
        // all of it is the content, machine and command lines included.
        let body = std::mem::take(&mut p.preamble);
        p.sections.push(("Report".to_string(), Vec::new(), body));
    }
    p
}

/// One finding line: what is significant in full, the arms with no
/// significant difference folded away (one click shows them; the tables
/// and `REPORT.md` hold every number either way).
fn finding(line: &str) -> String {
    let Some((at, none)) = [
        "no significant difference for ",
        "no significant change for ",
    ]
    .iter()
    .find_map(|m| line.find(m).map(|at| (at, *m))) else {
        return md_inline(line);
    };
    let (head, rest) = (&line[..at], &line[at + none.len()..]);
    let n = rest.matches('×').count();
    let head = head.trim_end().trim_end_matches(';');
    let head = if head.ends_with(':') {
        format!("{head} none significant")
    } else {
        head.to_string()
    };
    format!(
        "{}<details><summary>{none}{n} arm{}</summary>{}</details>",
        md_inline(&head),
        if n == 1 { "" } else { "s" },
        md_inline(rest)
    )
}

/// Markdown to HTML (tables on). Raw HTML in the text — an arm label or a
/// recorded command can hold anything — is shown as text, never passed
/// through.
fn md(text: &str) -> String {
    let events = Parser::new_ext(text, Options::ENABLE_TABLES).map(|e| match e {
        Event::Html(h) | Event::InlineHtml(h) => Event::Text(h),
        e => e,
    });
    let mut out = String::new();
    md_html::push_html(&mut out, events);
    out
}

/// One line of Markdown to inline HTML (no wrapping paragraph).
fn md_inline(text: &str) -> String {
    let html = md(text);
    let t = html.trim();
    t.strip_prefix("<p>")
        .and_then(|t| t.strip_suffix("</p>"))
        .unwrap_or(t)
        .to_string()
}

const STYLE: &str = "body{font-family:DejaVu Sans,Helvetica,Arial,sans-serif;max-width:1100px;\
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}\
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}\
h3{font-size:1.05em;margin:1.2em 0 .3em}\
nav a{margin-right:1em}figure{margin:1.5em 0;border:1px solid #e4e4e4;padding:.6em;overflow-x:auto}\
figcaption{font-size:.92em;color:#444;margin-top:.4em}svg{display:block;max-width:none}\
table{border-collapse:collapse;font-size:.85em;margin:.6em 0;display:block;overflow-x:auto}\
th,td{border:1px solid #ddd;padding:.25em .5em;text-align:right;white-space:nowrap}\
th{background:#f5f5f5;cursor:pointer;user-select:none}th:first-child,td:first-child{text-align:left}\
th.sorted-asc::after{content:' ▲'}th.sorted-desc::after{content:' ▼'}\
code{background:#f3f3f3;padding:0 .2em}li{margin:.2em 0}.muted{color:#666;font-size:.9em}\
details{display:inline;color:#666;font-size:.9em}details[open]{display:block}\
summary{cursor:pointer;display:inline;margin-left:.4em}";

/// Click a column heading to sort a table by it (numbers by value).
const SORT_JS: &str = r#"(function(){
function key(td){var t=td.textContent.trim();var m=t.replace(/[,\s]/g,'').match(/^[-+]?\d*\.?\d+(e[-+]?\d+)?/i);return m?[0,parseFloat(m[0])]:[1,t];}
function cmp(a,b){return a[0]-b[0]||(a[0]===0?a[1]-b[1]:String(a[1]).localeCompare(String(b[1])));}
document.querySelectorAll('table').forEach(function(table){
 var head=table.tHead;if(!head)return;
 Array.prototype.forEach.call(head.rows[0].cells,function(th,i){
  th.title='sort by this column';
  th.addEventListener('click',function(){
   var asc=!th.classList.contains('sorted-asc');
   Array.prototype.forEach.call(head.rows[0].cells,function(o){o.classList.remove('sorted-asc','sorted-desc');});
   th.classList.add(asc?'sorted-asc':'sorted-desc');
   var body=table.tBodies[0];var rows=Array.prototype.slice.call(body.rows);
   rows.sort(function(a,b){var r=cmp(key(a.cells[i]),key(b.cells[i]));return asc?r:-r;});
   rows.forEach(function(r){body.appendChild(r);});
  });
 });
});
})();"#;

/// The page for the Markdown report `md`, with `figures`.
pub fn page(md_text: &str, figures: &[Figure]) -> String {
    let parts = split(md_text);
    let title = if parts.title.is_empty() {
        "muxbench report".to_string()
    } else {
        parts.title.clone()
    };
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t}</title><style>{STYLE}</style></head><body>\n<h1>{t}</h1>\n\
         <nav class=\"muted\"><a href=\"#findings\">Findings</a><a href=\"#figures\">Figures</a>\
         <a href=\"#tables\">Tables</a><a href=\"#method\">Machine, command and method</a></nav>\n",
        t = esc(&title)
    );
    write_findings(&mut h, &parts);
    h.push_str("<h2 id=\"figures\">Figures</h2>\n");
    if figures.is_empty() {
        h.push_str(
            "<p class=\"muted\">No figure: these runs have nothing to compare or plot.</p>\n",
        );
    }
    for f in figures {
        let _ = writeln!(
            h,
            "<figure id=\"fig-{}\">{}<figcaption>{}</figcaption></figure>",
            esc(&f.name),
            f.svg,
            md_inline(&f.caption)
        );
    }
    h.push_str("<h2 id=\"tables\">Tables</h2>\n");
    for (heading, _, rest) in &parts.sections {
        if rest.trim().is_empty() {
            continue;
        }
        let _ = write!(h, "<h3>{}</h3>\n{}", md_inline(heading), md(rest));
    }
    h.push_str("<h2 id=\"method\">Machine, command and method</h2>\n");
    if parts.preamble.trim().is_empty() {
        h.push_str("<p class=\"muted\">Given with the tables above.</p>\n");
    }
    h.push_str(&md(&parts.preamble));
    let _ = write!(h, "<script>{SORT_JS}</script>\n</body></html>\n");
    h
}

fn write_findings(h: &mut String, parts: &Parts) {
    h.push_str("<h2 id=\"findings\">Findings</h2>\n");
    let mut any = false;
    for (heading, bullets, _) in &parts.sections {
        if bullets.is_empty() {
            continue;
        }
        any = true;
        let _ = write!(h, "<h3>{}</h3>\n<ul>\n", md_inline(heading));
        for b in bullets {
            let _ = writeln!(h, "<li>{}</li>", finding(b));
        }
        h.push_str("</ul>\n");
    }
    if !any {
        h.push_str("<p class=\"muted\">No finding: see the tables.</p>\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MD: &str = "# muxbench sweep report\n\nMachine: 2 cores.\n\n\
        ## closed loop · 100 conns\n\n| arm | req/s |\n|---|---|\n| uring | 10 |\n\n\
        - **uring**: faster than `epoll-et`\n\n## A/A check\n\n- none differ\n";

    #[test]
    fn the_page_puts_findings_first_and_keeps_every_part() {
        let fig = Figure {
            name: "cpu".into(),
            svg: "<svg></svg>".into(),
            caption: "Read the *ratio*.".into(),
        };
        let h = page(MD, &[fig]);
        let at = |s: &str| h.find(s).unwrap_or_else(|| panic!("{s} missing:\n{h}"));
        assert!(at("id=\"findings\"") < at("id=\"figures\""));
        assert!(at("id=\"figures\"") < at("id=\"tables\""));
        assert!(at("id=\"tables\"") < at("id=\"method\""));
        assert!(
            at("<strong>uring</strong>: faster than <code>epoll-et</code>") < at("id=\"figures\"")
        );
        assert!(at("<td>uring</td>") > at("id=\"tables\""));
        assert!(at("Machine: 2 cores.") > at("id=\"method\""));
        assert!(h.contains("<figcaption>Read the <em>ratio</em>.</figcaption>"));
        assert!(
            !h.contains("src=\"http") && !h.contains("href=\"http"),
            "no fetches"
        );
    }

    #[test]
    fn arms_without_a_difference_are_folded_not_dropped() {
        let f = finding(
            "p99 latency relative to uring: significant for epoll-et 0.8×✱ (0.7–0.9); \
             no significant difference for a 1.0× (0.9–1.1), b 1.1× (0.9–1.3).",
        );
        assert!(f.starts_with("p99 latency relative to uring: significant for epoll-et 0.8×✱"));
        assert!(
            f.contains("<summary>no significant difference for 2 arms</summary>"),
            "{f}"
        );
        assert!(f.contains("a 1.0× (0.9–1.1), b 1.1× (0.9–1.3)."), "{f}");
        let none = finding("x relative to y: no significant difference for a 1.0× (0.9–1.1).");
        assert!(
            none.starts_with("x relative to y: none significant<details>"),
            "{none}"
        );
    }

    #[test]
    fn html_in_the_text_is_shown_not_run() {
        let h = page(
            "# t\n\n## s\n\n- arm <script>alert(1)</script> <b>x</b>\n",
            &[],
        );
        assert!(!h.contains("<script>alert"), "{h}");
        assert!(h.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{h}");
    }

    #[test]
    fn a_report_of_tables_only_shows_them_as_its_content() {
        let md = "# Reliability\n\nMachine: 2 cores.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n";
        let p = split(md);
        assert_eq!(p.title, "Reliability");
        assert_eq!(p.sections.len(), 1);
        let h = page(md, &[]);
        assert!(h.contains("No finding"));
        assert!(
            h.find("<td>1</td>").unwrap() > h.find("id=\"tables\"").unwrap(),
            "{h}"
        );
        assert!(h.contains("Given with the tables above."));
    }
}
