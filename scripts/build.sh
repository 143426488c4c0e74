#!/usr/bin/env bash
# Configures (once) and builds swapgate into build/ with Ninja. Quick when nothing changed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${SWAPGATE_BUILD_DIR:-$root/build}
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja ${SWAPGATE_CMAKE_ARGS:-}
fi
# Builds of this tree serialise on one lock: the machine has 2 cores.
flock /tmp/swapgate-build.lock cmake --build "$build" -- ${SWAPGATE_NINJA_ARGS:-}
