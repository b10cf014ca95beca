// Containers from list and inspect answers: allocated ports, requested fallbacks, agreement.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { containerFromInspect, containerFromSummary } from '../../src/docker/containers.js';
import type { ApiContainerInspect } from '../../src/docker/api-types.js';
import { C1, NA, model, networks, summary } from './fixtures.js';

test('inspect: allocated ports (ephemeral, ranges, -P) win; requested fixed bindings fill in; list and inspect agree', () => {
  const inspect: ApiContainerInspect = {
    Id: C1, Name: '/c1', State: { Running: true },
    HostConfig: { PortBindings: {
      '80/tcp': [{ HostIp: '', HostPort: '' }],
      '7000/udp': [{ HostIp: '', HostPort: '9000-9002' }],
      '443/tcp': [{ HostIp: '', HostPort: '8443' }],
    } },
    NetworkSettings: {
      Ports: {
        '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '49153' }, { HostIp: '::', HostPort: '49153' }],
        '7000/udp': [{ HostIp: '0.0.0.0', HostPort: '9000' }, { HostIp: '::', HostPort: '9000' }],
        '5000/tcp': null,
      },
      Networks: { alpha: { NetworkID: NA, GlobalIPv6Address: 'fd00:a::2', GlobalIPv6PrefixLen: 64 } },
    },
  };
  const info = containerFromInspect(inspect)!;
  assert.deepEqual(info.bindings.map((b) => `${b.protocol} ${b.hostIp} ${b.hostPort}->${b.containerPort}`), [
    'tcp 0.0.0.0 49153->80', 'tcp :: 49153->80', 'udp 0.0.0.0 9000->7000', 'udp :: 9000->7000', 'tcp  8443->443',
  ]);
  const list = containerFromSummary(summary(C1, { alpha: [NA, 'fd00:a::2'] }, [
    { IP: '0.0.0.0', PrivatePort: 80, PublicPort: 49153, Type: 'tcp' }, { IP: '::', PrivatePort: 80, PublicPort: 49153, Type: 'tcp' },
    { IP: '0.0.0.0', PrivatePort: 7000, PublicPort: 9000, Type: 'udp' }, { IP: '::', PrivatePort: 7000, PublicPort: 9000, Type: 'udp' },
    { IP: '', PrivatePort: 443, PublicPort: 8443, Type: 'tcp' },
  ]))!;
  const a = model().m;
  const b = model().m;
  a.replaceAll(networks, [list]);
  b.replaceAll(networks, []);
  b.upsertContainer(info);
  assert.deepEqual(a.ports(), b.ports());
  assert.deepEqual(a.addresses(), b.addresses());
  assert.equal(containerFromInspect({ ...inspect, State: { Running: false } })!.running, false);
});
