#!/usr/bin/env bash
# The project's own dev Redis (>= 7.4): its own port and data dir, reused while it runs.
#   scripts/redis.sh start|stop|url
set -euo pipefail
source "$(dirname "$0")/lib.sh"

PORT=${FS_REDIS_PORT:-6390}
DATA="$ROOT/.redis"
PIDFILE="$DATA/redis.pid"

ours_running() { [[ -f $PIDFILE ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

case ${1:-start} in
  start)
    if ours_running && redis_ping "$PORT"; then
      say "dev Redis already running on port $PORT"
    else
      redis_ping "$PORT" && die "port $PORT is taken by another server; set FS_REDIS_PORT or REDIS_URL"
      bin=$(redis_server_binary)
      mkdir -p "$DATA"
      "$bin" --port "$PORT" --bind 127.0.0.1 --dir "$DATA" --daemonize yes \
        --pidfile "$PIDFILE" --logfile "$DATA/redis.log" --save 60 1000 >/dev/null
      wait_until 10 redis_ping "$PORT" || die "dev Redis did not start; see $DATA/redis.log"
      say "dev Redis $("$bin" --version | sed -n 's/.*v=\([0-9.]*\).*/\1/p') on port $PORT (data in .redis/)"
    fi
    ;;
  stop)
    if ours_running; then
      kill "$(cat "$PIDFILE")"
      wait_until 10 bash -c "! kill -0 $(cat "$PIDFILE") 2>/dev/null" || die "dev Redis did not stop"
      say "dev Redis stopped"
    else
      say "dev Redis is not running"
    fi
    ;;
  url) echo "redis://127.0.0.1:$PORT" ;;
  *) die "usage: scripts/redis.sh start|stop|url" ;;
esac
