// Refusals (src/nat/refuse.ts): a packet to a port of an external address
// with no mapping is replaced in its buffer by a TCP RST or an ICMPv6 port
// unreachable, rate-limited on the caller's clock; never in answer to a RST,
// an error, a fragment, a bad checksum or a source that names no one node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Nat66, NatBatch } from '../../src/nat/nat66.js';
import { NatDrop } from '../../src/nat/drop.js';
import { Verdict, NatCounter } from '../../src/nat/types.js';
import { ConfigError } from '../../src/errors.js';
import { Ipv6Chain, walkChain } from '../../src/wire/ipv6-ext.js';
import { verifyL4Checksum } from '../../src/wire/checksum.js';
import { MIN_MTU } from '../../src/wire/ipv6.js';
import * as tcp from '../../src/wire/tcp.js';
import * as icmpv6 from '../../src/wire/icmpv6.js';
import * as sctp from '../../src/wire/sctp.js';
import type { NatConfig } from '../../src/nat/engine-config.js';
import {
  udpPacket, tcpPacket, echoPacket, srcText, dstText, fixChecksum, TCP_SYN, TCP_ACK, TCP_FIN, TCP_RST, TCP, ICMP6,
} from './support.js';

const EXT = '2001:db8:ffff::1';
const A = 'fd00::a';
const R1 = '2001:db8:1::1';
/** Room a TUN ring slot gives (SLOT_SIZE - HEADROOM in src/datapath/loop.ts), more than any reply needs. */
const ROOM = 65536;

function nat(extra: Partial<NatConfig> = {}): Nat66 {
  return new Nat66({
    networks: [{ name: 'docker0', insideSubnets: ['fd00::/64'], externalAddresses: [EXT] }],
    capacity: 64, seed: 1, ...extra,
  });
}

/** The packet in a buffer with room after it, translated; returns the verdict and the buffer cut to the reply's length. */
function send(n: Nat66, p: Uint8Array, now: number, room = ROOM): { v: number; out: Uint8Array } {
  const buf = new Uint8Array(Math.max(room, p.length));
  buf.set(p);
  const v = n.translate(buf, 0, p.length, now, false, room);
  return { v, out: v === Verdict.Reply ? buf.subarray(0, n.replyLength) : buf.subarray(0, p.length) };
}

function chainOf(p: Uint8Array): Ipv6Chain {
  const ch = new Ipv6Chain();
  assert.equal(walkChain(p, 0, p.length, ch, false), 0, 'the reply is a well-formed IPv6 packet');
  return ch;
}

test('a SYN to an unpublished port gets a RST: SEQ=0, ACK=SEG.SEQ+SEG.LEN, RST|ACK, addresses and ports swapped, checksum valid', () => {
  const n = nat();
  const syn = tcpPacket(R1, 40000, EXT, 8080, TCP_SYN);
  const { v, out } = send(n, syn, 1000);
  assert.equal(v, Verdict.Reply);
  assert.equal(out.length, 60);
  const ch = chainOf(out);
  assert.equal(ch.protocol, TCP);
  assert.equal(srcText(out), EXT);
  assert.equal(dstText(out), R1);
  const l4 = ch.l4Offset;
  assert.equal(tcp.srcPort(out, l4), 8080);
  assert.equal(tcp.dstPort(out, l4), 40000);
  assert.equal(tcp.seqNumber(out, l4), 0);
  assert.equal(tcp.ackNumber(out, l4), 0x12345678 + 1, 'the SYN counts one');
  assert.equal(tcp.flags(out, l4), TCP_RST | TCP_ACK);
  assert.equal(tcp.headerLength(out, l4), 20);
  assert.equal(tcp.window(out, l4), 0);
  assert.ok(verifyL4Checksum(out, 0, l4, ch.l4Length, TCP));
  assert.equal(n.counters[NatCounter.RstSent], 1);
  assert.equal(n.drops[NatDrop.NoMapping], 1, 'still counted as a packet to no mapping');
  assert.equal(n.table.count, 0, 'no session');
});

test('RST ACK number counts the SYN\'s data and FIN, modulo 2^32', () => {
  const n = nat();
  const syn = tcpPacket(R1, 40000, EXT, 8080, TCP_SYN | TCP_FIN, 10);
  syn.set([0xff, 0xff, 0xff, 0xfa], 44);
  fixChecksum(syn);
  const { v, out } = send(n, syn, 1000);
  assert.equal(v, Verdict.Reply);
  assert.equal(tcp.ackNumber(out, 40), (0xfffffffa + 10 + 1 + 1) % 2 ** 32);
});

test('UDP to nothing gets ICMPv6 port unreachable quoting the whole datagram', () => {
  const n = nat();
  const dgram = udpPacket(R1, 5353, EXT, 9999, 100);
  const { v, out } = send(n, dgram, 1000);
  assert.equal(v, Verdict.Reply);
  assert.equal(out.length, 48 + dgram.length);
  const ch = chainOf(out);
  assert.equal(ch.protocol, ICMP6);
  assert.equal(srcText(out), EXT);
  assert.equal(dstText(out), R1);
  assert.equal(icmpv6.type(out, ch.l4Offset), 1);
  assert.equal(icmpv6.code(out, ch.l4Offset), 4);
  assert.equal(icmpv6.word(out, ch.l4Offset), 0);
  assert.deepEqual(out.subarray(icmpv6.embeddedOffset(ch.l4Offset)), dgram, 'the offending packet, as received');
  assert.ok(verifyL4Checksum(out, 0, ch.l4Offset, ch.l4Length, ICMP6));
  assert.equal(n.counters[NatCounter.UnreachableSent], 1);
});

test('the quote stops where the error reaches 1280 bytes, or the room the caller gives', () => {
  const big = udpPacket(R1, 5353, EXT, 9999, 1400);
  const full = send(nat(), big, 1000);
  assert.equal(full.v, Verdict.Reply);
  assert.equal(full.out.length, MIN_MTU);
  assert.deepEqual(full.out.subarray(48), big.subarray(0, MIN_MTU - 48));
  assert.ok(verifyL4Checksum(full.out, 0, 40, MIN_MTU - 40, ICMP6));

  const tight = send(nat(), big, 1000, 300);
  assert.equal(tight.v, Verdict.Reply);
  assert.equal(tight.out.length, 300);
  assert.deepEqual(tight.out.subarray(48), big.subarray(0, 252));

  const none = send(nat(), big, 1000, 0);
  assert.equal(none.v, -NatDrop.NoMapping, 'no room: a drop, as before');
  assert.deepEqual(none.out, big, 'untouched');
});

test('TCP segments other than a SYN get port unreachable, not a RST (an established connection survives it)', () => {
  for (const flags of [TCP_ACK, TCP_SYN | TCP_ACK, TCP_FIN | TCP_ACK, 0]) {
    const n = nat();
    const seg = tcpPacket(R1, 40000, EXT, 8080, flags, 5);
    const { v, out } = send(n, seg, 1000);
    assert.equal(v, Verdict.Reply, `flags ${flags}`);
    const ch = chainOf(out);
    assert.equal(ch.protocol, ICMP6);
    assert.equal(icmpv6.code(out, ch.l4Offset), 4);
    assert.deepEqual(out.subarray(48), seg);
    assert.equal(n.counters[NatCounter.UnreachableSent], 1);
    assert.equal(n.counters[NatCounter.RstSent], 0);
  }
});

test('SCTP to nothing gets port unreachable; with a wrong CRC32c nothing', () => {
  const n = nat();
  const init = sctpPacket(R1, 5000, EXT, 3868);
  const { v, out } = send(n, init, 1000);
  assert.equal(v, Verdict.Reply);
  assert.equal(icmpv6.code(out, 40), 4);
  assert.deepEqual(out.subarray(48), init);
  const bad = sctpPacket(R1, 5000, EXT, 3868);
  bad[bad.length - 1] ^= 1;
  assert.equal(send(n, bad, 1000).v, -NatDrop.NoMapping);
  assert.equal(n.counters[NatCounter.UnreachableSent], 1);
});

test('no reply to a RST, an ICMPv6 error, an echo, a fragment or a bad checksum', () => {
  const n = nat();
  const rst = tcpPacket(R1, 40000, EXT, 8080, TCP_RST);
  assert.equal(send(n, rst, 1000).v, -NatDrop.NoMapping);
  const rstAck = tcpPacket(R1, 40000, EXT, 8080, TCP_RST | TCP_ACK);
  assert.equal(send(n, rstAck, 1000).v, -NatDrop.NoMapping);

  // An error about a packet we never sent fails as an error, never refused.
  const quoted = udpPacket(EXT, 7777, R1, 53);
  const err = icmpError(R1, EXT, quoted);
  assert.equal(send(n, err, 1000).v, -NatDrop.IcmpErrorNoMapping);
  assert.equal(send(n, echoPacket(R1, EXT, 128, 99), 1000).v, -NatDrop.NoMapping);

  const bad = udpPacket(R1, 5353, EXT, 9999);
  bad[bad.length - 1] ^= 0xff;
  assert.equal(send(n, bad, 1000).v, -NatDrop.NoMapping);
  const badSyn = tcpPacket(R1, 40000, EXT, 8080, TCP_SYN);
  badSyn[47] ^= 1;
  assert.equal(send(n, badSyn, 1000).v, -NatDrop.NoMapping);

  const frag = fragmentOf(udpPacket(R1, 5353, EXT, 9999, 32));
  assert.equal(send(n, frag, 1000).v, -NatDrop.NoMapping);

  assert.equal(n.counters[NatCounter.RstSent] + n.counters[NatCounter.UnreachableSent], 0);
  assert.equal(n.counters[NatCounter.RefusalsRateLimited], 0, 'no token spent on them');
});

test('no reply to a source that names no one node: multicast, unspecified, loopback, link-local, our own address', () => {
  const n = nat();
  for (const src of ['ff02::1', 'ff0e::1234', '::', '::1', 'fe80::1', EXT]) {
    assert.equal(send(n, tcpPacket(src, 40000, EXT, 8080, TCP_SYN), 1000).v, -NatDrop.NoMapping, src);
    assert.equal(send(n, udpPacket(src, 5353, EXT, 9999), 1000).v, -NatDrop.NoMapping, src);
  }
  assert.equal(n.counters[NatCounter.RstSent] + n.counters[NatCounter.UnreachableSent], 0);
});

test('rate limit: a burst of 50, then one a millisecond on the injected clock', () => {
  const n = nat();
  const syn = tcpPacket(R1, 40000, EXT, 8080, TCP_SYN);
  let replies = 0;
  for (let i = 0; i < 200; i++) if (send(n, syn, 5000).v === Verdict.Reply) replies++;
  assert.equal(replies, 50, 'the burst');
  assert.equal(n.counters[NatCounter.RefusalsRateLimited], 150);
  assert.equal(send(n, syn, 5000.5).v, -NatDrop.NoMapping, 'half a token');
  assert.equal(send(n, syn, 5001).v, Verdict.Reply, 'one token a millisecond');
  assert.equal(send(n, syn, 5001).v, -NatDrop.NoMapping);
  replies = 0;
  for (let t = 5002; t < 6002; t++) if (send(n, udpPacket(R1, 5353, EXT, 9999), t).v === Verdict.Reply) replies++;
  assert.equal(replies, 1000, 'a second at 1,000 a second: UDP and TCP share the bucket');
  replies = 0;
  for (let i = 0; i < 100; i++) if (send(n, syn, 60_000).v === Verdict.Reply) replies++;
  assert.equal(replies, 50, 'idle refills no further than the burst');
  assert.equal(n.counters[NatCounter.RstSent] + n.counters[NatCounter.UnreachableSent], 50 + 1 + 1000 + 50);
});

test('the rate and burst are options', () => {
  const n = nat({ refuseRate: 10, refuseBurst: 2 });
  const dgram = udpPacket(R1, 5353, EXT, 9999);
  const at = (t: number): number => send(n, dgram, t).v;
  assert.deepEqual([at(0), at(0), at(0)], [Verdict.Reply, Verdict.Reply, -NatDrop.NoMapping]);
  assert.equal(at(99), -NatDrop.NoMapping);
  assert.equal(at(100), Verdict.Reply, 'one every 100 ms');
  assert.throws(() => nat({ refuseRate: 0 }), ConfigError);
  assert.throws(() => nat({ refuseBurst: 0.5 }), ConfigError);
  assert.throws(() => nat({ refuse: 'loud' as never }), /refuse must be one of reply, silent/);
});

test('refuse: silent keeps the old drop', () => {
  const n = nat({ refuse: 'silent' });
  const syn = tcpPacket(R1, 40000, EXT, 8080, TCP_SYN);
  const { v, out } = send(n, syn, 1000);
  assert.equal(v, -NatDrop.NoMapping);
  assert.deepEqual(out, syn);
  assert.equal(send(n, udpPacket(R1, 5353, EXT, 9999), 1000).v, -NatDrop.NoMapping);
  assert.equal(n.counters[NatCounter.RstSent] + n.counters[NatCounter.UnreachableSent] + n.counters[NatCounter.RefusalsRateLimited], 0);
});

test('mapped and published ports are translated as before; filtered ones are not refused', () => {
  const n = nat({ published: [{ protocol: 'tcp', externalPort: 8080, insideAddress: A, insidePort: 80 }] });
  assert.equal(send(n, tcpPacket(R1, 40000, EXT, 8080, TCP_SYN), 1000).v, Verdict.Forward);
  const outb = udpPacket(A, 5000, R1, 53);
  assert.equal(n.translate(outb, 0, outb.length, 1000), Verdict.Forward);
  assert.equal(send(n, udpPacket(R1, 53, EXT, 5000), 1001).v, Verdict.Forward);
  assert.equal(send(n, udpPacket('2001:db8:2::2', 53, EXT, 5000), 1001).v, -NatDrop.Filtered, 'a mapping exists: filtering, no reply');
  assert.equal(n.counters[NatCounter.RstSent] + n.counters[NatCounter.UnreachableSent], 0);
});

test('in a batch: the reply replaces its packet, lengths[i] is the reply\'s, the others are translated', () => {
  const n = nat();
  const slot = 2048;
  const buf = new Uint8Array(slot * 3);
  const packets = [udpPacket(A, 5000, R1, 53), tcpPacket(R1, 40000, EXT, 8080, TCP_SYN, 30), udpPacket(R1, 5353, EXT, 9999, 20)];
  const batch = new NatBatch(4);
  batch.now = 1000;
  batch.room = slot;
  packets.forEach((p, i) => { buf.set(p, i * slot); batch.add(i * slot, p.length); });
  n.translateBatch(buf, batch);
  assert.deepEqual([...batch.verdicts.subarray(0, 3)], [Verdict.Forward, Verdict.Reply, Verdict.Reply]);
  assert.deepEqual([...batch.lengths.subarray(0, 3)], [packets[0]!.length, 60, 48 + packets[2]!.length]);
  const rst = buf.subarray(slot, slot + 60);
  assert.equal(tcp.ackNumber(rst, 40), 0x12345678 + 30 + 1);
  assert.equal(dstText(buf.subarray(2 * slot)), R1);

  const dry = new NatBatch(1);
  dry.add(0, packets[1]!.length);
  const again = new Uint8Array(slot);
  again.set(packets[1]!);
  n.translateBatch(again, dry);
  assert.equal(dry.verdicts[0], -NatDrop.NoMapping, 'a batch without room drops, as before');
});

// ---- packet helpers ----

/** A port unreachable from `src` to `dst` quoting `quoted`. */
function icmpError(src: string, dst: string, quoted: Uint8Array): Uint8Array {
  const body = 8 + quoted.length;
  const p = new Uint8Array(40 + body);
  const head = udpPacket(src, 1, dst, 1);
  p.set(head.subarray(0, 40));
  p[4] = body >> 8; p[5] = body; p[6] = ICMP6;
  p[40] = 1; p[41] = 4;
  p.set(quoted, 48);
  fixChecksum(p);
  return p;
}

/** The packet as a first fragment (a Fragment header, more fragments set). */
function fragmentOf(p: Uint8Array): Uint8Array {
  const f = new Uint8Array(p.length + 8);
  f.set(p.subarray(0, 40));
  const plen = ((p[4] << 8) | p[5]) + 8;
  f[4] = plen >> 8; f[5] = plen; f[6] = 44;
  f[40] = p[6]; f[43] = 1; f[47] = 7;
  f.set(p.subarray(40), 48);
  fixChecksum(f);
  return f;
}

/** An SCTP packet with one 16-byte chunk, its CRC32c filled. */
function sctpPacket(src: string, sport: number, dst: string, dport: number): Uint8Array {
  const p = udpPacket(src, sport, dst, dport, 20);
  p[6] = 132;
  p.fill(0, 44, 52);
  p[52] = 1; p[55] = 16;
  sctp.fillChecksum(p, 40, 28);
  return p;
}
