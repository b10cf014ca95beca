import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parseRoutes, routeRemoveLine, routeReplaceLines } from '../../src/ndp/host.js';
import { formatIpv6, parseIpv6 } from '../../src/wire/address.js';
import { parseAddressOptions } from '../../src/ndp/service.js';
import { ConfigError } from '../../src/errors.js';

describe('ndp host helpers', () => {
  test('parseRoutes reads `ip -j -6 route` output: default, host routes, skips lo and non-unicast', () => {
    const json = JSON.stringify([
      { dst: 'default', gateway: 'fe80::1', dev: 'eth0', protocol: 'ra', metric: 1024, flags: [] },
      { dst: '2001:db8:5::/80', dev: 'br0', protocol: 'kernel', metric: 256, flags: [] },
      { dst: '2001:db8:5::9', dev: 'veth1', flags: [] },
      { type: 'unreachable', dst: '2001:db8:6::/64', dev: 'lo', flags: [] },
      { type: 'blackhole', dst: '2001:db8:7::/64', dev: 'eth0', flags: [] },
      { dst: 'fe80::/64', dev: 'eth0', flags: [] },
      { dst: 'nonsense', dev: 'eth0' },
      { dst: '2001:db8::/129', dev: 'eth0' },
    ]);
    assert.deepEqual(parseRoutes(json).map((r) => `${formatIpv6(r.prefix, 0)}/${r.prefixLength} ${r.dev}`), [
      '::/0 eth0', '2001:db8:5::/80 br0', '2001:db8:5::9/128 veth1', 'fe80::/64 eth0',
    ]);
    assert.deepEqual(parseRoutes('not json'), []);
    assert.deepEqual(parseRoutes('{}'), []);
  });

  test('autowire commands: dev route, via a link-local next hop, via a global one (host route first)', () => {
    const t = parseIpv6('2001:db8:3::c');
    assert.deepEqual(routeReplaceLines(t, 'veth1', null), ['route replace 2001:db8:3::c dev veth1']);
    assert.deepEqual(routeReplaceLines(t, 'veth1', parseIpv6('fe80::99')), ['route replace 2001:db8:3::c via fe80::99 dev veth1']);
    assert.deepEqual(routeReplaceLines(t, 'veth1', parseIpv6('2001:db8:3::1')), [
      'route replace 2001:db8:3::1 dev veth1',
      'route replace 2001:db8:3::c via 2001:db8:3::1 dev veth1',
    ]);
    assert.equal(routeRemoveLine(t, 'veth1'), 'route del 2001:db8:3::c dev veth1');
  });

  test('--address IFACE=ADDR values', () => {
    const m = parseAddressOptions(['eth0=2001:db8::1', 'eth0=2001:db8::2', 'eth1=2001:db8::3']);
    assert.deepEqual([...m.entries()].map(([k, v]) => [k, v.map((a) => formatIpv6(a, 0))]), [
      ['eth0', ['2001:db8::1', '2001:db8::2']],
      ['eth1', ['2001:db8::3']],
    ]);
    assert.throws(() => parseAddressOptions(['2001:db8::1']), ConfigError);
    assert.throws(() => parseAddressOptions(['eth0=nope']), ConfigError);
  });
});
