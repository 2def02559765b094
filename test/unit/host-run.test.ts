// SPDX-License-Identifier: Apache-2.0
// The asynchronous tool runner: input goes to the tool's stdin, its stdout comes back, and a failure carries
// the tool's own message and exit status, as with the synchronous one.
import { describe, expect, it } from 'vitest';
import { CommandError, runToolAsync } from '../../src/control/host/run.js';

describe('runToolAsync', () => {
  it("feeds the input to the tool's stdin and resolves with its stdout", async () => {
    await expect(runToolAsync('cat', [], 'route replace 10.0.0.0/26\nroute del 10.0.1.0/26\n')).resolves.toBe(
      'route replace 10.0.0.0/26\nroute del 10.0.1.0/26\n',
    );
  });

  it("rejects with the tool's stderr and exit status, even when it exits without reading its input", async () => {
    const err = await runToolAsync('sh', ['-c', 'echo "Error: Nexthop has invalid gateway." >&2; exit 3'], 'x\n'.repeat(200_000)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandError);
    expect((err as CommandError).stderr).toBe('Error: Nexthop has invalid gateway.');
    expect((err as CommandError).status).toBe(3);
    expect((err as CommandError).message).toMatch(/^sh -c .*: Error: Nexthop has invalid gateway\.$/);
  });

  it('rejects naming the command when the tool does not exist', async () => {
    const err = await runToolAsync('bo-no-such-tool', ['-batch', '-']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandError);
    expect((err as CommandError).message).toMatch(/^bo-no-such-tool -batch -: .*ENOENT/);
  });
});
