#!/usr/bin/env python3
"""loadgen against a thread-per-connection blocking client
(examples/thread_client.rs), driving the same muxserver with the same
connections: requests per client CPU-second, counting the whole client
process (start-up, connecting, the coordinator, joining) as the kernel
reports it to the parent (wait4), not just the measured window.

Both clients are pinned to CPU 1 (the whole process, by the parent), the
server to CPU 0; loadgen runs without warm-up, so every request it makes is
in its count. Runs alternate; medians of --repeats.

    cargo build --release --bins --examples
    python3 scripts/client_efficiency.py --conns 50 --repeats 5 --duration 3

Traffic stays on 127.0.0.1.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REL = ROOT / "target" / "release"


def run_client(argv, cpu):
    """Run a client pinned to `cpu`; (stdout, CPU seconds of the whole process)."""
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))
    out, err = p.communicate()
    # communicate() reaped it: its rusage is in RUSAGE_CHILDREN; take the delta.
    return out, err, p.returncode


def child_cpu():
    ru = os.times()
    return ru.children_user + ru.children_system


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--conns", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--duration", type=float, default=3.0)
    a = ap.parse_args()
    for exe in ["muxserver", "loadgen", "examples/thread_client"]:
        if not (REL / exe).exists():
            sys.exit(f"{REL / exe} is missing: run `cargo build --release --bins --examples`")
    cpus = sorted(os.sched_getaffinity(0))
    client_cpu = 1 if 1 in cpus else cpus[-1]
    server = subprocess.Popen([str(REL / "muxserver"), "--backend", "epoll-et", "--cpu", "0",
                               "--addr", "127.0.0.1:0"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        if not line.startswith("listening on "):
            sys.exit(f"muxserver did not start: {server.stderr.read().strip()}")
        addr = line.split()[2]
        results = {"loadgen": [], "thread-per-connection": []}
        for _ in range(a.repeats):
            before = child_cpu()
            out, err, code = run_client(
                [str(REL / "examples" / "thread_client"), "--addr", addr, "--conns", str(a.conns),
                 "--duration", f"{a.duration}s"], client_cpu)
            cpu = child_cpu() - before
            m = re.search(r"req_per_s=([\d.]+)", out)
            if code != 0 or not m:
                sys.exit(f"thread_client failed: {out}{err}")
            reqs = float(m.group(1)) * a.duration
            results["thread-per-connection"].append((float(m.group(1)), reqs / cpu))
            before = child_cpu()
            out, err, code = run_client(
                [str(REL / "loadgen"), "--addr", addr, "--conns", str(a.conns), "--threads", "1",
                 "--warmup", "0", "--duration", str(a.duration), "--no-csv"], client_cpu)
            cpu = child_cpu() - before
            m = re.search(r"\((\d+) requests in ([\d.]+) s\)", out)
            if code != 0 or not m:
                sys.exit(f"loadgen failed: {out}{err}")
            reqs = int(m.group(1))
            results["loadgen"].append((reqs / float(m.group(2)), reqs / cpu))
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"# {a.conns} connections, 64 B, closed loop, {a.duration:g} s; server muxserver "
          f"--backend epoll-et on CPU 0, each client process pinned to CPU {client_cpu}; "
          f"median of {a.repeats} (min–max)")
    print("| client | req/s | requests per client CPU-second (whole process) |")
    print("| --- | --- | --- |")
    med = {}
    for name, runs in results.items():
        rps = [r[0] for r in runs]
        eff = [r[1] for r in runs]
        med[name] = statistics.median(eff)
        print(f"| {name} | {statistics.median(rps):,.0f} ({min(rps):,.0f}–{max(rps):,.0f}) | "
              f"{med[name]:,.0f} ({min(eff):,.0f}–{max(eff):,.0f}) |")
    print(f"\nloadgen / thread-per-connection: {med['loadgen'] / med['thread-per-connection']:.2f}×")


if __name__ == "__main__":
    main()
