import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIfInet6, parseRoutes, routeReplaceLines } from '../../src/host/interfaces.js';
import { effectiveCaps, hasCap, CAP_NET_ADMIN, CAP_NET_RAW } from '../../src/host/checks.js';
import { formatIpv6, parseIpv6 } from '../../src/wire/address.js';

test('/proc/net/if_inet6: prefix length, scope, tentative addresses skipped', () => {
  const text = [
    '20010db8000100000000000000000002 03 40 00 80     up0',
    'fe800000000000000000000000000001 03 40 20 80     up0',
    '20010db8000100000000000000000009 03 80 00 40     up0',
    'garbage',
  ].join('\n');
  const a = parseIfInet6(text);
  assert.equal(a.length, 2);
  assert.equal(formatIpv6(a[0]!.addr, 0), '2001:db8:1::2');
  assert.equal(a[0]!.prefixLength, 64);
  assert.equal(a[0]!.scope, 0);
  assert.equal(a[1]!.scope, 0x20);
});

test('routes from ip -j', () => {
  const r = parseRoutes('[{"dst":"default","dev":"up0"},{"dst":"fd66:1::/64","dev":"br0"},{"type":"throw","dst":"fd66::/16","dev":"lo"},{"dst":"2001:db8::66","dev":"sixgate0"}]');
  assert.deepEqual(r.map((x) => [formatIpv6(x.prefix, 0), x.prefixLength, x.dev]), [['::', 0, 'up0'], ['fd66:1::', 64, 'br0'], ['2001:db8::66', 128, 'sixgate0']]);
  assert.deepEqual(parseRoutes('not json'), []);
  assert.deepEqual(routeReplaceLines(parseIpv6('2001:db8::5'), 'eth0', parseIpv6('fe80::1')), ['route replace 2001:db8::5 via fe80::1 dev eth0']);
});

test('capabilities from /proc/self/status', () => {
  const caps = effectiveCaps('Name:\tx\nCapEff:\t0000000000003000\n');
  assert.equal(hasCap(CAP_NET_ADMIN, caps), true);
  assert.equal(hasCap(CAP_NET_RAW, caps), true);
  assert.equal(hasCap(CAP_NET_ADMIN, effectiveCaps('CapEff:\t0000000000001000\n')), true);
  assert.equal(hasCap(CAP_NET_ADMIN, effectiveCaps('CapEff:\t0000000000002000\n')), false);
  assert.equal(hasCap(CAP_NET_ADMIN, effectiveCaps('CapEff:\t0000000000000000\n')), false);
});
