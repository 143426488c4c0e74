#!/usr/bin/env bash
# Installs what is missing, builds, and runs the proxy overhead benchmark
# (direct vs nginx vs swapgate). Arguments go to bench/overhead.py (--rounds, --scale).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh" "$root/bench/packages.txt"
"$root/scripts/build.sh"
exec python3 "$root/bench/overhead.py" "$@"
