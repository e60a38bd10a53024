#!/usr/bin/env bash
# Triad benchmark (docs/benchmarks.md, "Triad"): failover time after
# SIGKILL of the master, and checkout+checkin throughput of a triad master
# against a single server in the same run. Three lmgrd run on 127.0.0.1,
# 127.0.0.2 and 127.0.0.3 (loopback only).
#
# Environment (default): ROUNDS (5) failovers, HOLDERS (10) applications
# holding a seat through each, CONNS (1000, as in the serving benchmark) load connections, STEP_SECONDS (10)
# per throughput step (STEP_SECONDS), STORM (0: none) holders of a reconnect
# storm over STORM_PROCS (4) processes (`lmload storm`).
#
# Usage: scripts/bench-triad.sh   (from anywhere; builds release binaries)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release --quiet --manifest-path "$root/Cargo.toml" \
  -p lmgrd -p vendord -p lmload -p lmutil -p client -p e2e
timeout 900 "$root/target/release/triad-bench" \
  --rounds "${ROUNDS:-5}" --holders "${HOLDERS:-10}" \
  --conns "${CONNS:-1000}" --seconds "${STEP_SECONDS:-10}" \
  --storm "${STORM:-0}" --storm-procs "${STORM_PROCS:-4}"
