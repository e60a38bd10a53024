#!/usr/bin/env bash
# `lmutil lmstat -a` against a vendor daemon with many seats in use.
#
# One lmgrd (and vendord) on a fresh license; `lmload held` opens HELD
# connections that each keep one seat of `held` (no heartbeat during the
# run: the interval is longer than the step), and PROBES probe connections
# check f1 out and in meanwhile, measuring checkout latency. Two steps on
# the same daemon:
#   1. without lmstat: the probe's checkout p99;
#   2. with `lmutil lmstat -a` run back to back for the whole step: each
#      run's wall time (only runs that saw all HELD seats count), and the
#      probe's checkout p99 while they ran.
# Prints the median and slowest lmstat wall time and p99(2) / p99(1).
#
# Knobs (environment): HELD (19000), HELD_PROCS (4), DURATION (20 s per
# step), PROBES (2), PIN (0; 1 runs the servers on the last CPU and the
# clients on the others), KEEP (1 keeps the work directory and logs).
set -euo pipefail

HELD=${HELD:-19000}
HELD_PROCS=${HELD_PROCS:-4}
DURATION=${DURATION:-20}
PROBES=${PROBES:-2}
STEP_LIMIT=$((DURATION + 200))

BUILD_PACKAGES="-p lmgrd -p vendord -p lmload -p lmutil"
# shellcheck source=scripts/bench-common.sh
. "$(dirname "$0")/bench-common.sh"

# One held step; the heartbeat interval is an hour so none is due.
held_step() {
  load held --target "127.0.0.1:$vendor_port" --connections "$HELD" --processes "$HELD_PROCS" \
    --interval-ms 3600000 --duration "$DURATION" --hold-feature held \
    --probe-feature f1 --probe-connections "$PROBES" --probe-think-us 1000
}

# Runs `lmstat -a` until $work/stop exists; one line per run in $1:
# wall time in ms and the number of `held` seats it reported in use.
poll_lmstat() {
  local out t0 t1 in_use
  while [ ! -e "$work/stop" ]; do
    t0=$(date +%s%N)
    out=$("${client_cpus[@]}" "$bin/lmutil" lmstat -a -c "$lm_port@127.0.0.1" 2>&1 || true)
    t1=$(date +%s%N)
    in_use=$(sed -n 's/^Users of held:.*Total of \([0-9]*\) licenses\{0,1\} in use.*/\1/p' <<<"$out")
    echo "$(((t1 - t0) / 1000000)) ${in_use:-0}" >>"$1"
  done
}

say "bench-lmstat: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), $HELD seats held, pinned: ${PIN:-0}"
start_lmgrd lmstat

say "1. $HELD seats held, no lmstat"
held_step
quiet_res=$res

say "2. $HELD seats held, lmstat -a back to back"
poll_lmstat "$work/lmstat.txt" &
poller=$!
started+=("$poller")
held_step
busy_res=$res
touch "$work/stop"
wait "$poller" || true
stop_lmgrd

full=$(awk -v n="$HELD" '$2 == n { print $1 }' "$work/lmstat.txt")
runs=$(wc -l <"$work/lmstat.txt")
if [ -z "$full" ]; then
  say "no lmstat run saw all $HELD seats in use ($runs runs); see KEEP=1 logs"
  exit 1
fi
# shellcheck disable=SC2086 # one figure per line
wall_median=$(median $full)
wall_max=$(printf '%s\n' $full | sort -g | tail -1)
p99_quiet=$(get probe_p99_us "$quiet_res")
p99_busy=$(get probe_p99_us "$busy_res")
p99_ratio=$(ratio "$p99_busy" "$p99_quiet")

say "summary"
{
  printf '%-48s %12s %8s %8s\n' "figure" "value" "target" ""
  printf '%-48s %12s %8s %8s\n' "lmstat -a wall time, median ms ($(wc -w <<<"$full") of $runs runs)" \
    "$wall_median" "<= 200" "$(verdict "$wall_median" "<=" 200)"
  printf '%-48s %12s\n' "lmstat -a wall time, slowest ms" "$wall_max"
  printf '%-48s %12s\n' "checkout p99 us, without / with lmstat" "$p99_quiet / $p99_busy"
  printf '%-48s %12s %8s %8s\n' "checkout p99 with lmstat / without" "$p99_ratio" "<= 1.5" \
    "$(verdict "$p99_ratio" "<=" 1.5)"
  printf '%-48s %12s\n' "CPU of other processes, % (1 / 2)" \
    "$(get others_cpu_pct "$quiet_res") / $(get others_cpu_pct "$busy_res")"
} | tee -a "$report"
