#!/bin/sh
# results/veth/: the same load over loopback and over a veth pair and a
# bridge (a `loadgen netlab` lab: server host and load host are network
# namespaces with their own stacks), for epoll-et, uring and threads; 5
# rounds, each running every (backend, path) once in turn. The server is
# pinned to CPU 0 and the load generator to CPU 1 on both paths; on veth the
# server's figures come from its control endpoint (--server-control). As
# root, from the repository, after `cargo build --release`:
#
#   scripts/veth_vs_loopback.sh [OUT]     # default results/veth
#
# Single runs carry no round or arm, so the script writes them into the rows
# (`repeat` = the round, `arm` = BACKEND@PATH) for `loadgen report` to pair
# the two paths of a backend within each round; it then writes one report
# per backend against its loopback runs (REPORT-BACKEND.md).
set -eu
out=$(realpath -m "${1:-results/veth}")
bin=$(realpath target/release)
mkdir -p "$out"
rm -f "$out/runs.csv" "$out"/raw-*.csv
echo "scripts/veth_vs_loopback.sh $*" > "$out/command.txt"
common="--conns 50 --warmup 0.5 --duration 2 --client-cpus 1 --quiet"
"$bin/loadgen" netlab --name mbveth --load-hosts 1 -- sh -c '
set -eu
out=$1; bin=$2; common=$3
port=7500
for round in 1 2 3 4 5; do
  for b in epoll-et uring threads; do
    "$bin/loadgen" --backend $b --server-cpu 0 $common --csv "$out/raw-$b@loopback-$round.csv"
    port=$((port + 2))
    ip netns exec $NETLAB_SERVER_NS "$bin/muxserver" --backend $b --cpu 0 \
      --addr $NETLAB_SERVER_ADDR:$port --control $NETLAB_SERVER_ADDR:$((port + 1)) >/dev/null 2>&1 &
    server=$!
    for i in $(seq 50); do
      ip netns exec $NETLAB_LOAD_NS_1 "$bin/loadgen" --addr $NETLAB_SERVER_ADDR:$port --conns 1 \
        --warmup 0 --duration 0.1 --quiet --no-csv >/dev/null 2>&1 && break
      sleep 0.1
    done
    ip netns exec $NETLAB_LOAD_NS_1 "$bin/loadgen" --addr $NETLAB_SERVER_ADDR:$port \
      --server-control $NETLAB_SERVER_ADDR:$((port + 1)) --label $b $common \
      --csv "$out/raw-$b@veth-$round.csv"
    kill $server; wait $server || true
  done
done
' netlab "$out" "$bin" "$common"
python3 - "$out" <<'PY'
import csv, glob, os, re, sys
out = sys.argv[1]
rows, header = [], None
for path in sorted(glob.glob(os.path.join(out, "raw-*.csv"))):
    arm, rnd = re.match(r"raw-(.+)-(\d+)\.csv$", os.path.basename(path)).groups()
    with open(path, newline="") as f:
        r = csv.DictReader(f)
        header = r.fieldnames
        for row in r:
            row["arm"], row["repeat"] = arm, rnd
            rows.append(row)
    os.remove(path)
with open(os.path.join(out, "runs.csv"), "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=header)
    w.writeheader()
    w.writerows(rows)
PY
for b in epoll-et uring threads; do
  "$bin/loadgen" report "$out/runs.csv" --baseline "$b@loopback" -o "$out/REPORT-$b.md"
done
