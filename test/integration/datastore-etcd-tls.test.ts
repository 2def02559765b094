// SPDX-License-Identifier: Apache-2.0
// The etcd backend over TLS with client certificates, against a real etcd started with --client-cert-auth and
// certificates this file makes with openssl: a CA, a server certificate for 127.0.0.1, a client certificate;
// and, to be refused, a client certificate from another CA and no client certificate at all.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatastoreError, openDatastore, type Datastore } from '../../src/control/datastore/index.js';
import { API_VERSION, type OverlayConfiguration } from '../../src/control/model/types.js';
import { datastoreContract, uniqueName } from '../harness/datastore-contract.js';
import { etcdDescribe, startEtcd, type EtcdServer } from '../harness/etcd.js';

interface Pki {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  rogueCa: string;
  rogueCert: string;
  rogueKey: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
}

/** A CA and a certificate it signed; extensions via a file, because openssl 3.0's x509 has no -addext. */
function makeCa(dir: string, name: string): void {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', `/CN=${name}`,
    '-keyout', `${name}.key`, '-out', `${name}.crt`], dir);
}

function makeLeaf(dir: string, ca: string, name: string, ext: string): void {
  fs.writeFileSync(path.join(dir, `${name}.ext`), ext);
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${name}`,
    '-keyout', `${name}.key`, '-out', `${name}.csr`], dir);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-days', '2',
    '-extfile', `${name}.ext`, '-out', `${name}.crt`], dir);
}

function makePki(): Pki {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bo-etcd-pki-'));
  makeCa(dir, 'ca');
  makeCa(dir, 'rogue-ca');
  makeLeaf(dir, 'ca', 'server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  makeLeaf(dir, 'ca', 'client', 'extendedKeyUsage=clientAuth\n');
  makeLeaf(dir, 'rogue-ca', 'rogue-client', 'extendedKeyUsage=clientAuth\n');
  const f = (n: string) => path.join(dir, n);
  return {
    dir,
    ca: f('ca.crt'),
    serverCert: f('server.crt'),
    serverKey: f('server.key'),
    clientCert: f('client.crt'),
    clientKey: f('client.key'),
    rogueCa: f('rogue-ca.crt'),
    rogueCert: f('rogue-client.crt'),
    rogueKey: f('rogue-client.key'),
  };
}

const config = (name: string, vxlanVNI: number): OverlayConfiguration => ({
  apiVersion: API_VERSION,
  kind: 'OverlayConfiguration',
  metadata: { name },
  spec: { vxlanVNI },
});

etcdDescribe('etcd datastore over TLS with client certificates', () => {
  let pki: Pki;
  let etcd: EtcdServer;
  const urlWith = (params: Record<string, string>) => `${etcd.url}?${new URLSearchParams(params).toString()}`;
  const goodUrl = () => urlWith({ ca: pki.ca, cert: pki.clientCert, key: pki.clientKey });

  beforeAll(async () => {
    pki = makePki();
    etcd = await startEtcd({
      tls: {
        certFile: pki.serverCert,
        keyFile: pki.serverKey,
        trustedCaFile: pki.ca,
        clientCertAuth: true,
        probeCertFile: pki.clientCert,
        probeKeyFile: pki.clientKey,
      },
    });
  }, 60_000);

  afterAll(async () => {
    await etcd?.stop();
    if (pki) fs.rmSync(pki.dir, { recursive: true, force: true });
  });

  describe('contract (CRUD, transactions, watch) over TLS', () => {
    datastoreContract('etcd+https', () => goodUrl());
  });

  it('creates, reads, updates, watches and deletes with the right client certificate', async () => {
    const ds = await openDatastore(goodUrl());
    const name = uniqueName('tls');
    const events: string[] = [];
    const watch = await ds.watch(['OverlayConfiguration'], (ev) => {
      if (ev.name === name) events.push(ev.type);
    });
    try {
      const created = await ds.create(config(name, 4100));
      expect((await ds.get('OverlayConfiguration', name))?.spec.vxlanVNI).toBe(4100);
      await ds.put({ ...created, spec: { vxlanVNI: 4101 } });
      expect((await ds.get('OverlayConfiguration', name))?.spec.vxlanVNI).toBe(4101);
      expect(await ds.delete('OverlayConfiguration', name)).toBe(true);
      const deadline = Date.now() + 5000;
      while (events.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(events).toEqual(['put', 'put', 'delete']);
    } finally {
      await watch.close();
      await ds.close();
    }
  });

  /** Opens and makes one request; returns the error it fails with (the test fails if it does not). */
  async function refusal(url: string, opts: Parameters<typeof openDatastore>[1] = {}): Promise<Error> {
    let ds: Datastore | undefined;
    try {
      ds = await openDatastore(url, { dialTimeoutMs: 2_000, ...opts });
      await ds.list('OverlayConfiguration');
    } catch (err) {
      return err as Error;
    } finally {
      await ds?.close();
    }
    throw new Error(`${url} was accepted`);
  }

  it('is refused without a client certificate, with an error that says so', async () => {
    const err = await refusal(urlWith({ ca: pki.ca }));
    console.log(`no client certificate -> ${err.message}`);
    expect(err).toBeInstanceOf(DatastoreError);
    expect(err.message).toMatch(/127\.0\.0\.1/);
    expect(err.message).toMatch(/etcd refused our client certificate/);
  }, 30_000);

  it('is refused with a client certificate from a CA etcd does not trust', async () => {
    const err = await refusal(urlWith({ ca: pki.ca, cert: pki.rogueCert, key: pki.rogueKey }));
    console.log(`untrusted client certificate -> ${err.message}`);
    expect(err).toBeInstanceOf(DatastoreError);
    expect(err.message).toMatch(/etcd refused our client certificate/);
  }, 30_000);

  it('refuses a server whose certificate does not chain to the given CA', async () => {
    const err = await refusal(urlWith({ ca: pki.rogueCa, cert: pki.clientCert, key: pki.clientKey }));
    console.log(`wrong CA for the server -> ${err.message}`);
    expect(err).toBeInstanceOf(DatastoreError);
    expect(err.message).toContain(`does not chain to the CA in ca=${pki.rogueCa}`);
  }, 30_000);

  it('names the missing file when a certificate path is wrong, before dialling', async () => {
    const missing = path.join(pki.dir, 'nope.crt');
    const err = await refusal(urlWith({ ca: pki.ca, cert: missing, key: pki.clientKey }));
    expect(err).toBeInstanceOf(DatastoreError);
    expect(err.message).toContain(`cert=${missing}`);
  });

  it('needs both halves of the client key pair', async () => {
    const err = await refusal(urlWith({ ca: pki.ca, cert: pki.clientCert }));
    expect(err).toBeInstanceOf(DatastoreError);
    expect(err.message).toMatch(/cert= and key= go together.*got only cert=/);
  });
});
