#!/bin/sh
# Lays out the root of kubexit's image: the one place that decides what the image holds, used by
# the Dockerfile (in a target-platform stage) and by scripts/image.sh (no container engine).
#
#   image-root.sh <amd64|arm64> <executable> <rootfs> [runner…]
#
# The image runs in no base at all (FROM scratch), so it carries the glibc the executable needs:
#   /usr/local/bin/kubexit   the packaged executable, unmodified (interpreter: the system loader)
#   /lib/<soname>            the libraries it loads, where glibc's loader looks without a cache
#   /lib64/ld-linux-x86-64.so.2 -> ../lib/…   (amd64; on arm64 the loader is /lib/… already)
#   /kubexit/                what `kubexit install /kubexit` writes (kubexit, ld, lib/), for an
#                            image volume: mounted with `subPath: kubexit` at /kubexit, it gives
#                            the app containers what the init container's copy gives them
#   /bin/cp, /bin/sh, /bin/kubexit, /app/bin/kubexit
#                            the executable again (hard links: the layer stores a link, not a
#                            copy), where the Go kubexit's images had their tools and kubexit, so
#                            that its init containers run unchanged: run from a file named cp
#                            or sh, the executable answers `cp /app/bin/kubexit /kubexit/kubexit`
#                            (ispringtech fork) or `cp /bin/kubexit /kubexit/kubexit` (karlkfi),
#                            also as `sh -c '…'`, by installing itself; it refuses anything else
# The files of /kubexit/lib and /kubexit/ld are the very files of /lib (hard links): the layer
# stores them once. The copy /kubexit/kubexit differs from /usr/local/bin/kubexit in a few bytes
# only (its interpreter path and library folder), which a long-window zstd stores almost free.
# The init container runs `/usr/local/bin/kubexit install /kubexit` with the pod's volume at
# /kubexit: the volume hides the image's /kubexit folder, which that container does not use.
# Why not only the installed folder: its executable runs only with its loader at /kubexit/ld,
# which is the init container's empty volume, and a file at /kubexit would make that mount fail.
#
# Which libraries: exactly those `kubexit install` copies, i.e. those the executable has mapped
# when it runs here. The runner (e.g. `qemu-aarch64-static -L <arm64 root>`) runs an executable
# built for another platform; the libraries then come from that root.
set -eu
if [ $# -lt 3 ]; then
  echo "usage: $0 <amd64|arm64> <executable> <rootfs> [runner…]" >&2
  exit 2
fi
arch=$1 exe=$2 rootfs=$3
shift 3
case $arch in
  amd64) loader=/lib64/ld-linux-x86-64.so.2 ;;
  arm64) loader=/lib/ld-linux-aarch64.so.1 ;;
  *)
    echo "$0: no image layout for $arch" >&2
    exit 2
    ;;
esac
soname=${loader##*/}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$@" "$exe" install "$work/installed" >&2
if [ ! -f "$work/installed/lib/$soname" ]; then
  echo "$0: $exe did not load $soname: not a glibc $arch executable?" >&2
  exit 1
fi

rm -rf "$rootfs"
mkdir -p "$rootfs/usr/local/bin" "$rootfs/lib"
cp "$exe" "$rootfs/usr/local/bin/kubexit"
mkdir -p "$rootfs/bin" "$rootfs/app/bin"
for path in bin/cp bin/sh bin/kubexit app/bin/kubexit; do
  ln "$rootfs/usr/local/bin/kubexit" "$rootfs/$path"
done
cp -R "$work/installed" "$rootfs/kubexit"
# One file per library: /lib's names and the installed loader are links to /kubexit/lib's files.
for lib in "$rootfs/kubexit/lib/"*; do
  ln "$lib" "$rootfs/lib/${lib##*/}"
done
if ! cmp -s "$rootfs/kubexit/ld" "$rootfs/kubexit/lib/$soname"; then
  echo "$0: the installed loader is not $soname" >&2
  exit 1
fi
ln -f "$rootfs/kubexit/lib/$soname" "$rootfs/kubexit/ld"
if [ "${loader%/*}" != /lib ]; then
  mkdir -p "$rootfs${loader%/*}"
  ln -s "../lib/$soname" "$rootfs$loader"
fi
chmod -R u=rwX,go=rX "$rootfs"
chmod 0755 "$rootfs/usr/local/bin/kubexit" "$rootfs/kubexit/kubexit" "$rootfs/lib/"*
