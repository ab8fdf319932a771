#!/usr/bin/env bash
# `make test`: unit and integration tests against a private throwaway Redis, then Playwright
# against a server on a free port. Never touches a Redis the user runs; cleans up on any exit.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
scripts/setup.sh test

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
wait_until 10 redis_ping "$redis_port" || { cat "$work/redis.log"; die "test Redis did not start"; }
export REDIS_URL="redis://127.0.0.1:$redis_port"
REDIS_SERVER_BIN=$(redis_server_binary)
OLD_REDIS_SERVER_BIN=$(old_redis_server_binary)
export REDIS_SERVER_BIN OLD_REDIS_SERVER_BIN
say "private test Redis on port $redis_port"

say "unit and integration tests"
cargo test --locked

say "building the app for the end-to-end tests"
cargo leptos build

app_port=$(free_port)
# Short TTLs so the browser tests can watch things expire.
target/debug/feature-store --port "$app_port" --key-prefix "e2e:user:" \
  --streaming-ttl-seconds 3 --tick-seconds 1 --users-per-tick 200 >"$work/server.log" 2>&1 &
server_pid=$!
health() { curl -sf "http://127.0.0.1:$app_port/api/health"; }
wait_until 60 health || { cat "$work/server.log"; die "the app did not come up"; }

say "end-to-end tests (Playwright, headless Chromium)"
status=0
(cd end2end && BASE_URL="http://127.0.0.1:$app_port" npx playwright test) || status=$?
if (( status != 0 )); then
  say "server log:"; tail -n 50 "$work/server.log" >&2
fi
exit "$status"
