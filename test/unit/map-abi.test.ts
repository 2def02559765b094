// SPDX-License-Identifier: Apache-2.0
// The map ABI as the compiler lays it out, against its TS mirror (src/control/maps/layout.ts). Every struct,
// enum and valued #define of bpf/lib/maps.h is pulled into BTF by a generated anchor object (BTF carries only
// referenced types), compiled with the build's clang, and read back with `bpftool btf dump -j`: so whatever a
// developer adds to maps.h is checked without touching this test. max_entries come from the built entry objects'
// .maps BTF, the .rodata defaults from their ELF data.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATAPATH_OBJECTS } from '../../src/control/datapath/objects.js';
import { openObject } from '../../src/control/bpf/index.js';
import {
  C_MIRRORS,
  encodeKnownNodeKey,
  encodeKnownNodeValue,
  encodeNextHopKey,
  encodeNextHopValue,
  encodeRouteKey,
  encodeRouteValue,
  encodeSettingsValue,
  MAP_MAX_ENTRIES,
  MAP_NAMES,
  STRUCT_LAYOUTS,
} from '../../src/control/maps/layout.js';
import { DEFAULT_VXLAN_PORT, DEFAULT_VXLAN_VNI } from '../../src/control/model/parse.js';
import { repoRoot } from '../kernel/loader-fixtures.js';

interface BtfType {
  id: number;
  kind: string;
  name?: string;
  size?: number;
  type_id?: number;
  nr_elems?: number;
  members?: { name: string; type_id: number; bits_offset: number; bitfield_size?: number }[];
  values?: { name: string; val: number }[];
  vars?: { type_id: number }[];
}

const MAPS_H = join(repoRoot, 'bpf', 'lib', 'maps.h');
const tool = (candidates: string[]): string => {
  for (const c of candidates) {
    try {
      execFileSync('sh', ['-c', `command -v ${c}`], { stdio: 'pipe' });
      return c;
    } catch {
      // next
    }
  }
  throw new Error(`map ABI test needs one of ${candidates.join(', ')} (the BPF build's toolchain: scripts/setup.sh)`);
};

function btfOf(object: string): Map<number, BtfType> {
  const json = JSON.parse(execFileSync(tool(['bpftool']), ['btf', 'dump', 'file', object, 'format', 'raw', '-j'], { encoding: 'utf8', maxBuffer: 64 << 20 })) as { types: BtfType[] };
  return new Map(json.types.map((t) => [t.id, t]));
}

/** Follows typedefs and qualifiers to the type that has a size. */
function resolve(types: Map<number, BtfType>, id: number): BtfType {
  let t = types.get(id)!;
  while (['TYPEDEF', 'CONST', 'VOLATILE', 'RESTRICT', 'TYPE_TAG'].includes(t.kind)) t = types.get(t.type_id!)!;
  return t;
}

function sizeOf(types: Map<number, BtfType>, id: number): number {
  const t = resolve(types, id);
  if (t.kind === 'ARRAY') return t.nr_elems! * sizeOf(types, t.type_id!);
  if (t.kind === 'PTR') return 8;
  return t.size!;
}

/** What maps.h declares, by name: enums, named structs, macros with a value. */
function declarations(header: string) {
  const names = (re: RegExp) => [...header.matchAll(re)].map((m) => m[1]);
  return {
    enums: names(/^enum\s+(\w+)\s*\{/gm),
    structs: names(/^struct\s+(\w+)\s*\{/gm),
    macros: names(/^#define\s+([A-Z][A-Z0-9_]*)[ \t]+\S.*$/gm),
  };
}

const pascal = (snake: string): string =>
  snake
    .toLowerCase()
    .split('_')
    .filter(Boolean)
    .map((w) => w[0].toUpperCase() + w.slice(1))
    .join('');

describe('map ABI: bpf/lib/maps.h as compiled (BTF) against src/control/maps/layout.ts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bo-abi-'));
  const decl = declarations(readFileSync(MAPS_H, 'utf8'));
  let types: Map<number, BtfType>;
  const named = (kind: string, name: string) => [...types.values()].find((t) => t.kind === kind && t.name === name);

  beforeAll(() => {
    const vmlinux = join(repoRoot, 'build', 'include', 'vmlinux.h');
    if (!existsSync(vmlinux)) execFileSync('bash', [join(repoRoot, 'scripts', 'build-bpf.sh')], { cwd: repoRoot, stdio: 'pipe', timeout: 120_000 });
    const anchor = [
      '#include "vmlinux.h"',
      '#include "lib/maps.h"',
      ...decl.enums.map((e, i) => `enum ${e} abi_enum_${i};`),
      ...decl.structs.map((s, i) => `struct ${s} abi_struct_${i};`),
      `enum abi_macros { ${decl.macros.map((m) => `ABI_MACRO_${m} = (${m})`).join(', ')} };`,
      'enum abi_macros abi_macros_anchor;',
    ].join('\n');
    writeFileSync(join(dir, 'abi.c'), `${anchor}\n`);
    execFileSync(tool(['clang-19', 'clang']), ['-target', 'bpf', '-O2', '-g', '-c', join(dir, 'abi.c'), '-o', join(dir, 'abi.o'), `-I${join(repoRoot, 'bpf')}`, `-I${join(repoRoot, 'build', 'include')}`], { stdio: 'pipe' });
    types = btfOf(join(dir, 'abi.o'));
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('finds the declarations it checks', () => {
    expect(decl.structs).toEqual(expect.arrayContaining(['route_key', 'route_value', 'counter_value']));
    expect(decl.enums).toEqual(expect.arrayContaining(['route_kind', 'counter_reason']));
    expect(decl.macros).toEqual(expect.arrayContaining(['ROUTE_F_IN_POOL', 'COUNTER_SLOTS']));
  });

  it('every struct: size, and each field offset and size, as STRUCT_LAYOUTS says', () => {
    expect(Object.keys(STRUCT_LAYOUTS).sort(), 'STRUCT_LAYOUTS covers exactly the structs of maps.h').toEqual([...decl.structs].sort());
    for (const name of decl.structs) {
      const t = named('STRUCT', name)!;
      const fields = Object.fromEntries(
        t.members!.map((m) => {
          if (m.bitfield_size) throw new Error(`struct ${name}.${m.name} is a bitfield: the TS codecs cannot mirror it`);
          return [m.name, [m.bits_offset / 8, sizeOf(types, m.type_id)]];
        }),
      );
      expect({ size: t.size, fields }, `struct ${name}`).toEqual(STRUCT_LAYOUTS[name as keyof typeof STRUCT_LAYOUTS]);
    }
  });

  it('every enumerator and valued #define has its TS value, and every TS member its C name', () => {
    const cValues = new Map<string, { value: number; owner: string }>();
    for (const e of decl.enums) for (const v of named('ENUM', e)!.values!) cValues.set(v.name, { value: v.val, owner: `enum ${e}` });
    for (const v of named('ENUM', 'abi_macros')!.values!) cValues.set(v.name.slice('ABI_MACRO_'.length), { value: v.val, owner: 'macro' });

    const memberOf = (mirror: (typeof C_MIRRORS)[number], cName: string) => (mirror.prefix === '' ? cName : pascal(cName.slice(mirror.prefix.length)));
    for (const [cName, { value, owner }] of cValues) {
      const mirror = C_MIRRORS.find((m) => (owner === 'macro' ? !m.cName.startsWith('enum ') && cName.startsWith(m.prefix) && (m.prefix !== '' || cName in m.mirror) : m.cName === owner));
      expect(mirror, `${owner} ${cName} has no entry in C_MIRRORS of layout.ts`).toBeDefined();
      if (mirror!.cOnly?.includes(cName)) continue;
      if (cName === `${mirror!.prefix}_MAX`) {
        expect(mirror!.count, `${cName}: the count of ${mirror!.cName}`).toBe(value);
        continue;
      }
      expect(mirror!.mirror[memberOf(mirror!, cName)], `${cName} (${owner}) = ${value}: TS ${memberOf(mirror!, cName)}`).toBe(value);
    }
    for (const m of C_MIRRORS) {
      for (const [member, value] of Object.entries(m.mirror)) {
        if (typeof value !== 'number') continue; // the reverse mapping of a numeric TS enum
        const cName = [...cValues.keys()].find((c) => (m.cName.startsWith('enum ') ? cValues.get(c)!.owner === m.cName : cValues.get(c)!.owner === 'macro') && c.startsWith(m.prefix) && memberOf(m, c) === member);
        expect(cName, `TS ${m.cName} member ${member} has no C counterpart in maps.h`).toBeDefined();
      }
    }
  });

  it("each entry object's maps: max_entries as MAP_MAX_ENTRIES, keys and values of known layout", () => {
    const known = new Set<string>(Object.values(MAP_NAMES));
    for (const { file } of Object.values(DATAPATH_OBJECTS)) {
      const objTypes = btfOf(join(repoRoot, 'build', 'bpf', file));
      const maps = [...objTypes.values()].find((t) => t.kind === 'DATASEC' && t.name === '.maps')!;
      for (const v of maps.vars!) {
        const variable = objTypes.get(v.type_id)!;
        expect(known.has(variable.name!), `${file}: map ${variable.name} is not in MAP_NAMES`).toBe(true);
        const def = resolve(objTypes, variable.type_id!);
        const member = (n: string) => def.members!.find((m) => m.name === n);
        // __uint(max_entries, N) is declared as int (*max_entries)[N].
        const maxEntries = resolve(objTypes, resolve(objTypes, member('max_entries')!.type_id).type_id!).nr_elems;
        expect(maxEntries, `${file}: ${variable.name} max_entries`).toBe(MAP_MAX_ENTRIES[variable.name as keyof typeof MAP_MAX_ENTRIES]);
        for (const part of ['key', 'value']) {
          const t = resolve(objTypes, resolve(objTypes, member(part)!.type_id).type_id!);
          if (t.kind === 'STRUCT') expect(Object.keys(STRUCT_LAYOUTS), `${file}: ${variable.name} ${part}`).toContain(t.name);
          else expect(t.kind, `${file}: ${variable.name} ${part} is a plain integer`).toBe('INT');
        }
      }
    }
  });

  it('the codecs write each field at its STRUCT_LAYOUTS offset (distinct values per field)', () => {
    const le = (n: number, size: number) => {
      const b = Buffer.alloc(size);
      b.writeUIntLE(n, 0, size);
      return b;
    };
    const ip = (a: string) => Buffer.from(a.split('.').map(Number));
    const mac = (m: string) => Buffer.from(m.split(':').map((x) => parseInt(x, 16)));
    const cases: [keyof typeof STRUCT_LAYOUTS, Buffer, Record<string, Buffer>][] = [
      ['route_key', encodeRouteKey('10.1.2.0/23'), { prefixlen: le(23, 4), addr: ip('10.1.2.0') }],
      [
        'route_value',
        encodeRouteValue({ kind: 3, encap: 2, flags: 0x0102, ifindex: 0x03040506, nextHop: '7.8.9.10', dstMac: '11:12:13:14:15:16', srcMac: '21:22:23:24:25:26' }),
        { kind: le(3, 1), encap: le(2, 1), flags: le(0x0102, 2), ifindex: le(0x03040506, 4), next_hop: ip('7.8.9.10'), dst_mac: mac('11:12:13:14:15:16'), src_mac: mac('21:22:23:24:25:26') },
      ],
      ['known_node_key', encodeKnownNodeKey('1.2.3.4'), { addr: ip('1.2.3.4') }],
      ['known_node_value', encodeKnownNodeValue({ vtepMac: '31:32:33:34:35:36', flags: 0x0203, tunnelAddr: '5.6.7.8' }), { vtep_mac: mac('31:32:33:34:35:36'), flags: le(0x0203, 2), tunnel_addr: ip('5.6.7.8') }],
      ['next_hop_key', encodeNextHopKey('2.3.4.5'), { addr: ip('2.3.4.5') }],
      [
        'next_hop_value',
        encodeNextHopValue({ dstMac: '41:42:43:44:45:46', srcMac: '51:52:53:54:55:56', ifindex: 0x06070809, flags: 0x0a0b0c0d }),
        { dst_mac: mac('41:42:43:44:45:46'), src_mac: mac('51:52:53:54:55:56'), ifindex: le(0x06070809, 4), flags: le(0x0a0b0c0d, 4) },
      ],
      ['settings_value', encodeSettingsValue({ tunnelAddr: '9.9.9.1', uplinkMtu: 0x2328, cacheGen: 0x0a0b0c0d }), { tunnel_addr: ip('9.9.9.1'), uplink_mtu: le(0x2328, 4), flags: le(0, 4), cache_gen: le(0x0a0b0c0d, 4) }],
    ];
    for (const [struct, encoded, expected] of cases) {
      const layout = STRUCT_LAYOUTS[struct];
      expect(encoded.length, struct).toBe(layout.size);
      for (const [field, [offset, size]] of Object.entries(layout.fields)) {
        expect(encoded.subarray(offset, offset + size), `${struct}.${field}`).toEqual(expected[field]);
      }
    }
  });

  it('the objects\' .rodata defaults are the TS defaults (one source: model/parse.ts)', () => {
    const object = join(repoRoot, 'build', 'bpf', DATAPATH_OBJECTS.fromWorkload.file);
    const spec = openObject(object);
    const variables = spec.variables;
    spec.close();
    const rodata = join(dir, 'rodata.bin');
    execFileSync(tool(['llvm-objcopy-19', 'llvm-objcopy', 'objcopy']), ['-O', 'binary', '--only-section=.rodata', object, rodata], { stdio: 'pipe' });
    const bytes = readFileSync(rodata);
    const at = (name: string) => {
      const v = variables.find((x) => x.name === name && x.section === '.rodata');
      if (!v) throw new Error(`${object} has no .rodata variable ${name}`);
      return v.size === 2 ? bytes.readUInt16LE(v.offset) : bytes.readUInt32LE(v.offset);
    };
    expect(at('vxlan_port')).toBe(DEFAULT_VXLAN_PORT);
    expect(at('vxlan_vni')).toBe(DEFAULT_VXLAN_VNI);
  });
});
