import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as icmpv6 from '../../src/wire/icmpv6.js';
import { WireError } from '../../src/wire/error.js';
import { Ipv6Chain, walkChain } from '../../src/wire/ipv6-ext.js';
import { Protocol, writeHeader } from '../../src/wire/ipv6.js';
import { fillL4Checksum, verifyL4Checksum } from '../../src/wire/checksum.js';
import * as udp from '../../src/wire/udp.js';
import { hex, placed, loadPcap } from './corpus.js';

const ECHO = hex('80 00 1234 beef 0001 6162636465');
const A = hex('20010db8000000000000000000000001');
const B = hex('20010db8000000000000000000000002');

test('deconstruction: echo request', () => {
  const buf = placed(ECHO, 4);
  assert.equal(icmpv6.check(buf, 4, ECHO.length), WireError.Ok);
  assert.equal(icmpv6.type(buf, 4), icmpv6.IcmpType.EchoRequest);
  assert.equal(icmpv6.code(buf, 4), 0);
  assert.equal(icmpv6.checksum(buf, 4), 0x1234);
  assert.equal(icmpv6.echoId(buf, 4), 0xbeef);
  assert.equal(icmpv6.echoSeq(buf, 4), 1);
  assert.equal(icmpv6.isError(icmpv6.type(buf, 4)), false);
  assert.equal(icmpv6.checkError(buf, 4, ECHO.length), WireError.BadType);
});

test('construction writes every header byte', () => {
  const buf = new Uint8Array(10).fill(0xff);
  assert.equal(icmpv6.writeHeader(buf, 1, icmpv6.IcmpType.PacketTooBig, 0, 1280), icmpv6.HEADER_LEN);
  assert.deepEqual(buf.subarray(1, 9), hex('02 00 0000 00000500'));
  assert.equal(buf[9], 0xff);
  assert.equal(icmpv6.mtu(buf, 1), 1280);
  icmpv6.setType(buf, 1, 4);
  icmpv6.setCode(buf, 1, 1);
  icmpv6.setWord(buf, 1, 0xfedcba98);
  icmpv6.setChecksum(buf, 1, 0xabcd);
  icmpv6.setEchoId(buf, 1, 0x4321);
  assert.equal(icmpv6.pointer(buf, 1), 0x4321ba98);
  assert.equal(icmpv6.checksum(buf, 1), 0xabcd);
  assert.equal(icmpv6.checksumOffset(1), 3);
});

test('truncated messages', () => {
  assert.equal(icmpv6.check(ECHO, 0, 7), WireError.Truncated);
  const err = hex('01 04 0000 00000000');
  assert.equal(icmpv6.checkError(err, 0, 8), WireError.Truncated, 'no quoted IPv6 header');
});

test('an error quoting a cut invoking packet: walk in truncated mode reaches the inner ports', () => {
  // Packet Too Big quoting the first 60 bytes of a 1452-byte UDP datagram.
  const invoking = new Uint8Array(1500);
  writeHeader(invoking, 0, 0, 0, 1460, Protocol.Udp, 64, A, 0, B, 0);
  udp.writeHeader(invoking, 40, 5000, 443, 1460);
  const quoted = 60;
  const icmpLen = 8 + quoted;
  const pkt = new Uint8Array(40 + icmpLen);
  writeHeader(pkt, 0, 0, 0, icmpLen, Protocol.Icmpv6, 64, B, 0, A, 0);
  icmpv6.writeHeader(pkt, 40, icmpv6.IcmpType.PacketTooBig, 0, 1280);
  pkt.set(invoking.subarray(0, quoted), 48);
  fillL4Checksum(pkt, 0, 40, icmpLen, Protocol.Icmpv6);

  const outer = new Ipv6Chain();
  assert.equal(walkChain(pkt, 0, pkt.length, outer), WireError.Ok);
  assert.equal(verifyL4Checksum(pkt, 0, outer.l4Offset, outer.l4Length, Protocol.Icmpv6), true);
  assert.equal(icmpv6.checkError(pkt, outer.l4Offset, outer.l4Length), WireError.Ok);
  const innerOff = icmpv6.embeddedOffset(outer.l4Offset);
  const inner = new Ipv6Chain();
  assert.equal(walkChain(pkt, innerOff, outer.l4Length - icmpv6.F.EMBEDDED, inner), WireError.BadLength);
  assert.equal(walkChain(pkt, innerOff, outer.l4Length - icmpv6.F.EMBEDDED, inner, true), WireError.Ok);
  assert.equal(inner.truncated, true);
  assert.equal(inner.protocol, Protocol.Udp);
  assert.equal(inner.l4Length, 20);
  assert.equal(inner.payloadEnd, innerOff + 1500);
  assert.equal(udp.srcPort(pkt, inner.l4Offset), 5000);
  assert.equal(udp.dstPort(pkt, inner.l4Offset), 443);
});

test('captures: the four error types, with their embedded chains', () => {
  const outer = new Ipv6Chain();
  const inner = new Ipv6Chain();
  const errors = (file: string) => loadPcap(file).flatMap((p) => {
    if (walkChain(p.data, p.ipOff, p.ipLen, outer) !== WireError.Ok || outer.protocol !== Protocol.Icmpv6) return [];
    const off = outer.l4Offset;
    if (icmpv6.check(p.data, off, outer.l4Length) !== WireError.Ok || !icmpv6.isError(icmpv6.type(p.data, off))) return [];
    assert.equal(icmpv6.checkError(p.data, off, outer.l4Length), WireError.Ok);
    assert.equal(walkChain(p.data, icmpv6.embeddedOffset(off), outer.l4Length - 8, inner, true), WireError.Ok);
    return [[icmpv6.type(p.data, off), icmpv6.code(p.data, off), icmpv6.word(p.data, off), inner.protocol, inner.headerCount]];
  });
  assert.deepEqual(errors('zeek__icmp6-toobig.pcap'), [[2, 0, 1280, 17, 0]]);
  assert.deepEqual(errors('zeek__icmp6-paramprob.pcap'), [[4, 0, 6, 17, 0]]);
  assert.deepEqual(errors('zeek__icmp6-timeexceeded.pcap'), [[3, 0, 0, 17, 0]]);
  assert.deepEqual(errors('zeek__icmp6-destunreach-ip6ext-udp.pcap'), [[1, 0, 0, 17, 1]]);
  assert.deepEqual(errors('tcpdump__icmpv6-rfc7112.pcap'), [[4, 3, 48, Protocol.Ipv6, 1]]);
  assert.deepEqual(errors('sixgate__atomic-frag-toobig.pcap'), [[2, 0, 1200, 58, 0]]);
  assert.equal(errors('sixgate__ra-router-lifetime-zero.pcap').filter((e) => e[0] === 1 && e[3] === 6).length, 5);
  const community = errors('zeek__communityid-icmp6.pcap');
  assert.equal(community.filter((e) => e[0] === 1).length, 4);
  assert.equal(community.filter((e) => e[0] === 3).length, 9);
});

test('captures: an ICMPv6 message of length 0 fails the gate', () => {
  const [p] = loadPcap('tcpdump__icmpv6-length-zero.pcapng');
  const chain = new Ipv6Chain();
  assert.equal(walkChain(p.data, p.ipOff, p.ipLen, chain), WireError.Ok);
  assert.equal(chain.l4Length, 0);
  assert.equal(icmpv6.check(p.data, chain.l4Offset, chain.l4Length), WireError.Truncated);
});
