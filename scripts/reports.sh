#!/usr/bin/env bash
# Regenerate every committed report from its rows: REPORT.md, REPORT.html and
# the figures (SVG) beside each, with the baseline each was made with. The
# rows are not touched; run after a change to the report or the figures.
#
#   cargo build --release && scripts/reports.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${LOADGEN:-target/release/loadgen}
report() { # CSV [BASELINE [OUTPUT]]
  local args=("$1")
  [ -n "${2:-}" ] && args+=(--baseline "$2")
  [ -n "${3:-}" ] && args+=(-o "$3")
  "$bin" report "${args[@]}"
}
# Sweeps: the baseline is the one in their command.txt (else epoll-et).
for d in reference models idle10k chat curves external multihost \
         sliced/a sliced/aa sliced/b sliced/c sliced/d sliced/rounds \
         uring/pipeline1 uring/pipeline16 uring/features/pipeline1 uring/features/pipeline16; do
  [ -f "results/$d/runs.csv" ] && [ -f "results/$d/REPORT.md" ] && report "results/$d/runs.csv"
done
# Second readings of the same rows.
for p in 1 16; do
  report results/uring/features/pipeline$p/runs.csv epoll-et \
    results/uring/features/pipeline$p/REPORT-vs-epoll-et.md
done
for b in epoll-et uring threads; do
  report results/veth/runs.csv "$b@loopback" "results/veth/REPORT-$b.md"
done
# The micro-benchmarks' table and figure, from the points bench-table kept.
"$bin" bench-table --points results/bench/wait_cost.csv -o results/bench/all.md
# The reliability tables (loadgen chaos): their pages, from their Markdown.
for f in results/reliability/RELIABILITY.md results/reliability-uring/RELIABILITY.md; do
  "$bin" report "$f"
done
# The numbers the README and docs/ state about these results (docs/method.md, "Claims").
"$bin" claims --update README.md docs/*.md
