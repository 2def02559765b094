// SPDX-License-Identifier: Apache-2.0
// Prometheus metrics: the data path's counters (read from the kernel at scrape time) and the reconciler's
// own health, on a registry of our own so nothing global leaks between agents in one process (tests).
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { parseHostPort } from './health.js';
import type { CounterRow } from '../node/counters.js';

/** Fine from 0.5 to 10 ms (the issue #12 target is 10 ms p99), then coarse up to the retry backoff's range. */
export const EVENT_TO_MAP_BUCKETS = [0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];

export class AgentMetrics {
  readonly registry = new Registry();
  readonly reconciles: Counter;
  readonly reconcileErrors: Counter;
  readonly reconcileSeconds: Histogram;
  readonly mapEntries: Gauge;
  readonly mapWrites: Counter;
  readonly quarantined: Gauge;
  readonly stepFailures: Counter;
  readonly relists: Counter;
  readonly events: Counter;
  readonly stepSeconds: Histogram;
  readonly eventToMapSeconds: Histogram<'kind'>;
  /** One child per kind, made once: an observation allocates nothing. */
  private readonly eventToMapByKind = new Map<string, Histogram.Internal<'kind'>>();

  constructor(node: string, readCounters: () => CounterRow[]) {
    this.registry.setDefaultLabels({ node });
    this.reconciles = new Counter({ name: 'bpf_overlay_reconciles_total', help: 'Completed reconcile passes', registers: [this.registry] });
    this.reconcileErrors = new Counter({
      name: 'bpf_overlay_reconcile_errors_total',
      help: 'Reconcile passes that failed (retried)',
      registers: [this.registry],
    });
    this.reconcileSeconds = new Histogram({
      name: 'bpf_overlay_reconcile_duration_seconds',
      help: 'Time from datastore change to kernel state applied',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [this.registry],
    });
    this.mapEntries = new Gauge({
      name: 'bpf_overlay_map_entries',
      help: 'Entries the reconciler keeps in each BPF map',
      labelNames: ['map'],
      registers: [this.registry],
    });
    this.mapWrites = new Counter({
      name: 'bpf_overlay_map_writes_total',
      help: 'Map entries written or deleted by the reconciler',
      labelNames: ['map', 'op'],
      registers: [this.registry],
    });
    this.quarantined = new Gauge({
      name: 'bpf_overlay_quarantined_records',
      help: 'Records skipped because they would harm this node or others (see status warnings), by kind',
      labelNames: ['kind'],
      registers: [this.registry],
    });
    this.stepFailures = new Counter({
      name: 'bpf_overlay_step_failures_total',
      help: 'Failed runs of a sync step (retried with backoff while the other steps proceed)',
      labelNames: ['step'],
      registers: [this.registry],
    });
    this.relists = new Counter({
      name: 'bpf_overlay_datastore_lists_total',
      help: 'Full datastore lists (one at start, then only after a compaction or a failed watch)',
      registers: [this.registry],
    });
    this.events = new Counter({
      name: 'bpf_overlay_datastore_events_total',
      help: 'Datastore changes received from the watch (only those that concern this node)',
      registers: [this.registry],
    });
    this.stepSeconds = new Histogram({
      name: 'bpf_overlay_step_duration_seconds',
      help: 'Time of one run of a kernel sync step (maps, host routes, tunnel addresses, nft, workload links, ...)',
      labelNames: ['step'],
      buckets: [0.0001, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [this.registry],
    });
    this.eventToMapSeconds = new Histogram({
      name: 'bpf_overlay_event_to_map_seconds',
      help: 'Time from a watch delta reaching the agent to the BPF map writes that carry it (retries included), by resource kind',
      labelNames: ['kind'],
      buckets: EVENT_TO_MAP_BUCKETS,
      registers: [this.registry],
    });
    const labelNames = ['hook', 'encap', 'reason'] as const;
    const packets = new Gauge({
      name: 'bpf_overlay_datapath_packets',
      help: 'Packets seen by the data path per hook, encapsulation and verdict or drop reason (kernel counter)',
      labelNames,
      registers: [this.registry],
    });
    const bytes = new Gauge({
      name: 'bpf_overlay_datapath_bytes',
      help: 'Bytes seen by the data path per hook, encapsulation and verdict or drop reason (kernel counter)',
      labelNames,
      registers: [this.registry],
    });
    // Kernel counters only grow (they survive agent restarts in the pinned map): exposed as gauges of the
    // kernel's value rather than prom counters incremented here, so a restart does not reset them.
    const collect = () => {
      packets.reset();
      bytes.reset();
      for (const row of readCounters()) {
        const labels = { hook: row.hook, encap: row.encap, reason: row.reason };
        packets.set(labels, row.packets);
        bytes.set(labels, row.bytes);
      }
    };
    this.collectDatapath = collect;
  }

  private readonly collectDatapath: () => void;

  observeEventToMap(kind: string, seconds: number): void {
    let child = this.eventToMapByKind.get(kind);
    if (!child) this.eventToMapByKind.set(kind, (child = this.eventToMapSeconds.labels({ kind })));
    child.observe(seconds);
  }

  async render(): Promise<string> {
    this.collectDatapath();
    return this.registry.metrics();
  }
}

export async function startMetricsServer(addr: string, metrics: AgentMetrics): Promise<Server> {
  const { host, port } = parseHostPort(addr, '--metrics-addr');
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    metrics.render().then(
      (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      (err: Error) => res.writeHead(500).end(`${err.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
