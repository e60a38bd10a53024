#!/usr/bin/env bash
# Serving-path benchmark (docs/benchmarks.md, "Serving (lmload)").
#
# One run, every step bounded in time:
#   1. ROUNDS rounds of, back to back,
#      a. echo baseline: lmload's mio echo server, CONNS closed-loop
#         connections sending 64 bytes and waiting for them back;
#      b. license: real lmgrd and vendord, CONNS connections each looping
#         Checkout -> Granted -> Checkin -> CheckedIn;
#      (the ratios are taken per round and the median round is reported, so
#      that a burst of other work on the machine does not decide the result);
#   2. held: HELD_SMALL, then HELD_BIG connections that hold one seat each
#      and heartbeat every INTERVAL_MS, a checkout probe running meanwhile
#      (PROBES connections, one checkout and checkin per millisecond each),
#      and vendord's VmRSS per held connection;
# then a summary table against the targets. Each lmgrd gets a fresh license
# (signed at run time with a throw-away key) and starts a fresh vendord. Every
# step reports how much CPU other processes took meanwhile.
#
# Environment (default): DURATION (10) measured seconds per step, WARMUP (2),
# ROUNDS (3), CONNS (1000), RUN_PROCS (1) client processes for step 1,
# HELD_SMALL (1000), HELD_BIG (19000), HELD_PROCS (4), INTERVAL_MS (5000),
# PROBES (2), KEEP=1 keeps the work directory (licenses, debug logs, raw
# reports).
#
# Usage: scripts/bench-serving.sh   (from anywhere; builds release binaries)
set -euo pipefail

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-1000}
RUN_PROCS=${RUN_PROCS:-1}
HELD_SMALL=${HELD_SMALL:-1000}
HELD_BIG=${HELD_BIG:-19000}
HELD_PROCS=${HELD_PROCS:-4}
INTERVAL_MS=${INTERVAL_MS:-5000}
PROBES=${PROBES:-2}
# No lmload invocation may take longer than this many seconds.
STEP_LIMIT=$((DURATION + WARMUP + 150))

root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/target/release"
cargo build --release --quiet --manifest-path "$root/Cargo.toml" -p lmgrd -p vendord -p lmload

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-serving.XXXXXX")
report="$work/report.txt"
started=()
cleanup() {
  for p in "${started[@]}"; do
    kill -TERM "$p" 2>/dev/null || true
  done
  for p in "${started[@]}"; do
    wait "$p" 2>/dev/null || true
  done
  if [ "${KEEP:-0}" = 1 ]; then
    echo "work directory kept: $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

say() { echo "== $*" | tee -a "$report"; }

# Runs lmload with a time limit, shows and keeps its output, and sets `res`
# to its RESULT line.
load() {
  local out
  out=$(timeout "$STEP_LIMIT" "$bin/lmload" "$@" 2>&1) || {
    echo "$out" | tee -a "$report" >&2
    echo "lmload $1 failed" >&2
    return 1
  }
  echo "$out" >>"$report"
  echo "$out" | grep -v '^RESULT'
  res=$(echo "$out" | grep '^RESULT')
}

# The value of key=value in a RESULT line.
get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

port() { "$bin/lmload" free-port; }

# Starts lmgrd (and through it vendord) on a fresh license in $work/$1; sets
# lmgrd_pid and vendor_port.
start_lmgrd() {
  local dir="$work/$1" lm_port
  lm_port=$(port)
  vendor_port=$(port)
  while [ "$vendor_port" = "$lm_port" ]; do vendor_port=$(port); done
  "$bin/lmload" license --dir "$dir" --port "$lm_port" --vendor-port "$vendor_port" \
    --features f1,held --seats 100000 >/dev/null
  LM_PUBLIC_KEY_PATH="$dir" "$bin/lmgrd" -z -c "$dir/lmload.lic" -l "$dir/debug.log" &
  lmgrd_pid=$!
  started+=("$lmgrd_pid")
  for _ in $(seq 200); do
    grep -q "demo using TCP-port $vendor_port" "$dir/debug.log" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "vendord did not come up; log:" >&2
  cat "$dir/debug.log" >&2
  return 1
}

stop_lmgrd() {
  kill -TERM "$lmgrd_pid" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$lmgrd_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$lmgrd_pid" 2>/dev/null || true
  wait "$lmgrd_pid" 2>/dev/null || true
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
verdict() { awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN {
  ok = (op == ">=") ? (v >= t) : (v <= t); print (ok ? "met" : "MISSED") }'; }
# The median of its arguments (the lower middle one for an even count).
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

say "bench-serving: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), open files $(ulimit -n), $(uname -sr)"

echo_port=$(port)
"$bin/lmload" echo-server --port "$echo_port" 2>/dev/null &
echo_pid=$!
started+=("$echo_pid")
start_lmgrd license
license_log="$work/license/debug.log"

echo_rows=()
lic_rows=()
rps_ratios=()
p99_ratios=()
for r in $(seq "$ROUNDS"); do
  say "1.$r a. echo baseline, $CONNS connections"
  load run --target "127.0.0.1:$echo_port" --mode echo --connections "$CONNS" \
    --duration "$DURATION" --warmup "$WARMUP" --processes "$RUN_PROCS"
  echo_rows+=("$res")
  say "1.$r b. license checkouts, $CONNS connections"
  load run --target "127.0.0.1:$vendor_port" --mode license --feature f1 \
    --connections "$CONNS" --duration "$DURATION" --warmup "$WARMUP" --processes "$RUN_PROCS"
  lic_rows+=("$res")
  rps_ratios+=("$(ratio "$(get rps "$res")" "$(get rps "${echo_rows[-1]}")")")
  p99_ratios+=("$(ratio "$(get p99_us "$res")" "$(get p99_us "${echo_rows[-1]}")")")
done
log_lines=$(grep -c '(demo) \(OUT\|IN\):' "$license_log" || true)
log_size=$(du -h "$license_log" | cut -f1)
say "vendord debug log: $log_lines OUT/IN lines, $log_size"
stop_lmgrd
kill -TERM "$echo_pid" 2>/dev/null || true

held() {
  start_lmgrd "held-$1"
  load held --target "127.0.0.1:$vendor_port" --connections "$1" --processes "$HELD_PROCS" \
    --interval-ms "$INTERVAL_MS" --duration "$DURATION" --hold-feature held \
    --probe-feature f1 --probe-connections "$PROBES" --probe-think-us 1000
  stop_lmgrd
}

say "2. held connections: $HELD_SMALL"
held "$HELD_SMALL"
small_res=$res
say "3. held connections: $HELD_BIG"
held "$HELD_BIG"
big_res=$res

rps_ratio=$(median "${rps_ratios[@]}")
p99_ratio=$(median "${p99_ratios[@]}")
p50_held=$(ratio "$(get probe_p50_us "$big_res")" "$(get probe_p50_us "$small_res")")
p99_held=$(ratio "$(get probe_p99_us "$big_res")" "$(get probe_p99_us "$small_res")")
missed=$(($(get hb_missed "$small_res") + $(get hb_missed "$big_res")))

{
  echo
  echo "Summary (${DURATION} s per step; 'other' is CPU taken by other processes, % of the machine)"
  printf '%-32s %10s %9s %9s %11s %9s %6s\n' "step" "req/s" "p50 us" "p99 us" "server CPU" "us/req" "other"
  for r in $(seq "$ROUNDS"); do
    for row in "${echo_rows[r - 1]}" "${lic_rows[r - 1]}"; do
      printf '%-32s %10s %9s %9s %10s%% %9s %5s%%\n' "$r. $(get mode "$row"), $(get conns "$row") conns" \
        "$(get rps "$row")" "$(get p50_us "$row")" "$(get p99_us "$row")" \
        "$(get server_cpu_pct "$row")" "$(get server_us_per_req "$row")" "$(get others_cpu_pct "$row")"
    done
  done
  for row in "$small_res" "$big_res"; do
    printf '%-32s %10s %9s %9s %10s%% %9s %5s%%\n' "probe, $(get conns "$row") held" \
      "$(get probe_rps "$row")" "$(get probe_p50_us "$row")" "$(get probe_p99_us "$row")" \
      "$(get server_cpu_pct "$row")" "" "$(get others_cpu_pct "$row")"
  done
  echo "ratios per round (license/echo): req/s ${rps_ratios[*]}; p99 ${p99_ratios[*]}"
  echo
  printf '%-8s %9s %15s %13s %11s %9s %10s %12s\n' "held" "set-up s" "RSS before KiB" \
    "RSS held KiB" "bytes/conn" "hb sent" "hb missed" "slowest ack"
  for row in "$small_res" "$big_res"; do
    printf '%-8s %9s %15s %13s %11s %9s %10s %9s ms\n' "$(get established "$row")" \
      "$(get setup_s "$row")" "$(get rss_before_kib "$row")" "$(get rss_held_kib "$row")" \
      "$(get bytes_per_conn "$row")" "$(get hb_sent "$row")" "$(get hb_missed "$row")" \
      "$(get hb_max_ms "$row")"
  done
  echo
  printf '%-52s %8s %10s %8s\n' "target" "measured" "goal" "status"
  printf '%-52s %8s %10s %8s\n' "license req/s / echo req/s (median of $ROUNDS)" "$rps_ratio" \
    ">= 0.7" "$(verdict "$rps_ratio" ">=" 0.7)"
  printf '%-52s %8s %10s %8s\n' "license p99 / echo p99 (median of $ROUNDS)" "$p99_ratio" \
    "<= 1.5" "$(verdict "$p99_ratio" "<=" 1.5)"
  printf '%-52s %8s %10s %8s\n' "bytes per held connection ($HELD_BIG held)" \
    "$(get bytes_per_conn "$big_res")" "<= 2048" "$(verdict "$(get bytes_per_conn "$big_res")" "<=" 2048)"
  printf '%-52s %8s %10s %8s\n' "missed heartbeats" "$missed" "0" "$(verdict "$missed" "<=" 0)"
  printf '%-52s %8s %10s %8s\n' "probe p50, $HELD_BIG held / $HELD_SMALL held" "$p50_held" "<= 1.2" \
    "$(verdict "$p50_held" "<=" 1.2)"
  printf '%-52s %8s %10s %8s\n' "probe p99, $HELD_BIG held / $HELD_SMALL held" "$p99_held" "<= 1.2" \
    "$(verdict "$p99_held" "<=" 1.2)"
} | tee -a "$report"
