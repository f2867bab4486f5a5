#!/usr/bin/env bash
# The benchmark harness: one command, prints every figure for BENCHMARKS.md.
#   ./deploy/bench/run.sh            # stages, detector memory, cost growth, replay vs a Python pipeline, end to end 1M+5M, latency
#   BENCH_E2E_EVENTS=1000000 ./deploy/bench/run.sh   # a shorter end-to-end run
# Starts its own ClickHouse (loopback, temp dir); Kafka is librdkafka's mock cluster in the bench process.
set -euo pipefail
cd "$(dirname "$0")/../.."
./deploy/setup.sh
root=$(mktemp -d "${TMPDIR:-/tmp}/custos-bench.XXXXXX")
trap './deploy/clickhouse-local.sh stop "$root/clickhouse" || true; rm -rf "$root"' EXIT
CLICKHOUSE_BENCH_URL=$(./deploy/clickhouse-local.sh start "$root/clickhouse")
export CLICKHOUSE_BENCH_URL
echo "# custos benchmarks — $(date -u +%Y-%m-%d), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo
GEOIP_BENCH_DB=$(./deploy/fetch-geoip.sh target/geoip 2>/dev/null || true) cargo bench --quiet --bench enrich 2>/dev/null
echo
cargo bench --quiet --bench stages 2>/dev/null
echo
./deploy/bench/replay-vs-python.sh
echo
cargo bench --quiet --bench e2e 2>/dev/null
