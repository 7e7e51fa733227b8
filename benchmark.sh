#!/usr/bin/env bash
# Benchmarks that print numbers (results and machine details in BENCHMARKS.md).
#   ./benchmark.sh serving   the server under load (hey and wrk; gRPC with GrpcLoad) against the best raw ONNX Runtime
#                            layout measured in the same run (RawLayouts), for the seed sentence, a ~128-token text
#                            and a mixed-length workload
#   ./benchmark.sh explain   integrated-gradients latency: gradient graph vs black-box vs forward pass
#   ./benchmark.sh explanations  explanations through the server: each explainer's top_k=3 against three calls, cache hits
#   ./benchmark.sh tracing   throughput and latency with tracing off, and sampling every request (and 10%) to a stand-in
#                            OTLP collector (BASELINE_JAR=<jar> adds a build without tracing)
#   ./benchmark.sh faithfulness  each explainer (and a random ranking, the floor) scored with ERASER's comprehensiveness and
#                            sufficiency AOPC and leave-one-out Spearman over the demo model's 96 held-out sentences, with its
#                            median time in process
#   ./benchmark.sh fixtures  the gradient method against one forward pass over the path points, per export style,
#                            opset, fused and int8 form of the test encoders and of the demo model
#   ./benchmark.sh overload  twice the measured capacity offered for 30 s (hey, 2,000 paced clients, V2 infer of one
#                            text): every request answered 200 or 503, goodput, accepted p50 against max-queue-wait,
#                            the 503s' p50/p99 as the client saw them, and the generator's and the server's CPU shares
#   ./benchmark.sh clients   Triton's extensions: a response-cache hit's p50 against a health check's at concurrency 1,
#                            and priority-1 against priority-2 requests' p99 while priority 2 overloads the server
#   ./benchmark.sh tasks     token classification (BERTTokenClassification, V1 predict of a toxicology sentence) at
#                            concurrencies 1 and 32 through the shipped configuration, against the best raw ONNX Runtime
#                            layout for the same model and text measured before and after the server in the same run
#   ./benchmark.sh int8      the server with quantize: int8 (V1 predict through the shipped canary routes, the seed sentence
#                            and the ~128-token text, concurrency 32) against the best raw fp32 layout of the same model,
#                            and the raw int8 layouts of the server's int8 copy, in the same run
#   ./benchmark.sh coldstart a fresh server's first COLD_SECONDS (60) after readiness, answers per second at concurrency 32
#                            (V1 predict through the shipped canary routes; hey in back-to-back 1 s windows), without the
#                            serving warm-up and with it
#   ./benchmark.sh kafka     Kafka inference end to end (KafkaLoad: a broker in its JVM, 32 records in flight, produce ->
#                            answer on igate-output, records lost or repeated) against REST V2 infer at concurrency 32
#   ./benchmark.sh memory    the server's peak resident memory (VmHWM) and native memory tracking's summary after 60 s of V1
#                            predictions at concurrency 32, six concurrent explanations of the ~128-token text and 8 s at
#                            concurrency 64 (MEMORY_ARGS: server settings to try)
#   ./benchmark.sh pytorch   an explanation (50 steps, 16 and 128 tokens) through the server's V1 explain against native
#                            PyTorch autograd doing the same integrated gradients on the same weights (benchmark/pytorch_ig.py;
#                            PYTORCH_PYTHON: an interpreter with PyPI's torch, else Debian's python3-torch), in the same run
#   ./benchmark.sh lifecycle heap and RSS after BIG_REQUESTS (default 10000; ~1 s each on 2 cores) 1 MB requests, then after 60 s of
#                            unload/load cycles under predict and explain load, each against the warmed baseline
set -euo pipefail
cd "$(dirname "$0")"
WHAT="${1:-serving}"
DURATION="${BENCH_DURATION:-10s}"
PORT="${BENCH_PORT:-18080}"
GRPC_PORT="${BENCH_GRPC_PORT:-18081}"

mvn -q -B -DskipTests install
mvn -q -B -pl benchmark dependency:build-classpath -Dmdep.outputFile="$PWD/benchmark/target/classpath.txt"
CP="benchmark/target/classes:$(cat benchmark/target/classpath.txt)"
JAVA_BENCH=(java -Dorg.slf4j.simpleLogger.log.ai.djl=error -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -cp "$CP")

if [ "$WHAT" = "explain" ]; then
  exec "${JAVA_BENCH[@]}" dev.igate.benchmark.ExplainBenchmark models
fi
if [ "$WHAT" = "faithfulness" ]; then
  exec "${JAVA_BENCH[@]}" dev.igate.benchmark.FaithfulnessBenchmark models
fi
if [ "$WHAT" = "fixtures" ]; then
  exec "${JAVA_BENCH[@]}" dev.igate.benchmark.FixtureBenchmark models
fi
case "$WHAT" in serving|overload|lifecycle|clients|tasks|explanations|tracing|int8|coldstart|kafka|memory|pytorch) ;; *) echo "unknown benchmark $WHAT (expected: serving, explain, explanations, faithfulness, fixtures, overload, lifecycle, clients, tasks, tracing, int8, coldstart, kafka, memory, pytorch)" >&2; exit 2 ;; esac

if ! command -v hey >/dev/null || ! command -v wrk >/dev/null; then
  echo "installing hey and wrk (Debian packages) ..."
  (apt-get update -qq && apt-get install -y -qq hey wrk) >/dev/null
fi

SEED_TEXT="Risk assessment implications of site-specific oral relative bioavailability."
WORK="$(mktemp -d)"
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
printf '{"instances": ["%s"]}' "$SEED_TEXT" > "$WORK/v1.json"
printf '%s' '{"id": "d3b15cad-50a2-4eaf-80ce-8b0a428bd298", "inputs": [{"name": "4b7c7d4a-51e4-43c8-af61-04639f6ef4bc", "shape": -1, "datatype": "BYTES", "data": "{\"text\":\"Risk assessment implications of site-specific oral relative bioavailability.\"}"}]}' > "$WORK/v2.json"
# the same one-text request as V2 JSON, V2 binary (binary tensor data extension) and gRPC
printf '{"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["%s"]}]}' "$SEED_TEXT" > "$WORK/v2text.json"
BIN_HEADER=$(printf '{"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": %d}}]}' $(( ${#SEED_TEXT} + 4 )))
printf '%s' "$BIN_HEADER" > "$WORK/v2.bin"
printf "\\x$(printf %02x ${#SEED_TEXT})\\x00\\x00\\x00%s" "$SEED_TEXT" >> "$WORK/v2.bin"
# raw token tensors (8 x 64 INT64, three inputs) as V2 JSON and as binary tensor data
"${JAVA_BENCH[@]}" dev.igate.benchmark.TensorRequests "$WORK"
TENSOR_HEADER=$(cat "$WORK/tensors.header-length")
# the ~128-token text (v1-long.json, v2-long.json) and the mixed workload, one body per line (v1-mix.lines, v2-mix.lines)
"${JAVA_BENCH[@]}" dev.igate.benchmark.WorkloadBodies "$WORK"
V1="http://127.0.0.1:$PORT/v1/models/BERTSeqClassification:predict"
V2="http://127.0.0.1:$PORT/v2/models/BERTSeqClassification/infer"

# the JVM settings of the README's command, read from README.md (as ReadmeCommandIT reads them); SERVER_JVM_EXTRA adds to
# them (a larger heap for int8)
read -r -a SERVER_JVM <<< "$(sed -n 's|^mvn .*&& java \(.*\) -jar gateway/target/igate\.jar$|\1|p' README.md | head -1)"
[ "${#SERVER_JVM[@]}" -gt 0 ] || { echo "README.md's set-up command not found" >&2; exit 1; }
start_server() { # extra args...
  java "${SERVER_JVM[@]}" ${SERVER_JVM_EXTRA:-} -jar gateway/target/igate.jar --server.port="$PORT" --igate.grpc.port="$GRPC_PORT" "$@" > "$WORK/server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 600); do
    curl -sf "http://127.0.0.1:$PORT/v2/health/ready" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "server did not become ready" >&2; tail -20 "$WORK/server.log" >&2; exit 1
}
stop_server() { kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; }

load() { # url body concurrency [hey options...] -> "rps p50_ms p99_ms errors"
  local url=$1 body=$2 c=$3
  shift 3
  hey -z "$DURATION" -c "$c" -m POST -T application/json "$@" -D "$body" "$url" > "$WORK/hey.txt"
  awk '/Requests\/sec/ {rps=$2} /50% in/ {p50=$3*1000} /99% in/ {p99=$3*1000}
       /Status code distribution/ {sec="status"} /Error distribution/ {sec="error"}
       sec == "status" && /^[ \t]*\[[0-9]+\]/ {code=$1; gsub(/[\[\]]/,"",code); if (code != "200") err += $2}
       sec == "error" && /^[ \t]*\[[0-9]+\]/ {n=$1; gsub(/[\[\]]/,"",n); err += n}
       END {printf "%.1f %.2f %.2f %d", rps, p50, p99, err+0}' "$WORK/hey.txt"
}
load_mix() { # url bodies-file concurrency -> "rps p50_ms p99_ms errors" (wrk: each request the next text of the mix)
  local url=$1 bodies=$2 c=$3
  MIX_BODIES="$bodies" wrk -t "$(( c < 2 ? 1 : 2 ))" -c "$c" -d "$DURATION" --latency -s benchmark/mix.lua "$url" > "$WORK/wrk.txt"
  awk 'function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
       /Requests\/sec/ {rps=$2} /^ +50%/ {p50=ms($2)} /^ +99%/ {p99=ms($2)}
       /Non-2xx or 3xx responses/ {err+=$5} /Socket errors/ {err+=0}
       END {printf "%.1f %.2f %.2f %d", rps, p50, p99, err+0}' "$WORK/wrk.txt"
}
rss_mb() { awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$SERVER/status"; }
sample_rss() { ( while kill -0 "$SERVER" 2>/dev/null; do rss_mb >> "$WORK/rss.txt"; echo >> "$WORK/rss.txt"; sleep 0.5; done ) & SAMPLER=$!; }

jit_seconds() { # CPU seconds the server's JIT compiler threads have used
  local total=0
  for t in /proc/"$SERVER"/task/*; do
    grep -q 'Compiler' "$t/comm" 2>/dev/null && total=$((total + $(awk '{print $14 + $15}' "$t/stat")))
  done
  echo $((total / $(getconf CLK_TCK)))
}
warm_jit() { # quiet|verbose rounds "requests concurrency body url"...: those hey loads in rounds until the server's JIT compiler
  # CPU stops growing (3 rounds at least)
  local verbose=$1 rounds=$2 round before after n c body url spec
  shift 2
  for round in $(seq 1 "$rounds"); do
    before=$(jit_seconds)
    for spec in "$@"; do
      read -r n c body url <<< "$spec"
      hey -n "$n" -c "$c" -m POST -T application/json -D "$body" "$url" > /dev/null
    done
    after=$(jit_seconds)
    [ "$verbose" = verbose ] && echo "   round $round: JIT compiler CPU ${before} s -> ${after} s"
    [ "$round" -ge 3 ] && [ "$after" -le "$before" ] && break
  done
  return 0
}
run_raw() { "${JAVA_BENCH[@]}" dev.igate.benchmark.RawLayouts models/BERTSeqClassification/1 "${RAW_SECONDS:-2}"; }
if [ ! -d models/BERTSeqClassification ] || [ ! -d models/BERTTokenClassification ]; then
  start_server; stop_server   # builds the demo models
fi
if [ "$WHAT" = "pytorch" ]; then
  SERVER=""
  # issue 29's explanation goal: integrated gradients (50 Gauss-Legendre points) of the seed sentence (16 tokens) and the
  # long text (128 tokens, the server's max-length) through the server's V1 explain (explain_ms, median of 5 after 2, the
  # JIT warmed on explanations first), against native PyTorch autograd on the same weights (benchmark/pytorch_ig.py, the
  # better of 1 and 2 threads), in the same run; the server is started after PyTorch is done
  # Debian's torch 1.13 is built against the generic BLAS: OpenBLAS takes its place (7.8 s -> 0.4-1.2 s at 16 tokens here)
  # PYTORCH_PYTHON: an interpreter with PyPI's torch and onnx (MKL, oneDNN), the fair reference; else Debian's
  PYTORCH_PYTHON="${PYTORCH_PYTHON:-}"
  if [ -z "$PYTORCH_PYTHON" ] && { ! /usr/bin/python3 -c 'import torch, onnx' 2>/dev/null || ! dpkg -s libopenblas0-pthread > /dev/null 2>&1; }; then
    echo "installing python3-torch, python3-onnx and libopenblas0-pthread (Debian packages, for the reference only) ..."
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch python3-onnx libopenblas0-pthread) > /dev/null
  fi
  echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  LONG_TEXT=$(sed 's/^{"instances": \["//; s/"\]}$//' "$WORK/v1-long.json")
  for threads in 1 2; do
    OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads "${PYTORCH_PYTHON:-/usr/bin/python3}" benchmark/pytorch_ig.py models/BERTSeqClassification/1/model.onnx models/BERTSeqClassification/1/tokenizer.json \
      "$threads" "$SEED_TEXT" "$LONG_TEXT" | tee -a "$WORK/pytorch.txt"
  done
  start_server
  EXPLAIN="http://127.0.0.1:$PORT/v1/models/BERTSeqClassification/versions/1:explain"
  printf '{"instances": ["%s"], "parameters": {"n_steps": 50}}' "$SEED_TEXT" > "$WORK/ig-short.json"
  sed 's/]}$/], "parameters": {"n_steps": 50}}/' "$WORK/v1-long.json" > "$WORK/ig-long.json"
  warm_jit quiet 6 "40 2 $WORK/ig-short.json $EXPLAIN" "8 2 $WORK/ig-long.json $EXPLAIN"
  for body in ig-short ig-long; do
    ms=()
    for i in 1 2 3 4 5 6 7; do
      m=$(curl -s -X POST "$EXPLAIN" -H 'Content-Type: application/json' -d @"$WORK/$body.json" | grep -o '"explain_ms":[0-9.]*' | cut -d: -f2)
      [ "$i" -gt 2 ] && ms+=("$m")
    done
    med=$(printf '%s\n' "${ms[@]}" | sort -n | sed -n 3p)
    tokens=$(if [ "$body" = ig-short ]; then echo 16; else echo 128; fi)
    best=$(grep "tokens=$tokens " "$WORK/pytorch.txt" | sed 's/.*median_ms=\([^ ]*\).*/\1/' | sort -n | head -1)
    echo "SERVER tokens=$tokens explain_ms_median=$med runs=${ms[*]}"
    awk -v s="$med" -v p="$best" -v t="$tokens" 'BEGIN {printf "   %d tokens: PyTorch best %.1f ms / igate %.1f ms = %.2fx (goal >= 1.5x)\n", t, p, s, p / s}'
  done
  stop_server
  exit 0
fi
if [ "$WHAT" = "memory" ]; then
  echo "== machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); hey on the same machine"
  hwm_mb() { awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$SERVER/status"; }
  nmt() { jcmd "$SERVER" VM.native_memory summary | awk '/^Total:/ {print "   " $0} /^-  *[A-Z]/ {name=$0; sub(/^- */, "", name); sub(/ *\(.*/, "", name)} /committed=/ && name != "" && /reserved=/ && /^-/ {c=$0; sub(/.*committed=/, "", c); sub(/KB.*/, "", c); if (c / 1024 >= 8) printf "   %-28s %7.0f MB committed\n", name, c / 1024}'; }
  java -XX:NativeMemoryTracking=summary "${SERVER_JVM[@]}" ${MEMORY_JVM_ARGS:-} -jar gateway/target/igate.jar --server.port="$PORT" --igate.grpc.port="$GRPC_PORT" ${MEMORY_ARGS:-} > "$WORK/server.log" 2>&1 &
  SERVER=$!
  until curl -sf -o /dev/null "http://127.0.0.1:$PORT/v2/health/ready"; do sleep 0.2; done
  heap() { jstat -gc "$SERVER" | awk 'NR == 2 {printf "heap %.0f MB committed, %.0f MB used", ($1 + $2 + $5 + $7) / 1024, ($3 + $4 + $6 + $8) / 1024}'; }
  echo "ready: resident $(rss_mb) MB, peak $(hwm_mb) MB, $(heap)"
  read -r r _ _ e <<< "$(DURATION=60s load "$V1" "$WORK/v1.json" 32)"
  echo "after 60 s of V1 predict at 32 ($r req/s, $e errors): resident $(rss_mb) MB, peak $(hwm_mb) MB"
  EXPLAIN_LONG="http://127.0.0.1:$PORT/v1/models/BERTSeqClassification/versions/1:explain"
  hey -n 6 -c 6 -m POST -T application/json -D "$WORK/v1-long.json" "$EXPLAIN_LONG" | awk '/Requests\/sec|Slowest/'
  echo "after six concurrent explanations of the ~128-token text: resident $(rss_mb) MB, peak $(hwm_mb) MB"
  DURATION=8s load "$V1" "$WORK/v1.json" 64 > /dev/null
  echo "after 8 s at 64: resident $(rss_mb) MB, peak $(hwm_mb) MB, $(heap)"
  sleep "${MEMORY_IDLE_SECONDS:-20}"
  echo "after ${MEMORY_IDLE_SECONDS:-20} s idle: resident $(rss_mb) MB, peak $(hwm_mb) MB, $(heap)"
  jcmd "$SERVER" GC.run > /dev/null
  echo "after a full GC: resident $(rss_mb) MB, $(heap) (the live heap)"
  echo "== native memory tracking (categories of 8 MB and more)"
  nmt
  jcmd "$SERVER" GC.heap_info | sed 's/^/   /' | head -4
  stop_server
  exit 0
fi
if [ "$WHAT" = "kafka" ]; then
  echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); the broker, the Kafka load and hey run on the same machine"
  "${JAVA_BENCH[@]}" dev.igate.benchmark.KafkaLoad "$WORK/bootstrap" "$WORK/done" "http://127.0.0.1:$PORT/v2/health/ready" \
    BERTSeqClassification "$WORK/v2text.json" 32 "${KAFKA_SECONDS:-20}" "${KAFKA_WARM_SECONDS:-30}" > "$WORK/kafka.txt" 2>&1 &
  LOADER=$!
  for _ in $(seq 1 600); do [ -s "$WORK/bootstrap" ] && break; sleep 0.2; done
  start_server --igate.kafka.bootstrap-servers="$(cat "$WORK/bootstrap")"
  for _ in $(seq 1 1200); do grep -q '^KAFKA' "$WORK/kafka.txt" && break; sleep 0.5; done
  grep '^KAFKA' "$WORK/kafka.txt" || { tail -20 "$WORK/kafka.txt"; exit 1; }
  # REST V2 infer of the same request on the same warm server, the broker still up (idle)
  read -r rr rp rq re <<< "$(load "$V2" "$WORK/v2text.json" 32)"
  echo "REST V2 infer c=32: $rr req/s, p50 $rp ms, p99 $rq ms, errors $re"
  touch "$WORK/done"; wait "$LOADER" || true
  grep -h "Kafka" "$WORK/server.log" | grep -v INFO | tail -5 || true
  stop_server
  k=$(grep '^KAFKA' "$WORK/kafka.txt" | sed 's/.* records_per_s=\([^ ]*\).*/\1/')
  awk -v k="$k" -v r="$rr" 'BEGIN {printf "Kafka / REST V2 at 32 in flight: %.2f (goal >= 0.8)\n", k/r}'
  exit 0
fi
if [ "$WHAT" = "coldstart" ]; then
  # the clients start the moment the server says ready; COLD_ROUNDS (1) rounds of both configurations, in turn
  echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); the load generator runs on the same machine"
  cold() { # label args...: readiness polled every 20 ms, then hey in back-to-back 1 s windows (no JIT in the load generator)
    local label=$1
    shift
    local launched ready
    launched=$(date +%s%3N)
    java "${SERVER_JVM[@]}" -jar gateway/target/igate.jar --server.port="$PORT" --igate.grpc.port="$GRPC_PORT" "$@" > "$WORK/server.log" 2>&1 &
    SERVER=$!
    until curl -sf -o /dev/null "http://127.0.0.1:$PORT/v2/health/ready"; do sleep 0.02; done
    ready=$(date +%s%3N)
    : > "$WORK/curve.txt"
    for _ in $(seq 1 "${COLD_SECONDS:-60}"); do
      hey -z 1s -c 32 -m POST -T application/json -D "$WORK/v1.json" "$V1" | awk '/Status code distribution/ {s=1} s && /\[200\]/ {n += $2} END {print n+0}' >> "$WORK/curve.txt"
    done
    awk -v label="$label" -v startup=$((ready - launched)) '{v[NR] = $1} END {
      for (i = 1; i <= 5; i++) first += v[i] / 5; for (i = NR - 9; i <= NR; i++) steady += v[i] / 10
      curve = v[1]; for (i = 2; i <= NR; i++) curve = curve " " v[i]
      printf "%s: startup_to_ready_ms=%d first5_rps=%.1f steady_rps=%.1f ratio=%.2f curve=%s\n", label, startup, first, steady, first / steady, curve
    }' "$WORK/curve.txt"
    grep -h "warmed up" "$WORK/server.log" | sed 's/.*: /   /' || true
    stop_server
  }
  # COLD_WARM_ARGS: settings for the warm-up run (--igate.warm-up.max-duration=40s, say); COLD_BASELINE=0 leaves out the run without
  for round in $(seq 1 "${COLD_ROUNDS:-1}"); do
    [ "${COLD_BASELINE:-1}" = 0 ] || cold "no warm-up" --igate.warm-up.max-duration=0s
    # shellcheck disable=SC2086
    cold "serving warm-up ${COLD_WARM_ARGS:-(default)}" ${COLD_WARM_ARGS:-}
  done
  exit 0
fi
if [ "$WHAT" = "int8" ]; then
  raw() { "${JAVA_BENCH[@]}" dev.igate.benchmark.RawLayouts "$1" "${RAW_SECONDS:-2}" seed,long | grep '^RAW'; }
  field() { echo "$1" | grep "workload=$2 " | sed "s/.* $3=\([^ ]*\).*/\1/"; }
  echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); hey runs on the same machine"
  echo "== raw ONNX Runtime layouts of the fp32 model, the server not started"
  FP32=$(raw models/BERTSeqClassification/1); echo "$FP32" | sed 's/^/   /'
  # the README's JVM settings (quantizing the demo model fits its heap); INT8_ARGS: more server settings
  # (--igate.models.BERTSeqClassification.quantize-activations=per-tensor, max-batch-tokens=256, say)
  # shellcheck disable=SC2086
  start_server --igate.models.BERTSeqClassification.quantize=int8 ${INT8_ARGS:-}
  grep -E "int8" "$WORK/server.log" | sed 's/.*: /   /'
  echo "== warm-up (V1 predict, seed and long texts, concurrency 16 and 1) until the JIT compiler is idle"
  warm_jit quiet 12 "3000 16 $WORK/v1.json $V1" "300 16 $WORK/v1-long.json $V1" "300 1 $WORK/v1.json $V1"
  S16=$(load "$V1" "$WORK/v1.json" 32)
  S128=$(load "$V1" "$WORK/v1-long.json" 32)
  stop_server
  echo "== raw ONNX Runtime layouts of the server's int8 copy, the server stopped"
  # the copy this run served: the newest of the model's (per-token or per-tensor activations)
  COPY=$(ls -t ".igate-cache/int8/$(sha256sum models/BERTSeqClassification/1/model.onnx | cut -d' ' -f1)"-*.onnx | head -1)
  mkdir -p "$WORK/int8/1"
  cp models/BERTSeqClassification/1/tokenizer.json models/BERTSeqClassification/1/config.json "$WORK/int8/1/"
  cp "$COPY" "$WORK/int8/1/model.onnx"
  INT8=$(raw "$WORK/int8/1"); echo "$INT8" | sed 's/^/   /'
  printf "%-34s %12s %12s\n" "" "seed (16 tok)" "long (~128)"
  printf "%-34s %12s %12s\n" "raw fp32, best layout (rows/s)" "$(field "$FP32" seed best_rps)" "$(field "$FP32" long best_rps)"
  printf "%-34s %12s %12s\n" "raw int8, best layout (rows/s)" "$(field "$INT8" seed best_rps)" "$(field "$INT8" long best_rps)"
  read -r r16 p16 q16 e16 <<< "$S16"; read -r r128 p128 q128 e128 <<< "$S128"
  printf "%-34s %12s %12s\n" "server int8, c=32 (req/s)" "$r16" "$r128"
  printf "%-34s %12s %12s\n" "  p50 / p99 ms" "$p16/$q16" "$p128/$q128"
  printf "%-34s %12s %12s\n" "  errors" "$e16" "$e128"
  for w in seed long; do
    r=$([ "$w" = seed ] && echo "$r16" || echo "$r128")
    awk -v w="$w" -v r="$r" -v f="$(field "$FP32" "$w" best_rps)" -v i="$(field "$INT8" "$w" best_rps)" \
      'BEGIN {printf "%s: server int8 / best raw fp32 %.2f (goal >= 1.5), raw int8 / raw fp32 %.2f, server int8 / raw int8 %.2f\n", w, r/f, i/f, r/i}'
  done
  exit 0
fi
if [ "$WHAT" = "tasks" ]; then
  NER_TEXT=$("${JAVA_BENCH[@]}" dev.igate.benchmark.Workload ner)
  printf '{"instances": ["%s"]}' "$NER_TEXT" > "$WORK/ner.json"
  NER="http://127.0.0.1:$PORT/v1/models/BERTTokenClassification:predict"
  raw_ner() { "${JAVA_BENCH[@]}" dev.igate.benchmark.RawLayouts models/BERTTokenClassification/1 "${RAW_SECONDS:-2}" ner | grep '^RAW workload=ner'; }
  echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); hey runs on the same machine"
  echo "== token classification: \"$NER_TEXT\""
  echo "== raw ONNX Runtime layouts, the server not started"
  NER_BEFORE=$(raw_ner); echo "   $NER_BEFORE"
  start_server
  echo "== warm-up (V1 predict of the text, concurrency 16 and 1) until the JIT compiler is idle"
  warm_jit verbose 12 "3000 16 $WORK/ner.json $NER" "300 1 $WORK/ner.json $NER"
  curl -s -X POST "$NER" -H 'Content-Type: application/json' -d @"$WORK/ner.json"; echo
  NER1=$(load "$NER" "$WORK/ner.json" 1)
  NER32=$(load "$NER" "$WORK/ner.json" 32)
  stop_server
  echo "== raw ONNX Runtime layouts again, the server stopped"
  NER_AFTER=$(raw_ner); echo "   $NER_AFTER"
  best=$(for r in "$NER_BEFORE" "$NER_AFTER"; do echo "$r" | sed 's/.* best_rps=\([^ ]*\).*/\1/'; done | sort -g | tail -1)
  batch1=$(for r in "$NER_BEFORE" "$NER_AFTER"; do echo "$r" | sed 's/.* batch1_ms=\([^ ]*\).*/\1/'; done | sort -g | head -1)
  read -r r1 p1 q1 e1 <<< "$NER1"; read -r r32 p32 q32 e32 <<< "$NER32"
  printf "%-12s %10s %9s %9s %7s\n" concurrency "req/s" "p50 ms" "p99 ms" errors
  printf "%-12s %10s %9s %9s %7s\n" 1 "$r1" "$p1" "$q1" "$e1"
  printf "%-12s %10s %9s %9s %7s\n" 32 "$r32" "$p32" "$q32" "$e32"
  awk -v r="$r32" -v raw="$best" 'BEGIN {printf "token classification, concurrency 32 / best raw layout (%.1f rows/s): %.2f (goal >= 0.75)\n", raw, r/raw}'
  awk -v p="$p1" -v m="$batch1" 'BEGIN {printf "p50 at concurrency 1: %.2f ms, best raw batch-1 run %.2f ms (%+.2f ms)\n", p, m, p-m}'
  exit 0
fi
if [ "$WHAT" = "tracing" ]; then
  # tracing's cost: the shipped configuration (V1 predict through the canary routes), tracing off (no collector set), then
  # sampling every request to a stand-in collector; BASELINE_JAR (a jar built without tracing) adds the build before it
  SINK_PORT=$((PORT + 7))
  "${JAVA_BENCH[@]}" dev.igate.benchmark.OtlpSink "$SINK_PORT" > "$WORK/sink.log" 2>&1 &
  SINK=$!
  trap 'kill $SERVER $SINK 2>/dev/null || true; rm -rf "$WORK"' EXIT
  echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); hey runs on the same machine"
  measure() { # label jar args... -> a line: label rps(c=32) p50 p99 errors, then rps(c=1) p50
    local label=$1 jar=$2
    shift 2
    java "${SERVER_JVM[@]}" -jar "$jar" --server.port="$PORT" --igate.grpc.port="$GRPC_PORT" "$@" > "$WORK/server.log" 2>&1 &
    SERVER=$!
    for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$PORT/v2/health/ready" >/dev/null 2>&1 && break; sleep 0.2; done
    warm_jit quiet 12 "4000 32 $WORK/v1.json $V1" "400 1 $WORK/v1.json $V1"
    # the median of TRACING_REPEAT (3) windows at concurrency 32: one window's noise on 2 shared cores is several percent;
    # beside throughput, the server's own CPU time per answered request (less bent by hey's share of the cores)
    for _ in $(seq 1 "${TRACING_REPEAT:-3}"); do
      t0=$(awk '{print $14 + $15}' "/proc/$SERVER/stat")
      w=$(load "$V1" "$WORK/v1.json" 32)
      t1=$(awk '{print $14 + $15}' "/proc/$SERVER/stat")
      n=$(awk '/Status code distribution/ {s=1} s && /\[200\]/ {n += $2} END {print n+0}' "$WORK/hey.txt")
      echo "$w $(awk -v d=$((t1 - t0)) -v n="$n" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.3f", n ? d * 1000 / hz / n : 0}')"
    done > "$WORK/windows.txt"
    read -r r32 p32 q32 e32 cpu32 <<< "$(sort -g "$WORK/windows.txt" | awk 'NF' | awk '{a[NR] = $0} END {print a[int((NR + 1) / 2)]}')"
    cpu32=$(awk '{print $5}' "$WORK/windows.txt" | sort -g | awk '{a[NR] = $0} END {print a[int((NR + 1) / 2)]}')
    all32=$(awk 'NF {printf "%s%s", sep, $1; sep = "/"}' "$WORK/windows.txt")
    allcpu=$(awk 'NF {printf "%s%s", sep, $5; sep = "/"}' "$WORK/windows.txt")
    read -r r1 p1 q1 e1 <<< "$(load "$V1" "$WORK/v1.json" 1)"
    printf "%-34s %10s %9s %9s %7s %12s %10s %9s   (c=32 windows: %s req/s, %s CPU ms)\n" "$label" "$r32" "$p32" "$q32" "$e32" "$cpu32" \
      "$r1" "$p1" "$all32" "$allcpu"
    stop_server
  }
  printf "%-34s %10s %9s %9s %7s %12s %10s %9s\n" "" "c=32 req/s" "p50 ms" "p99 ms" errors "CPU ms/req" "c=1 req/s" "p50 ms"
  ON=(--management.opentelemetry.tracing.export.otlp.endpoint="http://127.0.0.1:$SINK_PORT/v1/traces")
  # TRACING_ROUNDS (1) rounds of the configurations, in turn: a slow spell of the machine falls on each alike
  for round in $(seq 1 "${TRACING_ROUNDS:-1}"); do
    [ -n "${BASELINE_JAR:-}" ] && measure "build without tracing" "$BASELINE_JAR"
    measure "tracing off (no collector)" gateway/target/igate.jar
    measure "tracing on, sampling 1.0" gateway/target/igate.jar "${ON[@]}" --management.tracing.sampling.probability=1.0
    [ "${TRACING_SAMPLED_ONLY:-0}" = 1 ] || measure "tracing on, sampling 0.1" gateway/target/igate.jar "${ON[@]}" \
      --management.tracing.sampling.probability=0.1
  done
  tail -1 "$WORK/sink.log"
  exit 0
fi
if [ "$WHAT" = "explanations" ]; then
  EXPLAIN="http://127.0.0.1:$PORT/v1/models/BERTSeqClassification/versions/1:explain"
  p50() { # body-file requests -> p50 ms at concurrency 1 (hey)
    hey -n "$2" -c 1 -m POST -T application/json -D "$1" "$EXPLAIN" | awk '/50% in/ {printf "%.2f", $3 * 1000} /^ *\[[0-9]+\]/ && !/\[200\]/ {printf " (status %s)", $0}'
  }
  body() { printf '{"instances": ["%s"], "parameters": {%s}}' "$SEED_TEXT" "$1" > "$WORK/$2.json"; echo "$WORK/$2.json"; }
  echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); hey runs on the same machine"
  echo "== explanations through the server (V1 explain of the seed sentence, version 1, concurrency 1, p50 of ${EXPLAIN_REQUESTS:-20})"
  start_server
  for _ in $(seq 1 3); do hey -n 10 -c 1 -m POST -T application/json -D "$(body '"n_steps": 50' warm)" "$EXPLAIN" > /dev/null; done
  printf "%-44s %12s %14s %14s %7s\n" explainer "top_k=3 ms" "3 targets ms" "one target ms" ratio
  for spec in '"explainer": "integrated_gradients", "n_steps": 50' '"explainer": "integrated_gradients", "n_steps": 4, "gradients": "blackbox"' \
              '"explainer": "occlusion"' '"explainer": "shap"' '"explainer": "gradient_x_input"'; do
    top=$(p50 "$(body "$spec, \"top_k\": 3" top)" "${EXPLAIN_REQUESTS:-20}")
    apart=0
    for target in 0 1 2; do
      one=$(p50 "$(body "$spec, \"target\": $target" "t$target")" "${EXPLAIN_REQUESTS:-20}")
      [ "$target" = 0 ] && first=$one
      apart=$(awk -v a="$apart" -v b="$one" 'BEGIN {print a + b}')
    done
    printf "%-44s %12s %14.2f %14s %7.2f\n" "{$spec}" "$top" "$apart" "$first" "$(awk -v t="$top" -v a="$apart" 'BEGIN {print t / a}')"
  done
  stop_server
  echo "== explanation cache hits (igate.explainer.cache-max-bytes=64 MiB): the same IG request, 2000 times at concurrency 1"
  start_server --igate.explainer.cache-max-bytes=67108864
  CACHED=$(body '"n_steps": 50' cached)
  echo "   first (a miss): $(curl -s -o /dev/null -w '%{time_total}' -X POST "$EXPLAIN" -H 'Content-Type: application/json' -d @"$CACHED") s"
  hey -n 2000 -c 1 -m POST -T application/json -D "$CACHED" "$EXPLAIN" > /dev/null
  hey -n 2000 -c 1 -m POST -T application/json -D "$CACHED" "$EXPLAIN" | grep -E "50% in|99% in|Requests/sec" | sed 's/^/   /'
  curl -s "http://127.0.0.1:$PORT/actuator/prometheus" | grep '^igate_explanation_cache_total' | sed 's/^/   /'
  echo "   (for scale: a V1 predict of the same text at concurrency 1: p50 $(hey -n 2000 -c 1 -m POST -T application/json -D "$WORK/v1.json" "$V1" | awk '/50% in/ {printf "%.2f", $3 * 1000}') ms)"
  stop_server
  exit 0
fi
if [ "$WHAT" = "serving" ]; then
echo "== raw ONNX Runtime layouts before the server starts (measured again after it stops; the better run is the reference)"
RAW_BEFORE=$(run_raw)
echo "$RAW_BEFORE" | grep '^RAW'
fi
echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "== the load generators (hey, wrk, GrpcLoad) run on the same machine as the server and take part of its cores"
start_server
grep -E "Device cpu|ready on" "$WORK/server.log" | sed 's/.*ModelRegistry *: /   /'
if [ "$WHAT" = "lifecycle" ]; then
  stop_server
  start_server --igate.admin-token=bench
  ADMIN=(-H 'Authorization: Bearer bench')
  heap_mb() { # used heap after a full GC
    jcmd "$SERVER" GC.run > /dev/null
    jcmd "$SERVER" GC.heap_info | awk '/used/ {for (i = 1; i <= NF; i++) if ($i == "used") {v = $(i + 1); sub(/K,?/, "", v); printf "%.0f", v / 1024; exit}}'
  }
  measure() { echo "heap $(heap_mb) MiB after GC, RSS $(rss_mb) MiB"; }
  hey -n 4000 -c 16 -m POST -T application/json -D "$WORK/v1.json" "$V1" > /dev/null
  curl -s -X POST "http://127.0.0.1:$PORT/v1/models/BERTSeqClassification:explain" -H 'Content-Type: application/json' \
    -d "{\"instances\": [\"$SEED_TEXT\"], \"parameters\": {\"n_steps\": 8}}" > /dev/null
  echo "== baseline after warm-up: $(measure)"
  python_free_text=$(head -c 1000000 /dev/zero | tr '\0' 'a' | fold -w 9 | tr '\n' ' ')
  printf '{"instances": ["%s"]}' "$python_free_text" > "$WORK/big.json"
  N=${BIG_REQUESTS:-10000}
  echo "== $N requests of $(( $(stat -c %s "$WORK/big.json") / 1000 )) kB (one 1 MB text each, truncated to 128 tokens), concurrency 8"
  hey -n "$N" -c 8 -t 120 -m POST -T application/json -D "$WORK/big.json" "$V1" | grep -E "Requests/sec|\[[0-9]+\]" | sed 's/^/   /'
  echo "   after: $(measure)"
  echo "== 60 s of unload and load of the model under predict (hey, concurrency 8) and explain (a loop) load"
  hey -z 60s -c 8 -m POST -T application/json -D "$WORK/v1.json" "$V1" > "$WORK/hey-cycle.txt" &
  HEY=$!
  ( end=$((SECONDS + 60)); while [ $SECONDS -lt $end ]; do
      curl -s -o /dev/null -w '%{http_code}\n' -X POST "http://127.0.0.1:$PORT/v1/models/BERTSeqClassification:explain" \
        -H 'Content-Type: application/json' -d "{\"instances\": [\"$SEED_TEXT\"], \"parameters\": {\"n_steps\": 8}}"
    done > "$WORK/explain-codes.txt" ) &
  EXPLAINS=$!
  cycles=0
  end=$((SECONDS + 60))
  while [ $SECONDS -lt $end ]; do
    curl -sf -X POST "${ADMIN[@]}" "http://127.0.0.1:$PORT/admin/models/BERTSeqClassification/unload" > /dev/null
    sleep 1
    curl -sf -X POST "${ADMIN[@]}" "http://127.0.0.1:$PORT/admin/models/BERTSeqClassification/load" > /dev/null
    sleep 3
    cycles=$((cycles + 1))
  done
  wait "$HEY" "$EXPLAINS"
  echo "   $cycles unload/load cycles; predictions by status:"
  grep -E "\[[0-9]+\]" "$WORK/hey-cycle.txt" | sed 's/^/     /'
  grep -A5 "Error distribution" "$WORK/hey-cycle.txt" | sed 's/^/     /' || true
  echo "   explanations by status: $(sort "$WORK/explain-codes.txt" | uniq -c | awk '{printf "%s x %s, ", $1, $2}')"
  kill -0 "$SERVER" && echo "   server alive"
  echo "   after: $(measure)"
  stop_server
  exit 0
fi
echo "== warm-up, concurrent and lone requests, until the JIT compiler is idle (C2 still compiling took 14% of the machine 8,000 requests in)"
for round in $(seq 1 16); do
  before=$(jit_seconds)
  hey -n 2000 -c 16 -m POST -T application/json -D "$WORK/v1.json" "$V1" > /dev/null
  hey -n 2000 -c 16 -m POST -T application/json -D "$WORK/v2.json" "$V2" > /dev/null
  hey -n 200 -c 16 -m POST -T application/json -D "$WORK/v1-long.json" "$V1" > /dev/null
  # lone requests take the solo session, a path the concurrent warm-up never runs (the first
  # concurrency-1 run after it was 10-20% slower than the next)
  hey -n 400 -c 1 -m POST -T application/json -D "$WORK/v1.json" "$V1" > /dev/null
  hey -n 400 -c 1 -m POST -T application/json -D "$WORK/v2.json" "$V2" > /dev/null
  MIX_BODIES="$WORK/v2-mix.lines" wrk -t 2 -c 16 -d 2s -s benchmark/mix.lua "$V2" > /dev/null
  after=$(jit_seconds)
  echo "   round $round: JIT compiler CPU ${before} s -> ${after} s"
  [ "$round" -ge 3 ] && [ "$after" -le "$before" ] && break
done
if [ "$WHAT" = "overload" ]; then
  echo "== capacity: closed loop, V2 infer of the seed sentence (one text), concurrency 32 (hey -z $DURATION)"
  read -r CAPACITY _ _ _ <<< "$(load "$V2" "$WORK/v2text.json" 32)"
  echo "   $CAPACITY req/s"
  RATE=$(awk -v c="$CAPACITY" 'BEGIN {printf "%.0f", 2 * c}')
  SECS=${OVERLOAD_SECONDS:-30}
  PER_CLIENT=$(awk -v r="$RATE" 'BEGIN {printf "%.3f", r / 2000}')
  # 2,000 clients, each sending at most RATE/2000 requests a second: while an answer takes less than
  # 2000/RATE seconds a client keeps its pace, so the offered rate holds whatever the server does (checked below)
  echo "== twice that offered, $RATE req/s for $SECS s: hey -c 2000 -q $PER_CLIENT (max-queue-wait: $(grep -o 'max-queue-wait: *[^ ]*' application.yml | head -1 | sed 's/.*: *//'))"
  server_view() { # sums of the server's own timers for V2 infers: 200s, 503s, queue waits
    curl -s "http://127.0.0.1:$PORT/actuator/prometheus" | awk '
      /^http_server_requests_seconds_(count|sum)\{.*status="200".*infer/ {split($1, a, "{"); v[a[1] "_200"] += $2}
      /^http_server_requests_seconds_(count|sum)\{.*status="503".*infer/ {split($1, a, "{"); v[a[1] "_503"] += $2}
      /^igate_queue_wait_seconds_(count|sum)\{/ {split($1, a, "{"); v[a[1]] += $2}
      END {for (k in v) print k, v[k]}' | sort
  }
  cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
  server_view > "$WORK/before.txt"
  SERVER_BEFORE=$(cpu_ticks "$SERVER")
  # the generator's own CPU time: the shell's children's user and system seconds once hey has exited
  ( hey -z "${SECS}s" -c 2000 -q "$PER_CLIENT" -o csv -m POST -T application/json -D "$WORK/v2text.json" "$V2" > "$WORK/overload.csv"; times ) \
    > "$WORK/hey.times"
  SERVER_AFTER=$(cpu_ticks "$SERVER")
  server_view > "$WORK/after.txt"
  # response-time,DNS+dialup,DNS,Request-write,Response-delay,Response-read,status-code,offset
  awk -F, 'NR > 1 {print $7, $1 * 1000}' "$WORK/overload.csv" | sort -k1,1 -k2,2g > "$WORK/overload.sorted"
  pct() { # status quantile -> milliseconds
    awk -v s="$1" '$1 == s {print $2}' "$WORK/overload.sorted" | awk -v q="$2" '{v[NR] = $1} END {if (NR) printf "%.0f", v[int(q * (NR - 1)) + 1]; else print "-"}'
  }
  ANSWERED=$(wc -l < "$WORK/overload.sorted")
  OK=$(awk '$1 == 200' "$WORK/overload.sorted" | wc -l)
  BUSY=$(awk '$1 == 503' "$WORK/overload.sorted" | wc -l)
  echo "   answered $ANSWERED ($(awk -v n="$ANSWERED" -v s="$SECS" 'BEGIN {printf "%.0f", n / s}') req/s of $RATE offered)"
  echo "   200: $OK, goodput $(awk -v n="$OK" -v s="$SECS" -v c="$CAPACITY" 'BEGIN {printf "%.0f req/s = %.2f of capacity", n / s, n / s / c}'); p50 $(pct 200 0.5) ms, p99 $(pct 200 0.99) ms"
  echo "   503: $BUSY, p50 $(pct 503 0.5) ms, p99 $(pct 503 0.99) ms; any other status or error: $((ANSWERED - OK - BUSY))"
  # times prints the shell's, then its children's, user and system time as 1m2.345s
  HEY_CPU=$(awk 'NR == 2 {n = split($0, t, " "); s = 0; for (i = 1; i <= n; i++) {split(t[i], p, "m"); sub("s", "", p[2]); s += p[1] * 60 + p[2]}; print s}' "$WORK/hey.times")
  awk -v h="$HEY_CPU" -v a="$SERVER_BEFORE" -v b="$SERVER_AFTER" -v tck="$(getconf CLK_TCK)" -v s="$SECS" -v n="$(nproc)" 'BEGIN {
    printf "   CPU over the run (%d cores x %d s): the generator (hey) %.0f s = %.0f%%, the server %.0f s = %.0f%%\n",
      n, s, h, 100 * h / (n * s), (b - a) / tck, 100 * (b - a) / tck / (n * s)}'
  join "$WORK/before.txt" "$WORK/after.txt" | awk '{d[$1] = $3 - $2}
    END {printf "   the server'"'"'s own timers: 200 mean %.0f ms, of which queue wait %.0f ms; 503 mean %.1f ms\n",
         1000 * d["http_server_requests_seconds_sum_200"] / d["http_server_requests_seconds_count_200"],
         1000 * d["igate_queue_wait_seconds_sum"] / d["igate_queue_wait_seconds_count"],
         1000 * d["http_server_requests_seconds_sum_503"] / (d["http_server_requests_seconds_count_503"] + 1e-9)}'
  stop_server
  exit 0
fi
if [ "$WHAT" = "clients" ]; then
  pcts() { # hey csv -> "p50_ms p99_ms n" over status-200 answers
    awk -F, 'NR > 1 && $7 == 200 {print $1 * 1000}' "$1" | sort -g | awk '{v[NR] = $1}
      END {if (NR) printf "%.2f %.2f %d", v[int(0.5 * (NR - 1)) + 1], v[int(0.99 * (NR - 1)) + 1], NR; else print "- - 0"}'
  }
  stop_server
  start_server --igate.models.BERTSeqClassification.response-cache=true
  READY="http://127.0.0.1:$PORT/v2/health/ready"
  hey -n 2000 -c 1 "$READY" > /dev/null
  hey -n 2000 -c 1 -m POST -T application/json -D "$WORK/v2text.json" "$V2" > /dev/null
  hey -n 5000 -c 1 -o csv "$READY" > "$WORK/health.csv"
  hey -n 5000 -c 1 -o csv -m POST -T application/json -D "$WORK/v2text.json" "$V2" > "$WORK/hits.csv"
  read -r H50 H99 _ <<< "$(pcts "$WORK/health.csv")"
  read -r C50 C99 _ <<< "$(pcts "$WORK/hits.csv")"
  echo "== response cache, concurrency 1, 5,000 requests each (the same V2 text request: every one after the first a hit)"
  echo "   GET /v2/health/ready p50 $H50 ms, p99 $H99 ms; cache hit p50 $C50 ms, p99 $C99 ms; hit p50 - health p50 = $(awk -v a="$C50" -v b="$H50" 'BEGIN {printf "%.2f", a - b}') ms"
  curl -s "http://127.0.0.1:$PORT/actuator/prometheus" | grep -E '^nv_cache_num_(hits|misses)_per_model_total' | sed 's/^/   /'
  stop_server
  start_server
  SECS=${PRIORITY_SECONDS:-20}
  printf '{"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["%s"]}], "parameters": {"priority": 1}}' "$SEED_TEXT" > "$WORK/p1.json"
  printf '{"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["%s"]}], "parameters": {"priority": 2}}' "$SEED_TEXT" > "$WORK/p2.json"
  BULK_CLIENTS=${PRIORITY_CLIENTS:-400}
  echo "== priorities under overload, $SECS s: priority 2 from $BULK_CLIENTS closed-loop clients (the queue holds hundreds), priority 1 from 2 clients at 20 req/s each"
  hey -z "${SECS}s" -c "$BULK_CLIENTS" -o csv -m POST -T application/json -D "$WORK/p2.json" "$V2" > "$WORK/p2.csv" &
  BULK=$!
  hey -z "${SECS}s" -c 2 -q 20 -o csv -m POST -T application/json -D "$WORK/p1.json" "$V2" > "$WORK/p1.csv"
  wait "$BULK"
  read -r P1_50 P1_99 P1_N <<< "$(pcts "$WORK/p1.csv")"
  read -r P2_50 P2_99 P2_N <<< "$(pcts "$WORK/p2.csv")"
  echo "   priority 1: $P1_N answered 200, p50 $P1_50 ms, p99 $P1_99 ms"
  echo "   priority 2: $P2_N answered 200, p50 $P2_50 ms, p99 $P2_99 ms, $(awk -F, 'NR > 1 && $7 == 503' "$WORK/p2.csv" | wc -l) answered 503"
  echo "   p99 ratio priority 1 / priority 2: $(awk -v a="$P1_99" -v b="$P2_99" 'BEGIN {printf "%.3f", a / b}')"
  stop_server
  exit 0
fi
declare -A RESULT
sample_rss
# a paired raw reference measured a moment before the seed loads, the server idle (the VM's speed drifts within minutes)
paired() { "${JAVA_BENCH[@]}" dev.igate.benchmark.RawLayouts models/BERTSeqClassification/1 2 seed probe | grep '^PAIRED'; }
PAIRED1=$(paired)
for c in 1 8 32 64; do
  [ "$c" = 32 ] && PAIRED32=$(paired)
  RESULT[v1,$c]=$(load "$V1" "$WORK/v1.json" "$c")
  RESULT[v2,$c]=$(load "$V2" "$WORK/v2.json" "$c")
done
# the same load on a versioned URL: no canary split and no gateway route (what the 90/10 canary costs)
RESULT[v1direct,32]=$(load "http://127.0.0.1:$PORT/v1/models/BERTSeqClassification/versions/1:predict" "$WORK/v1.json" 32)
for c in 1 32; do
  RESULT[v1long,$c]=$(load "$V1" "$WORK/v1-long.json" "$c")
  RESULT[v2long,$c]=$(load "$V2" "$WORK/v2-long.json" "$c")
  RESULT[v1mix,$c]=$(load_mix "$V1" "$WORK/v1-mix.lines" "$c")
  RESULT[v2mix,$c]=$(load_mix "$V2" "$WORK/v2-mix.lines" "$c")
done
echo "== protocols: one text per request over V2 JSON, V2 binary tensor data, gRPC typed contents and gRPC raw contents"
grpc_load() { # typed|raw text|tensors concurrencies... -> sets RESULT[<prefix><mode>,c] (one warmed client JVM for all)
  local mode=$1 what=$2 prefix=$3
  shift 3
  local list
  list=$(IFS=,; echo "$*")
  mapfile -t lines < <("${JAVA_BENCH[@]}" dev.igate.benchmark.GrpcLoad "$GRPC_PORT" "${DURATION%s}" "$list" "$mode" "$what")
  local i=0
  for c in "$@"; do RESULT[$prefix$mode,$c]=${lines[$i]}; i=$((i + 1)); done
}
for c in 1 8 32; do
  RESULT[json,$c]=$(load "$V2" "$WORK/v2text.json" "$c")
  RESULT[binary,$c]=$(load "$V2" "$WORK/v2.bin" "$c" -T application/octet-stream -H "Inference-Header-Content-Length: ${#BIN_HEADER}")
done
grpc_load typed text "" 1 8 32
grpc_load raw text "" 1 8 32
echo "== protocols: 8 x 64 token tensors per request (three INT64 inputs) straight to the ONNX session"
for c in 1 8; do
  RESULT[tjson,$c]=$(load "$V2" "$WORK/tensors.json" "$c")
  RESULT[tbinary,$c]=$(load "$V2" "$WORK/tensors.bin" "$c" -T application/octet-stream -H "Inference-Header-Content-Length: $TENSOR_HEADER")
done
grpc_load typed tensors t 1 8
grpc_load raw tensors t 1 8
kill $SAMPLER 2>/dev/null || true
PEAK=$(grep -v '^$' "$WORK/rss.txt" | sort -n | tail -1)
echo "== transport floor at concurrency 1: GET /v2/health/live (hey) and ServerLive (GrpcLoad)"
FLOOR_HTTP=$(hey -z 5s -c 1 "http://127.0.0.1:$PORT/v2/health/live" | awk '/50% in/ {printf "%.2f", $3*1000}')
FLOOR_GRPC=$("${JAVA_BENCH[@]}" dev.igate.benchmark.GrpcLoad "$GRPC_PORT" 5 1 typed live | awk '{print $2}')
METRICS=$(curl -s "http://127.0.0.1:$PORT/actuator/prometheus")
AVG_BATCH=$(echo "$METRICS" | awk '/^nv_inference_count_total/ {n+=$2} /^nv_inference_exec_count_total/ {e+=$2} END {if (e>0) printf "%.2f", n/e}')
RUNS_BY_INSTANCE=$(echo "$METRICS" | awk -F'[{}]' '/^igate_instance_runs_total/ {split($2, l, ","); for (i in l) if (l[i] ~ /^instance=/) {gsub(/instance=|"/, "", l[i]); n[l[i]] += $3}} END {for (k in n) printf "%s=%d ", k, n[k]}')
PEAK_RUNS=$(echo "$METRICS" | awk '/^igate_device_runs_peak/ {print $2}')
stop_server

echo "== batching off (max-batch-size 1), concurrency 32"
start_server --igate.defaults.max-batch-size=1 --igate.models.BERTSeqClassification.max-batch-size=1
hey -n 2000 -c 16 -m POST -T application/json -D "$WORK/v1.json" "$V1" > /dev/null
OFF=$(load "$V1" "$WORK/v1.json" 32)
stop_server

echo "== raw ONNX Runtime layouts, same model and texts, the server stopped (every layout that uses all $(nproc) cores)"
RAW_AFTER=$(run_raw)
echo "$RAW_AFTER" | grep -v '^RAW'
echo "$RAW_AFTER" | grep '^RAW'
# the reference per workload: the run (before or after the server) with the higher best rows/s, and the faster batch-1 run
field() { # output workload field
  echo "$1" | grep "^RAW workload=$2 " | sed "s/.* $3=\([^ ]*\).*/\1/"
}
raw() { # workload field
  local a b
  a=$(field "$RAW_BEFORE" "$1" "$2"); b=$(field "$RAW_AFTER" "$1" "$2")
  case $2 in
    best_rps) awk -v a="$a" -v b="$b" 'BEGIN {print (a > b ? a : b)}' ;;
    batch1_ms) awk -v a="$a" -v b="$b" 'BEGIN {print (a < b ? a : b)}' ;;
    best_layout|best_batch) if awk -v a="$(field "$RAW_BEFORE" "$1" best_rps)" -v b="$(field "$RAW_AFTER" "$1" best_rps)" 'BEGIN {exit !(a > b)}'; then echo "$a"; else echo "$b"; fi ;;
    batch1_layout) if awk -v a="$(field "$RAW_BEFORE" "$1" batch1_ms)" -v b="$(field "$RAW_AFTER" "$1" batch1_ms)" 'BEGIN {exit !(a < b)}'; then echo "$a"; else echo "$b"; fi ;;
  esac
}
TENSORS_MS=$( (echo "$RAW_BEFORE"; echo "$RAW_AFTER") | grep '^RAW tensors' | sed 's/.*tensors_ms=\([0-9.]*\).*/\1/' | sort -g | head -1)

row() { # key concurrency -> "req/s p50 p99 errors" fields
  echo "${RESULT[$1,$2]}"
}
echo
echo "== end to end, seed sentence (16 tokens; hey -z $DURATION, default configuration with the shipped 90/10 canary)"
printf "%-12s %10s %9s %9s %7s %10s %9s %9s %7s\n" concurrency "V1 req/s" "p50 ms" "p99 ms" "errors" "V2 req/s" "p50 ms" "p99 ms" "errors"
for c in 1 8 32 64; do
  read -r r1 a1 b1 e1 <<< "$(row v1 "$c")"; read -r r2 a2 b2 e2 <<< "$(row v2 "$c")"
  printf "%-12s %10s %9s %9s %7s %10s %9s %9s %7s\n" "$c" "$r1" "$a1" "$b1" "$e1" "$r2" "$a2" "$b2" "$e2"
done
echo
echo "== end to end, ~128-token text (hey) and the mix of 8-128 tokens (wrk), same columns"
printf "%-18s %10s %9s %9s %7s %10s %9s %9s %7s\n" "workload, conc." "V1 req/s" "p50 ms" "p99 ms" "errors" "V2 req/s" "p50 ms" "p99 ms" "errors"
for w in long mix; do
  for c in 1 32; do
    read -r r1 a1 b1 e1 <<< "$(row "v1$w" "$c")"; read -r r2 a2 b2 e2 <<< "$(row "v2$w" "$c")"
    printf "%-18s %10s %9s %9s %7s %10s %9s %9s %7s\n" "$w, $c" "$r1" "$a1" "$b1" "$e1" "$r2" "$a2" "$b2" "$e2"
  done
done
echo
protocol_rows() { # result-key prefix, concurrencies... -> one row per concurrency: "req/s / p50 / p99" per protocol
  local prefix=$1
  shift
  for c in "$@"; do
    row=()
    for p in json binary typed raw; do
      read -r r a b e <<< "${RESULT[$prefix$p,$c]}"
      row+=("$(printf '%s / %s / %s%s' "$r" "$a" "$b" "$([ "$e" = 0 ] || echo " ($e err)")")")
    done
    printf "%-12s %22s %22s %22s %22s\n" "$c" "${row[@]}"
  done
}
echo "== protocols (same server, one text per request; req/s, p50 ms, p99 ms)"
printf "%-12s %22s %22s %22s %22s\n" concurrency "V2 REST JSON" "V2 REST binary" "gRPC typed" "gRPC raw"
protocol_rows "" 1 8 32
echo
echo "== protocols, 8 x 64 token tensors per request (same columns; raw ONNX Runtime runs one in $TENSORS_MS ms)"
protocol_rows t 1 8
echo
echo "== goals (issue 12), ratios within this run"
for w in seed long mix; do
  key=v1; [ "$w" = seed ] || key="v1$w"
  read -r v1r _ _ _ <<< "$(row "$key" 32)"
  key=v2; [ "$w" = seed ] || key="v2$w"
  read -r v2r _ _ _ <<< "$(row "$key" 32)"
  awk -v w="$w" -v a="$v1r" -v b="$v2r" -v raw="$(raw "$w" best_rps)" -v l="$(raw "$w" best_layout)" -v bb="$(raw "$w" best_batch)" \
    'BEGIN {printf "%-5s concurrency 32 / best raw layout (%s, batch %s, %.1f rows/s): V1 %.2f, V2 %.2f (goal >= 0.75)\n", w, l, bb, raw, a/raw, b/raw}'
done
pf() { echo "$1" | sed "s/.* $2=\([^ ]*\).*/\1/"; }
read -r v1r32 _ _ _ <<< "$(row v1 32)"; read -r v2r32 _ _ _ <<< "$(row v2 32)"
awk -v a="$v1r32" -v b="$v2r32" -v raw="$(pf "$PAIRED32" best_rps)" \
  'BEGIN {printf "  seed against the paired reference (one session, a caller per core, batch 16-32, measured just before: %.1f rows/s): V1 %.2f, V2 %.2f\n", raw, a/raw, b/raw}'
read -r d32 _ _ _ <<< "$(row v1direct 32)"
awk -v d="$d32" -v raw="$(raw seed best_rps)" 'BEGIN {printf "  seed, V1 on the versioned URL (no canary split, no gateway route): %.1f req/s, %.2f of best raw\n", d, d/raw}'
read -r _ p50c1 _ _ <<< "$(row v1 1)"; read -r _ p50v2 _ _ <<< "$(row v2 1)"
awk -v p="$p50c1" -v q="$p50v2" -v m="$(raw seed batch1_ms)" -v l="$(raw seed batch1_layout)" \
  'BEGIN {printf "p50 at concurrency 1 minus the best raw batch-1 run (%s, %.2f ms): V1 %+.2f ms, V2 %+.2f ms (goal <= +1.0 ms)\n", l, m, p-m, q-m}'
awk -v p="$p50c1" -v q="$p50v2" -v m="$(pf "$PAIRED1" batch1_ms)" \
  'BEGIN {printf "  against the paired batch-1 run (measured just before the concurrency-1 loads: %.2f ms): V1 %+.2f ms, V2 %+.2f ms\n", m, p-m, q-m}'
read -r _ p50l _ _ <<< "$(row v1long 1)"
awk -v p="$p50l" -v m="$(raw long batch1_ms)" 'BEGIN {printf "  the same for the ~128-token text: V1 p50 %.2f ms, raw batch-1 %.2f ms, %+.2f ms\n", p, m, p-m}'
read -r j32 _ _ _ <<< "${RESULT[json,32]}"; read -r bin32 _ _ _ <<< "${RESULT[binary,32]}"; read -r g32 _ _ _ <<< "${RESULT[raw,32]}"
awk -v j="$j32" -v n="$bin32" -v g="$g32" 'BEGIN {printf "one text, concurrency 32, against V2 JSON: V2 binary %.2f, gRPC raw %.2f (goal >= 0.95)\n", n/j, g/j}'
read -r tj _ _ _ <<< "${RESULT[tjson,1]}"; read -r tb _ _ _ <<< "${RESULT[tbinary,1]}"; read -r tg _ _ _ <<< "${RESULT[traw,1]}"
awk -v j="$tj" -v n="$tb" -v g="$tg" -v m="$TENSORS_MS" 'BEGIN {printf "8 x 64 tensors, concurrency 1, / raw session (%.1f req/s): V2 JSON %.2f, V2 binary %.2f, gRPC raw %.2f\n", 1000/m, j*m/1000, n*m/1000, g*m/1000}'
read -r r32 _ _ _ <<< "$(row v1 32)"; read -r roff _ _ _ <<< "$OFF"
awk -v r="$r32" -v o="$roff" 'BEGIN {printf "batching on / off at concurrency 32 = %.1f / %.1f req/s = %.2fx\n", r, o, r/o}'
ERRORS=0
for k in "${!RESULT[@]}"; do read -r _ _ _ e <<< "${RESULT[$k]}"; ERRORS=$((ERRORS + ${e:-0})); done
echo "non-200 answers over every load above: $ERRORS (goal 0)"
echo "server resident memory under load: peak $PEAK MiB (goal <= 1024 MiB, both demo versions and all instances loaded)"
echo "average batch over the run (nv_inference_count / nv_inference_exec_count): $AVG_BATCH; runs per instance: $RUNS_BY_INSTANCE; most runs at once: $PEAK_RUNS"
echo "transport floor, p50 at concurrency 1: HTTP GET /v2/health/live $FLOOR_HTTP ms, gRPC ServerLive $FLOOR_GRPC ms"
