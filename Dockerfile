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
# Paths in the image (laid out by scripts/image-root.sh, which scripts/image.sh also uses to
# build the same image without a daemon):
#   /usr/local/bin/kubexit        the executable as `npm run package` built it: the ENTRYPOINT
#   /lib/*.so*, /lib64/ld-linux-x86-64.so.2 (amd64) or /lib/ld-linux-aarch64.so.1 (arm64)
#                                 the loader and the libraries it runs with here
# Nothing is at /kubexit: that is where the volume goes, in the init container as in the others,
# and `install` writes there the copy pointed at /kubexit/ld and /kubexit/lib. The image does not
# hold that installed folder itself: it would only run with a /kubexit/ld, and an installed copy
# cannot install itself again. To bake kubexit into an image that has glibc instead:
#   COPY --from=kubexit:0.4.0 /usr/local/bin/kubexit /usr/local/bin/kubexit
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
LABEL org.opencontainers.image.title=kubexit \
      org.opencontainers.image.version=${VERSION} \
      org.opencontainers.image.licenses=Apache-2.0
ENTRYPOINT ["/usr/local/bin/kubexit"]
CMD ["--help"]
