//! The markers a page carries its claims in, and splicing the computed
//! values into them.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};

use super::source::Source;

const OPEN: &str = "<!-- claim ";
const CLOSE: &str = "<!-- /claim -->";

/// One marked number of a page.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    /// The results folder, relative to the repository's root.
    pub folder: String,
    /// The claim's key.
    pub key: String,
    /// The arm ratios refer to.
    pub baseline: String,
    /// The value the page states.
    pub stated: String,
    /// Where the value is in the page, bytes.
    pub at: Range<usize>,
    /// Its line, from 1.
    pub line: usize,
}

/// A page's stated value that its data does not give (or a marker that
/// names no claim).
#[derive(Debug, Clone)]
pub struct Mismatch {
    /// The page.
    pub page: PathBuf,
    /// The marker.
    pub marker: Marker,
    /// The value the data gives, or why there is none.
    pub computed: Result<String, String>,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = &self.marker;
        write!(
            f,
            "{}:{}: {} {} states {:?}, ",
            self.page.display(),
            m.line,
            m.folder,
            m.key,
            m.stated
        )?;
        match &self.computed {
            Ok(v) => write!(f, "its data gives {v:?}"),
            Err(e) => write!(f, "{e}"),
        }
    }
}

/// Every marker of `text`, in order.
pub fn markers(text: &str) -> Result<Vec<Marker>> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find(OPEN) {
        let start = from + i;
        let line = text[..start].matches('\n').count() + 1;
        let head_end = text[start..]
            .find("-->")
            .map(|j| start + j)
            .ok_or_else(|| anyhow!("line {line}: an unterminated claim marker"))?;
        let head = &text[start + OPEN.len()..head_end];
        let value_start = head_end + "-->".len();
        let value_end = text[value_start..]
            .find(CLOSE)
            .map(|j| value_start + j)
            .ok_or_else(|| anyhow!("line {line}: a claim without {CLOSE}"))?;
        let words: Vec<&str> = head.split_whitespace().collect();
        let (folder, key, baseline) = match words[..] {
            [f, k] => (f, k, "epoll-et"),
            [f, k, "vs", b] => (f, k, b),
            _ => bail!("line {line}: a claim marker is `{OPEN}FOLDER KEY [vs ARM] -->`"),
        };
        out.push(Marker {
            folder: folder.into(),
            key: key.into(),
            baseline: baseline.into(),
            stated: text[value_start..value_end].to_string(),
            at: value_start..value_end,
            line,
        });
        from = value_end + CLOSE.len();
    }
    Ok(out)
}

/// The folders' sources, loaded once each.
struct Sources<'a> {
    root: &'a Path,
    loaded: BTreeMap<String, Result<Source, String>>,
}

impl Sources<'_> {
    fn value(&mut self, m: &Marker) -> Result<String, String> {
        let root = self.root;
        let src = self
            .loaded
            .entry(m.folder.clone())
            .or_insert_with(|| Source::load(&root.join(&m.folder)).map_err(|e| format!("{e:#}")));
        match src {
            Ok(s) => s.value(&m.key, &m.baseline).map_err(|e| format!("{e:#}")),
            Err(e) => Err(e.clone()),
        }
    }
}

fn read(page: &Path) -> Result<String> {
    std::fs::read_to_string(page).with_context(|| format!("reading {}", page.display()))
}

/// Every marked value of `pages` that its data (under `root`) does not give.
pub fn check_pages(root: &Path, pages: &[PathBuf]) -> Result<Vec<Mismatch>> {
    let mut sources = Sources {
        root,
        loaded: BTreeMap::new(),
    };
    let mut out = Vec::new();
    for page in pages {
        let text = read(page)?;
        for marker in markers(&text).with_context(|| page.display().to_string())? {
            let computed = sources.value(&marker);
            if computed.as_deref() != Ok(marker.stated.as_str()) {
                out.push(Mismatch {
                    page: page.clone(),
                    marker,
                    computed,
                });
            }
        }
    }
    Ok(out)
}

/// Rewrite every marked value of `pages` from its data; how many changed.
/// A marker that names no claim is an error, and no page is written then.
pub fn update_pages(root: &Path, pages: &[PathBuf]) -> Result<usize> {
    let mismatches = check_pages(root, pages)?;
    if let Some(bad) = mismatches.iter().find(|m| m.computed.is_err()) {
        bail!("{bad}");
    }
    for page in pages {
        let mut text = read(page)?;
        let mut mine: Vec<&Mismatch> = mismatches.iter().filter(|m| &m.page == page).collect();
        // From the end, so earlier ranges stay valid.
        mine.sort_by_key(|m| std::cmp::Reverse(m.marker.at.start));
        if mine.is_empty() {
            continue;
        }
        for m in mine {
            if let Ok(v) = &m.computed {
                text.replace_range(m.marker.at.clone(), v);
            }
        }
        crate::report::write_atomic(page, text.as_bytes())?;
    }
    Ok(mismatches.len())
}
