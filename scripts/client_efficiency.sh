#!/usr/bin/env bash
# loadgen vs a thread-per-connection blocking client, against the same
# muxserver, both pinned the same way (server on CPU 0, client on CPU 1):
# req/s and client CPU µs per request. Repeats each side REPEATS times.
#
#   cargo build --release --bins --examples && scripts/client_efficiency.sh [CONNS] [REPEATS]
set -euo pipefail
cd "$(dirname "$0")/.."
conns=${1:-50}
repeats=${2:-3}
port=7199
out=$(mktemp)
./target/release/muxserver --backend epoll-et --cpu 0 --addr 127.0.0.1:$port >"$out" &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -f "$out"' EXIT
for _ in $(seq 50); do grep -q listening "$out" && break; sleep 0.1; done
echo "# server: muxserver --backend epoll-et --cpu 0; clients pinned to CPU 1; $conns connections, 64 B, closed loop"
echo "# machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, Linux $(uname -r); $(date -u +%FT%TZ)"
for i in $(seq "$repeats"); do
  ./target/release/examples/thread_client --addr 127.0.0.1:$port --conns "$conns" --cpu 1 --duration 3s
  ./target/release/loadgen --addr 127.0.0.1:$port --label loadgen --conns "$conns" \
    --client-cpus 1 --threads 1 --warmup 0.5 --duration 3 --no-csv --quiet \
    | awk -v c="$conns" '/throughput/ {rps=$2} /client / {for (i=1;i<=NF;i++) if ($i=="CPU") cpu=$(i-1)} END {printf "loadgen conns=%s req_per_s=%s client_cpu_us_per_req=%s\n", c, rps, cpu}'
done
