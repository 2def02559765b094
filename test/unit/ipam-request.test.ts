// SPDX-License-Identifier: Apache-2.0
// Requested addresses (podman --ip, CNI_ARGS IP=, runtimeConfig.ips): exactly that address from the pool that
// contains it, in the node's own block; every refusal names the address and why, and changes nothing.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatastore, type Datastore } from '../../src/control/datastore/index.js';
import {
  addressesOfHandle,
  assignAddress,
  assignRequestedAddress,
  releaseByHandle,
  RequestedAddressError,
} from '../../src/control/ipam/index.js';
import { testPool } from '../harness/datastore-contract.js';
import { createNodes, labelEqualsSelector as selects } from '../harness/ipam-fixtures.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bo-ipamreq-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

let ds: Datastore;
let seq = 0;
beforeEach(async () => {
  ds = await openDatastore(`sqlite://${dir}/req-${++seq}.db`);
  await ds.applyAll([testPool('pool-a', '10.244.0.0/16'), testPool('pool-b', '10.245.0.0/16', { blockSize: 28 })]);
  await createNodes(ds, ['n1', 'n2']);
});
afterEach(async () => ds.close());

async function refusal(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RequestedAddressError);
  return (err as Error).message;
}

async function snapshot() {
  return { blocks: await ds.list('IPAMBlock'), affinities: await ds.list('BlockAffinity') };
}

describe('requested addresses', () => {
  it('claims the block that holds the address for the node and allocates exactly it', async () => {
    const a = await assignRequestedAddress(ds, { node: 'n1', handle: 'h1', address: '10.245.3.77', attributes: { pod: 'web' } });
    expect(a).toEqual({ address: '10.245.3.77', block: '10.245.3.64/28', pool: 'pool-b' });
    expect((await ds.list('BlockAffinity')).map((b) => [b.spec.node, b.spec.cidr])).toEqual([['n1', '10.245.3.64/28']]);
    expect(await addressesOfHandle(ds, 'h1')).toEqual([a]);
    // The automatic allocator fills the same block around it, never handing the address out again.
    for (let i = 0; i < 15; i++) {
      const next = await assignAddress(ds, { node: 'n1', handle: `auto${i}`, pool: 'pool-b' }, selects);
      expect(next.address).not.toBe('10.245.3.77');
    }
    // A retried ADD of the same attachment gets the same answer; release frees it like any other address.
    expect(await assignRequestedAddress(ds, { node: 'n1', handle: 'h1', address: '10.245.3.77' })).toEqual(a);
    expect(await releaseByHandle(ds, 'h1')).toEqual([a]);
    expect((await assignRequestedAddress(ds, { node: 'n1', handle: 'h2', address: '10.245.3.77' })).address).toBe('10.245.3.77');
  });

  it('uses the node block that already holds the address', async () => {
    const auto = await assignAddress(ds, { node: 'n1', handle: 'first' }, selects);
    expect(auto.block).toBe('10.244.0.0/26');
    const a = await assignRequestedAddress(ds, { node: 'n1', handle: 'h1', address: '10.244.0.40' });
    expect(a).toEqual({ address: '10.244.0.40', block: '10.244.0.0/26', pool: 'pool-a' });
    expect(await ds.list('IPAMBlock')).toHaveLength(1);
  });

  it('refuses an address outside every pool, naming it and the pools', async () => {
    const before = await snapshot();
    const msg = await refusal(assignRequestedAddress(ds, { node: 'n1', handle: 'h1', address: '192.168.7.7' }));
    expect(msg).toBe('requested address 192.168.7.7 is outside every IPPool (pool-a 10.244.0.0/16, pool-b 10.245.0.0/16)');
    expect(await snapshot()).toEqual(before);
  });

  it('refuses an address already held, naming the holder', async () => {
    await assignRequestedAddress(ds, { node: 'n1', handle: 'owner', address: '10.244.1.9', attributes: { pod: 'db', namespace: 'prod' } });
    const before = await snapshot();
    const msg = await refusal(assignRequestedAddress(ds, { node: 'n1', handle: 'h2', address: '10.244.1.9' }));
    expect(msg).toBe('requested address 10.244.1.9 is already held by owner (pod prod/db)');
    expect(await snapshot()).toEqual(before);
  });

  it("refuses an address in another node's block: the overlay routes that block to the other node", async () => {
    await assignRequestedAddress(ds, { node: 'n2', handle: 'other', address: '10.244.2.1' });
    const msg = await refusal(assignRequestedAddress(ds, { node: 'n1', handle: 'h1', address: '10.244.2.2' }));
    expect(msg).toContain('is in block 10.244.2.0/26 of node "n2"');
  });

  it('refuses a block that would overlap a differently sized claim', async () => {
    // A /28 affinity of n2 inside the /26 that the request would need.
    await ds.create({ apiVersion: 'projectcalico.org/v3', kind: 'BlockAffinity', metadata: { name: 'n2-x' }, spec: { node: 'n2', cidr: '10.244.9.16/28' } });
    const msg = await refusal(assignRequestedAddress(ds, { node: 'n1', handle: 'h1', address: '10.244.9.1' }));
    expect(msg).toBe('requested address 10.244.9.1 needs block 10.244.9.0/26, which overlaps 10.244.9.16/28 claimed by node "n2"');
  });

  it("honours the pool's namespaceSelector (the workload asks, the operator restricts) unless the network names the pool", async () => {
    await ds.put(testPool('pool-b', '10.245.0.0/16', { blockSize: 28, namespaceSelector: "kubernetes.io/metadata.name == 'team-a'" }));
    expect(await refusal(assignRequestedAddress(ds, { node: 'n1', handle: 'h', address: '10.245.0.5', namespace: 'team-b' }))).toBe(
      'requested address 10.245.0.5 is in IPPool "pool-b", whose namespaceSelector does not admit namespace "team-b"',
    );
    expect((await assignRequestedAddress(ds, { node: 'n1', handle: 'h', address: '10.245.0.5', namespace: 'team-a' })).address).toBe('10.245.0.5');
    expect((await assignRequestedAddress(ds, { node: 'n1', handle: 'h2', address: '10.245.0.6', namespace: 'team-b', pool: 'pool-b' })).address).toBe('10.245.0.6');
  });

  it('serves a Manual pool: a requested address names its pool', async () => {
    await ds.put(testPool('pool-b', '10.245.0.0/16', { blockSize: 28, assignmentMode: 'Manual' }));
    expect((await assignRequestedAddress(ds, { node: 'n1', handle: 'h', address: '10.245.0.5' })).pool).toBe('pool-b');
  });

  it('refuses a disabled pool, a pool other than the network ipPool, and reserved addresses', async () => {
    await ds.put(testPool('pool-b', '10.245.0.0/16', { blockSize: 28, disabled: true }));
    expect(await refusal(assignRequestedAddress(ds, { node: 'n1', handle: 'h', address: '10.245.0.5' }))).toContain('it is disabled');
    expect(await refusal(assignRequestedAddress(ds, { node: 'n1', handle: 'h', address: '10.244.0.5', pool: 'pool-b' }))).toBe(
      'requested address 10.244.0.5 is in IPPool "pool-a" (10.244.0.0/16), not in the network\'s ipPool "pool-b"',
    );
    expect(await refusal(assignRequestedAddress(ds, { node: 'n1', handle: 'h', address: '10.244.255.255' }))).toContain('broadcast');
    expect(await ds.list('IPAMBlock')).toEqual([]);
  });
});
