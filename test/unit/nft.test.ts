// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import { natOutgoingRuleset, natOutgoingTeardown, nftTableName } from '../../src/control/compile/index.js';

const state = { natPools: ['192.168.0.0/16'], allPools: ['10.244.0.0/16', '192.168.0.0/16'], clusterHosts: ['10.0.1.1', '10.0.1.2'] };

describe('nftTableName', () => {
  it('keeps simple names and disambiguates sanitized ones', () => {
    expect(nftTableName('node1')).toBe('bpf_overlay_node1');
    expect(nftTableName('node_1')).toBe('bpf_overlay_node_1');
    // sha1("a-b") / sha1("a.b") prefixes keep the two apart after sanitizing to a_b
    expect(nftTableName('a-b')).toMatch(/^bpf_overlay_a_b_[0-9a-f]{8}$/);
    expect(nftTableName('a-b')).not.toBe(nftTableName('a.b'));
    expect(nftTableName('a-b')).not.toBe(nftTableName('a_b'));
  });
});

describe('natOutgoingRuleset', () => {
  it('emits an atomic replace of the whole table (Calico default: exclude pools only)', () => {
    expect(natOutgoingRuleset('node1', state)).toBe(`table ip bpf_overlay_node1 {}
delete table ip bpf_overlay_node1
table ip bpf_overlay_node1 {
  set nat_pools {
    type ipv4_addr
    flags interval
    auto-merge
    elements = { 192.168.0.0/16 }
  }
  set all_pools {
    type ipv4_addr
    flags interval
    auto-merge
    elements = { 10.244.0.0/16, 192.168.0.0/16 }
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr @nat_pools ip daddr != @all_pools masquerade
  }
}
`);
  });

  it('can also exclude cluster hosts (natOutgoingExclusions: IPPoolsAndHostIPs)', () => {
    const text = natOutgoingRuleset('node1', state, { exclusions: 'IPPoolsAndHostIPs' });
    expect(text).toContain('  set cluster_hosts {\n    type ipv4_addr\n    elements = { 10.0.1.1, 10.0.1.2 }\n  }\n');
    expect(text).toContain('    ip saddr @nat_pools ip daddr != @all_pools ip daddr != @cluster_hosts masquerade\n');
  });

  it('declares empty sets without an elements clause (nft rejects an empty one)', () => {
    const text = natOutgoingRuleset('node1', { natPools: [], allPools: [], clusterHosts: [] });
    expect(text).not.toContain('elements');
    expect(text).toContain('  set nat_pools {\n    type ipv4_addr\n    flags interval\n    auto-merge\n  }\n');
  });

  it('tears down without failing when the table is absent', () => {
    expect(natOutgoingTeardown('node1')).toBe('table ip bpf_overlay_node1 {}\ndelete table ip bpf_overlay_node1\n');
  });
});
