#!/usr/bin/env bash
# Installs what is missing, builds, and runs swapgate with the default config
# (config/swapgate.yaml). Unless SWAPGATE_DEMO=0, it first starts swapgate-sim on
# 127.0.0.1:8090 serving the demo models, so everything works with no GPU and no key.
# Extra arguments go to swapgate (e.g. --listen 0.0.0.0:8000).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
bin="${SWAPGATE_BUILD_DIR:-$root/build}/bin"
config=${SWAPGATE_CONFIG:-$root/config/swapgate.yaml}

sim_pid=""
cleanup() { [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null || true; }
trap cleanup EXIT
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
