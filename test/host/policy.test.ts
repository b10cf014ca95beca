import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalPrefix, diffPolicy, routeKey, ruleKey, EMPTY_POLICY, FAIL_CLOSED_METRIC, type PolicyState } from '../../src/host/policy.js';
import { SIXGATE_PROTO, SIXGATE_RULE_PRIORITY, SIXGATE_TABLE } from '../../src/host/tags.js';

const desired: PolicyState = {
  rules: [{ from: 'fd66:1::/64', iif: 'br0' }],
  routes: [
    { dst: 'default', type: 'unicast', dev: 'sixgate0', table: 'sixgate' },
    { dst: 'fd66:1::/64', type: 'throw', table: 'sixgate' },
    { dst: '2001:db8:1::66/128', type: 'unicast', dev: 'sixgate0', table: 'main' },
  ],
};

test('canonical prefixes: zero compression, /128 default, ::/0 is default', () => {
  assert.equal(canonicalPrefix('2001:0db8:0001:0000::0066'), '2001:db8:1::66/128');
  assert.equal(canonicalPrefix('::/0'), 'default');
  assert.equal(canonicalPrefix('default'), 'default');
  assert.equal(ruleKey({ from: 'FD66:1:0::/64', iif: 'br0' }), 'from fd66:1::/64 iif br0');
  assert.equal(routeKey({ dst: 'fd66:1::/64', type: 'throw', table: 'sixgate' }), `throw fd66:1::/64 table ${SIXGATE_TABLE}`);
});

test('from nothing: routes first, then rules, every line tagged', () => {
  const d = diffPolicy(EMPTY_POLICY, desired);
  assert.equal(d.added, 4);
  assert.equal(d.removed, 0);
  assert.equal(d.lines.at(-1), `rule add from fd66:1::/64 iif br0 lookup ${SIXGATE_TABLE} pref ${SIXGATE_RULE_PRIORITY} protocol ${SIXGATE_PROTO}`);
  assert.ok(d.lines.slice(0, 3).every((l) => l.startsWith('route replace') && l.endsWith(`proto ${SIXGATE_PROTO}`)));
  assert.ok(d.lines.includes(`route replace 2001:db8:1::66/128 dev sixgate0 table main proto ${SIXGATE_PROTO}`));
  assert.ok(d.lines.includes(`route replace throw fd66:1::/64 table ${SIXGATE_TABLE} proto ${SIXGATE_PROTO}`));
});

test('the same state (as the kernel prints it) needs no line: starting twice is idempotent', () => {
  const asRead: PolicyState = {
    rules: [{ from: 'fd66:1::/64', iif: 'br0' }],
    routes: [
      { dst: 'default', type: 'unicast', dev: 'sixgate0', table: 'sixgate' },
      { dst: 'fd66:1::/64', type: 'throw', table: 'sixgate' },
      { dst: '2001:db8:1::66/128', type: 'unicast', dev: 'sixgate0', table: 'main' },
    ],
  };
  assert.deepEqual(diffPolicy(asRead, desired), { lines: [], added: 0, removed: 0 });
});

test('fail-closed routes: unreachable, a worse metric than the TUN route, tagged; read back as they were written', () => {
  const twin = { dst: 'default', type: 'unreachable', table: 'sixgate' } as const;
  assert.equal(routeKey(twin), `unreachable default table ${SIXGATE_TABLE}`);
  assert.ok(FAIL_CLOSED_METRIC > 1024, 'the kernel gives the TUN route metric 1024');
  const withTwin: PolicyState = { rules: desired.rules, routes: [...desired.routes, twin] };
  assert.deepEqual(diffPolicy(desired, withTwin).lines, [`route replace unreachable default table ${SIXGATE_TABLE} metric ${FAIL_CLOSED_METRIC} proto ${SIXGATE_PROTO}`]);
  assert.deepEqual(diffPolicy(withTwin, desired).lines, [`route del unreachable default table ${SIXGATE_TABLE} metric ${FAIL_CLOSED_METRIC} proto ${SIXGATE_PROTO}`]);
});

test('a change touches only what changed, removals first', () => {
  const next: PolicyState = {
    rules: desired.rules,
    routes: [desired.routes[0]!, desired.routes[1]!, { dst: '2001:db8:1::67/128', type: 'unicast', dev: 'sixgate0', table: 'main' }],
  };
  const d = diffPolicy(desired, next);
  assert.deepEqual(d.lines, [
    `route del 2001:db8:1::66/128 dev sixgate0 table main proto ${SIXGATE_PROTO}`,
    `route replace 2001:db8:1::67/128 dev sixgate0 table main proto ${SIXGATE_PROTO}`,
  ]);
});

test('cleanup (empty desired state) removes rules and routes', () => {
  const d = diffPolicy(desired, EMPTY_POLICY);
  assert.equal(d.removed, 4);
  assert.ok(d.lines[0]!.startsWith('rule del from fd66:1::/64 iif br0'));
});

test('interface names that could split a batch line are refused', () => {
  for (const bad of ['br0\nrule flush', 'br 0', '', 'a'.repeat(16), 'x/y']) {
    assert.throws(() => diffPolicy(EMPTY_POLICY, { rules: [{ from: 'fd66::/64', iif: bad }], routes: [] }), RangeError, JSON.stringify(bad));
  }
});

test('a route with a source address: written with src, keyed with it, so a new source replaces the route', () => {
  const route = { dst: '2001:db8:1::66/128', type: 'unicast' as const, dev: 'sixgate0', src: 'FD66:1::0001', table: 'main' as const };
  assert.equal(routeKey(route), '2001:db8:1::66/128 dev sixgate0 src fd66:1::1 table main');
  const d = diffPolicy(EMPTY_POLICY, { rules: [], routes: [route] });
  assert.deepEqual(d.lines, [`route replace 2001:db8:1::66/128 dev sixgate0 src fd66:1::1 table main proto ${SIXGATE_PROTO}`]);
  const { src: _, ...withoutSrc } = route;
  assert.equal(diffPolicy({ rules: [], routes: [withoutSrc] }, { rules: [], routes: [route] }).added, 1);
});
