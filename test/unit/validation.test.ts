// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import { addressOwners, formatProblem, loadManifests, requireValid, ValidationFailedError, workloadEndpointProblems } from '../../src/control/validation/index.js';
import type { IPPool, Node, WorkloadEndpoint } from '../../src/control/model/types.js';
import type { IPAMBlock, StoredResource } from '../../src/control/datastore/types.js';
import { hostVethName, ipamHandle, NETWORK_ANNOTATION } from '../../src/control/cni/names.js';

function pool(name: string, spec: Record<string, unknown>): string {
  return JSON.stringify({ apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name }, spec });
}
function doc(kind: string, name: string, spec: unknown, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ apiVersion: 'projectcalico.org/v3', kind, metadata: { name }, spec, ...extra });
}
function check(text: string, existing: StoredResource[] = []) {
  const r = loadManifests(text, 'in.yaml', existing);
  return { ...r, errors: r.problems.filter((p) => p.severity === 'error'), lines: r.problems.map(formatProblem) };
}
function expectOnlyError(text: string, field: string, message: string, existing: StoredResource[] = []) {
  const r = check(text, existing);
  expect(r.errors.map((e) => [e.field, e.message])).toEqual([[field, message]]);
  expect(r.ok).toBe(false);
  return r.errors[0];
}
function expectValid(text: string, existing: StoredResource[] = []) {
  const r = check(text, existing);
  expect(r.errors).toEqual([]);
  expect(r.ok).toBe(true);
  return r;
}
const existingPool = (name: string, cidr: string, blockSize = 26): IPPool => ({
  apiVersion: 'projectcalico.org/v3',
  kind: 'IPPool',
  metadata: { name },
  spec: { cidr, ipipMode: 'Never', vxlanMode: 'Never', natOutgoing: false, disabled: false, blockSize, nodeSelector: 'all()' },
});

describe('IPPool CIDR', () => {
  it('accepts a valid pool', () => void expectValid(pool('p', { cidr: '10.0.0.0/16' })));
  it('requires a CIDR', () => void expectOnlyError(pool('p', {}), 'spec.cidr', 'IPPool CIDR must be specified'));
  it.each(['10.0.0.0', '10.0.0.0/33', '10.0.0/16', 'banana/8', '10.0.0.0/1a', '0x0a.0.0.0/8'])('rejects %s as no subnet', (cidr) =>
    void expectOnlyError(pool('p', { cidr }), 'spec.cidr', 'IPPool CIDR must be a valid subnet'),
  );
  it('requires strict masking', () => void expectOnlyError(pool('p', { cidr: '10.0.0.1/16' }), 'spec.cidr', 'IPPool CIDR is not strictly masked'));
  it('rejects the IPv4 link-local range', () => {
    expectOnlyError(pool('p', { cidr: '169.254.0.0/20' }), 'spec.cidr', 'IPPool CIDR overlaps with IPv4 Link Local range 169.254.0.0/16');
    expectOnlyError(pool('p', { cidr: '168.0.0.0/6' }), 'spec.cidr', 'IPPool CIDR overlaps with IPv4 Link Local range 169.254.0.0/16');
  });
  it('rejects the IPv6 link-local range', () =>
    void expectOnlyError(pool('p', { cidr: 'fe80::/64' }), 'spec.cidr', 'IPPool CIDR overlaps with IPv6 Link Local range fe80::/10'));
  it('rejects overlap within the batch with Calico text, on the later pool', () => {
    const e = expectOnlyError(`${pool('a', { cidr: '10.0.0.0/16' })}\n---\n${pool('b', { cidr: '10.0.128.0/17' })}`, 'spec.cidr', 'IPPool(b) CIDR overlaps with IPPool(a) CIDR 10.0.0.0/16');
    expect(e.name).toBe('b');
    expect(e.source).toEqual({ file: 'in.yaml', document: 1 });
  });
  it('rejects overlap with an existing pool of another name', () =>
    void expectOnlyError(pool('b', { cidr: '10.0.0.0/8' }), 'spec.cidr', 'IPPool(b) CIDR overlaps with IPPool(a) CIDR 10.0.0.0/16', [existingPool('a', '10.0.0.0/16')]));
  it('allows re-applying an existing pool unchanged, and disjoint pools', () => {
    expectValid(pool('a', { cidr: '10.0.0.0/16' }), [existingPool('a', '10.0.0.0/16')]);
    expectValid(`${pool('a', { cidr: '10.0.0.0/16' })}\n---\n${pool('b', { cidr: '10.1.0.0/16' })}`, [existingPool('c', '10.2.0.0/16')]);
  });
  it('keeps CIDR immutable', () =>
    void expectOnlyError(pool('a', { cidr: '10.1.0.0/16' }), 'spec.cidr', 'IPPool CIDR cannot be modified', [existingPool('a', '10.0.0.0/16')]));
  it('keeps blockSize immutable, defaults included', () => {
    expectOnlyError(pool('a', { cidr: '10.0.0.0/16', blockSize: 24 }), 'spec.blockSize', 'IPPool BlockSize cannot be modified', [existingPool('a', '10.0.0.0/16')]);
    expectOnlyError(pool('a', { cidr: '10.0.0.0/16' }), 'spec.blockSize', 'IPPool BlockSize cannot be modified', [existingPool('a', '10.0.0.0/16', 28)]);
    expectValid(pool('a', { cidr: '10.0.0.0/16', blockSize: 26 }), [existingPool('a', '10.0.0.0/16')]);
  });
});

describe('IPPool block size', () => {
  it.each([20, 26, 32])('accepts IPv4 %i', (blockSize) => void expectValid(pool('p', { cidr: '10.0.0.0/16', blockSize })));
  it.each([19, 33, 26.5, '26'])('rejects IPv4 %s', (blockSize) =>
    void expectOnlyError(pool('p', { cidr: '10.0.0.0/16', blockSize }), 'spec.blockSize', 'IPv4 block size must be between 20 and 32'));
  it.each([116, 122, 128])('accepts IPv6 %i', (blockSize) => void expectValid(pool('p', { cidr: 'fd00::/108', blockSize })));
  it.each([115, 129])('rejects IPv6 %i', (blockSize) =>
    void expectOnlyError(pool('p', { cidr: 'fd00::/64', blockSize }), 'spec.blockSize', 'IPv6 block size must be between 116 and 128'));
  it('requires the pool to be at least one block', () => {
    const msg = 'IP pool size is too small for use with Calico IPAM. It must be equal to or greater than the block size.';
    expectOnlyError(pool('p', { cidr: '10.0.0.0/27' }), 'spec.cidr', msg);
    expectOnlyError(pool('p', { cidr: '10.0.0.0/25', blockSize: 24 }), 'spec.cidr', msg);
    expectValid(pool('p', { cidr: '10.0.0.0/26' }));
    expectOnlyError(pool('p', { cidr: 'fd00::/123' }), 'spec.cidr', msg);
  });
});

describe('IPPool encapsulation modes', () => {
  it('rejects IPIP and VXLAN together, in calicoctl format', () => {
    const r = check(pool('p', { cidr: '10.0.0.0/16', ipipMode: 'Always', vxlanMode: 'Always' }));
    expect(r.errors).toHaveLength(1);
    expect(r.lines[0]).toBe(
      `in.yaml document 1: IPPool "p": error with field IPPool.Spec.VXLANMode = 'Always' (Cannot enable both VXLAN and IPIP on the same IPPool)`,
    );
    expectOnlyError(pool('p', { cidr: '10.0.0.0/16', ipipMode: 'CrossSubnet', vxlanMode: 'crosssubnet' }), 'spec.vxlanMode', 'Cannot enable both VXLAN and IPIP on the same IPPool');
  });
  it('allows one enabled with the other Never or empty', () => {
    expectValid(pool('p', { cidr: '10.0.0.0/16', ipipMode: 'Always', vxlanMode: 'Never' }));
    expectValid(pool('p', { cidr: '10.0.0.0/16', ipipMode: '', vxlanMode: 'Always' }));
  });
  it('rejects IPIP on IPv6, allows VXLAN on IPv6', () => {
    expectOnlyError(pool('p', { cidr: 'fd00::/64', ipipMode: 'Always' }), 'spec.ipipMode', 'IPIP is not supported on an IPv6 IP pool');
    expectValid(pool('p', { cidr: 'fd00::/64', vxlanMode: 'Always' }));
  });
  it.each(['crosssubnet', 'Crosssubnet', 'CROSSSUBNET', 'ALWAYS', 'always', 'never'])('accepts and normalizes %s', (mode) => {
    const r = expectValid(pool('p', { cidr: '10.0.0.0/16', ipipMode: mode }));
    const spec = (r.resources[0].resource as IPPool).spec;
    expect(spec.ipipMode).toBe(['Never', 'Always', 'CrossSubnet'].find((m) => m.toLowerCase() === mode.toLowerCase()));
  });
  it.each([['ipipMode', 'Sometimes'], ['vxlanMode', 'Cross-Subnet'], ['vxlanMode', true]])('rejects %s %s', (field, mode) =>
    void expectOnlyError(pool('p', { cidr: '10.0.0.0/16', [field as string]: mode }), `spec.${field}`, 'unsupported value; must be one of Never, Always, CrossSubnet'));
});

describe('IPPool other fields', () => {
  it('rejects an invalid nodeSelector with the position', () =>
    void expectOnlyError(pool('p', { cidr: '10.0.0.0/16', nodeSelector: "zone == " }), 'spec.nodeSelector', 'invalid selector "zone == " at position 8: expected a quoted value'));
  it('accepts valid selectors', () => void expectValid(pool('p', { cidr: '10.0.0.0/16', nodeSelector: "!has(edge) && zone in {'a','b'}" })));
  it('rejects unknown fields with a suggestion', () => {
    expectOnlyError(pool('p', { cidr: '10.0.0.0/16', ipipmode: 'Always' }), 'spec.ipipmode', 'unknown field; did you mean "ipipMode"?');
    const e = expectOnlyError(pool('p', { cidr: '10.0.0.0/16', ipip: { enabled: true } }), 'spec.ipip', 'unknown field; the APIv1 "ipip" block is not supported; use "ipipMode: Always|CrossSubnet|Never"');
    expect(e.kind).toBe('IPPool');
  });
  it('rejects non-boolean natOutgoing', () => void expectOnlyError(pool('p', { cidr: '10.0.0.0/16', natOutgoing: 'yes' }), 'spec.natOutgoing', 'must be true or false'));
  it('collects every problem of a document', () => {
    const r = check(pool('p', { cidr: '10.0.0.1/16', ipipMode: 'Always', vxlanMode: 'Always', nodeSelector: '(', bogus: 1 }));
    expect(r.errors.map((e) => e.field).sort()).toEqual(['spec.bogus', 'spec.cidr', 'spec.nodeSelector', 'spec.vxlanMode']);
  });
});

describe('document and metadata', () => {
  it('rejects other apiVersions clearly', () => {
    const e = expectOnlyError(pool('p', { cidr: '10.0.0.0/16' }).replace('projectcalico.org/v3', 'crd.projectcalico.org/v1'), 'apiVersion', 'unsupported apiVersion; bpf-overlay reads projectcalico.org/v3 resources');
    expect(e.value).toBe('crd.projectcalico.org/v1');
  });
  it('rejects unknown kinds', () =>
    void expectOnlyError(doc('NetworkPolicy', 'np', {}), 'kind', 'unsupported kind; must be one of IPPool, Node, BlockAffinity, OverlayConfiguration, WorkloadEndpoint, BGPConfiguration, BGPPeer, FelixConfiguration'));
  it('requires metadata.name', () => {
    expectOnlyError(doc('IPPool', '', { cidr: '10.0.0.0/16' }), 'metadata.name', 'name must be specified');
    expectOnlyError(JSON.stringify({ apiVersion: 'projectcalico.org/v3', kind: 'Node', spec: {} }), 'metadata', 'metadata must be a mapping with at least a name');
  });
  it.each(['Pool1', 'pool_1', '-pool', 'pool-', 'a..b', 'x'.repeat(254)])('rejects the name %s', (name) =>
    void expectOnlyError(pool(name, { cidr: '10.0.0.0/16' }), 'metadata.name', expect.stringContaining('DNS-1123 subdomain') as unknown as string));
  it.each(['pool-1', 'a.b-c.d', '0'])('accepts the name %s', (name) => void expectValid(pool(name, { cidr: '10.0.0.0/16' })));
  it('reports unknown metadata and top-level fields', () => {
    const text = JSON.stringify({ apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'p', namespace: 'x' }, spec: { cidr: '10.0.0.0/16' }, extra: 1 });
    expect(check(text).errors.map((e) => e.field).sort()).toEqual(['extra', 'metadata.namespace']);
  });
  it('rejects labels that are not strings', () =>
    void expectOnlyError(JSON.stringify({ apiVersion: 'projectcalico.org/v3', kind: 'Node', metadata: { name: 'n', labels: { a: 1 } }, spec: {} }), 'metadata.labels', 'labels must be a mapping of strings to strings'));
  it('rejects a duplicate name in a batch, naming the first source', () =>
    void expectOnlyError(`${pool('p', { cidr: '10.0.0.0/16' })}\n---\n${pool('p', { cidr: '10.1.0.0/16' })}`, 'metadata.name', 'IPPool "p" is also defined in in.yaml document 1'));
  it('requires a spec mapping for IPPool', () => void expectOnlyError(doc('IPPool', 'p', 'x'), 'spec', 'spec must be a mapping'));
  it('returns only the valid documents and reports sources of the bad ones', () => {
    const r = check(`${pool('good', { cidr: '10.0.0.0/16' })}\n---\n${pool('bad', { cidr: '10.1.0.1/16' })}`);
    expect(r.resources.map((x) => x.resource.metadata.name)).toEqual(['good']);
    expect(r.errors[0].source.document).toBe(1);
    expect(() => requireValid(r)).toThrow(ValidationFailedError);
    expect(() => requireValid(r)).toThrow(`in.yaml document 2: IPPool "bad": error with field IPPool.Spec.CIDR = '10.1.0.1/16' (IPPool CIDR is not strictly masked)`);
  });
});

describe('Node', () => {
  const node = (spec: unknown) => doc('Node', 'node1', spec);
  it('accepts a full node and Calico bookkeeping fields', () =>
    void expectValid(node({ bgp: { ipv4Address: '10.0.1.1/24', ipv4IPIPTunnelAddr: '192.168.0.1', asNumber: 64512 }, ipv4VXLANTunnelAddr: '192.168.0.2', vxlanTunnelMACAddr: '66:aa:bb:cc:dd:ee', orchRefs: [] })));
  it.each(['10.0.1.1', '10.0.1.1/33', 'fd00::1/64', 'x/24'])('rejects bgp.ipv4Address %s', (a) =>
    void expectOnlyError(node({ bgp: { ipv4Address: a } }), 'spec.bgp.ipv4Address', 'must be an IPv4 address with its subnet prefix length, e.g. 10.0.0.5/24 (the prefix decides CrossSubnet)'));
  it.each([['spec.bgp.ipv4IPIPTunnelAddr', { bgp: { ipv4IPIPTunnelAddr: '300.1.1.1' } }], ['spec.ipv4VXLANTunnelAddr', { ipv4VXLANTunnelAddr: '192.168.0.0/32' }]])('rejects tunnel address %s', (field, spec) =>
    void expectOnlyError(node(spec), field as string, 'must be a valid IPv4 address, e.g. 192.168.0.1'));
  it('rejects bad and multicast MACs', () => {
    expectOnlyError(node({ vxlanTunnelMACAddr: '66:aa:bb:cc:dd' }), 'spec.vxlanTunnelMACAddr', 'must be a MAC address of six hex bytes, e.g. 66:aa:bb:cc:dd:ee');
    expectOnlyError(node({ vxlanTunnelMACAddr: '01:00:5e:00:00:01' }), 'spec.vxlanTunnelMACAddr', 'must be a unicast MAC address (the first byte must be even)');
    expectOnlyError(node({ vxlanTunnelMACAddr: '00:00:00:00:00:00' }), 'spec.vxlanTunnelMACAddr', 'must not be the all-zero MAC address');
  });
  it('rejects unknown bgp fields', () => void expectOnlyError(node({ bgp: { ipv4address: '10.0.0.1/24' } }), 'spec.bgp.ipv4address', 'unknown field; did you mean "ipv4Address"?'));
});

describe('BlockAffinity', () => {
  it('accepts a valid affinity', () => void expectValid(doc('BlockAffinity', 'node1-10-0-0-0-26', { node: 'node1', cidr: '10.0.0.0/26', state: 'confirmed', deleted: false })));
  it('validates node, cidr and state', () => {
    const r = check(doc('BlockAffinity', 'b', { node: 'Node_1', cidr: '10.0.0.1/26', state: 'done' }));
    expect(r.errors.map((e) => [e.field, e.message])).toEqual([
      ['spec.node', 'must name a node (a DNS-1123 subdomain)'],
      ['spec.cidr', 'block CIDR is not strictly masked'],
      ['spec.state', 'must be one of confirmed, pending, pendingDeletion'],
    ]);
    expectOnlyError(doc('BlockAffinity', 'b', { node: 'n', cidr: '10.0.0.0' }), 'spec.cidr', 'must be a valid block CIDR, e.g. 192.168.10.0/26');
  });
});

describe('OverlayConfiguration', () => {
  const oc = (spec: unknown) => doc('OverlayConfiguration', 'default', spec);
  it('accepts bounds', () => {
    expectValid(oc({ vxlanPort: 1, vxlanVNI: 1, mtu: 576 }));
    expectValid(oc({ vxlanPort: 65535, vxlanVNI: 16777215, mtu: 9000, decapHook: 'xdp' }));
    expectValid(oc({ mtu: 0 }));
  });
  it.each([
    ['vxlanPort', 0, 'must be a UDP port between 1 and 65535'],
    ['vxlanPort', 65536, 'must be a UDP port between 1 and 65535'],
    ['vxlanVNI', 0, 'must be a VXLAN network identifier between 1 and 16777215'],
    ['vxlanVNI', 16777216, 'must be a VXLAN network identifier between 1 and 16777215'],
    ['mtu', 575, 'must be 0 (derive from the uplink) or between 576 and 9000'],
    ['mtu', 9001, 'must be 0 (derive from the uplink) or between 576 and 9000'],
    ['mtu', '1500', 'must be 0 (derive from the uplink) or between 576 and 9000'],
    ['decapHook', 'nic', 'must be "tc" or "xdp"'],
  ])('rejects %s = %s', (field, value, message) => void expectOnlyError(oc({ [field]: value }), `spec.${field}`, message));
});

describe('FelixConfiguration', () => {
  it('maps to an OverlayConfiguration, warning about ignored fields', () => {
    const r = check(doc('FelixConfiguration', 'default', { vxlanVNI: 4097, ipipMTU: 1440, bpfEnabled: true }));
    expect(r.ok).toBe(true);
    expect(r.problems).toEqual([expect.objectContaining({ severity: 'warning', field: 'spec.bpfEnabled' })]);
    expect(r.lines[0]).toContain("warning for field FelixConfiguration.Spec.BpfEnabled = 'true' (ignored");
    expect(r.resources[0].resource).toEqual({ apiVersion: 'projectcalico.org/v3', kind: 'OverlayConfiguration', metadata: { name: 'default' }, spec: { vxlanVNI: 4097, mtu: 1440 } });
  });
  it('validates the mapped fields', () => void expectOnlyError(doc('FelixConfiguration', 'default', { vxlanMTU: 100 }), 'spec.vxlanMTU', 'must be 0 (derive from the uplink) or between 576 and 9000'));
  it('clashes with an OverlayConfiguration of the same name', () =>
    void expectOnlyError(`${doc('OverlayConfiguration', 'default', {})}\n---\n${doc('FelixConfiguration', 'default', {})}`, 'metadata.name', 'OverlayConfiguration "default" is also defined in in.yaml document 1'));
});

describe('WorkloadEndpoint', () => {
  const veth = hostVethName('abc', 'eth0');
  const handle = ipamHandle('k8s-pod-network', 'abc', 'eth0');
  const block = (allocations: Record<string, { handle: string }>): IPAMBlock => ({
    apiVersion: 'projectcalico.org/v3',
    kind: 'IPAMBlock',
    metadata: { name: '192-168-0-0-26' },
    spec: { cidr: '192.168.0.0/26', pool: 'p', node: 'node1', allocations },
  });
  const node1: Node = {
    apiVersion: 'projectcalico.org/v3',
    kind: 'Node',
    metadata: { name: 'node1' },
    spec: { bgp: { ipv4Address: '10.0.0.5/24' }, ipv4VXLANTunnelAddr: '192.168.0.1' },
  };
  const held = [block({ '192.168.0.5': { handle }, '192.168.0.1': { handle: 'tunnel:node1:vxlan' } }), node1];
  const wep = (over: Record<string, unknown>, annotations: Record<string, string> = { [NETWORK_ANNOTATION]: 'k8s-pod-network' }) =>
    JSON.stringify({
      apiVersion: 'projectcalico.org/v3',
      kind: 'WorkloadEndpoint',
      metadata: { name: 'node1-k8s-pod-eth0', annotations },
      spec: { node: 'node1', containerID: 'abc', interfaceName: 'eth0', hostInterface: veth, hostIfindex: 7, hostMac: 'ee:ee:ee:ee:ee:ee', mac: '0a:58:0a:00:00:05', ipNetworks: ['192.168.0.5/32'], pool: 'p', ...over },
    });
  it('accepts a valid endpoint whose address IPAM holds for its handle', () => void expectValid(wep({}), held));
  it('rejects bad addresses, ifindex and MACs', () => {
    expectOnlyError(wep({ ipNetworks: ['192.168.0.0/24'] }), 'spec.ipNetworks.0', 'must be a single address with /32 (IPv4) or /128 (IPv6)', held);
    expectOnlyError(wep({ hostIfindex: 0 }), 'spec.hostIfindex', 'must be a positive interface index', held);
    expectOnlyError(wep({ mac: 'zz' }), 'spec.mac', 'must be a MAC address of six hex bytes, e.g. 66:aa:bb:cc:dd:ee', held);
  });
  it('requires hostInterface to be the CNI veth name of that container, never the uplink', () => {
    const e = expectOnlyError(wep({ hostInterface: 'eth0' }), 'spec.hostInterface', `must be "${veth}", the CNI's veth name for this containerID and interfaceName`, held);
    expect(formatProblem(e)).toContain(`WorkloadEndpoint "node1-k8s-pod-eth0": error with field WorkloadEndpoint.Spec.HostInterface = 'eth0'`);
    expect(check(wep({ hostInterface: 'a-very-long-interface' }), held).errors.map((x) => x.message)).toContain('must be an interface name of 1 to 15 characters');
  });
  it('rejects a node address or a tunnel address as a workload address', () => {
    expectOnlyError(wep({ ipNetworks: ['10.0.0.5/32'] }), 'spec.ipNetworks.0', "is the Node(node1) address (spec.bgp.ipv4Address); a workload may not take a node's address", held);
    expectOnlyError(wep({ ipNetworks: ['192.168.0.1/32'] }), 'spec.ipNetworks.0', "is the Node(node1) VXLAN tunnel address; a workload may not take a node's address", held);
  });
  it('rejects addresses IPAM does not hold for the endpoint handle', () => {
    expectOnlyError(wep({ ipNetworks: ['192.168.0.9/32'] }), 'spec.ipNetworks.0', `must be allocated in IPAM to this endpoint's handle "${handle}"; IPAM holds it for nobody`, held);
    const other = [block({ '192.168.0.5': { handle: 'cni:k8s-pod-network:xyz:eth0' } })];
    expectOnlyError(wep({}), 'spec.ipNetworks.0', `must be allocated in IPAM to this endpoint's handle "${handle}"; IPAM holds it for "cni:k8s-pod-network:xyz:eth0"`, other);
    expectOnlyError(wep({}, {}), 'metadata.annotations', `must name the CNI network whose IPAM handle holds the addresses (annotation ${NETWORK_ANNOTATION})`, held);
  });
  it('judges a stored endpoint by the same rules, for the agent', () => {
    const stored = (over: Record<string, unknown>) => JSON.parse(wep(over)) as WorkloadEndpoint;
    const owners = addressOwners([held[0] as IPAMBlock], [node1]);
    expect(workloadEndpointProblems(stored({}), owners)).toEqual([]);
    const problems = workloadEndpointProblems(stored({ hostInterface: 'eth0', ipNetworks: ['10.0.0.5/32'] }), owners);
    expect(problems.map((p) => p.field)).toEqual(['spec.hostInterface', 'spec.ipNetworks.0']);
    expect(formatProblem(problems[0])).toMatch(/^datastore document 1: WorkloadEndpoint "node1-k8s-pod-eth0": error with field WorkloadEndpoint\.Spec\.HostInterface = 'eth0'/);
  });
  it('skips only the IPAM check offline', () => {
    expect(loadManifests(wep({}), 'in.yaml', [], { offline: true }).ok).toBe(true);
    expect(loadManifests(wep({ hostInterface: 'eth0' }), 'in.yaml', [], { offline: true }).ok).toBe(false);
  });
});

describe('IPPool special-purpose ranges and node addresses', () => {
  it.each([
    ['224.0.0.0/4', '224.0.0.0/4 (multicast)'],
    ['239.1.0.0/16', '224.0.0.0/4 (multicast)'],
    ['127.0.0.0/8', '127.0.0.0/8 (loopback)'],
    ['240.0.0.0/4', '240.0.0.0/4 (reserved, with the limited broadcast 255.255.255.255)'],
    ['255.255.255.255/32', '240.0.0.0/4 (reserved, with the limited broadcast 255.255.255.255)'],
    ['0.0.0.0/8', '0.0.0.0/8 ("this network")'],
    ['ff02::/16', 'ff00::/8 (multicast)'],
  ])('rejects %s', (cidr, range) => {
    const blockSize = cidr.includes(':') ? 122 : 32;
    expectOnlyError(pool('p', { cidr, blockSize }), 'spec.cidr', `IPPool CIDR overlaps with the special-purpose range(s) ${range}`);
  });
  it('names every special range a huge pool covers, in one error', () => {
    const r = check(pool('p', { cidr: '0.0.0.0/0' }));
    expect(r.errors.map((e) => e.message)).toEqual([
      'IPPool CIDR overlaps with IPv4 Link Local range 169.254.0.0/16',
      expect.stringMatching(/^IPPool CIDR overlaps with the special-purpose range\(s\) 0\.0\.0\.0\/8 .*127\.0\.0\.0\/8 .*224\.0\.0\.0\/4 .*240\.0\.0\.0\/4/),
    ]);
  });
  const node = (name: string, ipv4Address: string): Node => ({ apiVersion: 'projectcalico.org/v3', kind: 'Node', metadata: { name }, spec: { bgp: { ipv4Address } } });
  it("rejects a pool over a registered node's address", () => {
    expectOnlyError(pool('p', { cidr: '10.0.0.0/16' }), 'spec.cidr', 'IPPool CIDR contains Node(n1) address 10.0.1.5/24 (spec.bgp.ipv4Address); a pool must not cover the underlay', [node('n1', '10.0.1.5/24')]);
    expectValid(pool('p', { cidr: '10.1.0.0/16' }), [node('n1', '10.0.1.5/24')]);
  });
  it('judges nodes and pools of one batch together, and a new node against existing pools', () => {
    const nodeDoc = doc('Node', 'n2', { bgp: { ipv4Address: '10.0.2.7/24' } });
    expectOnlyError(`${nodeDoc}\n---\n${pool('p', { cidr: '10.0.0.0/16' })}`, 'spec.cidr', 'IPPool CIDR contains Node(n2) address 10.0.2.7/24 (spec.bgp.ipv4Address); a pool must not cover the underlay');
    expectOnlyError(nodeDoc, 'spec.bgp.ipv4Address', "lies in IPPool(a) CIDR 10.0.0.0/16; a node's underlay address may not be inside a pool", [existingPool('a', '10.0.0.0/16')]);
    // A node moved out of the pool in the same batch no longer blocks it.
    expectValid(`${doc('Node', 'n1', { bgp: { ipv4Address: '172.16.0.5/24' } })}\n---\n${pool('p', { cidr: '10.0.0.0/16' })}`, [node('n1', '10.0.1.5/24')]);
  });
});

describe('IPPool: every problem of a document, Calico field rules', () => {
  it('reports IPIP on IPv6 and an unmasked CIDR together', () => {
    const r = check(pool('p', { cidr: 'fd00::1/64', ipipMode: 'Always' }));
    expect(r.errors.map((e) => [e.field, e.message])).toEqual([
      ['spec.cidr', 'IPPool CIDR is not strictly masked'],
      ['spec.ipipMode', 'IPIP is not supported on an IPv6 IP pool'],
    ]);
  });
  it('accepts a disabled pool smaller than its block, as Calico does', () => {
    expectValid(pool('p', { cidr: '10.0.0.0/28', disabled: true }));
    expectOnlyError(pool('p', { cidr: '10.0.0.0/28' }), 'spec.cidr', 'IP pool size is too small for use with Calico IPAM. It must be equal to or greater than the block size.');
  });
  it.each([[['Workload']], [['Tunnel']], [['Workload', 'Tunnel']], [['LoadBalancer']], [[]]])('accepts allowedUses %j', (allowedUses) =>
    void expectValid(pool('p', { cidr: '10.0.0.0/16', allowedUses })));
  it('enforces the allowedUses rules', () => {
    expectOnlyError(pool('p', { cidr: '10.0.0.0/16', allowedUses: ['Workload', 'LoadBalancer'] }), 'spec.allowedUses', 'LoadBalancer cannot be combined with Workload or Tunnel');
    expectOnlyError(pool('p', { cidr: '10.0.0.0/16', allowedUses: ['LoadBalancer'], vxlanMode: 'Always' }), 'spec.allowedUses', 'a LoadBalancer pool cannot enable IPIP or VXLAN');
    expectOnlyError(pool('p', { cidr: '10.0.0.0/16', allowedUses: ['workload'] }), 'spec.allowedUses.0', 'unsupported value; must be one of Workload, Tunnel, LoadBalancer');
    expectOnlyError(pool('p', { cidr: '10.0.0.0/16', allowedUses: ['Tunnel', 'Tunnel'] }), 'spec.allowedUses.1', 'listed twice');
    expectOnlyError(pool('p', { cidr: '10.0.0.0/16', allowedUses: 'Workload' }), 'spec.allowedUses', 'must be a list of Workload, Tunnel, LoadBalancer');
  });
  it('enforces assignmentMode and disableBGPExport', () => {
    expectValid(pool('p', { cidr: '10.0.0.0/16', assignmentMode: 'Manual', disableBGPExport: true }));
    expectValid(pool('p', { cidr: '10.0.0.0/16', assignmentMode: 'Automatic', disableBGPExport: false }));
    expectOnlyError(pool('p', { cidr: '10.0.0.0/16', assignmentMode: 'manual' }), 'spec.assignmentMode', 'unsupported value; must be one of Automatic, Manual');
    expectOnlyError(pool('p', { cidr: '10.0.0.0/16', disableBGPExport: 'true' }), 'spec.disableBGPExport', 'must be true or false');
  });
  it('accepts namespaceSelector and keeps it; rejects a bad one and one on a Tunnel pool', () => {
    const r = expectValid(pool('p', { cidr: '10.0.0.0/16', namespaceSelector: "kubernetes.io/metadata.name == 'team-a'" }));
    expect((r.resources[0].resource as IPPool).spec.namespaceSelector).toBe("kubernetes.io/metadata.name == 'team-a'");
    expectOnlyError(pool('p', { cidr: '10.0.0.0/16', namespaceSelector: 'a ==' }), 'spec.namespaceSelector', 'invalid selector "a ==" at position 4: expected a quoted value');
    expectOnlyError(pool('p', { cidr: '10.0.0.0/16', namespaceSelector: 'all()', allowedUses: ['Tunnel'] }), 'spec.namespaceSelector', 'IP Pool with AllowedUse Tunnel cannot have namespaceSelector');
    expectValid(pool('p', { cidr: '10.0.0.0/16', namespaceSelector: 'all()', allowedUses: ['Workload'] }));
    expectOnlyError(pool('p', { cidr: '10.0.0.0/16', namespaceSelector: 'global()' }), 'spec.namespaceSelector', 'global() selector is not valid for IPPool namespaceSelector');
    expectOnlyError(pool('p', { cidr: '10.0.0.0/16', nodeSelector: "global() && a == 'b'" }), 'spec.nodeSelector', 'global() selector is not valid for IPPool nodeSelector');
  });
  it('stores the canonical CIDR', () => {
    const r = expectValid(pool('p', { cidr: '10.5.0.0/016' }));
    expect((r.resources[0].resource as IPPool).spec.cidr).toBe('10.5.0.0/16');
    expectOnlyError(pool('q', { cidr: '10.5.0.0/16' }), 'spec.cidr', 'IPPool(q) CIDR overlaps with IPPool(a) CIDR 10.5.0.0/016', [existingPool('a', '10.5.0.0/016')]);
  });
});

describe('mode spellings', () => {
  it.each([['Crosssubnet', 'CrossSubnet'], ['always', 'Always'], ['NEVER', 'Never']])('accepts %s with one warning naming %s', (mode, canonical) => {
    const r = expectValid(pool('p', { cidr: '10.0.0.0/16', vxlanMode: mode }));
    expect(r.problems).toHaveLength(1);
    expect(r.lines[0]).toBe(
      `in.yaml document 1: IPPool "p": warning for field IPPool.Spec.VXLANMode = '${mode}' (read as "${canonical}"; Calico rejects this spelling, write "${canonical}")`,
    );
  });
  it('does not warn about the canonical spellings', () => void expect(expectValid(pool('p', { cidr: '10.0.0.0/16', ipipMode: 'CrossSubnet', vxlanMode: 'Never' })).problems).toEqual([]));
});

describe('labels and annotations', () => {
  const withMeta = (meta: Record<string, unknown>) => JSON.stringify({ apiVersion: 'projectcalico.org/v3', kind: 'Node', metadata: { name: 'n', ...meta }, spec: {} });
  it('accepts Kubernetes qualified keys and label values', () =>
    void expectValid(withMeta({ labels: { 'topology.kubernetes.io/zone': 'eu-1a', app: '', 'a_b.c-d': 'X_y.z-1' }, annotations: { 'example.com/note': 'any text: ✓ /\\' } })));
  it.each([['-bad', 'the name part must consist of'], ['Example.com/x', 'the prefix before "/" must be a DNS-1123 subdomain'], ['a/', 'the name part must be 1 to 63 characters'], ['x'.repeat(64), 'the name part must be 1 to 63 characters']])('rejects the label key %s', (key, why) => {
    const e = expectOnlyError(withMeta({ labels: { [key]: 'v' } }), 'metadata.labels', expect.stringContaining(`invalid label key: ${why}`) as unknown as string);
    expect(e.value).toBe(key);
  });
  it.each(['-v', 'v-', 'a b', 'x'.repeat(64)])('rejects the label value %j', (value) =>
    void expectOnlyError(withMeta({ labels: { k: value } }), 'metadata.labels', expect.stringContaining('invalid value of label "k"') as unknown as string));
  it('rejects a bad annotation key and annotations over 256 KiB in total', () => {
    expectOnlyError(withMeta({ annotations: { 'a b': 'x' } }), 'metadata.annotations', expect.stringContaining('invalid annotation key') as unknown as string);
    expectValid(withMeta({ annotations: { a: 'x'.repeat(256 * 1024 - 1) } }));
    const e = expectOnlyError(withMeta({ annotations: { a: 'x'.repeat(256 * 1024) } }), 'metadata.annotations', 'annotations may total at most 262144 bytes (256 KiB), as in Kubernetes');
    expect(formatProblem(e).length).toBeLessThan(300);
  });
  it('rejects a 20 MB annotation fast and in bounded memory, before parsing it', () => {
    const text = withMeta({ annotations: { a: 'x'.repeat(20 * 1024 * 1024) } });
    const heap = process.memoryUsage().heapUsed;
    const start = performance.now();
    expect(() => loadManifests(text, 'big.yaml')).toThrow(`big.yaml: the manifest is ${text.length} characters long; at most 4194304 bytes (4 MiB) are accepted`);
    expect(performance.now() - start).toBeLessThan(1000);
    expect(process.memoryUsage().heapUsed - heap).toBeLessThan(16 * 1024 * 1024);
  });
});

describe('limits and hostile keys', () => {
  it('rejects a deeply nested selector with a clear error, quickly', () => {
    const deep = `${'('.repeat(100_000)}a == 'b'${')'.repeat(100_000)}`.slice(0, 16 * 1024);
    const start = performance.now();
    const e = expectOnlyError(pool('p', { cidr: '10.0.0.0/16', nodeSelector: deep }), 'spec.nodeSelector', expect.stringContaining('nested deeper than 64 levels of "(" and "!"') as unknown as string);
    expect(performance.now() - start).toBeLessThan(500);
    expect(formatProblem(e)).not.toMatch(/Maximum call stack/);
    expectOnlyError(pool('p', { cidr: '10.0.0.0/16', nodeSelector: '!'.repeat(1000) + 'has(a)' }), 'spec.nodeSelector', expect.stringContaining('nested deeper than 64 levels') as unknown as string);
  });
  it('rejects a selector longer than 16 KiB, printing it shortened', () => {
    const long = Array.from({ length: 2000 }, (_, i) => `k${i} == 'v'`).join(' && ');
    const e = expectOnlyError(pool('p', { cidr: '10.0.0.0/16', nodeSelector: long }), 'spec.nodeSelector', expect.stringContaining(`the selector is ${long.length} characters long; at most 16384 are accepted`) as unknown as string);
    expect(e.message.length).toBeLessThan(300);
  });
  it.each(['__proto__', 'constructor', 'toString', 'hasOwnProperty'])('treats a field named %s as any unknown field', (key) => {
    const text = `apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.0.0.0/16, ${key}: 1}\n`;
    const e = expectOnlyError(text, `spec.${key}`, expect.stringMatching(/^unknown field; known fields: cidr, /) as unknown as string);
    expect(formatProblem(e)).toContain(`IPPool.Spec.${key.charAt(0).toUpperCase()}${key.slice(1)} = '1'`);
  });
  it('escapes control characters in values, names and messages', () => {
    const r = check(pool('p', { cidr: '10.0.0.0/16', vxlanMode: 'Always\u001b[2J\r\nevil' }));
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toContain("IPPool.Spec.VXLANMode = 'Always\\x1b[2J\\r\\nevil'");
    expect(r.lines[0]).not.toMatch(/[\u0000-\u001f]/);
  });
});

describe('validation cost', () => {
  it('judges thousands of pools against thousands of nodes in linear time', () => {
    const docs = Array.from({ length: 8000 }, (_, i) => pool(`p${i}`, { cidr: `10.${i >> 8}.${i & 255}.0/24`, blockSize: 24 }));
    docs.push(pool('big', { cidr: '10.0.0.0/8' }));
    const nodes: Node[] = Array.from({ length: 8000 }, (_, i) => ({ apiVersion: 'projectcalico.org/v3', kind: 'Node', metadata: { name: `n${i}` }, spec: { bgp: { ipv4Address: `172.${16 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/16` } } }));
    const start = performance.now();
    const r = check(docs.join('\n---\n'), nodes);
    expect(performance.now() - start).toBeLessThan(10_000);
    // The /8 overlaps every /24 before it: one error per pair, on the later pool.
    expect(r.errors).toHaveLength(8000);
    expect(new Set(r.errors.map((e) => e.name))).toEqual(new Set(['big']));
  });
});
