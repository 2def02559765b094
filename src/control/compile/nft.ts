// SPDX-License-Identifier: Apache-2.0
// The natOutgoing ruleset, as nft script text. Calico masquerades traffic from a natOutgoing pool to any
// destination outside every pool; the BPF program passes such packets to the stack, where this rule SNATs
// them. One table per node name keeps several agents on one machine (tests, kind-like setups) apart.
import { boundedName, NFT_NAME_MAX } from '../model/names.js';
import { createHash } from 'node:crypto';
import type { NatOutgoingState } from './types.js';

export const NFT_FAMILY = 'ip';

/**
 * `bpf_overlay_<node>` with every character outside [A-Za-z0-9_] replaced by "_". When that replacement
 * changed the name, 8 hex digits of SHA-1(node name) are appended, so "a-b" and "a.b" cannot share a table.
 */
export function nftTableName(nodeName: string): string {
  const sanitized = nodeName.replace(/[^A-Za-z0-9_]/g, '_');
  if (sanitized === nodeName) return boundedName(`bpf_overlay_${sanitized}`, '', NFT_NAME_MAX, '_');
  const digest = createHash('sha1').update(nodeName, 'utf8').digest('hex').slice(0, 8);
  return boundedName(`bpf_overlay_${sanitized}`, `_${digest}`, NFT_NAME_MAX, '_');
}

export interface NftOptions {
  /** Calico's natOutgoingExclusions: IPPoolsOnly (Calico's default) or IPPoolsAndHostIPs. */
  exclusions?: 'IPPoolsOnly' | 'IPPoolsAndHostIPs';
}

function setBlock(name: string, elements: readonly string[], interval: boolean): string[] {
  // auto-merge lets nft accept adjacent or nested prefixes instead of failing the whole transaction.
  const flags = interval ? ['    flags interval', '    auto-merge'] : [];
  const lines = [`  set ${name} {`, '    type ipv4_addr', ...flags];
  // nft rejects an empty `elements = { }`, so an empty set is declared without the clause.
  if (elements.length > 0) lines.push(`    elements = { ${elements.join(', ')} }`);
  lines.push('  }');
  return lines;
}

/**
 * A complete script for one `nft -f` run. The first line creates the table if absent (a no-op otherwise) so
 * that the `delete table` cannot fail, and the new definition follows in the same transaction: the kernel
 * swaps old rules for new atomically, with no window in which traffic goes unmasqueraded.
 */
export function natOutgoingRuleset(nodeName: string, nat: NatOutgoingState, options: NftOptions = {}): string {
  const table = nftTableName(nodeName);
  const excludeHosts = options.exclusions === 'IPPoolsAndHostIPs';
  const rule = excludeHosts
    ? '    ip saddr @nat_pools ip daddr != @all_pools ip daddr != @cluster_hosts masquerade'
    : '    ip saddr @nat_pools ip daddr != @all_pools masquerade';
  const lines = [
    `table ${NFT_FAMILY} ${table} {}`,
    `delete table ${NFT_FAMILY} ${table}`,
    `table ${NFT_FAMILY} ${table} {`,
    ...setBlock('nat_pools', nat.natPools, true),
    ...setBlock('all_pools', nat.allPools, true),
    ...(excludeHosts ? setBlock('cluster_hosts', nat.clusterHosts, false) : []),
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    rule,
    '  }',
    '}',
  ];
  return `${lines.join('\n')}\n`;
}

/** Removes the table whether or not it exists, in one transaction. */
export function natOutgoingTeardown(nodeName: string): string {
  const table = nftTableName(nodeName);
  return `table ${NFT_FAMILY} ${table} {}\ndelete table ${NFT_FAMILY} ${table}\n`;
}
