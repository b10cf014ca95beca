// NPTv6 (RFC 6296): checksum-neutral prefix translation, including the
// addresses quoted in ICMPv6 errors, and the engine-level snapshot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Nat66 } from '../../src/nat/nat66.js';
import { NatDrop } from '../../src/nat/drop.js';
import { Verdict } from '../../src/nat/types.js';
import { ConfigError, SnapshotError } from '../../src/errors.js';
import { crc32c } from '../../src/wire/sctp.js';
import { sumWords, fold } from '../../src/wire/checksum.js';
import {
  loadPackets, udpPacket, tcpPacket, srcText, dstText, checksumOk, equalBytes, diffAt, rewriteError, addr, l4Of, TCP_SYN,
} from './support.js';

function npt(inside: string, external: string): Nat66 {
  return new Nat66({ networks: [{ name: 'npt', mode: 'nptv6', insideSubnets: [inside], externalPrefix: external }], seed: 2 });
}

const l4Bytes = (p: Uint8Array) => p.slice(l4Of(p)!.l4);

test('NPTv6 /48: subnet word absorbs the adjustment; L4 bytes untouched; checksums still valid', () => {
  const n = npt('fd01:203:405::/48', '2001:db8:1::/48');
  for (const host of ['fd01:203:405:1::1', 'fd01:203:405:abcd:1:2:3:4', 'fd01:203:405::']) {
    const p = udpPacket(host, 1234, '2001:db8:9::9', 53);
    const before = l4Bytes(p);
    assert.equal(n.translate(p, 0, p.length, 0), Verdict.Forward);
    assert.ok(srcText(p).startsWith('2001:db8:1:'), srcText(p));
    assert.ok(equalBytes(l4Bytes(p), before), 'not one L4 byte changed');
    assert.ok(checksumOk(p));
    assert.equal(fold(sumWords(p, 8, 16)), fold(sumWords(addr(host), 0, 16)), 'address sum preserved');
    // And back: the reply to the translated address maps to the original host.
    const reply = udpPacket('2001:db8:9::9', 53, srcText(p), 1234);
    assert.equal(n.translate(reply, 0, reply.length, 0), Verdict.Forward);
    assert.equal(dstText(reply), srcText(addrPacket(host)));
    assert.ok(checksumOk(reply));
  }
  assert.equal(n.table.count, 0, 'stateless');
});

test('NPTv6 /64: the first IID word that is not 0xFFFF takes it; all-ones IID is untranslatable', () => {
  const n = npt('fd00:1:2:3::/64', '2001:db8:a:b::/64');
  for (const host of ['fd00:1:2:3::5', 'fd00:1:2:3:ffff:ffff:1:2', 'fd00:1:2:3:ffff:0:0:1']) tcpThereAndBack(n, host, '2001:db8:a:b:');
  const allOnes = udpPacket('fd00:1:2:3:ffff:ffff:ffff:ffff', 1, '2001:db8:9::9', 2);
  assert.equal(n.translate(allOnes, 0, allOnes.length, 0), -NatDrop.NptUntranslatable);
});

test('NPTv6 /80 (a range of an on-link /64): a word wholly after the prefix takes the adjustment', () => {
  const n = npt('fd66:7::/80', '2001:db8:1:0:5167::/80');
  for (const host of ['fd66:7::2', 'fd66:7::ffff:ffff:3', 'fd66:7::abcd:1:2']) tcpThereAndBack(n, host, '2001:db8:1:0:5167:');
  assert.throws(() => npt('fd66:7::/120', '2001:db8:1::/120'), /\/1..\/112/);
});

/** A SYN from `host` leaves from `external…` with its L4 bytes and address sum untouched; the answer finds `host` again. */
function tcpThereAndBack(n: Nat66, host: string, external: string): void {
  const p = tcpPacket(host, 999, '2001:db8:9::9', 443, TCP_SYN);
  const before = l4Bytes(p);
  assert.equal(n.translate(p, 0, p.length, 0), Verdict.Forward);
  assert.ok(srcText(p).startsWith(external), srcText(p));
  assert.ok(equalBytes(l4Bytes(p), before));
  assert.ok(checksumOk(p));
  assert.equal(fold(sumWords(p, 8, 16)), fold(sumWords(addr(host), 0, 16)), 'address sum preserved');
  const back = tcpPacket('2001:db8:9::9', 443, srcText(p), 999, TCP_SYN);
  assert.equal(n.translate(back, 0, back.length, 0), Verdict.Forward);
  assert.equal(dstText(back), srcText(addrPacket(host)));
}

function addrPacket(host: string): Uint8Array {
  return udpPacket(host, 1, host, 1);
}

test('NPTv6 translates the addresses quoted in ICMPv6 errors (the kernel does not), checksum-neutral', () => {
  const [error] = loadPackets('zeek__icmp6-timeexceeded.pcap'); // fe80::dead → fe80::beef, quoting fe80::beef → fe80::dead
  const n = npt('fe80::/48', '2001:db8:1::/48');
  // As the world sends it: to the external form of fe80::beef, quoting the external source.
  const probe = udpPacket('fe80::beef', 30000, '2001:db8:77::1', 13000);
  assert.equal(n.translate(probe, 0, probe.length, 0), Verdict.Forward);
  const ext = addr(srcText(probe));
  const wire = rewriteError(error, { outerSrc: addr('2001:db8:77::1'), outerDst: ext, quotedSrc: ext, quotedDst: addr('2001:db8:77::1') });
  const buf = wire.slice();
  assert.equal(n.translate(buf, 0, buf.length, 0), Verdict.Forward);
  const want = rewriteError(error, { outerSrc: addr('2001:db8:77::1'), quotedDst: addr('2001:db8:77::1') });
  assert.ok(equalBytes(buf, want), diffAt(buf, want));
  assert.ok(checksumOk(buf));
});

test('NPTv6 hairpin and configuration checks', () => {
  const n = npt('fd00:1:2:3::/64', '2001:db8:a:b::/64');
  const toSelf = udpPacket('fd00:1:2:3::1', 1, '2001:db8:a:b::2', 2);
  // 2001:db8:a:b::2 is the external form of some inside host: it goes back in.
  assert.equal(n.translate(toSelf, 0, toSelf.length, 0), Verdict.Hairpin);
  assert.ok(dstText(toSelf).startsWith('fd00:1:2:3:'));
  assert.ok(srcText(toSelf).startsWith('2001:db8:a:b:'));
  assert.ok(checksumOk(toSelf));
  assert.throws(() => npt('fd00::/48', '2001:db8::/64'), ConfigError);
  assert.throws(() => npt('fd00::/116', '2001:db8::/116'), ConfigError);
  assert.throws(() => new Nat66({ networks: [{ name: 'x', insideSubnets: ['fd00::/64'] }] }), /external address/);
  assert.throws(() => new Nat66({ networks: [{ name: 'x', insideSubnets: ['nonsense'], externalAddresses: ['2001:db8::1'] }] }), ConfigError);
});

test('engine snapshot → restore → identical translations; a foreign snapshot is refused', () => {
  const config = {
    networks: [{ name: 'd', insideSubnets: ['fd00::/64'], externalAddresses: ['2001:db8:ffff::1'], portRange: [30000, 39999] as [number, number] }],
    published: [{ protocol: 'tcp' as const, externalPort: 8443, insideAddress: 'fd00::b', insidePort: 443 }],
    capacity: 512, seed: 4,
  };
  const a = new Nat66(config);
  const replies: Uint8Array[] = [];
  for (let i = 0; i < 100; i++) {
    const p = udpPacket(`fd00::${(i % 7) + 1}`, 2000 + i, '2001:db8:5::5', 53);
    a.translate(p, 0, p.length, 1000);
    replies.push(udpPacket('2001:db8:5::5', 53, '2001:db8:ffff::1', (p[40] << 8) | p[41]));
  }
  const syn = tcpPacket('2001:db8:5::5', 777, '2001:db8:ffff::1', 8443, TCP_SYN);
  a.translate(syn, 0, syn.length, 1000);
  const snap = a.snapshot(2000);
  const b = new Nat66(config);
  assert.equal(b.restore(snap, 50_000), 0);
  assert.equal(b.table.count, 101);
  for (const r of replies) {
    const x = r.slice();
    const y = r.slice();
    assert.equal(a.translate(x, 0, x.length, 2000), Verdict.Forward);
    assert.equal(b.translate(y, 0, y.length, 50_000), Verdict.Forward);
    assert.ok(equalBytes(x, y));
  }
  const other = new Nat66({ ...config, networks: [{ ...config.networks[0], externalAddresses: ['2001:db8:ffff::2'] }] });
  assert.throws(() => other.restore(snap, 0), SnapshotError);
  assert.throws(() => b.restore(new Uint8Array(10), 0), SnapshotError);
});

test('CRC32c matches the standard check value', () => {
  assert.equal(crc32c(new TextEncoder().encode('123456789'), 0, 9) >>> 0, 0xe3069283);
});

test('restore after a reconfiguration drops sessions whose inside subnet went away', () => {
  const ext = ['2001:db8:ffff::1'];
  const before = new Nat66({ networks: [{ name: 'd', insideSubnets: ['fd00::/64', 'fd01::/64'], externalAddresses: ext }], capacity: 64, seed: 1 });
  for (const src of ['fd00::1', 'fd01::1']) {
    const p = udpPacket(src, 4000, '2001:db8:5::5', 53);
    before.translate(p, 0, p.length, 1000);
  }
  const after = new Nat66({ networks: [{ name: 'd', insideSubnets: ['fd00::/64'], externalAddresses: ext }], capacity: 64, seed: 1 });
  assert.equal(after.restore(before.snapshot(1000), 1000), 1);
  assert.deepEqual(after.listSessions().map((s) => s.inside), ['fd00::1']);
});
