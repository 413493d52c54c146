#!/usr/bin/env python3
"""Server CPU per echoed message: `muxserver --backend uring` against the minimal
hand-written io_uring echo server (examples/uring_echo_min.rs), both pinned to
CPU 0 and driven by the same loadgen (CPU 1), alternating, REPEATS times each.
CPU per message = the server's whole-process CPU time over its life / messages
echoed (bytes out / message size), measured the same way for both.

    cargo build --release --bins --examples
    python3 scripts/uring_reference.py --conns 100 --repeats 5
"""
import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
BIN = os.path.join(ROOT, "target", "release")


def start(cmd):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if "listening on" not in line:
        p.kill()
        p.wait()
        sys.exit(f"server did not start: {cmd}: {line!r} {p.stderr.read()}")
    return p, line.split()[2]


def stop(p):
    p.send_signal(signal.SIGTERM)
    out, _ = p.communicate(timeout=10)
    return out


def run_loadgen(addr, a):
    cmd = [os.path.join(BIN, "loadgen"), "--addr", addr, "--conns", str(a.conns),
           "--pipeline", str(a.pipeline), "--msg-size", str(a.msg_size),
           "--client-cpus", "1", "--warmup", "0", "--duration", str(a.duration),
           "--no-csv", "--quiet"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    rps = None
    for line in out.stdout.splitlines():
        if line.strip().startswith("throughput"):
            rps = float(line.split()[1])
    return rps


def one(kind, a):
    if kind == "uring":
        cmd = [os.path.join(BIN, "muxserver"), "--backend", "uring", "--addr", "127.0.0.1:0", "--cpu", "0"]
    else:
        cmd = [os.path.join(BIN, "examples", "uring_echo_min"), "--addr", "127.0.0.1:0", "--cpu", "0"]
    p, addr = start(cmd)
    try:
        rps = run_loadgen(addr, a)
    finally:
        out = stop(p)
    if kind == "uring":
        snap = json.loads(out.strip().splitlines()[-1])
        cpu = snap["rusage"]["user_us"] + snap["rusage"]["sys_us"]
        sent = snap["counters"]["bytes_out"]
        enters = snap["mux"]["enters"]
    else:
        kv = dict(x.split("=") for x in out.strip().splitlines()[-1].split())
        cpu, sent, enters = int(kv["cpu_us"]), int(kv["bytes_out"]), int(kv["enters"])
    msgs = sent / a.msg_size
    return {"cpu_us_per_msg": cpu / msgs, "enters_per_msg": enters / msgs, "req_per_s": rps}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--conns", type=int, default=100)
    ap.add_argument("--pipeline", type=int, default=1)
    ap.add_argument("--msg-size", type=int, default=64)
    ap.add_argument("--duration", type=float, default=3)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    cpu_model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"# {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} · {cpu_model}, {os.cpu_count()} cores, Linux {platform.release()}")
    print(f"# conns={a.conns} pipeline={a.pipeline} msg={a.msg_size} B, {a.duration} s per run, servers on CPU 0, loadgen on CPU 1")
    res = {"uring": [], "uring_echo_min": []}
    for i in range(a.repeats):
        for kind in (["uring", "uring_echo_min"] if i % 2 == 0 else ["uring_echo_min", "uring"]):
            r = one(kind, a)
            res[kind].append(r)
            print(f"{kind:15s} run {i + 1}: {r['cpu_us_per_msg']:.3f} CPU µs/msg · {r['enters_per_msg']:.3f} enters/msg · {r['req_per_s']:.0f} req/s", flush=True)
    med = {k: statistics.median(x["cpu_us_per_msg"] for x in v) for k, v in res.items()}
    ratios = sorted(u["cpu_us_per_msg"] / m["cpu_us_per_msg"] for u, m in zip(res["uring"], res["uring_echo_min"]))
    print(f"median CPU µs/msg: uring {med['uring']:.3f}, uring_echo_min {med['uring_echo_min']:.3f}; "
          f"ratio uring/min per pair: median {statistics.median(ratios):.3f} (min {ratios[0]:.3f}, max {ratios[-1]:.3f})")


if __name__ == "__main__":
    main()
