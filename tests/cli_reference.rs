//! `docs/cli.md`, the command-line reference, is generated from the clap
//! definitions — each program's and each subcommand's `--help`, as the
//! binaries print it — and must be current: this test regenerates it and
//! fails when the committed page differs. `UPDATE_CLI_DOCS=1 cargo test
//! --release --test cli_reference` rewrites it.

use std::path::Path;
use std::process::Command;

/// `exe args… --help`, as printed.
fn help(exe: &str, args: &[&str]) -> String {
    let out = Command::new(exe).args(args).arg("--help").output().unwrap();
    assert!(out.status.success(), "{exe} {args:?} --help failed");
    String::from_utf8(out.stdout).unwrap()
}

/// The subcommands a `--help` lists under `Commands:` (not `help`).
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

fn section(out: &mut String, title: &str, text: &str) {
    out.push_str(&format!(
        "## `{title}`\n\n```text\n{}\n```\n\n",
        text.trim_end()
    ));
}

fn generate() -> String {
    let mut out = String::from(
        "# Command-line reference\n\n\
         Generated from the programs' own `--help` (their clap definitions) by\n\
         `tests/cli_reference.rs`, which fails when this page is not current;\n\
         `UPDATE_CLI_DOCS=1 cargo test --release --test cli_reference` rewrites it.\n\n",
    );
    let loadgen = env!("CARGO_BIN_EXE_loadgen");
    let top = help(loadgen, &[]);
    let subs = subcommands(&top);
    out.push_str("Programs: `loadgen` (");
    out.push_str(
        &subs
            .iter()
            .map(|s| format!("[`{s}`](#loadgen-{s})"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    out.push_str("), [`muxserver`](#muxserver), [`muxclient`](#muxclient).\n\n");
    section(&mut out, "loadgen", &top);
    for s in &subs {
        section(&mut out, &format!("loadgen {s}"), &help(loadgen, &[s]));
    }
    section(
        &mut out,
        "muxserver",
        &help(env!("CARGO_BIN_EXE_muxserver"), &[]),
    );
    section(
        &mut out,
        "muxclient",
        &help(env!("CARGO_BIN_EXE_muxclient"), &[]),
    );
    out
}

#[test]
fn the_cli_reference_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/cli.md");
    let now = generate();
    assert!(now.contains("## `loadgen sweep`") && now.contains("--uring-features"));
    if std::env::var_os("UPDATE_CLI_DOCS").is_some() {
        std::fs::write(&path, &now).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == now,
        "docs/cli.md is not what the programs print: run \
         UPDATE_CLI_DOCS=1 cargo test --release --test cli_reference"
    );
}
