#!/usr/bin/env bash
# custos against the pipeline a team would script (deploy/bench/python_pipeline.py): the same
# generated file, the same real GeoLite2-derived City DB, the same ClickHouse, one after the other.
# Prints each one's events/s, its process CPU-seconds (and µs per event), and the ratio.
#   CLICKHOUSE_BENCH_URL=http://127.0.0.1:8123 deploy/bench/replay-vs-python.sh
#   BENCH_REPLAY_EVENTS=600000 BENCH_REPLAY_USERS=2400 (defaults)
set -euo pipefail
cd "$(dirname "$0")/../.."
url=${CLICKHOUSE_BENCH_URL:?set CLICKHOUSE_BENCH_URL (deploy/bench/run.sh does)}
n=${BENCH_REPLAY_EVENTS:-600000}
users=${BENCH_REPLAY_USERS:-2400}
python3 -c 'import maxminddb' 2>/dev/null || python3 -m pip install -q maxminddb==2.6.2 >&2 \
  || python3 -m pip install -q --break-system-packages maxminddb==2.6.2 >&2
cargo build --release --quiet
city=$(./deploy/fetch-geoip.sh target/geoip 2>/dev/null)
work=$(mktemp -d "${TMPDIR:-/tmp}/custos-vs-python.XXXXXX")
trap 'rm -rf "$work"' EXIT
target/release/custos gen --count "$n" --users "$users" --events "$work/ev.jsonl" --directory "$work/dir.jsonl" 2>/dev/null
db="bench_vs_python_$$"
cat > "$work/custos.toml" <<TOML
[clickhouse]
url = "$url"
database = "${db}_custos"
[geoip]
city_db = ["${city%,*}", "${city#*,}"]
TOML
# Each command's wall time and its own CPU time (user + system, from the kernel's rusage of the child).
measure() {
  python3 - "$@" <<'PY'
import resource, subprocess, sys, time
t = time.monotonic()
r = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
wall = time.monotonic() - t
u = resource.getrusage(resource.RUSAGE_CHILDREN)
if r.returncode != 0:
    sys.exit(f"failed: {sys.argv[1:]}")
print(f"{wall:.3f} {u.ru_utime + u.ru_stime:.3f} {u.ru_maxrss // 1024}")
PY
}
read -r c_wall c_cpu c_rss < <(measure target/release/custos --config "$work/custos.toml" replay --input "$work/ev.jsonl" --directory "$work/dir.jsonl")
read -r p_wall p_cpu p_rss < <(measure python3 deploy/bench/python_pipeline.py "$url" "${db}_python" "$work/ev.jsonl" "$work/dir.jsonl" "${city%,*}" "${city#*,}")
python3 - "$n" "$c_wall" "$c_cpu" "$c_rss" "$p_wall" "$p_cpu" "$p_rss" <<'PY'
import sys
n = int(sys.argv[1]); cw, cc, cr, pw, pc, pr = map(float, sys.argv[2:])
print(f"\n## File replay against a Python pipeline: {n} generated events, the real City DB, the same ClickHouse\n")
print("| pipeline | wall s | events/s | process CPU-s | µs CPU per event | peak RSS MiB |")
print("|---|---|---|---|---|---|")
print(f"| custos replay (all shipped detectors) | {cw:.2f} | {n / cw:,.0f} | {cc:.2f} | {cc * 1e6 / n:.2f} | {cr:.0f} |")
print(f"| Python (json, maxminddb, 3 detectors, batched HTTP) | {pw:.2f} | {n / pw:,.0f} | {pc:.2f} | {pc * 1e6 / n:.2f} | {pr:.0f} |")
print(f"\ncustos is {pw / cw:.1f}x the Python pipeline's events/s ({pc / cc:.1f}x less CPU per event).")
PY
for d in "${db}_custos" "${db}_python"; do
  curl -s "$url/?query=DROP%20DATABASE%20IF%20EXISTS%20$d" -d '' >/dev/null || true
done
