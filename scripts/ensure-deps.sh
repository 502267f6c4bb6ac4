#!/usr/bin/env bash
# Installs the npm dependencies when they are missing or older than the lock file, so that the
# README's two commands work on a fresh clone.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
