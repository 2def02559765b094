// SPDX-License-Identifier: Apache-2.0
// Network namespaces and veths for kernel tests. Everything a Topology creates it deletes again in destroy(),
// and, as a last resort, when the process exits: a failed test must not leave namespaces behind.
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export function run(cmd: string, args: string[], opts: { input?: string | Buffer; timeoutMs?: number } = {}): string {
  try {
    return execFileSync(cmd, args, {
      input: opts.input,
      timeout: opts.timeoutMs ?? 30_000,
      stdio: ['pipe', 'pipe', 'pipe'],
      maxBuffer: 64 * 1024 * 1024,
    }).toString();
  } catch (err) {
    const e = err as { stderr?: Buffer; stdout?: Buffer; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.stderr?.toString().trim() || e.message}`);
  }
}

/** A short prefix unique to this run, so that two runs can coexist (interface names stay <= 15 chars). */
export function uniquePrefix(tag = 'bo'): string {
  return `${tag}${randomBytes(2).toString('hex')}`;
}

const liveNamespaces = new Set<string>();
process.on('exit', () => {
  for (const name of liveNamespaces) {
    try {
      execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  }
});

export class Netns {
  readonly path: string;
  constructor(readonly name: string) {
    this.path = `/run/netns/${name}`;
  }

  /** Runs a command inside the namespace. nsenter keeps /sys/fs/bpf visible (ip netns exec would remount /sys). */
  exec(cmd: string, args: string[] = [], opts: { input?: string | Buffer; timeoutMs?: number } = {}): string {
    return run('nsenter', [`--net=${this.path}`, '--', cmd, ...args], opts);
  }

  ip(...args: string[]): string {
    return run('ip', ['-n', this.name, ...args]);
  }

  spawn(cmd: string, args: string[] = [], opts: SpawnOptions = {}): ChildProcess {
    return spawn('nsenter', [`--net=${this.path}`, '--', cmd, ...args], { stdio: 'pipe', ...opts });
  }

  ifindex(ifname: string): number {
    const out = JSON.parse(this.ip('-j', 'link', 'show', 'dev', ifname)) as { ifindex: number }[];
    return out[0].ifindex;
  }

  mac(ifname: string): string {
    const out = JSON.parse(this.ip('-j', 'link', 'show', 'dev', ifname)) as { address: string }[];
    return out[0].address;
  }
}

export class Topology {
  readonly prefix: string;
  private readonly namespaces: Netns[] = [];
  private readonly children: ChildProcess[] = [];

  constructor(tag = 'bo') {
    this.prefix = uniquePrefix(tag);
  }

  addNamespace(suffix: string): Netns {
    const ns = new Netns(`${this.prefix}-${suffix}`);
    run('ip', ['netns', 'add', ns.name]);
    liveNamespaces.add(ns.name);
    this.namespaces.push(ns);
    ns.ip('link', 'set', 'lo', 'up');
    return ns;
  }

  /** A veth pair with one end in each namespace, both up. */
  veth(a: Netns, aName: string, b: Netns, bName: string, opts: { mtu?: number } = {}): void {
    run('ip', ['link', 'add', aName, 'netns', a.name, 'type', 'veth', 'peer', 'name', bName, 'netns', b.name]);
    for (const [ns, name] of [[a, aName], [b, bName]] as const) {
      if (opts.mtu) ns.ip('link', 'set', name, 'mtu', String(opts.mtu));
      ns.ip('link', 'set', name, 'up');
    }
  }

  /** Tracks a background process so destroy() stops it. */
  track(child: ChildProcess): ChildProcess {
    this.children.push(child);
    return child;
  }

  destroy(): void {
    for (const child of this.children) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    // Deleting a namespace deletes the veths inside it, and with them their peers.
    for (const ns of this.namespaces.reverse()) {
      try {
        run('ip', ['netns', 'del', ns.name]);
      } catch {
        // already gone
      }
      liveNamespaces.delete(ns.name);
    }
    this.namespaces.length = 0;
  }
}
