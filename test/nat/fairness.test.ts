// Table fairness on an injected clock: which sessions go when the table,
// an inside address's or a network's quota, or a port pool is full, and the
// short timer of unreplied sessions under pressure (sessions.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Nat66 } from '../../src/nat/nat66.js';
import { NatDrop } from '../../src/nat/drop.js';
import { Verdict, NatCounter } from '../../src/nat/types.js';
import { ConfigError } from '../../src/errors.js';
import type { NatConfig } from '../../src/nat/engine-config.js';
import { udpPacket, tcpPacket, portsOf, TCP_SYN, TCP_ACK } from './support.js';

const EXT = '2001:db8:ffff::1';
const EXT2 = '2001:db8:ffff::2';
const A = 'fd00::a';
const B = 'fd00::b';
const C = 'fd02::c';
const C0 = 'fd00::c';
const R1 = '2001:db8:1::1';

function nat(extra: Partial<NatConfig> = {}): Nat66 {
  return new Nat66({ networks: [{ name: 'd', insideSubnets: ['fd00::/64'], externalAddresses: [EXT] }], capacity: 8, seed: 1, ...extra });
}

function out(n: Nat66, p: Uint8Array, now: number): number {
  return n.translate(p, 0, p.length, now);
}

function inn(n: Nat66, p: Uint8Array, now: number): number {
  return n.translate(p, 0, p.length, now);
}

/** A SYN from host:port to R1:80; returns the external port it got (-reason when dropped). */
function syn(n: Nat66, host: string, port: number, now: number): number {
  const p = tcpPacket(host, port, R1, 80, TCP_SYN);
  const v = out(n, p, now);
  return v < 0 ? v : portsOf(p)!.src;
}

/** A UDP flow from host:port to R1:53, answered; returns its external port. */
function answered(n: Nat66, host: string, port: number, now: number, ext = EXT): number {
  const p = udpPacket(host, port, R1, 53);
  const v = out(n, p, now);
  if (v < 0) return v;
  const extPort = portsOf(p)!.src;
  assert.equal(inn(n, udpPacket(R1, 53, ext, extPort), now), Verdict.Forward);
  return extPort;
}

function synAck(n: Nat66, extPort: number, now: number): number {
  return inn(n, tcpPacket(R1, 80, EXT, extPort, TCP_SYN | TCP_ACK), now);
}

test('table full: unreplied sessions go first, stalest first; a heavy user pays with its own', () => {
  const n = nat({ capacity: 200 });
  assert.equal(n.sessions.heavyAt, 64);
  const a = Array.from({ length: 100 }, (_, i) => syn(n, A, 3000 + i, i * 10));
  for (let i = 0; i < 99; i++) answered(n, B, 4000 + i, 2000);
  const c = syn(n, C0, 5000, 2000);
  assert.equal(n.table.count, 200);
  // B (light, nothing unreplied): the stalest of all, A's first SYN.
  assert.ok(answered(n, B, 4100, 3000) > 0);
  assert.equal(n.counters[NatCounter.EarlyDrops], 1);
  assert.equal(synAck(n, a[0]!, 3000), -NatDrop.NoMapping, 'A\'s first SYN was evicted');
  // C (light, one SYN pending): the stalest of all again, not its own pending one.
  assert.ok(syn(n, C0, 5001, 3000) > 0);
  assert.equal(synAck(n, a[1]!, 3000), -NatDrop.NoMapping);
  // A (heavy): its own stalest, even with C's older pending SYN ahead of A's new ones.
  assert.ok(syn(n, A, 3100, 4000) > 0);
  assert.equal(synAck(n, a[2]!, 4000), -NatDrop.NoMapping);
  assert.equal(synAck(n, c, 4000), Verdict.Forward, 'C\'s SYNs survived');
  assert.equal(n.counters[NatCounter.EarlyDrops], 3);
  assert.equal(synAck(n, a[3]!, 4000), Verdict.Forward);
  assert.equal(n.drops[NatDrop.TableFull], 0);
  assert.equal(n.counters[NatCounter.SessionsReclaimed], 0, 'no answered session was taken');
});

test('quota defaults: a quarter of the table per address (at least 1,024), 3/4 per network beside another', () => {
  assert.equal(nat().sessions.addressQuota, 8);
  assert.equal(nat({ capacity: 1_000_000 }).sessions.addressQuota, 250_000);
  assert.equal(nat({ capacity: 1_000_000 }).sessions.networkQuota, 1_000_000, 'one network: no network quota');
  const two = twoNetworks({ capacity: 1_000_000 });
  assert.equal(two.sessions.networkQuota, 750_000);
  assert.equal(two.sessions.pressureAt, 750_000);
  assert.equal(twoNetworks({ networkQuota: 5, addressQuota: 2 }).sessions.networkQuota, 5);
  assert.throws(() => nat({ addressQuota: 0 }), ConfigError);
  assert.throws(() => nat({ networkQuota: 1.5 }), ConfigError);
});

test('an inside address at its quota recycles its own stalest unreplied session, else is refused; the hit is noted', () => {
  const n = nat({ capacity: 64, addressQuota: 3 });
  const a = [0, 1, 2].map((i) => syn(n, A, 3000 + i, 0));
  const a3 = syn(n, A, 3003, 1000);
  assert.ok(a3 > 0, 'the fourth SYN opens');
  assert.equal(n.counters[NatCounter.AddressQuotaHits], 1);
  assert.equal(n.sessions.quotaKind, NatDrop.AddressQuota);
  assert.deepEqual(Array.from(n.sessions.quotaAddress), [0xfd000000, 0, 0, 0xa], 'the address that hit it');
  assert.equal(n.sessions.quotaNetwork, 0);
  assert.equal(synAck(n, a[0]!, 1000), -NatDrop.NoMapping, 'by dropping A\'s stalest SYN');
  for (const port of [a[1]!, a[2]!, a3]) assert.equal(synAck(n, port, 1000), Verdict.Forward);
  assert.equal(syn(n, A, 3005, 2000), -NatDrop.AddressQuota, 'all answered: refused');
  assert.equal(n.drops[NatDrop.AddressQuota], 1);
  assert.equal(n.counters[NatCounter.AddressQuotaHits], 2);
  assert.ok(syn(n, B, 3000, 2000) > 0, 'another address is not affected');
});

function twoNetworks(extra: Partial<NatConfig> = {}): Nat66 {
  return nat({
    networks: [
      { name: 'd', insideSubnets: ['fd00::/64'], externalAddresses: [EXT] },
      { name: 'e', insideSubnets: ['fd02::/64'], externalAddresses: [EXT2] },
    ],
    capacity: 64,
    ...extra,
  });
}

test('a network at its quota makes room from its own unreplied sessions, else is refused; other networks are not affected', () => {
  const n = twoNetworks({ networkQuota: 4 });
  for (let i = 0; i < 3; i++) answered(n, A, 3000 + i, 0);
  const b = syn(n, B, 3000, 0);
  assert.ok(answered(n, A, 3003, 1000) > 0, 'B\'s unreplied SYN made room');
  assert.equal(synAck(n, b, 1000), -NatDrop.NoMapping);
  assert.equal(n.counters[NatCounter.NetworkQuotaHits], 1);
  assert.equal(n.sessions.quotaKind, NatDrop.NetworkQuota);
  assert.equal(answered(n, B, 3001, 1000), -NatDrop.NetworkQuota);
  assert.equal(n.drops[NatDrop.NetworkQuota], 1);
  assert.ok(answered(n, C, 3000, 1000, EXT2) > 0, 'network e opens sessions');
});

test('a full port pool: unreplied mappings go first, stalest first, then idle ones, else refused', () => {
  const n = nat({ capacity: 64, networks: [{ name: 'd', insideSubnets: ['fd00::/64'], externalAddresses: [EXT], portRange: [2000, 2003] }] });
  const f = [0, 1, 2, 3].map((i) => {
    const p = udpPacket(A, 5000 + i, R1, 53);
    assert.equal(out(n, p, i * 1000), Verdict.Forward);
    return portsOf(p)!.src;
  });
  assert.deepEqual([...f].sort(), [2000, 2001, 2002, 2003]);
  const v = udpPacket(B, 6000, R1, 53);
  assert.equal(out(n, v, 4000), Verdict.Forward, 'B gets a port from the exhausted pool');
  const vPort = portsOf(v)!.src;
  assert.equal(vPort, f[0], 'the stalest unreplied mapping\'s');
  assert.equal(n.counters[NatCounter.PortsReclaimed], 1);
  const f4 = udpPacket(A, 5004, R1, 53);
  assert.equal(out(n, f4, 5000), Verdict.Forward);
  assert.equal(portsOf(f4)!.src, f[1], 'the stalest in the pool again (A\'s), not B\'s fresh one');
  assert.equal(inn(n, udpPacket(R1, 53, EXT, vPort), 5000), Verdict.Forward, 'B\'s mapping is intact');
  for (const port of [f[2]!, f[3]!, f[1]!]) assert.equal(inn(n, udpPacket(R1, 53, EXT, port), 5000), Verdict.Forward);
  // Every mapping answered and fresh: nothing to take.
  assert.equal(out(n, udpPacket(A, 5005, R1, 53), 6000), -NatDrop.PortsExhausted);
  // Idle for reclaimIdle (30 s): taken.
  assert.equal(out(n, udpPacket(A, 5005, R1, 53), 36_000), Verdict.Forward);
  assert.equal(n.counters[NatCounter.PortsReclaimed], 3);
  assert.equal(n.table.count, 4);
});

test('over 3/4 full, unreplied sessions get the short timer; answered ones keep the RFC timers', () => {
  const n = nat();
  const early = syn(n, A, 3000, 0);
  for (let i = 0; i < 5; i++) answered(n, B, 4000 + i, 0);
  assert.equal(n.table.count, 6, 'at 3/4 of 8');
  const short = syn(n, A, 3001, 1000);
  n.expire(5000);
  assert.equal(n.table.count, 7);
  n.expire(6000);
  assert.equal(n.table.count, 6, 'gone after 5 s');
  assert.equal(synAck(n, short, 6000), -NatDrop.NoMapping);
  assert.equal(synAck(n, early, 6000), Verdict.Forward, 'the one opened before the pressure kept its 4 minutes');
  // A retransmitted SYN renews the short timer; the answer makes it a connection with RFC 5382 timers.
  const again = syn(n, A, 3002, 10_000);
  syn(n, A, 3002, 13_000);
  n.expire(17_000);
  assert.equal(synAck(n, again, 17_000), Verdict.Forward);
  n.expire(3_600_000);
  assert.equal(out(n, tcpPacket(A, 3002, R1, 80, TCP_ACK), 3_600_000), Verdict.Forward, 'established: 2 h 4 min');
});

test('restore keeps which sessions are unreplied', () => {
  const n = nat();
  const a = syn(n, A, 3000, 0);
  for (let i = 0; i < 7; i++) answered(n, B, 4000 + i, 0);
  const fresh = nat();
  fresh.restore(n.snapshot(1000), 1000);
  assert.equal(fresh.table.count, 8);
  assert.ok(answered(fresh, B, 4100, 2000) > 0);
  assert.equal(fresh.counters[NatCounter.EarlyDrops], 1);
  assert.equal(synAck(fresh, a, 2000), -NatDrop.NoMapping, 'the unreplied SYN went, no answered session did');
  assert.equal(fresh.table.count, 8);
});

test('under a SYN flood at its quota and a UDP flood at the pool\'s end, a light host\'s pending flows are never taken', () => {
  // Milliseconds of simulated time: each one, 4 SYNs to new remotes from
  // 16 ports (host 1), 4 one-way datagrams from new ports (host 2, the pool
  // of 2,000), and every 10 ms a new exchange of host 3 answered 50 ms later.
  const ext = '2001:db8:1::66';
  const n = new Nat66({ networks: [{ name: 'web', insideSubnets: ['fd66:1::/64'], externalAddresses: [ext], portRange: [40000, 41999] }], capacity: 16384, seed: 5 });
  const pending: Array<{ at: number; port: number; sport: number }> = [];
  let ok = 0;
  let i = 0;
  for (let ms = 0; ms < 5000; ms++) {
    const now = 1_000_000 + ms;
    for (let k = 0; k < 4; k++, i++) {
      const s = tcpPacket('fd66:1::2', 20000 + (i & 15), `2001:db8:9::${(1 + (i >> 4)).toString(16)}`, 80, TCP_SYN);
      assert.equal(out(n, s, now), Verdict.Forward);
      const u = udpPacket('fd66:1::3', 1024 + i, '2001:db8:9::1', 9);
      assert.equal(out(n, u, now), Verdict.Forward);
    }
    if (ms % 10 === 0 && ms >= 1500) {
      const sport = 32768 + ((ms * 7919) % 28000);
      const q = udpPacket('fd66:1::4', sport, R1, 53);
      assert.equal(out(n, q, now), Verdict.Forward);
      pending.push({ at: ms + 50, port: portsOf(q)!.src, sport });
    }
    while (pending.length > 0 && pending[0]!.at <= ms) {
      const p = pending.shift()!;
      const answer = udpPacket(R1, 53, ext, p.port);
      assert.equal(inn(n, answer, now), Verdict.Forward);
      assert.equal(portsOf(answer)!.dst, p.sport, 'the answer reaches the flow that asked');
      ok++;
    }
    if (ms % 1000 === 0) n.expire(now);
  }
  assert.ok(ok >= 340, `${ok} exchanges`);
  assert.ok(n.counters[NatCounter.AddressQuotaHits] > 10_000 && n.counters[NatCounter.PortsReclaimed] > 10_000);
});
