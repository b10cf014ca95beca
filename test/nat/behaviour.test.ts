// NAT behaviour (RFC 4787/5382/5508/6146): timers on an injected clock,
// mapping and filtering, hairpinning, published ports, pressure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Nat66, NatBatch, DIR_IN, DIR_OUT } from '../../src/nat/nat66.js';
import { tcpNext } from '../../src/nat/tcp-state.js';
import { NatDrop } from '../../src/nat/drop.js';
import { WireError } from '../../src/wire/error.js';
import { Verdict, TcpState, NatCounter } from '../../src/nat/types.js';
import { ConfigError } from '../../src/errors.js';
import { crc32c } from '../../src/wire/sctp.js';
import type { NatConfig } from '../../src/nat/engine-config.js';
import {
  udpPacket, tcpPacket, echoPacket, srcText, dstText, portsOf, checksumOk, addr, TCP_SYN, TCP_ACK, TCP_FIN, TCP_RST,
} from './support.js';
import { jumbogram } from '../support/packets.js';

const EXT = '2001:db8:ffff::1';
const A = 'fd00::a';
const B = 'fd00::b';
const R1 = '2001:db8:1::1';
const R2 = '2001:db8:2::2';

function nat(extra: Partial<NatConfig> = {}, filtering?: 'endpoint-independent'): Nat66 {
  return new Nat66({
    networks: [{ name: 'docker0', insideSubnets: ['fd00::/64'], externalAddresses: [EXT], filtering }],
    capacity: 64, seed: 1, ...extra,
  });
}

function out(n: Nat66, p: Uint8Array, now: number): number {
  return n.translate(p, 0, p.length, now);
}

function inn(n: Nat66, p: Uint8Array, now: number): number {
  return n.translate(p, 0, p.length, now);
}

test('UDP: 5 minutes idle by default, refreshed both ways', () => {
  const n = nat();
  assert.equal(out(n, udpPacket(A, 5000, R1, 53), 0), Verdict.Forward);
  assert.equal(inn(n, udpPacket(R1, 53, EXT, 5000), 299_000), Verdict.Forward, 'inbound refreshes (RFC 4787 REQ-6 allows it)');
  n.expire(598_000);
  assert.equal(inn(n, udpPacket(R1, 53, EXT, 5000), 598_000), Verdict.Forward);
  n.expire(898_000 + 1000);
  assert.equal(n.table.count, 0);
  assert.equal(inn(n, udpPacket(R1, 53, EXT, 5000), 899_000), -NatDrop.NoMapping);
  assert.equal(n.counters[NatCounter.SessionsExpired], 1);
});

test('timers are configurable; an expired session is not used even before expire() runs', () => {
  assert.throws(() => nat({ timers: { udp: -1 } }), ConfigError);
  const n = nat({ timers: { udp: 120_000 } });
  out(n, udpPacket(A, 5000, R1, 53), 0);
  assert.equal(inn(n, udpPacket(R1, 53, EXT, 5000), 119_000), Verdict.Forward);
  assert.equal(inn(n, udpPacket(R1, 53, EXT, 5000), 240_000), -NatDrop.NoMapping);
});

test('ICMPv6 echo: identifier mapped like a port, 60 s, replies only', () => {
  const n = nat();
  const req = echoPacket(A, R1, 128, 0x1234);
  assert.equal(out(n, req, 0), Verdict.Forward);
  assert.ok(checksumOk(req));
  const id = portsOf(req)!.src;
  assert.equal(inn(n, echoPacket(R1, EXT, 129, id), 59_000), Verdict.Forward);
  assert.equal(inn(n, echoPacket(R2, EXT, 128, id), 60_000), -NatDrop.Filtered, 'an echo request from elsewhere opens nothing');
  const eif = nat({}, 'endpoint-independent');
  out(eif, echoPacket(A, R1, 128, 0x1234), 0);
  assert.equal(inn(eif, echoPacket(R2, EXT, 128, id), 1), -NatDrop.NoSession, 'not even with full-cone filtering');
  assert.equal(inn(n, echoPacket(R1, EXT, 129, id), 120_000), -NatDrop.NoMapping);
  assert.equal(out(n, echoPacket(A, R1, 129, 77), 0), -NatDrop.NoSession, 'an echo reply from inside opens nothing');
});

test('TCP: RFC 6146 states, established 2 h 4 min, transitory 4 min', () => {
  const n = nat();
  const state = () => n.listSessions()[0]?.state;
  assert.equal(out(n, tcpPacket(A, 40000, R1, 443, TCP_SYN), 0), Verdict.Forward);
  assert.equal(state(), 'syn-out');
  assert.equal(n.listSessions()[0].expiresInMs, 240_000);
  assert.equal(inn(n, tcpPacket(R1, 443, EXT, 40000, TCP_SYN | TCP_ACK), 1000), Verdict.Forward);
  assert.equal(state(), 'established');
  assert.equal(n.listSessions()[0].expiresInMs, 7_440_000);
  // Idle for 2 h: still there.
  assert.equal(out(n, tcpPacket(A, 40000, R1, 443, TCP_ACK), 7_000_000), Verdict.Forward);
  assert.equal(out(n, tcpPacket(A, 40000, R1, 443, TCP_FIN | TCP_ACK), 7_000_001), Verdict.Forward);
  assert.equal(state(), 'fin-out');
  assert.equal(inn(n, tcpPacket(R1, 443, EXT, 40000, TCP_FIN | TCP_ACK), 7_000_002), Verdict.Forward);
  assert.equal(state(), 'fin-both');
  n.expire(7_000_002 + 239_000);
  assert.equal(n.table.count, 1);
  n.expire(7_000_002 + 241_000);
  assert.equal(n.table.count, 0);
});

test('TCP: simultaneous open, RST handling, no session from a RST', () => {
  const n = nat({}, 'endpoint-independent');
  out(n, tcpPacket(A, 40001, R1, 5000, TCP_SYN), 0);
  assert.equal(inn(n, tcpPacket(R1, 5000, EXT, 40001, TCP_SYN), 10), Verdict.Forward, 'crossing SYNs');
  assert.equal(n.listSessions()[0].state, 'established');
  assert.equal(out(n, tcpPacket(A, 40001, R1, 5000, TCP_RST), 20), Verdict.Forward);
  assert.equal(n.listSessions()[0].state, 'transitory');
  assert.equal(out(n, tcpPacket(A, 40002, R1, 5000, TCP_RST), 20), -NatDrop.NoSession);
  // The state machine itself.
  assert.equal(tcpNext(TcpState.SynIn, TCP_SYN | TCP_ACK, DIR_OUT), TcpState.Established);
  assert.equal(tcpNext(TcpState.Trans, TCP_ACK, DIR_IN), TcpState.Established);
  assert.equal(tcpNext(TcpState.FinBoth, TCP_SYN, DIR_OUT), TcpState.SynOut);
  assert.equal(tcpNext(TcpState.Established, TCP_RST | TCP_ACK, DIR_IN), TcpState.Trans);
});

test('endpoint-independent mapping; address-and-port-dependent filtering by default', () => {
  const n = nat({ networks: [{ name: 'd', insideSubnets: ['fd00::/64'], externalAddresses: [EXT], portRange: [30000, 30009] }] });
  const p1 = udpPacket(A, 5000, R1, 53);
  const p2 = udpPacket(A, 5000, R2, 123);
  out(n, p1, 0);
  out(n, p2, 0);
  const port = portsOf(p1)!.src;
  assert.ok(port >= 30000 && port <= 30009);
  assert.equal(portsOf(p2)!.src, port, 'same mapping for every destination (REQ-1)');
  const other = udpPacket(B, 5000, R1, 53);
  out(n, other, 0);
  assert.notEqual(portsOf(other)!.src, port, 'another inside host gets another port');
  assert.equal(inn(n, udpPacket(R1, 53, EXT, port), 1), Verdict.Forward);
  assert.equal(inn(n, udpPacket(R1, 54, EXT, port), 1), -NatDrop.Filtered, 'other remote port');
  assert.equal(inn(n, udpPacket('2001:db8:3::3', 53, EXT, port), 1), -NatDrop.Filtered, 'other remote');
});

test('endpoint-independent filtering (full cone) admits any remote to a live mapping', () => {
  const n = nat({}, 'endpoint-independent');
  const p = udpPacket(A, 5000, R1, 3478);
  out(n, p, 0);
  const port = portsOf(p)!.src;
  const from2 = udpPacket(R2, 9999, EXT, port);
  assert.equal(inn(n, from2, 1), Verdict.Forward);
  assert.equal(dstText(from2), A);
  assert.equal(portsOf(from2)!.dst, 5000);
  assert.ok(checksumOk(from2));
  assert.equal(n.table.count, 2, 'a session for the new remote joins the mapping');
  assert.equal(inn(n, udpPacket(R2, 9999, EXT, port + 1), 1), -NatDrop.NoMapping);
});

test('port preservation when free, port range respected, exhaustion refused and counted', () => {
  const n = nat({ networks: [{ name: 'd', insideSubnets: ['fd00::/64'], externalAddresses: [EXT], portRange: [2000, 2001] }] });
  const a = udpPacket(A, 2001, R1, 53);
  out(n, a, 0);
  assert.equal(portsOf(a)!.src, 2001, 'preserved');
  const b = udpPacket(B, 2001, R1, 53);
  out(n, b, 0);
  assert.equal(portsOf(b)!.src, 2000);
  // Answered, so neither is reclaimed for the next one (fairness.test.ts covers reclaiming).
  inn(n, udpPacket(R1, 53, EXT, 2001), 0);
  inn(n, udpPacket(R1, 53, EXT, 2000), 0);
  assert.equal(out(n, udpPacket('fd00::c', 2001, R1, 53), 0), -NatDrop.PortsExhausted);
  assert.equal(n.drops[NatDrop.PortsExhausted], 1);
  assert.equal(out(n, udpPacket(A, 2001, R2, 53), 0), Verdict.Forward, 'an existing mapping still opens sessions');
});

test('table full of answered sessions: new flows refused, established ones unaffected, idle UDP reclaimed first', () => {
  const n = nat({ capacity: 3, timers: { reclaimIdle: 30_000 } });
  out(n, tcpPacket(A, 2001, R1, 80, TCP_SYN), 0);
  inn(n, tcpPacket(R1, 80, EXT, 2001, TCP_SYN | TCP_ACK), 0);
  out(n, udpPacket(A, 2002, R1, 53), 0);
  inn(n, udpPacket(R1, 53, EXT, 2002), 0);
  out(n, udpPacket(A, 2003, R1, 53), 10_000);
  inn(n, udpPacket(R1, 53, EXT, 2003), 10_000);
  assert.equal(out(n, udpPacket(A, 2004, R1, 53), 20_000), -NatDrop.TableFull, 'nothing idle long enough yet');
  assert.equal(out(n, udpPacket(A, 2004, R1, 53), 31_000), Verdict.Forward, 'the UDP session idle 31 s made room');
  assert.equal(n.counters[NatCounter.SessionsReclaimed], 1);
  assert.equal(out(n, tcpPacket(A, 2001, R1, 80, TCP_ACK), 31_000), Verdict.Forward, 'established TCP kept');
  assert.equal(inn(n, udpPacket(R1, 53, EXT, 2002), 31_000), -NatDrop.NoMapping, 'the reclaimed one is gone');
  assert.equal(inn(n, udpPacket(R1, 53, EXT, 2003), 31_000), Verdict.Forward);
});

test('direction by source: an inside source goes out, any other comes in and needs an external destination', () => {
  const n = nat();
  assert.equal(n.translate(udpPacket('fd01::1', 1, R1, 2), 0, 56, 0), -NatDrop.NotExternal, 'not inside: inbound, to none of ours');
  assert.equal(n.translate(udpPacket(A, 1, R1, 2), 0, 56, 0), Verdict.Forward);
  assert.equal(inn(n, udpPacket(R1, 1, '2001:db8:ffff::2', 2), 0), -NatDrop.NotExternal);
  const stub = new Uint8Array(20);
  stub[0] = 0x60;
  assert.equal(n.translate(stub, 0, 20, 0), -WireError.Truncated, 'too short to classify: dropped by the chain walk');
});

test('published ports: inbound opens a session to the container; replies leave from the published port', () => {
  const n = nat({ published: [{ protocol: 'tcp', externalPort: 8080, insideAddress: B, insidePort: 80 }] });
  const syn = tcpPacket(R1, 55555, EXT, 8080, TCP_SYN);
  assert.equal(inn(n, syn, 0), Verdict.Forward);
  assert.equal(dstText(syn), B);
  assert.equal(portsOf(syn)!.dst, 80);
  assert.ok(checksumOk(syn));
  const synAck = tcpPacket(B, 80, R1, 55555, TCP_SYN | TCP_ACK);
  assert.equal(out(n, synAck, 1), Verdict.Forward);
  assert.equal(srcText(synAck), EXT);
  assert.equal(portsOf(synAck)!.src, 8080);
  assert.equal(n.listSessions()[0].state, 'established');
  assert.equal(inn(n, tcpPacket(R1, 55555, EXT, 8081, TCP_SYN), 2), -NatDrop.NoMapping);
  assert.throws(() => n.published.add({ protocol: 'tcp', externalPort: 8080, insideAddress: A, insidePort: 80 }), ConfigError);
  assert.throws(() => n.published.add({ protocol: 'tcp', externalPort: 1, insideAddress: 'fd09::1', insidePort: 80 }), /no NAT network/);
  // Withdrawing the port ends its sessions.
  assert.equal(n.published.remove({ protocol: 'tcp', externalPort: 8080, insideAddress: B, insidePort: 80 }), 1);
  assert.equal(n.table.count, 0);
  assert.equal(inn(n, tcpPacket(R1, 55555, EXT, 8080, TCP_SYN), 3), -NatDrop.NoMapping);
});

test('publishing over a live dynamic mapping ends that mapping', () => {
  const n = nat();
  const p = udpPacket(A, 7000, R1, 53);
  out(n, p, 0);
  assert.equal(n.table.count, 1);
  n.published.add({ protocol: 'udp', externalPort: 7000, insideAddress: B, insidePort: 53 });
  assert.equal(n.table.count, 0);
  const q = udpPacket(A, 7000, R1, 53);
  out(n, q, 1);
  assert.notEqual(portsOf(q)!.src, 7000, 'the published port is no longer handed out');
});

test('hairpinning: container to the external address reaches the other container from the external address', () => {
  const n = nat({ published: [{ protocol: 'tcp', externalPort: 8080, insideAddress: B, insidePort: 80 }] });
  const syn = tcpPacket(A, 33333, EXT, 8080, TCP_SYN);
  assert.equal(out(n, syn, 0), Verdict.Hairpin);
  assert.equal(srcText(syn), EXT, 'source is the external address (REQ-9a)');
  const aPort = portsOf(syn)!.src;
  assert.equal(dstText(syn), B);
  assert.equal(portsOf(syn)!.dst, 80);
  assert.ok(checksumOk(syn));
  const synAck = tcpPacket(B, 80, EXT, aPort, TCP_SYN | TCP_ACK);
  assert.equal(out(n, synAck, 1), Verdict.Hairpin);
  assert.equal(srcText(synAck), EXT);
  assert.equal(portsOf(synAck)!.src, 8080);
  assert.equal(dstText(synAck), A);
  assert.equal(portsOf(synAck)!.dst, 33333);
  assert.ok(checksumOk(synAck));
  // The same container through its own published port.
  const self = tcpPacket(B, 44444, EXT, 8080, TCP_SYN);
  assert.equal(out(n, self, 2), Verdict.Hairpin);
  assert.equal(dstText(self), B);
  assert.equal(srcText(self), EXT);
  assert.ok(checksumOk(self));
  assert.equal(n.counters[NatCounter.Hairpin], 3);
});

test('hairpinning to a dynamic mapping obeys filtering', () => {
  const n = nat();
  const toR = udpPacket(B, 6000, R1, 53);
  out(n, toR, 0);
  const bPort = portsOf(toR)!.src;
  assert.equal(out(n, udpPacket(A, 6001, EXT, bPort), 1), -NatDrop.Filtered);
  const eif = nat({}, 'endpoint-independent');
  out(eif, udpPacket(B, 6000, R1, 53), 0);
  const p = udpPacket(A, 6001, EXT, bPort);
  assert.equal(out(eif, p, 1), Verdict.Hairpin);
  assert.equal(dstText(p), B);
});

test('paired pooling: an inside address always gets the same external address', () => {
  const exts = ['2001:db8:ffff::1', '2001:db8:ffff::2', '2001:db8:ffff::3'];
  const n = nat({ networks: [{ name: 'd', insideSubnets: ['fd00::/64'], externalAddresses: exts }], capacity: 1024 });
  const seen = new Set<string>();
  for (let h = 1; h <= 12; h++) {
    const got = new Set<string>();
    for (let port = 1000; port < 1010; port++) {
      const p = udpPacket(`fd00::${h.toString(16)}`, port + 1024, R1, port);
      assert.equal(out(n, p, 0), Verdict.Forward);
      got.add(srcText(p));
    }
    assert.equal(got.size, 1);
    seen.add([...got][0]);
  }
  assert.ok(seen.size > 1, 'addresses spread over the pool');
});

test('a jumbogram (RFC 2675) is dropped with its own reason, either way, not read as an empty packet', () => {
  const n = nat();
  assert.equal(out(n, jumbogram(udpPacket(A, 5000, R1, 53), 0), 0), -WireError.Jumbogram);
  assert.equal(inn(n, jumbogram(udpPacket(R1, 53, EXT, 5000), 0), 0), -WireError.Jumbogram);
  assert.equal(n.drops[WireError.Jumbogram], 2);
  assert.equal(n.table.count, 0);
});

test('routing header type 0 with segments left is dropped; SCTP ports mapped with CRC32c', () => {
  const n = nat();
  const rh0 = udpPacket(A, 1, R1, 2);
  const p = new Uint8Array(rh0.length + 24);
  p.set(rh0.subarray(0, 40));
  p[6] = 43;
  p[5] = p[5] + 24;
  p[40] = 17; p[41] = 2; p[42] = 0; p[43] = 1;
  p.set(addr(R2), 48);
  p.set(rh0.subarray(40), 64);
  assert.equal(out(n, p, 0), -NatDrop.RoutingHeader0);
  // SCTP INIT-like packet: 12-byte common header + 4 bytes of chunk.
  const s = new Uint8Array(40 + 16);
  s[0] = 0x60; s[5] = 16; s[6] = 132; s[7] = 64;
  s.set(addr(A), 8); s.set(addr(R1), 24);
  s[40] = 0x0b; s[41] = 0x59; s[42] = 0x0b; s[43] = 0x59; // 2905 → 2905
  const m = nat({ networks: [{ name: 'd', insideSubnets: ['fd00::/64'], externalAddresses: [EXT], portRange: [40000, 40001] }] });
  assert.equal(out(m, s, 0), Verdict.Forward);
  const crc = s[48] | (s[49] << 8) | (s[50] << 16) | (s[51] << 24);
  assert.notEqual(crc, 0, 'CRC32c filled after the port change');
});

test('translateBatch: same results as one call per packet, with the large-table warm-up', () => {
  const n = nat({ capacity: 100_000 });
  const count = 70_000; // above the warm-up threshold (65,536 sessions)
  const SLOT = 64;
  const size = 64;
  const ring = new Uint8Array(size * SLOT);
  const batch = new NatBatch(size);
  const dirs = new Uint8Array(size);
  const extPorts = new Uint16Array(count);
  const host = (i: number) => `fd00::${((i >>> 8) + 1).toString(16)}`;
  const remote = (i: number) => `2001:db8:${(i >>> 16) + 1}::${(i & 0xffff).toString(16)}`;
  const check = (i: number, dir: number, out: Uint8Array, verdict: number) => {
    assert.equal(verdict, Verdict.Forward, `packet ${i} dir ${dir}`);
    if (dir === DIR_OUT) {
      assert.equal(srcText(out), EXT);
      if (extPorts[i] === 0) extPorts[i] = portsOf(out)!.src;
      assert.equal(portsOf(out)!.src, extPorts[i], `packet ${i} keeps its mapping`);
    } else {
      assert.equal(dstText(out), host(i));
      assert.equal(portsOf(out)!.dst, 10_000 + (i & 0x3f));
    }
    assert.ok(checksumOk(out));
  };
  // One direction per batch (opening every session, then the replies), then
  // batches mixing both directions, as a TUN read does.
  for (const pass of ['out', 'in', 'mixed']) {
    for (let start = 0; start < count; start += size) {
      const m = Math.min(size, count - start);
      batch.count = 0;
      for (let j = 0; j < m; j++) {
        const i = start + j;
        const dir = pass === 'out' ? DIR_OUT : pass === 'in' ? DIR_IN : (i & 1) === 0 ? DIR_OUT : DIR_IN;
        const p = dir === DIR_OUT ? udpPacket(host(i), 10_000 + (i & 0x3f), remote(i), 53) : udpPacket(remote(i), 53, EXT, extPorts[i]);
        ring.set(p, j * SLOT);
        batch.add(j * SLOT, p.length);
        dirs[j] = dir;
      }
      batch.now = 1000;
      n.translateBatch(ring, batch);
      for (let j = 0; j < m; j++) {
        assert.equal(batch.dirs[j], dirs[j], 'the engine classified the packet');
        check(start + j, batch.dirs[j], ring.subarray(j * SLOT, j * SLOT + batch.lengths[j]), batch.verdicts[j]);
      }
    }
  }
  assert.equal(n.table.count, count);
});

test('NatBatch: add refuses a packet beyond its capacity', () => {
  const batch = new NatBatch(2);
  assert.equal(batch.add(0, 60), true);
  assert.equal(batch.add(64, 60, true), true);
  assert.equal(batch.add(128, 60), false);
  assert.equal(batch.count, 2);
  assert.deepEqual([batch.offsets[1], batch.lengths[1], batch.partial[1], batch.partial[0]], [64, 60, 1, 0]);
});

test('translateBatch classifies every packet once: direction and network or external address', () => {
  const n = nat({ networks: [
    { name: 'a', insideSubnets: ['fd00::/64'], externalAddresses: [EXT] },
    { name: 'b', insideSubnets: ['fd0b::/64'], externalAddresses: ['2001:db8:ffff::b'] },
  ] });
  const packets = [
    udpPacket(A, 1000, R1, 53), udpPacket('fd0b::5', 1000, R1, 53), udpPacket(R1, 53, '2001:db8:ffff::b', 1000),
    udpPacket(R1, 53, '2001:db8:eeee::1', 1000), udpPacket(A, 1001, '2001:db8:ffff::b', 7),
  ];
  const ring = new Uint8Array(packets.length * 128);
  const batch = new NatBatch(packets.length);
  packets.forEach((p, i) => { ring.set(p, i * 128); batch.add(i * 128, p.length); });
  n.translateBatch(ring, batch);
  assert.deepEqual([...batch.dirs], [DIR_OUT, DIR_OUT, DIR_IN, DIR_IN, DIR_OUT]);
  assert.deepEqual([...batch.match], [0, 1, 1, -1, 0], 'network for outbound, external address index for inbound');
  assert.equal(batch.verdicts[3], -NatDrop.NotExternal);
  assert.equal(batch.verdicts[4], -NatDrop.NoMapping, 'hairpin: out, then in to the other network, where no mapping exists');
});

test('counters per session and per inside address, both directions', () => {
  const n = nat();
  const a = udpPacket(A, 5000, R1, 53, 100);
  out(n, a, 0);
  out(n, udpPacket(A, 5001, R2, 53, 10), 0);
  inn(n, udpPacket(R1, 53, EXT, 5000, 300), 1);
  const s = n.listSessions().find((x) => x.insidePort === 5000)!;
  assert.deepEqual([s.packetsOut, s.packetsIn, s.bytesOut, s.bytesIn], [1, 1, 40 + 8 + 100, 40 + 8 + 300]);
  const h = n.listHosts().find((x) => x.address === A)!;
  assert.deepEqual([h.sessions, h.packetsOut, h.packetsIn, h.bytesOut, h.bytesIn], [2, 2, 1, 148 + 58, 348]);
  assert.equal(n.counters[NatCounter.OutPackets], 2);
  assert.equal(n.counters[NatCounter.InBytes], 348);
});

test('SCTP: CRC32c recomputed when the port changes, untouched when it does not', () => {
  const sctp = (src: string, sport: number, dst: string, dport: number): Uint8Array => {
    const s = new Uint8Array(40 + 16);
    s[0] = 0x60; s[5] = 16; s[6] = 132; s[7] = 64;
    s.set(addr(src), 8); s.set(addr(dst), 24);
    s[40] = sport >> 8; s[41] = sport; s[42] = dport >> 8; s[43] = dport;
    s[44] = 0xde; s[45] = 0xad; s[46] = 0xbe; s[47] = 0xef; // verification tag
    s[52] = 1; s[55] = 4; // a 4-byte chunk
    const crc = crc32c(s, 40, 16, 48);
    s[48] = crc; s[49] = crc >>> 8; s[50] = crc >>> 16; s[51] = crc >>> 24;
    return s;
  };
  const crcOk = (s: Uint8Array) => (crc32c(s, 40, 16, 48) >>> 0) === ((s[48] | (s[49] << 8) | (s[50] << 16) | (s[51] << 24)) >>> 0);
  const keep = nat();
  const p = sctp(A, 2905, R1, 2905);
  const before = p.slice(48, 52);
  assert.equal(out(keep, p, 0), Verdict.Forward);
  assert.equal(srcText(p), EXT);
  assert.deepEqual(p.slice(48, 52), before, 'no pseudo-header in CRC32c: an address change leaves it alone');
  assert.ok(crcOk(p));
  const moved = nat({ networks: [{ name: 'd', insideSubnets: ['fd00::/64'], externalAddresses: [EXT], portRange: [40000, 40001] }] });
  const q = sctp(A, 2905, R1, 2905);
  assert.equal(out(moved, q, 0), Verdict.Forward);
  assert.notEqual(portsOf(q)!.src, 2905);
  assert.ok(crcOk(q), 'recomputed after the port change');
  const back = sctp(R1, 2905, EXT, portsOf(q)!.src);
  assert.equal(inn(moved, back, 1), Verdict.Forward);
  assert.equal(portsOf(back)!.dst, 2905);
  assert.ok(crcOk(back));
});

test('configuration errors name the network and field', () => {
  const base = { name: 'a', insideSubnets: ['fd00::/64'], externalAddresses: [EXT] };
  assert.throws(() => nat({ networks: [base, { ...base }] }), /defined twice/);
  assert.throws(() => nat({ networks: [{ ...base, externalAddresses: ['fd00::1'] }] }), /inside an inside subnet/);
  assert.throws(() => nat({ networks: [{ ...base, portRange: [2000, 1000] }] }), /portRange/);
  assert.throws(() => nat({ networks: [{ ...base, filtering: 'cone' as never }] }), /filtering/);
  assert.throws(() => nat({ networks: [{ ...base, mode: 'nat64' as never }] }), /mode/);
});

test('external addresses sharing a last byte are still told apart', () => {
  const exts = ['2001:db8:1::5', '2001:db8:2::5', '2001:db8:3::6'];
  const n = nat({ networks: [{ name: 'd', insideSubnets: ['fd00::/64'], externalAddresses: exts }], capacity: 256 });
  for (let h = 1; h <= 8; h++) {
    const p = udpPacket(`fd00::${h}`, 3000, R1, 53);
    assert.equal(out(n, p, 0), Verdict.Forward);
    const reply = udpPacket(R1, 53, srcText(p), portsOf(p)!.src);
    assert.equal(inn(n, reply, 0), Verdict.Forward);
    assert.equal(dstText(reply), `fd00::${h}`);
  }
  assert.equal(inn(n, udpPacket(R1, 53, '2001:db8:4::5', 3000), 0), -NatDrop.NotExternal);
});
