// Fleet mode's Docker network against a real dockerd (in a namespace):
// created on the lease when missing, accepted when its subnet lies inside
// the lease, and a network elsewhere is reported with the commands that
// fix it (never removed).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Lab } from '../support/netns.js';
import { requires } from '../support/prereq.js';
import { DockerHost } from '../support/docker.js';
import { EngineClient } from '../../src/docker/index.js';
import { ensureFleetNetwork, fleetNetworkMismatch } from '../../src/service/fleet-network.js';

test('the check: IPv6 on, every IPv6 subnet inside the lease', () => {
  const lease = '2001:db8:100:7::/64';
  const net = (enable: boolean, ...subnets: string[]) => ({ EnableIPv6: enable, IPAM: { Config: subnets.map((Subnet) => ({ Subnet })) } });
  assert.equal(fleetNetworkMismatch(net(true, '172.18.0.0/16', '2001:db8:100:7::/64'), lease), undefined);
  assert.equal(fleetNetworkMismatch(net(true, '2001:db8:100:7:1::/80'), lease), undefined, 'a longer subnet inside the lease fits');
  assert.match(fleetNetworkMismatch(net(false, '2001:db8:100:7::/64'), lease)!, /IPv6 is not enabled/);
  assert.match(fleetNetworkMismatch(net(true, '172.18.0.0/16'), lease)!, /no IPv6 subnet/);
  assert.match(fleetNetworkMismatch(net(true, '2001:db8:100:8::/64'), lease)!, /2001:db8:100:8::\/64 is not inside this host's lease/);
  assert.match(fleetNetworkMismatch(net(true, '2001:db8:100::/48'), lease)!, /not inside/, 'a subnet wider than the lease does not fit');
});

describe('the fleet network through a real Docker engine', { ...requires({ root: true, tools: ['dockerd', 'docker', 'containerd', 'runc', 'nsenter', 'busybox', 'tar'] }), timeout: 90_000 }, () => {
  const lab = new Lab();
  let docker: DockerHost;
  let client: EngineClient;

  before(async () => {
    docker = await DockerHost.start(lab);
    client = new EngineClient({ kind: 'unix', socketPath: docker.socket });
  });

  after(async () => {
    await client?.close();
    await docker?.destroy();
    lab.destroy();
  });

  test('missing: created on the lease with the options given; there: matches; elsewhere: reported with the fix', async () => {
    const lease = '2001:db8:100:7::/64';
    const created = await ensureFleetNetwork(client, 'fleet6', lease, { 'com.docker.network.bridge.name': 'fleet6' });
    assert.deepEqual(created, { state: 'created', subnets: [lease] });
    const inspect = await docker.call('GET', '/networks/fleet6') as { EnableIPv6: boolean; Options: Record<string, string>; IPAM: { Config: Array<{ Subnet: string }> } };
    assert.equal(inspect.EnableIPv6, true);
    assert.ok(inspect.IPAM.Config.some((c) => c.Subnet === lease));
    assert.equal(inspect.Options['com.docker.network.bridge.name'], 'fleet6');
    assert.equal((await ensureFleetNetwork(client, 'fleet6', lease, {})).state, 'matches');

    const moved = await ensureFleetNetwork(client, 'fleet6', '2001:db8:100:9::/64', {});
    assert.equal(moved.state, 'mismatch');
    assert.match((moved as { detail: string }).detail,
      /fleet6: its subnet 2001:db8:100:7::\/64 is not inside this host's lease 2001:db8:100:9::\/64; .*docker network rm fleet6 && docker network create --ipv6 --subnet 2001:db8:100:9::\/64 fleet6/);
    assert.ok(await docker.call('GET', '/networks/fleet6'), 'a mismatching network is left in place');
  });
});
