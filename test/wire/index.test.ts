import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as wire from '../../src/wire/index.js';

test('the index re-exports the flat helpers and one namespace per protocol', () => {
  for (const name of ['walkChain', 'Ipv6Chain', 'parseNd', 'buildNs', 'buildNa', 'ndLength', 'wireErrorName',
    'verifyL4Checksum', 'updateChecksum', 'updatePartialChecksum', 'formatIpv6', 'parseIpv6', 'formatMac']) {
    assert.equal(typeof (wire as Record<string, unknown>)[name], 'function', name);
  }
  for (const ns of [wire.ethernet, wire.ipv6, wire.tcp, wire.udp, wire.icmpv6, wire.ndp]) {
    assert.equal(typeof ns.check, 'function');
  }
  assert.equal(wire.ipv6.HEADER_LEN, 40);
  assert.equal(wire.tcp.HEADER_LEN, 20);
  assert.equal(wire.udp.HEADER_LEN, 8);
  assert.equal(wire.ethernet.HEADER_LEN, 14);
  assert.equal(wire.icmpv6.HEADER_LEN, 8);
  assert.equal(wire.ipv6Ext.HEADER_LEN, 8);
  assert.equal(wire.ndpOption.HEADER_LEN, 8);
  assert.equal(typeof wire.ndpOption.checkOptions, 'function');
  assert.equal(wire.Protocol.Icmpv6, 58);
  assert.equal(wire.IcmpType.NeighborSolicitation, 135);
  assert.equal(wire.EtherType.Ipv6, 0x86dd);
  assert.equal(wire.OptionType.Nonce, 14);
  assert.equal(wire.WireError.Ok, 0);
});
