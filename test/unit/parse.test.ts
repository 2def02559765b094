import { describe, expect, it } from 'vitest';
import {
  ManifestError,
  describeSource,
  parseManifests,
  serializeResources,
  toResource,
} from '../../src/control/model/parse.js';
import type { IPPool } from '../../src/control/model/types.js';

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
