import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIfInet6, parseRoutes, routeRemoveLine, routeReplaceLines } from '../../src/host/interfaces.js';
import { effectiveCaps, hasCap, startupProblems, CAP_NET_ADMIN, CAP_NET_RAW } from '../../src/host/checks.js';
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

test('routes from ip -j: default, host routes; lo, non-unicast and malformed ones skipped', () => {
  const json = JSON.stringify([
    { dst: 'default', gateway: 'fe80::1', dev: 'eth0', protocol: 'ra', metric: 1024, flags: [] },
    { dst: '2001:db8:5::/80', dev: 'br0', protocol: 'kernel', metric: 256, flags: [] },
    { dst: '2001:db8:5::9', dev: 'veth1', flags: [] },
    { type: 'throw', dst: 'fd66::/16', dev: 'lo' },
    { type: 'unreachable', dst: '2001:db8:6::/64', dev: 'lo', flags: [] },
    { type: 'blackhole', dst: '2001:db8:7::/64', dev: 'eth0', flags: [] },
    { dst: 'fe80::/64', dev: 'eth0', flags: [] },
    { dst: 'nonsense', dev: 'eth0' },
    { dst: '2001:db8::/129', dev: 'eth0' },
    // Two routers on one link: a multipath route, its device from the next hops.
    { dst: '2001:db8:8::/48', nexthops: [{ gateway: 'fe80::1', dev: 'eth1', weight: 1 }, { gateway: 'fe80::2', dev: 'eth1', weight: 1 }] },
    { dst: '2001:db8:9::/48', nexthops: [{ gateway: 'fe80::1', dev: 'eth1' }, { gateway: 'fe80::2', dev: 'eth2' }] },
    { dst: '2001:db8:a::/48', nexthops: [] },
  ]);
  assert.deepEqual(parseRoutes(json).map((r) => `${formatIpv6(r.prefix, 0)}/${r.prefixLength} ${r.dev}`), [
    '::/0 eth0', '2001:db8:5::/80 br0', '2001:db8:5::9/128 veth1', 'fe80::/64 eth0', '2001:db8:8::/48 eth1',
  ]);
  assert.deepEqual(parseRoutes('not json'), []);
  assert.deepEqual(parseRoutes('{}'), []);
});

test('route lines: dev route, via a link-local next hop, via a global one (host route first), removal', () => {
  const t = parseIpv6('2001:db8:3::c');
  assert.deepEqual(routeReplaceLines(t, 'veth1', null), ['route replace 2001:db8:3::c dev veth1']);
  assert.deepEqual(routeReplaceLines(t, 'veth1', parseIpv6('fe80::99')), ['route replace 2001:db8:3::c via fe80::99 dev veth1']);
  assert.deepEqual(routeReplaceLines(t, 'veth1', parseIpv6('2001:db8:3::1')), [
    'route replace 2001:db8:3::1 dev veth1',
    'route replace 2001:db8:3::c via 2001:db8:3::1 dev veth1',
  ]);
  assert.equal(routeRemoveLine(t, 'veth1'), 'route del 2001:db8:3::c dev veth1');
});

test('capabilities from /proc/self/status', () => {
  const caps = effectiveCaps('Name:\tx\nCapEff:\t0000000000003000\n');
  assert.equal(hasCap(CAP_NET_ADMIN, caps), true);
  assert.equal(hasCap(CAP_NET_RAW, caps), true);
  assert.equal(hasCap(CAP_NET_ADMIN, effectiveCaps('CapEff:\t0000000000001000\n')), true);
  assert.equal(hasCap(CAP_NET_ADMIN, effectiveCaps('CapEff:\t0000000000002000\n')), false);
  assert.equal(hasCap(CAP_NET_ADMIN, effectiveCaps('CapEff:\t0000000000000000\n')), false);
});

test('start-up problems: the missing capabilities in one line (the device is checked for NAT66 only)', () => {
  const problems = (capEff: string): string[] => startupProblems({ nat66: false }, effectiveCaps(`CapEff:\t${capEff}\n`));
  assert.deepEqual(problems('0000000000003000'), []);
  assert.match(problems('0000000000000000').join('|'), /^CAP_NET_ADMIN and CAP_NET_RAW are missing \(sixgate needs CAP_NET_ADMIN and CAP_NET_RAW\): run it as root, or grant them/);
  assert.match(problems('0000000000001000').join('|'), /^CAP_NET_RAW is missing /);
});
