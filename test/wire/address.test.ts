import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import * as addr from '../../src/wire/address.js';
import { ConfigError } from '../../src/errors.js';
import { Ipv6Chain, walkChain } from '../../src/wire/ipv6-ext.js';
import { WireError } from '../../src/wire/error.js';
import { capturesDir } from '../support/paths.js';
import { hex, corpusFiles, loadPcap, rng } from './corpus.js';

const require = createRequire(import.meta.url);
const { Address6 } = require('ip-address') as typeof import('ip-address');

test('RFC 5952 text forms', () => {
  const cases: [string, string][] = [
    ['20010db8000000000000000000000001', '2001:db8::1'],
    ['20010db8000000010000000000000001', '2001:db8:0:1::1'],
    ['20010db8000000000001000000000001', '2001:db8::1:0:0:1'],
    ['20010db8000100000001000100010001', '2001:db8:1:0:1:1:1:1'],
    ['00000000000000000000000000000000', '::'],
    ['00000000000000000000000000000001', '::1'],
    ['fe800000000000000000000000000000', 'fe80::'],
    ['ff0200000000000000000001ff00abcd', 'ff02::1:ff00:abcd'],
    ['00000000000000000000ffffc0000201', '::ffff:192.0.2.1'],
    ['000000000000000000000000c0000201', '::192.0.2.1'],
    ['0000000000000000000000000000ffff', '::ffff'],
    ['20010db8aaaabbbbccccddddeeeeffff', '2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff'],
    ['20010db8000000000000ffff00000000', '2001:db8::ffff:0:0'],
  ];
  for (const [bytes, text] of cases) {
    const buf = hex('ffff' + bytes);
    assert.equal(addr.formatIpv6(buf, 2), text);
    assert.deepEqual(addr.parseIpv6(text), hex(bytes), text);
  }
});

test('formatting matches ip-address correctForm and parsing round-trips (5,000 random addresses)', () => {
  const rand = rng(5);
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 5000; i++) {
    // Bias towards zero groups so compression is exercised.
    for (let w = 0; w < 8; w++) {
      const zero = rand() < 0.4;
      bytes[2 * w] = zero ? 0 : Math.floor(rand() * 256);
      bytes[2 * w + 1] = zero ? 0 : Math.floor(rand() * 256);
    }
    bytes[0] = 0x20; // keep clear of the embedded-IPv4 forms, which ip-address writes differently
    const text = addr.formatIpv6(bytes, 0);
    assert.equal(text, Address6.fromUnsignedByteArray([...bytes]).correctForm());
    assert.deepEqual(addr.parseIpv6(text), bytes);
    assert.deepEqual(addr.parseIpv6(Address6.fromUnsignedByteArray([...bytes]).canonicalForm()), bytes);
  }
});

test('formatting matches tcpdump for every address in the captures', () => {
  const chain = new Ipv6Chain();
  let checked = 0;
  for (const file of corpusFiles()) {
    const lines = readFileSync(join(capturesDir, 'decoded', `${file}.txt`), 'utf8').split('\n')
      .filter((l) => /^\d\d:\d\d:\d\d\.\d+ /.test(l));
    loadPcap(file).forEach((p, i) => {
      if (p.ipOff < 0 || walkChain(p.data, p.ipOff, p.ipLen, chain) !== WireError.Ok) return;
      const m = / IP6 \(.*?payload length: \d+\) (\S+) > (\S+?):(?: |$)/.exec(lines[i]);
      if (m === null) return;
      const withPort = (chain.protocol === 6 || chain.protocol === 17) && chain.fragmentOffset === 0;
      const strip = (t: string) => (withPort ? t.replace(/\.[^.:]+$/, '') : t);
      assert.equal(addr.formatIpv6(p.data, p.ipOff + 8), strip(m[1]), `${file} #${i}`);
      assert.equal(addr.formatIpv6(p.data, p.ipOff + 24), strip(m[2]), `${file} #${i}`);
      checked++;
    });
  }
  assert.ok(checked > 3000, `checked ${checked}`);
});

test('invalid text is refused', () => {
  for (const bad of ['', ':', ':::', '1::2::3', '2001:db8', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7::8', '12345::',
    'g::1', '::1.2.3', '::256.1.1.1', '::01.2.3.4', '1.2.3.4::', 'fe80::1%eth0', '2001:db8::/64', ' ::1']) {
    assert.equal(addr.tryParseIpv6(bad), undefined, bad);
  }
  assert.throws(() => addr.parseIpv6('nope'), ConfigError);
  assert.deepEqual(addr.parseIpv6('1:2:3:4:5:6:7::'), hex('00010002000300040005000600070000'));
  assert.deepEqual(addr.parseIpv6('::2:3:4:5:6:7:8'), hex('00000002000300040005000600070008'));
  assert.deepEqual(addr.parseIpv6('1:2:3:4:5:6:1.2.3.4'), hex('00010002000300040005000601020304'));
  assert.deepEqual(addr.parseIpv6('FE80::A'), hex('fe80000000000000000000000000000a'));
});

test('prefixes', () => {
  const p = addr.parseIpv6Prefix('2001:db8:1::/48');
  assert.equal(p.length, 48);
  assert.equal(addr.formatIpv6(p.address, 0), '2001:db8:1::');
  assert.equal(addr.parseIpv6Prefix('::1').length, 128);
  for (const bad of ['2001:db8::/129', '2001:db8::/', '2001:db8::/x', 'x/64']) {
    assert.throws(() => addr.parseIpv6Prefix(bad), ConfigError, bad);
  }
  const a = addr.parseIpv6('2001:db8:1:ff::1');
  assert.equal(addr.matchesPrefix(a, 0, p.address, 0, 48), true);
  assert.equal(addr.matchesPrefix(a, 0, addr.parseIpv6('2001:db8:1:fe::'), 0, 63), true);
  assert.equal(addr.matchesPrefix(a, 0, addr.parseIpv6('2001:db8:1:fe::'), 0, 64), false);
  assert.equal(addr.matchesPrefix(a, 0, addr.parseIpv6('::'), 0, 0), true);
});

test('host bits cleared, prefixes that overlap', () => {
  const a = addr.parseIpv6('2001:db8:1:ff::1');
  for (const [length, network] of [[128, '2001:db8:1:ff::1'], [64, '2001:db8:1:ff::'], [63, '2001:db8:1:fe::'], [52, '2001:db8:1::'], [0, '::']] as const) {
    assert.equal(addr.formatIpv6(addr.clearHostBits(a, length), 0), network, `/${length}`);
  }
  assert.equal(addr.formatIpv6(a, 0), '2001:db8:1:ff::1', 'the address itself is left alone');

  assert.equal(addr.prefixesOverlap('2001:db8:1::/48', '2001:db8:1:ff::1'), true);
  assert.equal(addr.prefixesOverlap('2001:db8:1:ff::1', '2001:db8:1::/48'), true, 'either order');
  assert.equal(addr.prefixesOverlap('2001:db8:1:fe::/63', '2001:db8:1:ff::/64'), true);
  assert.equal(addr.prefixesOverlap('2001:db8:1:fe::/64', '2001:db8:1:ff::/64'), false);
  assert.equal(addr.prefixesOverlap('::/0', 'fd00::1'), true);
  assert.throws(() => addr.prefixesOverlap('2001:db8::/129', '::1'), ConfigError);
});

test('classification', () => {
  const t = (s: string) => addr.parseIpv6(s);
  assert.equal(addr.isMulticast(t('ff02::1'), 0), true);
  assert.equal(addr.isMulticast(t('fe80::1'), 0), false);
  assert.equal(addr.isUnspecified(t('::'), 0), true);
  assert.equal(addr.isUnspecified(t('::1'), 0), false);
  assert.equal(addr.isLoopback(t('::1'), 0), true);
  assert.equal(addr.isLoopback(t('::2'), 0), false);
  assert.equal(addr.isLinkLocal(t('fe80::1'), 0), true);
  assert.equal(addr.isLinkLocal(t('febf::1'), 0), true);
  assert.equal(addr.isLinkLocal(t('fec0::1'), 0), false);
  assert.equal(addr.isSolicitedNodeMulticast(t('ff02::1:ff12:3456'), 0), true);
  assert.equal(addr.isSolicitedNodeMulticast(t('ff02::1:fe12:3456'), 0), false);
  assert.equal(addr.isSolicitedNodeMulticast(t('ff02::2:ff12:3456'), 0), false);
});

test('solicited-node group, multicast MAC, copy and compare', () => {
  const target = addr.parseIpv6('2001:db8::abcd:ef12:3456');
  const out = new Uint8Array(20).fill(0xee);
  addr.writeSolicitedNode(target, 0, out, 2);
  assert.equal(addr.formatIpv6(out, 2), 'ff02::1:ff12:3456');
  assert.equal(addr.isSolicitedNodeFor(out, 2, target, 0), true);
  assert.equal(addr.isSolicitedNodeFor(out, 2, addr.parseIpv6('2001:db8::1'), 0), false);
  assert.equal(out[1], 0xee);
  assert.equal(out[18], 0xee);
  const mac = new Uint8Array(6);
  addr.writeMulticastMac(out, 2, mac, 0);
  assert.equal(addr.formatMac(mac, 0), '33:33:ff:12:34:56');
  const copy = new Uint8Array(17);
  addr.copyAddress(copy, 1, target, 0);
  assert.equal(addr.equalAddress(copy, 1, target, 0), true);
  assert.equal(addr.compareAddress(copy, 1, target, 0), 0);
  assert.ok(addr.compareAddress(addr.parseIpv6('2001:db8::1'), 0, target, 0) < 0);
  assert.ok(addr.compareAddress(addr.parseIpv6('2001:db9::'), 0, target, 0) > 0);
  const m2 = new Uint8Array(6);
  addr.copyMac(m2, 0, mac, 0);
  assert.equal(addr.equalMac(m2, 0, mac, 0), true);
  m2[5] ^= 1;
  assert.equal(addr.equalMac(m2, 0, mac, 0), false);
});

test('MAC text', () => {
  assert.equal(addr.formatMac(hex('00000a0b0cff'), 0), '00:00:0a:0b:0c:ff');
  assert.deepEqual(addr.parseMac('02:00:5E:10:00:01'), hex('02005e100001'));
  assert.deepEqual(addr.parseMac('02-00-5e-10-0-1'), hex('02005e100001'));
  for (const bad of ['', '02:00:5e:10:00', '02:00:5e:10:00:01:02', '02:00:5e:10:00:0g', '020:0:5e:10:00:01']) {
    assert.equal(addr.tryParseMac(bad), undefined, bad);
  }
  assert.throws(() => addr.parseMac('x'), ConfigError);
});
