// WorkloadEndpoint spec.allowSpoofedSourcePrefixes -> source_allow_map: the compiler's entries, the change set
// the incremental compiler reports, and the key bytes from_workload looks up.
import { describe, expect, it } from 'vitest';
import { compile, type CompileInput } from '../../src/control/compile/index.js';
import { diffStates } from '../../src/control/compile/incremental.js';
import { decodeSourceAllowKey, encodeSourceAllowKey } from '../../src/control/maps/layout.js';
import { overlayConfigWithDefaults } from '../../src/control/model/parse.js';
import type { WorkloadEndpoint } from '../../src/control/model/types.js';
import { sourceAllowMapEntries } from '../../src/control/reconcile/encode.js';

function workload(name: string, node: string, hostIfindex: number, allow?: string[]): WorkloadEndpoint {
  return {
    apiVersion: 'projectcalico.org/v3',
    kind: 'WorkloadEndpoint',
    metadata: { name },
    spec: {
      node,
      containerID: name,
      interfaceName: 'eth0',
      hostInterface: `bo${hostIfindex}`,
      hostIfindex,
      hostMac: 'ee:ee:ee:ee:ee:ee',
      mac: '0a:58:c0:a8:01:05',
      ipNetworks: [`192.168.1.${hostIfindex}/32`],
      pool: 'p',
      ...(allow ? { allowSpoofedSourcePrefixes: allow } : {}),
    },
  };
}

function input(workloads: WorkloadEndpoint[]): CompileInput {
  return { pools: [], nodes: [], blockAffinities: [], workloads, localNode: 'node1', config: overlayConfigWithDefaults(), uplinkMtu: 1500 };
}

describe('allowSpoofedSourcePrefixes', () => {
  it("becomes one entry per local veth and IPv4 prefix, host bits cleared, other nodes' endpoints ignored", () => {
    const state = compile(
      input([
        workload('router', 'node1', 12, ['10.9.0.7/16', '198.51.100.0/24', 'fd00::/64', '10.9.0.0/16']),
        workload('plain', 'node1', 7),
        workload('elsewhere', 'node2', 5, ['0.0.0.0/0']),
        workload('first', 'node1', 3, ['0.0.0.0/0']),
      ]),
    );
    expect(state.sourceAllow).toEqual([
      { ifindex: 3, cidr: '0.0.0.0/0' },
      { ifindex: 12, cidr: '10.9.0.0/16' },
      { ifindex: 12, cidr: '198.51.100.0/24' },
    ]);
  });

  it('is reported by the change set when it changes, and only then', () => {
    const before = compile(input([workload('router', 'node1', 12, ['10.9.0.0/16'])]));
    const same = compile(input([workload('router', 'node1', 12, ['10.9.0.0/16'])]));
    const after = compile(input([workload('router', 'node1', 12, ['10.8.0.0/16'])]));
    expect(diffStates(before, same).sourceAllow.size).toBe(0);
    expect([...diffStates(before, after).sourceAllow].sort()).toEqual(['12 10.8.0.0/16', '12 10.9.0.0/16']);
  });

  it('encodes the LPM key {prefixlen = 32 + prefix, ifindex, address} as bpf/lib/maps.h declares it', () => {
    const key = encodeSourceAllowKey({ ifindex: 12, cidr: '198.51.100.0/24' });
    expect(key.toString('hex')).toBe('38000000' + '0c000000' + 'c6336400');
    expect(decodeSourceAllowKey(key)).toEqual({ ifindex: 12, cidr: '198.51.100.0/24' });
    const [entry] = sourceAllowMapEntries([{ ifindex: 12, cidr: '198.51.100.0/24' }]);
    expect([entry.key.equals(key), entry.value.length]).toEqual([true, 4]);
    expect(() => encodeSourceAllowKey({ ifindex: 0, cidr: '10.0.0.0/8' })).toThrow('invalid ifindex 0');
  });
});
