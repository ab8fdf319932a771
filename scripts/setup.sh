#!/usr/bin/env bash
# Installs what `make run`, `make test` and `make bench` need, only what is missing, so a
# second run is fast. Everything comes from crates.io, PyPI, npm or Debian's packages.
#   scripts/setup.sh run|test|bench
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
purpose=${1:-test}

CARGO_LEPTOS_VERSION=0.3.10
WASM_BINDGEN_VERSION=$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)".*/\1/p' Cargo.toml)
[[ -n $WASM_BINDGEN_VERSION ]] || die "Cargo.toml must pin wasm-bindgen with ="

apt_updated=
apt_install() {
  [[ $(id -u) == 0 ]] || die "missing Debian package(s) $*: run 'sudo apt-get install -y $*'"
  if [[ -z $apt_updated ]]; then
    say "apt-get update"
    apt-get update -qq >&2
    apt_updated=1
  fi
  say "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

# The toolchain file names the wasm target; older rustups do not add it by themselves.
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown >&2
fi

if [[ $(cargo leptos --version 2>/dev/null) != *" $CARGO_LEPTOS_VERSION"* ]]; then
  say "installing cargo-leptos $CARGO_LEPTOS_VERSION (about 11 minutes, once)"
  cargo install --locked cargo-leptos --version "$CARGO_LEPTOS_VERSION" >&2
fi

# cargo-leptos runs whatever wasm-bindgen is on PATH; it must match the crate exactly.
if [[ $(wasm-bindgen --version 2>/dev/null) != "wasm-bindgen $WASM_BINDGEN_VERSION"* ]]; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 2 minutes, once)"
  cargo install --force wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" >&2
fi

# Release builds run wasm-opt: binaryen from npm (Debian's 108 breaks the page), in the cache.
if [[ $(wasm-opt --version 2>/dev/null) != "wasm-opt version ${BINARYEN_VERSION%%.*} "* ]]; then
  say "installing wasm-opt (npm binaryen $BINARYEN_VERSION) into $CACHE_DIR/binaryen"
  mkdir -p "$CACHE_DIR/binaryen"
  npm install --prefix "$CACHE_DIR/binaryen" --no-audit --no-fund --loglevel=error \
    "binaryen@$BINARYEN_VERSION" >&2
fi

if [[ $purpose == bench ]]; then
  command -v redis-benchmark >/dev/null || apt_install redis-tools
  command -v wrk >/dev/null || apt_install wrk
  [[ -x /usr/sbin/haproxy ]] || apt_install haproxy
fi

if [[ $purpose == test ]]; then
  [[ -x /usr/bin/chromium ]] || apt_install chromium
  # redis-tools carries Debian's Redis 7.0 server (as redis-check-rdb): the tests check that
  # we refuse it. Installing it starts no service.
  [[ -x /usr/bin/redis-check-rdb ]] || apt_install redis-tools
  # The Feast SDK (with what its remote online store needs), once; the stamp marks a venv
  # whose install finished, so an interrupted one is made again.
  if [[ ! -f $FEAST_VENV/.installed ]]; then
    python3 -c 'import ensurepip' 2>/dev/null || apt_install python3-venv
    say "installing the Feast SDK $FEAST_VERSION into $FEAST_VENV (about a minute, once)"
    rm -rf "$FEAST_VENV"
    python3 -m venv "$FEAST_VENV" >&2
    "$FEAST_VENV/bin/pip" install --quiet --disable-pip-version-check "feast==$FEAST_VERSION" >&2
    touch "$FEAST_VENV/.installed"
  fi
  # npm ci only when the lock file changed since the last install.
  stamp=end2end/node_modules/.installed-lock
  if ! cmp -s end2end/package-lock.json "$stamp" 2>/dev/null; then
    say "npm ci (end2end)"
    (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error >&2)
    cp end2end/package-lock.json "$stamp"
  fi
fi

redis_server_binary >/dev/null
