#!/usr/bin/env bash
# npm test: sets up what the suite needs (test/support/setup.ts: apt packages, the loopback
# control plane, the minimal roots, the image), then runs every test under Node
# (node dist/kubexit.js), then every test that runs kubexit as a process again against the
# packaged executable (KUBEXIT_BIN). A part that cannot be set up fails the run unless
# KUBEXIT_TEST_SKIP names it (README, "Tests").
set -euo pipefail
cd "$(dirname "$0")/.."
node build/test/support/setup.js
node --test build/test/*.test.js
skipped() { # skipped PART: KUBEXIT_TEST_SKIP leaves PART out (requires.ts decides)
  node --input-type=module -e "process.exit((await import('./build/test/support/requires.js')).skipReason('$1') ? 0 : 1)"
}
if skipped exe; then
  echo "== not again against the packaged executable: KUBEXIT_TEST_SKIP=$KUBEXIT_TEST_SKIP"
else
  exe=$PWD/dist/bin/kubexit-linux-$(node -p process.arch)
  echo "== again, against $exe"
  KUBEXIT_BIN=$exe node --test build/test/e2e-*.test.js build/test/k8s-birth.test.js build/test/k8s-apiserver.test.js build/test/kube-hostile.test.js
  # The manifest tools through the CLI (e2e-inject is above): lint, graph, webhook, and the
  # examples piped through inject to the apiserver.
  KUBEXIT_BIN=$exe node --test build/test/lint.test.js build/test/graph.test.js build/test/webhook.test.js build/test/k8s-webhook.test.js build/test/k8s-inject.test.js
fi
if [[ -n ${KUBEXIT_TEST_SKIP:-} ]]; then
  echo "== passed, without the parts KUBEXIT_TEST_SKIP=$KUBEXIT_TEST_SKIP leaves out"
fi
