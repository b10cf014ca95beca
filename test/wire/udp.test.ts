import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as udp from '../../src/wire/udp.js';
import { WireError } from '../../src/wire/error.js';
import { Ipv6Chain, walkChain } from '../../src/wire/ipv6-ext.js';
import { verifyL4Checksum } from '../../src/wire/checksum.js';
import { hex, placed, loadPcap } from './corpus.js';

const DATAGRAM = hex('d431 0035 000c 4a1f 01020304');

test('deconstruction', () => {
  const buf = placed(DATAGRAM, 2);
  assert.equal(udp.check(buf, 2, DATAGRAM.length), WireError.Ok);
  assert.equal(udp.srcPort(buf, 2), 54321);
  assert.equal(udp.dstPort(buf, 2), 53);
  assert.equal(udp.length(buf, 2), 12);
  assert.equal(udp.checksum(buf, 2), 0x4a1f);
  assert.equal(udp.checksumOffset(2), 8);
});

test('construction writes every header byte', () => {
  const buf = new Uint8Array(14).fill(0xff);
  assert.equal(udp.writeHeader(buf, 1, 54321, 53, 12), udp.HEADER_LEN);
  assert.deepEqual(buf.subarray(1, 9), hex('d431 0035 000c 0000'));
  assert.equal(buf[9], 0xff);
  udp.setChecksum(buf, 1, 0x4a1f);
  udp.setLength(buf, 1, 8);
  assert.equal(udp.checksum(buf, 1), 0x4a1f);
  assert.equal(udp.length(buf, 1), 8);
});

test('truncated, length field too small or too large', () => {
  assert.equal(udp.check(DATAGRAM, 0, 7), WireError.Truncated);
  assert.equal(udp.check(DATAGRAM, 0, 11), WireError.BadLength);
  const short = Uint8Array.from(DATAGRAM);
  short[5] = 7;
  assert.equal(udp.check(short, 0, short.length), WireError.BadLength);
  short[5] = 8;
  assert.equal(udp.check(short, 0, short.length), WireError.Ok, 'a length below the payload is accepted');
});

test('captures: the RAW-link DNS query (TUN-style frame)', () => {
  const [p] = loadPcap('tcpdump__LINKTYPE_RAW_ipv6.pcap');
  assert.equal(p.ipOff, 0);
  const chain = new Ipv6Chain();
  assert.equal(walkChain(p.data, 0, p.ipLen, chain), WireError.Ok);
  assert.equal(udp.check(p.data, chain.l4Offset, chain.l4Length), WireError.Ok);
  assert.equal(udp.dstPort(p.data, chain.l4Offset), 53);
  assert.equal(verifyL4Checksum(p.data, 0, chain.l4Offset, chain.l4Length, 17), true);
});

test('captures: every unfragmented QUIC datagram passes the gate', () => {
  const chain = new Ipv6Chain();
  let n = 0;
  for (const p of loadPcap('zeek__quic-chromium-google-de-fragmented.pcap')) {
    assert.equal(walkChain(p.data, p.ipOff, p.ipLen, chain), WireError.Ok);
    assert.equal(udp.check(p.data, chain.l4Offset, chain.l4Length), WireError.Ok);
    assert.equal(udp.length(p.data, chain.l4Offset), chain.l4Length);
    n++;
  }
  assert.equal(n, 917);
});
