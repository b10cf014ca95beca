import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostPlan, natConfig, publishedKey } from '../../src/datapath/plan.js';
import type { ResolvedModel } from '../../src/datapath/model.js';
import { formatIpv6 } from '../../src/wire/address.js';
import { Nat66 } from '../../src/nat/nat66.js';

const resolved: ResolvedModel = {
  uplink: 'up0', tun: 'sixgate0', hostPortRange: [61000, 61999], throwPrefixes: ['2001:db8:99::/48'], replyBridges: [],
  networks: [
    { name: 'web', bridge: 'br0', subnets: ['fd66:1::/64'], mode: 'masquerade', addressMode: 'dedicated', externalAddresses: ['2001:db8:1::66'] },
    { name: 'lab', bridge: 'br1', subnets: ['fd66:2::/64'], mode: 'nptv6', addressMode: 'none', externalAddresses: [], externalPrefix: '2001:db8:66::/64' },
    { name: 'db', bridge: 'br2', subnets: ['fd66:3::/64'], mode: 'masquerade', addressMode: 'host', externalAddresses: ['2001:db8:1::2'], portRange: [61000, 61999] },
  ],
  published: [
    { protocol: 'tcp', externalPort: 8080, insideAddress: 'fd66:1::2', insidePort: 80 },
    { protocol: 'udp', externalPort: 5353, insideAddress: 'fd66:3::2', insidePort: 53 },
  ],
};

test('policy: a rule per subnet, default into the TUN, throws for every local prefix, routes for external addresses and prefixes', () => {
  const p = hostPlan(resolved);
  assert.deepEqual(p.policy.rules, [{ from: 'fd66:1::/64', iif: 'br0' }, { from: 'fd66:2::/64', iif: 'br1' }, { from: 'fd66:3::/64', iif: 'br2' }]);
  const routes = p.policy.routes.map((r) => `${r.type} ${r.dst} ${r.table}`);
  assert.ok(routes.includes('unicast default sixgate'));
  for (const t of ['fd66:1::/64', 'fd66:2::/64', 'fd66:3::/64', 'fe80::/10', '2001:db8:99::/48']) assert.ok(routes.includes(`throw ${t} sixgate`), t);
  assert.ok(routes.includes('unicast 2001:db8:1::66/128 main'));
  assert.ok(routes.includes('unicast 2001:db8:66::/64 main'));
  assert.ok(!routes.some((r) => r.includes('2001:db8:1::2/')), 'the host address itself is never routed into the TUN');
  // Fail closed: every route into the TUN has an unreachable twin, and nothing else has one.
  const unicast = routes.filter((r) => r.startsWith('unicast ')).map((r) => r.slice('unicast '.length));
  assert.deepEqual(routes.filter((r) => r.startsWith('unreachable ')).map((r) => r.slice('unreachable '.length)), unicast);
  assert.deepEqual(p.ndpAddresses, ['2001:db8:1::66']);
  assert.deepEqual(p.ndpPrefixes, ['2001:db8:66::/64']);
});

test('reply bridges: every NAT subnet is also taken from the other bridges (multi-network containers), once per bridge', () => {
  const p = hostPlan({ ...resolved, networks: resolved.networks.slice(0, 1), replyBridges: ['br0', 'br-glob'] });
  assert.deepEqual(p.policy.rules, [{ from: 'fd66:1::/64', iif: 'br0' }, { from: 'fd66:1::/64', iif: 'br-glob' }]);
  assert.equal(p.policy.routes.filter((r) => r.type === 'throw' && r.dst === 'fd66:1::/64').length, 1);
});

test('host mode: the reserved range and its network\'s published ports are steered; the range is reserved', () => {
  const p = hostPlan(resolved);
  assert.equal(p.steering.length, 1);
  assert.equal(formatIpv6(p.steering[0]!.address, 0), '2001:db8:1::2');
  assert.deepEqual(p.steering[0]!.ports.map((x) => `${x.protocol}:${x.lo}-${x.hi}`), ['6:61000-61999', '17:61000-61999', '132:61000-61999', '17:5353-5353']);
  assert.deepEqual(p.reservedPorts, [61000, 61999]);
});

test('NAT config builds a working engine; published port keys', () => {
  const nat = new Nat66({ ...natConfig(resolved), capacity: 1024 });
  assert.equal(nat.cfg.netCount, 3);
  assert.equal(publishedKey({ protocol: 'tcp', externalPort: 1, insideAddress: 'fd66:1::2', insidePort: 2 }), 'tcp [*]:1 -> [fd66:1::2]:2');
});
