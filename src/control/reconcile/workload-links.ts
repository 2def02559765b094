// SPDX-License-Identifier: Apache-2.0
// The workload attachments: from_workload on the host veth of each local WorkloadEndpoint that admission let
// through (its hostInterface is the CNI's veth name for its container). This step is their only writer; the
// CNI waits for the link pin it makes.
import type { WorkloadEndpoint } from '../model/types.js';
import type { SyncStep } from './steps.js';

export interface WorkloadLinkTarget {
  ensureWorkloadLink(hostIfname: string): void;
  removeWorkloadLink(hostIfname: string): void;
  workloadLinkInterfaces(): string[];
  interfaceExists(hostIfname: string): boolean;
}

export interface WorkloadSource {
  allNames(): Iterable<string>;
  workload(name: string): WorkloadEndpoint | undefined;
}

export class WorkloadLinkSyncer implements SyncStep {
  readonly name = 'workload-links';
  private full = true;
  private readonly dirty = new Set<string>();
  /** Interface attached per WorkloadEndpoint name. */
  private readonly attached = new Map<string, string>();
  /** Endpoints whose veth does not exist (yet, or any more): nothing to attach, not an error to retry. */
  readonly missing = new Map<string, string>();

  constructor(
    private readonly target: WorkloadLinkTarget,
    private readonly source: WorkloadSource,
  ) {}

  get pending(): boolean {
    return this.full || this.dirty.size > 0;
  }

  get count(): number {
    return this.attached.size;
  }

  mark(names: Iterable<string>): void {
    for (const n of names) this.dirty.add(n);
  }

  resync(): void {
    this.full = true;
  }

  run(): void {
    if (this.full) {
      const wanted = new Set<string>();
      for (const name of this.source.allNames()) {
        this.dirty.add(name);
        const w = this.source.workload(name);
        if (w) wanted.add(w.spec.hostInterface);
      }
      for (const name of this.attached.keys()) this.dirty.add(name);
      // Links pinned by an earlier run (or a CNI of an earlier version) for veths no endpoint names any more.
      for (const ifname of this.target.workloadLinkInterfaces()) if (!wanted.has(ifname)) this.target.removeWorkloadLink(ifname);
      this.full = false;
    }
    const failed: string[] = [];
    let firstError: Error | undefined;
    for (const name of this.dirty) {
      const w = this.source.workload(name);
      const before = this.attached.get(name);
      try {
        if (before !== undefined && before !== w?.spec.hostInterface) {
          this.target.removeWorkloadLink(before);
          this.attached.delete(name);
        }
        if (!w) {
          this.missing.delete(name);
          continue;
        }
        if (!this.target.interfaceExists(w.spec.hostInterface)) {
          this.missing.set(name, `host interface ${w.spec.hostInterface} does not exist`);
          continue;
        }
        this.target.ensureWorkloadLink(w.spec.hostInterface);
        this.attached.set(name, w.spec.hostInterface);
        this.missing.delete(name);
      } catch (err) {
        failed.push(name);
        firstError ??= err as Error;
      }
    }
    this.dirty.clear();
    for (const n of failed) this.dirty.add(n);
    if (firstError) throw new Error(`${failed.length} workload link(s) failed, first: ${firstError.message}`);
  }
}
