// SPDX-License-Identifier: Apache-2.0
// Applies the compiled nftables ruleset (natOutgoing) atomically and removes it on unload. The ruleset text
// comes from the compiler; this file only talks to nft, and skips the call when nothing changed.
import { runTool } from './run.js';

export class NftTable {
  private applied: string | undefined;

  constructor(readonly family: string, readonly name: string) {}

  /** One `nft -f` transaction: the text must create the table from scratch (the compiler emits delete+add). */
  apply(ruleset: string): boolean {
    if (ruleset === this.applied) return false;
    runTool('nft', ['-f', '-'], ruleset);
    this.applied = ruleset;
    return true;
  }

  /** Forget what was applied: the next apply writes the ruleset again (repairs a table changed behind our back). */
  forget(): void {
    this.applied = undefined;
  }

  remove(): void {
    if (this.exists()) runTool('nft', ['delete', 'table', this.family, this.name]);
    this.applied = undefined;
  }

  exists(): boolean {
    const out = runTool('nft', ['-j', 'list', 'tables', this.family]);
    const parsed = JSON.parse(out) as { nftables: { table?: { name: string } }[] };
    return parsed.nftables.some((e) => e.table?.name === this.name);
  }
}
