// The model and its deltas, from API JSON shaped like Docker 20.10's (no engine needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { containerFromSummary } from '../../src/docker/containers.js';
import { DockerModel, type ModelIssue } from '../../src/docker/docker-model.js';
import { C1, C2, NA, NB, NG, kinds, model, networks, summary } from './fixtures.js';
import { gatewayCtx, isolatedNet, routedNet } from './gateway-fixtures.js';

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


test('Docker 27/28 routed network: container addresses on the uplink go to the NDP proxy; isolated networks give nothing', () => {
  const issues: ModelIssue[] = [];
  const m = new DockerModel({ ...gatewayCtx, dockerIp6tables: true }, (i) => issues.push(i));
  const c = containerFromSummary(summary(C2, { routed: [routedNet.Id!, '2001:db8:5:0:27::2'] },
    [{ IP: '::', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' }]))!;
  assert.deepEqual(kinds(m.replaceAll([routedNet, isolatedNet], [c])), [
    'network-added routed', 'network-added isolated',
    'address-added routed 2001:db8:5:0:27::2',
    'port-added tcp * 8080->2001:db8:5:0:27::2 80',
  ]);
  assert.deepEqual(m.addresses().map((a) => [a.address, a.service, a.uplink]), [['2001:db8:5:0:27::2', 'ndp', 'eth0']]);
  // Docker serves a routed port on the container's own address; NAT66 consumers take 'nat66' ports only.
  assert.deepEqual(m.ports().map((p) => p.service), ['ndp']);
  assert.deepEqual(issues, []);
});
