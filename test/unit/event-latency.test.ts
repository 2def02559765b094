// SPDX-License-Identifier: Apache-2.0
// The agent's event-to-map latency: each delta is measured from its own arrival to the end of the map writes
// that carry it (a failed write is measured to the retry that succeeded), and Prometheus sees it as a histogram
// by resource kind with buckets fine enough for 1-10 ms.
import { describe, expect, it } from 'vitest';
import { EventToMapLatency, type TimedDelta } from '../../src/control/agent/event-latency.js';
import { AgentMetrics, EVENT_TO_MAP_BUCKETS } from '../../src/control/agent/metrics.js';

/** A map step's pending flag, driven by the test. */
const step = (pending = true) => ({ pending });

function tracker() {
  let clock = 0;
  const seen: Array<[string, number]> = [];
  const t = new EventToMapLatency({ observe: (kind, s) => seen.push([kind, s]), now: () => clock });
  return { t, seen, at: (ms: number) => (clock = ms) };
}

describe('EventToMapLatency', () => {
  it('measures each coalesced delta from its own arrival to the pass whose map writes finished', () => {
    const { t, seen, at } = tracker();
    const routes = step();
    const settings = step();
    const deltas: TimedDelta[] = [
      { kind: 'BlockAffinity', receivedAt: 100 },
      { kind: 'Node', receivedAt: 103 },
      { kind: 'BlockAffinity' }, // not from the watch: not measured
    ];
    t.expect(deltas, [routes, settings]);
    at(105);
    routes.pending = false;
    t.settle();
    expect(seen).toEqual([]); // settings (the new cache generation) still to be written
    at(106);
    settings.pending = false;
    t.settle();
    expect(seen).toEqual([
      ['BlockAffinity', 0.006],
      ['Node', 0.003],
    ]);
    expect(t.size).toBe(0);
  });

  it('measures to the retry that succeeded when a map write failed', () => {
    const { t, seen, at } = tracker();
    const routes = step();
    t.expect([{ kind: 'BlockAffinity', receivedAt: 10 }], [routes]);
    at(11);
    t.settle(); // the write failed: the step keeps its work
    expect(seen).toEqual([]);
    at(210);
    routes.pending = false; // the retry after backoff succeeded
    t.settle();
    expect(seen).toEqual([['BlockAffinity', 0.2]]);
  });

  it('records passes independently: a later pass on another map may finish first', () => {
    const { t, seen, at } = tracker();
    const routes = step();
    const known = step();
    t.expect([{ kind: 'BlockAffinity', receivedAt: 0 }], [routes]);
    t.expect([{ kind: 'Node', receivedAt: 1 }], [known]);
    at(2);
    known.pending = false;
    t.settle();
    expect(seen).toEqual([['Node', 0.001]]);
    at(4);
    routes.pending = false;
    t.settle();
    expect(seen).toEqual([['Node', 0.001], ['BlockAffinity', 0.004]]);
  });

  it('records nothing for a pass that marked no map step, and bounds what waits', () => {
    const { t, seen } = tracker();
    t.expect([{ kind: 'Node', receivedAt: 0 }], []);
    t.settle();
    expect(seen).toEqual([]);
    expect(t.size).toBe(0);
    const bounded = new EventToMapLatency({ observe: () => undefined, maxWaiting: 2 });
    const stuck = step();
    for (let i = 0; i < 5; i++) bounded.expect([{ kind: 'Node', receivedAt: i }], [stuck]);
    expect(bounded.size).toBe(2);
    expect(bounded.dropped).toBe(3);
  });
});

describe('bpf_overlay_event_to_map_seconds', () => {
  const sampleLines = (text: string) => text.split('\n').filter((l) => l.startsWith('bpf_overlay_event_to_map_seconds'));

  it('has buckets fine enough for 1-10 ms', () => {
    const ms = EVENT_TO_MAP_BUCKETS.map((b) => b * 1000).filter((b) => b >= 1 && b <= 10);
    expect(ms.length).toBeGreaterThanOrEqual(6);
    expect(EVENT_TO_MAP_BUCKETS).toEqual([...EVENT_TO_MAP_BUCKETS].sort((a, b) => a - b));
  });

  it('is exposed as a Prometheus histogram by kind, each observation in its bucket and above', async () => {
    const m = new AgentMetrics('n1', () => []);
    for (const s of [0.0015, 0.0015, 0.004, 0.012]) m.observeEventToMap('BlockAffinity', s);
    m.observeEventToMap('Node', 0.0008);
    const text = await m.render();
    expect(text).toContain('# TYPE bpf_overlay_event_to_map_seconds histogram');
    expect(text).toMatch(/^# HELP bpf_overlay_event_to_map_seconds .+/m);
    const lines = sampleLines(text);
    /** The value of the one sample line with this suffix and exactly these labels (in any order). */
    const value = (suffix: string, labels: Record<string, string>) => {
      const want = JSON.stringify(Object.entries(labels).sort());
      const found = lines.filter((l) => {
        const m = /^bpf_overlay_event_to_map_seconds_(\w+)\{(.*)\} (\S+)$/.exec(l);
        const got = m && [...m[2].matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]).sort();
        return m?.[1] === suffix && JSON.stringify(got) === want;
      });
      expect(found, `${suffix} ${want}`).toHaveLength(1);
      return Number(found[0].split(' ').pop());
    };
    const block = (le: string) => value('bucket', { le, kind: 'BlockAffinity', node: 'n1' });
    expect(block('0.001')).toBe(0);
    expect(block('0.002')).toBe(2);
    expect(block('0.003')).toBe(2);
    expect(block('0.004')).toBe(3); // le is inclusive
    expect(block('0.01')).toBe(3);
    expect(block('0.015')).toBe(4);
    expect(block('+Inf')).toBe(4);
    expect(value('count', { kind: 'BlockAffinity', node: 'n1' })).toBe(4);
    expect(value('sum', { kind: 'BlockAffinity', node: 'n1' })).toBeCloseTo(0.019, 9);
    expect(value('bucket', { le: '0.001', kind: 'Node', node: 'n1' })).toBe(1);
    expect(value('count', { kind: 'Node', node: 'n1' })).toBe(1);
    // One bucket line per boundary and +Inf, per kind.
    expect(lines.filter((l) => l.includes('_bucket{') && l.includes('kind="Node"'))).toHaveLength(EVENT_TO_MAP_BUCKETS.length + 1);
  });
});
