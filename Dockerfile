# syntax=docker/dockerfile:1
# kubexit's image: the packaged executable and the glibc it needs, FROM scratch, for the init
# container that side-loads kubexit into a pod's volume:
#
#   initContainers:
#     - name: kubexit
#       image: kubexit:0.4.0
#       args: ['install', '/kubexit']        # runs /usr/local/bin/kubexit install /kubexit
#       volumeMounts: [{ name: kubexit, mountPath: /kubexit }]
#
# or, with no init container and no copy, as an image volume (Kubernetes >= 1.33, ImageVolume on;
# see examples/image-volume):
#
#   volumes: [{ name: kubexit, image: { reference: kubexit:0.4.0 } }]
#   containers: [{ …, volumeMounts: [{ name: kubexit, mountPath: /kubexit, subPath: kubexit }] }]
#
# Paths in the image (laid out by scripts/image-root.sh, which scripts/image.sh also uses to
# build the same image without a daemon):
#   /usr/local/bin/kubexit        the executable as `npm run package` built it: the ENTRYPOINT
#   /lib/*.so*, /lib64/ld-linux-x86-64.so.2 (amd64) or /lib/ld-linux-aarch64.so.1 (arm64)
#                                 the loader and the libraries it runs with here
#   /kubexit/                     what `kubexit install /kubexit` writes (kubexit, ld, lib/: the
#                                 same files as /lib's), for the image volume's subPath
#   /bin/cp, /bin/sh, /bin/kubexit, /app/bin/kubexit
#                                 the executable again (hard links), so that the Go kubexit's init
#                                 containers run unchanged: `cp /app/bin/kubexit /kubexit/kubexit`
#                                 (ispringtech fork) and `cp /bin/kubexit /kubexit/kubexit`
#                                 (karlkfi), also as `sh -c '…'`, install; anything else that
#                                 cp or sh is given is refused (exit 2): there is no shell
# The init container mounts its volume at /kubexit, over that folder, which it does not use, and
# `install` writes there the copy pointed at /kubexit/ld and /kubexit/lib. To bake kubexit into
# an image that has glibc instead:
#   COPY --from=kubexit:0.4.0 /usr/local/bin/kubexit /usr/local/bin/kubexit
#
# The published images come from scripts/image.sh: a zstd layer (`zstd -18 --long=27`, which
# stores the near-identical /kubexit/kubexit almost free: about 44 MB) and a -gzip tag without
# the folder. buildx can write zstd too (--output type=image,compression=zstd,oci-mediatypes=true)
# but with no long window, so the second copy of the executable is stored again there.
#
# Platforms: linux/amd64 and linux/arm64. The executables are compiled on the build platform
# (Bun cross-compiles, offline); `install` must run on the target platform, so the "root" stage
# does (under QEMU when cross-building with buildx, as any RUN for another platform does).

ARG VERSION=0.4.0

FROM --platform=$BUILDPLATFORM node:20-bookworm-slim AS build
ARG TARGETARCH
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY scripts/runtimes/package.json scripts/runtimes/package-lock.json scripts/runtimes/
RUN cd scripts/runtimes && npm ci --force --no-audit --no-fund --loglevel=error
COPY tsconfig.json ./
COPY scripts/build.mjs scripts/package.mjs scripts/
COPY src/ src/
RUN case "$TARGETARCH" in \
      amd64) target=linux-x64 ;; \
      arm64) target=linux-arm64 ;; \
      *) echo "no kubexit executable for $TARGETARCH" >&2; exit 1 ;; \
    esac \
 && npm run build \
 && KUBEXIT_PACKAGE_NO_GZIP=1 npm run package -- "$target" \
 && cp "dist/bin/kubexit-$target" /kubexit

FROM debian:bookworm-slim AS root
ARG TARGETARCH
COPY --from=build /kubexit /tmp/kubexit
COPY scripts/image-root.sh /tmp/image-root.sh
RUN sh /tmp/image-root.sh "$TARGETARCH" /tmp/kubexit /rootfs

FROM scratch
ARG VERSION
COPY --from=root /rootfs/ /
# Where a runtime looks up a command without a "/", such as the Go-era `cp`.
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LABEL org.opencontainers.image.title=kubexit \
      org.opencontainers.image.version=${VERSION} \
      org.opencontainers.image.licenses=Apache-2.0
ENTRYPOINT ["/usr/local/bin/kubexit"]
CMD ["--help"]
