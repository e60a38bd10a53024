#!/usr/bin/env bash
# HTTP endpoint benchmark (docs/benchmarks.md, "Watching it over HTTP").
#
# Does watching lmgrd over HTTP slow the license protocol? ROUNDS rounds,
# each with two steps back to back against the same lmgrd (started with
# -http on loopback):
#   a. plain: lmload's closed-loop checkout/checkin load, CONNS connections,
#      DURATION seconds;
#   b. watched: the same load while, every second, the dashboard's polling
#      (/, /api/1.0/health, /api/1.0/status, /api/1.0/history) and a
#      Prometheus scrape (/metrics) are made with curl.
# The ratio watched/plain is taken per round; the median round is reported
# against the target (>= 0.95).
#
# Environment (default): DURATION (10), WARMUP (2), ROUNDS (3), CONNS (200).
# Usage: scripts/bench-web.sh   (builds release binaries; needs curl)
set -euo pipefail
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-200}
root=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release --quiet --manifest-path "$root/Cargo.toml" -p lmgrd -p vendord -p lmload
bin="$root/target/release"
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

lm_port=$("$bin/lmload" free-port)
vendor_port=$("$bin/lmload" free-port)
http_port=$("$bin/lmload" free-port)
"$bin/lmload" license --dir "$work" --port "$lm_port" --vendor-port "$vendor_port" \
  --features f1 --seats 100000 >/dev/null
LM_STATE_DIR="$work/state" LM_PUBLIC_KEY_PATH="$work" "$bin/lmgrd" -z -c "$work/lmload.lic" \
  -l "$work/debug.log" -http "127.0.0.1:$http_port" &
pids+=($!)
for _ in $(seq 200); do
  grep -q "demo using TCP-port $vendor_port" "$work/debug.log" 2>/dev/null && break
  sleep 0.1
done

# One closed-loop run; prints its requests per second.
run() {
  timeout $((DURATION + WARMUP + 120)) "$bin/lmload" run --target "127.0.0.1:$vendor_port" \
    --mode license --feature f1 --connections "$CONNS" --duration "$DURATION" \
    --warmup "$WARMUP" | sed -n 's/^RESULT .* rps=\([0-9]*\).*/\1/p'
}

# Polls like an open dashboard and scrapes like Prometheus, once a second,
# for at most the given number of seconds.
watch() {
  local base="http://127.0.0.1:$http_port" end=$((SECONDS + $1))
  while [ $SECONDS -lt $end ]; do
    for path in / /api/1.0/health /api/1.0/status /api/1.0/history /metrics; do
      curl -s -o /dev/null --max-time 2 "$base$path" || true
    done
    sleep 1
  done
}

ratios=()
for r in $(seq "$ROUNDS"); do
  plain=$(run)
  watch $((DURATION + WARMUP + 5)) &
  watcher=$!
  pids+=("$watcher")
  watched=$(run)
  kill "$watcher" 2>/dev/null || true
  wait "$watcher" 2>/dev/null || true
  ratio=$(awk -v a="$watched" -v b="$plain" 'BEGIN { printf "%.3f", a / b }')
  echo "round $r: plain $plain req/s, watched $watched req/s, ratio $ratio"
  ratios+=("$ratio")
done
scrapes=$(curl -s "http://127.0.0.1:$http_port/metrics" | grep -c '^lm_http_requests_total' || true)
median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
echo "median ratio watched/plain: $median (target >= 0.95); routes counted: $scrapes"
awk -v m="$median" 'BEGIN { exit !(m >= 0.95) }' && echo "PASS" || echo "BELOW TARGET"
