#!/bin/bash
# Builds the minimal roots that test/package-*.test.ts chroot into, once, under $1 (default
# /var/cache/kubexit-roots); $2… names the roots to build (default: all). Needs root, debootstrap,
# dpkg-deb and Debian's mirror. Each root is built in a temp folder and renamed into place, so an
# interrupted run leaves no half root; concurrent runs wait for each other (a lock in the cache).
#   minbase  debootstrap --variant=minbase (≈ debian:bookworm-slim)
#   glibc    only libc6's files (≈ distroless/base without its certificates and tzdata)
#   musl     only Debian's musl package (≈ a musl image with no libstdc++)
#   empty    nothing at all (≈ scratch)
#   arm64    an arm64 minbase, unpacked only: the sysroot for qemu-aarch64 -L
# The x64 roots also get /bin/busybox (static, from busybox-static) as a child to supervise.
set -euo pipefail
cache=${1:-/var/cache/kubexit-roots}
shift $(($# > 0 ? 1 : 0))
wanted=" ${*:-empty glibc musl minbase arm64} "
mirror=${KUBEXIT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=bookworm
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock -w 1800 9 || { echo "timed out waiting for $cache/.lock" >&2; exit 1; }
# want <name>: asked for and not built yet
want() { [[ $wanted == *" $1 "* && ! -d $cache/$1 ]]; }
work=$(mktemp -d "$cache/.work-XXXXXX")
chmod 755 "$work" # apt-get download fetches as the _apt user
trap 'rm -rf "$work"' EXIT

busybox=$(command -v busybox || true)
if [ -z "$busybox" ] || ! file -L "$busybox" 2>/dev/null | grep -q 'statically linked'; then
  (cd "$work" && apt-get download -qq busybox-static && dpkg-deb -x busybox-static_*.deb bb)
  busybox=$work/bb/bin/busybox
fi

finish() { # finish <name> <dir>: add the child and the mount points, then rename into place
  mkdir -p "$2/bin" "$2/proc" "$2/graveyard" "$2/kubexit" "$2/tmp"
  [ -e "$2/bin/busybox" ] || cp "$busybox" "$2/bin/busybox"
  mv "$2" "$cache/$1"
}

unpack() { # unpack <dir> <package…>: only the packages' files, no scripts run
  local dir=$1
  shift
  mkdir -p "$dir" "$work/debs"
  (cd "$work/debs" && apt-get download -qq "$@")
  for p in "$@"; do dpkg-deb -x "$work/debs/${p}"_*.deb "$dir"; done
}

if want empty; then finish empty "$work/empty"; fi
if want glibc; then
  unpack "$work/glibc" libc6
  finish glibc "$work/glibc"
fi
if want musl; then
  unpack "$work/musl" musl
  finish musl "$work/musl"
fi
if want minbase; then
  debootstrap --variant=minbase "$suite" "$work/minbase" "$mirror" >"$work/minbase.log" 2>&1 ||
    { tail -20 "$work/minbase.log" >&2; exit 1; }
  rm -rf "$work/minbase/var/cache/apt/archives/"*.deb
  finish minbase "$work/minbase"
fi
if want arm64; then
  debootstrap --foreign --arch=arm64 --variant=minbase \
    "$suite" "$work/arm64" "$mirror" >"$work/arm64.log" 2>&1 ||
    { tail -20 "$work/arm64.log" >&2; exit 1; }
  rm -rf "$work/arm64/var/cache/apt/archives/"*.deb
  mkdir -p "$work/arm64/graveyard" "$work/arm64/proc"
  mv "$work/arm64" "$cache/arm64"
fi
echo "roots ready in $cache: $(ls "$cache" | tr '\n' ' ')"
