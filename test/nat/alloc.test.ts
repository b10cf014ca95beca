// The packet path allocates nothing: a million translations through
// translateBatch, with the large-table warm-up on, under a GC observer. A
// single boxed number per packet would fill the young generation and force
// scavenges within a few hundred thousand packets. (bench/nat.ts measures
// the same at a million sessions; this keeps `npm test` honest.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { countGcs } from '../support/gc.js';
import { Nat66, NatBatch, DIR_IN, DIR_OUT } from '../../src/nat/nat66.js';
import { Verdict, NatCounter } from '../../src/nat/types.js';
import { DROP_REASON_COUNT, DROP_REASON_NAMES } from '../../src/nat/drop.js';
import { HostCounter } from '../../src/nat/hosts.js';
import { udpPacket, tcpPacket, portsOf, TCP_ACK, TCP_SYN, TCP_RST, loadPackets, srcText, rewriteError, addr } from './support.js';

const EXT = '2001:db8:ffff::1';
/** Milliseconds far above 2^31 (a monotonic clock after weeks of uptime): never a small integer. */
const NOW = 1_790_000_000_000;
const SLOT = 128;
const BATCH = 64;

test('steady-state translation allocates nothing (1M packets, warm-up path, after a reconfiguration in place)', async () => {
  const sessions = 70_000;
  const nat = new Nat66({ networks: [{ name: 'd', insideSubnets: ['fd00::/64'], externalAddresses: [EXT] }], capacity: 100_000, seed: 8 });
  const flows = 512;
  const outT = new Uint8Array(flows * SLOT);
  const inT = new Uint8Array(flows * SLOT);
  const lens = new Int32Array(flows);
  const ring = new Uint8Array(BATCH * SLOT);
  const batch = new NatBatch(BATCH);
  // Open the sessions (this part may allocate: it is setup).
  for (let i = 0; i < sessions; i++) {
    const tcp = (i & 1) === 0;
    const inside = `fd00::${((i >>> 6) + 1).toString(16)}`;
    const remote = `2001:db8:${(i >>> 16) + 1}::${(i & 0xffff).toString(16)}`;
    const p = tcp ? tcpPacket(inside, 20_000 + (i & 0x3f), remote, 443, TCP_ACK, 20) : udpPacket(inside, 20_000 + (i & 0x3f), remote, 53, 20);
    assert.equal(nat.translate(p, 0, p.length, NOW), Verdict.Forward);
    if (i % (sessions / flows | 0) === 0 && i / (sessions / flows | 0) < flows) {
      const f = i / (sessions / flows | 0);
      const back = tcp ? tcpPacket(remote, 443, EXT, portsOf(p)!.src, TCP_ACK, 20) : udpPacket(remote, 53, EXT, portsOf(p)!.src, 20);
      const again = tcp ? tcpPacket(inside, 20_000 + (i & 0x3f), remote, 443, TCP_ACK, 20) : udpPacket(inside, 20_000 + (i & 0x3f), remote, 53, 20);
      outT.set(again, f * SLOT);
      inT.set(back, f * SLOT);
      lens[f] = again.length;
    }
  }
  let bad = 0;
  const round = (): void => {
    for (let b = 0; b < flows; b += BATCH) {
      for (let dir = 0; dir < 2; dir++) {
        const src = dir === DIR_OUT ? outT : inT;
        batch.count = 0;
        for (let j = 0; j < BATCH; j++) {
          const from = (b + j) * SLOT;
          const to = j * SLOT;
          for (let k = 0; k < SLOT; k++) ring[to + k] = src[from + k];
          batch.add(to, lens[b + j]);
        }
        // A fractional, changing clock like a read's time stamp: stored in the
        // batch, so no heap number per batch, nor per packet in the engine.
        batch.now = NOW + 0.25 * (b & 63);
        nat.translateBatch(ring, batch);
        for (let j = 0; j < BATCH; j++) if (batch.verdicts[j] !== Verdict.Forward) bad++;
      }
    }
  };
  for (let r = 0; r < 200; r++) round(); // let every function reach optimised code
  // A reconfiguration in place (a network added) leaves the packet path as it was.
  assert.equal(nat.reconfigure({
    networks: [
      { name: 'd', insideSubnets: ['fd00::/64'], externalAddresses: [EXT] },
      { name: 'e', insideSubnets: ['fd01::/64'], externalAddresses: ['2001:db8:ffff::2'] },
    ], capacity: 100_000, seed: 8,
  }).sessionsDropped, 0);
  for (let r = 0; r < 50; r++) round();
  const gcs = countGcs();
  const rounds = Math.ceil(1_000_000 / (flows * 2));
  for (let r = 0; r < rounds; r++) round();
  const scavenges = await gcs.stop();
  assert.equal(bad, 0, 'every packet translated');
  assert.ok(nat.table.count >= 65_536, 'large enough for the warm-up path');
  assert.equal(scavenges, 0, `${scavenges} GCs while translating ${rounds * flows * 2} packets`);
});

test('fragments (held, released, followed) and ICMPv6 errors allocate nothing either', async () => {
  const dns = loadPackets('zeek__ipv6-fragmented-dns.pcap');
  const client = srcText(dns[0]);
  const nat = new Nat66({ networks: [{ name: 'd', insideSubnets: [`${client}/128`], externalAddresses: [EXT] }], seed: 2 });
  const query = dns[4].slice();
  assert.equal(nat.translate(query, 0, query.length, NOW), Verdict.Forward);
  const extPort = portsOf(query)!.src;
  // The answer's fragments as the world sends them, last first (two held, then released).
  const answer = [dns[7], dns[6], dns[5]].map((f) => {
    const q = f.slice();
    q.set(addr(EXT), 24);
    return q;
  });
  // The first fragment's port and checksum matter only for equality, not for allocation.
  answer[2][48 + 2] = extPort >> 8;
  answer[2][48 + 3] = extPort;
  const [toobig] = loadPackets('zeek__icmp6-toobig.pcap');
  const probe = udpPacket('fe80::beef', 30000, 'fe80::dead', 13000);
  const nat2 = new Nat66({ networks: [{ name: 'e', insideSubnets: ['fe80::beef/128'], externalAddresses: [EXT] }], seed: 2 });
  nat2.translate(probe, 0, probe.length, NOW);
  const error = rewriteError(toobig, { outerDst: addr(EXT), quotedSrc: addr(EXT), quotedSport: portsOf(probe)!.src });
  const work = new Uint8Array(2048);
  let forwarded = 0;
  const round = (i: number): void => {
    const now = NOW + i; // a fresh double each time, like a real clock
    for (let k = 0; k < 3; k++) {
      const f = answer[k];
      for (let b = 0; b < f.length; b++) work[b] = f[b];
      if (nat.translate(work, 0, f.length, now) === Verdict.Forward) forwarded++;
    }
    for (let b = 0; b < error.length; b++) work[b] = error[b];
    if (nat2.translate(work, 0, error.length, now) === Verdict.Forward) forwarded++;
    if ((i & 1023) === 0) { nat.expire(now); nat2.expire(now); }
  };
  for (let i = 0; i < 20_000; i++) round(i);
  const gc = countGcs();
  for (let i = 20_000; i < 120_000; i++) round(i);
  const gcs = await gc.stop();
  assert.ok(forwarded >= 2 * 120_000, `forwarded ${forwarded}`);
  assert.equal(gcs, 0, `${gcs} GCs on the fragment and ICMP error paths`);
});

// Also with -v on: the ids of the sessions opened are noted for the service's log lines (read and reset as it does).
for (const noted of [false, true]) test(`making room allocates nothing: early drops, quota recycling, port-pool reclaim${noted ? '; sessions noted for -v' : ''}`, async () => {
  // Inside addresses opening a new session with every packet (SYNs and
  // one-way UDP to ever new remotes) into a small table with a small pool:
  // each packet evicts something.
  const nat = new Nat66({
    networks: [{ name: 'd', insideSubnets: ['fd00::/64'], externalAddresses: [EXT], portRange: [20_000, 20_383] }],
    capacity: 1024, addressQuota: 200, seed: 3,
  });
  nat.sessions.noteCreated = noted;
  // Host 1 (UDP) sends half the packets and runs into its quota.
  const hosts = 9;
  const templates = Array.from({ length: hosts }, (_, h) => (h & 1) === 1
    ? tcpPacket(`fd00::${h + 1}`, 1, '2001:db8:77::', 80, TCP_SYN)
    : udpPacket(`fd00::${h + 1}`, 1, '2001:db8:77::', 53));
  const work = new Uint8Array(128);
  let forwarded = 0;
  const round = (i: number): void => {
    const t = templates[(i & 1) === 0 ? 1 : 1 + ((i >>> 1) & 7)]!;
    for (let b = 0; b < t.length; b++) work[b] = t[b]!;
    const port = 1024 + ((i >>> 3) & 0x7fff);
    work[40] = port >> 8;
    work[41] = port;
    work[38] = i >> 8;
    work[39] = i;
    const now = NOW + i * 0.5;
    if (nat.translate(work, 0, t.length, now) === Verdict.Forward) forwarded++;
    if ((i & 4095) === 0) nat.expire(now);
    if ((i & 127) === 0) nat.sessions.createdCount = 0;
  };
  // Long enough that every path, the wheel's expiry of capped timers included, runs optimised.
  for (let i = 0; i < 200_000; i++) round(i);
  const gc = countGcs();
  for (let i = 200_000; i < 500_000; i++) round(i);
  const gcs = await gc.stop();
  assert.equal(forwarded, 500_000, 'every packet got a session');
  assert.ok(nat.counters[NatCounter.EarlyDrops] > 100_000, `${nat.counters[NatCounter.EarlyDrops]} early drops`);
  assert.ok(nat.counters[NatCounter.AddressQuotaHits] > 0, 'quota recycling exercised');
  assert.ok(nat.counters[NatCounter.PortsReclaimed] > 0, 'pool reclaim exercised');
  if (noted) assert.ok(nat.sessions.createdCount > 0 && nat.sessions.created[0]! > 0, 'sessions noted');
  assert.equal(gcs, 0, `${gcs} GCs while making room`);
});

test('refusals allocate nothing: RSTs, port unreachables (the packet moved up in place) and rate-limited drops', async () => {
  const nat = new Nat66({ networks: [{ name: 'd', insideSubnets: ['fd00::/64'], externalAddresses: [EXT] }], seed: 4 });
  const templates = [tcpPacket('2001:db8:5::5', 40_000, EXT, 8080, TCP_SYN), udpPacket('2001:db8:5::5', 5353, EXT, 9999, 200)];
  const room = 2048;
  const ring = new Uint8Array(BATCH * room);
  const batch = new NatBatch(BATCH);
  batch.room = room;
  let replies = 0;
  let limited = 0;
  const round = (i: number): void => {
    batch.count = 0;
    for (let j = 0; j < BATCH; j++) {
      const t = templates[j & 1]!;
      const at = j * room;
      for (let b = 0; b < t.length; b++) ring[at + b] = t[b]!;
      batch.add(at, t.length);
    }
    // Eight packets a millisecond against a bucket of one a millisecond: most are limited.
    batch.now = NOW + i * 8 + 0.125;
    nat.translateBatch(ring, batch);
    for (let j = 0; j < BATCH; j++) {
      if (batch.verdicts[j] === Verdict.Reply) replies++;
      else limited++;
    }
  };
  for (let i = 0; i < 5_000; i++) round(i);
  const gc = countGcs();
  for (let i = 5_000; i < 20_000; i++) round(i);
  const gcs = await gc.stop();
  assert.ok(replies > 100_000 && limited > 100_000, `${replies} replies, ${limited} limited`);
  assert.ok(nat.counters[NatCounter.RstSent] > 0 && nat.counters[NatCounter.UnreachableSent] > 0);
  assert.equal(gcs, 0, `${gcs} GCs while refusing`);
});

test('drops counted per network and per inside address allocate nothing (outbound, inbound, NPTv6, none of ours)', async () => {
  const nat = new Nat66({
    networks: [
      { name: 'd', insideSubnets: ['fd00::/64'], externalAddresses: [EXT] },
      { name: 'p', insideSubnets: ['fd01::/64'], mode: 'nptv6', externalPrefix: '2001:db8:fe::/64' },
    ], seed: 5,
  });
  // fd00::7 has a session (so a host record); fd00::8 has none.
  const open = udpPacket('fd00::7', 1000, '2001:db8:77::', 53);
  assert.equal(nat.translate(open, 0, open.length, NOW), Verdict.Forward);
  const esp = (p: Uint8Array): Uint8Array => { p[6] = 50; return p; };
  const templates = [
    esp(udpPacket('fd00::7', 1000, '2001:db8:77::', 53)), // unsupported-protocol, on d and fd00::7
    tcpPacket('fd00::8', 1000, '2001:db8:77::', 80, TCP_ACK | TCP_RST), // a RST with no session: no-session, on d only
    udpPacket('2001:db8:5::5', 5353, EXT, 9999), // no-mapping (dropped: no room for a refusal), on d
    esp(udpPacket('2001:db8:5::5', 5353, '2001:db8:fe::9', 9999)), // NPTv6 passes any protocol: forwarded
    udpPacket('2001:db8:5::5', 5353, '2001:db8:99::1', 9999), // not-external: no network
  ];
  const ring = new Uint8Array(BATCH * SLOT);
  const batch = new NatBatch(BATCH);
  const round = (i: number): void => {
    batch.count = 0;
    for (let j = 0; j < BATCH; j++) {
      const t = templates[j % templates.length]!;
      const at = j * SLOT;
      for (let b = 0; b < t.length; b++) ring[at + b] = t[b]!;
      batch.add(at, t.length);
    }
    batch.now = NOW + i + 0.5;
    nat.translateBatch(ring, batch);
  };
  for (let i = 0; i < 5_000; i++) round(i);
  const gc = countGcs();
  for (let i = 5_000; i < 20_000; i++) round(i);
  const gcs = await gc.stop();
  const perNet = (net: number, reason: string): number => nat.netDrops[net * DROP_REASON_COUNT + DROP_REASON_NAMES.indexOf(reason)]!;
  const host = nat.table.hosts.find(new Uint32Array([0xfd000000, 0, 0, 7]), 0);
  const perHost = (reason: string): number => nat.table.hosts.drops[host * DROP_REASON_COUNT + DROP_REASON_NAMES.indexOf(reason)]!;
  // Packets of template k: those of the 20,000 batches at positions j = k (mod 5).
  const sent = (k: number): number => 20_000 * Math.ceil((BATCH - k) / templates.length);
  assert.ok(host !== 0);
  assert.equal(perNet(0, 'unsupported-protocol'), sent(0));
  assert.equal(perHost('unsupported-protocol'), sent(0));
  assert.equal(perNet(0, 'no-session'), sent(1));
  assert.equal(perHost('no-session'), 0);
  assert.equal(perNet(0, 'no-mapping'), sent(2));
  assert.equal(nat.netDrops.reduce((a, b) => a + b, 0), sent(0) + sent(1) + sent(2), 'not-external names no network');
  assert.equal(nat.netCounters[4 + HostCounter.PacketsIn], sent(3), 'NPTv6 counts its inbound packets');
  assert.equal(gcs, 0, `${gcs} GCs while counting drops`);
});
