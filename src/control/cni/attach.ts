// Puts the agent's pinned from_workload program on a workload's host veth (tc ingress: what the workload sends)
// and pins the link so that the attachment outlives this short-lived process.
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import type { PinLayout } from '../agent/pins.js';
import { attachTc, openPinnedLink, openPinnedProgram } from '../kernel/index.js';
import { CniCode, CniError } from './errors.js';
import { dataplaneError } from './netlink.js';

export function attachWorkloadProgram(pins: PinLayout, hostIfname: string): void {
  const programPath = pins.program('from_workload');
  if (!existsSync(programPath)) {
    throw new CniError(
      CniCode.TryAgainLater,
      `the bpf-overlay agent of node "${pins.node}" is not ready: no workload program pinned at ${programPath} ` +
        `(is "bpf-overlay load --node ${pins.node}" running with bpffs ${pins.bpffs}?)`,
    );
  }
  const linkPath = pins.workloadLink(hostIfname);
  // A pin left by a crashed earlier attempt names a veth that no longer exists (we just created this one).
  rmSync(linkPath, { force: true });
  let program;
  try {
    program = openPinnedProgram(programPath);
  } catch (err) {
    throw dataplaneError(`open pinned program ${programPath}`, err);
  }
  try {
    const link = attachTc(program, { ifname: hostIfname }, 'ingress');
    try {
      // A cls_bpf filter (kernels without tcx) lives on the interface itself and needs no pin.
      if (link.kind === 'tcx') {
        mkdirSync(pins.linksDir, { recursive: true });
        link.pin(linkPath);
      }
    } catch (err) {
      link.detach();
      throw err;
    } finally {
      link.close();
    }
  } catch (err) {
    throw dataplaneError(`attach ${programPath} to ${hostIfname} tc ingress`, err);
  } finally {
    program.close();
  }
}

/** Removes the attachment's pin. Deleting the veth already detached the program; the pin only kept it alive. */
export function detachWorkloadProgram(pins: PinLayout, hostIfname: string): void {
  const linkPath = pins.workloadLink(hostIfname);
  if (!existsSync(linkPath)) return;
  try {
    openPinnedLink(linkPath).detach();
  } catch {
    // The link is defunct once its interface is gone; the pin file is all that is left to remove.
  }
  rmSync(linkPath, { force: true });
}

export function workloadLinkPinned(pins: PinLayout, hostIfname: string): boolean {
  return existsSync(pins.workloadLink(hostIfname));
}
