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
#      and vendord's VmRSS per held connection; and HELD_SMALL again with the
#      interval shortened so that they send as many heartbeats per second as
#      HELD_BIG do: against that step the probe shows what the number of held
#      connections costs, apart from the traffic they make;
# then a summary table against the targets. Each lmgrd gets a fresh license
# (signed at run time with the demo key) and starts a fresh vendord. Every
# step reports how much CPU other processes took meanwhile; a step during
# which they took more than BUSY_MAX percent of the machine is repeated (at
# most TRIES times for a held step, at most 2 x ROUNDS rounds in step 1) and
# the figures count only quiet steps when there are any.
#
# Environment (default): DURATION (10) measured seconds per step, WARMUP (2),
# ROUNDS (3), CONNS (1000), RUN_PROCS (1) client processes for step 1,
# HELD_SMALL (1000), HELD_BIG (19000), HELD_PROCS (4), INTERVAL_MS (5000),
# PROBES (2), BUSY_MAX (10), TRIES (3), PIN (0; 1 runs the servers on the
# last CPU and lmload on the others, with taskset), KEEP=1 keeps the work
# directory (licenses, debug logs, raw reports).
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
BUSY_MAX=${BUSY_MAX:-10}
TRIES=${TRIES:-3}
PIN=${PIN:-0}
# No lmload invocation may take longer than this many seconds.
STEP_LIMIT=$((DURATION + WARMUP + 150))

BUILD_PACKAGES="-p lmgrd -p vendord -p lmload"
# shellcheck source=scripts/bench-common.sh
. "$(dirname "$0")/bench-common.sh"

# Whether other processes stayed under BUSY_MAX during the step of RESULT $1.
quiet() { awk -v o="$(get others_cpu_pct "$1")" -v m="$BUSY_MAX" 'BEGIN { exit !(o <= m) }'; }

say "bench-serving: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), open files $(ulimit -n), $(uname -sr), pinned: $PIN"

echo_port=$(port)
"${server_cpus[@]}" "$bin/lmload" echo-server --port "$echo_port" 2>/dev/null &
echo_pid=$!
started+=("$echo_pid")
start_lmgrd license
license_log="$work/license/debug.log"

echo_rows=()
lic_rows=()
rps_ratios=()
p99_ratios=()
quiet_rps=()
quiet_p99=()
r=0
while [ ${#quiet_rps[@]} -lt "$ROUNDS" ] && [ "$r" -lt $((2 * ROUNDS)) ]; do
  r=$((r + 1))
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
  if quiet "${echo_rows[-1]}" && quiet "$res"; then
    quiet_rps+=("${rps_ratios[-1]}")
    quiet_p99+=("${p99_ratios[-1]}")
  fi
done
rounds_done=$r
if [ ${#quiet_rps[@]} -gt 0 ]; then
  rounds_note="median of ${#quiet_rps[@]} quiet round(s) of $rounds_done"
else
  quiet_rps=("${rps_ratios[@]}")
  quiet_p99=("${p99_ratios[@]}")
  rounds_note="median of $rounds_done rounds, NONE quiet"
fi
log_lines=$(grep -c '(demo) \(OUT\|IN\):' "$license_log" || true)
log_size=$(du -h "$license_log" | cut -f1)
say "vendord debug log: $log_lines OUT/IN lines, $log_size"
stop_lmgrd
kill -TERM "$echo_pid" 2>/dev/null || true

# One held step ($1 connections, heartbeat every $2 ms), repeated while other
# processes were busy (at most TRIES times); keeps the quietest.
held() {
  local best="" t
  for t in $(seq "$TRIES"); do
    start_lmgrd "held-$1-$2-$t"
    load held --target "127.0.0.1:$vendor_port" --connections "$1" --processes "$HELD_PROCS" \
      --interval-ms "$2" --duration "$DURATION" --hold-feature held \
      --probe-feature f1 --probe-connections "$PROBES" --probe-think-us 1000
    stop_lmgrd
    if [ -z "$best" ] || [ "$(get others_cpu_pct "$res")" -lt "$(get others_cpu_pct "$best")" ]; then
      best=$res
    fi
    quiet "$res" && break
  done
  res=$best
}

# The interval at which HELD_SMALL connections make HELD_BIG's heartbeat rate.
same_rate_ms=$(((INTERVAL_MS * HELD_SMALL + HELD_BIG / 2) / HELD_BIG))
[ "$same_rate_ms" -ge 1 ] || same_rate_ms=1
say "2. held connections: $HELD_SMALL, heartbeat every $INTERVAL_MS ms"
held "$HELD_SMALL" "$INTERVAL_MS"
small_res=$res
say "3. held connections: $HELD_SMALL, heartbeat every $same_rate_ms ms (the rate of $HELD_BIG)"
held "$HELD_SMALL" "$same_rate_ms"
rate_res=$res
say "4. held connections: $HELD_BIG, heartbeat every $INTERVAL_MS ms"
held "$HELD_BIG" "$INTERVAL_MS"
big_res=$res

rps_ratio=$(median "${quiet_rps[@]}")
p99_ratio=$(median "${quiet_p99[@]}")
p50_held=$(ratio "$(get probe_p50_us "$big_res")" "$(get probe_p50_us "$rate_res")")
p99_held=$(ratio "$(get probe_p99_us "$big_res")" "$(get probe_p99_us "$rate_res")")
p50_interval=$(ratio "$(get probe_p50_us "$big_res")" "$(get probe_p50_us "$small_res")")
p99_interval=$(ratio "$(get probe_p99_us "$big_res")" "$(get probe_p99_us "$small_res")")
missed=$(($(get hb_missed "$small_res") + $(get hb_missed "$rate_res") + $(get hb_missed "$big_res")))

{
  echo
  echo "Summary (${DURATION} s per step; 'other' is CPU taken by other processes, % of the machine)"
  printf '%-32s %10s %9s %9s %11s %9s %6s\n' "step" "req/s" "p50 us" "p99 us" "server CPU" "us/req" "other"
  for r in $(seq "$rounds_done"); do
    for row in "${echo_rows[r - 1]}" "${lic_rows[r - 1]}"; do
      printf '%-32s %10s %9s %9s %10s%% %9s %5s%%\n' "$r. $(get mode "$row"), $(get conns "$row") conns" \
        "$(get rps "$row")" "$(get p50_us "$row")" "$(get p99_us "$row")" \
        "$(get server_cpu_pct "$row")" "$(get server_us_per_req "$row")" "$(get others_cpu_pct "$row")"
    done
  done
  for row in "$small_res" "$rate_res" "$big_res"; do
    printf '%-32s %10s %9s %9s %10s%% %9s %5s%%\n' \
      "probe, $(get conns "$row") held, hb $(get hb_per_s "$row")/s" \
      "$(get probe_rps "$row")" "$(get probe_p50_us "$row")" "$(get probe_p99_us "$row")" \
      "$(get server_cpu_pct "$row")" "" "$(get others_cpu_pct "$row")"
  done
  echo "ratios per round (license/echo): req/s ${rps_ratios[*]}; p99 ${p99_ratios[*]}"
  echo
  printf '%-8s %9s %15s %13s %11s %9s %10s %12s\n' "held" "set-up s" "RSS before KiB" \
    "RSS held KiB" "bytes/conn" "hb sent" "hb missed" "slowest ack"
  for row in "$small_res" "$rate_res" "$big_res"; do
    printf '%-8s %9s %15s %13s %11s %9s %10s %9s ms\n' "$(get established "$row")" \
      "$(get setup_s "$row")" "$(get rss_before_kib "$row")" "$(get rss_held_kib "$row")" \
      "$(get bytes_per_conn "$row")" "$(get hb_sent "$row")" "$(get hb_missed "$row")" \
      "$(get hb_max_ms "$row")"
  done
  echo
  printf '%-52s %8s %10s %8s\n' "target" "measured" "goal" "status"
  echo "(ratios: $rounds_note; held steps: other processes $(get others_cpu_pct "$small_res")%, $(get others_cpu_pct "$rate_res")% and $(get others_cpu_pct "$big_res")%)"
  printf '%-52s %8s %10s %8s\n' "license req/s / echo req/s" "$rps_ratio" \
    ">= 0.7" "$(verdict "$rps_ratio" ">=" 0.7)"
  printf '%-52s %8s %10s %8s\n' "license p99 / echo p99" "$p99_ratio" \
    "<= 1.5" "$(verdict "$p99_ratio" "<=" 1.5)"
  printf '%-52s %8s %10s %8s\n' "bytes per held connection ($HELD_BIG held)" \
    "$(get bytes_per_conn "$big_res")" "<= 2048" "$(verdict "$(get bytes_per_conn "$big_res")" "<=" 2048)"
  printf '%-52s %8s %10s %8s\n' "missed heartbeats" "$missed" "0" "$(verdict "$missed" "<=" 0)"
  printf '%-52s %8s %10s %8s\n' "probe p50, $HELD_BIG held / $HELD_SMALL, same hb rate" "$p50_held" \
    "<= 1.2" "$(verdict "$p50_held" "<=" 1.2)"
  printf '%-52s %8s %10s %8s\n' "probe p99, $HELD_BIG held / $HELD_SMALL, same hb rate" "$p99_held" \
    "<= 1.2" "$(verdict "$p99_held" "<=" 1.2)"
  printf '%-52s %8s\n' "(probe p50, same interval: $((HELD_BIG / HELD_SMALL))x the heartbeats)" "$p50_interval"
  printf '%-52s %8s\n' "(probe p99, same interval: $((HELD_BIG / HELD_SMALL))x the heartbeats)" "$p99_interval"
} | tee -a "$report"
