#!/usr/bin/env bash
# Builds kubexit's image without a container engine (no Docker daemon in CI) into the OCI layout
# dist/image, one tag per architecture: <version>-amd64, <version>-arm64.
#
#   bash scripts/image.sh [amd64] [arm64]     (default: this machine's architecture)
#
# The image is the Dockerfile's final stage: one layer holding what scripts/image-root.sh lays
# out, and the same entrypoint, command and labels. How, with Debian's umoci:
#   umoci init / new           an empty layout, an empty image per tag
#   tar                        the root as a layer: sorted, owned by root, mtimes set to
#                              SOURCE_DATE_EPOCH (default: the last commit's time)
#   umoci raw add-layer        that tar, gzipped, as the image's only layer
#   umoci config               entrypoint, cmd, architecture, os, labels (as in the Dockerfile)
#   umoci gc                   drops the blobs the config edits left behind
# The same inputs give the same digests. It runs again only when an input changed (the
# executables, these scripts, the version, the architectures); dist/image is replaced whole.
# Uses dist/bin as it is: `npm run package` refreshes it (run here for any that is missing).
# arm64 on another machine: the executable's `install` runs under qemu-aarch64 with an arm64
# Debian root as its sysroot (KUBEXIT_ARM64_SYSROOT, default: the one the tests build).
# Push: skopeo copy oci:dist/image:<version>-amd64 docker://<registry>/kubexit:<version>
set -euo pipefail
cd "$(dirname "$0")/.."

out=dist/image
stamp=dist/image.inputs
version=$(node -p 'require("./package.json").version')
host=$(node -p 'process.arch')
case $host in
  x64) host=amd64 ;;
esac
arches=("$@")
[[ ${#arches[@]} -gt 0 ]] || arches=("$host")

if ! command -v umoci >/dev/null; then
  echo "image.sh: needs umoci (Debian: apt-get install umoci)" >&2
  exit 1
fi

target_of() { # the npm run package target for an image architecture
  case $1 in
    amd64) echo linux-x64 ;;
    arm64) echo linux-arm64 ;;
    *)
      echo "image.sh: no image for $1 (amd64 or arm64)" >&2
      return 1
      ;;
  esac
}

runner=()
runner_for() { # sets runner: what runs the executable of architecture $1 here
  runner=()
  [[ $1 == "$host" ]] && return 0
  if [[ $1 != arm64 ]]; then
    echo "image.sh: cannot run $1 executables on $host" >&2
    return 1
  fi
  local qemu sysroot=${KUBEXIT_ARM64_SYSROOT:-${KUBEXIT_ROOTS_DIR:-/var/cache/kubexit-roots}/arm64}
  qemu=$(command -v qemu-aarch64-static || command -v qemu-aarch64 || true)
  if [[ -z $qemu || ! -d $sysroot/usr/lib/aarch64-linux-gnu ]]; then
    echo "image.sh: arm64 needs qemu-aarch64 (Debian: qemu-user-static) and an arm64 root at" \
      "$sysroot (test/support/make-roots.sh builds one)" >&2
    return 1
  fi
  runner=("$qemu" -L "$sysroot")
}

for arch in "${arches[@]}"; do
  t=$(target_of "$arch")
  [[ -x dist/bin/kubexit-$t ]] || npm run --silent package -- "$t"
done

inputs=$(
  echo "version $version arches ${arches[*]}"
  for arch in "${arches[@]}"; do sha256sum "dist/bin/kubexit-$(target_of "$arch")"; done
  sha256sum scripts/image.sh scripts/image-root.sh
)
if [[ -f $out/index.json && -f $stamp && $(cat "$stamp") == "$inputs" ]]; then
  echo "$out: up to date ($(umoci ls --layout "$out" | paste -sd' '))"
  exit 0
fi

epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
mkdir -p dist
work=$(mktemp -d dist/.image-XXXXXX)
trap 'rm -rf "$work"' EXIT

umoci init --layout "$work/layout"
for arch in "${arches[@]}"; do
  t=$(target_of "$arch")
  runner_for "$arch"
  root=$work/root-$arch
  sh scripts/image-root.sh "$arch" "dist/bin/kubexit-$t" "$root" "${runner[@]}"
  find "$root" -exec touch -h -d "@$epoch" {} +
  (cd "$root" && tar --sort=name --owner=0 --group=0 --numeric-owner --format=gnu \
    -cf "../layer-$arch.tar" -- *)

  image=$work/layout:$version-$arch
  umoci new --image "$image"
  umoci raw add-layer --image "$image" --history.created "$created" \
    --history.created_by "scripts/image-root.sh $arch (COPY --from=root /rootfs/ /)" \
    "$work/layer-$arch.tar"
  umoci config --image "$image" --no-history --created "$created" \
    --architecture "$arch" --os linux \
    --config.entrypoint /usr/local/bin/kubexit --config.cmd=--help \
    --config.label "org.opencontainers.image.title=kubexit" \
    --config.label "org.opencontainers.image.version=$version" \
    --config.label "org.opencontainers.image.licenses=Apache-2.0"
done
umoci gc --layout "$work/layout"

rm -rf "$out" "$stamp"
mv "$work/layout" "$out"
echo "$inputs" >"$stamp"
echo "$out: $(umoci ls --layout "$out" | paste -sd' ') ($(du -sh --apparent-size "$out" | cut -f1))"
