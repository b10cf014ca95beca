// The engine's side of the fast path (src/nat/candidates.ts): which packets
// offer their session (settled, plain masquerade, whole), once while marked;
// and what passedFast counts for packets the kernel forwarded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Nat66, DIR_IN, DIR_OUT } from '../../src/nat/nat66.js';
import { CANDIDATE_RING } from '../../src/nat/candidates.js';
import { Verdict, NatCounter } from '../../src/nat/types.js';
import { HostCounter } from '../../src/nat/hosts.js';
import { Flag, R, REC_WORDS } from '../../src/nat/table.js';
import { countGcs } from '../support/gc.js';
import { udpPacket, tcpPacket, echoPacket, portsOf, TCP_SYN, TCP_ACK, TCP_FIN, TCP_RST } from './support.js';

const EXT = '2001:db8:ffff::1';
const A = 'fd00::a';
const B = 'fd00::b';
const R1 = '2001:db8:1::1';
const NOW = 1_790_000_000_000.5;

function nat(): Nat66 {
  const n = new Nat66({
    networks: [
      { name: 'web', insideSubnets: ['fd00::/64'], externalAddresses: [EXT] },
      { name: 'lab', insideSubnets: ['fd01::/64'], mode: 'nptv6', externalPrefix: '2001:db8:66::/64' },
    ],
    published: [{ protocol: 'tcp', externalPort: 8080, insideAddress: B, insidePort: 80 }],
    capacity: 1024, seed: 1,
  });
  n.offload.enabled = true;
  return n;
}

function send(n: Nat66, p: Uint8Array, now = NOW): number {
  return n.translate(p, 0, p.length, now);
}

/** A UDP request from A:`port` and its answer: settled, offered; its id. */
function answered(n: Nat66, port: number, now = NOW): number {
  const q = udpPacket(A, port, R1, 53, 32);
  send(n, q, now);
  send(n, udpPacket(R1, 53, EXT, portsOf(q)!.src, 32), now);
  return n.offload.ids[n.offload.count - 1]!;
}

/** Sessions of `n` marked as offered. */
function offered(n: Nat66): number {
  let k = 0;
  for (let id = 1; id <= n.table.capacity; id++) if ((n.table.rec[id * REC_WORDS + R.META]! & Flag.OFFERED) !== 0) k++;
  return k;
}

/** A TCP connection from A:40000 to R1:443 through its handshake; returns its external port. */
function handshake(n: Nat66): number {
  const syn = tcpPacket(A, 40000, R1, 443, TCP_SYN);
  assert.equal(send(n, syn), Verdict.Forward);
  const ext = portsOf(syn)!.src;
  assert.equal(n.offload.count, 0, 'a lone SYN is not settled');
  assert.equal(send(n, tcpPacket(R1, 443, EXT, ext, TCP_SYN | TCP_ACK)), Verdict.Forward);
  return ext;
}

test('TCP: offered once established, once only while marked; a FIN makes it unsettled', () => {
  const n = nat();
  const ext = handshake(n);
  assert.equal(n.offload.count, 1, 'the SYN-ACK established it');
  const id = n.offload.ids[0]!;
  assert.equal(n.settled(id), true);
  send(n, tcpPacket(A, 40000, R1, 443, TCP_ACK, 100));
  send(n, tcpPacket(R1, 443, EXT, ext, TCP_ACK, 100));
  assert.equal(n.offload.count, 1, 'marked: not offered again');
  n.offload.count = 0;
  n.unmark(id);
  send(n, tcpPacket(A, 40000, R1, 443, TCP_FIN | TCP_ACK));
  assert.equal(n.offload.count, 0);
  assert.equal(n.settled(id), false, 'closing');
  const m = nat();
  handshake(m);
  m.unmarkAll();
  send(m, tcpPacket(A, 40000, R1, 443, TCP_RST));
  assert.equal(m.offload.count, 0, 'after a RST');
});

test('UDP: offered by its first answer, not before', () => {
  const n = nat();
  send(n, udpPacket(A, 5353, R1, 53, 32));
  send(n, udpPacket(A, 5353, R1, 53, 32));
  assert.equal(n.offload.count, 0, 'one-way');
  answered(n, 5353);
  assert.equal(n.offload.count, 1);
});

test('never offered: off, ICMPv6, NPTv6, hairpin', () => {
  const off = nat();
  off.offload.enabled = false;
  handshake(off);
  assert.equal(off.offload.count, 0, 'off');
  const n = nat();
  send(n, echoPacket(A, R1, 128, 7));
  send(n, echoPacket(R1, EXT, 129, 7));
  send(n, udpPacket('fd01::5', 5353, R1, 53));
  send(n, udpPacket(R1, 53, '2001:db8:66::5', 5353));
  // A to B's published port through the external address: established both ways, hairpinned each time.
  const syn = tcpPacket(A, 41000, EXT, 8080, TCP_SYN);
  assert.equal(send(n, syn), Verdict.Hairpin);
  assert.equal(send(n, tcpPacket(B, 80, EXT, portsOf(syn)!.src, TCP_SYN | TCP_ACK)), Verdict.Hairpin);
  assert.equal(send(n, tcpPacket(A, 41000, EXT, 8080, TCP_ACK, 10)), Verdict.Hairpin);
  assert.equal(n.offload.count, 0);
});

test('the ring full: offers counted as missed, the sessions unmarked (offered again by their next packet)', () => {
  const n = new Nat66({ networks: [{ name: 'web', insideSubnets: ['fd00::/64'], externalAddresses: [EXT] }], capacity: 4096, seed: 2 });
  n.offload.enabled = true;
  for (let i = 0; i < CANDIDATE_RING + 10; i++) answered(n, 10000 + i);
  assert.equal(n.offload.count, CANDIDATE_RING);
  assert.equal(n.offload.missed, 10);
  assert.equal(offered(n), CANDIDATE_RING, 'the ones missed stay unmarked');
});

test('passedFast counts like translated packets and keeps the session alive past its timeout', () => {
  const n = nat();
  const id = answered(n, 5353, 0);
  const before = Float64Array.from(n.counters);
  // Four minutes of fast-path traffic, folded once a minute; then the UDP timeout (5 min) from the last fold.
  for (let t = 60_000; t <= 240_000; t += 60_000) {
    n.passedFast(id, DIR_OUT, 10, 1000, t);
    n.passedFast(id, DIR_IN, 20, 3000, t);
    n.expire(t);
  }
  n.expire(500_000);
  assert.equal(n.table.count, 1, 'alive: the fast path refreshed it');
  const o = id * REC_WORDS;
  assert.equal(n.table.rec[o + R.PKTS_OUT], 1 + 40);
  assert.equal(n.table.rec[o + R.PKTS_IN], 1 + 80);
  assert.equal(n.counters[NatCounter.OutPackets]! - before[NatCounter.OutPackets]!, 40);
  assert.equal(n.counters[NatCounter.InBytes]! - before[NatCounter.InBytes]!, 12_000);
  assert.equal(n.netCounters[HostCounter.PacketsIn], 1 + 80, 'the network');
  const host = n.listHosts().find((h) => h.address === A)!;
  assert.equal(host.packetsOut, 1 + 40, 'the inside address');
  n.expire(241_000 + 301_000);
  assert.equal(n.table.count, 0, 'and expires once it stops');
});

test('offering allocates nothing (marked sessions, offers, the ring emptied as the offload layer does)', async () => {
  const n = new Nat66({ networks: [{ name: 'web', insideSubnets: ['fd00::/64'], externalAddresses: [EXT] }], capacity: 4096, seed: 3 });
  n.offload.enabled = true;
  const flows = 64;
  const outs: Uint8Array[] = [];
  const ins: Uint8Array[] = [];
  for (let i = 0; i < flows; i++) {
    const q = udpPacket(A, 20000 + i, R1, 53, 32);
    send(n, q);
    outs.push(udpPacket(A, 20000 + i, R1, 53, 32));
    ins.push(udpPacket(R1, 53, EXT, portsOf(q)!.src, 32));
  }
  const work = new Uint8Array(128);
  const round = (i: number): void => {
    const p = (i & 1) === 0 ? outs[(i >>> 1) & (flows - 1)]! : ins[(i >>> 1) & (flows - 1)]!;
    for (let b = 0; b < p.length; b++) work[b] = p[b]!;
    n.translate(work, 0, p.length, NOW + i * 0.25);
    if ((i & 255) === 0) {
      // What promote() and a demotion do to the ring and the marks.
      for (let k = 0; k < n.offload.count; k++) if ((k & 1) === 0) n.unmark(n.offload.ids[k]!);
      n.offload.count = 0;
    }
  };
  for (let i = 0; i < 100_000; i++) round(i);
  const gc = countGcs();
  for (let i = 100_000; i < 400_000; i++) round(i);
  assert.equal(await gc.stop(), 0);
});

test('a snapshot restored or a table moved to keeps its sessions and drops their marks (they named the old map)', () => {
  const n = nat();
  answered(n, 5353, 1000);
  assert.equal(offered(n), 1);
  const restored = nat();
  assert.equal(restored.restore(n.snapshot(2000), 2000), 0, 'nothing dropped');
  assert.equal(restored.table.count, 1);
  assert.equal(offered(restored), 0);
  const moved = new Nat66({ networks: [{ name: 'web', insideSubnets: ['fd00::/64'], externalAddresses: [EXT] }], capacity: 2048, seed: 1 });
  assert.equal(moved.migrateFrom(n).moved, 1);
  assert.equal(offered(moved), 0);
});
