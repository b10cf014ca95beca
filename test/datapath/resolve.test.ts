import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveModel, pickDedicated } from '../../src/datapath/resolve.js';
import type { DatapathModel } from '../../src/datapath/model.js';
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
  const two: DatapathModel = { uplink: 'up0', published: [], networks: [
    { name: 'a', bridge: 'b1', subnets: ['fd66:1::/64'], addressMode: 'host' },
    { name: 'b', bridge: 'b2', subnets: ['fd66:2::/64'], addressMode: 'host' },
  ] };
  assert.throws(() => resolveModel(two, single), /already serves another network/);
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
