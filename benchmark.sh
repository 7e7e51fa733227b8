#!/usr/bin/env bash
# Benchmarks that print numbers (see BENCHMARKS.md). Usage: ./benchmark.sh [explain]
set -euo pipefail
cd "$(dirname "$0")"
mvn -q -B -DskipTests install
mvn -q -B -pl benchmark dependency:build-classpath -Dmdep.outputFile="$PWD/benchmark/target/classpath.txt"
CP="benchmark/target/classes:$(cat benchmark/target/classpath.txt)"
export MAVEN_OPTS="${MAVEN_OPTS:-}"
case "${1:-explain}" in
  explain) java -Dorg.slf4j.simpleLogger.log.ai.djl=error -cp "$CP" dev.igate.benchmark.ExplainBenchmark models ;;
  *) echo "unknown benchmark $1 (expected: explain)" >&2; exit 2 ;;
esac
