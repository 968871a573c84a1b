#!/usr/bin/env bash
# The whole test suite on a fresh machine: set up, then pytest (unit, real models, browser).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec python3 -m pytest "$@"
