#!/usr/bin/env bash
# A local pipeline of kubexit-wrapped processes sharing a graveyard, as containers of a Job's
# pod would, with no Kubernetes: see demo.mjs. KUBEXIT_BIN runs the executable instead of the
# node build (dist/kubexit.js).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[[ -n ${KUBEXIT_BIN:-} ]] && KUBEXIT_BIN=$(realpath "$KUBEXIT_BIN") && export KUBEXIT_BIN
exec node "$here/demo.mjs"
