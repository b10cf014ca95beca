// The model and its deltas, from API JSON shaped like Docker 20.10's (no engine needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DockerModel, type FeedDelta, type ModelIssue } from '../../src/docker/model.js';
import { containerFromInspect, containerFromSummary, type ContainerInfo } from '../../src/docker/containers.js';
import { applyNdpDeltas, natView, touchesNat } from '../../src/docker/consumers.js';
import type { ApiContainerInspect, ApiContainerSummary, ApiNetwork } from '../../src/docker/api-types.js';

const ctx = { uplinks: [{ name: 'eth0', prefixes: ['2001:db8:5::/64'] }], dockerIp6tables: false };
const NA = 'a'.repeat(64);
const NB = 'b'.repeat(64);
const NG = 'c'.repeat(64);
const C1 = '1'.repeat(64);
const C2 = '2'.repeat(64);

const networks: ApiNetwork[] = [
  { Id: NA, Name: 'alpha', Driver: 'bridge', IPAM: { Config: [{ Subnet: '172.18.0.0/16' }, { Subnet: 'fd00:a::/64' }] }, Options: {} },
  { Id: NB, Name: 'beta', Driver: 'bridge', IPAM: { Config: [{ Subnet: 'fd00:b::/64' }] }, Options: {} },
  { Id: NG, Name: 'glob', Driver: 'bridge', IPAM: { Config: [{ Subnet: '2001:db8:5:0:1::/80' }] }, Options: {} },
  { Id: 'd'.repeat(64), Name: 'host', Driver: 'host', IPAM: { Config: [] } },
];

function summary(id: string, nets: Record<string, [string, string]>, ports: ApiContainerSummary['Ports'] = []): ApiContainerSummary {
  return {
    Id: id, Names: [`/c${id[0]}`], State: 'running', Ports: ports,
    NetworkSettings: { Networks: Object.fromEntries(Object.entries(nets).map(([name, [nid, addr]]) => [name, { NetworkID: nid, GlobalIPv6Address: addr, GlobalIPv6PrefixLen: 64 }])) },
  };
}

const kinds = (deltas: FeedDelta[]) => deltas.map((d) => {
  switch (d.kind) {
    case 'address-added': case 'address-removed': return `${d.kind} ${d.address.networkName} ${d.address.address}`;
    case 'port-added': case 'port-removed': return `${d.kind} ${d.port.protocol} ${d.port.hostAddress ?? '*'} ${d.port.hostPort}->${d.port.containerAddress} ${d.port.containerPort}`;
    default: return `${d.kind} ${d.network.name}`;
  }
});

function model(): { m: DockerModel; issues: ModelIssue[] } {
  const issues: ModelIssue[] = [];
  return { m: new DockerModel(ctx, (i) => issues.push(i)), issues };
}

test('resync: networks first, then addresses, then ports; a second identical resync emits nothing', () => {
  const { m } = model();
  const c1 = containerFromSummary(summary(C1, { alpha: [NA, 'fd00:a::2'] }, [
    { IP: '0.0.0.0', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' },
    { IP: '::', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' },
    { PrivatePort: 99, Type: 'tcp' },
  ]))!;
  const deltas = m.replaceAll(networks, [c1]);
  assert.deepEqual(kinds(deltas), [
    'network-added alpha', 'network-added beta', 'network-added glob',
    'address-added alpha fd00:a::2',
    'port-added tcp * 8080->fd00:a::2 80',
  ]);
  assert.deepEqual(m.replaceAll(networks, [c1]), []);
});

test('a container on several networks: every address, sorted; ports on the nat66 network, ties by name (B3)', () => {
  const { m } = model();
  const c = containerFromSummary(summary(C1, { glob: [NG, '2001:db8:5:0:1::2'], beta: [NB, 'fd00:b::2'], alpha: [NA, 'fd00:a::2'] },
    [{ IP: '::', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' }]))!;
  m.replaceAll(networks, [c]);
  assert.deepEqual(m.addresses().map((a) => [a.networkName, a.address, a.service, a.uplink]), [
    ['alpha', 'fd00:a::2', 'nat66', undefined], ['beta', 'fd00:b::2', 'nat66', undefined], ['glob', '2001:db8:5:0:1::2', 'ndp', 'eth0'],
  ]);
  assert.deepEqual(m.ports().map((p) => [p.networkName, p.containerAddress]), [['alpha', 'fd00:a::2']]);
  // Leaving alpha moves the port to beta, as one remove and one add.
  const moved = m.upsertContainer({ ...c, endpoints: c.endpoints.filter((e) => e.networkName !== 'alpha') });
  assert.deepEqual(kinds(moved), [
    'port-removed tcp * 8080->fd00:a::2 80', 'address-removed alpha fd00:a::2', 'port-added tcp * 8080->fd00:b::2 80',
  ]);
});

test('host addresses: ""/0.0.0.0/:: are every address (deduplicated), IPv6 kept, IPv4 and loopback skipped with a line', () => {
  const { m, issues } = model();
  const c = containerFromSummary(summary(C1, { alpha: [NA, 'fd00:a::2'] }, [
    { IP: '', PrivatePort: 80, PublicPort: 80, Type: 'tcp' },
    { IP: '0.0.0.0', PrivatePort: 80, PublicPort: 80, Type: 'tcp' },
    { IP: '::', PrivatePort: 80, PublicPort: 80, Type: 'tcp' },
    { IP: '2001:DB8::0005', PrivatePort: 53, PublicPort: 5353, Type: 'udp' },
    { IP: '127.0.0.1', PrivatePort: 22, PublicPort: 2222, Type: 'tcp' },
    { IP: '::1', PrivatePort: 23, PublicPort: 2323, Type: 'tcp' },
    { IP: '::', PrivatePort: 9, PublicPort: 9, Type: 'sctp' },
    { IP: '::', PrivatePort: 10, PublicPort: 10, Type: 'bogus' },
  ]))!;
  m.replaceAll(networks, [c]);
  assert.deepEqual(m.ports().map((p) => `${p.protocol} ${p.hostAddress ?? '*'} ${p.hostPort}->${p.containerPort}`), [
    'sctp * 9->9', 'tcp * 80->80', 'udp 2001:db8::5 5353->53',
  ]);
  assert.deepEqual(issues.map((i) => i.msg), [
    'container c1: port 2222 is published on IPv4 127.0.0.1 only: no IPv6 mapping',
    'container c1: port 2323 is published on ::1, which NAT cannot serve: skipped',
  ]);
  // Logged once while it lasts, not on every recompute.
  m.replaceAll(networks, [c]);
  assert.equal(issues.length, 2);
});

test('inspect: allocated ports (ephemeral, ranges, -P) win; requested fixed bindings fill in; list and inspect agree', () => {
  const inspect: ApiContainerInspect = {
    Id: C1, Name: '/c1', State: { Running: true },
    HostConfig: { PortBindings: {
      '80/tcp': [{ HostIp: '', HostPort: '' }],
      '7000/udp': [{ HostIp: '', HostPort: '9000-9002' }],
      '443/tcp': [{ HostIp: '', HostPort: '8443' }],
    } },
    NetworkSettings: {
      Ports: {
        '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '49153' }, { HostIp: '::', HostPort: '49153' }],
        '7000/udp': [{ HostIp: '0.0.0.0', HostPort: '9000' }, { HostIp: '::', HostPort: '9000' }],
        '5000/tcp': null,
      },
      Networks: { alpha: { NetworkID: NA, GlobalIPv6Address: 'fd00:a::2', GlobalIPv6PrefixLen: 64 } },
    },
  };
  const info = containerFromInspect(inspect)!;
  assert.deepEqual(info.bindings.map((b) => `${b.protocol} ${b.hostIp} ${b.hostPort}->${b.containerPort}`), [
    'tcp 0.0.0.0 49153->80', 'tcp :: 49153->80', 'udp 0.0.0.0 9000->7000', 'udp :: 9000->7000', 'tcp  8443->443',
  ]);
  const list = containerFromSummary(summary(C1, { alpha: [NA, 'fd00:a::2'] }, [
    { IP: '0.0.0.0', PrivatePort: 80, PublicPort: 49153, Type: 'tcp' }, { IP: '::', PrivatePort: 80, PublicPort: 49153, Type: 'tcp' },
    { IP: '0.0.0.0', PrivatePort: 7000, PublicPort: 9000, Type: 'udp' }, { IP: '::', PrivatePort: 7000, PublicPort: 9000, Type: 'udp' },
    { IP: '', PrivatePort: 443, PublicPort: 8443, Type: 'tcp' },
  ]))!;
  const a = model().m;
  const b = model().m;
  a.replaceAll(networks, [list]);
  b.replaceAll(networks, []);
  b.upsertContainer(info);
  assert.deepEqual(a.ports(), b.ports());
  assert.deepEqual(a.addresses(), b.addresses());
  assert.equal(containerFromInspect({ ...inspect, State: { Running: false } })!.running, false);
});

test('stop, disconnect and removal leave nothing behind; network removal goes last', () => {
  const { m } = model();
  const c1 = containerFromSummary(summary(C1, { alpha: [NA, 'fd00:a::2'] }, [{ IP: '::', PrivatePort: 80, PublicPort: 80, Type: 'tcp' }]))!;
  const c2 = containerFromSummary(summary(C2, { alpha: [NA, 'fd00:a::3'], glob: [NG, '2001:db8:5:0:1::3'] }))!;
  m.replaceAll(networks, [c1, c2]);
  assert.deepEqual(kinds(m.upsertContainer({ ...c1, running: false })), ['port-removed tcp * 80->fd00:a::2 80', 'address-removed alpha fd00:a::2']);
  assert.deepEqual(kinds(m.removeContainer(C1)), []);
  assert.deepEqual(kinds(m.removeNetwork(NA)), ['address-removed alpha fd00:a::3', 'network-removed alpha']);
  assert.deepEqual(kinds(m.removeContainer(C2)), ['address-removed glob 2001:db8:5:0:1::3']);
  assert.deepEqual([m.addresses(), m.ports()], [[], []]);
  assert.equal(m.containerCount, 0);
});

test('a container seen before its network: the network, when it comes, brings the address along', () => {
  const { m } = model();
  m.replaceAll(networks.filter((n) => n.Id !== NB), []);
  const c = containerFromSummary(summary(C1, { beta: [NB, 'fd00:b::2'] }))!;
  assert.deepEqual(m.unknownNetworksOf(c), [NB]);
  assert.deepEqual(m.upsertContainer(c), []);
  assert.deepEqual(kinds(m.upsertNetwork(networks[1])), ['network-added beta', 'address-added beta fd00:b::2']);
  assert.equal(m.knowsNetwork('d'.repeat(64)), true, 'ignored networks are known (not fetched again)');
});

test('a changed context (uplink prefixes) changes networks and the services of their addresses', () => {
  const { m } = model();
  m.replaceAll(networks, [containerFromSummary(summary(C1, { glob: [NG, '2001:db8:5:0:1::2'] }))!]);
  const deltas = m.setContext({ uplinks: [], dockerIp6tables: false });
  assert.deepEqual(kinds(deltas), ['network-changed glob', 'address-removed glob 2001:db8:5:0:1::2', 'address-added glob 2001:db8:5:0:1::2']);
  const added = deltas.find((d) => d.kind === 'address-added');
  assert.ok(added?.kind === 'address-added' && added.address.service === 'none');
});

test('consumers: NDP follows ndp address deltas; the NAT view has nat66/nptv6 networks and nat66 ports', () => {
  const { m } = model();
  const nets: ApiNetwork[] = [...networks, { Id: 'e'.repeat(64), Name: 'npt', Driver: 'bridge', IPAM: { Config: [{ Subnet: 'fd00:e::/64' }] },
    Labels: { 'sixgate.nptv6': '2001:db8:7::/64' }, Options: { 'com.docker.network.host_ipv6': '2001:db8:5::99' } }];
  const c: ContainerInfo = containerFromSummary(summary(C1, { alpha: [NA, 'fd00:a::2'], glob: [NG, '2001:db8:5:0:1::2'] },
    [{ IP: '::', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' }, { IP: '2001:db8:5::7', PrivatePort: 53, PublicPort: 53, Type: 'udp' }]))!;
  const deltas = m.replaceAll(nets, [c]);
  const calls: string[] = [];
  assert.equal(applyNdpDeltas(deltas, { add: (u, a) => calls.push(`+${u} ${a}`), remove: (u, a) => calls.push(`-${u} ${a}`) }), 1);
  assert.deepEqual(calls, ['+eth0 2001:db8:5:0:1::2']);
  assert.ok(touchesNat(deltas));
  assert.ok(!touchesNat(deltas.filter((d) => d.kind === 'address-added')));
  const view = natView({ networks: m.networks(), addresses: m.addresses(), ports: m.ports() }, () => ['2001:db8:5::10']);
  assert.deepEqual(view.networks, [
    { name: 'alpha', insideSubnets: ['fd00:a::/64'], mode: 'masquerade', externalAddresses: ['2001:db8:5::10'] },
    { name: 'beta', insideSubnets: ['fd00:b::/64'], mode: 'masquerade', externalAddresses: ['2001:db8:5::10'] },
    { name: 'npt/nptv6', insideSubnets: ['fd00:e::/64'], mode: 'nptv6', externalPrefix: '2001:db8:7::/64' },
  ]);
  assert.deepEqual(view.published, [
    { protocol: 'tcp', externalPort: 8080, insideAddress: 'fd00:a::2', insidePort: 80 },
    { protocol: 'udp', externalAddress: '2001:db8:5::7', externalPort: 53, insideAddress: 'fd00:a::2', insidePort: 53 },
  ]);
});
