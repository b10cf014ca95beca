import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostPlan, natConfig, natPublished, publishedKey } from '../../src/datapath/plan.js';
import type { ResolvedModel } from '../../src/datapath/nat-model.js';
import { formatIpv6 } from '../../src/wire/address.js';
import { Nat66 } from '../../src/nat/nat66.js';
import { Verdict } from '../../src/nat/types.js';
import { ip6, ip6Text, udp6Packet } from '../support/packets.js';

const resolved: ResolvedModel = {
  uplink: 'up0', tun: 'sixgate0', hostPortRange: [61000, 61999], throwPrefixes: ['2001:db8:99::/48'], replyBridges: [], hostAddresses: [],
  networks: [
    { name: 'web', bridge: 'br0', subnets: ['fd66:1::/64'], mode: 'masquerade', addressMode: 'dedicated', externalAddresses: ['2001:db8:1::66'] },
    { name: 'lab', bridge: 'br1', subnets: ['fd66:2::/64'], mode: 'nptv6', addressMode: 'none', externalAddresses: [], externalPrefix: '2001:db8:66::/64' },
    { name: 'db', bridge: 'br2', subnets: ['fd66:3::/64'], mode: 'masquerade', addressMode: 'host', externalAddresses: ['2001:db8:1::2'], portRange: [61000, 61999] },
  ],
  published: [
    { protocol: 'tcp', externalPort: 8080, insideAddress: 'fd66:1::2', insidePort: 80 },
    { protocol: 'udp', externalPort: 5353, insideAddress: 'fd66:3::2', insidePort: 53 },
  ],
};

test('policy: a rule per subnet, default into the TUN, throws for every local prefix, routes for external addresses and prefixes', () => {
  const p = hostPlan(resolved);
  assert.deepEqual(p.policy.rules, [{ from: 'fd66:1::/64', iif: 'br0' }, { from: 'fd66:2::/64', iif: 'br1' }, { from: 'fd66:3::/64', iif: 'br2' }]);
  const routes = p.policy.routes.map((r) => `${r.type} ${r.dst} ${r.table}`);
  assert.ok(routes.includes('unicast default sixgate'));
  for (const t of ['fd66:1::/64', 'fd66:2::/64', 'fd66:3::/64', 'fe80::/10', '2001:db8:99::/48']) assert.ok(routes.includes(`throw ${t} sixgate`), t);
  assert.ok(routes.includes('unicast 2001:db8:1::66/128 main'));
  assert.ok(routes.includes('unicast 2001:db8:66::/64 main'));
  assert.ok(!routes.some((r) => r.includes('2001:db8:1::2/')), 'the host address itself is never routed into the TUN');
  // Fail closed: every route into the TUN has an unreachable twin, and nothing else has one.
  const unicast = routes.filter((r) => r.startsWith('unicast ')).map((r) => r.slice('unicast '.length));
  assert.deepEqual(routes.filter((r) => r.startsWith('unreachable ')).map((r) => r.slice('unreachable '.length)), unicast);
  assert.deepEqual(p.ndpAddresses, ['2001:db8:1::66']);
  assert.deepEqual(p.ndpPrefixes, ['2001:db8:66::/64']);
});

test('a dedicated address\'s route carries the bridge address as the source for the host\'s own connections', () => {
  const web = { ...resolved.networks[0]!, localSource: 'fd66:1::1' };
  const p = hostPlan({ ...resolved, networks: [web] });
  assert.deepEqual(p.policy.routes.filter((r) => r.dst === '2001:db8:1::66/128').map((r) => [r.type, r.src]), [['unicast', 'fd66:1::1'], ['unreachable', undefined]]);
});

test('reply bridges: every NAT subnet is also taken from the other bridges (multi-network containers), once per bridge', () => {
  const p = hostPlan({ ...resolved, networks: resolved.networks.slice(0, 1), replyBridges: ['br0', 'br-glob'] });
  assert.deepEqual(p.policy.rules, [{ from: 'fd66:1::/64', iif: 'br0' }, { from: 'fd66:1::/64', iif: 'br-glob' }]);
  assert.equal(p.policy.routes.filter((r) => r.type === 'throw' && r.dst === 'fd66:1::/64').length, 1);
});

test('host mode: the reserved range and its network\'s published ports are steered; the range is reserved', () => {
  const p = hostPlan(resolved);
  assert.deepEqual(p.steering.map((h) => `${h.dev} ${h.direction}`), ['up0 ingress', 'lo egress', 'br0 ingress', 'br1 ingress', 'br2 ingress']);
  const up = p.steering[0]!.specs;
  assert.equal(up.length, 1);
  assert.equal(formatIpv6(up[0]!.address, 0), '2001:db8:1::2');
  assert.deepEqual(up[0]!.ports.map((x) => `${x.protocol}:${x.lo}-${x.hi}`), ['6:61000-61999', '17:61000-61999', '132:61000-61999', '17:5353-5353']);
  assert.deepEqual(up[0]!.icmpTypes, [1, 2, 3, 4, 129]);
  // The host's own connections: only the published port; containers' also the range (hairpin answers) and the container's answers.
  assert.deepEqual(p.steering[1]!.specs[0]!.ports.map((x) => `${x.protocol}:${x.lo}-${x.hi}`), ['17:5353-5353']);
  const bridge = p.steering[2]!.specs[0]!;
  assert.equal(bridge.ports.length, 4);
  assert.deepEqual(bridge.from!.map((f) => `${f.protocol} [${formatIpv6(f.address, 0)}]:${f.port}`), ['17 [fd66:3::2]:53']);
  assert.deepEqual(p.reservedPorts, [61000, 61999]);
});

test('published ports on the host\'s addresses: one more engine network, first, with no inside subnet; steered on the uplink, lo and every bridge', () => {
  const m: ResolvedModel = {
    ...resolved, networks: resolved.networks.slice(0, 2), hostAddresses: ['2001:db8:1::2', '2001:db8:1::3'],
    published: [
      { protocol: 'udp', externalPort: 8080, insideAddress: 'fd66:1::2', insidePort: 80 },
      { protocol: 'udp', externalAddress: '2001:db8:1::2', externalPort: 8080, insideAddress: 'fd66:1::2', insidePort: 80 },
      { protocol: 'udp', externalAddress: '2001:db8:1::3', externalPort: 8080, insideAddress: 'fd66:1::2', insidePort: 80 },
    ],
  };
  const cfg = natConfig(m);
  assert.deepEqual(cfg.networks.map((n) => [n.name, n.insideSubnets, n.externalAddresses ?? n.externalPrefix, n.hostOwned ?? false]), [
    ['(host)', [], ['2001:db8:1::2', '2001:db8:1::3'], true],
    ['web', ['fd66:1::/64'], ['2001:db8:1::66'], false],
    ['lab', ['fd66:2::/64'], '2001:db8:66::/64', false],
  ]);
  const p = hostPlan(m);
  assert.deepEqual(p.steering.map((h) => `${h.dev} ${h.direction} ${h.specs.map((s) => formatIpv6(s.address, 0)).join(',')}`),
    ['up0 ingress 2001:db8:1::2,2001:db8:1::3', 'lo egress 2001:db8:1::2,2001:db8:1::3', 'br0 ingress 2001:db8:1::2,2001:db8:1::3', 'br1 ingress 2001:db8:1::2,2001:db8:1::3']);
  const up = p.steering[0]!.specs[0]!;
  assert.deepEqual(up.ports, [{ protocol: 17, lo: 8080, hi: 8080 }]);
  assert.deepEqual(up.icmpTypes, [1, 2, 3, 4], 'echo replies to an address nothing leaves from are never sixgate\'s');
  assert.equal(p.reservedPorts, undefined);

  // The engine: the port answers on either host address with the client's address; the answer
  // leaves from the address the client used; the container's answer to the host's own
  // connection (hairpinned back to a port of the host that is not sixgate's) goes to the host.
  const nat = new Nat66({ ...cfg, capacity: 1024, seed: 7 });
  for (const q of natPublished(m)) nat.published.add(q);
  const buf = new Uint8Array(2048);
  const client = ip6('2001:db8:2::2');
  for (const [i, host] of ['2001:db8:1::2', '2001:db8:1::3'].entries()) {
    let len = udp6Packet(buf, 0, client, ip6(host), 5000 + i, 8080, new Uint8Array(8));
    assert.equal(nat.translate(buf, 0, len, 0), Verdict.Forward, `in on ${host}`);
    assert.equal(ip6Text(buf, 8), '2001:db8:2::2');
    assert.equal(ip6Text(buf, 24), 'fd66:1::2');
    len = udp6Packet(buf, 0, ip6('fd66:1::2'), client, 80, 5000 + i, new Uint8Array(8));
    assert.equal(nat.translate(buf, 0, len, 0), Verdict.Forward, `answer via ${host}`);
    assert.equal(ip6Text(buf, 8), host);
  }
  // The host itself (its own address as the source) to its published port, and the answer.
  let len = udp6Packet(buf, 0, ip6('2001:db8:1::2'), ip6('2001:db8:1::2'), 40000, 8080, new Uint8Array(8));
  assert.equal(nat.translate(buf, 0, len, 0), Verdict.Forward);
  assert.equal(ip6Text(buf, 24), 'fd66:1::2');
  len = udp6Packet(buf, 0, ip6('fd66:1::2'), ip6('2001:db8:1::2'), 80, 40000, new Uint8Array(8));
  assert.equal(nat.translate(buf, 0, len, 0), Verdict.Forward, 'to the host, not dropped');
  assert.equal(ip6Text(buf, 8), '2001:db8:1::2');
  assert.equal((buf[40] << 8) | buf[41], 8080);
  assert.equal(ip6Text(buf, 24), '2001:db8:1::2');

  // A published port's session on a host address (another engine network's) holds across a reconfiguration.
  len = udp6Packet(buf, 0, client, ip6('2001:db8:1::3'), 6000, 8080, new Uint8Array(8));
  assert.equal(nat.translate(buf, 0, len, 0), Verdict.Forward);
  const more = { ...m, networks: [...m.networks, { ...m.networks[0]!, name: 'db', bridge: 'br2', subnets: ['fd66:3::/64'], externalAddresses: ['2001:db8:1::67'] }] };
  assert.equal(nat.reconfigure({ ...natConfig(more), capacity: 1024, seed: 7, published: natPublished(more) }).sessionsDropped, 0);
  len = udp6Packet(buf, 0, ip6('fd66:1::2'), client, 80, 6000, new Uint8Array(8));
  assert.equal(nat.translate(buf, 0, len, 0), Verdict.Forward);
  assert.equal(ip6Text(buf, 8), '2001:db8:1::3');
});

test('NAT config builds a working engine; published port keys', () => {
  const nat = new Nat66({ ...natConfig(resolved), capacity: 1024 });
  assert.equal(nat.cfg.netCount, 3);
  assert.equal(publishedKey({ protocol: 'tcp', externalPort: 1, insideAddress: 'fd66:1::2', insidePort: 2 }), 'tcp [*]:1 -> [fd66:1::2]:2');
});

test('host mode, three networks behind one address: one engine network, one port allocator, one steering set', () => {
  const host = (name: string, i: number) => ({
    name, bridge: `br${i}`, subnets: [`fd67:${i}::/64`], mode: 'masquerade' as const, addressMode: 'host' as const,
    externalAddresses: ['2001:db8:1::2'], portRange: [61000, 61999] as const,
  });
  const three: ResolvedModel = {
    ...resolved, throwPrefixes: [],
    networks: [resolved.networks[0]!, host('a', 1), host('b', 2), host('c', 3)],
    published: [1, 2, 3].map((i) => ({ protocol: 'udp' as const, externalPort: 8080 + i, insideAddress: `fd67:${i}::2`, insidePort: 80 })),
  };
  const cfg = natConfig(three);
  assert.deepEqual(cfg.networks.map((n) => [n.name, n.insideSubnets, n.externalAddresses]), [
    ['web', ['fd66:1::/64'], ['2001:db8:1::66']],
    ['a+b+c', ['fd67:1::/64', 'fd67:2::/64', 'fd67:3::/64'], ['2001:db8:1::2']],
  ]);
  const p = hostPlan(three);
  assert.equal(p.steering[0]!.specs.length, 1);
  assert.deepEqual(p.steering[0]!.specs[0]!.ports.filter((x) => x.protocol === 17).map((x) => `${x.lo}-${x.hi}`), ['61000-61999', '8081-8081', '8082-8082', '8083-8083']);
  // Every network keeps its own policy rule (its own bridge).
  assert.deepEqual(p.policy.rules.map((r) => r.iif), ['br0', 'br1', 'br2', 'br3']);

  // The engine: a flow from each network leaves from the host address on a port of its own,
  // the answer comes back to the right container, and each network's published port answers.
  const nat = new Nat66({ ...cfg, capacity: 1024, seed: 7 });
  for (const q of natPublished(three)) nat.published.add(q);
  const buf = new Uint8Array(2048);
  const inet = ip6('2001:db8:2::2');
  const hostAddr = ip6('2001:db8:1::2');
  const ports = new Set<number>();
  for (const i of [1, 2, 3]) {
    const len = udp6Packet(buf, 0, ip6(`fd67:${i}::2`), inet, 40000, 53, new Uint8Array(8));
    assert.equal(nat.translate(buf, 0, len, 0), Verdict.Forward, `outbound from network ${i}`);
    assert.equal(ip6Text(buf, 8), '2001:db8:1::2');
    const port = (buf[40] << 8) | buf[41];
    assert.ok(port >= 61000 && port <= 61999, `port ${port} in the reserved range`);
    ports.add(port);
    const back = udp6Packet(buf, 0, inet, hostAddr, 53, port, new Uint8Array(8));
    assert.equal(nat.translate(buf, 0, back, 0), Verdict.Forward, `reply to network ${i}`);
    assert.equal(ip6Text(buf, 24), `fd67:${i}::2`);
  }
  assert.equal(ports.size, 3, 'one allocator: the same inside port gets three external ports');
  for (const i of [1, 2, 3]) {
    const len = udp6Packet(buf, 0, inet, hostAddr, 5000, 8080 + i, new Uint8Array(8));
    assert.equal(nat.translate(buf, 0, len, 0), Verdict.Forward, `published port of network ${i}`);
    assert.equal(ip6Text(buf, 24), `fd67:${i}::2`);
    assert.equal((buf[42] << 8) | buf[43], 80);
  }
});
