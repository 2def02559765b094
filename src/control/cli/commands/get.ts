// SPDX-License-Identifier: Apache-2.0
import type { Command } from '../command.js';
import { stringOption } from '../command.js';
import { serializeResources } from '../../model/parse.js';
import { API_VERSION, type BGPConfiguration, type BGPPeer, type BlockAffinity, type IPPool, type Node, type Resource, type WorkloadEndpoint } from '../../model/types.js';
import { vtepMacOf } from '../../model/vtep.js';
import { compileForNode } from '../../node/inputs.js';
import { BirdPaths, readLearnedRoutes } from '../../bgp/index.js';
import { encapName, routeKindName } from '../../compile/index.js';
import { parseOutputFormat, renderStructured, renderTable, UsageError } from '../output.js';
import { parseKind, withStoreReadOnly } from '../resources.js';

function tableOf(kind: Resource['kind'], items: Resource[]): string {
  switch (kind) {
    case 'IPPool':
      return renderTable(
        ['NAME', 'CIDR', 'NAT', 'IPIPMODE', 'VXLANMODE', 'DISABLED', 'SELECTOR'],
        (items as IPPool[]).map((p) => [
          p.metadata.name,
          p.spec.cidr,
          p.spec.natOutgoing,
          p.spec.ipipMode,
          p.spec.vxlanMode,
          p.spec.disabled,
          p.spec.nodeSelector,
        ]),
      );
    case 'Node':
      return renderTable(
        ['NAME', 'ADDRESS', 'IPIP TUNNEL', 'VXLAN TUNNEL', 'VTEP MAC'],
        (items as Node[]).map((n) => [
          n.metadata.name,
          n.spec.bgp?.ipv4Address ?? '',
          n.spec.bgp?.ipv4IPIPTunnelAddr ?? '',
          n.spec.ipv4VXLANTunnelAddr ?? '',
          vtepMacOf(n),
        ]),
      );
    case 'BlockAffinity':
      return renderTable(
        ['NAME', 'NODE', 'CIDR', 'STATE'],
        (items as BlockAffinity[]).map((b) => [b.metadata.name, b.spec.node, b.spec.cidr, b.spec.state ?? 'confirmed']),
      );
    case 'WorkloadEndpoint':
      return renderTable(
        ['NAME', 'NODE', 'POD', 'ADDRESSES', 'HOST IF'],
        (items as WorkloadEndpoint[]).map((w) => [
          w.metadata.name,
          w.spec.node,
          w.spec.pod ? `${w.spec.namespace ?? 'default'}/${w.spec.pod}` : '',
          w.spec.ipNetworks.join(','),
          w.spec.hostInterface,
        ]),
      );
    case 'OverlayConfiguration':
      return renderTable(
        ['NAME', 'SPEC'],
        items.map((c) => [c.metadata.name, JSON.stringify(c.spec)]),
      );
    case 'BGPConfiguration': // the columns of `calicoctl get bgpconfig`
      return renderTable(
        ['NAME', 'LOGSEVERITY', 'MESHENABLED', 'ASNUMBER'],
        (items as BGPConfiguration[]).map((c) => [
          c.metadata.name,
          c.spec.logSeverityScreen ?? '',
          c.spec.nodeToNodeMeshEnabled ?? '',
          c.spec.asNumber ?? '',
        ]),
      );
    case 'BGPPeer': // the columns of `calicoctl get bgppeer`
      return renderTable(
        ['NAME', 'PEERIP', 'NODE', 'ASN'],
        (items as BGPPeer[]).map((p) => [
          p.metadata.name,
          p.spec.peerIP ?? `(${p.spec.peerSelector})`,
          p.spec.node ?? (p.spec.nodeSelector ? `(${p.spec.nodeSelector})` : '(global)'),
          p.spec.asNumber ?? '',
        ]),
      );
  }
}

/**
 * `get KIND` prints a `<Kind>List` whatever the number of items (none, one or many), as calicoctl does, so that
 * scripts can always read `.items[]`; `get KIND NAME` prints the object itself.
 */
function listDocument(kind: string, items: unknown[]): Record<string, unknown> {
  return { apiVersion: API_VERSION, kind: `${kind}List`, items };
}

export const getCommand: Command = {
  name: 'get',
  summary: 'show ippools, nodes, blockaffinities, workloadendpoints, or the compiled routes of a node',
  usage: 'get ippools|nodes|blockaffinities|workloadendpoints|overlayconfigurations|bgpconfigurations|bgppeers|routes [NAME] [-o table|yaml|json] [--node NAME]',
  options: { output: { type: 'string', short: 'o' }, node: { type: 'string' } },
  allowPositionals: true,
  async run(args, ctx) {
    const [what, name, ...extra] = args.positionals;
    if (!what || extra.length > 0) throw new UsageError(`usage: bpf-overlay ${this.usage}`);
    const format = parseOutputFormat(stringOption(args, 'output'));
    // An unknown type is a usage error whether or not the store exists: judge it before opening anything.
    const kind = what === 'routes' || what === 'route' ? undefined : parseKind(what);
    return withStoreReadOnly(ctx, async (ds) => {
      if (!kind) {
        const node = stringOption(args, 'node');
        if (!node) throw new UsageError('get routes needs --node NAME');
        const { state } = await compileForNode(ds, node, undefined, readLearnedRoutes(new BirdPaths(node)));
        const rows = state.routeDecisions.filter((d) => !name || d.cidr === name);
        if (format === 'table') {
          ctx.stdout(
            renderTable(
              ['CIDR', 'KIND', 'NODE', 'NEXT HOP', 'ENCAP', 'WHY'],
              rows.map((d) => [d.cidr, d.kind === null ? '-' : routeKindName(d.kind), d.node ?? '', d.nextHop, encapName(d.encap), d.reason]),
            ),
          );
        } else {
          const items = rows.map((d) => ({ ...d, kind: d.kind === null ? null : routeKindName(d.kind), encap: encapName(d.encap) }));
          // Several decisions may share a CIDR (one kept, others skipped with a reason): a CIDR filters the list.
          ctx.stdout(renderStructured(listDocument('Route', items), format));
        }
        return 0;
      }
      let items = (await ds.list(kind)) as Resource[];
      if (name) {
        items = items.filter((r) => r.metadata.name === name);
        if (items.length === 0) throw new Error(`${kind} "${name}" not found`);
      }
      items.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
      if (format === 'table') ctx.stdout(tableOf(kind, items));
      else if (name) ctx.stdout(serializeResources(items, format));
      else ctx.stdout(renderStructured(listDocument(kind, items), format));
      return 0;
    });
  },
};
