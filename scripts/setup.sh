#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One-time (idempotent) machine set-up for building and testing bpf-overlay, as root on Debian:
# system packages, bpffs, npm dependencies and the build.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "setup: must run as root (it installs packages and mounts bpffs). Fix: sudo bash scripts/setup.sh" >&2
  exit 1
fi

packages=(clang-19 llvm-19 libbpf-dev libelf-dev zlib1g-dev pkg-config bpftool iproute2 nftables ethtool
  tcpdump tshark iperf3 sockperf xdp-tools etcd-server etcd-client iputils-ping curl make g++ python3 bird2)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # tshark asks whether non-root users may capture; answer once, non-interactively.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's etcd-server package starts a system etcd on 2379; the tests start their own on private ports.
if systemctl is-active --quiet etcd 2>/dev/null; then systemctl disable --now etcd >/dev/null 2>&1 || true; fi
# Likewise bird2 starts a system BIRD; the agent runs its own per node (and the tests one per namespace).
if systemctl is-active --quiet bird 2>/dev/null; then systemctl disable --now bird >/dev/null 2>&1 || true; fi
# Without systemd its init script may have started it: shut down exactly that instance, by its own socket.
if [ -S /run/bird/bird.ctl ]; then birdc -s /run/bird/bird.ctl down >/dev/null 2>&1 || true; fi

bash scripts/mount-bpffs.sh

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run build
echo "setup: done"
