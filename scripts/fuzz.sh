#!/usr/bin/env bash
# Fuzzes the decoders of untrusted bytes (docs/security.md lists them).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...] [-- extra libFuzzer options...]
#   scripts/fuzz.sh --list
#
# SECONDS (default 600) is per target; with no TARGET every target runs,
# one after the other. Targets:
#   parse_license   license files (grammar/fuzz)
#   wire            frames and messages (MessageDecoder, Message::decode)
#   options         options files
#   triad           the triad's codec, proposal batches, replicated batches
#   reportlog       report-log records
#   borrow          borrow records (vendord's store, the client's store)
#   signed_content  grant proofs: signed content, SIGN= values, the check
#
# Each target's growing corpus lives in <crate>/corpus/<target> (git-ignored)
# and starts from <crate>/seeds/<target>; crashes land in
# <crate>/artifacts/<target>, and the script exits non-zero. cargo-fuzz is
# installed when missing; nightly features come from RUSTC_BOOTSTRAP, so a
# stable toolchain is enough.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
all=(parse_license wire options triad reportlog borrow signed_content)

if [ "${1:-}" = "--list" ]; then
  printf '%s\n' "${all[@]}"
  exit 0
fi

secs=600
if [[ "${1:-}" =~ ^[0-9]+$ ]]; then
  secs="$1"
  shift
fi
targets=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  targets+=("$1")
  shift
done
[ "${1:-}" = "--" ] && shift
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1

for target in "${targets[@]}"; do
  case "$target" in
    parse_license)
      dir="$root/grammar/fuzz"
      seeds="$dir/seeds"
      extra=(-dict="$dir/license.dict")
      ;;
    wire | options | triad | reportlog | borrow | signed_content)
      dir="$root/fuzz"
      seeds="$dir/seeds/$target"
      extra=()
      ;;
    *)
      echo "fuzz.sh: no target $target (try --list)" >&2
      exit 2
      ;;
  esac
  corpus="$dir/corpus/$target"
  mkdir -p "$corpus"
  echo "fuzz.sh: $target for ${secs}s" >&2
  # -malloc_limit_mb: one allocation over 64 MB is a failure (no decoder
  # may size a buffer from a peer's length field).
  (cd "$dir" && cargo fuzz run "$target" "$corpus" "$seeds" -- \
    -max_total_time="$secs" \
    -max_len=4096 \
    -timeout=20 \
    -rss_limit_mb=2048 \
    -malloc_limit_mb=64 \
    -print_final_stats=1 \
    ${extra[@]+"${extra[@]}"} \
    "$@")
done
