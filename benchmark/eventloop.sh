#!/usr/bin/env bash
# Event-loop CPU per request of the shipped configuration (90/10 canary routes): V1 predict and V2
# infer of the seed sentence, hey -c 32, 20,000 requests each after 50,000 of warm-up; the server's
# reactor-http-epoll threads' user+system CPU from /proc before and after, divided by the requests.
#   benchmark/eventloop.sh [path/to/igate.jar]     (default gateway/target/igate.jar; needs hey)
# C=1 measures one request at a time (N=5000 each): no batching of I/O or runs between requests,
# so the figure is the path's own cost; at C=32 it also moves with throughput (fewer requests per
# event-loop wake-up when the runs are slower).
set -u
cd "$(dirname "$0")/.."
JAR="${1:-gateway/target/igate.jar}"
PORT=18190
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
SEED="Risk assessment implications of site-specific oral relative bioavailability."
printf '{"instances": ["%s"]}' "$SEED" > "$W/v1.json"
printf '{"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["%s"]}]}' "$SEED" > "$W/v2.json"
java -jar "$JAR" --server.port=$PORT --igate.grpc.port=$((PORT + 1)) > "$W/server.log" 2>&1 &
S=$!
for i in $(seq 1 300); do curl -sf http://127.0.0.1:$PORT/v2/health/ready > /dev/null && break; sleep 0.2; done
V1=http://127.0.0.1:$PORT/v1/models/BERTSeqClassification:predict
V2=http://127.0.0.1:$PORT/v2/models/BERTSeqClassification/infer
for r in 1 2 3 4 5; do
  hey -n 5000 -c 32 -m POST -T application/json -D "$W/v1.json" "$V1" > /dev/null
  hey -n 5000 -c 32 -m POST -T application/json -D "$W/v2.json" "$V2" > /dev/null
done
loops() { for t in /proc/$S/task/*; do case "$(cat "$t/comm")" in reactor-http-ep*) awk '{print $14 + $15}' "$t/stat";; esac; done | awk '{s += $1} END {print s}'; }
C="${C:-32}"
N="${N:-20000}"
for what in v1 v2; do
  url=$V1; [ $what = v2 ] && url=$V2
  a=$(loops)
  hey -n "$N" -c "$C" -m POST -T application/json -D "$W/$what.json" "$url" > "$W/hey-$what.txt"
  b=$(loops)
  echo "$what: $(awk '/Requests\/sec/ {print $2}' "$W/hey-$what.txt") req/s; event loops $(awk -v a="$a" -v b="$b" -v t="$(getconf CLK_TCK)" -v n="$N" 'BEGIN {printf "%.3f", (b - a) / t * 1000 / n}') ms CPU per request (c=$C)"
done
kill $S; wait $S 2>/dev/null
