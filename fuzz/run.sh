#!/usr/bin/env bash
#! Fuzzes the event and directory decoders with cargo fuzz (libFuzzer), one command:
#!   fuzz/run.sh [SECONDS_PER_TARGET=1800] [--parallel]
#! Seeds the corpus from the detector fixtures, runs both targets, then minimizes the corpus in
#! fuzz/corpus/ (kept in git). A crash leaves its input in fuzz/artifacts/<target>/ and exits non-zero.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-1800}
parallel=${2:-}

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
# libFuzzer needs nightly's -Z flags; use a nightly toolchain when rustup has one, else let stable accept them.
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then tc=(+nightly); else tc=(); export RUSTC_BOOTSTRAP=1; fi

seed() { # target, fixture files...
    local dir=corpus/$1; shift; mkdir -p "$dir"
    cat "$@" | while IFS= read -r line; do
        [ -n "$line" ] && printf '%s' "$line" > "$dir/seed-$(printf '%s' "$line" | sha1sum | cut -c1-16)"
    done
}
seed decode_event ../detectors/tests/*/events.jsonl
seed decode_directory ../detectors/tests/*/directory.jsonl

# Safe Rust: no sanitizer (ASan finds nothing in safe code and halves the speed); debug assertions stay on.
cargo "${tc[@]}" fuzz build -s none decode_event
cargo "${tc[@]}" fuzz build -s none decode_directory
run() {
    local rc=0
    cargo "${tc[@]}" fuzz run -s none "$1" "corpus/$1" -- \
        -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"target/$1.log" 2>&1 || rc=$?
    grep -E '^(#[0-9]+: *DONE|stat::|==[0-9]+==|SUMMARY|Done [0-9]+ runs)' "target/$1.log" | sed "s/^/$1: /" || true
    [ $rc -eq 0 ] || echo "$1: FAILED (exit $rc), see fuzz/target/$1.log and fuzz/artifacts/$1/"
    return $rc
}
if [ "$parallel" = "--parallel" ]; then
    run decode_event & a=$!; run decode_directory & b=$!
    wait $a; wait $b
else
    run decode_event; run decode_directory
fi
for t in decode_event decode_directory; do
    cargo "${tc[@]}" fuzz cmin -s none "$t" "corpus/$t" >/dev/null 2>&1
    echo "$t: $(ls "corpus/$t" | wc -l) corpus files after minimization"
done
echo "fuzz: no crash in ${secs}s per target"
