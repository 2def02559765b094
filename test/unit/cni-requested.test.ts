// SPDX-License-Identifier: Apache-2.0
// The address a runtime asks for, as podman and the CNI `ips` capability pass it: parsed before anything is
// created, and every mistake named with its source.
import { describe, expect, it } from 'vitest';
import { parseNetConf } from '../../src/control/cni/config.js';
import { parseCniArgs } from '../../src/control/cni/env.js';
import { CniCode } from '../../src/control/cni/errors.js';
import { ipsFromCniArgs, requestedAddress } from '../../src/control/cni/requested.js';
import { cniFailure } from '../harness/cni-errors.js';

const base = { cniVersion: '1.0.0', name: 'net', type: 'bpf-overlay', datastore: 'sqlite:///tmp/x.db', nodeName: 'node-1' };

const fromArgs = (cniArgs: string) => ipsFromCniArgs(parseCniArgs(cniArgs));
const fromConfig = (runtimeConfig: unknown) => parseNetConf({ ...base, runtimeConfig }).runtimeIps;

describe('requested addresses', () => {
  it('reads IP= from CNI_ARGS the way podman --ip sends it', () => {
    expect(fromArgs('IgnoreUnknown=1;IP=192.168.0.200;K8S_POD_NAME=web')).toEqual(['192.168.0.200']);
    expect(requestedAddress(fromArgs('IP=192.168.0.200'))).toBe('192.168.0.200');
    expect(fromArgs('K8S_POD_NAME=web')).toEqual([]);
    expect(fromArgs('IP=')).toEqual([]);
    expect(requestedAddress([], [])).toBeUndefined();
  });

  it('reads the ips capability from runtimeConfig, with or without a prefix', () => {
    expect(fromConfig({ ips: ['10.244.1.5/24'] })).toEqual(['10.244.1.5/24']);
    expect(requestedAddress([], fromConfig({ ips: ['10.244.1.5/24'] }))).toBe('10.244.1.5');
    expect(requestedAddress([], fromConfig({ ips: ['10.244.1.5'] }))).toBe('10.244.1.5');
    expect(fromConfig({ portMappings: [] })).toBeUndefined();
    expect(fromConfig(undefined)).toBeUndefined();
  });

  it('accepts both sources when they agree (podman sends both)', () => {
    expect(requestedAddress(['10.244.1.5'], ['10.244.1.5/32'])).toBe('10.244.1.5');
  });

  it.each([
    [['10.244.1.5'], ['10.244.1.6/32'], CniCode.InvalidConfig, 'CNI_ARGS IP=10.244.1.5 and runtimeConfig.ips 10.244.1.6 ask for different addresses'],
    [['10.244.1.500'], [], CniCode.InvalidEnvironment, 'CNI_ARGS IP: "10.244.1.500" is not an IP address'],
    [['fd00::5'], [], CniCode.InvalidEnvironment, 'CNI_ARGS IP: "fd00::5" is IPv6; bpf-overlay serves IPv4 pools only'],
    [['10.244.1.5', '10.244.1.6'], [], CniCode.InvalidEnvironment, 'CNI_ARGS IP: asks for 10.244.1.5, 10.244.1.6; one IPv4 address per interface'],
    [[], ['10.244.1.5/33'], CniCode.InvalidConfig, 'runtimeConfig.ips: "10.244.1.5/33" is not an IP address'],
    [[], ['010.244.1.5'], CniCode.InvalidConfig, 'runtimeConfig.ips: "010.244.1.5" is not an IP address'],
  ])('refuses %j / %j with code %i naming the source', (args, ips, code, msg) => {
    expect(cniFailure(() => requestedAddress(args, ips))).toEqual({ code, msg: expect.stringContaining(msg) });
  });

  it('refuses a runtimeConfig.ips that is not a list of strings with code 7', () => {
    expect(cniFailure(() => fromConfig({ ips: '10.244.1.5' }))).toEqual({ code: 7, msg: expect.stringContaining('"runtimeConfig.ips"') });
    expect(cniFailure(() => fromConfig({ ips: [5] })).code).toBe(7);
    expect(cniFailure(() => fromConfig('x'))).toEqual({ code: 7, msg: expect.stringContaining('"runtimeConfig" must be an object') });
  });
});
