// SPDX-License-Identifier: Apache-2.0
// The agent asked for XDP decap (--xdp) on a veth uplink declines it with a warning and decapsulates in tc;
// with --force-xdp it attaches XDP anyway (what the e2e and bench clusters, all veth, do deliberately).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { startAgent, twoNodeLab, type AgentProcess } from '../harness/agent.js';
import type { Netns } from '../harness/netns.js';
import { kernelDescribe } from '../harness/privileges.js';

const xdpAttached = (ns: Netns): boolean => {
  const [link] = JSON.parse(ns.ip('-j', '-d', 'link', 'show', 'dev', 'eth0')) as { xdp?: unknown }[];
  return link.xdp !== undefined;
};

/** The agent logs asynchronously: its warning may land just after /readyz answers. */
async function logMatching(agent: AgentProcess, re: RegExp): Promise<string> {
  const deadline = Date.now() + 5_000;
  while (!re.test(agent.log()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return agent.log();
}

kernelDescribe('agent: XDP decap on a veth uplink', () => {
  const lab = twoNodeLab('boxd', '172.30.7');
  const { datastore, bpffs, names, namespaces, agents } = lab;

  const tcIngressPinned = () => existsSync(`${bpffs}/bpf-overlay/${names[0]}/links/uplink-ingress`);
  const xdpPinned = () => existsSync(`${bpffs}/bpf-overlay/${names[0]}/links/uplink-xdp`);

  beforeAll(() => lab.wire());
  afterAll(() => lab.tearDown());

  it('declines --xdp on a veth uplink with a warning naming --force-xdp, and decapsulates in tc', async () => {
    const agent = await startAgent({ ns: namespaces[0], node: names[0], datastore, bpffs, uplink: 'eth0', xdp: true });
    agents.push(agent);
    const declined = /XDP decap declined, tc decap instead: uplink 'eth0' is a veth.*--force-xdp/;
    expect(await logMatching(agent, declined)).toMatch(declined);
    expect(xdpAttached(namespaces[0])).toBe(false);
    expect(xdpPinned()).toBe(false);
    expect(tcIngressPinned()).toBe(true);
    await agent.stop();
  });

  it('attaches XDP on the same uplink when forced, with a warning', async () => {
    const agent = await startAgent({ ns: namespaces[0], node: names[0], datastore, bpffs, uplink: 'eth0', xdp: true, forceXdp: true });
    agents.push(agent);
    const forced = /XDP decap forced \(--force-xdp\) although uplink 'eth0' is a veth/;
    expect(await logMatching(agent, forced)).toMatch(forced);
    expect(xdpAttached(namespaces[0])).toBe(true);
    expect(xdpPinned()).toBe(true);
    expect(tcIngressPinned()).toBe(true);
    await agent.stop();
  });
});
