#!/usr/bin/env python3
"""The thundering herd, counted: for each --accept mode of `muxserver
--reactors N`, open connections one at a time (3 ms apart, so every reactor
is asleep when the next one arrives) and report, per accepted connection,
the server's voluntary context switches (threads woken and put back to
sleep), the listener reports its reactors saw (`accept_wakeups`), and how
the connections spread over the reactors. Medians over --repeats.

    cargo build --release
    python3 scripts/herd.py --backend epoll-lt --reactors 4 --conns 200 --repeats 5

Needs only the built `target/release/muxserver`; traffic stays on 127.0.0.1.
"""

import argparse
import json
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

EXE = Path(__file__).resolve().parent.parent / "target" / "release" / "muxserver"


def one(backend, reactors, accept, conns):
    p = subprocess.Popen(
        [str(EXE), "--backend", backend, "--addr", "127.0.0.1:0",
         "--reactors", str(reactors), "--accept", accept],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        if not line.startswith("listening on "):
            sys.exit(f"muxserver did not start: {p.stderr.read().strip()}")
        host, port = line.split()[2].rsplit(":", 1)

        def snap():
            p.send_signal(signal.SIGUSR1)
            return json.loads(p.stdout.readline())

        time.sleep(0.1)
        before = snap()
        socks = []
        for _ in range(conns):
            socks.append(socket.create_connection((host, int(port)), timeout=10))
            time.sleep(0.003)
        deadline = time.time() + 10
        after = snap()
        while after["counters"]["accepts"] < conns and time.time() < deadline:
            time.sleep(0.02)
            after = snap()
        for s in socks:
            s.close()
        acc = after["counters"]["accepts"] - before["counters"]["accepts"]
        vcs = lambda s: s["rusage"]["voluntary_ctx_switches"]
        # The second snapshot request wakes the main thread once.
        switches = (vcs(after) - vcs(before) - 1) / acc
        reports = (after["counters"]["accept_wakeups"] - before["counters"]["accept_wakeups"]) / acc
        spread = [r["accepts"] for r in after["reactors"]]
        return switches, reports, spread
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", default="epoll-lt")
    ap.add_argument("--reactors", type=int, default=4)
    ap.add_argument("--conns", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    if not EXE.exists():
        sys.exit(f"{EXE} is missing: run `cargo build --release` first")
    modes = ["reuseport", "exclusive", "shared"]
    if not a.backend.startswith("epoll"):
        modes.remove("exclusive")
    print(f"{a.backend}, {a.reactors} reactors, {a.conns} connections one at a time, "
          f"median of {a.repeats} (min–max)\n")
    print("| --accept | wake-ups (voluntary context switches) per accept | listener reports per accept | accepted per reactor (last repeat) |")
    print("| --- | --- | --- | --- |")
    for mode in modes:
        runs = [one(a.backend, a.reactors, mode, a.conns) for _ in range(a.repeats)]
        sw = [r[0] for r in runs]
        rp = [r[1] for r in runs]
        print(f"| {mode} | {statistics.median(sw):.2f} ({min(sw):.2f}–{max(sw):.2f}) "
              f"| {statistics.median(rp):.2f} ({min(rp):.2f}–{max(rp):.2f}) "
              f"| {'/'.join(map(str, runs[-1][2]))} |")


if __name__ == "__main__":
    main()
