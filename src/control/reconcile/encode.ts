// SPDX-License-Identifier: Apache-2.0
// The desired state of each map in the kernel's byte layout (layout.ts codecs), ready for syncMap.
import type { MapEntry } from '../bpf/types.js';
import {
  encodeKnownNodeKey,
  encodeKnownNodeValue,
  encodeRouteKey,
  encodeRouteValue,
  encodeSettingsValue,
  encodeSourceAllowKey,
  encodeSourceAllowValue,
  encodeU32Key,
  type KnownNodeEntry,
  type RouteEntry,
  type SettingsEntry,
  type SourceAllowEntry,
} from '../maps/layout.js';

export function routeEntries(routes: readonly RouteEntry[]): MapEntry[] {
  return routes.map(({ cidr, ...value }) => ({ key: encodeRouteKey(cidr), value: encodeRouteValue(value) }));
}

export function knownNodeEntries(nodes: readonly KnownNodeEntry[]): MapEntry[] {
  return nodes.map(({ addr, ...value }) => ({ key: encodeKnownNodeKey(addr), value: encodeKnownNodeValue(value) }));
}

export function sourceAllowMapEntries(entries: readonly SourceAllowEntry[]): MapEntry[] {
  return entries.map((e) => ({ key: encodeSourceAllowKey(e), value: encodeSourceAllowValue() }));
}

export function settingsEntries(settings: SettingsEntry): MapEntry[] {
  return [{ key: encodeU32Key(0), value: encodeSettingsValue(settings) }];
}
