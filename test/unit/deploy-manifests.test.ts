// SPDX-License-Identifier: Apache-2.0
// The Kubernetes manifests in deploy/kubernetes: every object validates against the official Kubernetes OpenAPI
// schemas (kubernetes-models compiles them into validators), the Calico-form resources validate with our own
// validator, and the DaemonSet holds together: the probes reach the agent, the references resolve, the scripts it
// runs are in the image. Broken manifests must fail the same checks.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Secret } from 'kubernetes-models/v1/Secret';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import type { IDaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { loadManifests } from '../../src/control/validation/index.js';
import { AGENT_RUNTIME_ENV } from '../../src/control/agent/runtime-env.js';

const ROOT = join(import.meta.dirname, '..', '..');
const DIR = join(ROOT, 'deploy', 'kubernetes');
/** Resources in Calico's form live in the bpf-overlay datastore, not the Kubernetes API. */
const DATASTORE_FILES = new Set(['ippool.yaml']);

type K8sObject = { apiVersion: string; kind: string; metadata?: { name?: string; namespace?: string } } & Record<string, unknown>;

const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/ServiceAccount': ServiceAccount,
  'v1/Secret': Secret,
  'v1/ConfigMap': ConfigMap,
  'apps/v1/DaemonSet': DaemonSet,
};

/** Throws, naming file and object, when the object does not match its Kubernetes schema. */
function validateObject(obj: K8sObject, where: string): void {
  const Model = MODELS[`${obj.apiVersion}/${obj.kind}`];
  if (!Model) throw new Error(`${where}: ${obj.apiVersion} ${obj.kind} has no schema here (add it to MODELS)`);
  try {
    new Model(obj as never).validate();
  } catch (err) {
    throw new Error(`${where}: ${obj.kind}/${obj.metadata?.name}: ${(err as Error).message}`);
  }
}

function loadDir(): { file: string; obj: K8sObject }[] {
  return readdirSync(DIR)
    .filter((f) => f.endsWith('.yaml') && !DATASTORE_FILES.has(f))
    .flatMap((file) =>
      parseAllDocuments(readFileSync(join(DIR, file), 'utf8')).map((doc) => {
        if (doc.errors.length) throw new Error(`${file}: ${doc.errors[0].message}`);
        return { file, obj: doc.toJS() as K8sObject };
      }),
    );
}

const objects = loadDir();
const find = <T>(kind: string, name?: string) =>
  objects.find((o) => o.obj.kind === kind && (!name || o.obj.metadata?.name === name))?.obj as T | undefined;
const daemonSet = () => structuredClone(find<IDaemonSet>('DaemonSet')!);

describe('deploy/kubernetes manifests', () => {
  it('has the objects a deployment needs, each valid against the Kubernetes schemas', () => {
    expect(objects.map((o) => o.obj.kind).sort()).toEqual(['ConfigMap', 'DaemonSet', 'Namespace', 'Secret', 'ServiceAccount']);
    for (const { file, obj } of objects) validateObject(obj, file);
    for (const { obj } of objects.filter((o) => o.obj.kind !== 'Namespace')) expect(obj.metadata?.namespace).toBe('bpf-overlay');
  });

  it('the sample IPPool and the ConfigMap overlay configuration pass the bpf-overlay validator', () => {
    const pool = loadManifests(readFileSync(join(DIR, 'ippool.yaml'), 'utf8'), 'ippool.yaml', []);
    expect(pool.problems).toEqual([]);
    expect(pool.resources.map((r) => r.resource.kind)).toEqual(['IPPool']);
    const cm = find<{ data: Record<string, string> }>('ConfigMap', 'bpf-overlay-config')!;
    const config = loadManifests(cm.data['config.yaml'], 'config.yaml', []);
    expect(config.problems).toEqual([]);
    expect(config.resources.map((r) => r.resource.kind)).toEqual(['OverlayConfiguration']);
  });

  it('the DaemonSet runs the agent the way the agent expects', () => {
    const ds = daemonSet();
    const pod = ds.spec!.template.spec!;
    const agent = pod.containers.find((c) => c.name === 'agent')!;
    expect(pod.hostNetwork).toBe(true);
    expect(pod.priorityClassName).toBe('system-node-critical');
    expect(pod.tolerations).toContainEqual({ operator: 'Exists' });
    expect(ds.spec!.updateStrategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } });
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(0);

    // the runtime environment the bench measures (src/control/agent/runtime-env.ts)
    for (const [name, value] of Object.entries(AGENT_RUNTIME_ENV)) expect(agent.env).toContainEqual({ name, value });
    // --node from the downward API
    expect(agent.args!.slice(0, 3)).toEqual(['load', '--node', '$(NODE_NAME)']);
    expect(agent.env).toContainEqual({ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } });
    // probes on the agent's loopback health server
    const health = agent.args![agent.args!.indexOf('--health-addr') + 1];
    const [host, port] = health.split(':');
    for (const [probe, path] of [
      [agent.readinessProbe, '/readyz'],
      [agent.livenessProbe, '/healthz'],
    ] as const) {
      expect(probe?.httpGet).toEqual({ host, port: Number(port), path });
    }
    // pins must be the host's
    const bpffs = agent.volumeMounts!.find((m) => m.mountPath === '/sys/fs/bpf')!;
    expect(bpffs.mountPropagation).toBe('Bidirectional');
    expect(agent.securityContext?.privileged).toBe(true); // the API refuses Bidirectional otherwise
    const volumes = new Map(pod.volumes!.map((v) => [v.name, v]));
    expect(volumes.get(bpffs.name)?.hostPath?.path).toBe('/sys/fs/bpf');
    for (const path of ['/run/netns', '/var/lib/bpf-overlay']) {
      const m = agent.volumeMounts!.find((x) => x.mountPath === path)!;
      expect(volumes.get(m.name)?.hostPath?.path).toBe(path);
    }
  });

  it('every reference in the DaemonSet resolves: volumes, Secret keys, ConfigMap keys, scripts in the image', () => {
    const pod = daemonSet().spec!.template.spec!;
    const volumes = new Set(pod.volumes!.map((v) => v.name));
    const secret = find<{ metadata: { name: string }; stringData: Record<string, string> }>('Secret')!;
    const configMap = find<{ metadata: { name: string }; data: Record<string, string> }>('ConfigMap')!;
    const dockerfile = readFileSync(join(ROOT, 'deploy', 'Dockerfile'), 'utf8');
    for (const c of [...pod.initContainers!, ...pod.containers]) {
      for (const m of c.volumeMounts ?? []) expect(volumes, `${c.name} mounts ${m.name}`).toContain(m.name);
      for (const e of c.env ?? []) {
        const ref = e.valueFrom?.secretKeyRef;
        if (ref) {
          expect(ref.name).toBe(secret.metadata.name);
          expect(Object.keys(secret.stringData)).toContain(ref.key);
        }
      }
      for (const m of (c.volumeMounts ?? []).filter((x) => x.subPath)) {
        expect(pod.volumes!.find((v) => v.name === m.name)?.configMap?.name).toBe(configMap.metadata.name);
        expect(Object.keys(configMap.data)).toContain(m.subPath);
      }
      // An init command is a file of this repository that the image copies to /opt/bpf-overlay.
      const script = c.command?.[0];
      if (script) {
        const rel = script.replace('/opt/bpf-overlay/', '');
        expect(readFileSync(join(ROOT, rel), 'utf8')).toMatch(/^#!/);
        expect(dockerfile).toContain(`COPY ${rel} ${rel}`);
      }
    }
    expect(pod.initContainers!.map((c) => c.name)).toEqual(['mount-bpffs', 'install-cni', 'apply-config']);
    expect(pod.initContainers!.find((c) => c.name === 'apply-config')!.args).toEqual(['apply', '-f', '/etc/bpf-overlay/config.yaml']);
    // The datastore URL's TLS files are where the Secret is mounted.
    const url = new URLSearchParams(secret.stringData['datastore-url'].split('?')[1]);
    const mountedAt = pod.containers[0].volumeMounts!.find((m) => m.name === 'etcd')!.mountPath;
    for (const key of ['ca', 'cert', 'key']) {
      const file = url.get(key)!;
      expect(file.startsWith(`${mountedAt}/`)).toBe(true);
      expect(Object.keys(secret.stringData)).toContain(file.slice(mountedAt.length + 1));
    }
  });

  describe('broken manifests are refused', () => {
    const broken: [string, (ds: IDaemonSet) => void, RegExp][] = [
      ['a container without a name', (ds) => delete (ds.spec!.template.spec!.containers[0] as { name?: string }).name, /name/],
      ['hostNetwork as a string', (ds) => ((ds.spec!.template.spec as unknown as Record<string, unknown>).hostNetwork = 'yes'), /hostNetwork.*boolean/],
      ['a probe port that is an object', (ds) => ((ds.spec!.template.spec!.containers[0].readinessProbe!.httpGet as unknown as Record<string, unknown>).port = { n: 9099 }), /port/],
      ['a DaemonSet without a selector', (ds) => delete (ds.spec as { selector?: unknown }).selector, /selector/],
      ['a volume mount without a mountPath', (ds) => delete (ds.spec!.template.spec!.containers[0].volumeMounts![0] as { mountPath?: string }).mountPath, /mountPath/],
    ];
    for (const [what, breakIt, message] of broken) {
      it(what, () => {
        const ds = daemonSet();
        breakIt(ds);
        expect(() => validateObject(ds as unknown as K8sObject, 'daemonset.yaml')).toThrow(message);
      });
    }

    it('an object of an unknown kind', () => {
      expect(() => validateObject({ apiVersion: 'v1', kind: 'Pod ', metadata: { name: 'x' } }, 'x.yaml')).toThrow(/no schema/);
    });

    it('an IPPool with a bad CIDR', () => {
      const text = readFileSync(join(DIR, 'ippool.yaml'), 'utf8').replace('10.244.0.0/16', '10.244.0.0/33');
      const result = loadManifests(text, 'ippool.yaml', []);
      expect(result.ok).toBe(false);
      expect(result.problems.map((p) => p.message).join('\n')).toMatch(/cidr/i);
    });
  });
});
