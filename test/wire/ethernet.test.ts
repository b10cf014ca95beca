import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as eth from '../../src/wire/ethernet.js';
import { WireError } from '../../src/wire/error.js';
import { hex, placed } from './corpus.js';

const UNTAGGED = hex('333300000001 | 020000000001 | 86dd | 60');
const TAGGED = hex('ffffffffffff | 020000000002 | 8100 | a064 | 86dd | 60');

test('deconstruction: untagged', () => {
  const buf = placed(UNTAGGED, 5);
  assert.equal(eth.check(buf, 5, UNTAGGED.length), WireError.Ok);
  assert.equal(eth.checkIpv6(buf, 5, UNTAGGED.length), WireError.Ok);
  assert.equal(eth.etherType(buf, 5), eth.EtherType.Ipv6);
  assert.equal(eth.headerLength(buf, 5), 14);
  assert.equal(eth.vlanId(buf, 5), -1);
  assert.equal(eth.vlanPriority(buf, 5), -1);
  assert.equal(eth.isGroupDst(buf, 5), true);
  assert.deepEqual(buf.subarray(eth.srcOffset(5), eth.srcOffset(5) + 6), hex('020000000001'));
  assert.deepEqual(buf.subarray(eth.dstOffset(5), eth.dstOffset(5) + 6), hex('333300000001'));
});

test('deconstruction: one 802.1Q tag', () => {
  assert.equal(eth.checkIpv6(TAGGED, 0, TAGGED.length), WireError.Ok);
  assert.equal(eth.etherType(TAGGED, 0), eth.EtherType.Ipv6);
  assert.equal(eth.headerLength(TAGGED, 0), 18);
  assert.equal(eth.vlanId(TAGGED, 0), 100);
  assert.equal(eth.vlanPriority(TAGGED, 0), 5);
});

test('truncated header and truncated tag', () => {
  assert.equal(eth.check(UNTAGGED, 0, 13), WireError.Truncated);
  assert.equal(eth.check(TAGGED, 0, 17), WireError.Truncated);
  assert.equal(eth.check(TAGGED, 0, 18), WireError.Ok);
  assert.equal(eth.checkIpv6(TAGGED, 0, 0), WireError.Truncated);
});

test('non-IPv6 EtherType is NotIpv6', () => {
  const arp = hex('ffffffffffff 020000000001 0806');
  assert.equal(eth.check(arp, 0, arp.length), WireError.Ok);
  assert.equal(eth.checkIpv6(arp, 0, arp.length), WireError.NotIpv6);
  const v4inVlan = hex('ffffffffffff 020000000001 8100 0001 0800');
  assert.equal(eth.checkIpv6(v4inVlan, 0, v4inVlan.length), WireError.NotIpv6);
});

test('construction writes every byte (untagged and tagged)', () => {
  const macs = hex('333300000001 020000000001');
  const buf = new Uint8Array(20).fill(0xff);
  assert.equal(eth.writeHeader(buf, 2, macs, 0, macs, 6, eth.EtherType.Ipv6), eth.HEADER_LEN);
  assert.deepEqual(buf.subarray(2, 16), UNTAGGED.subarray(0, 14));
  assert.equal(buf[1], 0xff);
  assert.equal(buf[16], 0xff);

  const tagged = new Uint8Array(18).fill(0xee);
  const bcast = hex('ffffffffffff 020000000002');
  assert.equal(eth.writeVlanHeader(tagged, 0, bcast, 0, bcast, 6, (5 << 13) | 100, eth.EtherType.Ipv6), 18);
  assert.deepEqual(tagged, TAGGED.subarray(0, 18));
});
