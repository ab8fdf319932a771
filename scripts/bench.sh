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

work=$(mktemp -d)
redis_pid= server_pid=
cleanup() {
  [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  [[ -n $redis_pid ]] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

redis_port=$(free_port)
"$(redis_server_binary)" --port "$redis_port" --bind 127.0.0.1 --dir "$work" \
  --save '' --appendonly no >"$work/redis.log" 2>&1 &
redis_pid=$!
wait_until 10 redis_ping "$redis_port" || die "bench Redis did not start"

app_port=$(free_port)
RUST_LOG=warn target/release/feature-store --port "$app_port" --redis-url "redis://127.0.0.1:$redis_port" \
  --no-worker --initial-users 1000 >"$work/server.log" 2>&1 &
server_pid=$!
wait_until 60 curl -sf "http://127.0.0.1:$app_port/api/health" || { cat "$work/server.log"; die "server did not start"; }

REDIS_URL="redis://127.0.0.1:$redis_port" REDIS_PORT=$redis_port \
SERVER_URL="http://127.0.0.1:$app_port" SERVER_PID=$server_pid \
  cargo bench --bench paths --locked
