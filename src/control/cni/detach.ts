// SPDX-License-Identifier: Apache-2.0
// DEL's and GC's side of a workload's link pin. Apart from ADD's attach.ts because it needs the BPF wrapper (and so
// the native addon), which ADD never loads.
import { existsSync, rmSync } from 'node:fs';
import { openPinnedLink } from '../bpf/index.js';
import type { PinLayout } from '../node/pins.js';

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
