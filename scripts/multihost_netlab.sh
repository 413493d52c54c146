#!/bin/sh
# results/multihost/: one server and two load hosts, each a host of its own
# (network namespaces joined by veth through a bridge: `loadgen netlab`), the
# hosts started at one instant (--start-at) against the server's counters
# (--server-control), then merged (`loadgen merge`). As root, from the
# repository, after `cargo build --release`:
#
#   scripts/multihost_netlab.sh [OUT]     # default results/multihost
#
# Writes host-a.{txt,json}, host-b.{txt,json}, merged.{txt,json,hgrm},
# runs.csv (the merged row: `loadgen report` reads it), server.txt (the
# server's readiness line and final snapshot), start_at.txt and command.txt.
set -eu
out=$(realpath -m "${1:-results/multihost}")
bin=$(realpath target/release)
mkdir -p "$out"
rm -f "$out/runs.csv"
echo "scripts/multihost_netlab.sh $*" > "$out/command.txt"
exec "$bin/loadgen" netlab --name mbhosts --load-hosts 2 -- sh -c '
set -eu
out=$1; bin=$2
ip netns exec $NETLAB_SERVER_NS "$bin/muxserver" --backend epoll-et --cpu 0 \
  --addr $NETLAB_SERVER_ADDR:7300 --control $NETLAB_SERVER_ADDR:7301 > "$out/server.txt" &
server=$!
trap "kill $server; wait $server" EXIT
for i in $(seq 50); do
  ip netns exec $NETLAB_LOAD_NS_1 "$bin/loadgen" --addr $NETLAB_SERVER_ADDR:7300 --conns 1 \
    --warmup 0 --duration 0.1 --quiet --no-csv >/dev/null 2>&1 && break
  sleep 0.1
done
at=$(python3 -c "import time; print(round(time.time() + 3, 3))")
python3 -c "import datetime; print(datetime.datetime.fromtimestamp($at, datetime.timezone.utc).isoformat())" > "$out/start_at.txt"
hosts=""
for h in a b; do
  case $h in a) ns=$NETLAB_LOAD_NS_1 ;; b) ns=$NETLAB_LOAD_NS_2 ;; esac
  ip netns exec $ns "$bin/loadgen" --addr $NETLAB_SERVER_ADDR:7300 \
    --server-control $NETLAB_SERVER_ADDR:7301 --start-at $at --host-label host-$h \
    --conns 50 --warmup 1 --duration 5 --no-csv --json "$out/host-$h.json" > "$out/host-$h.txt" &
  hosts="$hosts $!"
done
for p in $hosts; do wait $p; done
"$bin/loadgen" merge "$out/host-a.json" "$out/host-b.json" --json "$out/merged.json" \
  --hgrm "$out/merged.hgrm" --csv "$out/runs.csv" > "$out/merged.txt"
' netlab "$out" "$bin"
