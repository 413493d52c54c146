//! The code's shape, checked: no import circles between the files of `src/`,
//! no source file over the length the house allows, and [`Backend`] reachable
//! by one path. A newcomer's change that brings a circle back fails here, with
//! the circle named.
//!
//! The import graph is read from the source text: every `crate::…`, `super::…`
//! and `self::…` path (in `use` items, grouped or not, and inline) is resolved
//! to the file that defines the longest module prefix it names. `#[cfg(test)]`
//! modules at the end of a file are left out: a unit test may look anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Longest source file the house allows (STYLE.md: "a file over ~400 lines is
/// usually two ideas"; the issue that split the big ones set 500).
const MAX_FILE_LINES: usize = 500;

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            source_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/server/chat.rs` → `["server", "chat"]`; `src/server/mod.rs` →
/// `["server"]`; `src/lib.rs` → `[]`. Binaries are their own crates: `None`.
fn module_of(src: &Path, file: &Path) -> Option<Vec<String>> {
    let rel = file.strip_prefix(src).unwrap();
    if rel.starts_with("bin") {
        return None;
    }
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_string());
    }
    Some(parts)
}

/// The text of a file without comments, string literals and its trailing
/// `#[cfg(test)]` module.
fn code_of(text: &str) -> String {
    let body = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    };
    let mut out = String::with_capacity(body.len());
    for line in body.lines() {
        let line = match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        };
        // String literals rarely hold `crate::` paths, but doc examples in
        // messages do: drop everything between quotes on the line.
        let mut in_str = false;
        for c in line.chars() {
            if c == '"' {
                in_str = !in_str;
            } else if !in_str {
                out.push(c);
            }
        }
        out.push('\n');
    }
    out
}

/// Every path a file names that starts at `crate`, `super` or `self`,
/// expanding `use a::{b, c::{d, e}}` groups.
fn paths_in(code: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let bytes: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let rest: String = bytes[i..bytes.len().min(i + 7)].iter().collect();
        let starts = ["crate::", "super::", "self::"]
            .iter()
            .any(|p| rest.starts_with(p));
        let boundary = i == 0 || !(bytes[i - 1].is_alphanumeric() || bytes[i - 1] == '_');
        if starts && boundary {
            let (tree, end) = read_tree(&bytes, i);
            expand(&tree, &mut Vec::new(), &mut paths);
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
    paths
        .into_iter()
        .filter(|p: &Vec<String>| matches!(p[0].as_str(), "crate" | "super" | "self"))
        .collect()
}

/// A use-tree: a path prefix and, when it ends in `{…}`, its branches.
#[derive(Debug)]
struct Tree {
    prefix: Vec<String>,
    branches: Vec<Tree>,
}

fn read_tree(s: &[char], mut i: usize) -> (Tree, usize) {
    let mut prefix = Vec::new();
    let mut word = String::new();
    loop {
        match s.get(i) {
            Some(c) if c.is_alphanumeric() || *c == '_' => {
                word.push(*c);
                i += 1;
            }
            Some(':') if s.get(i + 1) == Some(&':') => {
                if !word.is_empty() {
                    prefix.push(std::mem::take(&mut word));
                }
                i += 2;
                while s.get(i).is_some_and(|c| c.is_whitespace()) {
                    i += 1;
                }
                if s.get(i) == Some(&'{') {
                    i += 1;
                    let mut branches = Vec::new();
                    loop {
                        while s.get(i).is_some_and(|c| c.is_whitespace() || *c == ',') {
                            i += 1;
                        }
                        match s.get(i) {
                            Some('}') | None => return (Tree { prefix, branches }, i + 1),
                            _ => {
                                let (t, end) = read_tree(s, i);
                                branches.push(t);
                                i = end;
                                // skip `as name` and anything up to , or }
                                while s.get(i).is_some_and(|c| *c != ',' && *c != '}') {
                                    i += 1;
                                }
                            }
                        }
                    }
                }
            }
            _ => {
                if !word.is_empty() {
                    prefix.push(word);
                }
                return (
                    Tree {
                        prefix,
                        branches: Vec::new(),
                    },
                    i,
                );
            }
        }
    }
}

fn expand(tree: &Tree, base: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    let len = base.len();
    base.extend(tree.prefix.iter().cloned());
    if tree.branches.is_empty() {
        if !base.is_empty() {
            out.push(base.clone());
        }
    } else {
        for b in &tree.branches {
            expand(b, base, out);
        }
    }
    base.truncate(len);
}

/// The module files of the library, by module path.
fn library() -> (BTreeMap<Vec<String>, PathBuf>, PathBuf) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&src, &mut files);
    let modules = files
        .into_iter()
        .filter_map(|f| module_of(&src, &f).map(|m| (m, f)))
        .collect();
    (modules, src)
}

/// `child::x` (not after `::` or a letter) → `self::child::x`.
fn prefix_child(code: &str, child: &str) -> String {
    let needle = format!("{child}::");
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.find(&needle) {
        let before = &rest[..at];
        let prev = before.chars().last();
        let free = !prev.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
        out.push_str(before);
        if free {
            out.push_str("self::");
        }
        out.push_str(&needle);
        rest = &rest[at + needle.len()..];
    }
    out.push_str(rest);
    out
}

/// `path` as written in `module` → the absolute path from the crate root.
fn absolute(module: &[String], path: &[String]) -> Vec<String> {
    let mut absolute: Vec<String> = Vec::new();
    let mut segments = path.iter().peekable();
    match segments.peek().map(|s| s.as_str()) {
        Some("crate") => {
            segments.next();
        }
        Some("self") => {
            segments.next();
            absolute = module.to_vec();
        }
        _ => {
            absolute = module.to_vec();
            while segments.peek().map(|s| s.as_str()) == Some("super") {
                segments.next();
                absolute.pop();
            }
        }
    }
    absolute.extend(segments.cloned());
    absolute
}

/// A module's code, comments and tests removed, its children named by `self::`.
fn module_code(modules: &BTreeMap<Vec<String>, PathBuf>, module: &[String]) -> String {
    let mut code = code_of(&fs::read_to_string(&modules[module]).unwrap());
    // A module's own children are named without `self::` (`use chat::Chat`
    // in `server/mod.rs`): read those as `self::chat::…`.
    for child in modules
        .keys()
        .filter(|m| m.len() == module.len() + 1 && m.starts_with(module))
        .map(|m| m.last().unwrap())
    {
        code = prefix_child(&code, child);
    }
    code
}

/// File → the files it imports from. A name re-exported by a `mod.rs`
/// (`pub use chat::Chat`) leads to the file that defines it: a facade is not a
/// dependency, the definition is.
fn import_graph() -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let (modules, _) = library();
    let codes: BTreeMap<&Vec<String>, String> = modules
        .keys()
        .map(|m| (m, module_code(&modules, m)))
        .collect();
    // module → re-exported name → absolute path it stands for
    let mut reexports: BTreeMap<Vec<String>, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for (module, code) in &codes {
        let names = reexports.entry((*module).clone()).or_default();
        for (at, _) in code.match_indices("pub use ") {
            let chars: Vec<char> = code[at + 8..].chars().collect();
            let (tree, _) = read_tree(&chars, 0);
            let mut paths = Vec::new();
            expand(&tree, &mut Vec::new(), &mut paths);
            for p in paths {
                let abs = absolute(module, &p);
                if let Some(name) = abs.last() {
                    names.insert(name.clone(), abs);
                }
            }
        }
    }
    let file_of = |absolute: &[String]| -> Vec<String> {
        let mut absolute = absolute.to_vec();
        for _ in 0..8 {
            let target = (0..=absolute.len())
                .rev()
                .map(|n| absolute[..n].to_vec())
                .find(|p| modules.contains_key(p))
                .unwrap();
            let item = absolute.get(target.len());
            match item.and_then(|name| reexports[&target].get(name)) {
                Some(through) if through != &absolute => absolute = through.clone(),
                _ => return target,
            }
        }
        panic!("re-exports of {absolute:?} go round in circles");
    };
    let mut graph = BTreeMap::new();
    for (module, code) in &codes {
        let targets: BTreeSet<Vec<String>> = paths_in(code)
            .iter()
            .map(|p| file_of(&absolute(module, p)))
            .filter(|t| t != *module)
            .collect();
        graph.insert((*module).clone(), targets);
    }
    graph
}

/// Strongly connected components with more than one file (Tarjan).
fn circles(graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<Vec<String>>> {
    struct State<'a> {
        graph: &'a BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        index: BTreeMap<&'a Vec<String>, usize>,
        low: BTreeMap<&'a Vec<String>, usize>,
        stack: Vec<&'a Vec<String>>,
        on_stack: BTreeSet<&'a Vec<String>>,
        found: Vec<Vec<Vec<String>>>,
    }
    fn visit<'a>(st: &mut State<'a>, v: &'a Vec<String>) {
        let n = st.index.len();
        st.index.insert(v, n);
        st.low.insert(v, n);
        st.stack.push(v);
        st.on_stack.insert(v);
        for w in &st.graph[v] {
            if !st.index.contains_key(w) {
                visit(st, w);
                let lw = st.low[w];
                let lv = st.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if st.on_stack.contains(w) {
                let iw = st.index[w];
                let lv = st.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if st.low[v] == st.index[v] {
            let mut component = Vec::new();
            loop {
                let w = st.stack.pop().unwrap();
                st.on_stack.remove(w);
                component.push(w.clone());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                st.found.push(component);
            }
        }
    }
    let mut st = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !st.index.contains_key(v) {
            visit(&mut st, v);
        }
    }
    st.found
}

fn show(m: &[String]) -> String {
    if m.is_empty() {
        "lib".into()
    } else {
        m.join("::")
    }
}

#[test]
fn the_library_has_no_import_circles() {
    let graph = import_graph();
    let found = circles(&graph);
    let mut report = String::new();
    for component in &found {
        report.push_str("circle:\n");
        for m in component {
            let inside: Vec<String> = graph[m]
                .iter()
                .filter(|t| component.contains(t))
                .map(|t| show(t))
                .collect();
            report.push_str(&format!("  {} -> {}\n", show(m), inside.join(", ")));
        }
    }
    assert!(found.is_empty(), "import circles in src/:\n{report}");
}

#[test]
fn the_circle_finder_finds_a_circle() {
    // The check above must be able to fail: a → b → c → a is one circle.
    let m = |s: &str| vec![s.to_string()];
    let mut graph = BTreeMap::new();
    graph.insert(m("a"), BTreeSet::from([m("b")]));
    graph.insert(m("b"), BTreeSet::from([m("c")]));
    graph.insert(m("c"), BTreeSet::from([m("a")]));
    graph.insert(m("d"), BTreeSet::from([m("a")]));
    assert_eq!(circles(&graph), vec![vec![m("a"), m("b"), m("c")]]);
}

#[test]
fn grouped_use_items_are_expanded() {
    let code = "use super::{control, Config, trace::{self, Tracer}};\nlet x = crate::sys::now();";
    let paths: Vec<String> = paths_in(code).iter().map(|p| p.join("::")).collect();
    assert_eq!(
        paths,
        [
            "super::control",
            "super::Config",
            "super::trace::self",
            "super::trace::Tracer",
            "crate::sys::now"
        ]
    );
}

#[test]
fn no_source_file_is_over_the_house_length() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&src, &mut files);
    let mut long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let n = fs::read_to_string(f).unwrap().lines().count();
            (n > MAX_FILE_LINES).then(|| format!("{} ({n} lines)", f.display()))
        })
        .collect();
    long.sort();
    assert!(
        long.is_empty(),
        "files over {MAX_FILE_LINES} lines: {long:#?}"
    );
}

#[test]
fn backend_is_reachable_by_one_path() {
    let (modules, _) = library();
    let mut other = Vec::new();
    for file in modules.values() {
        let code = code_of(&fs::read_to_string(file).unwrap());
        // A re-export of `Backend` would be a second path to it.
        for (at, _) in code.match_indices("pub use ") {
            let chars: Vec<char> = code[at + 8..].chars().collect();
            let (tree, _) = read_tree(&chars, 0);
            let mut paths = Vec::new();
            expand(&tree, &mut Vec::new(), &mut paths);
            if paths
                .iter()
                .any(|p| p.last().map(String::as_str) == Some("Backend"))
            {
                other.push(format!("{}: re-exports Backend", file.display()));
            }
        }
        for path in paths_in(&code) {
            if path.last().map(String::as_str) == Some("Backend")
                && path.get(path.len().wrapping_sub(2)).map(String::as_str) != Some("backend")
            {
                other.push(format!("{}: {}", file.display(), path.join("::")));
            }
        }
    }
    assert!(
        other.is_empty(),
        "Backend named other than as crate::backend::Backend: {other:#?}"
    );
}

#[test]
fn the_backend_list_is_one_table_that_loadgen_prints() {
    use muxbench::backend::Backend;
    use std::process::Command;
    let names: Vec<&str> = Backend::ALL.iter().map(|b| b.name()).collect();
    // The binary prints the table in report order.
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["backends", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let listed: Vec<&str> = listed.iter().map(|b| b["name"].as_str().unwrap()).collect();
    assert_eq!(listed, names);
    // Each name parses back to its backend, and no two rows share a name.
    for b in Backend::ALL {
        assert_eq!(b.name().parse::<Backend>().unwrap(), b);
    }
    let mut unique = names.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), names.len());
}
