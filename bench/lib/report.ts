// SPDX-License-Identifier: Apache-2.0
// Turns the raw results into the Markdown table (every figure as a ratio to plain and to kernel-vxlan) and a
// hand-written SVG bar chart of the throughput and latency ratios.
import { spread, type Spread } from './stats.js';

export interface MetricDef {
  key: string;
  label: string;
  unit: string;
  /** true: bigger is better (throughput); false: smaller is better (latency, CPU). */
  higherIsBetter: boolean;
  digits: number;
}

export const METRICS: MetricDef[] = [
  { key: 'tcp1Gbps', label: 'TCP 1 stream', unit: 'Gbit/s', higherIsBetter: true, digits: 2 },
  { key: 'tcp4Gbps', label: 'TCP 4 streams', unit: 'Gbit/s', higherIsBetter: true, digits: 2 },
  { key: 'latP50us', label: 'TCP RR latency p50', unit: 'µs', higherIsBetter: false, digits: 1 },
  { key: 'latP99us', label: 'TCP RR latency p99', unit: 'µs', higherIsBetter: false, digits: 1 },
  { key: 'udpKpps', label: 'UDP 64 B delivered', unit: 'kpps', higherIsBetter: true, digits: 0 },
  { key: 'cpuSecPerGB', label: 'Transfer CPU per GB, TCP 1 stream (iperf3 processes + ksoftirqd)', unit: 'CPU-s/GB', higherIsBetter: false, digits: 3 },
  { key: 'iperfCpuSecPerGB', label: 'CPU per GB, TCP 1 stream, iperf3 processes only (tighter: no ksoftirqd, which also serves other tenants)', unit: 'CPU-s/GB', higherIsBetter: false, digits: 3 },
  { key: 'cpu4SecPerGB', label: 'Transfer CPU per GB, TCP 4 streams (iperf3 processes + ksoftirqd)', unit: 'CPU-s/GB', higherIsBetter: false, digits: 3 },
  { key: 'latCpuUsPerTx', label: 'Transfer CPU per TCP ping-pong transaction (sockperf processes + ksoftirqd)', unit: 'µs', higherIsBetter: false, digits: 2 },
  { key: 'udpCpuUsPerPkt', label: 'Transfer CPU per delivered UDP 64 B datagram (iperf3 processes + ksoftirqd)', unit: 'µs', higherIsBetter: false, digits: 2 },
  { key: 'cpuSecPerGBProcStat', label: 'Whole-host CPU per GB, TCP 1 stream (/proc/stat, includes other load)', unit: 'CPU-s/GB', higherIsBetter: false, digits: 2 },
];

export type TrafficTable = Record<string, Record<string, Spread>>;

/** One round's figures of one path, metric key -> value. */
export type RoundSample = Record<string, number>;

/**
 * Per-round ratios to plain: each round's figure of a path divided by plain's figure of the same round and
 * metric (measured seconds apart), then median, min and max over the rounds. Load that drifts over minutes
 * hits both sides of a ratio alike, so this spread is narrower than the absolute figures' and shows more
 * honestly whether a path differs from plain: a min–max that contains 1.0 is no measured difference.
 */
export function pairedRatios(paths: string[], samples: Record<string, RoundSample[]>): TrafficTable {
  const plain = samples.plain ?? [];
  return Object.fromEntries(
    paths.map((p) => [
      p,
      Object.fromEntries(METRICS.map((m) => [m.key, spread((samples[p] ?? []).map((s, i) => ratio(s[m.key], plain[i]?.[m.key] ?? NaN)))])),
    ]),
  );
}

const fmt = (v: number, d: number) => (Number.isFinite(v) ? v.toFixed(d) : 'n/a');
const ratio = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : NaN);

/**
 * Where a path's min–max over the rounds lies against plain's: a median ratio whose ranges overlap is not a
 * measured difference on this host, only a non-overlapping one is.
 */
export function rangeVsPlain(s: Spread, plain: Spread | undefined, higherIsBetter: boolean): string {
  if (!plain || s.n === 0 || plain.n === 0) return '';
  if (s.min <= plain.max && plain.min <= s.max) return 'overlaps';
  const above = s.min > plain.max;
  return above === higherIsBetter ? '**better, no overlap**' : '**worse, no overlap**';
}

export function trafficMarkdown(paths: string[], table: TrafficTable, paired: TrafficTable): string {
  const lines: string[] = [];
  for (const m of METRICS) {
    lines.push(`#### ${m.label} (${m.unit}, ${m.higherIsBetter ? 'higher' : 'lower'} is better)`, '');
    lines.push('| path | median | min | max | n | × plain | range vs plain | per-round × plain (min–max) | × kernel-vxlan |', '|---|---:|---:|---:|---:|---:|---|---:|---:|');
    for (const p of paths) {
      const s = table[p]?.[m.key];
      if (!s) continue;
      const plain = table.plain?.[m.key]?.median ?? NaN;
      const kvx = table['kernel-vxlan']?.[m.key]?.median ?? NaN;
      const range = p === 'plain' ? '' : rangeVsPlain(s, table.plain?.[m.key], m.higherIsBetter);
      const pr = paired[p]?.[m.key];
      const perRound = p === 'plain' || !pr || pr.n === 0 ? '' : `${fmt(pr.median, 3)} (${fmt(pr.min, 2)}–${fmt(pr.max, 2)})`;
      lines.push(`| ${p} | ${fmt(s.median, m.digits)} | ${fmt(s.min, m.digits)} | ${fmt(s.max, m.digits)} | ${s.n} | ${fmt(ratio(s.median, plain), 3)} | ${range} | ${perRound} | ${fmt(ratio(s.median, kvx), 3)} |`);
    }
    lines.push('');
  }
  return lines.join('\n');
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

/** Two panels (ratio to plain, ratio to kernel-vxlan); one group per path, one bar per metric; 1.0 line. */
export function ratioSvg(paths: string[], table: TrafficTable, title: string): string {
  const shown = METRICS.filter((m) => ['tcp1Gbps', 'tcp4Gbps', 'latP50us', 'latP99us'].includes(m.key));
  const colors = ['#1f77b4', '#6baed6', '#d62728', '#ff9896'];
  const barW = 14;
  const groupW = shown.length * barW + 30;
  const left = 60;
  const panelH = 220;
  const top = 50;
  const width = left + paths.length * groupW + 20;
  const refs: [string, string][] = [['plain', 'ratio to plain'], ['kernel-vxlan', 'ratio to kernel-vxlan']];
  const maxRatio = Math.max(
    1.2,
    ...refs.flatMap(([ref]) => paths.flatMap((p) => shown.map((m) => ratio(table[p]?.[m.key]?.median ?? NaN, table[ref]?.[m.key]?.median ?? NaN)).filter(Number.isFinite))),
  );
  const yMax = Math.ceil(maxRatio * 5) / 5;
  const height = top + refs.length * (panelH + 70) + 20;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`,
  ];
  shown.forEach((m, i) => {
    const x = left + i * 150;
    out.push(`<rect x="${x}" y="30" width="10" height="10" fill="${colors[i]}"/><text x="${x + 14}" y="39">${esc(m.label)}${m.higherIsBetter ? ' (↑ better)' : ' (↓ better)'}</text>`);
  });
  refs.forEach(([ref, label], r) => {
    const y0 = top + r * (panelH + 70) + 20;
    const yOf = (v: number) => y0 + panelH - (Math.min(v, yMax) / yMax) * panelH;
    out.push(`<text x="${left}" y="${y0 - 6}" font-weight="bold">${esc(label)}</text>`);
    for (let t = 0; t <= yMax + 1e-9; t += 0.2) {
      const y = yOf(t);
      out.push(`<line x1="${left}" x2="${width - 10}" y1="${y}" y2="${y}" stroke="${Math.abs(t - 1) < 1e-9 ? '#000' : '#ddd'}" stroke-width="${Math.abs(t - 1) < 1e-9 ? 1.5 : 1}"/>`);
      out.push(`<text x="${left - 6}" y="${y + 4}" text-anchor="end">${t.toFixed(1)}</text>`);
    }
    paths.forEach((p, g) => {
      const gx = left + g * groupW + 9;
      shown.forEach((m, i) => {
        const v = ratio(table[p]?.[m.key]?.median ?? NaN, table[ref]?.[m.key]?.median ?? NaN);
        if (!Number.isFinite(v)) return;
        const y = yOf(v);
        out.push(`<rect x="${gx + i * barW}" y="${y}" width="${barW - 2}" height="${y0 + panelH - y}" fill="${colors[i]}"><title>${esc(`${p} ${m.label}: ${v.toFixed(3)}× ${ref}`)}</title></rect>`);
      });
      const lx = gx + 4;
      const ly = y0 + panelH + 12;
      out.push(`<text x="${lx}" y="${ly}" transform="rotate(20 ${lx} ${ly})" font-size="10">${esc(p)}</text>`);
    });
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
