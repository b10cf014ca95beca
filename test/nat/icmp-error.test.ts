// ICMPv6 errors from real captures through the NAT: the flow they are about
// is built first, then the error as the world would send it (to our external
// address, quoting our translated packet) must come out exactly as captured.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Nat66 } from '../../src/nat/nat66.js';
import { NatDrop } from '../../src/nat/drop.js';
import { Verdict } from '../../src/nat/types.js';
import { WireError } from '../../src/wire/error.js';
import { walkChain, Ipv6Chain } from '../../src/wire/ipv6-ext.js';
import { formatIpv6 } from '../../src/wire/address.js';
import {
  loadPackets, addr, srcText, dstText, rewriteError, udpPacket, equalBytes, diffAt, checksumOk, l4Of,
} from './support.js';

const EXT = '2001:db8:ffff::1';
const EXT_BYTES = addr(EXT);

interface Quote { src: string; dst: string; protocol: number; sport: number; dport: number }

function quoteOf(p: Uint8Array): Quote {
  const outer = l4Of(p)!;
  const e = outer.l4 + 8;
  const ch = new Ipv6Chain();
  assert.equal(walkChain(p, e, p.length - e, ch, true), WireError.Ok);
  const l4 = ch.l4Offset;
  return {
    src: formatIpv6(p, e + 8), dst: formatIpv6(p, e + 24), protocol: ch.protocol,
    sport: (p[l4] << 8) | p[l4 + 1], dport: (p[l4 + 2] << 8) | p[l4 + 3],
  };
}

function natFor(inside: string, portRange?: [number, number]): Nat66 {
  return new Nat66({
    networks: [{ name: 'n', insideSubnets: [`${inside}/128`], externalAddresses: [EXT], portRange }],
    capacity: 256,
    seed: 11,
  });
}

/** Open the quoted UDP flow outbound and return its external port. */
function openFlow(nat: Nat66, q: Quote, now: number): number {
  const p = udpPacket(q.src, q.sport, q.dst, q.dport);
  assert.equal(nat.translate(p, 0, p.length, now), Verdict.Forward);
  return (p[40] << 8) | p[41];
}

const ZEEK_ERRORS = [
  'zeek__icmp6-toobig.pcap',
  'zeek__icmp6-destunreach-ip6ext-udp.pcap',
  'zeek__icmp6-timeexceeded.pcap',
  'zeek__icmp6-paramprob.pcap',
];

for (const file of ZEEK_ERRORS) {
  for (const range of [undefined, [40000, 40999] as [number, number]]) {
    test(`inbound error ${file}${range ? ' (port rewritten)' : ''}: outer and quoted headers restored, checksums valid`, () => {
      const [error] = loadPackets(file);
      assert.ok(checksumOk(error));
      const q = quoteOf(error);
      assert.equal(q.protocol, 17);
      const nat = natFor(q.src, range);
      const extPort = openFlow(nat, q, 1000);
      const before = nat.listSessions()[0];
      // The world's view: the error is addressed to us and quotes our translated packet.
      const wire = rewriteError(error, { outerDst: EXT_BYTES, quotedSrc: EXT_BYTES, quotedSport: extPort });
      const buf = wire.slice();
      assert.equal(nat.translate(buf, 0, buf.length, 60_000), Verdict.Forward);
      assert.ok(equalBytes(buf, error), diffAt(buf, error));
      const after = nat.listSessions()[0];
      assert.equal(after.expiresInMs, before.expiresInMs - 59_000, 'an error does not refresh the session');
      assert.equal(after.packetsIn, 0);
      assert.equal(nat.table.count, 1);
      // Corrupt the outer checksum: dropped, not laundered.
      const bad = wire.slice();
      bad[42] ^= 1;
      assert.equal(nat.translate(bad, 0, bad.length, 60_000), -WireError.BadChecksum);
    });
  }
}

test('an inbound error about an unknown flow is dropped and creates nothing', () => {
  const [error] = loadPackets('zeek__icmp6-timeexceeded.pcap');
  const q = quoteOf(error);
  const nat = natFor(q.src);
  const wire = rewriteError(error, { outerDst: EXT_BYTES, quotedSrc: EXT_BYTES });
  assert.equal(nat.translate(wire, 0, wire.length, 1000), -NatDrop.IcmpErrorNoMapping);
  assert.equal(nat.table.count, 0);
});

test('Packet Too Big passes on the mapping alone; other errors need the session', () => {
  const [toobig] = loadPackets('zeek__icmp6-toobig.pcap');
  const [exceeded] = loadPackets('zeek__icmp6-timeexceeded.pcap');
  const q = quoteOf(toobig);
  const nat = natFor(q.src);
  // The session goes to another remote: same mapping, different filter tuple.
  const extPort = openFlow(nat, { ...q, dst: '2001:db8::77' }, 1000);
  const tb = rewriteError(toobig, { outerDst: EXT_BYTES, quotedSrc: EXT_BYTES, quotedSport: extPort });
  assert.equal(nat.translate(tb, 0, tb.length, 1001), Verdict.Forward);
  assert.ok(equalBytes(tb, toobig), diffAt(tb, toobig));
  const te = rewriteError(exceeded, { outerDst: EXT_BYTES, quotedSrc: EXT_BYTES, quotedSport: extPort });
  assert.equal(nat.translate(te, 0, te.length, 1001), -NatDrop.IcmpErrorNoMapping);
});

test('traceroute errors from communityid-icmp6 (time exceeded, port unreachable) come back to the prober', () => {
  const inside = '3ffe:507:0:1:200:86ff:fe05:80da';
  for (const range of [undefined, [40000, 40999] as [number, number]]) {
    const nat = natFor(inside, range);
    let translated = 0;
    let now = 1000;
    for (const p of loadPackets('zeek__communityid-icmp6.pcap')) {
      const i = l4Of(p)!;
      if (i.protocol !== 58 || p[i.l4] >= 128 || dstText(p) !== inside) continue;
      const q = quoteOf(p);
      assert.equal(q.src, inside);
      const extPort = openFlow(nat, q, now++);
      const wire = rewriteError(p, { outerDst: EXT_BYTES, quotedSrc: EXT_BYTES, quotedSport: extPort });
      assert.equal(nat.translate(wire, 0, wire.length, now), Verdict.Forward);
      assert.ok(equalBytes(wire, p), diffAt(wire, p));
      translated++;
    }
    assert.equal(translated, 12);
  }
});

test('outbound error: port unreachable from the inside host about an inbound DNS answer', () => {
  const inside = '3ffe:507:0:1:200:86ff:fe05:80da';
  const error = loadPackets('zeek__communityid-icmp6.pcap').find((p) => {
    const i = l4Of(p)!;
    return i.protocol === 58 && p[i.l4] === 1 && srcText(p) === inside;
  })!;
  assert.ok(error && checksumOk(error));
  const q = quoteOf(error); // the DNS answer: remote:53 → inside:2410
  assert.equal(q.dst, inside);
  for (const range of [undefined, [40000, 40999] as [number, number]]) {
    const nat = natFor(inside, range);
    const extPort = openFlow(nat, { src: q.dst, sport: q.dport, dst: q.src, dport: q.sport, protocol: 17 }, 1000);
    const buf = error.slice();
    assert.equal(nat.translate(buf, 0, buf.length, 1001), Verdict.Forward);
    const want = rewriteError(error, { outerSrc: EXT_BYTES, quotedDst: EXT_BYTES, quotedDport: extPort });
    assert.ok(equalBytes(buf, want), diffAt(buf, want));
    assert.ok(checksumOk(buf));
    assert.equal(nat.counters[8], 1);
  }
});

test('an error quoting an error, or a fragment of an error, is not translated', () => {
  const [error] = loadPackets('zeek__icmp6-paramprob.pcap');
  const nat = natFor(quoteOf(error).src);
  // Quote an ICMPv6 error instead of UDP: rewrite the quoted next header to 58, type 1.
  const nested = error.slice();
  const e = 48;
  nested[e + 6] = 58;
  nested[e + 40] = 1;
  const wire = rewriteError(nested, { outerDst: EXT_BYTES });
  assert.equal(nat.translate(wire, 0, wire.length, 1), -NatDrop.IcmpErrorMalformed);
  assert.equal(formatIpv6(wire, 24), EXT);
});
