import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tcp from '../../src/wire/tcp.js';
import { WireError } from '../../src/wire/error.js';
import { Ipv6Chain, walkChain } from '../../src/wire/ipv6-ext.js';
import { Protocol } from '../../src/wire/ipv6.js';
import { hex, placed, loadPcap } from './corpus.js';

// 443 -> 51000, seq 0x01020304, ack 0xa0b0c0d0, data offset 6 (one MSS option), SYN|ACK, win 65535.
const SEGMENT = hex('01bb c738 01020304 a0b0c0d0 6012 ffff beef 0000 020405b4');

test('deconstruction', () => {
  const buf = placed(SEGMENT, 9);
  assert.equal(tcp.check(buf, 9, SEGMENT.length), WireError.Ok);
  assert.equal(tcp.srcPort(buf, 9), 443);
  assert.equal(tcp.dstPort(buf, 9), 51000);
  assert.equal(tcp.seqNumber(buf, 9), 0x01020304);
  assert.equal(tcp.ackNumber(buf, 9), 0xa0b0c0d0);
  assert.equal(tcp.headerLength(buf, 9), 24);
  assert.equal(tcp.flags(buf, 9), tcp.Flag.Syn | tcp.Flag.Ack);
  assert.equal(tcp.window(buf, 9), 0xffff);
  assert.equal(tcp.checksum(buf, 9), 0xbeef);
  assert.equal(tcp.urgentPointer(buf, 9), 0);
  assert.equal(tcp.checksumOffset(9), 25);
});

test('construction through the setters', () => {
  const buf = Uint8Array.from(SEGMENT);
  tcp.setSrcPort(buf, 0, 1);
  tcp.setDstPort(buf, 0, 0xfffe);
  tcp.setChecksum(buf, 0, 0x1234);
  assert.deepEqual(buf.subarray(0, 4), hex('0001 fffe'));
  assert.equal(tcp.checksum(buf, 0), 0x1234);
});

test('truncated, bad data offset, data offset past the segment', () => {
  assert.equal(tcp.check(SEGMENT, 0, 19), WireError.Truncated);
  assert.equal(tcp.check(SEGMENT, 0, 23), WireError.BadHeaderLength);
  const small = Uint8Array.from(SEGMENT);
  small[12] = 0x40;
  assert.equal(tcp.check(small, 0, small.length), WireError.BadHeaderLength);
  assert.equal(tcp.checkPorts(7), WireError.Truncated);
  assert.equal(tcp.checkPorts(8), WireError.Ok);
});

test('captures: every TCP segment of the HTTP download passes the gate', () => {
  const chain = new Ipv6Chain();
  let n = 0;
  for (const p of loadPcap('suricata-verify__http-body-hook-01.pcap')) {
    assert.equal(walkChain(p.data, p.ipOff, p.ipLen, chain), WireError.Ok);
    assert.equal(chain.protocol, Protocol.Tcp);
    assert.equal(tcp.check(p.data, chain.l4Offset, chain.l4Length), WireError.Ok);
    n++;
  }
  assert.equal(n, 2007);
});
