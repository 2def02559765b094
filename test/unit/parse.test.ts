// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import {
  ManifestError,
  decodeManifest,
  describeSource,
  firstInvalidUtf8,
  MAX_MANIFEST_BYTES,
  parseManifests,
  serializeResources,
  toResource,
} from '../../src/control/model/parse.js';
import type { BlockAffinity, IPPool, Node, WorkloadEndpoint } from '../../src/control/model/types.js';

const twoPools = `apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: a
spec:
  cidr: 10.1.0.0/16
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: b
spec:
  cidr: fd00:10::/48
  vxlanMode: crosssubnet
---
`;

describe('parseManifests', () => {
  it('reads multi-document YAML, skips empty documents, records the source', () => {
    const docs = parseManifests(twoPools, 'pools.yaml');
    expect(docs.map((d) => d.source)).toEqual([
      { file: 'pools.yaml', document: 0 },
      { file: 'pools.yaml', document: 1 },
    ]);
    expect(describeSource(docs[1].source)).toBe('pools.yaml document 2');
  });

  it('reads JSON, a kind: List and an IPPoolList with items', () => {
    const json = JSON.stringify({ apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'j' }, spec: { cidr: '10.9.0.0/16' } });
    expect(parseManifests(json, 'p.json')[0].body.metadata).toEqual({ name: 'j' });
    const list = `apiVersion: v1
kind: List
items:
- {apiVersion: projectcalico.org/v3, kind: IPPool, metadata: {name: x}, spec: {cidr: 10.2.0.0/16}}
- {apiVersion: projectcalico.org/v3, kind: Node, metadata: {name: n1}, spec: {}}
`;
    const docs = parseManifests(list, 'l.yaml');
    expect(docs.map((d) => d.body.kind)).toEqual(['IPPool', 'Node']);
    expect(describeSource(docs[1].source)).toBe('l.yaml document 1 item 2');
    const ipl = JSON.stringify({ apiVersion: 'projectcalico.org/v3', kind: 'IPPoolList', items: [{ kind: 'IPPool' }, { kind: 'IPPool' }] });
    expect(parseManifests(ipl, 'x.json')).toHaveLength(2);
  });

  it('reports a syntax error with document and line', () => {
    expect(() => parseManifests('kind: IPPool\n---\nmetadata: {name: [\n', 'bad.yaml')).toThrow(ManifestError);
    expect(() => parseManifests('kind: IPPool\n---\nmetadata: {name: [\n', 'bad.yaml')).toThrow(/bad\.yaml document 2: invalid YAML\/JSON \(line \d+/);
    expect(() => parseManifests('a: 1\na: 2\n', 'dup.yaml')).toThrow(/dup\.yaml document 1/);
  });

  it('rejects a document that is no mapping', () => {
    expect(() => parseManifests('just a string', 's.yaml')).toThrow('s.yaml document 1: expected a resource');
  });
});

describe('toResource defaults', () => {
  it('fills IPPool defaults (IPv4 and IPv6) and normalizes mode spelling', () => {
    const [a, b] = parseManifests(twoPools, 'pools.yaml').map(toResource) as IPPool[];
    expect(a.spec).toEqual({
      cidr: '10.1.0.0/16',
      ipipMode: 'Never',
      vxlanMode: 'Never',
      natOutgoing: false,
      disabled: false,
      blockSize: 26,
      nodeSelector: 'all()',
    });
    expect(b.spec.blockSize).toBe(122);
    expect(b.spec.vxlanMode).toBe('CrossSubnet');
  });

  it('maps FelixConfiguration onto OverlayConfiguration with the smaller tunnel MTU', () => {
    const [felix] = parseManifests(
      'apiVersion: projectcalico.org/v3\nkind: FelixConfiguration\nmetadata: {name: default}\nspec: {vxlanPort: 8472, vxlanVNI: 1, vxlanMTU: 1450, ipipMTU: 1480, logSeverityScreen: Info}\n',
      'f.yaml',
    );
    expect(toResource(felix)).toEqual({
      apiVersion: 'projectcalico.org/v3',
      kind: 'OverlayConfiguration',
      metadata: { name: 'default' },
      spec: { vxlanPort: 8472, vxlanVNI: 1, mtu: 1450 },
    });
  });
});

describe('serializeResources', () => {
  const pools = parseManifests(twoPools, 'pools.yaml').map(toResource);
  it('prints one resource as itself and round-trips', () => {
    const yaml = serializeResources([pools[0]], 'yaml');
    expect(yaml).toContain('kind: IPPool\n');
    expect(toResource(parseManifests(yaml, 'out.yaml')[0])).toEqual(pools[0]);
  });
  it('prints several as an IPPoolList, JSON too', () => {
    const json = JSON.parse(serializeResources(pools, 'json'));
    expect(json.kind).toBe('IPPoolList');
    expect(json.items).toHaveLength(2);
    expect(parseManifests(serializeResources(pools, 'yaml'), 'o.yaml').map(toResource)).toEqual(pools);
  });
});

describe('canonical CIDRs and addresses on storage', () => {
  const one = (text: string) => toResource(parseManifests(text, 'c.yaml')[0]);
  it('stores pools, affinities, node and workload addresses in canonical form', () => {
    expect((one('{apiVersion: projectcalico.org/v3, kind: IPPool, metadata: {name: p}, spec: {cidr: 10.5.0.0/016}}') as IPPool).spec.cidr).toBe('10.5.0.0/16');
    expect((one('{apiVersion: projectcalico.org/v3, kind: IPPool, metadata: {name: p}, spec: {cidr: "fd00:0:0::/48"}}') as IPPool).spec.cidr).toBe('fd00::/48');
    expect((one('{apiVersion: projectcalico.org/v3, kind: BlockAffinity, metadata: {name: b}, spec: {node: n, cidr: 10.5.0.0/026}}') as BlockAffinity).spec.cidr).toBe('10.5.0.0/26');
    const node = one('{apiVersion: projectcalico.org/v3, kind: Node, metadata: {name: n}, spec: {bgp: {ipv4Address: 10.0.0.5/024, ipv4IPIPTunnelAddr: 10.5.0.1}, ipv4VXLANTunnelAddr: 10.5.0.2}}') as Node;
    expect(node.spec).toEqual({ bgp: { ipv4Address: '10.0.0.5/24', ipv4IPIPTunnelAddr: '10.5.0.1' }, ipv4VXLANTunnelAddr: '10.5.0.2' });
    const wep = one('{apiVersion: projectcalico.org/v3, kind: WorkloadEndpoint, metadata: {name: w}, spec: {ipNetworks: ["10.5.0.7/032", "fd00:0::7/128"]}}') as WorkloadEndpoint;
    expect(wep.spec.ipNetworks).toEqual(['10.5.0.7/32', 'fd00::7/128']);
  });
});

describe('manifest bytes', () => {
  it('decodes strict UTF-8 and drops a BOM', () => {
    expect(decodeManifest(Buffer.from('\ufeffkind: IPPool # ✓\n'), 'a.yaml')).toBe('kind: IPPool # ✓\n');
  });
  it('rejects invalid UTF-8 naming the file and the offset, instead of replacing it', () => {
    const bytes = Buffer.concat([Buffer.from('metadata: {name: p'), Buffer.from([0xff]), Buffer.from('}\n')]);
    expect(() => decodeManifest(bytes, 'pools.yaml')).toThrow('pools.yaml: not valid UTF-8 (first invalid byte at offset 18); manifests must be UTF-8 text');
  });
  it.each([
    [[0x61, 0xc3, 0xa9], -1],
    [[0xf0, 0x9f, 0x98, 0x80], -1],
    [[0x61, 0xc0, 0x80], 1], // overlong NUL
    [[0xed, 0xa0, 0x80], 0], // a UTF-16 surrogate
    [[0x61, 0x62, 0xe2, 0x82], 2], // cut short
    [[0xf4, 0x90, 0x80, 0x80], 0], // beyond U+10FFFF
    [[0x80], 0],
  ])('finds the first invalid byte of %j at %i', (bytes, at) => void expect(firstInvalidUtf8(Uint8Array.from(bytes))).toBe(at));
  it('rejects more than 4 MiB', () => {
    expect(() => decodeManifest(new Uint8Array(MAX_MANIFEST_BYTES + 1), '<stdin>')).toThrow('<stdin>: the manifest is larger than 4194304 bytes; at most 4194304 bytes (4 MiB) are accepted');
  });
  it.each([
    ['flow collections', `{"spec": ${'['.repeat(1_500_000)}${']'.repeat(1_500_000)}}`],
    ['chained block sequences', `spec:\n${'- '.repeat(2_000_000)}x\n`],
  ])('refuses %s nested deeper than 100 before parsing, in bounded time', (_what, text) => {
    const start = performance.now();
    expect(() => parseManifests(text, 'deep.yaml')).toThrow(/^deep\.yaml document 1: nested deeper than 100 levels \(line \d\); not read$/);
    expect(performance.now() - start).toBeLessThan(1000);
  });
  it('reports block nesting the parser cannot follow as "nested too deeply", never a stack overflow', () => {
    let text = 'spec:\n';
    for (let i = 1; i <= 1500; i++) text += `${' '.repeat(i)}a:\n`;
    expect(() => parseManifests(text, 'deep.yaml')).toThrow(/^deep\.yaml document 1: nested too deeply to read \(line \d+, column \d+\)$/);
  });
  it('keeps brackets in quoted scalars and comments out of the nesting count', () => {
    const text = `kind: IPPool # ${'['.repeat(500)}\nmetadata: {name: "${'{'.repeat(500)}", note: '${'['.repeat(500)}'}\n`;
    expect(parseManifests(text, 'q.yaml')[0].body.kind).toBe('IPPool');
  });
});
