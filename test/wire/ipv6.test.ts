import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ipv6 from '../../src/wire/ipv6.js';
import { WireError } from '../../src/wire/error.js';
import { hex, placed, loadPcap } from './corpus.js';

// 2001:db8::1 -> 2001:db8::2, tc 0xb8, flow 0x12345, UDP, hop limit 64, 12-byte payload.
const PACKET = hex(`
  6b812345 000c 11 40
  20010db8000000000000000000000001
  20010db8000000000000000000000002
  d431 0035 000c 0000 01020304`);

test('deconstruction', () => {
  const buf = placed(PACKET, 3, 4);
  assert.equal(ipv6.check(buf, 3, PACKET.length), WireError.Ok);
  assert.equal(ipv6.version(buf, 3), 6);
  assert.equal(ipv6.trafficClass(buf, 3), 0xb8);
  assert.equal(ipv6.flowLabel(buf, 3), 0x12345);
  assert.equal(ipv6.payloadLength(buf, 3), 12);
  assert.equal(ipv6.packetLength(buf, 3), 52);
  assert.equal(ipv6.nextHeader(buf, 3), ipv6.Protocol.Udp);
  assert.equal(ipv6.hopLimit(buf, 3), 64);
  assert.equal(ipv6.srcOffset(3), 11);
  assert.equal(ipv6.dstOffset(3), 27);
  assert.equal(buf[ipv6.srcOffset(3) + 15], 1);
  assert.equal(buf[ipv6.dstOffset(3) + 15], 2);
});

test('construction writes every header byte', () => {
  const buf = new Uint8Array(60).fill(0xff);
  const n = ipv6.writeHeader(buf, 4, 0xb8, 0x12345, 12, ipv6.Protocol.Udp, 64, PACKET, 8, PACKET, 24);
  assert.equal(n, ipv6.HEADER_LEN);
  assert.deepEqual(buf.subarray(4, 44), PACKET.subarray(0, 40));
  assert.equal(buf[3], 0xff);
  assert.equal(buf[44], 0xff);
});

test('setters', () => {
  const buf = Uint8Array.from(PACKET);
  ipv6.setPayloadLength(buf, 0, 0x1234);
  ipv6.setHopLimit(buf, 0, 1);
  ipv6.setNextHeader(buf, 0, 58);
  assert.equal(ipv6.payloadLength(buf, 0), 0x1234);
  assert.equal(ipv6.hopLimit(buf, 0), 1);
  assert.equal(ipv6.nextHeader(buf, 0), 58);
});

test('truncated header', () => {
  assert.equal(ipv6.check(PACKET, 0, 39), WireError.Truncated);
  assert.equal(ipv6.check(PACKET, 0, 0), WireError.Truncated);
});

test('payload length beyond the capture is BadLength', () => {
  assert.equal(ipv6.check(PACKET, 0, 51), WireError.BadLength);
});

test('overlong capture (link padding) is fine and ignored', () => {
  const buf = placed(PACKET, 0, 20);
  assert.equal(ipv6.check(buf, 0, buf.length), WireError.Ok);
  assert.equal(ipv6.packetLength(buf, 0), PACKET.length);
});

test('bad version, and IPv4 reported as NotIpv6', () => {
  const buf = Uint8Array.from(PACKET);
  buf[0] = 0x0b;
  assert.equal(ipv6.check(buf, 0, buf.length), WireError.BadVersion);
  buf[0] = 0x45;
  assert.equal(ipv6.check(buf, 0, 20), WireError.NotIpv6);
});

test('captures: bad version, 39-byte header, IPv4 on LINKTYPE_IPV6, invalid length', () => {
  const verdicts = (file: string) => loadPcap(file).map((p) => ipv6.check(p.data, p.ipOff, p.ipLen));
  assert.deepEqual(verdicts('tcpdump__ipv6-bad-version.pcap'),
    [WireError.Ok, WireError.BadVersion, WireError.Ok, WireError.BadVersion]);
  assert.deepEqual(verdicts('tcpdump__ipv6_invalid_length.pcap'), [WireError.Truncated]);
  assert.deepEqual(verdicts('tcpdump__ipv6_39_byte_header.pcap'), [WireError.Truncated]);
  assert.deepEqual(verdicts('tcpdump__LINKTYPE_IPV6_invalid.pcap'), [WireError.NotIpv6]);
  assert.deepEqual(verdicts('zeek__ip6-trunc.pcap'), [WireError.Truncated]);
  assert.deepEqual(verdicts('tcpdump__LINKTYPE_RAW_ipv6.pcap'), [WireError.Ok]);
});
