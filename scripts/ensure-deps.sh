#!/usr/bin/env bash
# Installs the npm dependencies when they are missing or were installed from another lock file,
# so that the README's two commands work on a fresh clone. The lock file's hash, not its mtime,
# says so: a checkout (a clone, a git worktree) makes every file new.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=node_modules/.kubexit-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ ! -f node_modules/.package-lock.json || ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  npm ci --no-audit --no-fund --loglevel=error >&2
  echo "$want" >"$stamp"
fi
