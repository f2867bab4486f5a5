#!/usr/bin/env bash
# API load: wrk against `custos api` over a database of BENCH_API_EVENTS generated events (default 1M).
#   ./deploy/bench/api-load.sh                          # 1M events: 16 connections × 10 s per route, then
#                                                       # 64 connections × 60 s over all routes
#   BENCH_API_EVENTS=10000000 ./deploy/bench/api-load.sh
# Prints requests/s, p50/p99 and non-2xx per route, audit rows against requests sent, and custos' RSS.
# Needs wrk (Debian package; installed here when missing). Starts its own ClickHouse (loopback, temp dir).
set -euo pipefail
cd "$(dirname "$0")/../.."
./deploy/setup.sh
if ! command -v wrk >/dev/null 2>&1; then
  sudo=""; [ "$(id -u)" != 0 ] && sudo="sudo"
  $sudo apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq wrk >&2
fi
events=${BENCH_API_EVENTS:-1000000}
route_secs=${BENCH_API_ROUTE_SECS:-10}
mixed_secs=${BENCH_API_MIXED_SECS:-60}
root=$(mktemp -d "${TMPDIR:-/tmp}/custos-apiload.XXXXXX")
api_pid=""
trap '[ -n "$api_pid" ] && kill "$api_pid" 2>/dev/null; ./deploy/clickhouse-local.sh stop "$root/clickhouse" || true; rm -rf "$root"' EXIT
# BENCH_API_CLICKHOUSE=<url>: use that server's `custos_load` database as it is (no loading).
url=${BENCH_API_CLICKHOUSE:-$(./deploy/clickhouse-local.sh start "$root/clickhouse")}
cargo build --release --quiet
bin=target/release/custos
token=$($bin token new --name load --role admin 2>"$root/token.toml")
cat > "$root/custos.toml" <<TOML
[clickhouse]
url = "$url"
database = "custos_load"
[api]
listen = "127.0.0.1:0"
$(grep -v '^#' "$root/token.toml")
TOML
export CUSTOS_CONFIG="$root/custos.toml"

# The database: 1M-event chunks (a month each, their own seed) replayed one after another.
chunk=1000000
done_events=0; i=0
t0=$(date +%s)
[ -n "${BENCH_API_CLICKHOUSE:-}" ] && done_events=$events
while [ "$done_events" -lt "$events" ]; do
  n=$(( events - done_events < chunk ? events - done_events : chunk ))
  start=$(date -u -d "2025-01-05 +$i month" +%Y-%m-%dT00:00:00Z)
  $bin gen --count "$n" --users "${BENCH_API_USERS:-2000}" --seed $((42 + i)) --start "$start" --events "$root/e.jsonl" \
    --directory "$root/d.jsonl" >/dev/null 2>&1
  $bin replay --input "$root/e.jsonl" --directory "$root/d.jsonl" >/dev/null 2>"$root/replay.log" \
    || { tail "$root/replay.log"; exit 1; }
  done_events=$(( done_events + n )); i=$(( i + 1 ))
done
rm -f "$root/e.jsonl" "$root/d.jsonl"
q() { curl -s "$url/?database=custos_load" --data-binary "$1"; }
echo "## API load — $(q 'SELECT count() FROM events') events stored ($(q 'SELECT count() FROM alerts') alerts; loaded in $(( $(date +%s) - t0 )) s), $(nproc) cores"

$bin api >"$root/api.log" 2>&1 &
api_pid=$!
for _ in $(seq 1 100); do grep -q "API listening" "$root/api.log" && break; sleep 0.2; done
addr=$(grep -m1 "API listening" "$root/api.log" | sed 's/.*addr=//; s/ .*//')
base="http://$addr"

# Paths: users and alerts from the data, spread so caches do not make one answer.
q "SELECT DISTINCT user_id FROM events WHERE ts >= (SELECT max(ts) FROM events) - 86400 LIMIT 200 FORMAT TSV" > "$root/users"
q "SELECT alert_id, user_id, toString(ts) FROM alerts ORDER BY alert_id LIMIT 200 FORMAT TSV" > "$root/alerts"
last=$(q "SELECT formatDateTime(max(ts), '%Y-%m-%dT%H:%M:%SZ') FROM events")
since=$(date -u -d "$last -2 days" +%Y-%m-%dT%H:%M:%SZ)
mk() { # route-name and a file of paths
  local name=$1; shift
  printf '%s\n' "$@" > "$root/paths.$name"
}
mapfile -t users < "$root/users"
mk alerts "/api/v1/alerts?limit=50" "/api/v1/alerts?limit=50&severity=high" "/api/v1/alerts?limit=50&status=open"
mk alert $(cut -f1 "$root/alerts" | sed 's|^|/api/v1/alerts/|')
mk events $(printf '/api/v1/events?user_id=%s&limit=100\n' "${users[@]}")
mk timeline $(printf "/api/v1/users/%s/timeline?since=$since&until=$last\n" "${users[@]}")
mk stats "/api/v1/stats?until=$last" "/api/v1/stats?until=$last&tenant=acme"
cat "$root"/paths.* > "$root/paths.mixed"
cat > "$root/paths.lua" <<'LUA'
local paths, i = {}, 0
function init(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
end
function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], { ["Authorization"] = "Bearer " .. os.getenv("LOAD_TOKEN") })
end
LUA
export LOAD_TOKEN=$token
audit_before=$(q "SELECT count() FROM api_audit")
sent=0
run() { # name connections seconds
  local out
  out=$(wrk -t2 -c"$2" -d"$3s" --timeout 10s --latency -s "$root/paths.lua" "$base" -- "$root/paths.$1")
  local reqs rps p50 p99 bad
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  bad=$(awk '/Non-2xx/ {print $NF}' <<<"$out"); bad=${bad:-0}
  local errs; errs=$(awk '/Socket errors/ {print $0}' <<<"$out")
  [ -n "$errs" ] && echo "$1: $errs" >&2
  sent=$(( sent + reqs ))
  printf '| %s | %s | %s s | %s | %s | %s | %s |\n' "$1" "$2" "$3" "$rps" "$p50" "$p99" "$bad"
}
echo
echo "| route | connections | duration | requests/s | p50 | p99 | non-2xx |"
echo "|---|---|---|---|---|---|---|"
for r in alerts alert events timeline stats; do run "$r" 16 "$route_secs"; done
run mixed 64 "$mixed_secs"
rss=$(awk '/VmHWM/ {print $2 " " $3}' "/proc/$api_pid/status")
sleep 2 # the audit writer flushes within 500 ms
audit=$(( $(q "SELECT count() FROM api_audit") - audit_before ))
echo
echo "requests sent $sent (wrk counts completed ones), api_audit rows $audit; custos api peak RSS $rss"
