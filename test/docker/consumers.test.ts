// The adapters from feed deltas to the NDP proxy and the NAT66 configuration.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { containerFromSummary, type ContainerInfo } from '../../src/docker/containers.js';
import { applyNdpDeltas, touchesNat } from '../../src/docker/consumers.js';
import type { ApiNetwork } from '../../src/docker/api-types.js';
import { C1, NA, NG, model, networks, summary } from './fixtures.js';

test('consumers: NDP follows ndp address deltas; NAT-relevant batches are recognised', () => {
  const { m } = model();
  const nets: ApiNetwork[] = [...networks, { Id: 'e'.repeat(64), Name: 'npt', Driver: 'bridge', IPAM: { Config: [{ Subnet: 'fd00:e::/64' }] },
    Labels: { 'sixgate.nptv6': '2001:db8:7::/64' }, Options: { 'com.docker.network.host_ipv6': '2001:db8:5::99' } }];
  const c: ContainerInfo = containerFromSummary(summary(C1, { alpha: [NA, 'fd00:a::2'], glob: [NG, '2001:db8:5:0:1::2'] },
    [{ IP: '::', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' }, { IP: '2001:db8:5::7', PrivatePort: 53, PublicPort: 53, Type: 'udp' }]))!;
  const deltas = m.replaceAll(nets, [c]);
  const calls: string[] = [];
  assert.equal(applyNdpDeltas(deltas, { add: (u, a) => calls.push(`+${u} ${a}`), remove: (u, a) => calls.push(`-${u} ${a}`) }), 1);
  assert.deepEqual(calls, ['+eth0 2001:db8:5:0:1::2']);
  assert.ok(touchesNat(deltas));
  assert.ok(!touchesNat(deltas.filter((d) => d.kind === 'address-added')));
});
