#!/usr/bin/env bash
# npm test: every test under Node (node dist/kubexit.js), then every test that runs kubexit as a
# process again against the packaged x64 executable (KUBEXIT_BIN), when this machine can run it.
set -euo pipefail
cd "$(dirname "$0")/.."
node --test build/test/*.test.js
exe=$PWD/dist/bin/kubexit-linux-$(node -p process.arch)
if [[ -x $exe ]] && "$exe" --version >/dev/null 2>&1; then
  echo "== again, against $exe"
  KUBEXIT_BIN=$exe node --test build/test/e2e-*.test.js build/test/k8s-birth.test.js build/test/k8s-apiserver.test.js
elif [[ ${CI:-} == true ]]; then
  echo "CI=true and no runnable executable at $exe" >&2
  exit 1
fi
