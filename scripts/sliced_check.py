#!/usr/bin/env python3
"""Does interleaving arms in slices make ratios reproduce? Reads the sweep
folders of results/sliced/ and writes one Markdown page (COMPARISON.md) that
answers it from their runs.csv files:

  a/, b/    two independent sliced sweeps (--interleave slices) of the same arms
  c/, d/    optionally, another such pair (e.g. shorter --slice)
  rounds/   the same arms and scenarios paired by round (--interleave rounds),
            with the same measured time per arm
  aa/       an A/A sweep in slices (one backend as two arms)

A sliced sweep's cycle in which any slice saw host steal above 5 % is left
out whole (the Rust report's rule). For every scenario and arm: the ratio of
server CPU µs per request to the
baseline (epoll-et) with its 95 % interval — a paired t-interval on the log
ratios of the slices (rows) of one cycle (`repeat`), the method of the Rust
report (src/stats/, paired_ratio_ci) — in a, b and rounds; how far a and b
agree; how wide the sliced intervals are against the rounds' interval. Then
the A/A sweep's cells with a significant difference.

Example:
  python3 scripts/sliced_check.py results/sliced -o results/sliced/COMPARISON.md
"""

import argparse
import csv
import math
import os
import statistics
import sys

BASELINE = "epoll-et"
FIGURES = [
    ("server CPU µs/req", "server_cpu_us_per_req"),
    ("req/s", "req_per_s"),
]


def t975(df):
    """Student t quantile 0.975 (table, then the normal's 1.96)."""
    table = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365,
             8: 2.306, 9: 2.262, 10: 2.228, 12: 2.179, 15: 2.131, 20: 2.086, 25: 2.060,
             30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980}
    if df in table:
        return table[df]
    keys = sorted(table)
    for lo, hi in zip(keys, keys[1:]):
        if lo < df < hi:
            # Linear in 1/df (src/stats/ computes the exact quantile with statrs; this
            # check script only needs agreement to a few parts in 10,000).
            w = (1 / df - 1 / hi) / (1 / lo - 1 / hi)
            return table[hi] + w * (table[lo] - table[hi])
    return 1.96


def value(row, key):
    """The run's figure: its median over intervals where it has one (rounds),
    else the whole window's (a slice has no intervals)."""
    for k in (key + "_med", key):
        v = row.get(k)
        if v not in (None, ""):
            try:
                x = float(v)
            except ValueError:
                continue
            if math.isfinite(x) and x > 0:
                return x
    return None


# A cycle in which any slice saw host steal above this (percent) is left out
# whole, as the Rust report does (src/report/slices.rs, STEAL_LIMIT_PCT).
STEAL_LIMIT_PCT = 5.0


def read(folder):
    """The rows of a sweep folder, without a sliced sweep's disturbed cycles."""
    path = os.path.join(folder, "runs.csv")
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    disturbed = {(scenario(r), r["repeat"]) for r in rows
                 if r.get("interleave") == "slices" and float(r["steal_pct"]) > STEAL_LIMIT_PCT}
    return [r for r in rows if r.get("interleave") != "slices"
            or (scenario(r), r["repeat"]) not in disturbed]


def arm(row):
    return row.get("arm") or row["backend"]


def scenario(row):
    return (int(row["conns"]), int(row["idle"]), int(row["msg_size"]))


def paired_ratio(rows, a, b, key):
    """(estimate, lo, hi, n) of a/b over the repeats both ran, or None."""
    by = {}
    for r in rows:
        v = value(r, key)
        if v is not None:
            by.setdefault(arm(r), {})[r["repeat"]] = v
    if a not in by or b not in by:
        return None
    logs = [math.log(by[a][k] / by[b][k]) for k in by[a] if k in by[b]]
    if len(logs) < 2:
        return None
    m, sd = statistics.fmean(logs), statistics.stdev(logs)
    h = t975(len(logs) - 1) * sd / math.sqrt(len(logs))
    return math.exp(m), math.exp(m - h), math.exp(m + h), len(logs)


def fmt(r):
    if r is None:
        return "–"
    return f"{r[0]:.3f}× ({r[1]:.3f}–{r[2]:.3f}, n {r[3]})"


def half(r):
    """Relative half-width of an interval, on the log scale."""
    return (math.log(r[2]) - math.log(r[1])) / 2


def slice_len(rows):
    """The slices' median length, s."""
    return statistics.median(float(r["measured_s"]) for r in rows)


def pair_table(out, x, y, rounds, names):
    """One table comparing two sliced sweeps `x`, `y` with `rounds`."""
    out.append(f"| scenario | arm | {names[0]} | {names[1]} | {names[0]}/{names[1]} − 1 | "
               f"rounds | width {names[0]} / rounds | width {names[1]} / rounds |")
    out.append("|---|---|---|---|---|---|---|---|")
    agree, narrower, total = 0, 0, 0
    worst_agree, worst_width = 0.0, 0.0
    key = "server_cpu_us_per_req"
    for sc in sorted({scenario(r) for r in x}):
        arms = sorted({arm(r) for r in x if scenario(r) == sc and arm(r) != BASELINE})
        for a in arms:
            ra, rb, rr = (paired_ratio([r for r in rows if scenario(r) == sc], a, BASELINE, key)
                          for rows in (x, y, rounds))
            if ra is None or rb is None:
                continue
            total += 1
            diff = ra[0] / rb[0] - 1
            worst_agree = max(worst_agree, abs(diff))
            agree += abs(diff) <= 0.02
            wa = half(ra) / half(rr) if rr else float("nan")
            wb = half(rb) / half(rr) if rr else float("nan")
            if rr:
                worst_width = max(worst_width, wa, wb)
                narrower += wa <= 0.5 and wb <= 0.5
            out.append(f"| {sc[0]} active + {sc[1]} idle, {sc[2]} B | {a} | {fmt(ra)} | "
                       f"{fmt(rb)} | {100 * diff:+.1f} % | {fmt(rr)} | {wa:.2f} | {wb:.2f} |")
    out.append("")
    out.append(f"- {names[0]} and {names[1]} agree within 2 % on {agree} of {total} ratios "
               f"(largest difference {100 * worst_agree:.1f} %).")
    out.append(f"- Their intervals are at most half as wide as the rounds' on {narrower} of "
               f"{total} ratios (both sweeps; widest {worst_width:.2f} of the rounds' width).")
    out.append("")


def render(root):
    rounds = read(os.path.join(root, "rounds"))
    out = ["# Slices against rounds: do ratios reproduce?", ""]
    out.append("Generated by `python3 scripts/sliced_check.py results/sliced` from the "
               "`runs.csv` of pairs of independent sliced sweeps (`a/` and `b/`; `c/` and "
               "`d/` with shorter slices, if present), `rounds/` (the same arms paired by "
               "round, the same measured time per arm) and `aa/` (A/A in slices). Ratios to "
               "epoll-et of server CPU µs per request with their 95 % interval, paired within "
               "a cycle (slices) or a round (rounds); a width is the interval's half-width on "
               "the log scale.")
    out.append("")
    for x, y in (("a", "b"), ("c", "d")):
        if not (os.path.isdir(os.path.join(root, x)) and os.path.isdir(os.path.join(root, y))):
            continue
        rx, ry = read(os.path.join(root, x)), read(os.path.join(root, y))
        out.append(f"## {x}/ and {y}/: slices of {slice_len(rx):.2f} s")
        out.append("")
        pair_table(out, rx, ry, rounds, (x, y))
    aa_path = os.path.join(root, "aa")
    if os.path.isdir(aa_path):
        out.append("## aa/: A/A in slices")
        out.append("")
        aa = read(aa_path)
        names = sorted({arm(r) for r in aa})
        cells, significant = 0, []
        if len(names) == 2:
            for sc in sorted({scenario(r) for r in aa}):
                rows = [r for r in aa if scenario(r) == sc]
                for label, k in FIGURES:
                    r = paired_ratio(rows, names[1], names[0], k)
                    if r is None:
                        continue
                    cells += 1
                    if r[1] > 1 or r[2] < 1:
                        significant.append(f"{sc[0]} active + {sc[1]} idle, {sc[2]} B, "
                                           f"{label}: {fmt(r)}")
        out.append(f"- A/A in slices ({' vs '.join(names)}): {cells - len(significant)} of "
                   f"{cells} cells show no significant difference"
                   + (f" ({100 * (cells - len(significant)) / cells:.1f} %)" if cells else "")
                   + ("" if not significant else "; significant: " + "; ".join(significant))
                   + ".")
        out.append("")
    return "\n".join(out)


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("root", help="folder holding a/, b/, rounds/ and optionally aa/")
    p.add_argument("-o", "--output", default="-", help="Markdown file to write (- : stdout)")
    args = p.parse_args()
    try:
        text = render(args.root)
    except (OSError, KeyError, ValueError) as e:
        print(f"sliced_check.py: {e}", file=sys.stderr)
        return 2
    if args.output == "-":
        sys.stdout.write(text)
    else:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
