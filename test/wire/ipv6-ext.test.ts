import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ipv6Chain, walkChain, hasActiveRoutingType0, isExtensionHeader } from '../../src/wire/ipv6-ext.js';
import { Protocol } from '../../src/wire/ipv6.js';
import { WireError } from '../../src/wire/error.js';
import { hex, placed, loadPcap } from './corpus.js';

const SRC = '20010db8000000000000000000000001';
const DST = '20010db8000000000000000000000002';
const ip = (payloadLen: number, next: number) =>
  `60000000 ${payloadLen.toString(16).padStart(4, '0')} ${next.toString(16).padStart(2, '0')} 40 ${SRC} ${DST}`;
const UDP8 = 'd431 0035 0008 0000';

function walk(bytes: Uint8Array, allowTruncated = false, len = bytes.length): { err: number; chain: Ipv6Chain } {
  const chain = new Ipv6Chain();
  const err = walkChain(bytes, 0, len, chain, allowTruncated);
  return { err, chain };
}

test('no extension headers', () => {
  const pkt = hex(ip(8, 17) + UDP8);
  const buf = placed(pkt, 7, 3);
  const chain = new Ipv6Chain();
  assert.equal(walkChain(buf, 7, pkt.length, chain), WireError.Ok);
  assert.equal(chain.protocol, Protocol.Udp);
  assert.equal(chain.l4Offset, 47);
  assert.equal(chain.l4Length, 8);
  assert.equal(chain.protocolFieldOffset, 13);
  assert.equal(chain.payloadEnd, 55);
  assert.equal(chain.pseudoDstOffset, 7 + 24);
  assert.equal(chain.headerCount, 0);
  assert.equal(chain.fragmentHeaderOffset, -1);
  assert.equal(chain.routingType, -1);
  assert.equal(chain.isFragment, false);
  assert.equal(chain.truncated, false);
});

test('hop-by-hop, destination options, routing (SRH), fragment, then TCP', () => {
  const pkt = hex(ip(8 + 8 + 24 + 8 + 20, 0) +
    '3c00 0104 00000000' + // HBH: next DestOpts, PadN
    '2b00 0104 00000000' + // DestOpts: next Routing
    '2c02 0401 00000000 20010db8000000000000000000000099' + // SRH: next Fragment, len 2, type 4, segleft 1, list[0]
    '0600 0000 12345678' + // Fragment: next TCP, offset 0, M 0 (atomic)
    '0400 0050 00000000 00000000 5002ffff 0000 0000');
  const { err, chain } = walk(pkt);
  assert.equal(err, WireError.Ok);
  assert.equal(chain.protocol, Protocol.Tcp);
  assert.equal(chain.l4Offset, 40 + 48);
  assert.equal(chain.l4Length, 20);
  assert.equal(chain.protocolFieldOffset, 40 + 40);
  assert.equal(chain.headerCount, 4);
  assert.equal(chain.hasHopByHop, true);
  assert.equal(chain.routingType, 4);
  assert.equal(chain.segmentsLeft, 1);
  assert.equal(chain.routingHeaderOffset, 56);
  assert.equal(chain.pseudoDstOffset, 56 + 8, 'SRH final destination is Segment List[0]');
  assert.equal(chain.fragmentHeaderOffset, 80);
  assert.equal(chain.fragmentId, 0x12345678);
  assert.equal(chain.isFragment, false, 'atomic fragment');
  assert.equal(hasActiveRoutingType0(chain), false);
});

test('authentication header is walked in 4-byte units; ESP ends the walk', () => {
  const ah = hex(ip(16 + 8, 51) + '1102 0000 00000001 00000001 00000000' + UDP8);
  const a = walk(ah);
  assert.equal(a.err, WireError.Ok);
  assert.equal(a.chain.protocol, Protocol.Udp);
  assert.equal(a.chain.l4Offset, 56);
  const esp = hex(ip(16, 50) + '00000001 00000001 0000000000000000');
  const e = walk(esp);
  assert.equal(e.err, WireError.Ok);
  assert.equal(e.chain.protocol, Protocol.Esp);
  assert.equal(e.chain.l4Length, 16);
  assert.equal(isExtensionHeader(Protocol.Ah), true);
  assert.equal(isExtensionHeader(Protocol.Esp), false);
});

test('non-first fragment stops at the fragment header', () => {
  const pkt = hex(ip(8 + 8, 44) + '1100 05a9 cafebabe' + '0102030405060708');
  const { err, chain } = walk(pkt);
  assert.equal(err, WireError.Ok);
  assert.equal(chain.protocol, Protocol.Udp);
  assert.equal(chain.isFragment, true);
  assert.equal(chain.fragmentOffset, 0x5a8);
  assert.equal(chain.moreFragments, true);
  assert.equal(chain.fragmentId, 0xcafebabe);
  assert.equal(chain.l4Offset, 48);
  assert.equal(chain.l4Length, 8);
});

test('hop-by-hop not first is refused', () => {
  const pkt = hex(ip(16 + 8, 60) + '0000 0104 00000000' + '1100 0104 00000000' + UDP8);
  assert.equal(walk(pkt).err, WireError.HopByHopNotFirst);
});

test('extension header overrunning the payload is BadHeaderLength; cut by the capture in truncated mode is Truncated', () => {
  const pkt = hex(ip(16, 0) + '1102 0104 00000000 0000000000000000');
  assert.equal(walk(pkt).err, WireError.BadHeaderLength);
  const fits = hex(ip(24, 0) + '1101 0104 00000000 0000000000000000' + UDP8);
  assert.equal(walk(fits).err, WireError.Ok);
  assert.equal(walk(fits, false, 50).err, WireError.BadLength);
  assert.equal(walk(fits, true, 50).err, WireError.Truncated);
  const r = walk(fits, true, 60);
  assert.equal(r.err, WireError.Ok);
  assert.equal(r.chain.truncated, true);
  assert.equal(r.chain.l4Length, 4);
  assert.equal(r.chain.payloadEnd, 64);
});

test('zero payload with a fragment header (negative fragment length)', () => {
  assert.equal(walk(hex(ip(0, 44))).err, WireError.BadHeaderLength);
});

test('Jumbo Payload (RFC 2675): refused as Jumbogram unless asked for, then its length counts', () => {
  const jumbo = (length: number, next: number = Protocol.Udp, options = 'c204') =>
    hex(ip(0, Protocol.HopByHop) + `${next.toString(16).padStart(2, '0')}00 ${options} ${length.toString(16).padStart(8, '0')}` + UDP8);
  const big = new Uint8Array(48 + 70000);
  big.set(jumbo(70000));
  const chain = new Ipv6Chain();
  assert.equal(walkChain(big, 0, big.length, chain), WireError.Jumbogram);
  assert.equal(walkChain(big, 0, big.length, chain, false, true), WireError.Ok);
  assert.deepEqual([chain.jumboLength, chain.payloadEnd, chain.protocol, chain.l4Offset, chain.l4Length], [70000, 70040, Protocol.Udp, 48, 69992]);
  // Cut by the capture: Truncated mode only.
  assert.equal(walkChain(big, 0, 100, chain, false, true), WireError.BadLength);
  assert.equal(walkChain(big, 0, 100, chain, true, true), WireError.Ok);
  assert.equal(chain.truncated, true);
  // A length a plain payload length could say, or a Jumbo option of the wrong size: malformed.
  assert.equal(walkChain(jumbo(65535), 0, 56, chain, false, true), WireError.BadLength);
  assert.equal(walkChain(hex(ip(0, 0) + '1100 c203 00010000' + UDP8), 0, 56, chain, false, true), WireError.BadLength);
  // A jumbogram may not carry a Fragment header.
  const fragmented = new Uint8Array(48 + 70000);
  fragmented.set(jumbo(70000, Protocol.Fragment));
  fragmented.set(hex('11000001 00001234'), 48);
  assert.equal(walkChain(fragmented, 0, fragmented.length, chain, false, true), WireError.BadLength);
  // Payload length 0 with a Hop-by-Hop header and no Jumbo option is still an overrun.
  assert.equal(walkChain(hex(ip(0, 0) + '1100 0104 00000000' + UDP8), 0, 56, chain, false, true), WireError.BadHeaderLength);
});

test('no next header keeps the trailing bytes as its payload', () => {
  const { err, chain } = walk(hex(ip(4, 59) + 'deadbeef'));
  assert.equal(err, WireError.Ok);
  assert.equal(chain.protocol, Protocol.NoNextHeader);
  assert.equal(chain.l4Length, 4);
});

test('bad version, IPv4, truncated header', () => {
  const pkt = hex(ip(8, 17) + UDP8);
  pkt[0] = 0x50;
  assert.equal(walk(pkt).err, WireError.BadVersion);
  pkt[0] = 0x45;
  assert.equal(walk(pkt).err, WireError.NotIpv6);
  assert.equal(walk(hex(ip(8, 17)), true, 39).err, WireError.Truncated);
  assert.equal(walk(new Uint8Array(0)).err, WireError.Truncated);
});

test('the result object is fully reset between packets', () => {
  const chain = new Ipv6Chain();
  const frag = hex(ip(16, 44) + '1100 05a9 cafebabe' + '0102030405060708');
  const rh = hex(ip(24 + 8, 43) + '1102 0001 00000000 20010db8000000000000000000000099' + UDP8);
  const plain = hex(ip(8, 17) + UDP8);
  assert.equal(walkChain(frag, 0, frag.length, chain), WireError.Ok);
  assert.equal(walkChain(rh, 0, rh.length, chain), WireError.Ok);
  assert.equal(chain.fragmentHeaderOffset, -1);
  assert.equal(chain.isFragment, false);
  assert.equal(chain.routingType, 0);
  assert.equal(hasActiveRoutingType0(chain), true);
  assert.equal(chain.pseudoDstOffset, 48, 'RH0 final destination is its last address');
  assert.equal(walkChain(plain, 0, plain.length, chain), WireError.Ok);
  assert.equal(chain.routingType, -1);
  assert.equal(chain.pseudoDstOffset, 24);
});

test('captures: HBH + RH0 (segleft 2) + UDP', () => {
  const [p] = loadPcap('zeek__ipv6-hbh-routing0.pcap');
  const chain = new Ipv6Chain();
  assert.equal(walkChain(p.data, p.ipOff, p.ipLen, chain), WireError.Ok);
  assert.equal(chain.hasHopByHop, true);
  assert.equal(chain.routingType, 0);
  assert.equal(chain.segmentsLeft, 2);
  assert.equal(hasActiveRoutingType0(chain), true);
  assert.equal(chain.protocol, Protocol.Udp);
});

test('captures: fragment trains', () => {
  const chain = new Ipv6Chain();
  const offsets = (file: string) => loadPcap(file).filter((p) => {
    assert.equal(walkChain(p.data, p.ipOff, p.ipLen, chain), WireError.Ok);
    return chain.fragmentHeaderOffset >= 0;
  }).map((p) => {
    walkChain(p.data, p.ipOff, p.ipLen, chain);
    return [chain.fragmentOffset, chain.moreFragments, chain.protocol];
  });
  assert.deepEqual(offsets('suricata-verify__frag-ip-tcp.pcap'), [[0, true, 6], [464, true, 6], [928, false, 6]]);
  assert.deepEqual(offsets('zeek__ipv6-fragmented-dns.pcap'),
    [[2896, false, 17], [0, true, 17], [1432, true, 17], [2864, false, 17]]);
  const big = offsets('sixgate__frag-oversize-echo.pcap');
  assert.equal(big.length, 54);
  assert.deepEqual(big.at(-1), [65296, false, 58]);
});

test('captures: atomic fragments are not fragments', () => {
  const chain = new Ipv6Chain();
  let atomic = 0;
  for (const p of loadPcap('zeek__ipv6-http-atomic-frag.pcap')) {
    assert.equal(walkChain(p.data, p.ipOff, p.ipLen, chain), WireError.Ok);
    if (chain.fragmentHeaderOffset >= 0) {
      atomic++;
      assert.equal(chain.isFragment, false);
      assert.equal(chain.protocol, Protocol.Tcp);
    }
  }
  assert.equal(atomic, 5);
});

test('captures: malformed chains', () => {
  const chain = new Ipv6Chain();
  const verdict = (file: string, allowTruncated = false) => {
    const [p] = loadPcap(file);
    return walkChain(p.data, p.ipOff, p.ipLen, chain, allowTruncated);
  };
  assert.equal(verdict('zeek__ip6-ext-trunc.pcap'), WireError.BadLength);
  assert.equal(verdict('zeek__ip6-ext-trunc.pcap', true), WireError.Truncated);
  assert.equal(verdict('tcpdump__ip6_frag_asan.pcap'), WireError.BadLength);
  assert.equal(verdict('tcpdump__ipv6_frag6_negative_len.pcap'), WireError.BadHeaderLength);
  assert.equal(verdict('tcpdump__ipv6_no_next_header.pcap'), WireError.Ok);
  assert.equal(chain.protocol, Protocol.NoNextHeader);
  assert.equal(verdict('suricata-verify__wrong-version-ipv6-ipv6.pcap'), WireError.Ok);
  assert.equal(chain.protocol, Protocol.Ipv6);
  const [p] = loadPcap('suricata-verify__wrong-version-ipv6-ipv6.pcap');
  assert.equal(walkChain(p.data, chain.l4Offset, chain.l4Length, new Ipv6Chain()), WireError.NotIpv6,
    'the inner header says version 4');
});
