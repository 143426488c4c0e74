#!/usr/bin/env bash
# Installs what is missing, builds, and runs swapgate with the default config
# (config/swapgate.yaml). Unless SWAPGATE_DEMO=0, it first starts swapgate-sim on
# 127.0.0.1:8090 serving the demo models, so everything works with no GPU and no key.
# It also starts a local redis-server for the response cache when one is
# installed and nothing listens on 127.0.0.1:6379 (SWAPGATE_REDIS overrides,
# SWAPGATE_REDIS=none uses the in-process store).
# Extra arguments go to swapgate (e.g. --listen 0.0.0.0:8000).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
bin="${SWAPGATE_BUILD_DIR:-$root/build}/bin"
config=${SWAPGATE_CONFIG:-$root/config/swapgate.yaml}

export SWAPGATE_BIN_DIR="$bin"   # the default config's swap demo starts swapgate-sim from here

sim_pid=""
redis_pid=""
cleanup() {
  [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null || true
  [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null || true
}
trap cleanup EXIT
if [ "${SWAPGATE_REDIS:-}" = none ]; then
  export SWAPGATE_REDIS=""
elif [ -z "${SWAPGATE_REDIS:-}" ] && command -v redis-server >/dev/null; then
  if (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
    echo "swapgate: using the Redis on 127.0.0.1:6379 for the response cache" >&2
  else
    redis-server --port 6379 --bind 127.0.0.1 --save "" --appendonly no --daemonize no --loglevel warning >/dev/null &
    redis_pid=$!
    for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null && break; sleep 0.1; done
    echo "swapgate: started redis-server on 127.0.0.1:6379 (pid $redis_pid) for the response cache" >&2
  fi
  export SWAPGATE_REDIS=redis://127.0.0.1:6379/0
fi
if [ "${SWAPGATE_DEMO:-1}" = 1 ]; then
  sim_port=${SWAPGATE_SIM_PORT:-8090}
  if (exec 3<>"/dev/tcp/127.0.0.1/$sim_port") 2>/dev/null; then
    echo "swapgate: port $sim_port is in use; assuming the demo model server already runs there" >&2
  else
    "$bin/swapgate-sim" --listen "127.0.0.1:$sim_port" --quiet \
      --model demo-small,tps=40,ttft_ms=80 \
      --model demo-large,tps=12,ttft_ms=400 \
      --model demo-embed,dims=256 >/dev/null &
    sim_pid=$!
    echo "swapgate: demo models (swapgate-sim) on 127.0.0.1:$sim_port, pid $sim_pid" >&2
  fi
fi
"$bin/swapgate" --config "$config" "$@"
