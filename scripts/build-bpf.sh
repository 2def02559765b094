#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds every BPF entry object (bpf/*.c, bpf/test/*.c) into build/bpf/*.o.
# vmlinux.h is generated from the running kernel's BTF: the installed UAPI headers (6.1) lack flags such as
# BPF_F_ADJ_ROOM_DECAP_L3_IPV4 that the data path uses, and CO-RE wants the kernel's own types anyway.
set -euo pipefail
cd "$(dirname "$0")/.."

CLANG=${CLANG:-$(command -v clang-19 || command -v clang || true)}
BPFTOOL=${BPFTOOL:-$(command -v bpftool || true)}
[ -n "$CLANG" ] || { echo "build-bpf: clang not found. Fix: apt-get install -y clang-19 (or run scripts/setup.sh)" >&2; exit 1; }
[ -n "$BPFTOOL" ] || { echo "build-bpf: bpftool not found. Fix: apt-get install -y bpftool (or run scripts/setup.sh)" >&2; exit 1; }
# VMLINUX_H=FILE uses a vmlinux.h generated elsewhere: an image build has no trustworthy /sys of the target kernel.
if [ -z "${VMLINUX_H:-}" ]; then
  [ -r /sys/kernel/btf/vmlinux ] || { echo "build-bpf: /sys/kernel/btf/vmlinux missing: the kernel needs CONFIG_DEBUG_INFO_BTF=y (or pass VMLINUX_H=FILE)" >&2; exit 1; }
else
  [ -s "$VMLINUX_H" ] || { echo "build-bpf: VMLINUX_H=$VMLINUX_H is missing or empty" >&2; exit 1; }
fi
[ -r /usr/include/bpf/bpf_helpers.h ] || { echo "build-bpf: libbpf headers missing. Fix: apt-get install -y libbpf-dev" >&2; exit 1; }

# BPF_OUT_DIR and BPF_EXTRA_CFLAGS build a second, different data path beside the first (upgrade tests).
out=${BPF_OUT_DIR:-build/bpf}
mkdir -p "$out" build/include
if [ -n "${VMLINUX_H:-}" ]; then
  cmp -s "$VMLINUX_H" build/include/vmlinux.h || cp "$VMLINUX_H" build/include/vmlinux.h
# Regenerate only when the kernel's BTF changed, so incremental builds stay fast.
elif [ ! -s build/include/vmlinux.h ] || [ /sys/kernel/btf/vmlinux -nt build/include/vmlinux.h ]; then
  "$BPFTOOL" btf dump file /sys/kernel/btf/vmlinux format c > build/include/vmlinux.h.tmp
  mv build/include/vmlinux.h.tmp build/include/vmlinux.h
fi

arch=$(uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
cflags=(-target bpf -O2 -g -Wall -Werror -D__TARGET_ARCH_"$arch" -Ibuild/include -Ibpf)
# shellcheck disable=SC2206 # word splitting of the extra flags is intended
cflags+=(${BPF_EXTRA_CFLAGS:-})

# Two instruction sets: BPF ISA v4 (kernel 6.6: byte swaps, sign-extending loads and 32-bit ALU/jumps as single
# instructions; 3-6 ns less per packet on most paths than clang-19's default, v1) in $out, and ISA v3 (kernel 5.1)
# in $out/isa-v3 for the kernels from 6.3 to 6.5 that the data path otherwise supports. The loader picks the
# set the running kernel accepts (src/control/paths.ts).
shopt -s nullglob
built=0
for isa in v4 v3; do
  dir=$out
  [ "$isa" = v3 ] && dir=$out/isa-v3
  mkdir -p "$dir"
  for src in bpf/*.c bpf/test/*.c; do
    obj="$dir/$(basename "${src%.c}").o"
    deps=("$src" bpf/lib/*.h build/include/vmlinux.h "$0")
    stale=0
    [ -f "$obj" ] || stale=1
    for d in "${deps[@]}"; do [ "$d" -nt "$obj" ] && stale=1; done
    if [ "$stale" = 1 ]; then
      "$CLANG" -mcpu="$isa" "${cflags[@]}" -c "$src" -o "$obj"
      built=$((built + 1))
    fi
  done
done
echo "build-bpf: $built object(s) rebuilt in $out (ISA v4) and $out/isa-v3"
