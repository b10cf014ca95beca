import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ipOffset, linkEtherType, linkErrorName, linktypeName, LinkError,
  LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_IPV6, LINKTYPE_LINUX_SLL, LINKTYPE_NULL, LINKTYPE_LOOP,
} from '../../src/pcap/linktype.js';

function ethernet(type: number, extra = 40, vlan = false): Uint8Array {
  const head = vlan ? 18 : 14;
  const frame = new Uint8Array(head + extra);
  if (vlan) { frame[12] = 0x81; frame[13] = 0x00; frame[15] = 7; }
  frame[head - 2] = type >> 8;
  frame[head - 1] = type & 0xff;
  return frame;
}

test('Ethernet: IPv6, IPv4, ARP, one 802.1Q tag, truncated', () => {
  assert.equal(ipOffset(LINKTYPE_ETHERNET, ethernet(0x86dd)), 14);
  assert.equal(ipOffset(LINKTYPE_ETHERNET, ethernet(0x0800)), 14);
  assert.equal(linkEtherType(LINKTYPE_ETHERNET, ethernet(0x0800)), 0x0800);
  assert.equal(ipOffset(LINKTYPE_ETHERNET, ethernet(0x86dd, 40, true)), 18);
  assert.equal(ipOffset(LINKTYPE_ETHERNET, ethernet(0x0806)), LinkError.NOT_IP);
  assert.equal(linkEtherType(LINKTYPE_ETHERNET, ethernet(0x0806)), 0x0806);
  assert.equal(ipOffset(LINKTYPE_ETHERNET, new Uint8Array(13)), LinkError.TRUNCATED);
  assert.equal(ipOffset(LINKTYPE_ETHERNET, ethernet(0x86dd, 0, true).subarray(0, 16)), LinkError.TRUNCATED);
});

test('bare IP: RAW carries either version, IPV6 (229) always means IPv6', () => {
  const v4 = Uint8Array.of(0x45, 0);
  const v6 = Uint8Array.of(0x60, 0);
  assert.equal(ipOffset(LINKTYPE_RAW, v6), 0);
  assert.equal(linkEtherType(LINKTYPE_RAW, v4), 0x0800);
  assert.equal(linkEtherType(LINKTYPE_RAW, v6), 0x86dd);
  assert.equal(linkEtherType(LINKTYPE_IPV6, v4), 0x86dd);
  assert.equal(ipOffset(LINKTYPE_IPV6, new Uint8Array(0)), LinkError.TRUNCATED);
});

test('Linux cooked captures and unknown link types', () => {
  const sll = new Uint8Array(16 + 20);
  sll[14] = 0x08;
  assert.equal(ipOffset(LINKTYPE_LINUX_SLL, sll), 16);
  assert.equal(ipOffset(LINKTYPE_LINUX_SLL, sll.subarray(0, 15)), LinkError.TRUNCATED);
  assert.equal(ipOffset(147, sll), LinkError.UNSUPPORTED_LINKTYPE);
  assert.equal(linktypeName(LINKTYPE_LINUX_SLL), 'LINUX_SLL');
  assert.equal(linktypeName(147), 'linktype 147');
  assert.equal(linkErrorName(LinkError.UNSUPPORTED_LINKTYPE), 'unsupported-linktype');
});

test('BSD loopback (NULL, LOOP): the address family in either byte order, AF_INET6 as three systems number it', () => {
  const framed = (family: number, littleEndian: boolean) => {
    const frame = new Uint8Array(4 + 40);
    new DataView(frame.buffer).setUint32(0, family, littleEndian);
    return frame;
  };
  for (const linktype of [LINKTYPE_NULL, LINKTYPE_LOOP]) {
    for (const littleEndian of [true, false]) {
      for (const family of [24, 28, 30]) {
        assert.equal(linkEtherType(linktype, framed(family, littleEndian)), 0x86dd);
        assert.equal(ipOffset(linktype, framed(family, littleEndian)), 4);
      }
      assert.equal(linkEtherType(linktype, framed(2, littleEndian)), 0x0800);
      assert.equal(ipOffset(linktype, framed(10, littleEndian)), LinkError.NOT_IP);
    }
    assert.equal(ipOffset(linktype, new Uint8Array(3)), LinkError.TRUNCATED);
  }
  assert.equal(linkEtherType(LINKTYPE_NULL, Uint8Array.of(1, 0, 0, 24)), LinkError.NOT_IP);
  assert.deepEqual([linktypeName(LINKTYPE_NULL), linktypeName(LINKTYPE_LOOP)], ['NULL', 'LOOP']);
});
