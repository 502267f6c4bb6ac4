#!/usr/bin/env bash
# kube-node.sh: a whole single-node Kubernetes cluster on this machine, so that kubexit's
# examples run as real Jobs on a real kubelet.
#
#   control plane  etcd, kube-apiserver, kube-controller-manager (all default controllers: Jobs,
#                  service-account tokens, namespace deletion, garbage collection…), kube-scheduler
#   node           kubelet + containerd 1.6 + runc 1.1 + the CNI bridge plugin, named kubexit-node
#   Service        kube-proxy (iptables): pods reach the API at the `kubernetes` Service's
#                  ClusterIP (KUBERNETES_SERVICE_HOST/PORT, as in any cluster)
# The Kubernetes binaries (v1.20.2) come from Debian bookworm's `kubernetes` source package, built
# once into scripts/kube-local.sh's cache; everything else is a Debian package. Images are made
# here (no registry is reachable): a pause and a busybox image from busybox-static, kubexit's own
# from dist/image (`npm run image`), and whatever `image` is asked to layer onto busybox.
#
# This is a second, separate instance: its own state directory, ports, addresses, containerd
# socket and cgroup root. It never touches the control plane of `scripts/kube-local.sh up`.
# One per machine: the bridge, /run/kubexit-node, the cgroup root and the ports are fixed.
#
# Usage: scripts/kube-node.sh COMMAND          (root: it runs containers and changes the network)
#   install          apt packages, binaries (built if missing), base images; idempotent
#   up               install, then start whatever is not running, wait until the node is Ready and
#                    the `kubernetes` Service routes; prints export lines:
#                      eval "$(scripts/kube-node.sh up)"
#   down             delete the pods, stop every process, then undo what up did to the machine:
#                    mounts, cgroups, iptables chains, the bridge, sysctls, directories it created.
#                    Keeps the logs and the PKI in the state directory and the images in the
#                    cache; the next up starts from an empty etcd.
#   status           one line per component; exit status 0 only if all run and the node is Ready
#   env              print the export lines again
#   kubexit-image    `npm run image` (a no-op when up to date), then import dist/image
#   image NAME DIR   import the busybox image with DIR's files laid over it as docker.io/local/NAME
#                    (NAME carries a tag, e.g. curl-standin:1)
#   purge            down, then delete the state directory (the binary cache is kept)
#
# Environment:
#   KUBEXIT_NODE_STATE    state directory (/tmp/kubexit-node); runtime files go to /run/kubexit-node
#   KUBEXIT_NODE_API_PORT kube-apiserver port (17443)
#   KUBEXIT_NODE_SUBNET   the first three octets of the pod /24 (10.244.77); its .1 is the bridge
#                         kxnode0, where the apiserver and the kubelet listen
#   KUBEXIT_NODE_SERVICE_SUBNET   first three octets of the Service /24 (10.96.77); .1 = kubernetes
#   KUBEXIT_K8S_CACHE     the binary cache shared with kube-local.sh (/var/cache/kubexit-k8s)
#   KUBEBUILDER_ASSETS    a directory whose kube-apiserver, etcd, kubectl, kubelet, … are used
#                         instead of ours, each one that is present
#   KUBEXIT_NODE_READY_TIMEOUT   seconds to wait for each component (120)
# Ports besides the apiserver's (all fixed, none is the default of a component): etcd 23890 and
# 23900, kubelet 20250 (healthz 20248 on 127.0.0.1), kube-proxy healthz 20256 and metrics 20249
# on 127.0.0.1. The controller manager and the scheduler serve nothing.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=${HERE%/scripts}
CACHE=${KUBEXIT_K8S_CACHE:-/var/cache/kubexit-k8s}
STATE=${KUBEXIT_NODE_STATE:-/tmp/kubexit-node}
RUN=/run/kubexit-node
API_PORT=${KUBEXIT_NODE_API_PORT:-17443}
ETCD_PORT=23890 ETCD_PEER_PORT=23900
KUBELET_PORT=20250 KUBELET_HEALTHZ=20248 PROXY_HEALTHZ=20256 PROXY_METRICS=20249
SUBNET=${KUBEXIT_NODE_SUBNET:-10.244.77}
SERVICE_SUBNET=${KUBEXIT_NODE_SERVICE_SUBNET:-10.96.77}
READY_TIMEOUT=${KUBEXIT_NODE_READY_TIMEOUT:-120}
NODE=kubexit-node
BRIDGE=kxnode0
CGROUP=kubexit-node # the kubelet's --cgroup-root, a sibling of everything else on the machine
GATEWAY=$SUBNET.1
SERVICE_IP=$SERVICE_SUBNET.1
SERVER=https://$GATEWAY:$API_PORT
SOCK=$RUN/containerd.sock
PKI=$STATE/pki
ISSUER=https://kubernetes.default.svc.cluster.local
BEFORE=$STATE/machine.before # what up found, for down to put back
# Sysctls the components change: the kubelet sets the first three at start, the CNI bridge turns
# on forwarding, kube-proxy turns on route_localnet.
SYSCTLS=(vm/overcommit_memory kernel/panic kernel/panic_on_oops net/ipv4/ip_forward
  net/ipv4/conf/all/route_localnet)
# Directories that containerd, its shims and the kubelet create at fixed places whatever their
# configuration says (the kubelet's device-plugin socket is always under /var/lib/kubelet):
# removed on down if up did not find them.
FIXED_DIRS=(/run/containerd /var/lib/cni /var/log/pods /var/log/containers /opt/containerd
  /var/lib/kubelet)
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler containerd kube-proxy kubelet)

say() { printf '[kube-node %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
fail() {
  say "error: $*"
  exit 1
}
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2; }
need_root() { ((EUID == 0)) || fail "needs root (containers, cgroups, iptables, a bridge)"; }
octets() { [[ $1 =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]] || fail "$2 must look like 10.244.77, not '$1'"; }
octets "$SUBNET" KUBEXIT_NODE_SUBNET
octets "$SERVICE_SUBNET" KUBEXIT_NODE_SERVICE_SUBNET
[[ $API_PORT =~ ^[0-9]+$ ]] && ((API_PORT > 0 && API_PORT < 65536)) || fail "bad KUBEXIT_NODE_API_PORT: $API_PORT"

# ------------------------------------------------------------------ binaries and packages

# The binary of NAME: from KUBEBUILDER_ASSETS if it has one, else from the shared cache.
bin() {
  local assets=${KUBEBUILDER_ASSETS:-}
  if [[ -n $assets && -x $assets/$1 ]]; then
    printf '%s\n' "$assets/$1"
  elif [[ $1 == etcd && ! -x $CACHE/bin/etcd && -x /usr/bin/etcd ]]; then
    printf '%s\n' /usr/bin/etcd
  else
    printf '%s\n' "$CACHE/bin/$1"
  fi
}

install_packages() {
  local missing=() p
  for p in containerd runc containernetworking-plugins iptables conntrack busybox-static umoci \
    iproute2 openssl curl ca-certificates; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  say "apt-get install ${missing[*]}"
  # containerd's package would start a system-wide containerd where an init system runs; ours is a
  # private instance on its own socket, so the two do not meet.
  local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -q -y --no-install-recommends)
  "${apt[@]}" install "${missing[@]}" </dev/null >&2 ||
    { apt-get -q update >&2 && "${apt[@]}" install "${missing[@]}" </dev/null >&2; } ||
    fail "apt-get install ${missing[*]} failed"
}

install_binaries() {
  local extra=() name
  for name in kube-controller-manager kube-scheduler kubelet kube-proxy; do
    [[ -x $(bin "$name") ]] || extra+=("$name")
  done
  # kube-local.sh owns the build (source, vendor fix, generated code, the cache lock) and also
  # provides kube-apiserver, kubectl and etcd.
  KUBEXIT_K8S_EXTRA_BINARIES="${extra[*]}" bash "$HERE/kube-local.sh" install
  for name in etcd kube-apiserver kubectl "${extra[@]}"; do
    [[ -x $(bin "$name") ]] || fail "no $name after install"
  done
}

# ------------------------------------------------------------------ images

IMAGES=$CACHE/node-images

# An OCI layout tar of a busybox-static root (every applet linked), with CONFIG... given to
# `umoci config`; rebuilt when busybox or this script changes.
busybox_layout() { # out.tar config-args...
  local out=$1 work stamp
  shift
  stamp="$(sha256sum /bin/busybox "${BASH_SOURCE[0]}" | cut -c1-16 | paste -sd-) $*"
  [[ -f $out && -f $out.inputs && $(<"$out.inputs") == "$stamp" ]] && return 0
  work=$(mktemp -d "$IMAGES/.work.XXXXXX")
  mkdir -p "$work/root"/{bin,etc,tmp,root,proc,sys,dev}
  cp /bin/busybox "$work/root/bin/busybox"
  # Links made by name, not by running busybox --install inside a chroot.
  /bin/busybox --list | while read -r applet; do
    [[ $applet == busybox ]] || ln -s busybox "$work/root/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$work/root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$work/root/etc/group"
  chmod 1777 "$work/root/tmp"
  umoci init --layout "$work/oci"
  umoci new --image "$work/oci:1"
  (cd "$work/root" && tar --sort=name --owner=0 --group=0 --numeric-owner -cf ../layer.tar -- *)
  umoci raw add-layer --image "$work/oci:1" "$work/layer.tar"
  umoci config --image "$work/oci:1" --os linux --architecture "$(dpkg --print-architecture)" \
    --config.env PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin --config.workingdir / "$@"
  umoci gc --layout "$work/oci"
  tar -C "$work/oci" -cf "$out.tmp" .
  mv "$out.tmp" "$out"
  printf '%s' "$stamp" >"$out.inputs"
  rm -rf "$work"
}

base_images() {
  mkdir -p "$IMAGES"
  busybox_layout "$IMAGES/busybox.tar" --config.cmd /bin/sh
  # The sandbox's only process. It never exits by itself; the runtime kills it.
  busybox_layout "$IMAGES/pause.tar" --config.entrypoint /bin/sleep --config.cmd infinity
}

ctr_() { ctr --address "$SOCK" --namespace k8s.io "$@"; }

import_layout() { # tar base-name
  ctr_ images import --base-name "$2" "$1" >/dev/null || fail "ctr images import $1 failed"
}

cmd_image() { # NAME:TAG DIR
  (($# == 2)) || fail "usage: $0 image NAME:TAG DIR"
  local ref=$1 dir=$2 work
  [[ $ref =~ ^[a-z0-9][a-z0-9._/-]*:[A-Za-z0-9_][A-Za-z0-9_.-]*$ ]] || fail "image name must be name:tag, not '$ref'"
  [[ -d $dir ]] || fail "no directory $dir"
  running containerd || fail "containerd of $STATE is not running (run: $0 up)"
  work=$(mktemp -d "$IMAGES/.work.XXXXXX")
  tar -C "$work" -xf "$IMAGES/busybox.tar" --one-top-level=oci
  umoci unpack --image "$work/oci:1" "$work/bundle" >/dev/null
  cp -a "$dir/." "$work/bundle/rootfs/"
  umoci repack --image "$work/oci:${ref##*:}" "$work/bundle"
  if [[ ${ref##*:} != 1 ]]; then umoci rm --image "$work/oci:1"; fi
  umoci gc --layout "$work/oci"
  tar -C "$work/oci" -cf "$work/image.tar" .
  import_layout "$work/image.tar" "docker.io/local/${ref%:*}"
  rm -rf "$work"
  say "imported docker.io/local/$ref"
}

# kubexit's image as `npm run image` makes it, under the same tag (e.g. 0.4.0-amd64).
cmd_kubexit_image() {
  running containerd || fail "containerd of $STATE is not running (run: $0 up)"
  (cd "$REPO" && npm run --silent image >&2) || fail "npm run image failed"
  local tar=$STATE/kubexit-image.tar
  tar -C "$REPO/dist/image" -cf "$tar" .
  import_layout "$tar" docker.io/local/kubexit
  rm -f "$tar"
  say "imported $(kubexit_image)"
}

kubexit_image() {
  printf 'docker.io/local/kubexit:%s-%s\n' "$(node -p 'require(process.argv[1]).version' "$REPO/package.json")" \
    "$(dpkg --print-architecture)"
}

cmd_install() {
  need_root
  install_packages
  install_binaries
  base_images
}

# ------------------------------------------------------------------ PKI and configuration

# sign NAME SUBJECT EXT...: a P-256 key and a certificate from our CA (self-signed for ca).
sign() {
  local name=$1 subject=$2 conf=$PKI/$1.cnf ca=()
  shift 2
  printf '[req]\nprompt = no\ndistinguished_name = dn\nx509_extensions = ext\n[dn]\n%s\n[ext]\n' \
    "$(tr '/' '\n' <<<"${subject#/}")" >"$conf"
  printf '%s\n' "$@" >>"$conf"
  [[ $name == ca ]] || ca=(-CA "$PKI/ca.crt" -CAkey "$PKI/ca.key")
  openssl req -x509 -new -config "$conf" -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -days 3650 -keyout "$PKI/$name.key" -out "$PKI/$name.crt" "${ca[@]}" 2>"$PKI/openssl.log" ||
    {
      cat "$PKI/openssl.log" >&2
      fail "openssl could not make $name"
    }
  rm -f "$conf" "$PKI/openssl.log"
}

client_cert() { # name subject
  sign "$1" "$2" 'basicConstraints = critical, CA:FALSE' \
    'keyUsage = critical, digitalSignature, keyEncipherment' 'extendedKeyUsage = clientAuth'
}

make_pki() {
  local want="$GATEWAY $SERVICE_IP"
  [[ -f $PKI/.complete && $(<"$PKI/.complete") == "$want" ]] && return 0
  say "making the CA, certificates and service-account key in $PKI"
  rm -rf "$PKI"
  mkdir -p "$PKI"
  chmod 700 "$PKI"
  sign ca /CN=kubexit-node-ca 'basicConstraints = critical, CA:TRUE' \
    'keyUsage = critical, keyCertSign, cRLSign, digitalSignature' 'subjectKeyIdentifier = hash'
  # Reached from the host at the bridge address, from pods at the Service's ClusterIP.
  sign apiserver /CN=kube-apiserver 'basicConstraints = critical, CA:FALSE' \
    'keyUsage = critical, digitalSignature, keyEncipherment' 'extendedKeyUsage = serverAuth' \
    "subjectAltName = IP:$GATEWAY, IP:$SERVICE_IP, IP:127.0.0.1, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local"
  # Each component under the user name the default RBAC policy binds.
  client_cert admin /O=system:masters/CN=kubexit-node-admin
  client_cert apiserver-kubelet-client /O=system:masters/CN=kube-apiserver-kubelet-client
  client_cert controller-manager /CN=system:kube-controller-manager
  client_cert scheduler /CN=system:kube-scheduler
  client_cert kube-proxy /CN=system:kube-proxy
  client_cert kubelet "/O=system:nodes/CN=system:node:$NODE"
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$PKI/sa.key" 2>/dev/null
  openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  chmod 600 "$PKI"/*
  printf '%s' "$want" >"$PKI/.complete"
}

kubeconfig() { # who -> $STATE/who.kubeconfig
  cat >"$STATE/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kubexit-node
  cluster: {server: "$SERVER", certificate-authority: "$PKI/ca.crt"}
users:
- name: $1
  user: {client-certificate: "$PKI/$1.crt", client-key: "$PKI/$1.key"}
contexts:
- name: $1
  context: {cluster: kubexit-node, user: $1, namespace: default}
current-context: $1
EOF
}

write_configs() {
  local who
  for who in admin controller-manager scheduler kube-proxy kubelet; do kubeconfig "$who"; done
  mkdir -p "$STATE/cni" "$STATE/containerd" "$RUN"
  cat >"$STATE/containerd.toml" <<EOF
version = 2
root = "$STATE/containerd"
state = "$RUN/containerd"
# This VM denies a negative oom_score_adj even to root (no CAP_SYS_RESOURCE): containerd keeps its
# own score, and the CRI clamps the sandbox's -998 to it, or every runc create fails.
oom_score = 0
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$SOCK"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$STATE/containerd-opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "docker.io/local/pause:1"
  disable_apparmor = true
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "/usr/bin/runc"
        Root = "$RUN/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni"
    max_conf_num = 1
EOF
  # Pods get an address on the bridge and a route to the Services through it (kube-proxy's DNAT
  # happens on the host); no masquerading: nothing leaves this machine.
  cat >"$STATE/cni/10-kubexit-node.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "kubexit-node",
  "plugins": [
    {
      "type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": {
        "type": "host-local", "dataDir": "$STATE/ipam",
        "ranges": [[{"subnet": "$SUBNET.0/24", "gateway": "$GATEWAY"}]],
        "routes": [{"dst": "$SERVICE_SUBNET.0/24"}]
      }
    }
  ]
}
EOF
  cat >"$STATE/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $GATEWAY
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ
# The apiserver calls (logs, exec) with a client certificate of our CA; anything else asks the
# apiserver whether it may (SubjectAccessReview).
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$PKI/ca.crt"}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
cgroupRoot: /$CGROUP
cgroupsPerQOS: true
failSwapOn: false
# Leave the kernel's and iptables' defaults alone where the kubelet allows it.
protectKernelDefaults: false
makeIPTablesUtilChains: false
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
nodeStatusUpdateFrequency: 4s
# A test machine's disk is often fuller than a node's: no image GC, evictions only at the very end.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
serializeImagePulls: false
maxPods: 30
EOF
}

# ------------------------------------------------------------------ the machine: record, prepare, restore

record_machine() {
  [[ -f $BEFORE ]] && return 0 # a second up keeps the first record
  local s d
  {
    for s in "${SYSCTLS[@]}"; do printf 'sysctl %s %s\n' "$s" "$(<"/proc/sys/$s")"; done
    for d in "${FIXED_DIRS[@]}"; do [[ -e $d ]] && printf 'existed %s\n' "$d"; done
    # Someone else's KUBE-* chains (a real cluster on this machine) turn the cleanup off.
    printf 'kube-chains %s\n' "$( (iptables-save; ip6tables-save) 2>/dev/null | grep -c '^:KUBE-' || true)"
    true
  } >"$BEFORE.tmp"
  mv "$BEFORE.tmp" "$BEFORE"
}

restore_sysctls() { # [prefix]: only the keys that start with it
  [[ -f $BEFORE ]] || return 0
  local kind key value
  while read -r kind key value; do
    [[ $kind == sysctl && $key == "${1:-}"* ]] || continue
    [[ $(<"/proc/sys/$key") == "$value" ]] || echo "$value" >"/proc/sys/$key"
  done <"$BEFORE"
}

cgroup_dirs() { # every hierarchy's copy of our cgroup root
  local h
  for h in /sys/fs/cgroup /sys/fs/cgroup/*; do
    [[ -d $h/$CGROUP ]] && printf '%s\n' "$h/$CGROUP"
  done
  true
}

make_cgroups() {
  local h
  if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then # cgroup v2 only
    mkdir -p "/sys/fs/cgroup/$CGROUP"
    return 0
  fi
  for h in /sys/fs/cgroup/*; do
    mountpoint -q "$h" || continue
    mkdir -p "$h/$CGROUP"
    # A new v1 cpuset is empty: it needs its parent's CPUs and memory nodes before tasks can join.
    if [[ -f $h/cpuset.cpus && -z $(<"$h/$CGROUP/cpuset.cpus") ]]; then
      cat "$h/cpuset.cpus" >"$h/$CGROUP/cpuset.cpus"
      cat "$h/cpuset.mems" >"$h/$CGROUP/cpuset.mems"
    fi
  done
}

remove_cgroups() {
  local top dir pid
  for top in $(cgroup_dirs); do
    # Leaves first; a process still inside (none, normally) is killed.
    while read -r dir; do
      if [[ -f $dir/cgroup.procs ]]; then
        while read -r pid; do kill -9 "$pid" 2>/dev/null || true; done <"$dir/cgroup.procs"
      fi
      rmdir "$dir" 2>/dev/null || { sleep 0.3 && rmdir "$dir"; } || say "warning: could not remove cgroup $dir"
    done < <(find "$top" -depth -type d)
  done
}

make_bridge() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
  fi
  [[ $(ip -o -4 addr show dev "$BRIDGE") == *" $GATEWAY/24 "* ]] || ip addr add "$GATEWAY/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
}

# Our mounts, deepest first: the kubelet's volumes and its root bind-mounted onto itself,
# containerd's rootfs overlays, sandbox shm and netns files.
unmount_ours() {
  local m
  for m in $(awk '{print $5}' /proc/self/mountinfo | grep -E "^($STATE|$RUN)(/|$)" | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || say "warning: could not unmount $m"
  done
}

# Whatever chains kube-proxy (and a kubelet) leave, in every table: KUBE-* chains and the rules
# in other chains that jump to them. Nothing else of the machine's rules is touched.
remove_kube_chains() {
  local cmd table rule chain
  if ! grep -qx 'kube-chains 0' "$BEFORE" 2>/dev/null; then
    say "warning: KUBE-* iptables chains existed before up (or no record of it): left alone"
    return 0
  fi
  for cmd in iptables ip6tables; do
    command -v "$cmd" >/dev/null || continue
    for table in filter nat mangle raw; do
      "$cmd" -t "$table" -S >/dev/null 2>&1 || continue
      while read -r rule; do
        [[ -n $rule ]] || continue
        eval "set -- $rule"
        shift # -A
        "$cmd" -t "$table" -D "$@" 2>/dev/null || true
      done < <("$cmd" -t "$table" -S | grep -E '^-A ' | grep -E -- '-j KUBE-' | grep -v -E '^-A KUBE-')
      for chain in $("$cmd" -t "$table" -S | sed -n 's/^-N \(KUBE-[^ ]*\)$/\1/p'); do
        "$cmd" -t "$table" -F "$chain" 2>/dev/null || true
      done
      for chain in $("$cmd" -t "$table" -S | sed -n 's/^-N \(KUBE-[^ ]*\)$/\1/p'); do
        "$cmd" -t "$table" -X "$chain" 2>/dev/null || say "warning: $cmd -t $table -X $chain failed"
      done
    done
  done
}

# ------------------------------------------------------------------ processes

alive() { # pid name: a live, non-zombie process whose command line mentions name
  local stat
  [[ $1 =~ ^[0-9]+$ && -r /proc/$1/stat ]] || return 1
  { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
  stat=${stat##*) }
  [[ ${stat:0:1} != Z && $(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) == *"$2"* ]]
}

running() {
  local f=$STATE/$1.pid
  [[ -f $f ]] && alive "$(<"$f")" "$1"
}

# Detached, in a session of its own, so that it outlives this script; the pid file is written by
# the process itself before it becomes the component.
start() { # name command...
  local name=$1 i
  shift
  running "$name" && return 0
  rm -f "$STATE/$name.pid"
  printf '\n==== %s %s\n' "$(date -u +%FT%TZ)" "$*" >>"$STATE/logs/$name.log"
  # shellcheck disable=SC2016 # expanded by the inner shell
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$STATE/$name.pid" "$@" \
    </dev/null >>"$STATE/logs/$name.log" 2>&1 8>&- 9>&- &
  for ((i = 0; i < 100; i++)); do
    [[ -s $STATE/$name.pid ]] && return 0
    sleep 0.05
  done
  fail "$name did not start (see $STATE/logs/$name.log)"
}

await() { # name probe...: until the probe succeeds; fails if the component dies or takes too long
  local name=$1 deadline=$((SECONDS + READY_TIMEOUT))
  shift
  until "$@" >/dev/null 2>&1; do
    if ! running "$name"; then
      tail -n 30 "$STATE/logs/$name.log" >&2
      fail "$name exited (log: $STATE/logs/$name.log)"
    fi
    ((SECONDS < deadline)) || {
      tail -n 30 "$STATE/logs/$name.log" >&2
      fail "$name not ready after ${READY_TIMEOUT}s (log: $STATE/logs/$name.log)"
    }
    sleep 0.2
  done
}

stop() { # name [seconds before SIGKILL]
  local name=$1 grace=${2:-10} pid i
  if running "$name"; then
    pid=$(<"$STATE/$name.pid")
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
      alive "$pid" "$name" || break
      sleep 0.1
    done
    if alive "$pid" "$name"; then
      say "$name (pid $pid) still running after ${grace}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      while alive "$pid" "$name"; do sleep 0.05; done
    fi
    say "stopped $name"
  fi
  rm -f "$STATE/$name.pid"
}

kubectl_() { "$(bin kubectl)" --kubeconfig "$STATE/admin.kubeconfig" "$@"; }

apiserver_ready() { curl -fsS --max-time 2 --cacert "$PKI/ca.crt" "$SERVER/readyz"; }

node_ready() {
  [[ $(kubectl_ get node "$NODE" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}') == True ]]
}

# kube-proxy has programmed the `kubernetes` Service, and its endpoint is the apiserver.
service_routed() {
  iptables -t nat -S KUBE-SERVICES 2>/dev/null | grep -- "-d $SERVICE_IP/32 .*default/kubernetes:https" >/dev/null
}

start_control_plane() {
  local minor flags=()
  start etcd "$(bin etcd)" --name kubexit-node --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "kubexit-node=http://127.0.0.1:$ETCD_PEER_PORT" --logger zap --log-level warn
  await etcd curl -fsS --max-time 2 "http://127.0.0.1:$ETCD_PORT/health"
  # 1.20 opens an unauthenticated port 8080 unless told not to; the flag is gone from 1.24 on.
  minor=$("$(bin kube-apiserver)" --version | sed -n 's/^Kubernetes v1\.\([0-9]*\).*/\1/p')
  if [[ -n $minor ]] && ((minor < 24)); then flags+=(--insecure-port=0); fi
  # Bound to the bridge address: the host reaches it there, pods through the Service. The
  # default admission plugins include ServiceAccount (the token volume in every pod).
  start kube-apiserver "$(bin kube-apiserver)" "${flags[@]}" \
    --bind-address="$GATEWAY" --advertise-address="$GATEWAY" --secure-port="$API_PORT" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" --cert-dir="$STATE/apiserver-certs" \
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --client-ca-file="$PKI/ca.crt" --authorization-mode=Node,RBAC \
    --enable-admission-plugins=NodeRestriction \
    --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types=InternalIP \
    --service-account-issuer="$ISSUER" --api-audiences="$ISSUER" \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --service-cluster-ip-range="$SERVICE_SUBNET.0/24" --allow-privileged=true --profiling=false
  await kube-apiserver apiserver_ready
  say "kube-apiserver ready on $SERVER (${SECONDS}s into up)"
  start kube-controller-manager "$(bin kube-controller-manager)" \
    --kubeconfig="$STATE/controller-manager.kubeconfig" --use-service-account-credentials=true \
    --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
    --leader-elect=false --port=0 --secure-port=0 --controllers='*' \
    --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
    --node-monitor-period=2s --flex-volume-plugin-dir="$STATE/kubelet-plugins" --profiling=false
  start kube-scheduler "$(bin kube-scheduler)" --kubeconfig="$STATE/scheduler.kubeconfig" \
    --leader-elect=false --port=0 --secure-port=0 --profiling=false
}

start_node() {
  start containerd containerd --config "$STATE/containerd.toml"
  await containerd ctr --address "$SOCK" version
  import_layout "$IMAGES/pause.tar" docker.io/local/pause
  import_layout "$IMAGES/busybox.tar" docker.io/local/busybox
  start kube-proxy "$(bin kube-proxy)" --kubeconfig="$STATE/kube-proxy.kubeconfig" \
    --hostname-override="$NODE" --bind-address="$GATEWAY" --proxy-mode=iptables \
    --cluster-cidr="$SUBNET.0/24" --healthz-bind-address="127.0.0.1:$PROXY_HEALTHZ" \
    --metrics-bind-address="127.0.0.1:$PROXY_METRICS" --conntrack-max-per-core=0 \
    --conntrack-tcp-timeout-established=0 --conntrack-tcp-timeout-close-wait=0 --profiling=false
  # For tests that read a finished pod: its volumes (the graveyard) stay until the pod object
  # goes, and its dead containers (their logs) for at least two minutes.
  start kubelet "$(bin kubelet)" --config="$STATE/kubelet.yaml" \
    --kubeconfig="$STATE/kubelet.kubeconfig" --hostname-override="$NODE" --node-ip="$GATEWAY" \
    --container-runtime=remote --container-runtime-endpoint="unix://$SOCK" \
    --root-dir="$STATE/kubelet" --cert-dir="$STATE/kubelet-pki" \
    --volume-plugin-dir="$STATE/kubelet-plugins" --pod-infra-container-image=docker.io/local/pause:1 \
    --oom-score-adj=0 --node-labels=kubexit.test/node=true --keep-terminated-pod-volumes=true \
    --minimum-container-ttl-duration=2m --v=1
  local t0=$SECONDS
  await kubelet node_ready
  # The kubelet sets vm.overcommit_memory=1, kernel.panic=10, kernel.panic_on_oops=1 once as it
  # starts; this machine keeps its own.
  restore_sysctls vm/
  restore_sysctls kernel/
  say "node $NODE Ready (${SECONDS}s into up, $((SECONDS - t0))s after the kubelet's start)"
  await kube-proxy service_routed
  say "the kubernetes Service ($SERVICE_IP:443) routes to the apiserver"
}

cmd_up() {
  cmd_install
  SECONDS=0 # the binaries are there: from here on, the start itself
  mkdir -p "$STATE/logs" "$RUN"
  [[ -f $STATE/.kubexit-node ]] || touch "$STATE/.kubexit-node"
  exec 9>"$STATE/.lock"
  flock -w 300 9 || fail "timed out waiting for $STATE/.lock"
  record_machine
  make_pki
  write_configs
  make_bridge
  make_cgroups
  start_control_plane
  start_node
  exec 9>&-
  print_env
}

# Pods go through the kubelet (its containers stopped, sandboxes' networks torn down by CNI);
# whatever is left after that is killed through containerd.
delete_pods() {
  running kube-apiserver && running kubelet || return 0
  kubectl_ delete pods --all-namespaces --all --grace-period=1 --wait=false >/dev/null 2>&1 || true
  local deadline=$((SECONDS + 30))
  while ((SECONDS < deadline)) && [[ -n $(ctr_ tasks ls -q 2>/dev/null) ]]; do sleep 0.5; done
}

kill_leftover_tasks() {
  running containerd || return 0
  local id
  for id in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true; done
  for id in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks rm -f "$id" >/dev/null 2>&1 || true; done
  for id in $(ctr_ containers ls -q 2>/dev/null); do ctr_ containers rm "$id" >/dev/null 2>&1 || true; done
}

# containerd's shims outlive it: end those of our socket.
kill_shims() {
  local pid
  for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $SOCK" || true); do
    kill -KILL "$pid" 2>/dev/null || true
  done
}

cmd_down() {
  need_root
  [[ -d $STATE ]] || return 0
  mkdir -p "$STATE/logs"
  exec 9>"$STATE/.lock"
  flock -w 300 9 || fail "timed out waiting for $STATE/.lock"
  # Controllers first, or the Job controller replaces the pods as they go.
  stop kube-controller-manager
  stop kube-scheduler
  delete_pods
  stop kubelet 20
  kill_leftover_tasks
  stop kube-proxy
  if [[ -x $(bin kube-proxy) ]]; then "$(bin kube-proxy)" --cleanup >>"$STATE/logs/kube-proxy.log" 2>&1 || true; fi
  stop containerd
  kill_shims
  stop kube-apiserver
  stop etcd
  unmount_ours
  remove_cgroups
  remove_kube_chains
  if ip link show "$BRIDGE" >/dev/null 2>&1; then ip link delete "$BRIDGE"; fi
  restore_sysctls
  local d
  for d in "${FIXED_DIRS[@]}"; do
    if [[ -e $d ]] && ! grep -qx "existed $d" "$BEFORE" 2>/dev/null; then rm -rf "$d"; fi
  done
  # The next up starts from nothing but the PKI, the logs and the images.
  rm -rf "$STATE"/{etcd,containerd,containerd-opt,kubelet,kubelet-pki,kubelet-plugins,ipam,apiserver-certs} "$RUN"
  rm -f "$BEFORE"
  say "down: the machine is as up found it"
}

emit() { printf 'export %s=%q\n' "$1" "$2"; }

print_env() {
  [[ -f $PKI/.complete ]] || fail "no cluster in $STATE yet (run: $0 up)"
  emit KUBECONFIG "$STATE/admin.kubeconfig"
  emit KUBEXIT_NODE_STATE "$STATE"
  emit KUBEXIT_NODE_SERVER "$SERVER"
  emit KUBEXIT_NODE_CA "$PKI/ca.crt"
  emit KUBEXIT_NODE_ADMIN_CERT "$PKI/admin.crt"
  emit KUBEXIT_NODE_ADMIN_KEY "$PKI/admin.key"
  emit KUBEXIT_NODE_KUBECTL "$(bin kubectl)"
  emit KUBEXIT_NODE_NAME "$NODE"
  emit KUBEXIT_NODE_KUBELET_ROOT "$STATE/kubelet"
  emit KUBEXIT_NODE_KUBEXIT_IMAGE "$(kubexit_image)"
  emit KUBEXIT_NODE_BUSYBOX_IMAGE docker.io/local/busybox:1
  emit KUBEXIT_NODE_SCRIPT "$HERE/kube-node.sh"
}

cmd_status() {
  local c ok=0
  for c in "${COMPONENTS[@]}"; do
    if running "$c"; then
      printf '%-24s running  pid %s\n' "$c" "$(<"$STATE/$c.pid")"
    else
      printf '%-24s stopped\n' "$c"
      ok=1
    fi
  done
  if running kube-apiserver && node_ready; then
    printf '%-24s Ready\n' "node $NODE"
  else
    printf '%-24s not ready\n' "node $NODE"
    ok=1
  fi
  printf 'state %s (logs in %s/logs), API %s\n' "$STATE" "$STATE" "$SERVER"
  return "$ok"
}

cmd_purge() {
  [[ -d $STATE ]] || return 0
  [[ -f $STATE/.kubexit-node ]] || fail "$STATE was not made by this script; not deleting it"
  cmd_down
  rm -rf "$STATE"
}

main() {
  local cmd=${1:-help}
  (($#)) && shift
  case $cmd in
    install) cmd_install ;;
    up) need_root && cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    env) print_env ;;
    image) cmd_image "$@" ;;
    kubexit-image) cmd_kubexit_image ;;
    purge) cmd_purge ;;
    help | -h | --help) usage ;;
    *)
      usage
      fail "unknown command: $cmd"
      ;;
  esac
}

main "$@"
