#!/bin/sh
# results/external/: loadgen --addr against echo servers nobody here wrote,
# beside two built-in backends, the same load on loopback, 3 rounds
# interleaved: socat (a process per connection: fork + EXEC:cat) and ncat
# (--keep-open --exec cat: also a process per connection), both from Debian's
# packages (apt-get install socat ncat), then epoll-et and threads started by
# loadgen itself. Every echoed byte is verified. From the repository, after
# `cargo build --release`:
#
#   scripts/external_servers.sh [OUT]     # default results/external
#
# External servers report no server CPU or system calls (loadgen cannot see
# inside them); throughput, latency and the client's and machine's CPU per
# request compare them.
set -eu
out=${1:-results/external}
bin=target/release
mkdir -p "$out"
rm -f "$out/runs.csv"
echo "scripts/external_servers.sh $*" > "$out/command.txt"
socat TCP-LISTEN:7400,fork,reuseaddr,bind=127.0.0.1 EXEC:cat &
socat_pid=$!
ncat --listen --keep-open --exec /bin/cat 127.0.0.1 7401 &
ncat_pid=$!
trap 'kill $socat_pid $ncat_pid 2>/dev/null; wait 2>/dev/null || true' EXIT
sleep 0.5
common="--conns 50 --warmup 0.5 --duration 3 --csv $out/runs.csv --quiet"
for round in 1 2 3; do
  "$bin/loadgen" --addr 127.0.0.1:7400 --label socat-fork $common
  "$bin/loadgen" --addr 127.0.0.1:7401 --label ncat-exec $common
  "$bin/loadgen" --backend epoll-et $common
  "$bin/loadgen" --backend threads $common
done
"$bin/loadgen" report "$out/runs.csv"
