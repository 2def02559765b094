// The CLI as scripts and people use it: the built dist/cli.js against a throwaway SQLite datastore. Bad input
// gets a one-line reason and a non-zero exit, and changes nothing.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { CLI, requireBuiltCli } from '../harness/agent.js';

const dir = mkdtempSync(join(tmpdir(), 'bo-cli-'));
const datastore = `sqlite://${join(dir, 'store.db')}`;

function bpfOverlay(args: string[], input?: string) {
  const res = spawnSync(process.execPath, [CLI, ...args], {
    input,
    encoding: 'utf8',
    env: { ...process.env, BPF_OVERLAY_DATASTORE: datastore },
    timeout: 30_000,
  });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'calico-vxlan-crosssubnet.yaml');

describe('bpf-overlay CLI', () => {
  beforeAll(() => requireBuiltCli());
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('get KIND -o json|yaml is a <Kind>List for none, one and several items; get KIND NAME is the object', () => {
    const node = (name: string, address: string) =>
      `apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: ${name}}\nspec: {bgp: {ipv4Address: ${address}}}\n`;
    const listOf = (format: 'json' | 'yaml') => {
      const res = bpfOverlay(['get', 'nodes', '-o', format]);
      expect(res.code, res.stderr).toBe(0);
      return (format === 'json' ? JSON.parse(res.stdout) : parseYaml(res.stdout)) as { apiVersion: string; kind: string; items: { metadata: { name: string } }[] };
    };
    const names = (format: 'json' | 'yaml') => listOf(format).items.map((n) => n.metadata.name);
    for (const format of ['json', 'yaml'] as const) {
      expect(listOf(format)).toEqual({ apiVersion: 'projectcalico.org/v3', kind: 'NodeList', items: [] });
    }
    expect(bpfOverlay(['apply', '-f', '-'], node('shape-b', '10.9.0.2/24')).code).toBe(0);
    for (const format of ['json', 'yaml'] as const) {
      expect(listOf(format).kind).toBe('NodeList');
      expect(names(format)).toEqual(['shape-b']);
    }
    expect(bpfOverlay(['apply', '-f', '-'], node('shape-a', '10.9.0.1/24')).code).toBe(0);
    for (const format of ['json', 'yaml'] as const) expect(names(format)).toEqual(['shape-a', 'shape-b']);
    // One named object prints as itself, in both formats.
    const one = JSON.parse(bpfOverlay(['get', 'node', 'shape-a', '-o', 'json']).stdout);
    expect(one).toMatchObject({ apiVersion: 'projectcalico.org/v3', kind: 'Node', metadata: { name: 'shape-a' } });
    expect(parseYaml(bpfOverlay(['get', 'node', 'shape-a', '-o', 'yaml']).stdout)).toEqual(one);
    // What get prints, apply takes back unchanged (a List is expanded).
    const listed = bpfOverlay(['get', 'nodes', '-o', 'yaml']).stdout;
    expect(bpfOverlay(['apply', '-f', '-'], listed).stdout).toBe('node/shape-a configured\nnode/shape-b configured\n');
    expect(bpfOverlay(['delete', '-f', '-'], listed).code).toBe(0);
    expect(names('json')).toEqual([]);
  });

  it('applies a Calico manifest unchanged and shows it as a table, YAML and JSON', () => {
    const applied = bpfOverlay(['apply', '-f', FIXTURE]);
    expect(applied).toMatchObject({ code: 0, stdout: 'ippool/ippool-vxlan-cross-subnet-1 created\n' });
    expect(bpfOverlay(['apply', '-f', FIXTURE]).stdout).toBe('ippool/ippool-vxlan-cross-subnet-1 configured\n');
    const table = bpfOverlay(['get', 'ippools']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^NAME\s+CIDR\s+NAT\s+IPIPMODE\s+VXLANMODE/);
    expect(table.stdout).toMatch(/ippool-vxlan-cross-subnet-1\s+192\.168\.0\.0\/16\s+true\s+Never\s+CrossSubnet/);
    const json = JSON.parse(bpfOverlay(['get', 'ippool', 'ippool-vxlan-cross-subnet-1', '-o', 'json']).stdout);
    expect(json).toMatchObject({ apiVersion: 'projectcalico.org/v3', kind: 'IPPool', spec: { blockSize: 26, nodeSelector: 'all()' } });
    expect(bpfOverlay(['get', 'ippools', '-o', 'yaml']).stdout).toMatch(/vxlanMode: CrossSubnet/);
  });

  it('rejects a batch with one bad document and applies none of it, naming file, document and field', () => {
    const file = join(dir, 'batch.yaml');
    writeFileSync(
      file,
      `apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: good-pool}
spec: {cidr: 10.10.0.0/16, ipipMode: Always}
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: bad-pool}
spec: {cidr: 10.20.0.0/16, ipipMode: Always, vxlanMode: Always}
`,
    );
    const res = bpfOverlay(['apply', '-f', file]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`${file} document 2`);
    expect(res.stderr).toContain("IPPool.Spec.VXLANMode = 'Always' (Cannot enable both VXLAN and IPIP on the same IPPool)");
    expect(res.stderr).toMatch(/nothing applied/);
    expect(bpfOverlay(['get', 'ippools', '-o', 'json']).stdout).not.toContain('good-pool');
  });

  it('validate checks against existing pools without applying', () => {
    const overlapping = `apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: overlapping}
spec: {cidr: 192.168.128.0/17}
`;
    const res = bpfOverlay(['validate', '-f', '-'], overlapping);
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/overlaps with IPPool\(ippool-vxlan-cross-subnet-1\)/);
    expect(bpfOverlay(['validate', '-f', '-', '--offline'], overlapping)).toMatchObject({ code: 0 });
    expect(bpfOverlay(['get', 'ippools', '-o', 'json']).stdout).not.toContain('overlapping');
  });

  it('refuses to change an existing pool CIDR', () => {
    const moved = `apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: ippool-vxlan-cross-subnet-1}
spec: {cidr: 172.16.0.0/16, vxlanMode: CrossSubnet}
`;
    const res = bpfOverlay(['apply', '-f', '-'], moved);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('IPPool CIDR cannot be modified');
  });

  it('gives one-line reasons for usage mistakes and missing files', () => {
    expect(bpfOverlay(['frobnicate'])).toMatchObject({ code: 2 });
    expect(bpfOverlay(['frobnicate']).stderr).toMatch(/unknown command 'frobnicate'/);
    const missing = bpfOverlay(['apply', '-f', join(dir, 'nope.yaml')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toContain('nope.yaml: no such file');
    expect(bpfOverlay(['get', 'routes'])).toMatchObject({ code: 2 });
    expect(bpfOverlay(['get', 'widgets']).stderr).toMatch(/unknown resource type 'widgets'/);
    expect(bpfOverlay(['load', '--node', 'x', '--address', '10.0.0.1']).stderr).toMatch(/--address: '10.0.0.1' is not A.B.C.D\/N/);
    expect(bpfOverlay(['--datastore', 'mysql://x', 'get', 'ippools']).stderr).toMatch(/unsupported scheme/);
  });

  it('shows the compiled routing decisions of a node, CrossSubnet included', () => {
    const nodes = `apiVersion: projectcalico.org/v3
kind: Node
metadata: {name: node1}
spec: {bgp: {ipv4Address: 10.0.1.1/24}}
---
apiVersion: projectcalico.org/v3
kind: Node
metadata: {name: node3}
spec: {bgp: {ipv4Address: 10.0.2.3/24}}
---
apiVersion: projectcalico.org/v3
kind: BlockAffinity
metadata: {name: node3-192-168-3-0-26}
spec: {node: node3, cidr: 192.168.3.0/26}
`;
    expect(bpfOverlay(['apply', '-f', '-'], nodes).code).toBe(0);
    const list = JSON.parse(bpfOverlay(['get', 'routes', '--node', 'node1', '-o', 'json']).stdout) as {
      kind: string;
      items: { cidr: string; kind: string; encap: string; nextHop: string }[];
    };
    expect(list.kind).toBe('RouteList');
    const routes = list.items;
    expect(routes.find((r) => r.cidr === '192.168.3.0/26')).toMatchObject({ kind: 'remote-block', encap: 'vxlan', nextHop: '10.0.2.3' });
  });

  it('deletes by type and name, and by file', () => {
    expect(bpfOverlay(['delete', 'ippool', 'no-such-pool']).code).toBe(1);
    expect(bpfOverlay(['delete', 'ippool', 'ippool-vxlan-cross-subnet-1'])).toMatchObject({ code: 0 });
    expect(bpfOverlay(['apply', '-f', FIXTURE]).code).toBe(0);
    expect(bpfOverlay(['delete', '-f', FIXTURE])).toMatchObject({ code: 0 });
    expect(bpfOverlay(['get', 'ippools', '-o', 'json']).stdout).not.toContain('ippool-vxlan-cross-subnet-1');
  });
});
