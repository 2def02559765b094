// SPDX-License-Identifier: Apache-2.0
// Names derived from a node name stay within their limits for every valid node name (up to 253 characters).
import { describe, expect, it } from 'vitest';
import { workloadEndpointName } from '../../src/control/cni/names.js';
import { nftTableName } from '../../src/control/compile/nft.js';
import { affinityName } from '../../src/control/ipam/blocks.js';
import { isDns1123Subdomain } from '../../src/control/validation/common.js';

const label = (c: string) => c.repeat(63);
// The longest valid node names: 3 labels of 63 characters and one of 61, 253 in all, differing in the last.
const longA = [label('a'), label('b'), label('c'), 'd'.repeat(61)].join('.');
const longB = [label('a'), label('b'), label('c'), 'd'.repeat(60) + 'e'].join('.');

describe('derived names', () => {
  it('leave short node names as they were', () => {
    expect(affinityName('node1', '10.244.0.0/26')).toBe('node1-10-244-0-0-26');
    expect(workloadEndpointName('node1', 'abc', 'eth0')).toMatch(/^node1\.wl-[0-9a-f]{20}$/);
    expect(nftTableName('node1')).toBe('bpf_overlay_node1');
  });

  it('fit their limits for a 253-character node name, stay valid, and stay distinct', () => {
    expect(longA).toHaveLength(253);
    expect(isDns1123Subdomain(longA)).toBe(true);
    for (const [a, b] of [
      [affinityName(longA, '10.244.0.0/26'), affinityName(longB, '10.244.0.0/26')],
      [workloadEndpointName(longA, 'abc', 'eth0'), workloadEndpointName(longB, 'abc', 'eth0')],
    ]) {
      expect(a.length).toBeLessThanOrEqual(253);
      expect(isDns1123Subdomain(a)).toBe(true);
      expect(a).not.toBe(b);
    }
    expect(affinityName(longA, '10.244.0.0/26')).toMatch(/-10-244-0-0-26$/);
    const [tA, tB] = [nftTableName(longA), nftTableName(longB)];
    expect(tA.length).toBeLessThanOrEqual(255);
    expect(tA).not.toBe(tB);
    expect(nftTableName(longA)).toBe(tA); // deterministic: every process derives the same name
  });
});
