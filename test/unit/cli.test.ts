// SPDX-License-Identifier: Apache-2.0
// The CLI as scripts and people use it: the built dist/cli.js against a throwaway SQLite datastore. Bad input
// gets a one-line reason and a non-zero exit, and changes nothing.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { CLI, requireBuiltCli } from '../harness/agent.js';
import { openDatastore } from '../../src/control/datastore/index.js';
import type { IPPool } from '../../src/control/model/types.js';

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
    // Read commands never create the store: the first write does.
    expect(bpfOverlay(['apply', '-f', '-'], node('shape-b', '10.9.0.2/24')).code).toBe(0);
    for (const format of ['json', 'yaml'] as const) {
      const none = bpfOverlay(['get', 'blockaffinities', '-o', format]).stdout;
      expect(format === 'json' ? JSON.parse(none) : parseYaml(none)).toEqual({ apiVersion: 'projectcalico.org/v3', kind: 'BlockAffinityList', items: [] });
    }
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

describe('bpf-overlay CLI with hostile and careless input', () => {
  const store = join(dir, 'hostile.db');
  const run = (args: string[], input?: string | Buffer) => {
    const res = spawnSync(process.execPath, [CLI, ...args], {
      input,
      encoding: 'utf8',
      env: { ...process.env, BPF_OVERLAY_DATASTORE: `sqlite://${store}` },
      timeout: 30_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: res.status, stdout: res.stdout, stderr: res.stderr };
  };
  const pools = () => (JSON.parse(run(['get', 'ippools', '-o', 'json']).stdout || '{"items":[]}') as { items?: unknown[] }).items?.length ?? 1;
  beforeAll(() => requireBuiltCli());

  it('does not resolve Object keys as resource types', () => {
    for (const word of ['__proto__', 'constructor', 'toString']) {
      const res = run(['get', word]);
      expect(res.code).toBe(2);
      expect(res.stderr).toBe(`bpf-overlay get: unknown resource type '${word}' (one of ippool, node, blockaffinity, overlayconfiguration, workloadendpoint, bgpconfiguration, bgppeer)\n`);
    }
  });

  it('accepts the seed spelling Crosssubnet with one warning and stores CrossSubnet', () => {
    const res = run(['apply', '-f', '-'], 'apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: seed}\nspec: {cidr: 10.70.0.0/016, vxlanMode: Crosssubnet}\n');
    expect(res.code).toBe(0);
    expect(res.stderr).toBe(`<stdin> document 1: IPPool "seed": warning for field IPPool.Spec.VXLANMode = 'Crosssubnet' (read as "CrossSubnet"; Calico rejects this spelling, write "CrossSubnet")\n`);
    const stored = JSON.parse(run(['get', 'ippool', 'seed', '-o', 'json']).stdout) as IPPool;
    expect(stored.spec).toMatchObject({ cidr: '10.70.0.0/16', vxlanMode: 'CrossSubnet' });
  });

  it('rejects invalid UTF-8 naming the file, and changes nothing', () => {
    const file = join(dir, 'latin1.yaml');
    const prefix = Buffer.from('apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: caf');
    writeFileSync(file, Buffer.concat([prefix, Buffer.from([0xe9]), Buffer.from('}\nspec: {cidr: 10.71.0.0/16}\n')]));
    const before = pools();
    const res = run(['apply', '-f', file]);
    expect(res.code).toBe(1);
    expect(res.stderr).toBe(`bpf-overlay apply: ${file}: not valid UTF-8 (first invalid byte at offset ${prefix.length}); manifests must be UTF-8 text\n`);
    expect(pools()).toBe(before);
  });

  it('rejects a 20 MB manifest on stdin and in a file quickly, without reading it all', () => {
    const big = `apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: big, annotations: {a: "${'x'.repeat(20 * 1024 * 1024)}"}}\n`;
    const file = join(dir, 'big.yaml');
    writeFileSync(file, big);
    for (const [args, input, name] of [[['apply', '-f', '-'], big, '<stdin>'], [['apply', '-f', file], undefined, file]] as const) {
      const start = performance.now();
      const res = run([...args], input);
      expect(performance.now() - start).toBeLessThan(10_000);
      expect(res.code).toBe(1);
      expect(res.stderr).toBe(`bpf-overlay apply: ${name}: the manifest is larger than 4194304 bytes; at most 4194304 bytes (4 MiB) are accepted\n`);
    }
    expect(run(['get', 'nodes', '-o', 'json']).stdout).not.toContain('"big"');
  });

  it('rejects a pool over a registered node and a pool over multicast, changing nothing', () => {
    expect(run(['apply', '-f', '-'], 'apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: n1}\nspec: {bgp: {ipv4Address: 10.72.0.5/24}}\n').code).toBe(0);
    const before = pools();
    const res = run(['apply', '-f', '-'], 'apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: underlay}\nspec: {cidr: 10.72.0.0/16}\n---\napiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: mcast}\nspec: {cidr: 224.0.0.0/16}\n');
    expect(res.code).toBe(1);
    expect(res.stderr.trim().split('\n')).toEqual([
      `<stdin> document 1: IPPool "underlay": error with field IPPool.Spec.CIDR = '10.72.0.0/16' (IPPool CIDR contains Node(n1) address 10.72.0.5/24 (spec.bgp.ipv4Address); a pool must not cover the underlay)`,
      `<stdin> document 2: IPPool "mcast": error with field IPPool.Spec.CIDR = '224.0.0.0/16' (IPPool CIDR overlaps with the special-purpose range(s) 224.0.0.0/4 (multicast))`,
      '<stdin>: nothing applied (2 error(s))',
    ].map((l, i) => (i === 2 ? `bpf-overlay apply: ${l}` : l)));
    expect(pools()).toBe(before);
  });

  it('refuses a WorkloadEndpoint naming the uplink and a node address, storing nothing', () => {
    const wep = JSON.stringify({
      apiVersion: 'projectcalico.org/v3',
      kind: 'WorkloadEndpoint',
      metadata: { name: 'n1.wl-evil', annotations: { 'cni.bpf-overlay.io/network': 'k8s-pod-network' } },
      spec: { node: 'n1', containerID: 'c1', interfaceName: 'eth0', hostInterface: 'eth0', hostIfindex: 2, hostMac: '02:00:00:00:00:01', mac: '02:00:00:00:00:02', ipNetworks: ['10.72.0.5/32'], pool: 'seed' },
    });
    const res = run(['apply', '-f', '-'], wep);
    expect(res.code).toBe(1);
    const lines = res.stderr.trim().split('\n');
    expect(lines[0]).toMatch(/^<stdin> document 1: WorkloadEndpoint "n1\.wl-evil": error with field WorkloadEndpoint\.Spec\.HostInterface = 'eth0' \(must be "bo[0-9a-f]{11}", the CNI's veth name for this containerID and interfaceName\)$/);
    expect(lines[1]).toBe(`<stdin> document 1: WorkloadEndpoint "n1.wl-evil": error with field WorkloadEndpoint.Spec.IPNetworks.0 = '10.72.0.5/32' (is the Node(n1) address (spec.bgp.ipv4Address); a workload may not take a node's address)`);
    expect(run(['get', 'workloadendpoints', '-o', 'json']).stdout).not.toContain('wl-evil');
  });

  it('prints control characters from the datastore (a K8S_POD_NAME) escaped in tables', async () => {
    const ds = await openDatastore(`sqlite://${store}`);
    try {
      await ds.create({
        apiVersion: 'projectcalico.org/v3',
        kind: 'WorkloadEndpoint',
        metadata: { name: 'n1.wl-1' },
        spec: { node: 'n1', containerID: 'c', interfaceName: 'eth0', hostInterface: 'bo1', hostIfindex: 5, hostMac: '02:00:00:00:00:01', mac: '02:00:00:00:00:02', ipNetworks: ['10.70.0.5/32'], pool: 'seed', pod: 'evil\u001b]0;owned\u0007\r\npod', namespace: 'ns' },
      });
    } finally {
      await ds.close();
    }
    const res = run(['get', 'workloadendpoints']);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('ns/evil\\x1b]0;owned\\x07\\r\\npod');
    expect(res.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f]/);
    expect(res.stdout.trim().split('\n')).toHaveLength(2);
  });

  it('redacts datastore credentials in every message', () => {
    const res = run(['--datastore', 'etcd://root:s3cret@db.example:2379?password=hunter2&token=t0k', 'get', 'ippools']);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('etcd://root:***@db.example:2379?password=***&token=***');
    expect(res.stderr).not.toMatch(/s3cret|hunter2|t0k/);
  });
});

describe('bpf-overlay delete with a hostile name', () => {
  it('prints the name escaped', () => {
    const res = spawnSync(process.execPath, [CLI, 'delete', 'ippool', 'x\u001b[2Jy', '--ignore-not-found'], {
      encoding: 'utf8',
      env: { ...process.env, BPF_OVERLAY_DATASTORE: `sqlite://${join(dir, 'delete.db')}` },
      timeout: 30_000,
    });
    expect(res.stdout).toContain('ippool/x\\x1b[2Jy already absent');
    expect(res.stdout + res.stderr).not.toContain('\u001b');
  });
});
