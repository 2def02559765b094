// SPDX-License-Identifier: Apache-2.0
// What libbpf printed during a failed object load, taken apart: whether the verifier rejected a program, which
// one, its whole log, and the verifier's own complaint for a one-line message.
const BEGIN = '-- BEGIN PROG LOAD LOG --\n';
const END = '-- END PROG LOAD LOG --';

export interface VerifierRejection {
  program: string;
  /** The verifier's complete log for the program. */
  log: string;
  /** The last lines of the log that are not statistics: the verifier's complaint. */
  summary: string;
}

function lastLines(lines: string[], n: number): string {
  return lines.slice(-n).join(' | ');
}

/** The verifier rejection in libbpf's output, or undefined when the load failed for another reason. */
export function parseVerifierRejection(libbpfOutput: string): VerifierRejection | undefined {
  const begin = libbpfOutput.indexOf(BEGIN);
  if (begin < 0) return undefined;
  // libbpf prefixes the log with "libbpf: prog 'NAME': ".
  const lineStart = libbpfOutput.lastIndexOf('\n', begin) + 1;
  const program = /'([^']*)'/.exec(libbpfOutput.slice(lineStart, begin))?.[1] ?? '';
  const logStart = begin + BEGIN.length;
  const end = libbpfOutput.indexOf(END, logStart);
  const log = libbpfOutput.slice(logStart, end < 0 ? undefined : end);
  const complaint = log
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('processed ') && !l.startsWith('verification time') && !l.startsWith('stack depth'));
  return { program, log, summary: lastLines(complaint, 2) };
}

/** The last non-empty lines libbpf printed, for a message about a failure that is not a verifier rejection. */
export function libbpfTail(libbpfOutput: string, n: number): string {
  return lastLines(
    libbpfOutput.split('\n').filter((l) => l.trim() !== ''),
    n,
  );
}
