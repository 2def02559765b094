// SPDX-License-Identifier: Apache-2.0
// Starts a throwaway etcd for tests: loopback only, random free ports, its own data dir, removed on stop.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe } from 'vitest';

export const ETCD_BINARY = process.env.ETCD_BINARY ?? '/usr/bin/etcd';

export interface EtcdTls {
  /** Server certificate and key (PEM files); the certificate must name the listen address (SAN IP). */
  certFile: string;
  keyFile: string;
  /** CA that client certificates must chain to; with clientCertAuth, clients without one are refused. */
  trustedCaFile: string;
  clientCertAuth: boolean;
  /** A client certificate for the harness's own health probe (required when clientCertAuth is on). */
  probeCertFile?: string;
  probeKeyFile?: string;
}

export interface EtcdServer {
  /** For openDatastore(): etcd://host:port (etcd+https://host:port without query when TLS is on) */
  url: string;
  clientUrl: string;
  dataDir: string;
  process: ChildProcess;
  /** Stops etcd (SIGTERM, then SIGKILL after 5 s) and removes the data dir. Safe to call twice. */
  stop(): Promise<void>;
}

export interface StartEtcdOptions {
  /** Address to listen on (default 127.0.0.1; e2e tests pass an address inside their namespace). */
  listenAddress?: string;
  /** Default: a fresh temp dir. It is removed on stop either way. */
  dataDir?: string;
  clientPort?: number;
  peerPort?: number;
  name?: string;
  /** Wrap the command, e.g. ['nsenter', '--net=/run/netns/X'] to run etcd inside a namespace. */
  commandPrefix?: string[];
  startTimeoutMs?: number;
  /** Serve clients over TLS (peers stay plaintext on loopback). */
  tls?: EtcdTls;
}

/** A port the kernel just handed out on address; good enough for tests that start one server right after. */
export async function freePort(address = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, address, () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export async function startEtcd(opts: StartEtcdOptions = {}): Promise<EtcdServer> {
  const host = opts.listenAddress ?? '127.0.0.1';
  const clientPort = opts.clientPort ?? (await freePort(host));
  let peerPort = opts.peerPort ?? (await freePort(host));
  if (peerPort === clientPort) peerPort = await freePort(host);
  const dataDir = opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'bo-etcd-'));
  const name = opts.name ?? 'default';
  const clientUrl = `${opts.tls ? 'https' : 'http'}://${host}:${clientPort}`;
  const peerUrl = `http://${host}:${peerPort}`;
  const args = [
    '--name', name,
    '--data-dir', dataDir,
    '--listen-client-urls', clientUrl,
    '--advertise-client-urls', clientUrl,
    '--listen-peer-urls', peerUrl,
    '--initial-advertise-peer-urls', peerUrl,
    '--initial-cluster', `${name}=${peerUrl}`,
    '--initial-cluster-state', 'new',
    '--log-level', 'warn',
  ];
  if (opts.tls) {
    args.push('--cert-file', opts.tls.certFile, '--key-file', opts.tls.keyFile, '--trusted-ca-file', opts.tls.trustedCaFile);
    if (opts.tls.clientCertAuth) args.push('--client-cert-auth');
  }
  const [cmd, ...prefixArgs] = [...(opts.commandPrefix ?? []), ETCD_BINARY];
  const child = spawn(cmd, [...prefixArgs, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  let exited = false;
  const exitedPromise = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (!exited) {
      child.kill('SIGTERM');
      const killTimer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exitedPromise;
      clearTimeout(killTimer);
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  };

  const deadline = Date.now() + (opts.startTimeoutMs ?? 20_000);
  try {
    for (;;) {
      if (exited) throw new Error(`etcd exited during startup: ${stderr}`);
      if (Date.now() > deadline) throw new Error(`etcd at ${clientUrl} not healthy in time: ${stderr}`);
      try {
        const body = (opts.tls ? await httpsHealth(clientUrl, opts.tls) : await (await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(1_000) })).json()) as {
          health?: string;
        };
        if (body.health === 'true') break;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const url = opts.tls ? `etcd+https://${host}:${clientPort}` : `etcd://${host}:${clientPort}`;
  return { url, clientUrl, dataDir, process: child, stop };
}

/** fetch() cannot present a client certificate, so the TLS health probe uses node:https. */
function httpsHealth(clientUrl: string, tls: EtcdTls): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      `${clientUrl}/health`,
      {
        ca: fs.readFileSync(tls.trustedCaFile),
        cert: tls.probeCertFile ? fs.readFileSync(tls.probeCertFile) : undefined,
        key: tls.probeKeyFile ? fs.readFileSync(tls.probeKeyFile) : undefined,
        timeout: 1_000,
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => {
          try {
            resolve(JSON.parse(body));
          } catch (err) {
            reject(err as Error);
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('health probe timed out')));
    req.on('error', reject);
  });
}

/** describe() for etcd tests: skipped only when the binary is missing and CI is unset; under CI it must run. */
export function etcdDescribe(name: string, fn: () => void): void {
  if (fs.existsSync(ETCD_BINARY)) {
    describe(name, fn);
    return;
  }
  if (process.env.CI) {
    describe(name, () => {
      throw new Error(`etcd test "${name}" needs ${ETCD_BINARY}, and CI=${process.env.CI} forbids skipping it`);
    });
    return;
  }
  console.warn(`[skip] etcd test "${name}": ${ETCD_BINARY} missing and CI unset`);
  describe.skip(name, fn);
}
