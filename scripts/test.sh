#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (unit, integration over
# loopback with child processes, end-to-end with the official openai SDK).
# Idempotent; quick when nothing changed. Extra arguments go to ctest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"

# The openai npm package for the end-to-end test, installed from the lock file.
e2e="$root/tests/e2e"
stamp="$e2e/node_modules/.swapgate-lock"
if [ ! -f "$stamp" ] || ! cmp -s "$e2e/package-lock.json" "$stamp"; then
  echo "swapgate: installing the openai SDK for the end-to-end test" >&2
  (cd "$e2e" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$e2e/package-lock.json" "$stamp"
fi

build=${SWAPGATE_BUILD_DIR:-$root/build}
ctest --test-dir "$build" --output-on-failure --timeout 300 -j "${SWAPGATE_TEST_JOBS:-2}" "$@"
