#!/usr/bin/env bash
# `make run`: build in release mode and serve on 127.0.0.1:8093, backed by REDIS_URL or, when
# that is unset, by the project's own dev Redis.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
scripts/setup.sh run
if [[ -z ${REDIS_URL:-} ]]; then
  scripts/redis.sh start
  REDIS_URL=$(scripts/redis.sh url)
  export REDIS_URL
fi
leptos_release serve -- "$@"
