// The fleet prefix cut into sub-prefixes, their etcd keys, and the etcd
// endpoint list of --fleet.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fleetPlan, subprefixAt, subprefixOfKey, leaseKey, isSubprefixOf } from '../../src/fleet/subnets.js';
import { etcdHosts } from '../../src/fleet/client.js';
import { ConfigError } from '../../src/errors.js';

test('a /48 cut into /64s: 65,536 sub-prefixes, keyed under the canonical prefix', () => {
  const plan = fleetPlan('2001:DB8:100:0::1/48', 64);
  assert.equal(plan.prefix, '2001:db8:100::/48');
  assert.equal(plan.count, 65_536);
  assert.equal(plan.keyPrefix, '/sixgate/fleet/2001:db8:100::-48/leases/');
  assert.equal(subprefixAt(plan, 0), '2001:db8:100::/64');
  assert.equal(subprefixAt(plan, 0x1a2b), '2001:db8:100:1a2b::/64');
  assert.equal(subprefixAt(plan, 65_535), '2001:db8:100:ffff::/64');
  const key = leaseKey(plan, '2001:db8:100:1a2b::/64');
  assert.equal(key, '/sixgate/fleet/2001:db8:100::-48/leases/2001:db8:100:1a2b::-64');
  assert.equal(subprefixOfKey(plan, key), '2001:db8:100:1a2b::/64');
});

test('sizes that do not nibble-align work; keys that are not the plan\'s are refused', () => {
  const plan = fleetPlan('fd00:1::/60', 62);
  assert.deepEqual([0, 1, 2, 3].map((i) => subprefixAt(plan, i)), ['fd00:1::/62', 'fd00:1:0:4::/62', 'fd00:1:0:8::/62', 'fd00:1:0:c::/62']);
  assert.equal(subprefixOfKey(plan, `${plan.keyPrefix}fd00:2::-62`), undefined, 'outside the fleet prefix');
  assert.equal(subprefixOfKey(plan, `${plan.keyPrefix}fd00:1::-64`), undefined, 'wrong length');
  assert.equal(subprefixOfKey(plan, `${plan.keyPrefix}fd00:1::1-62`), undefined, 'host bits set');
  assert.equal(subprefixOfKey(plan, '/elsewhere/fd00:1::-62'), undefined);
  assert.ok(isSubprefixOf(plan, 'fd00:1:0:c::/62'));
});

test('a size not longer than the prefix, or one that cuts it too fine, is a ConfigError', () => {
  assert.throws(() => fleetPlan('2001:db8::/48', 48), ConfigError);
  assert.throws(() => fleetPlan('2001:db8::/48', 129), ConfigError);
  assert.throws(() => fleetPlan('2001:db8::/32', 64), /more than 2\^16/);
  assert.throws(() => fleetPlan('nonsense', 64), ConfigError);
});

test('--fleet: etcd:// lists become gRPC targets; etcds:// or TLS files make them https', () => {
  assert.deepEqual(etcdHosts('etcd://[2001:db8::1]:2379,[2001:db8::2]:2379', false), ['http://[2001:db8::1]:2379', 'http://[2001:db8::2]:2379']);
  assert.deepEqual(etcdHosts('etcds://a.example:2379,etcds://b.example:2379', false), ['https://a.example:2379', 'https://b.example:2379']);
  assert.deepEqual(etcdHosts('etcd://a:2379', true), ['https://a:2379']);
  assert.throws(() => etcdHosts('a:2379', false), /must start with etcd:\/\//);
  assert.throws(() => etcdHosts('etcd://a', false), /not a host:port/);
  assert.throws(() => etcdHosts('etcd://', false), ConfigError);
});
