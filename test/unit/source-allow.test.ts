// SPDX-License-Identifier: Apache-2.0
// WorkloadEndpoint spec.allowSpoofedSourcePrefixes -> source_allow_map: the compiler's entries, the change set
// the incremental compiler reports, and the key bytes from_workload looks up.
import { describe, expect, it } from 'vitest';
import { compile, type CompileInput } from '../../src/control/compile/index.js';
import { diffStates, IncrementalCompiler } from '../../src/control/compile/incremental.js';
import { decodeSourceAllowKey, encodeSourceAllowKey } from '../../src/control/maps/layout.js';
import { overlayConfigWithDefaults } from '../../src/control/model/parse.js';
import type { Node, WorkloadEndpoint } from '../../src/control/model/types.js';
import { sourceAllowMapEntries } from '../../src/control/reconcile/encode.js';
import { loadManifests } from '../../src/control/validation/index.js';
import { testEndpoint } from '../harness/resources.js';

function workload(name: string, node: string, hostIfindex: number, allow?: string[]): WorkloadEndpoint {
  return testEndpoint(name, node, {
    hostInterface: `bo${hostIfindex}`,
    hostIfindex,
    hostMac: 'ee:ee:ee:ee:ee:ee',
    mac: '0a:58:c0:a8:01:05',
    ipNetworks: [`192.168.1.${hostIfindex}/32`],
    ...(allow ? { allowSpoofedSourcePrefixes: allow } : {}),
  });
}

function node(name: string, ipv4Address?: string): Node {
  return { apiVersion: 'projectcalico.org/v3', kind: 'Node', metadata: { name }, spec: ipv4Address ? { bgp: { ipv4Address } } : {} };
}

function input(workloads: WorkloadEndpoint[], nodes: Node[] = []): CompileInput {
  return { pools: [], nodes, blockAffinities: [], workloads, localNode: 'node1', config: overlayConfigWithDefaults(), uplinkMtu: 1500 };
}

/** Problems `apply` reports about the field, for an endpoint that is otherwise as the CNI writes it. */
function fieldProblems(allow: unknown): string[] {
  const w = workload('node1-k8s-pod-eth0', 'node1', 7) as unknown as { spec: Record<string, unknown> };
  const text = JSON.stringify({ ...w, spec: { ...w.spec, allowSpoofedSourcePrefixes: allow } });
  return loadManifests(text, 'wep.yaml')
    .problems.filter((p) => p.field.startsWith('spec.allowSpoofedSourcePrefixes'))
    .map((p) => `${p.severity} ${p.field}: ${p.message}`);
}

describe('allowSpoofedSourcePrefixes', () => {
  it("is validated as Calico's list of CIDRs (IPv4 and IPv6)", () => {
    expect(fieldProblems(['10.1.0.0/16', '198.51.100.7/32', 'fd00::/64'])).toEqual([]);
    expect(fieldProblems(['10.1.0.0/16', '10.1.0.0/33'])).toEqual(['error spec.allowSpoofedSourcePrefixes.1: must be a CIDR such as 10.1.0.0/16']);
    expect(fieldProblems('10.1.0.0/16')).toEqual(['error spec.allowSpoofedSourcePrefixes: must be a list of CIDRs, e.g. ["10.1.0.0/16"]']);
  });

  it("becomes one entry per local veth and IPv4 prefix (host bits cleared), and per other node's address for its endpoints", () => {
    const state = compile(
      input(
        [
          workload('router', 'node1', 12, ['10.9.0.7/16', '198.51.100.0/24', 'fd00::/64', '10.9.0.0/16']),
          workload('plain', 'node1', 7),
          workload('elsewhere', 'node2', 5, ['0.0.0.0/0']),
          workload('no-address', 'node3', 5, ['10.1.0.0/16']),
          workload('first', 'node1', 3, ['0.0.0.0/0']),
        ],
        [node('node1', '10.0.0.1/24'), node('node2', '10.0.0.2/24'), node('node3')],
      ),
    );
    expect(state.sourceAllow).toEqual([
      { scope: 'veth', ifindex: 3, cidr: '0.0.0.0/0' },
      { scope: 'veth', ifindex: 12, cidr: '10.9.0.0/16' },
      { scope: 'veth', ifindex: 12, cidr: '198.51.100.0/24' },
      { scope: 'node', node: '10.0.0.2', cidr: '0.0.0.0/0' },
    ]);
  });

  it("the incremental compiler keeps other nodes' endpoints that allow prefixes, and reports only local ones as workloads", () => {
    const c = new IncrementalCompiler({ localNode: 'node1', uplinkMtu: 1500 });
    c.load({ pools: [], nodes: [node('node1', '10.0.0.1/24'), node('node2', '10.0.0.2/24')], blockAffinities: [], workloads: [], configs: [] });
    const remote = workload('elsewhere', 'node2', 5, ['10.7.0.0/16']);
    const changes = c.apply({ type: 'put', kind: 'WorkloadEndpoint', name: 'elsewhere', resource: remote });
    expect([...changes.sourceAllow]).toEqual(['node 10.0.0.2 10.7.0.0/16']);
    expect(changes.localWorkloads.size).toBe(0);
    expect(c.state).toEqual(compile(c.compileInput()));
    const gone = c.apply({ type: 'put', kind: 'WorkloadEndpoint', name: 'elsewhere', resource: workload('elsewhere', 'node2', 5) });
    expect([...gone.sourceAllow]).toEqual(['node 10.0.0.2 10.7.0.0/16']);
    expect(c.state.sourceAllow).toEqual([]);
  });

  it('is reported by the change set when it changes, and only then', () => {
    const before = compile(input([workload('router', 'node1', 12, ['10.9.0.0/16'])]));
    const same = compile(input([workload('router', 'node1', 12, ['10.9.0.0/16'])]));
    const after = compile(input([workload('router', 'node1', 12, ['10.8.0.0/16'])]));
    expect(diffStates(before, same).sourceAllow.size).toBe(0);
    expect([...diffStates(before, after).sourceAllow].sort()).toEqual(['veth 12 10.8.0.0/16', 'veth 12 10.9.0.0/16']);
  });

  it('encodes the LPM key {prefixlen = 64 + prefix, scope, owner, address} as bpf/lib/maps.h declares it', () => {
    const key = encodeSourceAllowKey({ scope: 'veth', ifindex: 12, cidr: '198.51.100.0/24' });
    expect(key.toString('hex')).toBe('58000000' + '01000000' + '0c000000' + 'c6336400');
    expect(decodeSourceAllowKey(key)).toEqual({ scope: 'veth', ifindex: 12, cidr: '198.51.100.0/24' });
    const nodeKey = encodeSourceAllowKey({ scope: 'node', node: '10.0.0.2', cidr: '10.7.0.0/16' });
    expect(nodeKey.toString('hex')).toBe('50000000' + '02000000' + '0a000002' + '0a070000');
    expect(decodeSourceAllowKey(nodeKey)).toEqual({ scope: 'node', node: '10.0.0.2', cidr: '10.7.0.0/16' });
    const [entry] = sourceAllowMapEntries([{ scope: 'veth', ifindex: 12, cidr: '198.51.100.0/24' }]);
    expect([entry.key.equals(key), entry.value.length]).toEqual([true, 4]);
    expect(() => encodeSourceAllowKey({ scope: 'veth', ifindex: 0, cidr: '10.0.0.0/8' })).toThrow('invalid ifindex 0');
  });
});
