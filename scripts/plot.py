#!/usr/bin/env python3
"""Plot muxbench results: PNGs from one or more runs.csv files (written by
`loadgen` / `loadgen sweep`) and HdrHistogram .hgrm files.

Figures (each only when the CSV holds the runs it needs):
  throughput_vs_conns.png   req/s vs active connections (no idle), min-max band
  p99_vs_conns.png          p99 latency vs active connections
  cpu_vs_idle.png           server CPU us per request vs idle connections
                            (select/poll's O(n) curve against flat epoll)
  trigger_vs_readbuf.png    wait calls, events and reads per request vs read-
                            buffer size, level vs edge trigger (4-byte test)
  latency_spectrum.png      latency by percentile from .hgrm files
                            (x axis: 1/(1-q), log scale)
  chat.png                  chat rows: deliveries/s and server CPU per
                            delivery by backend (median, min-max)
  wait_cost.png             from a bench CSV (`loadgen bench-table --csv`):
                            time per wait with one ready fd among N watched

Example:
  python3 scripts/plot.py results/reference/runs.csv -o results/reference/

.hgrm files given on the command line are plotted as the spectrum; without
any, the spectrum uses <csv dir>/hgrm/*-c100-i0-m64-b16384-r1.hgrm if present.
Requires matplotlib: python3 -m pip install -r scripts/requirements.txt
"""

import argparse
import csv
import glob
import math
import os
import re
import statistics
import sys

def backend_order():
    """Backend names in report order, read from the one list in src/backend.rs
    (`Backend::name`'s arms follow `Backend::ALL`); empty if the source is not
    beside this script, and then backends are ordered by name."""
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "backend.rs")
    try:
        with open(src, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return []
    body = text.split("pub const fn name(self)", 1)[-1].split("pub const fn describe", 1)[0]
    return re.findall(r'Backend::\w+ => "([a-z0-9-]+)"', body)


ORDER = backend_order()
PALETTE = ["tab:red", "tab:orange", "tab:blue", "tab:green", "tab:purple", "tab:brown",
           "tab:pink", "tab:olive", "tab:cyan"]


def color(backend):
    if backend in ORDER:
        return PALETTE[ORDER.index(backend) % len(PALETTE)]
    return "tab:gray"


def backend_key(b):
    return (ORDER.index(b) if b in ORDER else len(ORDER), b)


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
    backends = sorted({r["backend"] for r in chat}, key=backend_key)
    for ax, key, label in (
        (axes[0], "req_per_s", "deliveries per second"),
        (axes[1], "server_cpu_us_per_req", "server CPU per delivery (µs)"),
    ):
        meds, los, his = [], [], []
        for b in backends:
            vals = [num(r, key) for r in chat if r["backend"] == b]
            vals = [v for v in vals if v is not None]
            m = statistics.median(vals)
            meds.append(m)
            los.append(m - min(vals))
            his.append(max(vals) - m)
        ax.bar(backends, meds, yerr=[los, his], color=[color(b) for b in backends], capsize=4)
        ax.set_ylabel(label)
        ax.grid(True, axis="y", alpha=0.3)
    r = chat[0]
    fig.suptitle(
        f"Chat fan-out: {r['conns']} clients, {r.get('senders') or '?'} sending, "
        f"{r['msg_size']} B lines\n{machine_label(chat)}"
    )
    fig.tight_layout()
    return save(fig, out, "chat.png")


def fig_wait_cost(plt, bench, out):
    pts = [r for r in bench if r["family"] == "wait_cost" and r["param"].isdigit()]
    if not pts:
        return None
    data = {}
    for r in pts:
        n, t = float(r["param"]), float(r["median_ns"]) / 1000.0
        data.setdefault(r["backend"], []).append((n, t, t, t))
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
    """{backend: [(x, median, min, max)]} over repeats."""
    out = {}
    by = {}
    for r in rows:
        x, y = num(r, xkey), num(r, ykey)
        if x is None or y is None:
            continue
        by.setdefault(r["backend"], {}).setdefault(x, []).append(y)
    for b, pts in by.items():
        out[b] = sorted(
            (x, statistics.median(ys), min(ys), max(ys)) for x, ys in pts.items()
        )
    return out


def line_plot(ax, data, logx=True):
    for b in sorted(data, key=backend_key):
        pts = data[b]
        xs = [p[0] for p in pts]
        ax.plot(xs, [p[1] for p in pts], "o-", color=color(b), label=b)
        ax.fill_between(
            xs, [p[2] for p in pts], [p[3] for p in pts], color=color(b), alpha=0.15
        )
    if logx:
        ax.set_xscale("log")
    ax.grid(True, alpha=0.3)
    ax.legend()


def title(rows, what):
    msg = most_common(rows, "msg_size")
    return f"{what}\n{machine_label(rows)}, {msg} B messages"


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
    ax.set_title(title(rows, "Echo throughput vs active connections (no idle)"))
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
    ax.set_title(title(rows, "p99 latency vs active connections (no idle)"))
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
    line_plot(ax, data, logx=False)
    # Mark points where the server refused connections (select beyond FD_SETSIZE).
    for r in sel:
        if (num(r, "server_refused") or 0) > 0:
            x, y = num(r, "idle"), num(r, "server_cpu_us_per_req")
            if x is not None and y is not None:
                ax.plot([x], [y], "x", color=color(r["backend"]), markersize=10)
    ax.set_xlabel(f"idle connections (with {conns} active)")
    ax.set_ylabel("server CPU per request (µs)")
    ax.set_title(
        title(rows, "Server CPU per request vs idle connections (× = refusals)")
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
    for ax, key, label in (
        (axes[0], "server_waits_per_req", "wait calls per request"),
        (axes[1], "server_events_per_req", "events (wake-ups) per request"),
        (axes[2], "server_reads_per_req", "reads per request"),
    ):
        data = series(sel, "read_buf", key)
        line_plot(ax, data)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("server read buffer (bytes)")
        ax.set_ylabel(label)
    fig.suptitle(
        title(rows, f"Level vs edge trigger by read-buffer size ({conns} active)")
    )
    fig.tight_layout()
    return save(fig, out, "trigger_vs_readbuf.png")


def fig_costs_by_size(plt, rows, out):
    """Per-request server costs and p99 vs active connections, one row of
    panels per message size (drawn when a sweep has several sizes)."""
    sizes = sorted({int(r["msg_size"]) for r in rows})
    if len(sizes) < 2:
        return None
    sel = [r for r in rows if r["idle"] == "0"]
    panels = (
        ("server_cpu_us_per_req", "server CPU µs per request"),
        ("server_syscalls_per_req", "server syscalls per request"),
        ("lat_p99_us", "p99 latency (µs)"),
    )
    fig, axes = plt.subplots(len(sizes), len(panels), figsize=(15, 4 * len(sizes)), squeeze=False)
    for i, size in enumerate(sizes):
        rs = [r for r in sel if int(r["msg_size"]) == size]
        for j, (key, label) in enumerate(panels):
            ax = axes[i][j]
            line_plot(ax, series(rs, "conns", key))
            ax.set_yscale("log")
            ax.set_xlabel(f"active connections ({size} B messages, no idle)")
            ax.set_ylabel(label)
    pipeline = most_common(rows, "pipeline")
    fig.suptitle(
        f"Per-request costs vs active connections, closed loop ×{pipeline} "
        f"(median of repeats, band = min–max)\n{machine_label(rows)}"
    )
    fig.tight_layout()
    return save(fig, out, "costs_vs_conns.png")


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
        backend = name.rsplit("-c", 1)[0]
        pts = read_hgrm(path)
        if pts:
            ax.plot(
                [p[0] for p in pts], [p[1] for p in pts], color=color(backend), label=name
            )
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


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("files", nargs="+", help="runs.csv and/or .hgrm files")
    parser.add_argument("-o", "--output", default=".", help="output directory")
    args = parser.parse_args()
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
            hgrms.extend(sorted(glob.glob(pattern), key=lambda p: backend_key(os.path.basename(p).rsplit("-c", 1)[0])))
    os.makedirs(args.output, exist_ok=True)
    written = []
    if rows:
        for fig in (fig_throughput, fig_p99, fig_cpu_vs_idle, fig_trigger, fig_costs_by_size):
            p = fig(plt, rows, args.output)
            if p:
                written.append(p)
    for p in (
        fig_spectrum(plt, hgrms, rows, args.output),
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
