import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ndp from '../../src/wire/ndp.js';
import { parseNd, type NdRepr } from '../../src/wire/ndp.js';
import { WireError } from '../../src/wire/error.js';
import { Ipv6Chain, walkChain } from '../../src/wire/ipv6-ext.js';
import { Protocol, writeHeader } from '../../src/wire/ipv6.js';
import { fillL4Checksum } from '../../src/wire/checksum.js';
import { formatIpv6, formatMac, parseIpv6 } from '../../src/wire/address.js';
import { hex, loadPcap } from './corpus.js';

/** An IPv6 packet carrying the ICMPv6 bytes `icmp` (checksum filled unless told otherwise). */
function packet(icmp: string, src: string, dst: string, opts: { hops?: number; ext?: string; extNext?: number; badSum?: boolean } = {}): Uint8Array {
  const body = hex(icmp);
  const ext = hex(opts.ext ?? '');
  const buf = new Uint8Array(40 + ext.length + body.length);
  writeHeader(buf, 0, 0, 0, ext.length + body.length, opts.extNext ?? Protocol.Icmpv6, opts.hops ?? 255,
    parseIpv6(src), 0, parseIpv6(dst), 0);
  buf.set(ext, 40);
  buf.set(body, 40 + ext.length);
  fillL4Checksum(buf, 0, 40 + ext.length, body.length, Protocol.Icmpv6);
  if (opts.badSum) buf[40 + ext.length + 2] ^= 1;
  return buf;
}

const TARGET = '20010db8000000000000000000000042';
const NS = `87 00 0000 00000000 ${TARGET}`;
const NA = `88 00 0000 60000000 ${TARGET}`;
const SLLA = '0101 0011 2233 4455';
const TLLA = '0201 0011 2233 4455';

function parsed(buf: Uint8Array): NdRepr {
  const r = parseNd(buf, 0, buf.length);
  assert.notEqual(typeof r, 'number', `parseNd refused: ${String(r)}`);
  return r as NdRepr;
}

function verdict(buf: Uint8Array): number {
  const r = parseNd(buf, 0, buf.length);
  return typeof r === 'number' ? r : WireError.Ok;
}

test('NS: deconstruction through the hot-path API and parseNd', () => {
  const buf = packet(NS + SLLA, '2001:db8::1', 'ff02::1:ff00:42');
  const chain = new Ipv6Chain();
  assert.equal(walkChain(buf, 0, buf.length, chain), WireError.Ok);
  assert.equal(ndp.validate(buf, 0, chain), WireError.Ok);
  assert.equal(ndp.check(buf, chain.l4Offset, chain.l4Length), WireError.Ok);
  assert.equal(ndp.optionsOffset(buf, chain.l4Offset), chain.l4Offset + 24);
  assert.equal(formatIpv6(buf, ndp.targetOffset(chain.l4Offset)), '2001:db8::42');
  const r = parsed(buf);
  assert.equal(r.kind, 'ns');
  if (r.kind !== 'ns') return;
  assert.equal(formatIpv6(r.target, 0), '2001:db8::42');
  assert.equal(formatMac(r.options.sourceLinkAddr!, 0), '00:11:22:33:44:55');
  assert.equal(r.hopLimit, 255);
  assert.equal(formatIpv6(r.src, 0), '2001:db8::1');
  assert.equal(formatIpv6(r.dst, 0), 'ff02::1:ff00:42');
});

test('NA flags and TLLA', () => {
  const buf = packet(NA + TLLA, '2001:db8::42', '2001:db8::1');
  const r = parsed(buf);
  assert.equal(r.kind, 'na');
  if (r.kind !== 'na') return;
  assert.deepEqual([r.router, r.solicited, r.override], [false, true, true]);
  assert.equal(formatMac(r.options.targetLinkAddr!, 0), '00:11:22:33:44:55');
  assert.equal(ndp.naFlags(buf, 40), ndp.NaFlag.Solicited | ndp.NaFlag.Override);
});

test('RS, RA and Redirect', () => {
  const rs = parsed(packet('85 00 0000 00000000' + SLLA, 'fe80::1', 'ff02::2'));
  assert.equal(rs.kind, 'rs');
  const raBytes = packet('86 00 0000 40c8 0708 0000ea60 000003e8' + SLLA + '0501 0000 000005dc' +
    '0304 40c0 00278d00 00093a80 00000000 20010db8000000010000000000000000', 'fe80::1', 'ff02::1');
  const ra = parsed(raBytes);
  assert.equal(ra.kind, 'ra');
  if (ra.kind === 'ra') {
    assert.equal(ra.curHopLimit, 64);
    assert.equal(ra.managed, true);
    assert.equal(ra.other, true);
    assert.equal(ra.preference, 'high');
    assert.equal(ra.routerLifetime, 1800);
    assert.equal(ra.reachableTime, 60000);
    assert.equal(ra.retransTimer, 1000);
    assert.equal(ra.options.mtu, 1500);
    assert.equal(ra.options.prefixes.length, 1);
    assert.equal(formatIpv6(ra.options.prefixes[0].prefix, 0), '2001:db8:0:1::');
    assert.deepEqual([ra.options.prefixes[0].length, ra.options.prefixes[0].onLink, ra.options.prefixes[0].autonomous], [64, true, true]);
  }
  assert.equal(ndp.raCurHopLimit(raBytes, 40), 64);
  assert.equal(ndp.raFlags(raBytes, 40), 0xc8);
  assert.equal(ndp.raRouterLifetime(raBytes, 40), 1800);
  assert.equal(ndp.raReachableTime(raBytes, 40), 60000);
  assert.equal(ndp.raRetransTimer(raBytes, 40), 1000);
  const redirect = parsed(packet(`89 00 0000 00000000 fe800000000000000000000000000003 ${TARGET}` +
    '0401 000000000000', 'fe80::1', 'fe80::2'));
  assert.equal(redirect.kind, 'redirect');
  if (redirect.kind === 'redirect') {
    assert.equal(formatIpv6(redirect.target, 0), 'fe80::3');
    assert.equal(formatIpv6(redirect.destination, 0), '2001:db8::42');
    assert.equal(redirect.options.redirectedHeader?.length, 0);
  }
  assert.equal(ndp.destinationOffset(40), 64);
});

test('RFC 4861 receive validation: one reason per rule', () => {
  const ok = (b: Uint8Array) => assert.equal(verdict(b), WireError.Ok);
  ok(packet(NS + SLLA, 'fe80::1', 'ff02::1:ff00:42'));
  assert.equal(verdict(packet(NS, 'fe80::1', 'ff02::1:ff00:42', { hops: 254 })), WireError.BadHopLimit);
  assert.equal(verdict(packet(NS.replace('87 00', '87 01'), 'fe80::1', 'ff02::1:ff00:42')), WireError.BadCode);
  assert.equal(verdict(packet(NS, 'fe80::1', 'ff02::1:ff00:42', { badSum: true })), WireError.BadChecksum);
  assert.equal(verdict(packet(NS.slice(0, -8), 'fe80::1', 'ff02::1:ff00:42')), WireError.Truncated);
  assert.equal(verdict(packet(NS + '0100 0000 00000000', 'fe80::1', 'ff02::1:ff00:42')), WireError.BadOptionLength);
  assert.equal(verdict(packet(NS + '0102 0011 2233 4455', 'fe80::1', 'ff02::1:ff00:42')), WireError.BadOptionLength);
  // DAD: unspecified source needs the solicited-node destination and no SLLA.
  ok(packet(NS, '::', 'ff02::1:ff00:42'));
  assert.equal(verdict(packet(NS + SLLA, '::', 'ff02::1:ff00:42')), WireError.BadOption);
  assert.equal(verdict(packet(NS, '::', '2001:db8::42')), WireError.BadAddress);
  assert.equal(verdict(packet(`87 00 0000 00000000 ff020000000000000000000000000001`, 'fe80::1', 'ff02::1')), WireError.BadAddress);
  // NA: solicited flag forbidden to a multicast destination; multicast target forbidden.
  ok(packet(NA.replace('60000000', '20000000'), 'fe80::1', 'ff02::1'));
  assert.equal(verdict(packet(NA, 'fe80::1', 'ff02::1')), WireError.BadAddress);
  assert.equal(verdict(packet(`88 00 0000 20000000 ff020000000000000000000000000001`, 'fe80::1', 'ff02::1')), WireError.BadAddress);
  // RS from :: must not carry SLLA; RA and Redirect must come from link-local.
  ok(packet('85 00 0000 00000000', '::', 'ff02::2'));
  assert.equal(verdict(packet('85 00 0000 00000000' + SLLA, '::', 'ff02::2')), WireError.BadOption);
  assert.equal(verdict(packet('86 00 0000 4000 0708 00000000 00000000', '2001:db8::1', 'ff02::1')), WireError.BadAddress);
  assert.equal(verdict(packet(`89 00 0000 00000000 fe800000000000000000000000000003 ${TARGET}`, '2001:db8::1', 'fe80::2')),
    WireError.BadAddress);
  assert.equal(verdict(packet(`89 00 0000 00000000 ${TARGET} ${TARGET}`, 'fe80::1', 'fe80::2')), WireError.Ok,
    'target equal to destination: the destination is a neighbor');
  assert.equal(verdict(packet(`89 00 0000 00000000 ${TARGET} ff020000000000000000000000000001`, 'fe80::1', 'fe80::2')),
    WireError.BadAddress);
  assert.equal(verdict(packet(`89 00 0000 00000000 2001db80000000000000000000000001 ${TARGET}`, 'fe80::1', 'fe80::2')),
    WireError.BadAddress, 'target neither link-local nor the destination');
  // Not ND at all; fragmented (RFC 6980), atomic fragments included.
  assert.equal(verdict(packet('80 00 0000 00000000', 'fe80::1', 'fe80::2')), WireError.BadType);
  assert.equal(verdict(packet(NS, 'fe80::1', 'ff02::1:ff00:42', { ext: '3a00 0000 00000001', extNext: 44 })), WireError.Fragmented);
  // An ND message behind a Destination Options header is still ND.
  ok(packet(NS, 'fe80::1', 'ff02::1:ff00:42', { ext: '3a00 0104 00000000', extNext: 60 }));
});

test('check for messages without their IPv6 header (raw ICMPv6 sockets)', () => {
  const ns = hex(NS + SLLA);
  assert.equal(ndp.check(ns, 0, ns.length), WireError.Ok);
  assert.equal(ndp.check(ns, 0, 3), WireError.Truncated);
  assert.equal(ndp.check(hex('80000000'), 0, 4), WireError.BadType);
  assert.equal(ndp.checkAddresses(ns, 0, ns.length, parseIpv6('::'), 0, 0), WireError.BadAddress);
  assert.equal(ndp.isNdType(135), true);
  assert.equal(ndp.isNdType(138), false);
  assert.equal(ndp.bodyLength(128), -1);
});

test('captures: ND options (DAD, NA with TLLA, RS, RA with SLLA/MTU/prefix)', () => {
  const kinds = loadPcap('zeek__icmp6-nd-options.pcap').map((p) => {
    const r = parseNd(p.data, p.ipOff, p.ipLen);
    return typeof r === 'number' ? r : r.kind;
  });
  assert.deepEqual(kinds.filter((k) => typeof k === 'string'),
    ['ns', 'na', 'ra', 'ns', 'na', 'ra', 'ra', 'rs', 'ns', 'ra', 'ns', 'ns']);
  assert.ok(kinds.filter((k) => typeof k === 'number').every((k) => k === WireError.BadType), 'the rest is MLD');
  const [, na, ra] = loadPcap('zeek__icmp6-nd-options.pcap').map((p) => parseNd(p.data, p.ipOff, p.ipLen));
  assert.ok(typeof na !== 'number' && na.kind === 'na');
  assert.equal(formatMac(na.options.targetLinkAddr!, 0), 'c2:00:54:f5:00:00');
  assert.ok(typeof ra !== 'number' && ra.kind === 'ra');
  assert.equal(ra.options.mtu, 1500);
  assert.equal(formatIpv6(ra.options.prefixes[0].prefix, 0), '2001:db8:0:1::');
});

test('captures: short ND messages are refused, the well-formed ones parse', () => {
  const verdicts = loadPcap('zeek__icmp6-nd-short-options.pcap').map((p) => {
    const r = parseNd(p.data, p.ipOff, p.ipLen);
    return typeof r === 'number' ? r : r.kind;
  });
  const T = WireError.Truncated;
  assert.deepEqual(verdicts, [T, 'ra', T, 'na', T, 'ns', T, 'redirect', 'ra', 'na', 'ns', 'redirect', T, T, T, T]);
});

test('captures: DAD NS with a nonce, redirect, RA with unknown options, forged zero-lifetime RAs', () => {
  const [nonce] = loadPcap('tcpdump__icmpv6-ns-nonce.pcap').map((p) => parseNd(p.data, p.ipOff, p.ipLen));
  assert.ok(typeof nonce !== 'number' && nonce.kind === 'ns');
  assert.deepEqual(nonce.options.nonce, hex('6069604c0aaa'));
  assert.equal(formatIpv6(nonce.src, 0), '::');

  const [redirect] = loadPcap('zeek__icmp6-redirect.pcap').map((p) => parseNd(p.data, p.ipOff, p.ipLen));
  assert.ok(typeof redirect !== 'number' && redirect.kind === 'redirect');
  // tcpdump prints "<destination> to <target>": "fe80::babe to fe80::cafe".
  assert.equal(formatIpv6(redirect.destination, 0), 'fe80::babe');
  assert.equal(formatIpv6(redirect.target, 0), 'fe80::cafe');

  const [ra] = loadPcap('tcpdump__icmpv6.pcap').map((p) => parseNd(p.data, p.ipOff, p.ipLen));
  assert.ok(typeof ra !== 'number' && ra.kind === 'ra');
  assert.deepEqual(ra.options.unknown, [25, 31, 7, 8]);
  assert.equal(ra.options.prefixes[0].length, 72);

  const zeroLifetime = loadPcap('sixgate__ra-router-lifetime-zero.pcap')
    .map((p) => parseNd(p.data, p.ipOff, p.ipLen))
    .filter((r): r is NdRepr => typeof r !== 'number' && r.kind === 'ra' && r.routerLifetime === 0 && r.preference === 'high');
  assert.equal(zeroLifetime.length, 4);
});
