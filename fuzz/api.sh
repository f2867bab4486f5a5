#!/usr/bin/env bash
#! API fuzzing, one command: schemathesis (PyPI) against custos' own OpenAPI document with a valid token.
#!   fuzz/api.sh [MAX_EXAMPLES_PER_OPERATION=200] [extra schemathesis args...]
#! Starts a throw-away ClickHouse, loads generated traffic (alerts, dead letters, a directory), serves
#! `custos api` on a free loopback port with an admin token (every route is reachable), installs
#! schemathesis into target/schemathesis-venv and runs every phase with the checks below. Exit code is
#! schemathesis' own: non-zero on any 5xx, response-schema, status-code, content-type or header violation.
set -euo pipefail
cd "$(dirname "$0")/.."
examples=${1:-200}; shift || true

./deploy/setup.sh
root=$(mktemp -d "${TMPDIR:-/tmp}/custos-apifuzz.XXXXXX")
api_pid=""
cleanup() {
  [ -n "$api_pid" ] && kill "$api_pid" 2>/dev/null || true
  ./deploy/clickhouse-local.sh stop "$root/clickhouse" || true
  rm -rf "$root"
}
trap cleanup EXIT

url=$(./deploy/clickhouse-local.sh start "$root/clickhouse")
cargo build --quiet --bin custos
bin=target/debug/custos
port=$(( 20000 + RANDOM % 40000 ))
token=$("$bin" token new --name schemathesis --role admin 2>"$root/token.toml")
cat > "$root/custos.toml" <<TOML
[clickhouse]
url = "$url"
database = "apifuzz"

[api]
listen = "127.0.0.1:$port"

$(grep -v '^#' "$root/token.toml")
TOML

"$bin" --config "$root/custos.toml" gen --count 5000 --events "$root/ev.jsonl" --directory "$root/dir.jsonl" 2>/dev/null
printf '{not json\n{"event_id":"x"}\n' >> "$root/ev.jsonl"
"$bin" --config "$root/custos.toml" replay --input "$root/ev.jsonl" --directory "$root/dir.jsonl" > /dev/null 2>&1
CUSTOS_LOG=warn "$bin" --config "$root/custos.toml" api 2> "$root/api.log" &
api_pid=$!
for _ in $(seq 1 100); do
  { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null && break
  sleep 0.2
done

venv=target/schemathesis-venv
[ -x "$venv/bin/schemathesis" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q schemathesis; }
echo "api-fuzz: schemathesis $("$venv/bin/schemathesis" --version | awk '{print $NF}') against http://127.0.0.1:$port/api/v1/openapi.json" >&2

rc=0
"$venv/bin/schemathesis" run "http://127.0.0.1:$port/api/v1/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection,missing_required_header,ignored_auth \
  --max-examples "$examples" --workers 2 --seed 20261124 --no-color "$@" || rc=$?
if grep -q "panicked" "$root/api.log"; then echo "api-fuzz: the API panicked:"; grep -A3 panicked "$root/api.log"; rc=1; fi
echo "api-fuzz: exit $rc"
exit $rc
