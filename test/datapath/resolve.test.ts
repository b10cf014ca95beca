import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveModel, pickDedicated } from '../../src/datapath/resolve.js';
import type { DatapathModel } from '../../src/datapath/nat-model.js';
import { ConfigError } from '../../src/errors.js';
import { formatIpv6, parseIpv6 } from '../../src/wire/address.js';

const onLink = { uplinkAddresses: [{ address: '2001:db8:1::2', prefixLength: 64 }] };
const single = { uplinkAddresses: [{ address: '2001:db8:1::2', prefixLength: 128 }] };

function model(over: Partial<DatapathModel['networks'][number]> = {}, published: DatapathModel['published'] = []): DatapathModel {
  return { uplink: 'up0', networks: [{ name: 'web', bridge: 'br0', subnets: ['fd66:1::/64'], ...over }], published };
}

test('auto: an on-link prefix gives a dedicated address, stable per network name and never the host\'s', () => {
  const a = resolveModel(model(), onLink).model.networks[0]!;
  assert.equal(a.addressMode, 'dedicated');
  assert.match(a.externalAddresses[0]!, /^2001:db8:1::5167:[0-9a-f]+$/);
  assert.deepEqual(resolveModel(model(), onLink).model.networks[0]!.externalAddresses, a.externalAddresses);
  assert.notDeepEqual(resolveModel(model({ name: 'other' }), onLink).model.networks[0]!.externalAddresses, a.externalAddresses);
  const taken = parseIpv6(a.externalAddresses[0]!);
  const again = pickDedicated(parseIpv6('2001:db8:1::'), 64, 'web', [taken]);
  assert.notEqual(formatIpv6(again, 0), a.externalAddresses[0]);
  const small = pickDedicated(parseIpv6('2001:db8:1::ff00'), 120, 'web', []);
  assert.match(formatIpv6(small, 0), /^2001:db8:1::ff[0-9a-f]{2}$/);
});

test('auto: only a /128 on the uplink gives host-address mode with the reserved range', () => {
  const r = resolveModel(model(), single).model;
  assert.equal(r.networks[0]!.addressMode, 'host');
  assert.deepEqual(r.networks[0]!.externalAddresses, ['2001:db8:1::2']);
  assert.deepEqual(r.networks[0]!.portRange, [61000, 61999]);
});

test('explicit choices: dedicated addresses (host_ipv6), a host address, nptv6', () => {
  assert.deepEqual(resolveModel(model({ externalAddresses: ['2001:db8:1::0066'] }), onLink).model.networks[0]!.externalAddresses, ['2001:db8:1::66']);
  assert.equal(resolveModel(model({ externalAddresses: ['2001:db8:1::2'] }), onLink).model.networks[0]!.addressMode, 'host');
  assert.throws(() => resolveModel(model({ addressMode: 'dedicated', externalAddresses: ['2001:db8:1::2'] }), onLink), ConfigError);
  assert.throws(() => resolveModel(model({ addressMode: 'dedicated' }), single), /only \/128s/);
  const n = resolveModel(model({ mode: 'nptv6', externalPrefix: '2001:db8:66::/64' }), single).model.networks[0]!;
  assert.equal(n.mode, 'nptv6');
  assert.equal(n.addressMode, 'none');
});

test('host mode: every network behind the host address; networks sharing it must agree on filtering', () => {
  const three: DatapathModel = { uplink: 'up0', published: [], networks: ['a', 'b', 'c'].map((name, i) => (
    { name, bridge: `b${i}`, subnets: [`fd66:${i + 1}::/64`], addressMode: 'host' as const })) };
  const r = resolveModel(three, single).model.networks;
  assert.deepEqual(r.map((n) => [n.addressMode, n.externalAddresses[0], n.portRange]), [
    ['host', '2001:db8:1::2', [61000, 61999]], ['host', '2001:db8:1::2', [61000, 61999]], ['host', '2001:db8:1::2', [61000, 61999]],
  ]);
  const mixed = { ...three, networks: [three.networks[0]!, { ...three.networks[1]!, filtering: 'endpoint-independent' as const }] };
  assert.throws(() => resolveModel(mixed, single), /shares host address 2001:db8:1::2 with network "a" but not its filtering/);
});

test('host mode picks the address source selection prefers: not deprecated, not temporary, then the lowest (not the last added)', () => {
  const facts = { uplinkAddresses: [
    { address: '2001:db8:1::99', prefixLength: 64, flags: 0x80 },
    { address: '2001:db8:1::5', prefixLength: 64, flags: 0x80 | 0x20 }, // deprecated (preferred_lft 0)
    { address: '2001:db8:1:0:a1b2:c3d4:e5f6:1', prefixLength: 64, flags: 0x01 }, // temporary (privacy, "secondary")
    { address: '2001:db8:1::7', prefixLength: 64, flags: 0 }, // SLAAC: not permanent, still preferred
    { address: '2001:db8:1::2', prefixLength: 128, flags: 0x80 },
  ] };
  const pick = (f: typeof facts) => resolveModel(model({ addressMode: 'host' }), f).model.networks[0]!.externalAddresses[0];
  assert.equal(pick(facts), '2001:db8:1::2');
  // Whatever order the kernel lists them in.
  assert.equal(pick({ uplinkAddresses: [...facts.uplinkAddresses].reverse() }), '2001:db8:1::2');
  assert.equal(pick({ uplinkAddresses: facts.uplinkAddresses.slice(0, 3) }), '2001:db8:1::99');
  // Only deprecated or temporary ones left: still one of them rather than nothing.
  assert.equal(pick({ uplinkAddresses: facts.uplinkAddresses.slice(1, 3) }), '2001:db8:1::5');
});

test('published ports: "", 0.0.0.0 and :: mean every address (deduplicated); specific IPv6; IPv4 skipped unless mapped', () => {
  const p = (hostIp: string, hostPort = 8080) => ({ protocol: 'tcp' as const, hostIp, hostPort, containerAddress: 'fd66:1::2', containerPort: 80 });
  const { model: r, notes } = resolveModel(model({ externalAddresses: ['2001:db8:1::66'] },
    [p(''), p('0.0.0.0'), p('::'), p('2001:db8:1::66', 8081), p('2001:db8:1::99', 8082), p('192.0.2.1', 8083), p('198.51.100.1', 8084)]),
  onLink);
  assert.deepEqual(r.published.map((x) => [x.externalAddress, x.externalPort]), [[undefined, 8080], ['2001:db8:1::66', 8081]]);
  assert.equal(notes.filter((n) => n.includes('skipped')).length, 3);
  assert.ok(notes.some((n) => n.includes('192.0.2.1:8083') && n.includes('IPv4')));
  const mapped = resolveModel({ ...model({ externalAddresses: ['2001:db8:1::66'] }, [p('192.0.2.1', 8083)]), ipv4Map: { '192.0.2.1': '2001:db8:1::66' } }, onLink);
  assert.deepEqual(mapped.model.published.map((x) => x.externalAddress), ['2001:db8:1::66']);
  const outside = resolveModel(model({}, [{ ...p(''), containerAddress: 'fd99::2' }]), onLink);
  assert.equal(outside.model.published.length, 0);
});

test('dedicated mode: the host\'s address on the network\'s bridge is the source of its own connections to the external address', () => {
  const facts = { ...onLink, localAddresses: [
    { dev: 'up0', address: '2001:db8:1::2' }, { dev: 'br0', address: 'fd99::1' }, { dev: 'br0', address: 'fd66:1::1' }, { dev: 'br1', address: 'fd66:1::9' },
  ] };
  assert.equal(resolveModel(model(), facts).model.networks[0]!.localSource, 'fd66:1::1');
  assert.equal(resolveModel(model(), onLink).model.networks[0]!.localSource, undefined, 'no bridge address: the kernel chooses');
});

test('published ports on the host\'s addresses: every uplink address with publishOnHostAddresses, any address the host has when named, never twice', () => {
  const p = (hostIp: string, hostPort: number, containerAddress = 'fd66:1::2') => ({ protocol: 'tcp' as const, hostIp, hostPort, containerAddress, containerPort: 80 });
  const facts = {
    uplinkAddresses: [{ address: '2001:db8:1::3', prefixLength: 64 }, { address: '2001:db8:1::2', prefixLength: 64 }],
    localAddresses: [{ dev: 'dummy0', address: 'fd00:aa::1' }, { dev: 'br0', address: 'fd66:1::1' }],
  };
  const two: DatapathModel = {
    uplink: 'up0', publishOnHostAddresses: true,
    networks: [{ name: 'web', bridge: 'br0', subnets: ['fd66:1::/64'] }, { name: 'db', bridge: 'br1', subnets: ['fd66:2::/64'] }],
    published: [p('', 8080), p('::', 8080, 'fd66:2::2'), p('fd00:aa::1', 8081), p('fd66:1::1', 8082), p('2001:db8:9::1', 8083)],
  };
  const { model: r, notes } = resolveModel(two, facts);
  assert.deepEqual(r.hostAddresses, ['2001:db8:1::2', '2001:db8:1::3', 'fd00:aa::1']);
  assert.deepEqual(r.published.map((x) => `${x.externalAddress ?? '*'}:${x.externalPort} ${x.insideAddress}`), [
    '*:8080 fd66:1::2', '2001:db8:1::2:8080 fd66:1::2', '2001:db8:1::3:8080 fd66:1::2',
    // The other network's container keeps its own dedicated address; the host's addresses are taken.
    '*:8080 fd66:2::2', 'fd00:aa::1:8081 fd66:1::2',
  ]);
  assert.equal(notes.filter((n) => n.includes('where another container has that port')).length, 2);
  assert.ok(notes.some((n) => n.includes(':8082') && n.includes('skipped')), 'an address inside a NAT subnet is not the host\'s to publish on');
  assert.ok(notes.some((n) => n.includes(':8083') && n.includes('neither an external address')));
  // Without the option, "" and :: stay on the networks' addresses; host mode's address is its network's, not one more.
  assert.deepEqual(resolveModel({ ...two, publishOnHostAddresses: false }, facts).model.hostAddresses, ['fd00:aa::1']);
  const host = resolveModel({ ...two, networks: [{ ...two.networks[0]!, addressMode: 'host' }] }, facts).model;
  assert.deepEqual(host.hostAddresses, ['2001:db8:1::3', 'fd00:aa::1']);
  assert.deepEqual(host.published.filter((x) => x.externalPort === 8080).map((x) => x.externalAddress ?? '*'), ['*', '2001:db8:1::3']);
});

test('renumbering: the dedicated address moves to the preferred prefix; the deprecated one\'s stays as a draining address', () => {
  const renumbered = { uplinkAddresses: [
    { address: '2001:db8:1::2', prefixLength: 64, flags: 0x20 },
    { address: '2001:db8:9::2', prefixLength: 64 },
  ] };
  const n = resolveModel(model(), renumbered).model.networks[0]!;
  assert.match(n.externalAddresses[0]!, /^2001:db8:9::5167:/);
  assert.equal(n.drainingAddresses?.length, 1);
  assert.equal(n.drainingAddresses![0], resolveModel(model(), onLink).model.networks[0]!.externalAddresses[0]);
  // The old prefix gone: nothing drains.
  assert.equal(resolveModel(model(), { uplinkAddresses: [renumbered.uplinkAddresses[1]!] }).model.networks[0]!.drainingAddresses, undefined);
});

test('nptv6 auto: a range of the on-link prefix (never the host\'s), or a /64 of a delegated prefix; too short a subnet is refused', () => {
  const auto = (subnet: string, facts: Parameters<typeof resolveModel>[1]) =>
    resolveModel(model({ mode: 'nptv6', subnets: [subnet], externalPrefix: 'auto' }), facts).model.networks[0]!;
  const onRange = auto('fd66:7::/80', onLink);
  assert.match(onRange.externalPrefix!, /^2001:db8:1:0:[0-9a-f]{1,4}::\/80$/);
  assert.equal(onRange.prefixFrom, 'on-link');
  assert.deepEqual(auto('fd66:7::/80', onLink), onRange, 'stable');
  // A range holding the host's address is skipped.
  const p = parseIpv6(onRange.externalPrefix!.split('/')[0]!);
  p[15] = 9;
  assert.notEqual(auto('fd66:7::/80', { uplinkAddresses: [{ address: formatIpv6(p, 0), prefixLength: 64 }] }).externalPrefix, onRange.externalPrefix);
  assert.throws(() => auto('fd66:7::/64', onLink), /longer than \/64 \(e\.g\. \/80\), or a delegated prefix/);
  const delegated = auto('fd66:7::/64', { ...onLink, delegatedPrefixes: ['2001:db8:ff00::/56'] });
  assert.match(delegated.externalPrefix!, /^2001:db8:ff00:[0-9a-f]{0,2}::\/64$/);
  assert.equal(delegated.prefixFrom, 'delegated');
  // Two auto networks never share a prefix (and a /64 delegated has room for one only).
  const two = (delegatedPrefixes: string[]) => resolveModel({ uplink: 'up0', published: [], networks: [
    { name: 'a', bridge: 'br0', subnets: ['fd66:7::/64'], mode: 'nptv6', externalPrefix: 'auto' },
    { name: 'b', bridge: 'br1', subnets: ['fd66:8::/64'], mode: 'nptv6', externalPrefix: 'auto' },
  ] }, { ...onLink, delegatedPrefixes }).model.networks.map((n) => n.externalPrefix);
  const [a, b] = two(['2001:db8:ff00::/56']);
  assert.notEqual(a, b);
  assert.throws(() => two(['2001:db8:ff00::/64']), /no free range/);
});
