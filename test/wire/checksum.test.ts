import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  sumWords, fold, pseudoHeaderSum, computeL4Checksum, verifyL4Checksum, fillL4Checksum, partialChecksum,
  updateChecksum, updateChecksumWord, updatePartialChecksum, updatePartialChecksumWord, checksumFieldOffset,
  ADDRESS_ONES, readAddressWords, writeAddressWords, addressWordsSum, wordDiff, applyChecksumDiff,
} from '../../src/wire/checksum.js';
import { Ipv6Chain, walkChain } from '../../src/wire/ipv6-ext.js';
import { Protocol, writeHeader } from '../../src/wire/ipv6.js';
import { WireError } from '../../src/wire/error.js';
import { capturesDir } from '../support/paths.js';
import { corpusFiles, loadPcap, rng } from './corpus.js';

/** RFC 1071 the slow way: 16-bit words, end-around carry after every add. */
function referenceSum(buf: Uint8Array, off: number, len: number): number {
  let sum = 0;
  for (let i = 0; i < len; i += 2) {
    sum += (buf[off + i] << 8) | (i + 1 < len ? buf[off + i + 1] : 0);
    sum = (sum & 0xffff) + (sum >> 16);
  }
  return sum;
}

function field(buf: Uint8Array, at: number): number {
  return (buf[at] << 8) | buf[at + 1];
}

test('sumWords + fold agree with the reference over random lengths and offsets', () => {
  const rand = rng(1);
  const buf = Uint8Array.from({ length: 70000 }, () => Math.floor(rand() * 256));
  for (let i = 0; i < 2000; i++) {
    const off = Math.floor(rand() * 64);
    const len = i < 40 ? i : Math.floor(rand() * (i % 10 === 0 ? 65536 : 300));
    const ref = referenceSum(buf, off, len);
    const got = fold(sumWords(buf, off, len));
    // 0 and 0xffff are the same ones-complement value (+0 and -0).
    assert.equal(got % 0xffff, ref % 0xffff, `off ${off} len ${len}`);
  }
  assert.equal(fold(0xffff * 0x10001 * 7), 0xffff);
  assert.equal(fold(2 ** 40 + 5), fold((2 ** 40) % 0xffff + 5));
  assert.equal(fold(0x1ffff), 1);
});

test('checksum field offsets', () => {
  assert.equal(checksumFieldOffset(Protocol.Tcp), 16);
  assert.equal(checksumFieldOffset(Protocol.Udp), 6);
  assert.equal(checksumFieldOffset(Protocol.Icmpv6), 2);
  assert.equal(checksumFieldOffset(Protocol.Esp), -1);
});

test('zeek good/bad checksum pairs get the right verdicts', () => {
  const chain = new Ipv6Chain();
  for (const proto of ['tcp', 'udp', 'icmp6']) {
    const [good] = loadPcap(`zeek__ip6-${proto}-good-chksum.pcap`);
    const [bad] = loadPcap(`zeek__ip6-${proto}-bad-chksum.pcap`);
    assert.equal(walkChain(good.data, good.ipOff, good.ipLen, chain), WireError.Ok);
    const at = chain.l4Offset + checksumFieldOffset(chain.protocol);
    assert.equal(verifyL4Checksum(good.data, good.ipOff, chain.l4Offset, chain.l4Length, chain.protocol), true, proto);
    assert.equal(computeL4Checksum(good.data, good.ipOff, chain.l4Offset, chain.l4Length, chain.protocol),
      field(good.data, at), proto);
    assert.equal(walkChain(bad.data, bad.ipOff, bad.ipLen, chain), WireError.Ok);
    assert.equal(verifyL4Checksum(bad.data, bad.ipOff, chain.l4Offset, chain.l4Length, chain.protocol), false, proto);
    const copy = Uint8Array.from(bad.data);
    fillL4Checksum(copy, bad.ipOff, chain.l4Offset, chain.l4Length, chain.protocol);
    assert.equal(verifyL4Checksum(copy, bad.ipOff, chain.l4Offset, chain.l4Length, chain.protocol), true, proto);
  }
});

test('verdicts match tcpdump on every capture (counts of good and bad L4 checksums)', () => {
  const chain = new Ipv6Chain();
  for (const file of corpusFiles()) {
    let good = 0;
    let bad = 0;
    for (const p of loadPcap(file)) {
      // tcpdump verifies nothing behind a Fragment header, atomic fragments included; it does verify jumbograms.
      if (p.ipOff < 0 || walkChain(p.data, p.ipOff, p.ipLen, chain, false, true) !== WireError.Ok) continue;
      if (chain.fragmentHeaderOffset >= 0) continue;
      const at = checksumFieldOffset(chain.protocol);
      if (at < 0 || chain.l4Length < at + 2) continue;
      if (verifyL4Checksum(p.data, p.ipOff, chain.l4Offset, chain.l4Length, chain.protocol, chain.pseudoDstOffset)) good++;
      else bad++;
    }
    // Verdicts on IPv6 packets only (tcpdump prints those on the packet's first line).
    const text = readFileSync(join(capturesDir, 'decoded', `${file}.txt`), 'utf8')
      .split('\n').filter((line) => / IP6 /.test(line)).join('\n');
    const tdGood = (text.match(/sum ok|\(correct\)/g) ?? []).length;
    const tdBad = (text.match(/incorrect|bad \w+ cksum/g) ?? []).length;
    assert.deepEqual([good, bad], [tdGood, tdBad], file);
  }
});

test('UDP: checksum 0 never verifies; a computed 0 is sent as 0xffff', () => {
  const buf = new Uint8Array(40 + 10);
  const a = new Uint8Array(16);
  a[0] = 0x20; a[1] = 0x01; a[15] = 1;
  writeHeader(buf, 0, 0, 0, 10, Protocol.Udp, 64, a, 0, a, 0);
  buf.set([0x12, 0x34, 0x00, 0x35, 0x00, 10, 0, 0, 0, 0], 40);
  assert.equal(verifyL4Checksum(buf, 0, 40, 10, Protocol.Udp), false);
  // Choose the data word that makes the sum come out as 0xffff, i.e. a checksum of 0.
  const c = computeL4Checksum(buf, 0, 40, 10, Protocol.Udp);
  buf[48] = c >> 8;
  buf[49] = c & 0xff;
  assert.equal(computeL4Checksum(buf, 0, 40, 10, Protocol.Udp), 0xffff);
  assert.equal(fillL4Checksum(buf, 0, 40, 10, Protocol.Udp), 0xffff);
  assert.equal(field(buf, 46), 0xffff);
  assert.equal(verifyL4Checksum(buf, 0, 40, 10, Protocol.Udp), true);
  // The same bytes as ICMPv6 would carry 0x0000 there.
  assert.equal(computeL4Checksum(buf, 0, 40, 10, Protocol.Icmpv6) !== 0xffff, true);
});

// A random IPv6 packet with a valid complete checksum, for the sweeps below.
function randomPacket(rand: () => number, protocol: number): { buf: Uint8Array; l4Len: number } {
  const l4Len = (protocol === Protocol.Tcp ? 20 : 8) + Math.floor(rand() * 64);
  const buf = new Uint8Array(40 + l4Len);
  for (let i = 0; i < buf.length; i++) buf[i] = Math.floor(rand() * 256);
  buf[0] = 0x60;
  buf[4] = l4Len >> 8; buf[5] = l4Len & 0xff; buf[6] = protocol;
  if (protocol === Protocol.Tcp) buf[52] = 0x50;
  if (protocol === Protocol.Udp) { buf[44] = l4Len >> 8; buf[45] = l4Len & 0xff; }
  fillL4Checksum(buf, 0, 40, l4Len, protocol);
  return { buf, l4Len };
}

test('RFC 1624 incremental update equals a full recompute over 10,000 random rewrites', () => {
  const rand = rng(42);
  const fresh = new Uint8Array(16);
  const protocols = [Protocol.Tcp, Protocol.Udp, Protocol.Icmpv6];
  for (let i = 0; i < 10000; i++) {
    const protocol = protocols[i % 3];
    const { buf, l4Len } = randomPacket(rand, protocol);
    const at = 40 + checksumFieldOffset(protocol);
    const udp = protocol === Protocol.Udp;
    // Address rewrite, source or destination, from bytes in another buffer.
    for (let k = 0; k < 16; k++) fresh[k] = Math.floor(rand() * 256);
    const addrOff = rand() < 0.5 ? 8 : 24;
    updateChecksum(buf, at, buf, addrOff, fresh, 0, 16, udp);
    buf.set(fresh, addrOff);
    assert.equal(field(buf, at), computeL4Checksum(buf, 0, 40, l4Len, protocol), `address rewrite ${i}`);
    if (protocol === Protocol.Icmpv6) {
      // The echo identifier is what a NAT rewrites for ICMPv6.
      const id = Math.floor(rand() * 65536);
      updateChecksumWord(buf, at, field(buf, 44), id);
      buf[44] = id >> 8; buf[45] = id & 0xff;
    } else {
      // Port rewrite, once from a buffer and once as numbers.
      const port = Math.floor(rand() * 65536);
      updateChecksumWord(buf, at, field(buf, 40), port, udp);
      buf[40] = port >> 8; buf[41] = port & 0xff;
      fresh[0] = Math.floor(rand() * 256); fresh[1] = Math.floor(rand() * 256);
      updateChecksum(buf, at, buf, 42, fresh, 0, 2, udp);
      buf[42] = fresh[0]; buf[43] = fresh[1];
    }
    assert.equal(field(buf, at), computeL4Checksum(buf, 0, 40, l4Len, protocol), `port rewrite ${i}`);
    assert.equal(verifyL4Checksum(buf, 0, 40, l4Len, protocol), true);
  }
});

test('address-word differences (the form the NAT uses): both addresses and a port in one applied difference equal a recompute', () => {
  const rand = rng(7);
  const protocols = [Protocol.Tcp, Protocol.Udp, Protocol.Icmpv6];
  const old = new Uint32Array(8);
  const next = new Uint32Array(8);
  for (let i = 0; i < 3000; i++) {
    const protocol = protocols[i % 3];
    const { buf, l4Len } = randomPacket(rand, protocol);
    const at = 40 + checksumFieldOffset(protocol);
    const sums = readAddressWords(buf, 8, old, 0) + readAddressWords(buf, 24, old, 4);
    assert.equal(sums, addressWordsSum(old, 0) + addressWordsSum(old, 4));
    for (let k = 0; k < 8; k++) next[k] = Math.floor(rand() * 0x100000000) >>> 0;
    const port = Math.floor(rand() * 65536);
    let diff = 2 * ADDRESS_ONES - sums + writeAddressWords(buf, 8, next, 0) + writeAddressWords(buf, 24, next, 4);
    diff += wordDiff(field(buf, 40), port);
    buf[40] = port >> 8; buf[41] = port & 0xff;
    applyChecksumDiff(buf, at, diff, protocol === Protocol.Udp);
    assert.equal(field(buf, at), computeL4Checksum(buf, 0, 40, l4Len, protocol), `rewrite ${i}`);
    readAddressWords(buf, 8, old, 0);
    assert.deepEqual([...old.subarray(0, 4)], [...next.subarray(0, 4)], 'words round-trip big-endian');
  }
});

test('UDP without a checksum (0) is left alone by updates', () => {
  const buf = new Uint8Array(48);
  updateChecksumWord(buf, 46, 1234, 4321, true);
  assert.equal(field(buf, 46), 0);
  updateChecksum(buf, 46, buf, 8, new Uint8Array(16).fill(7), 0, 16, true);
  assert.equal(field(buf, 46), 0);
});

// Linux finishing a CHECKSUM_PARTIAL packet: sum from csum_start over the
// whole L4 (the field holds the pseudo-header sum), fold, complement.
function completePartial(buf: Uint8Array, l4Off: number, l4Len: number, at: number): void {
  const value = ~fold(sumWords(buf, l4Off, l4Len)) & 0xffff;
  buf[at] = value >> 8;
  buf[at + 1] = value & 0xff;
}

test('NEEDS_CSUM partial checksum: incremental update equals the recomputed pseudo sum (10,000 rewrites)', () => {
  const rand = rng(7);
  const fresh = new Uint8Array(16);
  for (let i = 0; i < 10000; i++) {
    const protocol = i % 2 === 0 ? Protocol.Tcp : Protocol.Udp;
    const { buf, l4Len } = randomPacket(rand, protocol);
    const at = 40 + checksumFieldOffset(protocol);
    const partial = partialChecksum(buf, 0, l4Len, protocol);
    buf[at] = partial >> 8; buf[at + 1] = partial & 0xff;
    for (let k = 0; k < 16; k++) fresh[k] = Math.floor(rand() * 256);
    const addrOff = rand() < 0.5 ? 8 : 24;
    updatePartialChecksum(buf, at, buf, addrOff, fresh, 0, 16);
    buf.set(fresh, addrOff);
    assert.equal(field(buf, at), partialChecksum(buf, 0, l4Len, protocol), `rewrite ${i}`);
    // Ports are outside the pseudo-header: rewriting one leaves the field as it is.
    buf[40] ^= 0x5a;
    assert.equal(field(buf, at), partialChecksum(buf, 0, l4Len, protocol));
    completePartial(buf, 40, l4Len, at);
    assert.equal(verifyL4Checksum(buf, 0, 40, l4Len, protocol), true, `completed ${i}`);
  }
});

test('NEEDS_CSUM word update for a changed pseudo-header length', () => {
  const rand = rng(9);
  const { buf, l4Len } = randomPacket(rand, Protocol.Tcp);
  const partial = partialChecksum(buf, 0, l4Len, Protocol.Tcp);
  buf[56] = partial >> 8; buf[57] = partial & 0xff;
  updatePartialChecksumWord(buf, 56, l4Len, l4Len - 4);
  assert.equal(field(buf, 56), partialChecksum(buf, 0, l4Len - 4, Protocol.Tcp));
});

test('gso-ipv6 capture: the field is the partial pseudo-header sum, completion gives 0xd25e', () => {
  const [p] = loadPcap('tcpdump__gso-ipv6.pcap');
  const chain = new Ipv6Chain();
  assert.equal(walkChain(p.data, p.ipOff, p.ipLen, chain), WireError.Ok);
  const at = chain.l4Offset + 16;
  assert.equal(field(p.data, at), 0xac4e);
  assert.equal(partialChecksum(p.data, p.ipOff, chain.l4Length, Protocol.Tcp), 0xac4e);
  assert.equal(fold(pseudoHeaderSum(p.data, p.ipOff + 8, p.ipOff + 24, chain.l4Length, 6)), 0xac4e);
  assert.equal(computeL4Checksum(p.data, p.ipOff, chain.l4Offset, chain.l4Length, Protocol.Tcp), 0xd25e);
  const copy = Uint8Array.from(p.data);
  completePartial(copy, chain.l4Offset, chain.l4Length, at);
  assert.equal(field(copy, at), 0xd25e);
});
