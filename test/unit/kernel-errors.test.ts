// SPDX-License-Identifier: Apache-2.0
// The TS half of the native addon's errors: raw {message, errno, log} become named BpfErrors or VerifierErrors.
import { describe, expect, it } from 'vitest';
import { errnoName, errnoText } from '../../src/control/bpf/errno.js';
import { BpfError, fromNative, isNotSupported, VerifierError } from '../../src/control/bpf/errors.js';
import { libbpfTail, parseVerifierRejection } from '../../src/control/bpf/verifier-log.js';

const rejectedLoad = [
  "libbpf: prog 'read_past_end': BPF program load failed: Permission denied",
  "libbpf: prog 'read_past_end': -- BEGIN PROG LOAD LOG --",
  '0: R1=ctx() R10=fp0',
  '0: (61) r2 = *(u32 *)(r1 +76)',
  'invalid access to packet, off=0 size=4, R2(id=0,off=0,r=0)',
  'R2 offset is outside of the packet',
  'processed 4 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0',
  '-- END PROG LOAD LOG --',
  "libbpf: prog 'read_past_end': failed to load: -13",
  'libbpf: failed to load object \'verifier_reject.o\'',
  '',
].join('\n');

function nativeError(message: string, errno?: number, log?: string): Error {
  return Object.assign(new Error(message), errno === undefined ? {} : { errno }, log === undefined ? {} : { log });
}

describe('kernel errors from raw native errors', () => {
  it('names and words errnos, including the kernel-internal ENOTSUPP', () => {
    expect(errnoName(2)).toBe('ENOENT');
    expect(errnoName(95)).toBe('EOPNOTSUPP');
    expect(errnoName(524)).toBe('ENOTSUPP');
    expect(errnoName(4000)).toBe('E4000');
    expect(errnoText(13)).toBe('Permission denied');
  });

  it('takes a verifier rejection apart: program, whole log, complaint without statistics', () => {
    const r = parseVerifierRejection(rejectedLoad);
    expect(r?.program).toBe('read_past_end');
    expect(r?.log.split('\n')[0]).toBe('0: R1=ctx() R10=fp0');
    expect(r?.log).toMatch(/processed 4 insns/);
    expect(r?.summary).toBe('invalid access to packet, off=0 size=4, R2(id=0,off=0,r=0) | R2 offset is outside of the packet');
    expect(parseVerifierRejection("libbpf: failed to open x.o: No such file or directory\n")).toBeUndefined();
    expect(libbpfTail('a\n\nb\nc\n', 2)).toBe('b | c');
  });

  it('turns a failed load with a verifier log into VerifierError, others into BpfError with code and text', () => {
    const v = fromNative(nativeError('load /x/verifier_reject.o', 13, rejectedLoad));
    expect(v).toBeInstanceOf(VerifierError);
    expect(v).toMatchObject({ errno: 13, code: 'EVERIFIER', program: 'read_past_end' });
    expect((v as Error).message).toMatch(/^verifier rejected program 'read_past_end' \(load \/x\/verifier_reject.o\): invalid access to packet/);

    const open = fromNative(nativeError('open BPF object /nope.o', 2, 'libbpf: elf: failed to open /nope.o: No such file or directory\n'));
    expect(open).toBeInstanceOf(BpfError);
    expect(open).toMatchObject({ errno: 2, code: 'ENOENT', message: 'open BPF object /nope.o [libbpf: libbpf: elf: failed to open /nope.o: No such file or directory]: No such file or directory (ENOENT)' });

    expect(fromNative(nativeError("interface 'x'", 19))).toMatchObject({ code: 'ENODEV', message: "interface 'x': No such device (ENODEV)" });
    expect(fromNative(nativeError('no errno'))).toMatchObject({ errno: 0, code: 'EBPF' });
    const arg = new TypeError('fd must be a number');
    expect(fromNative(arg)).toBe(arg);
  });

  it('classifies "the kernel lacks this" errnos as not supported, others not', () => {
    for (const errno of [22, 95, 524]) expect(isNotSupported(fromNative(nativeError('attach', errno)))).toBe(true);
    for (const errno of [1, 2, 16]) expect(isNotSupported(fromNative(nativeError('attach', errno)))).toBe(false);
    expect(isNotSupported(fromNative(nativeError('load', 13, rejectedLoad)))).toBe(false);
  });
});
