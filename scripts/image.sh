#!/usr/bin/env bash
# Builds kubexit's image without a container engine (no Docker daemon in CI) into the OCI layout
# dist/image, two tags per architecture:
#   <version>-<arch>        zstd layer, the whole root of scripts/image-root.sh (the executable,
#                           its libraries, and the /kubexit folder for image volumes)
#   <version>-<arch>-gzip   gzip layer, the same root without the /kubexit folder: for runtimes
#                           that cannot read zstd (containerd < 1.5, …), which cannot mount image
#                           volumes either; with the folder, gzip would store the executable twice
#
#   bash scripts/image.sh [amd64] [arm64]     (default: this machine's architecture)
#
# The image is the Dockerfile's final stage: one layer holding what scripts/image-root.sh lays
# out, and the same entrypoint, command and labels. How, with Debian's umoci and zstd:
#   umoci init / new           an empty layout, an empty image per tag
#   tar                        the root as a layer: sorted, owned by root, mtimes set to
#                              SOURCE_DATE_EPOCH (default: the last commit's time)
#   umoci raw add-layer        the root without /kubexit, gzipped, as the -gzip image's layer
#   umoci config               entrypoint, cmd, PATH, architecture, os, labels (as in the
#                              Dockerfile)
#   zstd $ZSTD_OPTIONS         the whole root (umoci 0.4 only writes gzip); the architectures in
#                              parallel, the costly step (level 18: 2-3 CPU-minutes each here)
#   scripts/image-zstd.mjs     that layer, with the -gzip image's config, as <version>-<arch>
#   umoci gc                   drops the blobs the config edits left behind
# zstd -18: 44.1 MB for amd64, 1 % more than -19 in about 70 % of its time; -15 is 9 % more.
# zstd --long=27: a 128 MiB window, so that the second copy of the executable (/kubexit/kubexit,
# a few bytes apart from /app/bin/kubexit, the first of the executable's names in the tar, about
# 120 MB before it) costs almost nothing; its other names are hard-link entries. Decoders need that window: containerd and CRI-O (klauspost/compress: up to 512 MiB by
# default) and the zstd CLI (128 MiB by default) have it.
# The same inputs give the same digests. It runs again only when an input changed (the
# executables, these scripts, the version, the architectures, umoci's and zstd's versions);
# dist/image is replaced whole.
# Uses dist/bin as it is: `npm run package` refreshes it (run here for any that is missing).
# arm64 on another machine: the executable's `install` runs under qemu-aarch64 with an arm64
# Debian root as its sysroot (KUBEXIT_ARM64_SYSROOT, default: the one the tests build).
# Push (one architecture): skopeo copy oci:dist/image:<version>-amd64 docker://<registry>/kubexit:<version>
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

for tool in umoci zstd; do
  if ! command -v $tool >/dev/null; then
    echo "image.sh: needs $tool (Debian: apt-get install $tool)" >&2
    exit 1
  fi
done
ZSTD_OPTIONS=(-18 --long=27)

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
  sha256sum scripts/image.sh scripts/image-root.sh scripts/image-zstd.mjs
  umoci --version
  zstd --version
)
if [[ -f $out/index.json && -f $stamp && $(cat "$stamp") == "$inputs" ]]; then
  echo "$out: up to date ($(umoci ls --layout "$out" | paste -sd' '))"
  exit 0
fi

epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
mkdir -p dist
work=$(mktemp -d dist/.image-XXXXXX)
compressing=() # the zstd of each architecture, in the background while the next one is laid out
trap 'kill "${compressing[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT

layer() { # ROOT TAR NAME…: ROOT's NAMEs as a layer tar
  local root=$1 tar=$2
  shift 2
  (cd "$root" && tar --sort=name --owner=0 --group=0 --numeric-owner --format=gnu \
    -cf "$tar" -- "$@")
}

umoci init --layout "$work/layout"
for arch in "${arches[@]}"; do
  t=$(target_of "$arch")
  runner_for "$arch"
  root=$work/root-$arch
  sh scripts/image-root.sh "$arch" "dist/bin/kubexit-$t" "$root" "${runner[@]}"
  find "$root" -exec touch -h -d "@$epoch" {} +
  entries=()
  for entry in "$root"/*; do
    [[ ${entry##*/} == kubexit ]] || entries+=("${entry##*/}")
  done
  layer "$root" "$PWD/$work/layer-$arch.tar" kubexit "${entries[@]}"
  layer "$root" "$PWD/$work/layer-$arch-gzip.tar" "${entries[@]}"
  zstd -q -f "${ZSTD_OPTIONS[@]}" -o "$work/layer-$arch.tar.zst" "$work/layer-$arch.tar" &
  compressing+=($!)

  image=$work/layout:$version-$arch-gzip
  umoci new --image "$image"
  umoci raw add-layer --image "$image" --history.created "$created" \
    --history.created_by "scripts/image-root.sh $arch (COPY --from=root /rootfs/ /)" \
    "$work/layer-$arch-gzip.tar"
  umoci config --image "$image" --no-history --created "$created" \
    --architecture "$arch" --os linux \
    --config.entrypoint /usr/local/bin/kubexit --config.cmd=--help \
    --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --config.label "org.opencontainers.image.title=kubexit" \
    --config.label "org.opencontainers.image.version=$version" \
    --config.label "org.opencontainers.image.licenses=Apache-2.0"
  rm -f "$work/layer-$arch-gzip.tar"
done
for i in "${!arches[@]}"; do
  arch=${arches[$i]}
  wait "${compressing[$i]}"
  node scripts/image-zstd.mjs "$work/layout" "$version-$arch-gzip" "$version-$arch" \
    "$work/layer-$arch.tar" "$work/layer-$arch.tar.zst"
  rm -f "$work/layer-$arch.tar"
done
umoci gc --layout "$work/layout"

rm -rf "$out" "$stamp"
mv "$work/layout" "$out"
echo "$inputs" >"$stamp"
echo "$out: $(umoci ls --layout "$out" | paste -sd' ') ($(du -sh --apparent-size "$out" | cut -f1))"
