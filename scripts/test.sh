#!/usr/bin/env bash
# `make test`: unit and integration tests against a private throwaway Redis, then Playwright
# against a server on a free port. Never touches a Redis the user runs; cleans up on any exit.
# `scripts/test.sh it` runs only the first part (`make test-it`), `scripts/test.sh e2e` only the
# second (`make e2e`).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
part=${1:-all}
[[ $part == all || $part == it || $part == e2e ]] || die "usage: scripts/test.sh [all|it|e2e]"
scripts/setup.sh test

start_private_redis
export REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
REDIS_SERVER_BIN=$(redis_server_binary)
OLD_REDIS_SERVER_BIN=$(old_redis_server_binary)
export REDIS_SERVER_BIN OLD_REDIS_SERVER_BIN
say "private test Redis on port $REDIS_PORT"
start_private_cluster
export REDIS_CLUSTER_URL=$CLUSTER_URL
say "private test Redis Cluster: $REDIS_CLUSTER_URL"

if [[ $part != e2e ]]; then
  say "unit and integration tests"
  cargo test --locked
fi
[[ $part != it ]] || exit 0

say "release build of the app for the end-to-end tests (what make run serves)"
leptos_release build

# Short TTLs so the browser tests can watch things expire; every user streamed every tick.
start_private_app target/release/feature-store --key-prefix "e2e:user:" \
  --streaming-ttl-seconds 3 --tick-seconds 1 --users-per-tick 200

E2E_APP_PORT=$APP_PORT E2E_APP_LOG=$APP_LOG
# The same app on the cluster, for the one story that runs there.
start_private_app target/release/feature-store --redis-url "$REDIS_CLUSTER_URL" \
  --key-prefix "e2e:cluster:" --no-worker
CLUSTER_APP_PORT=$APP_PORT

# A Redis of its own, which one story stops and starts again under a running page.
DOWN_REDIS_PORT=$(free_port)
down_redis=("$REDIS_SERVER_BIN" --port "$DOWN_REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no
  --dir "$PRIVATE_DIR" --logfile "$PRIVATE_DIR/down-redis.log" --daemonize yes
  --pidfile "$PRIVATE_DIR/down-redis.pid")
"${down_redis[@]}"
wait_until 10 redis_ping "$DOWN_REDIS_PORT" || die "the story's Redis did not start"
start_private_app target/release/feature-store --redis-url "redis://127.0.0.1:$DOWN_REDIS_PORT" \
  --key-prefix "e2e:down:" --initial-users 50
DOWN_APP_PORT=$APP_PORT

# A server that one story stops (SIGTERM) and starts again under a running page: the story runs
# GONE_APP_START and leaves the new process's pid in a pid file, stopped on exit (lib.sh).
start_private_app target/release/feature-store --key-prefix "e2e:gone:" --initial-users 20
GONE_APP_PORT=$APP_PORT GONE_APP_PID=$APP_PID
GONE_APP_START="exec $(printf '%q ' "$ROOT/target/release/feature-store" --port "$APP_PORT" \
  --key-prefix e2e:gone: --initial-users 20) >>$(printf '%q' "$APP_LOG") 2>&1"

# Without a worker, for the Feast SDK: what it reads back is what was written. Its batch view
# has a source, the Parquet file the SDK check writes first, for `feast materialize`.
FEAST_SOURCE="$PRIVATE_DIR/feast-source"
mkdir -p "$FEAST_SOURCE"
"$FEAST_VENV/bin/python" tests/feast/client.py --write-source "$FEAST_SOURCE"
start_private_app target/release/feature-store --key-prefix "feast:user:" --no-worker \
  --features "$FEAST_SOURCE/features.toml"
FEAST_APP_PORT=$APP_PORT FEAST_APP_LOG=$APP_LOG

say "end-to-end tests (Playwright, headless Chromium)"
status=0
(cd end2end && BASE_URL="http://127.0.0.1:$E2E_APP_PORT" HASHED_ASSETS=1 \
  CLUSTER_BASE_URL="http://127.0.0.1:$CLUSTER_APP_PORT" \
  FEAST_BASE_URL="http://127.0.0.1:$FEAST_APP_PORT" \
  DOWN_BASE_URL="http://127.0.0.1:$DOWN_APP_PORT" DOWN_REDIS_PORT=$DOWN_REDIS_PORT \
  DOWN_REDIS_START="$(printf '%q ' "${down_redis[@]}")" \
  GONE_BASE_URL="http://127.0.0.1:$GONE_APP_PORT" GONE_APP_PID=$GONE_APP_PID \
  GONE_APP_START="$GONE_APP_START" GONE_APP_PIDFILE="$PRIVATE_DIR/gone-app.pid" \
  npx playwright test) || status=$?
if (( status != 0 )); then
  say "server log:"; tail -n 50 "$E2E_APP_LOG" >&2
  say "cluster server log:"; tail -n 20 "$APP_LOG" >&2
fi

say "the Feast SDK $FEAST_VERSION against the server (tests/feast/client.py)"
(cd "$PRIVATE_DIR" && "$FEAST_VENV/bin/python" "$ROOT/tests/feast/client.py" \
  "http://127.0.0.1:$FEAST_APP_PORT" "$FEAST_SOURCE" >"$PRIVATE_DIR/feast-client.log" 2>&1) || {
  status=1
  tail -n 30 "$PRIVATE_DIR/feast-client.log" >&2
  say "server log:"; tail -n 20 "$FEAST_APP_LOG" >&2
}
[[ $status != 0 ]] || say "$(tail -n 1 "$PRIVATE_DIR/feast-client.log")"
exit "$status"
