// SPDX-License-Identifier: Apache-2.0
import { existsSync, readdirSync } from 'node:fs';
import { compileForNode } from '../../node/inputs.js';
import { BirdPaths, bgpStatusOf, planBgp, readBgpInputs, readLearnedRoutes, readProtocols, renderBgpStatusTable } from '../../bgp/index.js';
import { DEFAULT_BPFFS, PinLayout, UPLINK_LINKS } from '../../node/pins.js';
import { encapName } from '../../compile/index.js';
import { openPinnedMap } from '../../bpf/index.js';
import { MAP_NAMES } from '../../maps/layout.js';
import { publishedQuarantine } from '../../model/node-record.js';
import { knownNodeEntries, routeEntries, sourceAllowMapEntries } from '../../reconcile/encode.js';
import { planMapSync } from '../../reconcile/map-sync.js';
import type { MapEntry } from '../../bpf/types.js';
import type { Command } from '../command.js';
import { stringOption } from '../command.js';
import { parseOutputFormat, renderStructured, renderTable, UsageError } from '../output.js';
import { withStoreReadOnly } from '../resources.js';

function pendingChanges(mapPath: string, desired: MapEntry[]): number | null {
  if (!existsSync(mapPath)) return null;
  const map = openPinnedMap(mapPath);
  try {
    const current = map.entries();
    const plan = planMapSync(current, desired);
    // Entries beyond the map's capacity are left out by the agent (and listed under warnings), not pending.
    const additions = plan.writes.filter((w) => w.isNew).length;
    const room = Math.max(0, map.maxEntries - (current.length - plan.deletes.length));
    return plan.writes.length - additions + Math.min(additions, room) + plan.deletes.length;
  } finally {
    map.close();
  }
}

export const statusCommand: Command = {
  name: 'status',
  summary: "show a node's registration, attachments and whether its maps match the datastore",
  usage: 'status --node NAME [--bpffs DIR] [-o table|json|yaml]',
  options: { node: { type: 'string' }, bpffs: { type: 'string' }, output: { type: 'string', short: 'o' } },
  async run(args, ctx) {
    const node = stringOption(args, 'node');
    if (!node) throw new UsageError('--node NAME is required');
    const format = parseOutputFormat(stringOption(args, 'output'));
    const pins = new PinLayout(stringOption(args, 'bpffs') ?? DEFAULT_BPFFS, node);
    const birdPaths = new BirdPaths(node);
    const { self, state, quarantined, bgpPlan } = await withStoreReadOnly(ctx, async (ds) => ({
      ...(await compileForNode(ds, node, undefined, readLearnedRoutes(birdPaths))),
      bgpPlan: planBgp(await readBgpInputs(ds, node)),
    }));
    const protocols = bgpPlan.enabled ? readProtocols(birdPaths) : null;
    const bgp = bgpStatusOf(bgpPlan, protocols);
    // Records the agent skips so that they harm nothing: what it published (it alone sees missing veths and full
    // maps) and what the datastore shows now.
    const skipped = new Set([...publishedQuarantine(self), ...quarantined.map((q) => `${q.kind} ${q.name}: ${q.reason}`)]);
    const links = existsSync(pins.linksDir) ? readdirSync(pins.linksDir) : [];
    const routesPending = pendingChanges(pins.map(MAP_NAMES.routes), routeEntries(state.routes));
    const nodesPending = pendingChanges(pins.map(MAP_NAMES.knownNodes), knownNodeEntries(state.knownNodes));
    const allowPending = pendingChanges(pins.map(MAP_NAMES.sourceAllow), sourceAllowMapEntries(state.sourceAllow)) ?? state.sourceAllow.length;
    const loaded = routesPending !== null;
    const report = {
      node,
      address: self.spec.bgp?.ipv4Address ?? null,
      tunnelAddress: state.settings.tunnelAddr === '0.0.0.0' ? null : state.settings.tunnelAddr,
      encapsulations: state.localEncaps.map(encapName),
      workloadMtu: state.workloadMtu,
      dataPathLoaded: loaded,
      uplinkAttachments: UPLINK_LINKS.filter((l) => links.includes(l)),
      workloadAttachments: links.filter((l) => l.startsWith('wl-')).length,
      routes: state.routes.length,
      knownNodes: state.knownNodes.length,
      inSync: loaded && routesPending === 0 && nodesPending === 0 && allowPending === 0,
      pendingMapChanges: loaded ? (routesPending ?? 0) + (nodesPending ?? 0) + allowPending : null,
      warnings: [...[...skipped].map((q) => `quarantined: ${q}`), ...state.warnings],
      bgp,
    };
    if (format !== 'table') {
      ctx.stdout(renderStructured(report, format));
    } else {
      ctx.stdout(
        renderTable(
          ['FIELD', 'VALUE'],
          Object.entries(report)
            .filter(([k]) => k !== 'bgp')
            .map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : String(v)]),
        ),
      );
      ctx.stdout(`\n${renderBgpStatusTable(bgp, protocols, bgpPlan)}`);
    }
    return report.inSync ? 0 : 1;
  },
};
