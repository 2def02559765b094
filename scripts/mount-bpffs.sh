#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Mounts bpffs at /sys/fs/bpf when it is not mounted yet (a fresh machine has none): pins live there.
set -euo pipefail
if ! mountpoint -q /sys/fs/bpf 2>/dev/null || [ "$(stat -f -c %T /sys/fs/bpf)" != bpf_fs ]; then
  mkdir -p /sys/fs/bpf
  mount -t bpf bpffs /sys/fs/bpf
  echo "mount-bpffs: mounted bpffs at /sys/fs/bpf"
fi
