// SPDX-License-Identifier: Apache-2.0
// ADD's check for an existing host veth reads /proc/self/net/dev instead of running `ip`.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { linkExists } from '../../src/control/cni/netlink.js';

describe('linkExists', () => {
  it('agrees with ip on every interface of this namespace, and knows no prefix or unknown name', () => {
    const names = (JSON.parse(execFileSync('ip', ['-j', 'link', 'show']).toString()) as { ifname: string }[]).map((l) => l.ifname);
    expect(names).toContain('lo');
    for (const n of names) expect(linkExists(n), n).toBe(true);
    expect(linkExists('l')).toBe(false);
    expect(linkExists('bo-no-such-if0')).toBe(false);
  });
});
