#!/usr/bin/env bash
# Fuzzes the license-file front end (grammar/fuzz, target parse_license).
#
#   scripts/fuzz.sh [SECONDS] [extra libFuzzer options...]
#
# SECONDS defaults to 600. The growing corpus lives in
# grammar/fuzz/corpus/parse_license (git-ignored) and starts from the
# hand-written snippets in grammar/fuzz/seeds; crashes land in
# grammar/fuzz/artifacts/parse_license. Needs cargo-fuzz; nightly features
# come from RUSTC_BOOTSTRAP, so a stable toolchain is enough.
set -euo pipefail

secs="${1:-600}"
shift || true

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root/grammar"

corpus="fuzz/corpus/parse_license"
mkdir -p "$corpus"

export RUSTC_BOOTSTRAP=1
exec cargo fuzz run parse_license "$corpus" fuzz/seeds -- \
    -max_total_time="$secs" \
    -dict=fuzz/license.dict \
    -max_len=4096 \
    -timeout=20 \
    -print_final_stats=1 \
    "$@"
