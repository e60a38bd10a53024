# Shared by the serving benchmarks (bench-serving.sh, bench-lmstat.sh):
# source it after setting STEP_LIMIT, and BUILD_PACKAGES (the -p flags of
# the release build). It builds the binaries, makes the work directory
# (removed on exit unless KEEP=1) and defines the helpers below.

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
server_cpus=()
client_cpus=()
if [ "${PIN:-0}" = 1 ] && [ "$(nproc)" -ge 2 ]; then
  last=$(($(nproc) - 1))
  server_cpus=(taskset -c "$last")
  client_cpus=(taskset -c "0-$((last - 1))")
fi
bin="$root/target/release"
# shellcheck disable=SC2086 # BUILD_PACKAGES is a list of flags
cargo build --release --quiet --manifest-path "$root/Cargo.toml" $BUILD_PACKAGES

work=$(mktemp -d "${TMPDIR:-/tmp}/$(basename "$0" .sh).XXXXXX")
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
  out=$(timeout "$STEP_LIMIT" "${client_cpus[@]}" "$bin/lmload" "$@" 2>&1) || {
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
# lmgrd_pid, lm_port and vendor_port.
start_lmgrd() {
  local dir="$work/$1"
  lm_port=$(port)
  vendor_port=$(port)
  while [ "$vendor_port" = "$lm_port" ]; do vendor_port=$(port); done
  "$bin/lmload" license --dir "$dir" --port "$lm_port" --vendor-port "$vendor_port" \
    --features f1,held --seats 100000 >/dev/null
  LM_PUBLIC_KEY_PATH="$dir" "${server_cpus[@]}" "$bin/lmgrd" -z -c "$dir/lmload.lic" \
    -l "$dir/debug.log" &
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
