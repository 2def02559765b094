// SPDX-License-Identifier: Apache-2.0
// What the data path needs from this machine, checked one row at a time. Each failed row says how to fix it.
import { accessSync, constants, existsSync, readFileSync, readdirSync } from 'node:fs';
import { release } from 'node:os';
import { gunzipSync } from 'node:zlib';
import { delimiter, join } from 'node:path';
import { xdpUnhelpfulReason, type UplinkLinkFacts } from '../datapath/xdp-support.js';
import { packageRoot } from '../paths.js';

export interface CheckResult {
  name: string;
  /** A failed required row makes `doctor` exit non-zero. */
  required: boolean;
  ok: boolean;
  detail: string;
  fix?: string;
}

/** Kernel facts that need the BPF syscall; injected so the checks stay testable without privileges. */
export interface KernelProbes {
  bpfSyscall(): { ok: boolean; detail: string };
  tcx(): { ok: boolean; detail: string };
  xdp(): { ok: boolean; detail: string };
  /** XDP programs declared frags-aware (multi-buffer) load. */
  xdpFrags(): { ok: boolean; detail: string };
}

export const MIN_KERNEL: readonly [number, number] = [6, 3];

export function parseKernelVersion(text: string): [number, number] | undefined {
  const m = /^(\d+)\.(\d+)/.exec(text);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

export function findExecutable(name: string, path = process.env.PATH ?? ''): string | undefined {
  const dirs = [...path.split(delimiter), '/usr/sbin', '/sbin', '/usr/bin', '/bin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Effective capabilities from /proc/self/status (CapEff is a hex bitmask). */
export function effectiveCapabilities(status: string): bigint {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  return m ? BigInt(`0x${m[1]}`) : 0n;
}

const CAPABILITIES: Record<string, number> = { CAP_NET_ADMIN: 12, CAP_SYS_ADMIN: 21, CAP_BPF: 39, CAP_PERFMON: 38 };

export function bpffsMountedAt(mounts: string, dir: string): boolean {
  return mounts.split('\n').some((line) => {
    const [, mountPoint, fsType] = line.split(' ');
    return mountPoint === dir && fsType === 'bpf';
  });
}

/** CONFIG_VETH from /proc/config.gz when the kernel exposes it, else a loaded or installed veth module. */
export function kernelHasVeth(kernel: string): boolean {
  try {
    const config = gunzipSync(readFileSync('/proc/config.gz')).toString();
    return /^CONFIG_VETH=[ym]$/m.test(config);
  } catch {
    return existsSync('/sys/module/veth') || existsSync(`/lib/modules/${kernel}/kernel/drivers/net/veth.ko`);
  }
}

export const DATAPATH_OBJECTS = ['from_workload.o', 'to_uplink.o', 'from_uplink.o', 'from_uplink_xdp.o', 'probe.o'];

export interface CheckOptions {
  bpffsDir?: string;
  /** The uplink's link facts (or why they could not be read): whether XDP decap helps there. */
  uplink?: () => UplinkLinkFacts;
}

export function runChecks(probes: KernelProbes, opts: CheckOptions = {}): CheckResult[] {
  const rows: CheckResult[] = [];
  const bpffsDir = opts.bpffsDir ?? '/sys/fs/bpf';

  const kernel = release();
  const version = parseKernelVersion(kernel);
  const kernelOk = !!version && (version[0] > MIN_KERNEL[0] || (version[0] === MIN_KERNEL[0] && version[1] >= MIN_KERNEL[1]));
  rows.push({
    name: 'kernel version',
    required: true,
    ok: kernelOk,
    detail: `${kernel} (need >= ${MIN_KERNEL.join('.')} for BPF_F_ADJ_ROOM_DECAP_* and tc decap)`,
    fix: kernelOk ? undefined : `boot a kernel >= ${MIN_KERNEL.join('.')}`,
  });

  const caps = effectiveCapabilities(readFileSync('/proc/self/status', 'utf8'));
  const missingCaps = ['CAP_BPF', 'CAP_NET_ADMIN', 'CAP_SYS_ADMIN'].filter((c) => !(caps & (1n << BigInt(CAPABILITIES[c]))));
  rows.push({
    name: 'privileges',
    required: true,
    ok: missingCaps.length === 0,
    detail: missingCaps.length === 0 ? 'CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN' : `missing ${missingCaps.join(', ')}`,
    fix: missingCaps.length === 0 ? undefined : 'run as root (or grant the capabilities to the container)',
  });

  const syscall = probes.bpfSyscall();
  rows.push({
    name: 'BPF syscall',
    required: true,
    ...syscall,
    fix: syscall.ok ? undefined : 'enable CONFIG_BPF_SYSCALL, run with CAP_BPF, and check kernel.unprivileged_bpf_disabled',
  });

  const btf = existsSync('/sys/kernel/btf/vmlinux');
  rows.push({
    name: 'BTF',
    required: true,
    ok: btf,
    detail: btf ? '/sys/kernel/btf/vmlinux' : '/sys/kernel/btf/vmlinux missing',
    fix: btf ? undefined : 'use a kernel built with CONFIG_DEBUG_INFO_BTF=y',
  });

  const mounted = bpffsMountedAt(readFileSync('/proc/mounts', 'utf8'), bpffsDir);
  rows.push({
    name: 'bpffs mounted',
    required: true,
    ok: mounted,
    detail: mounted ? bpffsDir : `no bpf filesystem at ${bpffsDir}`,
    fix: mounted ? undefined : `mount -t bpf bpffs ${bpffsDir}   (or: bash scripts/mount-bpffs.sh)`,
  });

  const tcx = probes.tcx();
  rows.push({
    name: 'tcx links',
    required: false,
    ...tcx,
    fix: tcx.ok ? undefined : 'kernel < 6.6: bpf-overlay falls back to clsact + cls_bpf (works, no atomic link update)',
  });

  const xdp = probes.xdp();
  const veth = kernelHasVeth(kernel);
  rows.push({
    name: 'XDP on veth',
    required: false,
    ok: xdp.ok && veth,
    detail: `${xdp.detail}; veth driver ${veth ? 'present' : 'not found'}`,
    fix: xdp.ok && veth ? undefined : 'XDP decap is optional (--xdp); tc decap works without it',
  });

  const frags = probes.xdpFrags();
  rows.push({
    name: 'XDP frags',
    required: false,
    ...frags,
    fix: frags.ok ? undefined : 'kernel < 5.18: the frags-aware XDP decap program does not load; use tc decap (the default)',
  });

  if (opts.uplink) rows.push(uplinkXdpRow(opts.uplink));

  const root = packageRoot();
  const objDir = join(root, 'build', 'bpf');
  const builtObjects = existsSync(objDir) ? readdirSync(objDir) : [];
  const missingObjects = DATAPATH_OBJECTS.filter((o) => !builtObjects.includes(o));
  rows.push({
    name: 'BPF objects',
    required: true,
    ok: missingObjects.length === 0,
    detail: missingObjects.length === 0 ? objDir : `missing ${missingObjects.join(', ')} in ${objDir}`,
    fix: missingObjects.length === 0 ? undefined : 'npm run build:bpf',
  });

  const addon = join(root, 'build', 'Release', 'bpf_overlay_native.node');
  rows.push({
    name: 'native addon',
    required: true,
    ok: existsSync(addon),
    detail: addon,
    fix: existsSync(addon) ? undefined : 'npm run build:native',
  });

  // The compiler is needed to build, not to run: required only while the objects are not built yet.
  for (const [tool, pkg] of [
    ['clang-19', 'clang-19'],
    ['bpftool', 'bpftool'],
  ] as const) {
    const found = findExecutable(tool) ?? (tool === 'clang-19' ? findExecutable('clang') : undefined);
    rows.push({
      name: tool,
      required: missingObjects.length > 0,
      ok: !!found,
      detail: found ?? 'not found (needed to build the BPF objects)',
      fix: found ? undefined : `apt-get install -y ${pkg}`,
    });
  }

  for (const [tool, pkg, why] of [
    ['nft', 'nftables', 'natOutgoing masquerade'],
    ['ip', 'iproute2', 'routes and workload interfaces'],
  ] as const) {
    const found = findExecutable(tool);
    rows.push({
      name: tool,
      required: true,
      ok: !!found,
      detail: found ? `${found} (${why})` : `not found (needed for ${why})`,
      fix: found ? undefined : `apt-get install -y ${pkg}`,
    });
  }

  // BGP is optional (a VXLAN-only cluster runs no BIRD): a missing bird fails only clusters that configure BGP.
  for (const tool of ['bird', 'birdc']) {
    const found = findExecutable(tool);
    rows.push({
      name: tool,
      required: false,
      ok: !!found,
      detail: found ? `${found} (BGP: BGPConfiguration / BGPPeer)` : 'not found (needed only when BGP is configured)',
      fix: found ? undefined : 'apt-get install -y bird2',
    });
  }

  const ipipModule = existsSync('/sys/module/ipip');
  rows.push({
    name: 'ipip module',
    required: false,
    ok: true,
    detail: ipipModule ? 'loaded (not used: bpf-overlay encapsulates in BPF)' : 'absent (not needed: IP-in-IP is done in BPF)',
  });

  return rows;
}

function uplinkXdpRow(uplink: () => UplinkLinkFacts): CheckResult {
  const name = 'XDP decap on uplink';
  let facts: UplinkLinkFacts;
  try {
    facts = uplink();
  } catch (err) {
    return { name, required: false, ok: false, detail: (err as Error).message.split('\n')[0], fix: 'name the uplink: doctor --uplink IFACE' };
  }
  const reason = xdpUnhelpfulReason(facts);
  if (reason === undefined) {
    const what = facts.kind ?? `physical device${facts.driver ? `, driver ${facts.driver}` : ''}`;
    return { name, required: false, ok: true, detail: `uplink '${facts.ifname}' (${what}): XDP decap (load --xdp) can help` };
  }
  return { name, required: false, ok: false, detail: reason, fix: 'keep tc decap (the default): load --xdp declines XDP here unless --force-xdp' };
}
