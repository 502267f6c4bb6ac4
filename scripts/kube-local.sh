#!/usr/bin/env bash
# kube-local.sh: a real but minimal Kubernetes control plane for kubexit's tests.
#
# Runs etcd + kube-apiserver on 127.0.0.1 only. There is no kubelet, scheduler or controller
# manager: pods are plain API objects and the tests write their status themselves.
#
# Usage: scripts/kube-local.sh COMMAND
#   install             apt dependencies + locate or build the binaries (cached, idempotent)
#   up                  install, create the PKI if missing, start whatever is not running, wait for
#                       /readyz and print export lines:   eval "$(scripts/kube-local.sh up)"
#   down                stop the processes (SIGTERM, SIGKILL after KUBEXIT_K8S_STOP_TIMEOUT); data kept
#   restart             down + up (this is how new KUBEXIT_K8S_APISERVER_ARGS take effect)
#   status              one line per component; exit status 0 only if everything is up and ready
#   env                 print the export lines again
#   token NS SA [SECS]  mint a bound ServiceAccount token via the TokenRequest API (SECS >= 600,
#                       default 3600) and print the JWT
#   purge               down + delete the state directory (the binary cache is kept)
#   apiserver-stop | apiserver-start | apiserver-restart
#                       shorthand for KUBEXIT_K8S_ONLY=apiserver down|up|restart: etcd keeps
#                       running and the apiserver returns on the same port, data and PKI
#
# Environment:
#   KUBEXIT_K8S_CACHE           binaries, Debian source, Go build cache (/var/cache/kubexit-k8s)
#   KUBEXIT_K8S_STATE           pki, etcd data, logs, pid files of one instance (/tmp/kubexit-k8s)
#   KUBEXIT_K8S_API_PORT        apiserver port (16443)
#   KUBEXIT_K8S_ETCD_PORT       etcd client port (23790)
#   KUBEXIT_K8S_ETCD_PEER_PORT  etcd peer port (23800)
#     Ports are remembered in $KUBEXIT_K8S_STATE/instance.conf, so later commands only need the
#     state directory to find an instance; an explicit variable overrides the remembered value.
#   KUBEXIT_K8S_APISERVER_ARGS  extra apiserver flags, split on whitespace, appended last, e.g.
#                               "--min-request-timeout=5" or "--etcd-compaction-interval=5s".
#                               When unset, the flags of the previous start of this instance are
#                               reused; set it to "" to drop them.
#   KUBEXIT_K8S_ONLY            apiserver | etcd: restrict up/down/restart to one component
#   KUBEXIT_K8S_STOP_TIMEOUT    seconds between SIGTERM and SIGKILL (5). On SIGTERM the apiserver
#                               closes its port at once but keeps open watches alive for 60 s
#                               before exiting, so without the SIGKILL a stop takes a minute and
#                               clients never see their watch break.
#   KUBEXIT_K8S_STOP_SIGNAL     signal used by down (TERM); KILL = instant, like a crash
#   KUBEXIT_K8S_READY_TIMEOUT   seconds to wait for /readyz (120)
#   KUBEXIT_K8S_REBUILD=1       rebuild kube-apiserver + kubectl even if cached
#   KUBEXIT_K8S_BUILD_KUBECTL=0 never build kubectl just because KUBEBUILDER_ASSETS lacks one
#   KUBEXIT_K8S_EXTRA_BINARIES  more cmd/ names that install builds from the same tree and caches
#                               in $KUBEXIT_K8S_CACHE/bin, e.g. "kubelet kube-proxy" (the node of
#                               scripts/kube-node.sh)
#   KUBEBUILDER_ASSETS          envtest-style directory; if it has kube-apiserver and etcd they are
#                               used instead of ours (and its kubectl, if present)
#
# Binaries we provide: kube-apiserver + kubectl built from Debian bookworm's `kubernetes` source
# package (v1.20.2, vendored Go deps, Debian's Go 1.19), etcd from Debian's `etcd-server`.
set -euo pipefail

CACHE=${KUBEXIT_K8S_CACHE:-/var/cache/kubexit-k8s}
STATE=${KUBEXIT_K8S_STATE:-/tmp/kubexit-k8s}
STOP_TIMEOUT=${KUBEXIT_K8S_STOP_TIMEOUT:-5}
STOP_SIGNAL=${KUBEXIT_K8S_STOP_SIGNAL:-TERM}
READY_TIMEOUT=${KUBEXIT_K8S_READY_TIMEOUT:-120}
ONLY=${KUBEXIT_K8S_ONLY:-}
PKI=$STATE/pki
# Tree laid out as a GOPATH: Kubernetes 1.20 builds in GOPATH mode against vendor/.
KSRC=$CACHE/gopath/src/k8s.io/kubernetes
# Pin Debian's toolchain (1.19): the source fixes below were verified with it.
GO=/usr/lib/go/bin/go
# What in-cluster clients dial; also the token issuer and audience.
ISSUER=https://kubernetes.default.svc.cluster.local
DEB_SRC_LIST=/etc/apt/sources.list.d/kubexit-k8s-deb-src.sources

say() { printf '[kube-local %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
fail() {
  say "error: $*"
  exit 1
}
now_ms() { date +%s%3N; }

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2; }

# ------------------------------------------------------------------ instance configuration

load_config() {
  local key val
  API_PORT=16443 ETCD_PORT=23790 ETCD_PEER_PORT=23800
  if [[ -f $STATE/instance.conf ]]; then
    while IFS='=' read -r key val; do
      case $key in
        api_port) API_PORT=$val ;;
        etcd_port) ETCD_PORT=$val ;;
        etcd_peer_port) ETCD_PEER_PORT=$val ;;
      esac
    done <"$STATE/instance.conf"
  fi
  API_PORT=${KUBEXIT_K8S_API_PORT:-$API_PORT}
  ETCD_PORT=${KUBEXIT_K8S_ETCD_PORT:-$ETCD_PORT}
  ETCD_PEER_PORT=${KUBEXIT_K8S_ETCD_PEER_PORT:-$ETCD_PEER_PORT}
  local p
  for p in "$API_PORT" "$ETCD_PORT" "$ETCD_PEER_PORT"; do
    if ! [[ $p =~ ^[0-9]+$ ]] || ((p < 1 || p > 65535)); then fail "bad port number: $p"; fi
  done
  SERVER=https://127.0.0.1:$API_PORT
}

save_config() {
  printf 'api_port=%s\netcd_port=%s\netcd_peer_port=%s\n' "$API_PORT" "$ETCD_PORT" "$ETCD_PEER_PORT" \
    >"$STATE/instance.conf"
}

# Unset variable => reuse the flags of the previous start, so apiserver-start after
# apiserver-stop brings back the same server. Empty variable => no extra flags.
apiserver_extra_args() {
  if [[ -n ${KUBEXIT_K8S_APISERVER_ARGS+set} ]]; then
    printf '%s' "$KUBEXIT_K8S_APISERVER_ARGS"
  elif [[ -f $STATE/apiserver.args ]]; then
    cat "$STATE/apiserver.args"
  fi
}

# ------------------------------------------------------------------ apt helpers

as_root() {
  if ((EUID == 0)); then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -n "$@"
  else
    fail "root needed for: $*"
  fi
}

# No prompts (CI has no stdin); the sandbox user is root because `source`/`download` write into
# directories the unprivileged _apt user cannot enter.
apt_get() {
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o APT::Sandbox::User=root "$@" \
    </dev/null >&2
}

APT_FRESH=0
apt_refresh() {
  ((APT_FRESH)) && return 0
  say "apt-get update"
  apt_get update
  APT_FRESH=1
}

# Run an apt-get command; on failure refresh the package lists once and try again
# (a brand-new machine or container often has empty or stale lists).
apt_retry() {
  apt_get "$@" && return 0
  ((APT_FRESH)) && return 1
  apt_refresh
  apt_get "$@"
}

apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  say "apt-get install ${missing[*]}"
  apt_retry install --no-install-recommends "${missing[@]}" || fail "apt-get install ${missing[*]} failed"
}

# `apt-get source` needs deb-src entries, which Debian images usually lack.
ensure_deb_src() {
  apt-cache showsrc kubernetes 2>/dev/null | grep -q '^Package: kubernetes$' && return 0
  say "no deb-src entry provides 'kubernetes'; writing $DEB_SRC_LIST"
  as_root tee "$DEB_SRC_LIST" >/dev/null <<'EOF'
# Written by kubexit scripts/kube-local.sh (needs `apt-get source kubernetes` from bookworm).
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  APT_FRESH=0
  apt_refresh
  apt-cache showsrc kubernetes 2>/dev/null | grep -q '^Package: kubernetes$' ||
    fail "the 'kubernetes' source package is still not available"
}

# ------------------------------------------------------------------ binaries

resolve_binaries() {
  local assets=${KUBEBUILDER_ASSETS:-}
  APISERVER='' ETCD='' KUBECTL='' FROM_ASSETS=0
  if [[ -n $assets && -x $assets/kube-apiserver && -x $assets/etcd ]]; then
    APISERVER=$assets/kube-apiserver ETCD=$assets/etcd FROM_ASSETS=1
    if [[ -x $assets/kubectl ]]; then KUBECTL=$assets/kubectl; fi
  elif [[ -n $assets ]]; then
    say "KUBEBUILDER_ASSETS=$assets has no kube-apiserver+etcd pair; using our own binaries"
  fi
  APISERVER=${APISERVER:-$CACHE/bin/kube-apiserver}
  KUBECTL=${KUBECTL:-$CACHE/bin/kubectl}
  if [[ -z $ETCD ]]; then
    # An etcd-server that is already installed is as good as our extracted copy.
    if [[ -x /usr/bin/etcd ]] && dpkg-query -W -f='${Status}' etcd-server 2>/dev/null | grep -q 'ok installed'; then
      ETCD=/usr/bin/etcd
    else
      ETCD=$CACHE/bin/etcd
    fi
  fi
}

# Take etcd out of Debian's etcd-server .deb instead of installing the package: installing it
# enables and starts a system-wide etcd service on the default ports, which we do not want.
fetch_etcd() {
  local tmp
  say "extracting etcd from Debian's etcd-server package into $CACHE/bin"
  tmp=$(mktemp -d)
  (cd "$tmp" && apt_retry download etcd-server) || fail "apt-get download etcd-server failed"
  dpkg-deb -x "$tmp"/etcd-server_*.deb "$tmp/root"
  install -m 0755 "$tmp/root/usr/bin/etcd" "$CACHE/bin/etcd"
  rm -rf "$tmp"
}

# Unpack the Debian source package straight into the GOPATH layout.
fetch_source() {
  [[ -f $KSRC/.kubexit-unpacked ]] && return 0
  local dscs ver
  ensure_deb_src
  mkdir -p "$CACHE/src"
  if ! compgen -G "$CACHE/src/kubernetes_*.dsc" >/dev/null; then
    say "downloading the kubernetes source package (~34 MB, Go dependencies vendored)"
    (cd "$CACHE/src" && apt_retry source --download-only kubernetes/bookworm) ||
      fail "apt-get source kubernetes failed"
  fi
  mapfile -t dscs < <(printf '%s\n' "$CACHE/src"/kubernetes_*.dsc | sort -V)
  say "unpacking ${dscs[-1]##*/} into $KSRC"
  rm -rf "$KSRC"
  mkdir -p "${KSRC%/*}"
  dpkg-source --no-check -x "${dscs[-1]}" "$KSRC" >&2
  [[ -d $KSRC/cmd/kube-apiserver ]] || fail "source package has no cmd/kube-apiserver"
  # Debian version looks like 1.20.5+really1.20.2-1.1: the upstream release is after "really".
  ver=$(sed -n 's/^Version: //p' "${dscs[-1]}" | head -n1)
  ver=${ver%-*}
  ver=${ver##*really}
  ver=${ver#*:}
  printf 'v%s\n' "$ver" >"$KSRC/.kubexit-version"
  touch "$KSRC/.kubexit-unpacked"
}

# The vendored modern-go/reflect2 1.0.1 and json-iterator 1.1.10 rely on the pre-Go-1.18 map
# iterator layout: under Go 1.19 the apiserver crashes ("unexpected fault address" in
# reflect2.UnsafeIterate) the first time it JSON-encodes certain maps, e.g. on a pods/status
# PATCH. Upstream's fix was reflect2 1.0.2 + json-iterator 1.1.12, and Debian packages exactly
# those versions, so their sources replace the vendored copies.
fix_vendor() {
  [[ -f $KSRC/.kubexit-vendor-fixed ]] && return 0
  local tmp dir vendored
  say "replacing vendored reflect2/json-iterator with Debian's 1.0.2/1.1.12 (Go >= 1.18 crash fix)"
  tmp=$(mktemp -d)
  (cd "$tmp" && apt_retry download golang-github-modern-go-reflect2-dev golang-github-json-iterator-go-dev) ||
    fail "apt-get download of the reflect2/json-iterator sources failed"
  for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$tmp/root"; done
  for dir in modern-go/reflect2 json-iterator/go; do
    vendored=$KSRC/vendor/github.com/$dir
    [[ -d $vendored && -d $tmp/root/usr/share/gocode/src/github.com/$dir ]] || fail "missing $dir sources"
    find "$vendored" -maxdepth 1 -type f \( -name '*.go' -o -name '*.s' \) -delete
    find "$tmp/root/usr/share/gocode/src/github.com/$dir" -maxdepth 1 -type f \
      \( -name '*.go' -o -name '*.s' \) ! -name '*_test.go' -exec cp -t "$vendored" {} +
  done
  rm -rf "$tmp"
  touch "$KSRC/.kubexit-vendor-fixed"
}

in_gopath() {
  (cd "$KSRC" && env -u GOROOT PATH="${GO%/*}:$PATH" GOPATH="$CACHE/gopath" GOCACHE="$CACHE/gocache" \
    GO111MODULE=off GOFLAGS='' GOPROXY=off GOENV=off CGO_ENABLED=0 "$@" >&2)
}

# Import paths of every package tagged for OpenAPI generation, the same selection upstream's
# Makefile.generated_files makes: files with a "// +k8s:" tag line mentioning
# +k8s:openapi-gen=, staging/src/k8s.io/X addressed as k8s.io/kubernetes/vendor/k8s.io/X,
# code-generator and sample-apiserver left out.
openapi_packages() {
  (
    cd "$KSRC"
    find . \( -path ./vendor -o -name '_*' -o -name '.?*' \) -prune -o -type f -name '*.go' -print0 |
      { xargs -0 grep -lZ -F -e '+k8s:openapi-gen=' -- || true; } |
      { xargs -0 grep -l -e '^// *+k8s:' -- || true; } |
      sed -e 's|/[^/]*$||' -e 's|^\./||' -e 's|^staging/src/|vendor/|' |
      { grep -v -e '^vendor/k8s.io/code-generator/' -e '^vendor/k8s.io/sample-apiserver/' || true; } |
      LC_ALL=C sort -u | sed 's|^|k8s.io/kubernetes/|' | paste -sd, -
  )
}

# pkg/generated/openapi/zz_generated.openapi.go is produced by upstream's `make`, not shipped in
# the release tarball, and kube-apiserver does not compile without it.
gen_openapi() {
  local out=$KSRC/pkg/generated/openapi/zz_generated.openapi.go inputs
  [[ -s $out ]] && return 0
  say "generating pkg/generated/openapi/zz_generated.openapi.go with the vendored openapi-gen"
  mkdir -p "$CACHE/tools"
  in_gopath "$GO" build -o "$CACHE/tools/openapi-gen" ./vendor/k8s.io/kube-openapi/cmd/openapi-gen
  inputs=$(openapi_packages)
  [[ -n $inputs ]] || fail "found no +k8s:openapi-gen packages"
  in_gopath "$CACHE/tools/openapi-gen" --logtostderr \
    --input-dirs "$inputs" \
    --output-package k8s.io/kubernetes/pkg/generated/openapi \
    --output-file-base zz_generated.openapi \
    --go-header-file vendor/k8s.io/code-generator/hack/boilerplate.go.txt \
    --report-filename "$CACHE/openapi-rule-violations.txt"
  [[ -s $out ]] || fail "openapi-gen did not write $out"
}

build_binaries() { # command names under cmd/
  local ver major minor ldflags='-s -w' pkg pkgs=() name tmpdir started
  fetch_source
  fix_vendor
  gen_openapi
  ver=$(<"$KSRC/.kubexit-version")
  major=${ver#v} major=${major%%.*}
  minor=${ver#v*.} minor=${minor%%.*}
  # What `kubectl version` and /version report (upstream's build stamps these from git).
  for pkg in k8s.io/kubernetes/vendor/k8s.io/component-base/version k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$ver -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  done
  for name in "$@"; do pkgs+=("./cmd/$name"); done
  rm -rf "$CACHE"/bin/.build.*
  tmpdir=$(mktemp -d "$CACHE/bin/.build.XXXXXX")
  say "go build ${pkgs[*]} ($ver, $("$GO" version | cut -d' ' -f3)); cold this takes minutes (3 on 2 EPYC cores; up to ~15 on slow ones)"
  started=$SECONDS
  in_gopath "$GO" build -trimpath -ldflags "$ldflags" -o "$tmpdir/" "${pkgs[@]}"
  for name in "$@"; do mv -f "$tmpdir/$name" "$CACHE/bin/$name"; done
  rmdir "$tmpdir"
  say "built $* in $((SECONDS - started))s -> $CACHE/bin"
}

cmd_install() {
  resolve_binaries
  local build=() deps=(curl openssl ca-certificates)
  if [[ $APISERVER == "$CACHE/bin/kube-apiserver" ]] && [[ ! -x $APISERVER || ${KUBEXIT_K8S_REBUILD:-0} == 1 ]]; then
    build+=(kube-apiserver)
  fi
  if [[ $KUBECTL == "$CACHE/bin/kubectl" ]] && [[ ! -x $KUBECTL || ${KUBEXIT_K8S_REBUILD:-0} == 1 ]]; then
    if ((FROM_ASSETS)) && [[ ${KUBEXIT_K8S_BUILD_KUBECTL:-1} == 0 ]]; then
      say "note: no kubectl in KUBEBUILDER_ASSETS and KUBEXIT_K8S_BUILD_KUBECTL=0: KUBEXIT_K8S_KUBECTL will be empty"
      KUBECTL=''
    else
      build+=(kubectl)
    fi
  fi
  local extra
  for extra in ${KUBEXIT_K8S_EXTRA_BINARIES:-}; do
    [[ $extra =~ ^[a-z][a-z0-9-]*$ && -d $KSRC/cmd/$extra || ! -f $KSRC/.kubexit-unpacked ]] ||
      fail "KUBEXIT_K8S_EXTRA_BINARIES: no cmd/$extra in the kubernetes source"
    if [[ ! -x $CACHE/bin/$extra || ${KUBEXIT_K8S_REBUILD:-0} == 1 ]]; then build+=("$extra"); fi
  done
  # Fast path for warm runs: nothing to fetch, nothing to build.
  if ((${#build[@]} == 0)) && [[ -x $ETCD ]] && command -v curl >/dev/null && command -v openssl >/dev/null; then
    return 0
  fi
  mkdir -p "$CACHE/bin"
  # One builder at a time per cache; parallel `up`s of several instances wait here.
  exec 8>"$CACHE/.lock"
  flock -w 7200 8 || fail "timed out waiting for $CACHE/.lock"
  resolve_binaries # another process may have finished the work meanwhile
  if ((${#build[@]})); then
    local name remaining=()
    for name in "${build[@]}"; do
      if [[ ${KUBEXIT_K8S_REBUILD:-0} == 1 || ! -x $CACHE/bin/$name ]]; then remaining+=("$name"); fi
    done
    build=("${remaining[@]}")
  fi
  if ((${#build[@]})); then deps+=(golang-go dpkg-dev xz-utils); fi
  apt_install "${deps[@]}"
  [[ -x $ETCD ]] || fetch_etcd
  if ((${#build[@]})); then build_binaries "${build[@]}"; fi
  exec 8>&-
}

# ------------------------------------------------------------------ PKI

# issue NAME CN ORG EXTENSION...: P-256 key + certificate, self-signed for NAME=ca, otherwise
# signed by the CA. A private config keeps openssl.cnf defaults (CA:TRUE on leaves) out.
issue() {
  local name=$1 cn=$2 org=$3
  shift 3
  local conf=$PKI/$name.cnf ca_args=()
  {
    printf '[req]\nprompt = no\ndistinguished_name = dn\nx509_extensions = ext\n[dn]\n'
    if [[ -n $org ]]; then printf 'O = %s\n' "$org"; fi
    printf 'CN = %s\n[ext]\n' "$cn"
    printf '%s\n' "$@"
  } >"$conf"
  if [[ $name != ca ]]; then ca_args=(-CA "$PKI/ca.crt" -CAkey "$PKI/ca.key"); fi
  openssl req -x509 -new -config "$conf" -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -days 3650 -keyout "$PKI/$name.key" -out "$PKI/$name.crt" "${ca_args[@]}" 2>"$PKI/openssl.err" ||
    {
      cat "$PKI/openssl.err" >&2
      fail "openssl could not issue $name"
    }
  rm -f "$conf" "$PKI/openssl.err"
}

make_pki() {
  [[ -f $PKI/.complete ]] && return 0
  say "creating CA, certificates, service-account keys and static tokens in $PKI"
  rm -rf "$PKI"
  mkdir -p "$PKI"
  chmod 700 "$PKI"
  issue ca kubexit-local-ca '' \
    'basicConstraints = critical, CA:TRUE' 'keyUsage = critical, keyCertSign, cRLSign, digitalSignature' \
    'subjectKeyIdentifier = hash'
  # Serving cert valid for loopback and the in-cluster service names.
  issue apiserver kube-apiserver '' \
    'basicConstraints = critical, CA:FALSE' 'keyUsage = critical, digitalSignature, keyEncipherment' \
    'extendedKeyUsage = serverAuth' \
    'subjectAltName = IP:127.0.0.1, IP:::1, DNS:localhost, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local'
  # Client cert for kubectl; the O= becomes the group, system:masters bypasses RBAC.
  issue admin kubexit-admin system:masters \
    'basicConstraints = critical, CA:FALSE' 'keyUsage = critical, digitalSignature, keyEncipherment' \
    'extendedKeyUsage = clientAuth'
  # Signs and verifies service-account tokens (TokenRequest). RSA: RS256 works on every version.
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$PKI/sa.key" 2>/dev/null
  openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  # Static bearer tokens: an admin (system:masters) and a user with no RBAC grants at all.
  openssl rand -hex 24 >"$PKI/admin.token"
  openssl rand -hex 24 >"$PKI/nobody.token"
  printf '%s,kubexit-admin,kubexit-admin,"system:masters"\n%s,kubexit-nobody,kubexit-nobody\n' \
    "$(<"$PKI/admin.token")" "$(<"$PKI/nobody.token")" >"$PKI/tokens.csv"
  chmod 600 "$PKI"/*
  touch "$PKI/.complete"
}

# Rewritten on every start so it follows the port.
write_kubeconfig() {
  cat >"$STATE/admin.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kubexit-local
  cluster:
    server: $SERVER
    certificate-authority: $PKI/ca.crt
users:
- name: kubexit-admin
  user:
    client-certificate: $PKI/admin.crt
    client-key: $PKI/admin.key
contexts:
- name: kubexit-local
  context:
    cluster: kubexit-local
    user: kubexit-admin
    namespace: default
current-context: kubexit-local
EOF
}

# ------------------------------------------------------------------ processes

# True if PID is a live (non-zombie) process whose command line mentions NAME, so a recycled
# pid or an unreaped corpse does not count as running.
alive() {
  local pid=$1 name=$2 stat
  [[ $pid =~ ^[0-9]+$ && -r /proc/$pid/stat ]] || return 1
  { read -r stat <"/proc/$pid/stat"; } 2>/dev/null || return 1
  stat=${stat##*) }
  [[ ${stat:0:1} != Z ]] || return 1
  [[ $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) == *"$name"* ]]
}

# Print the pid of a running component, fail if it is not running.
running_pid() {
  local f=$STATE/$1.pid pid
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  alive "$pid" "$1" || return 1
  printf '%s\n' "$pid"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port_free() { # port what
  local deadline=$((SECONDS + 5))
  while port_in_use "$1"; do
    ((SECONDS < deadline)) || fail "127.0.0.1:$1 (for $2) is in use by another process"
    sleep 0.2
  done
}

# Start NAME detached in its own session (it must outlive this script and the caller's process
# group); the child writes its own pid before exec'ing, so the pid file is exact.
launch() {
  local name=$1 i
  shift
  local pidf=$STATE/$name.pid log=$STATE/$name.log
  rm -f "$pidf"
  printf '\n==== %s kube-local start:%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(printf ' %q' "$@")" >>"$log"
  # Closing fds 8/9 keeps the daemon from holding our flocks forever.
  # shellcheck disable=SC2016 # $0/$$/$@ belong to the inner shell
  setsid bash -c 'echo $$ >"$0" && exec "$@"' "$pidf" "$@" </dev/null >>"$log" 2>&1 8>&- 9>&- &
  for ((i = 0; i < 100; i++)); do
    [[ -s $pidf ]] && return 0
    sleep 0.05
  done
  fail "$name did not start (see $log)"
}

wait_until() { # name timeout probe...
  local name=$1 limit=$2 deadline=$((SECONDS + $2))
  shift 2
  until "$@" >/dev/null 2>&1; do
    if ! running_pid "$name" >/dev/null; then
      tail -n 40 "$STATE/$name.log" >&2
      fail "$name exited during startup (full log: $STATE/$name.log)"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 40 "$STATE/$name.log" >&2
      fail "$name not ready after ${limit}s (full log: $STATE/$name.log)"
    fi
    sleep 0.2
  done
}

start_etcd() {
  if running_pid etcd >/dev/null; then return 0; fi
  wait_port_free "$ETCD_PORT" etcd
  wait_port_free "$ETCD_PEER_PORT" 'etcd peer'
  mkdir -p "$STATE/etcd-data"
  chmod 700 "$STATE/etcd-data"
  say "starting etcd on 127.0.0.1:$ETCD_PORT"
  # etcd refuses to run on arm64 without this opt-in.
  if [[ $(uname -m) == aarch64 ]]; then export ETCD_UNSUPPORTED_ARCH=arm64; fi
  launch etcd "$ETCD" --name kubexit --data-dir "$STATE/etcd-data" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "kubexit=http://127.0.0.1:$ETCD_PEER_PORT" \
    --logger zap --log-level warn
  wait_until etcd 30 curl -fsS --max-time 2 "http://127.0.0.1:$ETCD_PORT/health"
}

apiserver_ready() { curl -fsS --max-time 2 --cacert "$PKI/ca.crt" "$SERVER/readyz"; }

start_apiserver() {
  running_pid etcd >/dev/null || fail "etcd of $STATE is not running (start it with: $0 up)"
  write_kubeconfig
  if ! running_pid kube-apiserver >/dev/null; then
    local extra=() args minor version_flags=()
    args=$(apiserver_extra_args)
    read -r -a extra <<<"$args"
    printf '%s\n' "$args" >"$STATE/apiserver.args"
    # 1.20 still opens an unauthenticated port 8080 by default (clashes between instances);
    # the flag that closes it no longer exists from 1.24 on (envtest binaries).
    minor=$("$APISERVER" --version 2>/dev/null | sed -n 's/^Kubernetes v1\.\([0-9]*\).*/\1/p')
    if [[ -n $minor ]] && ((minor < 24)); then version_flags+=(--insecure-port=0); fi
    wait_port_free "$API_PORT" kube-apiserver
    say "starting kube-apiserver on $SERVER${args:+ (extra: $args)}"
    # Without a controller manager nothing creates "default" ServiceAccounts, so the
    # ServiceAccount admission plugin would reject every pod: it is disabled.
    launch kube-apiserver "$APISERVER" "${version_flags[@]}" \
      --bind-address=127.0.0.1 --secure-port="$API_PORT" --advertise-address=127.0.0.1 \
      --endpoint-reconciler-type=none \
      --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
      --cert-dir="$STATE/apiserver-certs" \
      --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
      --client-ca-file="$PKI/ca.crt" --token-auth-file="$PKI/tokens.csv" \
      --authorization-mode=RBAC \
      --service-account-issuer="$ISSUER" --api-audiences="$ISSUER" \
      --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
      --service-cluster-ip-range=10.0.0.0/24 \
      --disable-admission-plugins=ServiceAccount \
      --allow-privileged=true --profiling=false \
      "${extra[@]}"
  fi
  local t0
  t0=$(now_ms)
  wait_until kube-apiserver "$READY_TIMEOUT" apiserver_ready
  say "kube-apiserver ready ($(($(now_ms) - t0)) ms after launch/check)"
}

stop_component() {
  local name=$1 pid t0 deadline killed=0
  if ! pid=$(running_pid "$name"); then
    rm -f "$STATE/$name.pid"
    return 0
  fi
  say "stopping $name (pid $pid, SIG$STOP_SIGNAL)"
  t0=$(now_ms)
  kill -s "$STOP_SIGNAL" "$pid" 2>/dev/null || true
  deadline=$((t0 + STOP_TIMEOUT * 1000))
  while alive "$pid" "$name"; do
    if (($(now_ms) >= deadline)); then
      ((killed == 0)) || fail "$name (pid $pid) survives SIGKILL"
      say "$name still running after ${STOP_TIMEOUT}s: SIGKILL"
      kill -s KILL "$pid" 2>/dev/null || true
      killed=1 deadline=$(($(now_ms) + 10000))
    fi
    sleep 0.05
  done
  rm -f "$STATE/$name.pid"
  say "$name stopped after $(($(now_ms) - t0)) ms"
}

# Components selected by KUBEXIT_K8S_ONLY, in start order.
selected() {
  case $ONLY in
    '' | all) echo etcd kube-apiserver ;;
    apiserver | kube-apiserver) echo kube-apiserver ;;
    etcd) echo etcd ;;
    *) fail "KUBEXIT_K8S_ONLY must be apiserver or etcd, not '$ONLY'" ;;
  esac
}

# ------------------------------------------------------------------ commands

lock_state() {
  mkdir -p "$STATE"
  # Marks the directory as ours, so purge never deletes an arbitrary directory.
  [[ -f $STATE/.kubexit-k8s ]] || touch "$STATE/.kubexit-k8s"
  exec 9>"$STATE/.lock"
  flock -w 300 9 || fail "timed out waiting for $STATE/.lock"
}

cmd_up() {
  local comp
  cmd_install
  lock_state
  # Refuse to silently re-point a running instance at other ports.
  if [[ -f $STATE/instance.conf ]] && { running_pid etcd || running_pid kube-apiserver; } >/dev/null; then
    local want=$API_PORT/$ETCD_PORT/$ETCD_PEER_PORT
    (unset KUBEXIT_K8S_API_PORT KUBEXIT_K8S_ETCD_PORT KUBEXIT_K8S_ETCD_PEER_PORT
      load_config
      [[ $API_PORT/$ETCD_PORT/$ETCD_PEER_PORT == "$want" ]]) ||
      fail "$STATE is running with other ports (see instance.conf); run down first"
  fi
  save_config
  # Check every port before starting anything, so a clash does not leave half an instance.
  for comp in $(selected); do
    case $comp in
      etcd) if ! running_pid etcd >/dev/null; then
        wait_port_free "$ETCD_PORT" etcd
        wait_port_free "$ETCD_PEER_PORT" 'etcd peer'
      fi ;;
      kube-apiserver) if ! running_pid kube-apiserver >/dev/null; then wait_port_free "$API_PORT" kube-apiserver; fi ;;
    esac
  done
  make_pki
  for comp in $(selected); do
    case $comp in
      etcd) start_etcd ;;
      kube-apiserver) start_apiserver ;;
    esac
  done
  print_env
}

cmd_down() {
  local comps
  [[ -d $STATE ]] || return 0
  lock_state
  comps=$(selected)
  # Apiserver first: it would otherwise spend its shutdown retrying a dead etcd.
  if [[ $comps == *kube-apiserver* ]]; then stop_component kube-apiserver; fi
  if [[ $comps == *etcd* ]]; then stop_component etcd; fi
}

emit() { printf 'export %s=%q\n' "$1" "$2"; }

print_env() {
  [[ -f $PKI/.complete ]] || fail "no instance in $STATE yet (run: $0 up)"
  resolve_binaries
  if [[ ! -x $KUBECTL ]]; then KUBECTL=''; fi
  emit KUBECONFIG "$STATE/admin.kubeconfig"
  emit KUBEXIT_K8S_STATE "$STATE"
  emit KUBEXIT_K8S_SERVER "$SERVER"
  emit KUBEXIT_K8S_CA "$PKI/ca.crt"
  emit KUBEXIT_K8S_ADMIN_TOKEN "$(<"$PKI/admin.token")"
  emit KUBEXIT_K8S_NOBODY_TOKEN "$(<"$PKI/nobody.token")"
  emit KUBEXIT_K8S_ADMIN_CERT "$PKI/admin.crt"
  emit KUBEXIT_K8S_ADMIN_KEY "$PKI/admin.key"
  emit KUBEXIT_K8S_KUBECTL "$KUBECTL"
  emit KUBEXIT_K8S_SERVICE_HOST 127.0.0.1
  emit KUBEXIT_K8S_SERVICE_PORT "$API_PORT"
  emit KUBEXIT_K8S_ISSUER "$ISSUER"
}

cmd_status() {
  local pid ok=0 health
  if pid=$(running_pid etcd); then
    health=unhealthy
    if curl -fsS --max-time 2 "http://127.0.0.1:$ETCD_PORT/health" >/dev/null 2>&1; then health=healthy; else ok=1; fi
    printf 'etcd            running  pid %-7s http://127.0.0.1:%s  %s\n' "$pid" "$ETCD_PORT" "$health"
  else
    printf 'etcd            stopped\n'
    ok=1
  fi
  if pid=$(running_pid kube-apiserver); then
    health=not-ready
    if apiserver_ready >/dev/null 2>&1; then health=ready; else ok=1; fi
    printf 'kube-apiserver  running  pid %-7s %s  %s  extra-args: %s\n' "$pid" "$SERVER" "$health" \
      "$(cat "$STATE/apiserver.args" 2>/dev/null || true)"
  else
    printf 'kube-apiserver  stopped\n'
    ok=1
  fi
  printf 'state %s (logs: etcd.log, kube-apiserver.log)\n' "$STATE"
  return "$ok"
}

cmd_token() {
  (($# >= 2 && $# <= 3)) || fail "usage: $0 token NAMESPACE SERVICEACCOUNT [SECONDS]"
  local ns=$1 sa=$2 secs=${3:-3600} resp code name_re='^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$'
  [[ $ns =~ $name_re && $sa =~ $name_re ]] || fail "bad namespace/serviceaccount name: $ns/$sa"
  if ! [[ $secs =~ ^[0-9]+$ ]] || ((secs < 600)); then fail "SECONDS must be an integer >= 600 (API minimum)"; fi
  [[ -f $PKI/.complete ]] || fail "no instance in $STATE"
  resp=$(mktemp)
  # pretty=false: the apiserver pretty-prints for curl's user agent otherwise.
  code=$(curl -sS -o "$resp" -w '%{http_code}' --max-time 10 --cacert "$PKI/ca.crt" \
    -H "Authorization: Bearer $(<"$PKI/admin.token")" -H 'Content-Type: application/json' -X POST \
    --data "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"TokenRequest\",\"spec\":{\"audiences\":[\"$ISSUER\"],\"expirationSeconds\":$secs}}" \
    "$SERVER/api/v1/namespaces/$ns/serviceaccounts/$sa/token?pretty=false") || code=000
  if [[ $code != 200 && $code != 201 ]]; then
    cat "$resp" >&2
    echo >&2
    rm -f "$resp"
    fail "TokenRequest for $ns/$sa failed: HTTP $code"
  fi
  grep -o '"token":"[^"]*"' "$resp" | head -n1 | cut -d'"' -f4
  rm -f "$resp"
}

cmd_purge() {
  [[ -d $STATE ]] || return 0
  [[ -f $STATE/.kubexit-k8s ]] || fail "$STATE was not created by this script; not deleting it"
  ONLY='' cmd_down
  say "deleting $STATE"
  rm -rf "$STATE"
}

main() {
  local cmd=${1:-help}
  (($#)) && shift
  case $cmd in
    apiserver-stop | apiserver-start | apiserver-restart)
      ONLY=apiserver
      case $cmd in
        *-stop) cmd=down ;;
        *-start) cmd=up ;;
        *-restart) cmd=restart ;;
      esac
      ;;
  esac
  load_config
  case $cmd in
    install) cmd_install ;;
    up) cmd_up ;;
    down) cmd_down ;;
    restart)
      cmd_down
      cmd_up
      ;;
    status) cmd_status ;;
    env) print_env ;;
    token) cmd_token "$@" ;;
    purge) cmd_purge ;;
    help | -h | --help) usage ;;
    *)
      usage
      fail "unknown command: $cmd"
      ;;
  esac
}

main "$@"
