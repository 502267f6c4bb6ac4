#!/usr/bin/env bash
# A real run of two kubexit-wrapped processes sharing a graveyard, as two containers of a Job's
# pod would: the server has a death dependency on the client, so it is stopped when the client
# is done. Prints the logs, the tombstones and the exit codes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
kubexit=(node "$root/dist/kubexit.js")
[[ -n ${KUBEXIT_BIN:-} ]] && kubexit=("$KUBEXIT_BIN")

graveyard=$(mktemp -d "${TMPDIR:-/tmp}/kubexit-demo.XXXXXX")
trap 'rm -rf "$graveyard"' EXIT
export PORT=$((20000 + RANDOM % 20000)) KUBEXIT_GRAVEYARD=$graveyard

echo "== graveyard: $graveyard"
echo "== server: KUBEXIT_NAME=server KUBEXIT_DEATH_DEPS=client kubexit node server.mjs"
echo "== client: KUBEXIT_NAME=client kubexit node client.mjs"
echo

KUBEXIT_NAME=server KUBEXIT_DEATH_DEPS=client KUBEXIT_GRACE_PERIOD=5s KUBEXIT_VERBOSE_LEVEL=1 \
  "${kubexit[@]}" node "$here/server.mjs" > >(sed 's/^/[server] /') 2>&1 &
server=$!
KUBEXIT_NAME=client "${kubexit[@]}" node "$here/client.mjs" > >(sed 's/^/[client] /') 2>&1 &
client=$!

client_rc=0 server_rc=0
wait "$client" || client_rc=$?
wait "$server" || server_rc=$?
sleep 0.1 # let the sed prefixers flush their last lines

echo
for name in client server; do
  echo "== tombstone $graveyard/$name"
  cat "$graveyard/$name"
done
echo
echo "== exit codes: client $client_rc, server $server_rc"
[[ $client_rc == 0 && $server_rc == 0 ]]
