// SPDX-License-Identifier: Apache-2.0
// The node's agent is the only writer of BPF links: it attaches from_workload to a workload's host veth when
// the WorkloadEndpoint appears (after checking the veth follows this plugin's naming), and ADD waits here for
// the link pin, so that ADD returns only once the workload's traffic is handled by the data path.
// ADD loads nothing of the BPF wrapper or the native addon: it only watches for a file (DEL detaches, in detach.ts).
import { existsSync } from 'node:fs';
import type { PinLayout } from '../node/pins.js';
import { CniCode, CniError } from './errors.js';

export const ATTACH_TIMEOUT_MS = 5_000;
/**
 * The pin is looked for every 5 ms at first (an idle agent attaches within tens of ms), then less and less often
 * up to every 25 ms: fifty ADDs waiting at once on a busy node would otherwise wake 10,000 times a second.
 */
const FIRST_POLL_MS = 5;
const MAX_POLL_MS = 25;

/** Resolves once the agent has pinned the workload's link; CNI error 11 (try again) if it does not in time. */
export async function waitForWorkloadAttachment(
  pins: PinLayout,
  hostIfname: string,
  timeoutMs = ATTACH_TIMEOUT_MS,
): Promise<void> {
  const programPath = pins.program('from_workload');
  if (!existsSync(programPath)) {
    throw new CniError(
      CniCode.TryAgainLater,
      `the bpf-overlay agent of node "${pins.node}" is not ready: no workload program pinned at ${programPath} ` +
        `(is "bpf-overlay load --node ${pins.node}" running with bpffs ${pins.bpffs}?)`,
    );
  }
  const linkPath = pins.workloadLink(hostIfname);
  const deadline = Date.now() + timeoutMs;
  let pollMs = FIRST_POLL_MS;
  while (!existsSync(linkPath)) {
    if (Date.now() >= deadline) {
      throw new CniError(
        CniCode.TryAgainLater,
        `the bpf-overlay agent of node "${pins.node}" did not attach the workload program to ${hostIfname} within ` +
          `${timeoutMs} ms (no link pinned at ${linkPath}; see the agent's log and "bpf-overlay status" warnings)`,
      );
    }
    await new Promise((r) => setTimeout(r, Math.min(pollMs, deadline - Date.now())));
    pollMs = Math.min(MAX_POLL_MS, pollMs + FIRST_POLL_MS);
  }
}

export function workloadLinkPinned(pins: PinLayout, hostIfname: string): boolean {
  return existsSync(pins.workloadLink(hostIfname));
}
