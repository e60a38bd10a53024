#!/usr/bin/env bash
# Descriptor exhaustion at full scale (the hardening's "never wedge"):
# TOTAL idle connections from PROCS processes, each on its own loopback
# source address (127.0.1.N; a process holds at most 20,000 descriptors
# here), first at lmgrd's port, then at the vendor daemon's. While they are
# held, and again once they are all closed, it times how long a new client
# takes to be served: `lmutil lmstat -a`, which asks lmgrd and then the
# vendor daemon, run until it succeeds (at most 10 s). Loopback only;
# bounded in count (TOTAL) and time (each step at most STEP_LIMIT s).
#
# Knobs (environment): TOTAL (20000), PROCS (5), KEEP (1 keeps the work
# directory and logs).
set -euo pipefail

TOTAL=${TOTAL:-20000}
PROCS=${PROCS:-5}
STEP_LIMIT=120
BUILD_PACKAGES="-p lmgrd -p vendord -p lmload -p lmutil"
# shellcheck source=scripts/bench-common.sh
. "$(dirname "$0")/bench-common.sh"

# Milliseconds until `lmstat -a` succeeds, or "never" after 10 s.
served_in() {
  local t0 t1
  t0=$(date +%s%N)
  while true; do
    if "$bin/lmutil" lmstat -a -c "$lm_port@127.0.0.1" >/dev/null 2>&1; then
      t1=$(date +%s%N)
      echo "$(((t1 - t0) / 1000000)) ms"
      return
    fi
    if [ $(($(date +%s%N) - t0)) -gt 10000000000 ]; then
      echo never
      return
    fi
    sleep 0.01
  done
}

peak_rss() { awk '/VmHWM/ { print $2 / 1024 " MiB" }' "/proc/$1/status"; }

say "bench-wedge: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), $TOTAL idle connections from $PROCS processes"
start_lmgrd wedge
vendord_pid=$(pgrep -P "$lmgrd_pid" | head -n 1)
say "lmgrd port $lm_port, vendor daemon port $vendor_port; open-file limit (hard) $(ulimit -Hn)"

for target in lmgrd:$lm_port vendord:$vendor_port; do
  name=${target%%:*}
  tport=${target##*:}
  say "$name: $TOTAL idle connections"
  coproc FLOOD { timeout "$STEP_LIMIT" python3 "$root/scripts/flood_idle.py" "$tport" "$TOTAL" "$PROCS"; }
  held=0
  refused=0
  for _ in $(seq "$PROCS"); do
    read -r line <&"${FLOOD[0]}"
    held=$((held + $(awk '{ print $2 }' <<<"$line")))
    refused=$((refused + $(awk '{ print $4 }' <<<"$line")))
  done
  say "  held by the $name: $held, refused by it: $refused"
  say "  a new client while they are held: $(served_in)"
  echo go >&"${FLOOD[1]}"
  read -r _ <&"${FLOOD[0]}"
  wait "$FLOOD_PID" || true
  say "  a new client once they are closed: $(served_in)"
done
say "peak RSS: lmgrd $(peak_rss "$lmgrd_pid"), vendor daemon $(peak_rss "$vendord_pid")"
say "the daemons' notes on refusals:"
grep -iE "refus|no more|descriptor|limit" "$work/wedge/debug.log" | head -n 20 | tee -a "$report"
kill -0 "$lmgrd_pid" && kill -0 "$vendord_pid" && say "both daemons still running"
