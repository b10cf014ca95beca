// Network classification from Engine API network JSON (no engine needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  classifyNetwork, resolveDockerIp6tables, parsePrefix, prefixWithin, subnetOf,
  type ClassifyContext, type Issue,
} from '../../src/docker/classify.js';
import type { ApiNetwork } from '../../src/docker/api-types.js';
import {
  gatewayCtx, natNet, natUnprotectedNet, routedNet, routedElsewhereNet, isolatedNet, unknownModeNet,
} from './gateway-fixtures.js';
import {
  linkCtx, macvlanLan, macvlanVlan, macvlanPrivate, macvlanOptedOut, macvlanInternal, ipvlanL2, ipvlanL3OnLink, ipvlanL3Routed,
} from './link-fixtures.js';

const ID = '9b2bbba8a8e2e6e6db1f7667a239d0fea11abb8354cb570c6dd29b869dcdde68';
const ctx: ClassifyContext = { uplinks: [{ name: 'eth0', prefixes: ['2001:db8:5::/64', '2001:db8:6::/48'] }], dockerIp6tables: false };

function net(over: Partial<ApiNetwork> & { subnets?: string[] } = {}): ApiNetwork {
  const { subnets = ['172.18.0.0/16', 'fd00:1::/64'], ...rest } = over;
  return { Id: ID, Name: 'n1', Driver: 'bridge', Internal: false, IPAM: { Config: subnets.map((Subnet) => ({ Subnet })) }, Options: {}, Labels: {}, ...rest };
}

function classify(raw: ApiNetwork, c = ctx) {
  const issues: Issue[] = [];
  return { net: classifyNetwork(raw, c, issues), issues };
}

test('a ULA bridge network is NAT66, with defaults from Docker', () => {
  const { net: n, issues } = classify(net());
  assert.deepEqual(issues, []);
  assert.deepEqual(n, {
    id: ID, name: 'n1', driver: 'bridge', bridge: 'br-9b2bbba8a8e2', driverMode: '', internal: false, icc: true, masquerade: true,
    hostBindingIpv6: null, snatAddress: null, dockerNat: false, labels: {},
    subnets: [{ prefix: 'fd00:1::/64', length: 64, service: 'nat66', reason: '' }],
  });
});

test('internal and masquerade-off ULA networks are not NAT\'d', () => {
  assert.deepEqual(classify(net({ Internal: true })).net?.subnets.map((s) => [s.service, s.reason]), [['none', 'internal']]);
  const off = classify(net({ Options: { 'com.docker.network.bridge.enable_ip_masquerade': 'false' } })).net!;
  assert.equal(off.masquerade, false);
  assert.deepEqual(off.subnets.map((s) => [s.service, s.reason]), [['none', 'masquerade-off']]);
});

test('global subnets: NDP inside an uplink prefix, nothing elsewhere; every subnet counts (B6)', () => {
  const n = classify(net({ subnets: ['2001:db8:5:0:1::/80', '2001:db8:6:7::/64', '2001:db8:99::/64', 'fd00:9::/64'] })).net!;
  assert.deepEqual(n.subnets.map((s) => [s.prefix, s.service, s.uplink ?? s.reason]), [
    ['2001:db8:5:0:1::/80', 'ndp', 'eth0'],
    ['2001:db8:6:7::/64', 'ndp', 'eth0'],
    ['2001:db8:99::/64', 'none', 'not-on-uplink'],
    ['fd00:9::/64', 'nat66', ''],
  ]);
  // A subnet wider than the on-link prefix is not on the link.
  assert.equal(classify(net({ subnets: ['2001:db8:5::/60'] })).net!.subnets[0].reason, 'not-on-uplink');
});

test('no IPv6 subnet or a driver sixgate does not serve: left out (the former with a log line)', () => {
  const v4 = classify(net({ subnets: ['10.0.0.0/24'] }));
  assert.equal(v4.net, undefined);
  assert.match(v4.issues[0].msg, /network n1 has no IPv6 subnet/);
  const host = classify(net({ Driver: 'host', Name: 'host', subnets: [] }));
  assert.equal(host.net, undefined);
  assert.deepEqual(host.issues, []);
  const overlay = classify(net({ Driver: 'overlay', Name: 'ov' }));
  assert.equal(overlay.net, undefined);
  assert.match(overlay.issues[0].msg, /network ov \(driver overlay\) has IPv6 but sixgate serves bridge, macvlan, ipvlan networks only/);
});

test('bridge names: option, default bridge, br-<id12>', () => {
  assert.equal(classify(net({ Options: { 'com.docker.network.bridge.name': 'sg0' } })).net!.bridge, 'sg0');
  assert.equal(classify(net({ Options: { 'com.docker.network.bridge.default_bridge': 'true' } })).net!.bridge, 'docker0');
});

test('options: icc, host bindings, host_ipv6; bad values keep defaults and say so', () => {
  const n = classify(net({ Options: {
    'com.docker.network.bridge.enable_icc': 'False',
    'com.docker.network.bridge.host_binding_ipv6': '2001:DB8:5::0080',
    'com.docker.network.host_ipv6': '2001:db8:5::1',
  } })).net!;
  assert.equal(n.icc, false);
  assert.equal(n.hostBindingIpv6, '2001:db8:5::80');
  assert.equal(n.snatAddress, '2001:db8:5::1');
  assert.equal(classify(net({ Options: { 'com.docker.network.bridge.host_binding_ipv6': '::' } })).net!.hostBindingIpv6, null);
  // Newer Docker accepts an IPv6 address in host_binding_ipv4.
  assert.equal(classify(net({ Options: { 'com.docker.network.bridge.host_binding_ipv4': '2001:db8::9' } })).net!.hostBindingIpv6, '2001:db8::9');
  const bad = classify(net({ Options: { 'com.docker.network.bridge.enable_icc': 'maybe', 'com.docker.network.bridge.host_binding_ipv6': '10.0.0.1' } }));
  assert.equal(bad.net!.icc, true);
  assert.equal(bad.net!.hostBindingIpv6, null);
  assert.equal(bad.issues.length, 2);
});

test('NPTv6 by label or driver option; length mismatch, bad prefix and small subnets are refused with a line', () => {
  const byLabel = classify(net({ Labels: { 'sixgate.nptv6': '2001:db8:7:1::/64' } })).net!;
  assert.deepEqual(byLabel.subnets[0], { prefix: 'fd00:1::/64', length: 64, service: 'nptv6', reason: '', externalPrefix: '2001:db8:7:1::/64' });
  const byOption = classify(net({ Options: { 'sixgate.nptv6': '2001:db8:7:2::' } })).net!;
  assert.equal(byOption.subnets[0].externalPrefix, '2001:db8:7:2::/64');
  const mismatch = classify(net({ Labels: { 'sixgate.nptv6': '2001:db8:7::/48' } }));
  assert.equal(mismatch.net!.subnets[0].service, 'nat66');
  assert.match(mismatch.issues[0].msg, /no IPv6 subnet of the same length/);
  const bad = classify(net({ Labels: { 'sixgate.nptv6': 'nonsense' } }));
  assert.equal(bad.net!.subnets[0].service, 'nat66');
  assert.match(bad.issues[0].msg, /not an IPv6 prefix/);
  const range = classify(net({ subnets: ['fd00:1::/80'], Labels: { 'sixgate.nptv6': '2001:db8:7:1:5167::/80' } }));
  assert.equal(range.net!.subnets[0].externalPrefix, '2001:db8:7:1:5167::/80');
  const small = classify(net({ subnets: ['fd00:1::/120'], Labels: { 'sixgate.nptv6': '2001:db8:7:1::/120' } }));
  assert.equal(small.net!.subnets[0].service, 'nat66');
  assert.match(small.issues[0].msg, /too small for NPTv6/);
  // auto: the first ULA subnet, its external prefix derived from the upstream one (datapath/resolve.ts).
  const auto = classify(net({ subnets: ['2001:db8:5::/64', 'fd00:1::/80'], Labels: { 'sixgate.nptv6': 'auto' } })).net!;
  assert.deepEqual(auto.subnets.map((s) => [s.service, s.externalPrefix]), [['ndp', undefined], ['nptv6', 'auto']]);
  // Internal wins over the label.
  assert.equal(classify(net({ Internal: true, Labels: { 'sixgate.nptv6': '2001:db8:7:1::/64' } })).net!.subnets[0].service, 'none');
});

test('a subnet too small for a gateway and a container is ignored with a line', () => {
  const r = classify(net({ subnets: ['fd00:1::/127', 'fd00:2::/64'] }));
  assert.deepEqual(r.net!.subnets.map((s) => s.reason), ['too-small', '']);
  assert.match(r.issues[0].msg, /fd00:1::\/127 is too small/);
});

test("Docker's own ip6tables NAT: its NAT subnets are left alone, NDP is not", () => {
  const c = { ...ctx, dockerIp6tables: true };
  const r = classify(net({ subnets: ['fd00:1::/64', '2001:db8:5:0:1::/80'] }), c);
  assert.equal(r.net!.dockerNat, true);
  assert.deepEqual(r.net!.subnets.map((s) => [s.service, s.reason]), [['none', 'docker-ip6tables'], ['ndp', '']]);
  assert.match(r.issues.at(-1)!.msg, /Docker's own ip6tables NAT serves it/);
  // Routed gateway mode and internal networks are not NAT'd by Docker.
  assert.equal(classify(net({ Options: { 'com.docker.network.bridge.gateway_mode_ipv6': 'routed' } }), c).net!.dockerNat, false);
  assert.equal(classify(net({ Internal: true }), c).net!.dockerNat, false);
});

test('resolveDockerIp6tables: 27+ on by default, experimental 20.10 uncertain, overrides win', () => {
  assert.deepEqual(resolveDockerIp6tables({ Version: '20.10.24+dfsg1', ApiVersion: '1.41' }, {}), { on: false });
  assert.equal(resolveDockerIp6tables({ Version: '27.0.3', ApiVersion: '1.46' }, {}).on, true);
  assert.equal(resolveDockerIp6tables({ Version: '28.2.2', ApiVersion: '1.50' }, {}).on, true);
  assert.equal(resolveDockerIp6tables({ ApiVersion: '1.47' }, {}).on, true);
  const exp = resolveDockerIp6tables({ Version: '20.10.24', ApiVersion: '1.41' }, { ExperimentalBuild: true });
  assert.equal(exp.on, false);
  assert.match(exp.issue!.msg, /experimental/);
  assert.equal(resolveDockerIp6tables({ Version: '28.2.2' }, {}, 'off').on, false);
  assert.equal(resolveDockerIp6tables({ Version: '20.10.24' }, {}, 'on').on, true);
});

test('prefix helpers', () => {
  assert.equal(parsePrefix('2001:DB8:5::7/64')!.text, '2001:db8:5::/64');
  assert.equal(parsePrefix('10.0.0.0/8'), undefined);
  assert.equal(parsePrefix('fd00::/129'), undefined);
  assert.equal(parsePrefix('fd00::'), undefined);
  assert.ok(prefixWithin(parsePrefix('fd00:1::/64')!, parsePrefix('fc00::/7')!));
  assert.ok(!prefixWithin(parsePrefix('fc00::/6')!, parsePrefix('fc00::/7')!));
  const n = classify(net({ subnets: ['fd00:1::/64', 'fd00:2::/64'] })).net!;
  assert.equal(subnetOf(n, 'fd00:2::5')?.prefix, 'fd00:2::/64');
  assert.equal(subnetOf(n, 'fd00:3::5'), undefined);
  assert.equal(subnetOf(n, 'bogus'), undefined);
});

test('Docker 27/28 gateway modes, from recorded network inspect answers (ip6tables off: sixgate serves)', () => {
  const c: ClassifyContext = { ...gatewayCtx, dockerIp6tables: false };
  const services = (raw: ApiNetwork) => classify(raw, c).net!.subnets.map((s) => [s.prefix, s.service, s.uplink ?? s.reason]);
  assert.deepEqual(services(natNet), [['fd00:27::/64', 'nat66', '']]);
  assert.deepEqual(services(natUnprotectedNet), [['fd00:28::/64', 'nat66', '']]);
  // routed: Docker does no NAT; the global subnet on the uplink is proxied so its route works.
  const routed = classify(routedNet, c);
  assert.deepEqual(routed.net!.subnets.map((s) => [s.prefix, s.service, s.uplink ?? s.reason]), [
    ['2001:db8:5:0:27::/80', 'ndp', 'eth0'],
    ['fd00:2c::/64', 'nat66', ''],
  ]);
  assert.equal(routed.net!.dockerNat, false);
  assert.deepEqual(routed.issues, []);
  assert.deepEqual(services(routedElsewhereNet), [['2001:db8:99::/64', 'none', 'not-on-uplink']]);
  // isolated (always internal): nothing, not even the global subnet on the uplink.
  assert.deepEqual(services(isolatedNet), [['fd00:2e::/64', 'none', 'internal'], ['2001:db8:5:0:2e::/80', 'none', 'internal']]);
  // Docker refuses isolated without --internal; if an engine sent it anyway, still nothing.
  const notInternal = { ...isolatedNet, Internal: false };
  assert.deepEqual(services(notInternal).map((s) => s[2]), ['gateway-isolated', 'gateway-isolated']);
  const unknown = classify(unknownModeNet, c);
  assert.equal(unknown.net!.subnets[0].service, 'nat66');
  assert.match(unknown.issues[0].msg, /gateway_mode_ipv6="nat-someday" is not a gateway mode .*: treated as nat/);
});

test('Docker 27/28 gateway modes with Docker\'s ip6tables on: nat modes are Docker\'s; routed is sixgate\'s, isolated nobody\'s', () => {
  const c: ClassifyContext = { ...gatewayCtx, dockerIp6tables: true };
  for (const raw of [natNet, natUnprotectedNet]) {
    const r = classify(raw, c);
    assert.equal(r.net!.dockerNat, true, raw.Name);
    assert.deepEqual(r.net!.subnets.map((s) => s.reason), ['docker-ip6tables']);
    assert.match(r.issues.at(-1)!.msg, /Docker's own ip6tables NAT serves it: sixgate leaves its NAT alone/);
  }
  // routed is the per-network way to hand a ULA network to sixgate on an engine that NATs.
  const routed = classify(routedNet, c).net!;
  assert.equal(routed.dockerNat, false);
  assert.deepEqual(routed.subnets.map((s) => s.service), ['ndp', 'nat66']);
  const npt = classify({ ...routedNet, Labels: { 'sixgate.nptv6': '2001:db8:7:1::/64' } }, c).net!;
  assert.deepEqual(npt.subnets.map((s) => s.service), ['ndp', 'nptv6']);
  const isolated = classify(isolatedNet, c).net!;
  assert.equal(isolated.dockerNat, false);
  assert.deepEqual(isolated.subnets.map((s) => s.service), ['none', 'none']);
});

test('macvlan and ipvlan: shim, ndp on the parent for ipvlan l3, or none with the reason', () => {
  const services = (raw: ApiNetwork) => {
    const r = classify(raw, linkCtx);
    return { net: r.net!, services: r.net!.subnets.map((s) => [s.service, s.reason, s.uplink ?? '']), issues: r.issues.map((i) => i.msg) };
  };
  const lan = services(macvlanLan);
  assert.deepEqual(lan.services, [['shim', '', '']]);
  assert.equal(lan.net.driver, 'macvlan');
  assert.equal(lan.net.bridge, 'eth0', 'the parent');
  assert.equal(lan.net.driverMode, 'bridge', "Docker's default mode");
  assert.deepEqual(lan.issues, []);
  assert.deepEqual(services(macvlanVlan).services, [['shim', '', '']]);
  assert.equal(services(macvlanVlan).net.bridge, 'eth0.10');
  assert.deepEqual(services(ipvlanL2).services, [['shim', '', '']]);
  assert.equal(services(ipvlanL2).net.driverMode, 'l2');
  const priv = services(macvlanPrivate);
  assert.deepEqual(priv.services, [['none', 'macvlan-mode', '']]);
  assert.match(priv.issues[0], /macvlan mode private keeps its containers from the host's shim/);
  assert.deepEqual(services(macvlanOptedOut).services, [['none', 'shim-off', '']]);
  assert.deepEqual(services(macvlanInternal).services, [['none', 'internal', '']]);
  assert.deepEqual(services(ipvlanL3OnLink).services, [['ndp', '', 'eth0']]);
  const routed = services(ipvlanL3Routed);
  assert.deepEqual(routed.services, [['none', 'needs-route', '']]);
  assert.match(routed.issues[0], /the upstream router needs a route to it \(ip -6 route add 2001:db8:99::\/64 via <this host's address on eth0>\)/);
});
