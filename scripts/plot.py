#!/usr/bin/env python3
"""Plot muxbench results: PNGs from one or more runs.csv files (written by
`loadgen` / `loadgen sweep`) and HdrHistogram .hgrm files.

Every point drawn from repeated runs is the geometric mean of the repeats of
one (arm, x) cell, with error bars for its 95 % confidence interval: a
Student-t interval on the logarithms, exp(mean(ln v) ± t(0.975, n-1) *
sd(ln v) / sqrt(n)), the method of the Rust report (src/stats/interval.rs,
geomean_ci). A cell with one run is drawn as a point without bars. Lines are
arms: the `arm` column (`epoll-et#1`, `epoll-et#2` when a sweep runs one
backend twice), else the backend; an arm takes its backend's colour, and
#2, #3, ... get their own line style and marker. CPU us/request, req/s and
p99 come from the per-run medians over kept intervals
(server_cpu_us_per_req_med, req_per_s_med, lat_p99_med_us) where a row has
them, else from the whole-window columns (older CSVs).

Figures (each only when the CSV holds the runs it needs):
  throughput_vs_conns.png   req/s vs active connections (no idle)
  p99_vs_conns.png          p99 latency vs active connections
  cpu_vs_idle.png           server CPU us per request vs idle connections
                            (select/poll's O(n) curve against flat epoll)
  trigger_vs_readbuf.png    wait calls, events and reads per request vs read-
                            buffer size, level vs edge trigger (4-byte test)
  latency_spectrum.png      latency by percentile from .hgrm files
                            (x axis: 1/(1-q), log scale)
  costs_vs_conns.png        server CPU, syscalls and p99 per request vs
                            active connections, one row per message size
  p99_vs_load.png           open loop (`loadgen sweep --rates`): p99 latency
                            vs offered load, one line per arm, one panel per
                            scenario; the SLO, each arm's capacity under it
                            and the client-limited range from curve.txt
  chat.png                  chat rows: deliveries/s and server CPU per
                            delivery by arm
  wait_cost.png             from a bench CSV (`loadgen bench-table --csv`):
                            time per wait with one ready fd among N watched

The closed-loop figures above skip open-loop rows (load_model = open), so a
load-latency sweep does not mix into them. In p99_vs_load.png a point is the
geometric mean of the repeats of one (arm, scenario, offered rate) with its
95 % t-interval drawn as a band; a single run's band is its p99's
order-statistics interval (p99_ci_lo_us, p99_ci_hi_us). p99 there is the
whole window's (lat_p99_us), the figure the SLO and the intervals refer to.
Points that are not the server's latency are faint and unjoined: a run's
self-check failed for the generator's reasons, the server saturated (the
in-flight windows filled), or a run above half the client's capacity failed
at all. curve.txt beside the CSV gives slo_us (dashed line; each arm's
capacity, as in the report, is the highest offered rate with p99 <= SLO and
at least 95 % of the rate achieved, at it and at every lower rate: a star)
and client_capacity (x above half of it shaded).

Example:
  python3 scripts/plot.py results/reference/runs.csv -o results/reference/

.hgrm files given on the command line are plotted as the spectrum; without
any, the spectrum uses <csv dir>/hgrm/*-c100-i0-m64-b16384-r1.hgrm if present.
Requires matplotlib: python3 -m pip install -r scripts/requirements.txt
"""

import argparse
import csv
import glob
import json
import math
import os
import re
import statistics
import subprocess
import sys

def loadgen_binary():
    """The loadgen executable: $MUXBENCH_LOADGEN, else the project's release or
    debug build beside this script, else `loadgen` on PATH."""
    env = os.environ.get("MUXBENCH_LOADGEN")
    if env:
        return env
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    for profile in ("release", "debug"):
        exe = os.path.join(root, "target", profile, "loadgen")
        if os.access(exe, os.X_OK):
            return exe
    return "loadgen"


def backend_order():
    """Backend names in report order, asked of the binary (`loadgen backends
    --json`, generated from the one table in src/backend.rs). Without a
    binary, backends are ordered by name, and this says so."""
    exe = loadgen_binary()
    try:
        out = subprocess.run([exe, "backends", "--json"], capture_output=True, text=True,
                             timeout=30, check=True).stdout
        return [b["name"] for b in json.loads(out)]
    except (OSError, subprocess.SubprocessError, ValueError, KeyError, TypeError) as e:
        print(f"plot.py: warning: cannot ask {exe} for the backends ({e}); ordering them by "
              "name (build with `cargo build --release` or set MUXBENCH_LOADGEN)",
              file=sys.stderr)
        return []


ORDER = backend_order()
PALETTE = ["tab:red", "tab:orange", "tab:blue", "tab:green", "tab:purple", "tab:brown",
           "tab:pink", "tab:olive", "tab:cyan"]


def color(backend):
    if backend in ORDER:
        return PALETTE[ORDER.index(backend) % len(PALETTE)]
    return "tab:gray"


def backend_key(b):
    return (ORDER.index(b) if b in ORDER else len(ORDER), b)


def arm_of(row):
    """The arm label of a row: `arm` if set (newer CSVs), else the backend."""
    return row.get("arm") or row["backend"]


def split_arm(arm):
    """('epoll-et', 2) for 'epoll-et#2'; (backend, 0) for a plain backend."""
    base, sep, suffix = arm.partition("#")
    return base, (int(suffix) if sep and suffix.isdigit() else 0)


def arm_key(arm):
    """Backend order first (as in src/backend.rs), then the arm suffix."""
    base, k = split_arm(arm)
    return backend_key(base) + (k, arm)


# Arm #2, #3, ... of one backend: same colour, own line style and marker.
ARM_STYLES = [("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"), ((0, (5, 1, 1, 1)), "v")]
ARM_HATCHES = ["", "//", "..", "xx", "\\\\"]


def arm_style(arm):
    """(colour, line style, marker, bar hatch) of an arm."""
    base, k = split_arm(arm)
    i = max(k - 1, 0) % len(ARM_STYLES)
    ls, marker = ARM_STYLES[i]
    return color(base), ls, marker, ARM_HATCHES[i]


# Two-sided 95 % critical values of Student's t: df 1..30, then knots. The Rust
# report computes them (src/stats/interval.rs, t975, to 6 decimals); these 3-decimal
# values, interpolated linearly in 1/df beyond 30, agree with it to within 1e-3.
T975_TABLE = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
]
T975_TAIL = [(30, 2.042), (40, 2.021), (60, 2.000), (120, 1.980), (math.inf, 1.960)]


def t975(df):
    """t(0.975, df) for df >= 1: exact for df <= 30; beyond, linear in 1/df
    between the knots 30, 40, 60, 120 and infinity (1.960)."""
    if df <= 30:
        return T975_TABLE[df - 1]
    for (d0, t0), (d1, t1) in zip(T975_TAIL, T975_TAIL[1:]):
        if df <= d1:
            x, x0, x1 = 1.0 / df, 1.0 / d0, 1.0 / d1
            return t1 + (t0 - t1) * (x - x1) / (x0 - x1)
    return 1.960


def geomean_ci(values):
    """(geometric mean, lo, hi, n) of the positive finite values, with the 95 %
    t-interval on their logarithms; lo = hi = None when n = 1; None when no
    value is usable. Values <= 0 or not finite are skipped."""
    logs = [math.log(v) for v in values if v is not None and math.isfinite(v) and v > 0]
    n = len(logs)
    if n == 0:
        return None
    mean = statistics.fmean(logs)
    if n == 1:
        return (math.exp(mean), None, None, 1)
    # Zero spread exactly when all values are equal, so the interval collapses.
    sd = 0.0 if all(l == logs[0] for l in logs) else statistics.stdev(logs)
    half = t975(n - 1) * sd / math.sqrt(n)
    return (math.exp(mean), math.exp(mean - half), math.exp(mean + half), n)


# Figures with a per-run robust median over kept intervals (newer CSVs).
ROBUST = {
    "server_cpu_us_per_req": "server_cpu_us_per_req_med",
    "req_per_s": "req_per_s_med",
    "lat_p99_us": "lat_p99_med_us",
}


def value(row, key):
    """A run's figure: the median over its kept intervals if the row has one,
    else the whole-window column."""
    med = ROBUST.get(key)
    v = num(row, med) if med else None
    return v if v is not None else num(row, key)


def ci_note(data):
    """What a figure draws, with the range of repeats per point."""
    ns = sorted({p[4] for pts in data.values() for p in pts if len(p) > 4})
    if ns and ns[-1] == 1:
        return "one run per point (no repeats, so no CI)"
    if not ns:
        n = ""
    elif ns[0] == ns[-1]:
        n = f", n = {ns[0]}"
    else:
        n = f", n = {ns[0]}–{ns[-1]}"
    return f"geometric mean of repeats{n}; bars: 95 % CI (t on logs)"


def num(row, key):
    v = row.get(key, "")
    try:
        x = float(v)
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def read_rows(paths):
    """(echo rows, chat rows, bench rows): a bench CSV has a `median_ns` column."""
    rows, chat, bench = [], [], []
    for p in paths:
        with open(p, newline="") as f:
            reader = csv.DictReader(f)
            if "median_ns" in (reader.fieldnames or []):
                bench.extend(reader)
                continue
            for r in reader:
                (chat if r.get("workload") == "chat" else rows).append(r)
    return rows, chat, bench


def fig_chat(plt, chat, out):
    if not chat:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    arms = sorted({arm_of(r) for r in chat}, key=arm_key)
    ns = {}
    for ax, key, label in (
        (axes[0], "req_per_s", "deliveries per second"),
        (axes[1], "server_cpu_us_per_req", "server CPU per delivery (µs)"),
    ):
        for i, a in enumerate(arms):
            c, _, _, hatch = arm_style(a)
            g = geomean_ci([value(r, key) for r in chat if arm_of(r) == a])
            if g is None:
                continue
            est, lo, hi, n = g
            ns.setdefault("chat", []).append((i, est, lo, hi, n))
            ax.bar([i], [est], color=c, hatch=hatch, edgecolor="white" if not hatch else "black")
            if lo is not None:
                ax.errorbar([i], [est], yerr=[[est - lo], [hi - est]], fmt="none",
                            ecolor="black", capsize=4)
        ax.set_xticks(range(len(arms)))
        ax.set_xticklabels(arms)
        ax.set_ylabel(label)
        ax.grid(True, axis="y", alpha=0.3)
    r = chat[0]
    fig.suptitle(
        f"Chat fan-out: {r['conns']} clients, {r.get('senders') or '?'} sending, "
        f"{r['msg_size']} B lines\n{machine_label(chat)}\n{ci_note(ns)}"
    )
    fig.tight_layout()
    return save(fig, out, "chat.png")


# The report's rule for sliced comparisons (src/stats: STEAL_LIMIT_PCT): a
# cycle with steal above this in any slice is left out for every arm.
STEAL_LIMIT_PCT = 5.0


def fig_feature_ratios(plt, rows, out):
    """io_uring feature ablation (arms `uring+FEATURE`): per scenario, each
    arm's server CPU per request as a ratio to plain `uring`, paired by
    cycle (the geometric mean of the per-cycle ratios with its 95 %
    t-interval on logs, as the report computes it); a filled marker is a
    ratio whose interval excludes 1."""
    if len({arm_of(r) for r in rows if arm_of(r).startswith("uring+")}) < 2:
        return None
    key = lambda r: (int(r["conns"]), int(r["msg_size"]))
    scenarios = sorted({key(r) for r in rows})
    fig, axes = plt.subplots(1, len(scenarios), figsize=(4.2 * len(scenarios), 5.2),
                             sharey=True, sharex=True)
    axes = axes if len(scenarios) > 1 else [axes]
    arms = sorted({arm_of(r) for r in rows if arm_of(r) != "uring"}, key=lambda a: (a != "epoll-et", a))
    for ax, sc in zip(axes, scenarios):
        cell = [r for r in rows if key(r) == sc]
        disturbed = {r["repeat"] for r in cell if (num(r, "steal_pct") or 0) > STEAL_LIMIT_PCT}
        base = {r["repeat"]: value(r, "server_cpu_us_per_req") for r in cell
                if arm_of(r) == "uring" and r["repeat"] not in disturbed}
        for y, arm in enumerate(arms):
            ratios = [value(r, "server_cpu_us_per_req") / base[r["repeat"]] for r in cell
                      if arm_of(r) == arm and r["repeat"] in base and base[r["repeat"]]
                      and value(r, "server_cpu_us_per_req")]
            ci = geomean_ci(ratios)
            if not ci or ci[1] is None:
                continue
            est, lo, hi, _ = ci
            significant = lo > 1 or hi < 1
            c = "tab:red" if est > 1 else "tab:green"
            ax.errorbar([est], [y], xerr=[[est - lo], [hi - est]], fmt="o", color=c,
                        mfc=c if significant else "white", capsize=3)
        ax.axvline(1.0, color="grey", lw=1)
        ax.set_xscale("log")
        ax.set_xlabel("server CPU µs/req ÷ plain uring")
        ax.set_title(f"{sc[0]} conns, {sc[1]} B", fontsize=10)
        ax.grid(True, axis="x", alpha=0.3)
    # One scale for every panel; plain ratio ticks (no "9×10⁻¹"), those within it.
    lo_x, hi_x = axes[0].get_xlim()
    ticks = [t for t in (0.5, 0.8, 1, 1.5, 2, 3, 4, 6, 8) if lo_x <= t <= hi_x]
    for ax in axes:
        ax.set_xticks(ticks)
        ax.set_xticklabels([f"{t:g}×" for t in ticks], fontsize=8)
        ax.minorticks_off()
    axes[0].set_yticks(range(len(arms)))
    axes[0].set_yticklabels(arms, fontsize=8)
    pipeline = most_common(rows, "pipeline")
    fig.suptitle(
        f"io_uring features, pipeline {pipeline}: paired ratio to plain uring, 95 % CI "
        f"(filled: significant; left of 1 = less CPU)\n{machine_label(rows)}",
        fontsize=10,
    )
    fig.tight_layout()
    return save(fig, out, "feature_ratios.png")


def fig_wait_cost(plt, bench, out):
    pts = [r for r in bench if r["family"] == "wait_cost" and r["param"].isdigit()]
    if not pts:
        return None
    data = {}
    for r in pts:
        n, t = float(r["param"]), float(r["median_ns"]) / 1000.0
        data.setdefault(r["backend"], []).append((n, t, None, None))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    line_plot(ax, {b: sorted(v) for b, v in data.items()})
    ax.set_yscale("log")
    ax.set_xlabel("watched descriptors N (one ready)")
    ax.set_ylabel("time per iteration (µs): make ready + wait + read")
    ax.set_title("Multiplexer wait cost vs watched descriptors (criterion medians)")
    return save(fig, out, "wait_cost.png")


def machine_label(rows):
    r = rows[0]
    return f"{r.get('cpu_model', '?')}, {r.get('cores', '?')} cores"


def most_common(rows, key):
    vals = [r[key] for r in rows]
    return max(set(vals), key=vals.count) if vals else None


def series(rows, xkey, ykey):
    """{arm: [(x, geometric mean, ci lo, ci hi, n)]} over repeats; lo and hi
    are None for a single run."""
    out = {}
    by = {}
    for r in rows:
        x, y = num(r, xkey), value(r, ykey)
        if x is None or y is None:
            continue
        by.setdefault(arm_of(r), {}).setdefault(x, []).append(y)
    for a, pts in by.items():
        cells = []
        for x, ys in pts.items():
            g = geomean_ci(ys)
            if g is not None:
                cells.append((x,) + g)
        if cells:
            out[a] = sorted(cells)
    return out


def line_plot(ax, data, logx=True, dodge=2.5):
    """One line per arm (geometric means), error bars for the 95 % CIs. The
    arms are spread `dodge` points apart sideways so that bars at one x stay
    apart. Returns {arm: transform} for marks drawn on top of the lines."""
    from matplotlib.transforms import offset_copy

    arms = sorted(data, key=arm_key)
    transforms = {}
    for i, a in enumerate(arms):
        pts = data[a]
        c, ls, marker, _ = arm_style(a)
        shift = (i - (len(arms) - 1) / 2) * dodge
        trans = offset_copy(ax.transData, fig=ax.figure, x=shift, units="points")
        transforms[a] = trans
        xs = [p[0] for p in pts]
        # Drawn in data coordinates (so the axis limits fit the data), then shifted.
        artists = ax.plot(xs, [p[1] for p in pts], linestyle=ls, marker=marker, color=c,
                          label=a)
        bars = [p for p in pts if p[2] is not None]
        if bars:
            eb = ax.errorbar(
                [p[0] for p in bars], [p[1] for p in bars],
                yerr=[[p[1] - p[2] for p in bars], [p[3] - p[1] for p in bars]],
                fmt="none", ecolor=c, elinewidth=1.2, capsize=3, alpha=0.8,
            )
            artists += [x for x in eb.get_children()]
        for artist in artists:
            artist.set_transform(trans)
    if logx:
        ax.set_xscale("log")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return transforms


def title(rows, what, data=None):
    """Title lines: what, the machine and message size, and (for figures
    drawn from repeats, `data` from series) what the points and bars are."""
    msg = most_common(rows, "msg_size")
    t = f"{what}\n{machine_label(rows)}, {msg} B messages"
    return f"{t}\n{ci_note(data)}" if data is not None else t


def smallest_msg(rows):
    """Rows of the smallest message size (so series never mix sizes)."""
    sizes = sorted({int(r["msg_size"]) for r in rows})
    return [r for r in rows if int(r["msg_size"]) == sizes[0]] if sizes else rows


def no_idle_default_buf(rows):
    rows = smallest_msg(rows)
    rb = most_common(rows, "read_buf")
    return [r for r in rows if r["idle"] == "0" and r["read_buf"] == rb]


def fig_throughput(plt, rows, out):
    sel = no_idle_default_buf(rows)
    data = series(sel, "conns", "req_per_s")
    if not any(len(v) >= 2 for v in data.values()):
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    line_plot(ax, data)
    ax.set_xlabel("active connections")
    ax.set_ylabel("throughput (requests/s)")
    ax.set_title(title(rows, "Echo throughput vs active connections (no idle)", data))
    return save(fig, out, "throughput_vs_conns.png")


def fig_p99(plt, rows, out):
    sel = no_idle_default_buf(rows)
    data = series(sel, "conns", "lat_p99_us")
    if not any(len(v) >= 2 for v in data.values()):
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    line_plot(ax, data)
    ax.set_yscale("log")
    ax.set_xlabel("active connections")
    ax.set_ylabel("p99 latency (µs)")
    ax.set_title(title(rows, "p99 latency vs active connections (no idle)", data))
    return save(fig, out, "p99_vs_conns.png")


def fig_cpu_vs_idle(plt, rows, out):
    rows = smallest_msg(rows)
    with_idle = [r for r in rows if r["idle"] != "0"]
    if not with_idle:
        return None
    conns = most_common(with_idle, "conns")
    rb = most_common(with_idle, "read_buf")
    sel = [r for r in rows if r["conns"] == conns and r["read_buf"] == rb]
    data = series(sel, "idle", "server_cpu_us_per_req")
    if not any(len(v) >= 2 for v in data.values()):
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    transforms = line_plot(ax, data, logx=False)
    # Mark runs where the server refused connections (select beyond FD_SETSIZE).
    for r in sel:
        if (num(r, "server_refused") or 0) > 0:
            x, y = num(r, "idle"), value(r, "server_cpu_us_per_req")
            if x is not None and y is not None:
                a = arm_of(r)
                (mark,) = ax.plot([x], [y], "x", color=arm_style(a)[0], markersize=10)
                mark.set_transform(transforms.get(a, ax.transData))
    ax.set_xlabel(f"idle connections (with {conns} active)")
    ax.set_ylabel("server CPU per request (µs)")
    ax.set_title(
        title(rows, "Server CPU per request vs idle connections (× = refusals)", data)
    )
    return save(fig, out, "cpu_vs_idle.png")


def fig_trigger(plt, rows, out):
    bufs = sorted({int(r["read_buf"]) for r in rows})
    if len(bufs) < 2:
        return None
    small = [r for r in rows if r["read_buf"] == str(bufs[0])]
    conns = most_common(small, "conns")
    sel = [r for r in rows if r["conns"] == conns and r["idle"] == "0"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    drawn = {}
    for ax, key, label in (
        (axes[0], "server_waits_per_req", "wait calls per request"),
        (axes[1], "server_events_per_req", "events (wake-ups) per request"),
        (axes[2], "server_reads_per_req", "reads per request"),
    ):
        data = series(sel, "read_buf", key)
        drawn.update({(a, key): pts for a, pts in data.items()})
        line_plot(ax, data)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("server read buffer (bytes)")
        ax.set_ylabel(label)
    fig.suptitle(
        title(rows, f"Level vs edge trigger by read-buffer size ({conns} active)", drawn)
    )
    fig.tight_layout()
    return save(fig, out, "trigger_vs_readbuf.png")


def fig_costs_by_size(plt, rows, out):
    """Per-request server costs and p99 vs active connections, one row of
    panels per message size (drawn when a sweep has several sizes)."""
    sizes = sorted({int(r["msg_size"]) for r in rows})
    if len(sizes) < 2:
        return None
    rb = most_common(rows, "read_buf")
    sel = [r for r in rows if r["idle"] == "0" and r["read_buf"] == rb]
    panels = (
        ("server_cpu_us_per_req", "server CPU µs per request"),
        ("server_syscalls_per_req", "server syscalls per request"),
        ("lat_p99_us", "p99 latency (µs)"),
    )
    fig, axes = plt.subplots(len(sizes), len(panels), figsize=(15, 4 * len(sizes)), squeeze=False)
    drawn = {}
    for i, size in enumerate(sizes):
        rs = [r for r in sel if int(r["msg_size"]) == size]
        for j, (key, label) in enumerate(panels):
            ax = axes[i][j]
            data = series(rs, "conns", key)
            drawn.update({(a, size, key): pts for a, pts in data.items()})
            line_plot(ax, data)
            ax.set_yscale("log")
            ax.set_xlabel(f"active connections ({size} B messages, no idle)")
            ax.set_ylabel(label)
    pipeline = most_common(rows, "pipeline")
    fig.suptitle(
        f"Per-request costs vs active connections, closed loop ×{pipeline}"
        f"\n{machine_label(rows)}\n{ci_note(drawn)}"
    )
    fig.tight_layout()
    return save(fig, out, "costs_vs_conns.png")


def is_open(row):
    """An open-loop row (older CSVs without `load_model` are closed loop)."""
    return row.get("load_model") == "open"


def read_curve(csvs):
    """{key: float} from the first curve.txt beside one of the CSVs (the
    `key=value` lines `loadgen sweep --rates` writes), or {}."""
    for c in csvs:
        path = os.path.join(os.path.dirname(os.path.abspath(c)), "curve.txt")
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError:
            continue
        out = {}
        for line in text.splitlines():
            key, sep, v = line.partition("=")
            if not sep:
                continue
            try:
                x = float(v.strip())
            except ValueError:
                continue
            if math.isfinite(x):
                out[key.strip()] = x
        return out
    return {}


def fmt_rate(x):
    return f"{x:,.0f}" if x >= 10 else f"{x:g}"


def run_class(row):
    """The self-check's verdict as a class, as src/record/run.rs reads it:
    'valid' (or no verdict), 'saturated' (the server did not keep up),
    'unconverged' (only p99's interval from the independent subsample was
    wider than --target-ci), 'invalid' (the generator's own failures)."""
    v = (row.get("verdict") or "").strip()
    if not v or v == "valid":
        return "valid"
    if v.startswith("server saturated"):
        return "saturated"
    if v.startswith("p99 not converged"):
        return "unconverged"
    return "invalid"


def load_points(rows, client_limit=None):
    """{arm: [dict]} per offered rate, ascending: `x` the rate; `est`, `lo`,
    `hi`, `n` the geometric mean of the runs' p99 (lat_p99_us) with its 95 %
    t-interval (one run: its p99's order-statistics interval when present);
    `achieved` the geometric mean of req_per_s; `classes` the runs' self-check
    classes; `server` whether the point is drawn as the server's latency:
    no run failed for the generator's reasons, none saturated, and, above
    `client_limit` msg/s, none failed at all (there a failure is the
    client's)."""
    by = {}
    for r in rows:
        x, y = num(r, "target_rate"), num(r, "lat_p99_us")
        if x is None or y is None:
            continue
        by.setdefault(arm_of(r), {}).setdefault(x, []).append(r)
    out = {}
    for a, cells in by.items():
        pts = []
        for x, rs in cells.items():
            g = geomean_ci([num(r, "lat_p99_us") for r in rs])
            if g is None:
                continue
            est, lo, hi, n = g
            if n == 1:
                ok = [r for r in rs if (num(r, "lat_p99_us") or 0) > 0]
                clo, chi = num(ok[0], "p99_ci_lo_us"), num(ok[0], "p99_ci_hi_us")
                if clo is not None and chi is not None and 0 < clo <= est <= chi:
                    lo, hi = clo, chi
            classes = [run_class(r) for r in rs]
            above = client_limit is not None and x > client_limit
            server = not any(c in ("invalid", "saturated") for c in classes) and not (
                above and any(c != "valid" for c in classes))
            ach = geomean_ci([num(r, "req_per_s") for r in rs])
            pts.append({"x": x, "est": est, "lo": lo, "hi": hi, "n": n,
                        "achieved": ach[0] if ach else None, "classes": classes,
                        "server": server, "above": above})
        if pts:
            out[a] = sorted(pts, key=lambda p: p["x"])
    return out


def knee(pts, slo):
    """The highest offered rate whose p99 estimate is <= slo and whose
    achieved rate is >= 95 % of the offered one, with every lower rate's too
    (the rule of the report, src/report/capacity/curve.rs): (index into pts or
    None, all rates meet it)."""
    k = None
    for i, p in enumerate(pts):
        if p["est"] > slo or (p["achieved"] is not None and p["achieved"] < 0.95 * p["x"]):
            return k, False
        k = i
    return k, True


# The fraction of the client's own capacity above which a failing run is the
# client's (src/report/capacity/validity.rs, CLIENT_LIMIT).
CLIENT_LIMIT = 0.5


def fig_p99_vs_load(plt, rows, out, curve):
    """p99 vs offered load for open-loop rows (a `loadgen sweep --rates`):
    one panel per scenario, log axes; the server's points filled, joined,
    with their 95 % intervals as bands; points that are not the server's
    latency (the generator failed, the server saturated, or a failing run
    above half the client's capacity) faint; each arm's capacity at the SLO
    one large marker; the legend outside the data."""
    from matplotlib.lines import Line2D

    opened = [r for r in rows if is_open(r) and num(r, "target_rate") is not None]
    if not opened:
        return None
    # Base scenarios; the read buffer is part of one only when it varies.
    with_rb = len({r.get("read_buf") for r in opened}) > 1

    def scen(r):
        k = (int(num(r, "conns") or 0), int(num(r, "idle") or 0), int(num(r, "msg_size") or 0))
        return k + ((int(num(r, "read_buf") or 0),) if with_rb else ())

    slo = curve.get("slo_us")
    cap = curve.get("client_capacity")
    limit = CLIENT_LIMIT * cap if cap is not None else None
    scenarios = sorted({scen(r) for r in opened})
    panels = []
    for sc in scenarios:
        data = load_points([r for r in opened if scen(r) == sc], limit)
        if data:
            panels.append((sc, data))
    if not any(len(pts) >= 2 for _, data in panels for pts in data.values()):
        return None
    ncols = min(len(panels), 2)
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.5 * ncols + 3.2, 4.8 * nrows),
                             squeeze=False)
    ns = set()
    legend = {}
    for idx, (sc, data) in enumerate(panels):
        ax = axes[idx // ncols][idx % ncols]
        for a in sorted(data, key=arm_key):
            pts = data[a]
            ns.update(p["n"] for p in pts)
            c, ls, marker, _ = arm_style(a)
            good = [p for p in pts if p["server"]]
            faint = [p for p in pts if not p["server"]]
            if good:
                ax.plot([p["x"] for p in good], [p["est"] for p in good], linestyle=ls,
                        marker=marker, color=c, zorder=3)
                # A single run without an order-statistics interval has no band.
                band = [p for p in good if p["lo"] is not None and p["hi"] is not None]
                if band:
                    ax.fill_between([p["x"] for p in band], [p["lo"] for p in band],
                                    [p["hi"] for p in band], color=c, alpha=0.08, lw=0,
                                    zorder=1)
            if faint:
                ax.plot([p["x"] for p in faint], [p["est"] for p in faint], linestyle="none",
                        marker=marker, color=c, alpha=0.3, markerfacecolor="none", zorder=2)
            legend.setdefault(a, Line2D([], [], color=c, linestyle=ls, marker=marker))
            if slo is not None:
                k, _ = knee(pts, slo)
                if k is not None and pts[k]["server"]:
                    ax.plot([pts[k]["x"]], [pts[k]["est"]], linestyle="none", marker="*",
                            markersize=15, color=c, markeredgecolor="black",
                            markeredgewidth=0.6, zorder=5)
        ax.set_xscale("log")
        ax.set_yscale("log")
        # The axis follows the points, not their intervals: with three
        # repeats an interval can span decades, and it is drawn clipped.
        ests = [p["est"] for pts in data.values() for p in pts] + ([slo] if slo else [])
        ax.set_ylim(min(ests) / 2, max(ests) * 2)
        if slo is not None:
            ax.axhline(slo, color="black", linestyle="--", linewidth=1.1, zorder=1.5)
        if limit is not None:
            lo_x, hi_x = ax.get_xlim()
            if limit < hi_x:
                ax.axvspan(max(limit, lo_x), hi_x, color="0.9", zorder=0, lw=0)
                ax.set_xlim(lo_x, hi_x)
        ax.grid(True, which="both", alpha=0.25)
        ax.set_xlabel("offered load (msg/s)")
        ax.set_ylabel("p99 latency (µs, log)")
        what = f"{sc[0]} active + {sc[1]} idle connections, {sc[2]} B"
        if with_rb:
            what += f", {sc[3]} B read buffer"
        ax.set_title(what, fontsize=10)
    for idx in range(len(panels), nrows * ncols):
        axes[idx // ncols][idx % ncols].set_visible(False)
    handles = [legend[a] for a in sorted(legend, key=arm_key)]
    labels = sorted(legend, key=arm_key)
    handles.append(Line2D([], [], color="0.5", linewidth=8, alpha=0.3))
    labels.append("band: 95 % interval")
    handles.append(Line2D([], [], linestyle="none", marker="o", color="0.4", alpha=0.4,
                          markerfacecolor="none"))
    labels.append("faint: not the server's latency\n(generator failed, server\n"
                  "saturated, or client-limited)")
    if slo is not None:
        handles.append(Line2D([], [], color="black", linestyle="--"))
        labels.append(f"SLO: p99 ≤ {fmt_rate(slo)} µs")
        handles.append(Line2D([], [], linestyle="none", marker="*", markersize=12,
                              color="0.5", markeredgecolor="black"))
        labels.append("capacity at the SLO\n(p99 ≤ SLO, ≥ 95 % achieved,\nhere and below)")
    if limit is not None:
        handles.append(Line2D([], [], color="0.9", linewidth=8))
        labels.append(f"grey: above half the client's\ncapacity ({fmt_rate(cap)} msg/s)")
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(0.995, 0.5), fontsize=8,
               frameon=False)
    arrivals = most_common([r for r in opened if r.get("arrivals")], "arrivals")
    pacing = most_common([r for r in opened if r.get("pacing")], "pacing")
    how = f"open loop, {arrivals.capitalize()} arrivals" if arrivals else "open loop"
    if pacing:
        how += f", {pacing} pacing"
    nlo, nhi = min(ns), max(ns)
    n = f"n = {nlo}" if nlo == nhi else f"n = {nlo}–{nhi}"
    note = (f"points: geometric mean of p99 over repeats ({n}); band: 95 % CI (t on logs), "
            "clipped to the axis")
    fig.suptitle(f"p99 latency vs offered load ({how})\n{machine_label(opened)} · {note}",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 1))
    return save(fig, out, "p99_vs_load.png")


def read_hgrm(path):
    pts = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 4 and not line.startswith("#"):
                try:
                    value, q = float(parts[0]), float(parts[1])
                except ValueError:
                    continue
                if q < 1.0:
                    pts.append((1.0 / (1.0 - q), value * 1000.0))  # ms -> µs
    return pts


def fig_spectrum(plt, hgrms, rows, out):
    if not hgrms:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for path in hgrms:
        name = os.path.basename(path)
        c, ls, _, _ = arm_style(name.rsplit("-c", 1)[0])
        pts = read_hgrm(path)
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], color=c, linestyle=ls, label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ticks = [1, 10, 100, 1000, 10000, 100000]
    ax.set_xticks(ticks)
    ax.set_xticklabels(["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"])
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency (µs)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    what = "Latency by percentile"
    ax.set_title(title(rows, what) if rows else what)
    return save(fig, out, "latency_spectrum.png")


def save(fig, out, name):
    path = os.path.join(out, name)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


# The largest input taken (as `loadgen report`: src/report/mod.rs MAX_INPUT_BYTES).
MAX_INPUT_BYTES = 1 << 30

# Columns every runs.csv has had (src/report/csv.rs REQUIRED_COLUMNS); a
# bench CSV (`loadgen bench-table --csv`) has these instead.
RUNS_COLUMNS = ("timestamp", "backend", "req_per_s")
BENCH_COLUMNS = ("family", "backend", "param", "median_ns")


def input_problem(path):
    """Why `path` cannot be plotted, or None: it must be a regular file of at
    most MAX_INPUT_BYTES, a runs.csv or bench CSV with every row whole, or an
    .hgrm with a percentile table."""
    if not os.path.exists(path):
        return f"{path} does not exist"
    if os.path.isdir(path):
        return f"{path} is a directory (give runs.csv, a bench CSV or .hgrm files)"
    if not os.path.isfile(path):
        return f"{path} is not a regular file"
    size = os.path.getsize(path)
    if size > MAX_INPUT_BYTES:
        return f"{path} is {size / 2**30:.1f} GiB, more than the 1 GiB a result file may be"
    if path.endswith(".hgrm"):
        try:
            ok = bool(read_hgrm(path))
        except (OSError, UnicodeDecodeError) as e:
            return f"{path}: {e}"
        return None if ok else f"{path} has no percentile table (not an .hgrm, or cut off)"
    if not path.endswith(".csv"):
        return f"{path} is neither a .csv nor an .hgrm"
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if not header:
                return f"{path} is empty"
            wanted = BENCH_COLUMNS if "median_ns" in header else RUNS_COLUMNS
            missing = [c for c in wanted if c not in header]
            if missing:
                return f"{path} is not a loadgen runs.csv or bench CSV: no `{missing[0]}` column"
            rows = 0
            for n, row in enumerate(reader, start=2):
                if len(row) != len(header):
                    return f"{path}, line {n}: {len(row)} fields, the header has {len(header)} (cut off?)"
                rows += 1
            if rows == 0:
                return f"{path} has a header but no rows"
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        return f"{path}: {e}"
    return None


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("files", nargs="+", help="runs.csv and/or .hgrm files")
    parser.add_argument("-o", "--output", default=".", help="output directory")
    args = parser.parse_args()
    # Every input checked before anything is drawn or written.
    for path in args.files:
        problem = input_problem(path)
        if problem:
            print(f"plot.py: error: {problem}", file=sys.stderr)
            sys.exit(2)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit(
            "scripts/plot.py needs matplotlib: "
            "python3 -m pip install -r scripts/requirements.txt"
        )
    csvs = [f for f in args.files if f.endswith(".csv")]
    hgrms = [f for f in args.files if f.endswith(".hgrm")]
    rows, chat, bench = read_rows(csvs)
    if not hgrms:
        for c in csvs:
            pattern = os.path.join(os.path.dirname(c), "hgrm", "*-c100-i0-m64-b16384-r1.hgrm")
            hgrms.extend(sorted(glob.glob(pattern), key=lambda p: arm_key(os.path.basename(p).rsplit("-c", 1)[0])))
    os.makedirs(args.output, exist_ok=True)
    written = []
    # Closed-loop figures: open-loop rows (a load-latency sweep) stay out of them.
    closed = [r for r in rows if not is_open(r)]
    if closed:
        for fig in (fig_throughput, fig_p99, fig_cpu_vs_idle, fig_trigger, fig_costs_by_size,
                    fig_feature_ratios):
            p = fig(plt, closed, args.output)
            if p:
                written.append(p)
    for p in (
        fig_p99_vs_load(plt, rows, args.output, read_curve(csvs)),
        fig_spectrum(plt, hgrms, closed or rows, args.output),
        fig_wait_cost(plt, bench, args.output),
        fig_chat(plt, chat, args.output),
    ):
        if p:
            written.append(p)
    if not written:
        sys.exit("no figure could be drawn from these files")
    for p in written:
        print(p)


if __name__ == "__main__":
    main()
