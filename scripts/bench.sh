#!/usr/bin/env bash
# `make bench`: a private Redis, a release build of the server, and benches/paths.rs measuring
# every hot path against redis-benchmark's floor. Report: target/bench/report.{md,json}.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
scripts/setup.sh bench

say "release build of the server and the benchmark"
cargo leptos build --release
cargo bench --bench paths --no-run --locked 2>&1 | tail -n 1 >&2

start_private_redis
RUST_LOG=warn start_private_app target/release/feature-store \
  --redis-url "redis://127.0.0.1:$REDIS_PORT" --no-worker --initial-users 1000

REDIS_URL="redis://127.0.0.1:$REDIS_PORT" REDIS_PORT=$REDIS_PORT \
SERVER_URL="http://127.0.0.1:$APP_PORT" SERVER_PID=$APP_PID \
  cargo bench --bench paths --locked
