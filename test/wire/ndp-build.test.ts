import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildNa, buildNs, ndLength } from '../../src/wire/ndp-build.js';
import { NaFlag, parseNd, type NdRepr } from '../../src/wire/ndp.js';
import { writeHeader as writeEthernet, EtherType, HEADER_LEN as ETH_LEN } from '../../src/wire/ethernet.js';
import { formatIpv6, formatMac, parseIpv6, parseMac, writeMulticastMac, writeSolicitedNode } from '../../src/wire/address.js';
import { WireError } from '../../src/wire/error.js';
import { PcapWriter } from '../../src/pcap/writer.js';
import { LINKTYPE_ETHERNET } from '../../src/pcap/linktype.js';
import { requires } from '../support/prereq.js';

// Addresses live inside one "table" buffer at odd offsets, as the proxy keeps them.
const table = new Uint8Array(128);
const SRC = 3; const TARGET = 21; const DST = 39; const MAC = 57; const NONCE = 65;
table.set(parseIpv6('fe80::1'), SRC);
table.set(parseIpv6('2001:db8::42'), TARGET);
writeSolicitedNode(table, TARGET, table, DST);
table.set(parseMac('02:00:00:00:00:01'), MAC);
table.set([0x60, 0x69, 0x60, 0x4c, 0x0a, 0xaa], NONCE);

function roundTrip(buf: Uint8Array, off: number, len: number): NdRepr {
  const r = parseNd(buf, off, len);
  assert.equal(typeof r, 'object', `parseNd refused the built packet: ${String(r)}`);
  return r as NdRepr;
}

test('NS with SLLA and nonce: every byte written, parses back', () => {
  const buf = new Uint8Array(200).fill(0xff);
  const n = buildNs(buf, 7, table, SRC, table, DST, table, TARGET, table, MAC, table, NONCE);
  assert.equal(n, ndLength(true, true));
  assert.equal(n, 40 + 24 + 8 + 8);
  assert.equal(buf[6], 0xff);
  assert.equal(buf[7 + n], 0xff);
  const r = roundTrip(buf, 7, n);
  assert.equal(r.kind, 'ns');
  if (r.kind !== 'ns') return;
  assert.equal(formatIpv6(r.target, 0), '2001:db8::42');
  assert.equal(formatIpv6(r.dst, 0), 'ff02::1:ff00:42');
  assert.equal(formatMac(r.options.sourceLinkAddr!, 0), '02:00:00:00:00:01');
  assert.deepEqual([...r.options.nonce!], [0x60, 0x69, 0x60, 0x4c, 0x0a, 0xaa]);
  assert.equal(r.hopLimit, 255);
});

test('the same bytes whatever the buffer held before (0x00 vs 0xff fill)', () => {
  const a = new Uint8Array(120).fill(0xff);
  const b = new Uint8Array(120);
  const na = buildNa(a, 0, table, TARGET, table, SRC, table, TARGET, NaFlag.Solicited | NaFlag.Override, table, MAC);
  const nb = buildNa(b, 0, table, TARGET, table, SRC, table, TARGET, NaFlag.Solicited | NaFlag.Override, table, MAC);
  assert.equal(na, nb);
  assert.deepEqual(a.subarray(0, na), b.subarray(0, nb));
  const ns = buildNs(a, 0, table, SRC, table, DST, table, TARGET, null, 0);
  const ns2 = buildNs(b, 0, table, SRC, table, DST, table, TARGET, null, 0);
  assert.deepEqual(a.subarray(0, ns), b.subarray(0, ns2));
});

test('NA flags and options parse back; DAD NS without SLLA is valid', () => {
  const buf = new Uint8Array(200).fill(0xff);
  const n = buildNa(buf, 0, table, TARGET, table, SRC, table, TARGET, NaFlag.Router | NaFlag.Solicited | NaFlag.Override | 0x1f, table, MAC);
  assert.equal(n, ndLength(true, false));
  const r = roundTrip(buf, 0, n);
  assert.ok(r.kind === 'na');
  assert.deepEqual([r.router, r.solicited, r.override], [true, true, true]);
  assert.equal(buf[44], 0xe0, 'reserved flag bits are written as zero');
  assert.equal(formatMac(r.options.targetLinkAddr!, 0), '02:00:00:00:00:01');

  const unspecified = new Uint8Array(16);
  const dad = buildNs(buf, 0, unspecified, 0, table, DST, table, TARGET, null, 0, table, NONCE);
  assert.equal(dad, ndLength(false, true));
  assert.equal(roundTrip(buf, 0, dad).kind, 'ns');
  const bare = buildNa(buf, 0, table, TARGET, table, SRC, table, TARGET, 0, null, 0);
  assert.equal(bare, 64);
  assert.equal(typeof parseNd(buf, 0, bare), 'object');
});

test('building allocates nothing measurable (100k NAs)', () => {
  const buf = new Uint8Array(256);
  for (let i = 0; i < 10000; i++) buildNa(buf, 14, table, TARGET, table, SRC, table, TARGET, NaFlag.Solicited, table, MAC);
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < 100000; i++) buildNa(buf, 14, table, TARGET, table, SRC, table, TARGET, NaFlag.Solicited, table, MAC);
  const grown = process.memoryUsage().heapUsed - before;
  // 100k allocations of even a small object would be several MB.
  assert.ok(grown < 512 * 1024, `heap grew by ${grown} bytes`);
});

test('tcpdump decodes our NS and NA frames with "sum ok"', requires({ tools: ['tcpdump'] }), () => {
  const writer = new PcapWriter(LINKTYPE_ETHERNET);
  const frame = new Uint8Array(200);
  const groupMac = new Uint8Array(6);
  writeMulticastMac(table, DST, groupMac, 0);
  // NS to the solicited-node group, with SLLA and nonce.
  writeEthernet(frame, 0, groupMac, 0, table, MAC, EtherType.Ipv6);
  let n = buildNs(frame, ETH_LEN, table, SRC, table, DST, table, TARGET, table, MAC, table, NONCE);
  writer.add(frame.slice(0, ETH_LEN + n));
  // Solicited NA back to the asker, with TLLA.
  writeEthernet(frame, 0, table, MAC, table, MAC, EtherType.Ipv6);
  n = buildNa(frame, ETH_LEN, table, TARGET, table, SRC, table, TARGET, NaFlag.Solicited | NaFlag.Override, table, MAC);
  writer.add(frame.slice(0, ETH_LEN + n));
  const dir = mkdtempSync(join(tmpdir(), 'sixgate-wire-'));
  try {
    const file = join(dir, 'nd.pcap');
    writeFileSync(file, writer.toBytes());
    const out = execFileSync('tcpdump', ['-nn', '-vv', '-r', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const packets = out.split('\n').filter((l) => / IP6 /.test(l));
    assert.equal(packets.length, 2, out);
    assert.match(packets[0], /hlim 255.*fe80::1 > ff02::1:ff00:42: \[icmp6 sum ok\] ICMP6, neighbor solicitation, length 40, who has 2001:db8::42/);
    assert.match(packets[1], /hlim 255.*2001:db8::42 > fe80::1: \[icmp6 sum ok\] ICMP6, neighbor advertisement, length 32, tgt is 2001:db8::42, Flags \[solicited, override\]/);
    assert.match(out, /source link-address option \(1\), length 8 \(1\): 02:00:00:00:00:01/);
    assert.match(out, /destination link-address option \(2\), length 8 \(1\): 02:00:00:00:00:01|target link-address option \(2\), length 8 \(1\): 02:00:00:00:00:01/);
    assert.doesNotMatch(out, /bad|invalid|\[\|/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('built packets survive the RFC 4861 gate (hop limit, checksum, addresses)', () => {
  const buf = new Uint8Array(128);
  const n = buildNa(buf, 0, table, TARGET, table, DST, table, TARGET, NaFlag.Solicited, table, MAC);
  assert.equal(parseNd(buf, 0, n), WireError.BadAddress, 'solicited NA to a multicast group is refused');
});
