// SPDX-License-Identifier: Apache-2.0
// /healthz: the reconcile loop is alive. /readyz: the maps hold what the datastore says (kubelet probes both).
import { createServer, type Server } from 'node:http';

export interface HealthState {
  /** Milliseconds since epoch of the loop's last heartbeat. */
  lastHeartbeat: number;
  /** True once the kernel's maps equal the compiled state of the latest datastore revision seen. */
  inSync: boolean;
  detail: () => Record<string, unknown>;
  /** Further readiness conditions (e.g. "BGP peers established"), each named in the /readyz answer. */
  checks?: () => { name: string; ok: boolean }[];
}

export function parseHostPort(value: string, flag: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 0 || port > 65535) throw new Error(`${flag}: '${value}' is not HOST:PORT`);
  return { host: m[1].replace(/^\[|\]$/g, ''), port };
}

export async function startHealthServer(addr: string, state: HealthState, staleAfterMs = 10_000): Promise<Server> {
  const { host, port } = parseHostPort(addr, '--health-addr');
  const server = createServer((req, res) => {
    const alive = Date.now() - state.lastHeartbeat < staleAfterMs;
    const checks = state.checks?.() ?? [];
    let status: number;
    if (req.url === '/healthz') status = alive ? 200 : 503;
    else if (req.url === '/readyz') status = alive && state.inSync && checks.every((c) => c.ok) ? 200 : 503;
    else status = 404;
    res.writeHead(status, { 'content-type': 'application/json' });
    const named = checks.length > 0 ? { checks: Object.fromEntries(checks.map((c) => [c.name, c.ok])) } : {};
    res.end(JSON.stringify({ status: status === 200 ? 'ok' : 'unavailable', alive, inSync: state.inSync, ...named, ...state.detail() }) + '\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
