#!/usr/bin/env bash
# `make bench`: a private Redis, release builds of the server, and benches/paths.rs measuring
# every hot path against redis-benchmark's floor, at 200 and at 1,000,000 stored entities, and
# `build-features materialize` of 1,000,000 and 10,000,000 Parquet rows.
# Report: target/bench/report.{md,json}.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
scripts/setup.sh bench

say "release build of the server and the benchmark"
leptos_release build
cargo build --release --locked --bin build-features 2>&1 | tail -n 1 >&2
cargo bench --bench paths --no-run --locked 2>&1 | tail -n 1 >&2

start_private_redis
# Two servers on one Redis: 200 entities in database 0, 1,000,000 (loaded by the bench) in
# database 1, so each one's SCAN walks only its own store.
RUST_LOG=warn start_private_app target/release/feature-store \
  --redis-url "redis://127.0.0.1:$REDIS_PORT" --no-worker --initial-users 200
SMALL_URL="http://127.0.0.1:$APP_PORT" SMALL_PID=$APP_PID
RUST_LOG=warn start_private_app target/release/feature-store \
  --redis-url "redis://127.0.0.1:$REDIS_PORT/1" --no-worker --initial-users 0
LARGE_URL="http://127.0.0.1:$APP_PORT" LARGE_PID=$APP_PID

# A registry of 64 batch features, for the largest legal read (1,000 entities × 64 features).
WIDE_FEATURES="$PRIVATE_DIR/wide.toml"
{
  printf '[entity]\nname = "user"\njoin_key = "user_id"\nkey_prefix = "wide:user:"\n\n'
  printf '[[views]]\nname = "wide"\nkind = "batch"\nttl_seconds = 86400\nfeatures = [\n'
  for n in $(seq -w 0 63); do printf '  { name = "f%s", type = "int" },\n' "$n"; done
  printf ']\n'
} >"$WIDE_FEATURES"
RUST_LOG=warn start_private_app target/release/feature-store \
  --redis-url "redis://127.0.0.1:$REDIS_PORT/2" --features "$WIDE_FEATURES" --no-worker --initial-users 200
WIDE_URL="http://127.0.0.1:$APP_PORT" WIDE_PID=$APP_PID

start_private_cluster 0
CLUSTER_NO_REPLICAS_URL=$CLUSTER_URL
start_private_cluster

REDIS_URL="redis://127.0.0.1:$REDIS_PORT" REDIS_PORT=$REDIS_PORT CLUSTER_URL=$CLUSTER_URL \
CLUSTER_NO_REPLICAS_URL=$CLUSTER_NO_REPLICAS_URL \
SMALL_URL=$SMALL_URL SMALL_PID=$SMALL_PID LARGE_URL=$LARGE_URL LARGE_PID=$LARGE_PID \
WIDE_URL=$WIDE_URL WIDE_PID=$WIDE_PID \
  cargo bench --bench paths --locked
