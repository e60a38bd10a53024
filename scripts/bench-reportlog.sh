#!/usr/bin/env bash
# What the report log (options REPORTLOG) costs the vendor daemon:
# checkout+checkin throughput (lmload, CONNS closed-loop connections,
# STEP_SECONDS each) against the same lmgrd/vendord with and without a
# report log, ROUNDS times alternately. Loopback only.
#
# Usage: scripts/bench-reportlog.sh   (from anywhere; builds release binaries)
set -euo pipefail
CONNS=${CONNS:-1000}
STEP_SECONDS=${STEP_SECONDS:-8}
ROUNDS=${ROUNDS:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/target/release"
cargo build --release --quiet --manifest-path "$root/Cargo.toml" -p lmgrd -p vendord -p lmload
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-reportlog.XXXXXX")
pid=
cleanup() {
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Runs one step: $1 = with|without. Prints the requests per second.
step() {
  local dir="$work/$1-$RANDOM" port vport
  port=$("$bin/lmload" free-port)
  vport=$("$bin/lmload" free-port)
  while [ "$vport" = "$port" ]; do vport=$("$bin/lmload" free-port); done
  "$bin/lmload" license --dir "$dir" --port "$port" --vendor-port "$vport" --features f1 >/dev/null
  if [ "$1" = with ]; then
    sed -i 's/^VENDOR demo\(.*\)$/VENDOR demo\1 OPTIONS=demo.opt/' "$dir/lmload.lic"
    echo "REPORTLOG +usage.rl" >"$dir/demo.opt"
  fi
  "$bin/lmgrd" -z -c "$dir/lmload.lic" -l "$dir/debug.log" &
  pid=$!
  for _ in $(seq 100); do
    grep -q "using TCP-port $vport" "$dir/debug.log" 2>/dev/null && break
    sleep 0.1
  done
  if [ "$1" = with ]; then grep -q "Report log:" "$dir/debug.log"; fi
  timeout $((STEP_SECONDS + 60)) "$bin/lmload" run --target "127.0.0.1:$vport" --mode license \
    --feature f1 --connections "$CONNS" --duration "$STEP_SECONDS" |
    sed -n 's/^RESULT .* rps=\([0-9]*\) .*/\1/p'
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; pid=
}

for r in $(seq "$ROUNDS"); do
  without=$(step without)
  with=$(step with)
  awk -v a="$with" -v b="$without" -v r="$r" \
    'BEGIN { printf "round %d: without %d req/s, with REPORTLOG %d req/s, ratio %.2f\n", r, b, a, a / b }'
done
