import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { decodeCapture, formatPacket } from '../../src/cli/decode.js';
import { PcapWriter } from '../../src/pcap/writer.js';
import { readCapture } from '../../src/pcap/reader.js';
import { capturesDir, repoRoot } from '../support/paths.js';

const run = promisify(execFile);
const cli = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
const captures = readdirSync(capturesDir).filter(f => /\.pcap(ng)?$/.test(f)).sort();

/** The one capture cut mid-record: read up to the cut, then an error (tcpdump exits 1 on it too). */
const CUT = 'sixgate__edge-cut-mid-record.pcap';

function decodeFile(file: string): string[] {
  const lines: string[] = [];
  const result = decodeCapture(readFileSync(join(capturesDir, file)), l => lines.push(l));
  if (file === CUT) assert.match(result.error?.message ?? '', /record 3 at byte 697: truncated, 30 of 574 captured bytes present/);
  else assert.equal(result.error, undefined, file);
  assert.equal(result.packets, lines.length);
  return lines;
}

/** tcpdump's lines that start a packet (a timestamp at column 0); the rest are continuation lines. */
function tcpdumpPackets(file: string): string[] {
  return readFileSync(join(capturesDir, 'decoded', `${file}.txt`), 'utf8').split('\n').filter(l => /^\d\d:\d\d:\d\d\.\d{6} /.test(l));
}

async function sixgate(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, ...args], { maxBuffer: 64 << 20 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('every test capture decodes, one line per packet', () => {
  test(`in process: ${captures.length} files, packet counts equal tcpdump's`, () => {
    assert.ok(captures.length >= 44);
    for (const file of captures) {
      const lines = decodeFile(file);
      assert.equal(lines.length, tcpdumpPackets(file).length, file);
      for (const line of lines) assert.doesNotMatch(line, /\n/);
    }
  });

  test('as a child process: exit 0, nothing on stderr, the same lines (exit 1 and one line for the cut file)', async () => {
    const results = await Promise.all(captures.map(file => sixgate('decode', join(capturesDir, file))));
    results.forEach((r, i) => {
      assert.equal(r.code, captures[i] === CUT ? 1 : 0, captures[i]);
      assert.equal(r.stderr.split('\n').length - 1, captures[i] === CUT ? 1 : 0, captures[i]);
      assert.deepEqual(r.stdout.split('\n').slice(0, -1), decodeFile(captures[i]), captures[i]);
    });
  });
});

interface Fields { time: string; src?: string; dst?: string; icmp?: string; whoHas?: string; tgtIs?: string; naFlags?: string; sum?: string }

const ICMP_NAMES = [
  'destination unreachable', 'packet too big', 'time exceeded', 'parameter problem', 'echo request', 'echo reply',
  'multicast listener query', 'multicast listener report', 'multicast listener done', 'router solicitation',
  'router advertisement', 'neighbor solicitation', 'neighbor advertisement', 'redirect',
];

const stripPort = (a: string | undefined) => a?.replace(/\.\d+$/, '');

function tcpdumpFields(line: string): Fields {
  const f: Fields = { time: line.slice(0, 15) };
  const addr = /^\S+ IP6 \(.*?payload length: \d+\) (\S+) > (\S+?):/.exec(line);
  if (addr) { f.src = stripPort(addr[1]); f.dst = stripPort(addr[2]); }
  const icmp = /ICMP6, (.*)$/.exec(line);
  if (icmp) f.icmp = ICMP_NAMES.filter(n => icmp[1].startsWith(n)).sort((a, b) => b.length - a.length)[0];
  f.whoHas = /who has (\S+?)(,|$)/.exec(line)?.[1];
  const na = /tgt is (\S+), Flags \[([^\]]*)\]/.exec(line);
  if (na) { f.tgtIs = na[1]; f.naFlags = na[2]; }
  // "[icmp6 sum ok]", "[udp sum ok]", "cksum 0x3f2d (correct)" / "[bad udp cksum 0x0001 -> 0xbc54!]", "(incorrect -> 0xd25e)"
  if (/sum ok\]|\(correct\)/.test(line)) f.sum = 'ok';
  const bad = /(?:incorrect|cksum 0x[0-9a-f]{4}) -> (0x[0-9a-f]{4})/.exec(line);
  if (bad) f.sum = `bad ${bad[1]}`;
  return f;
}

function ourFields(line: string): Fields {
  const f: Fields = { time: line.slice(0, 15) };
  const addr = /^\S+ IP6 (\S+) > (\S+?):/.exec(line);
  if (addr) { f.src = stripPort(addr[1]); f.dst = stripPort(addr[2]); }
  const icmp = /ICMP6, ([a-z -]+)/.exec(line);
  if (icmp) f.icmp = ICMP_NAMES.filter(n => icmp[1].startsWith(n)).sort((a, b) => b.length - a.length)[0];
  f.whoHas = /who has (\S+?)(,|$)/.exec(line)?.[1];
  const na = /tgt is (\S+), Flags \[([^\]]*)\]/.exec(line);
  if (na) { f.tgtIs = na[1]; f.naFlags = na[2]; }
  if (/, sum ok/.test(line)) f.sum = 'ok';
  const bad = /bad sum 0x[0-9a-f]{4} \(should be (0x[0-9a-f]{4})\)/.exec(line);
  if (bad) f.sum = `bad ${bad[1]}`;
  if (/partial sum/.test(line)) f.sum = 'partial';
  return f;
}

describe('agrees with tcpdump -nn -vv, packet by packet', () => {
  test('times, addresses, ICMPv6 types, ND targets, NA flags and checksum verdicts', () => {
    let compared = 0;
    let ndCompared = 0;
    let sums = 0;
    for (const file of captures) {
      const theirs = tcpdumpPackets(file).map(tcpdumpFields);
      const ours = decodeFile(file).map(ourFields);
      ours.forEach((o, i) => {
        const t = theirs[i];
        const where = `${file} packet ${i + 1}`;
        assert.equal(o.time, t.time, where);
        if (t.src !== undefined) {
          assert.deepEqual([o.src, o.dst], [t.src, t.dst], where);
          compared++;
        }
        if (t.icmp !== undefined) assert.equal(o.icmp, t.icmp, where);
        assert.equal(o.whoHas, t.whoHas, where);
        assert.equal(o.tgtIs, t.tgtIs, where);
        assert.equal(o.naFlags, t.naFlags, where);
        if (o.whoHas ?? o.tgtIs) ndCompared++;
        if (t.sum !== undefined && o.sum !== undefined) {
          // tcpdump calls an offload (partial) checksum incorrect, as it is on the wire.
          if (o.sum === 'partial') assert.match(t.sum, /^bad /, where);
          else assert.equal(o.sum, t.sum, where);
          sums++;
        }
      });
    }
    assert.ok(compared > 3000, `${compared} IPv6 packets compared`);
    assert.ok(ndCompared >= 40, `${ndCompared} NS/NA compared`);
    assert.ok(sums > 3000, `${sums} checksum verdicts compared`);
  });

  test('the GSO super-segment is reported as a partial (offload) checksum', () => {
    const [line] = decodeFile('tcpdump__gso-ipv6.pcap');
    assert.match(line, /TCP, Flags \[P\.\], .*length 7140, partial sum 0xac4e \(offload, not yet complete\)$/);
  });

  test('the checksum of a packet with a Routing header covers its final destination', () => {
    for (const line of decodeFile('tcpdump__ipv6-routing-header.pcap')) assert.match(line, /RT6 \(type=0, segleft=[12]\) .*, sum ok$/);
  });
});

describe('verdicts', () => {
  test('zeek good/bad checksum pairs', () => {
    const expected: Record<string, RegExp> = {
      'zeek__ip6-tcp-good-chksum.pcap': /TCP, Flags \[S\], .*, sum ok$/,
      'zeek__ip6-tcp-bad-chksum.pcap': /TCP, Flags \[S\], .*, bad sum 0x0001 \(should be 0x2f8a\)$/,
      'zeek__ip6-udp-good-chksum.pcap': /UDP, length 4, sum ok$/,
      'zeek__ip6-udp-bad-chksum.pcap': /UDP, length 4, bad sum 0x0001 \(should be 0xbc54\)$/,
      'zeek__ip6-icmp6-good-chksum.pcap': /ICMP6, echo request, id 0, seq 0, sum ok$/,
      'zeek__ip6-icmp6-bad-chksum.pcap': /ICMP6, echo request, id 0, seq 0, bad sum 0x000d \(should be 0x75af\)$/,
    };
    for (const [file, pattern] of Object.entries(expected)) {
      const lines = decodeFile(file);
      assert.equal(lines.length, 1, file);
      assert.match(lines[0], pattern, file);
    }
  });

  test('malformed captures carry the reason code', () => {
    const expected: Record<string, (string | undefined)[]> = {
      'tcpdump__ipv6_invalid_length.pcap': ['truncated'],
      'tcpdump__ipv6_39_byte_header.pcap': ['truncated'],
      'tcpdump__ipv6-bad-version.pcap': [undefined, 'bad-version', undefined, 'bad-version'],
      'tcpdump__LINKTYPE_IPV6_invalid.pcap': ['not-ipv6'],
      'tcpdump__ip6_frag_asan.pcap': ['truncated'],
      'tcpdump__ipv6_frag6_negative_len.pcap': ['bad-header-length'],
      'zeek__ip6-trunc.pcap': ['truncated'],
      'zeek__ip6-ext-trunc.pcap': ['bad-length'],
      'tcpdump__icmpv6-length-zero.pcapng': ['truncated'],
      'suricata-verify__wrong-version-ipv6-ipv6.pcap': ['not-ipv6'],
      // Cut before the fixed body: RA, NA, NS, redirect, twice; the others are well formed.
      'zeek__icmp6-nd-short-options.pcap': [
        'truncated', undefined, 'truncated', undefined, 'truncated', undefined, 'truncated', undefined,
        undefined, undefined, undefined, undefined, 'truncated', 'truncated', 'truncated', 'truncated',
      ],
    };
    for (const [file, reasons] of Object.entries(expected)) {
      const got = decodeFile(file).map(l => /\[([a-z0-9-]+)\](?:, length \d+)?$/.exec(l)?.[1]);
      assert.deepEqual(got, reasons, file);
    }
  });

  test('fragments: the first one is decoded, later ones are data', () => {
    const lines = decodeFile('suricata-verify__frag-ip-tcp.pcap');
    assert.match(lines[0], /::1\.12345 > ::1\.8080: frag \(0xa1bc6572:0\+\) TCP, Flags \[\.\], .*sum unverified$/);
    assert.match(lines[1], /::1 > ::1: frag \(0xa1bc6572:464\+\) TCP fragment data, length 464$/);
    assert.match(lines[2], /frag \(0xa1bc6572:928\) TCP fragment data, length 92$/);
  });

  test('ND lines: DAD solicitation, NA flags, link-layer options, redirect', () => {
    const nd = decodeFile('zeek__icmp6-nd-options.pcap');
    assert.equal(nd[0], '07:34:03.536057 IP6 :: > ff02::1:fff5:0: ICMP6, neighbor solicitation, who has fe80::c000:54ff:fef5:0, sum ok');
    assert.equal(nd[1], '07:34:04.480017 IP6 fe80::c000:54ff:fef5:0 > ff02::1: ICMP6, neighbor advertisement, tgt is fe80::c000:54ff:fef5:0, ' +
      'Flags [router, override], destination link-address c2:00:54:f5:00:00, sum ok');
    const [redirect] = decodeFile('zeek__icmp6-redirect.pcap');
    assert.match(redirect, /ICMP6, redirect, fe80::babe to fe80::cafe, sum ok$/);
  });

  test('frames that are not IPv6 get a short line', () => {
    for (const line of decodeFile('tcpdump__tcp-handshake-nano.pcap')) assert.match(line, /^\d\d:\d\d:\d\d\.\d{6} IP \(not decoded\), length \d+$/);
    const arp = new Uint8Array(42);
    arp[12] = 0x08; arp[13] = 0x06;
    assert.equal(formatPacket({ index: 0, linktype: 1, tsNs: 0n, caplen: 42, origlen: 60, data: arp }, { time: false }), 'ARP (not decoded), length 60');
    assert.equal(formatPacket({ index: 0, linktype: 1, tsNs: 0n, caplen: 10, origlen: 10, data: arp.subarray(0, 10) }, { time: false }), '[link-truncated], length 10');
    assert.equal(formatPacket({ index: 0, linktype: 147, tsNs: 0n, caplen: 42, origlen: 42, data: arp }, { time: false }), '[unsupported-linktype], length 42');
  });
});

describe('the edges libpcap and tcpdump read on (sixgate__edge-* captures)', () => {
  const decodeEdge = (name: string) => decodeFile(`sixgate__edge-${name}.pcap`).map(l => l.slice(16));
  const small = 'IP6 2001:db8::1.5000 > 2001:db8::2.53: UDP, length 5, sum ok';

  test('a record over the snaplen is decoded as far as the snaplen, and the next one is read', () => {
    assert.deepEqual(decodeEdge('over-snaplen'), [small, 'IP6 2001:db8::1.5000 > 2001:db8::2.53: UDP, length 512, sum unverified', small]);
  });

  test('a link type with FCS-length bits reads as its base type', () => {
    assert.deepEqual(decodeEdge('fcs-bits'), [small, 'IP6 2001:db8::1.5000 > 2001:db8::2.53: UDP, length 512, sum ok']);
  });

  test('NULL and LOOP framing: AF_INET6 24/28/30 in either byte order, AF_INET, another family', () => {
    const expected = [small, small, small, 'IP (not decoded), length 24', '[not-ip], length 57'];
    assert.deepEqual(decodeEdge('null'), expected);
    assert.deepEqual(decodeEdge('loop'), expected);
  });

  test('jumbograms: UDP with length field 0 and TCP, checksums over 70008 bytes; cut by the capture; an invalid jumbo length', () => {
    assert.deepEqual(decodeEdge('jumbogram'), [
      'IP6 2001:db8::1.5000 > 2001:db8::2.53: HBH (jumbo: 70008) UDP, length 69992, sum ok',
      'IP6 2001:db8::1.40000 > 2001:db8::2.80: HBH (jumbo: 70008) TCP, Flags [P.], seq 1000, ack 0, win 65535, length 69980, sum ok',
      'IP6 2001:db8::1.5000 > 2001:db8::2.53: HBH (jumbo: 70008) UDP, length 69992, sum unverified',
      'IP6 2001:db8::1 > 2001:db8::2: [bad-length], length 1048',
    ]);
  });

  test('short first fragments: never a negative length', () => {
    assert.deepEqual(decodeEdge('short-first-fragment'), [
      'IP6 2001:db8::1 > 2001:db8::2: frag (0x00001234:0+) UDP [bad-length], length 24',
      'IP6 2001:db8::1 > 2001:db8::2: frag (0x00001234:0+) UDP [truncated], length 4',
      'IP6 2001:db8::1.5000 > 2001:db8::2.53: frag (0x00001234:0+) UDP, length 992, sum unverified',
    ]);
  });

  test('a file cut mid-record: what could be read, one line on stderr, exit 1', async () => {
    const r = await sixgate('decode', '--no-time', join(capturesDir, CUT));
    assert.equal(r.code, 1);
    assert.deepEqual(r.stdout.split('\n'), [small, 'IP6 2001:db8::1.5000 > 2001:db8::2.53: UDP, length 512, sum ok', '']);
    assert.match(r.stderr, /^sixgate decode: .*: record 3 at byte 697: truncated, 30 of 574 captured bytes present\n$/);
  });
});

describe('robustness', () => {
  test('random bytes and bit-flipped real packets: one line each, never a throw', () => {
    // A small deterministic generator, so a failure reproduces.
    let seed = 0x5eed;
    const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) / 0x1000000;
    const real = ['zeek__icmp6-nd-options.pcap', 'tcpdump__ipv6-routing-header.pcap', 'zeek__ipv6-fragmented-dns.pcap',
      'zeek__ipv6-http-atomic-frag.pcap', 'zeek__icmp6-destunreach-ip6ext-udp.pcap']
      .flatMap(f => [...readCapture(readFileSync(join(capturesDir, f))).packets].map(p => p.data));
    for (let i = 0; i < 20000; i++) {
      let data: Uint8Array;
      if (i % 2 === 0) {
        data = Uint8Array.from(real[i % real.length]);
        for (let flips = 1 + Math.floor(rand() * 4); flips > 0; flips--) data[Math.floor(rand() * data.length)] ^= 1 << Math.floor(rand() * 8);
        data = data.subarray(0, Math.floor(rand() * (data.length + 1)));
      } else {
        data = Uint8Array.from({ length: Math.floor(rand() * 200) }, () => Math.floor(rand() * 256));
        if (data.length > 0 && i % 4 === 1) data[0] = 0x60 | (data[0] & 0x0f);
      }
      const linktype = [1, 101, 229, 113, 0, 108][i % 6];
      const line = formatPacket({ index: i, linktype, tsNs: 0n, caplen: data.length, origlen: data.length + (i % 3), data });
      assert.doesNotMatch(line, /\n|undefined|NaN/);
    }
  });

  test('IPv6-in-IPv6 nesting is followed a few levels only', () => {
    const depth = 50;
    const packet = new Uint8Array(40 * depth + 8);
    for (let level = 0; level < depth; level++) {
      const at = level * 40;
      packet[at] = 0x60;
      const payload = packet.length - at - 40;
      packet[at + 4] = payload >> 8;
      packet[at + 5] = payload & 0xff;
      packet[at + 6] = level === depth - 1 ? 59 : 41;
    }
    const line = formatPacket({ index: 0, linktype: 101, tsNs: 0n, caplen: packet.length, origlen: packet.length, data: packet }, { time: false });
    assert.equal(line.split('IP6-in-IP6').length - 1, 5);
    assert.match(line, /IP6-in-IP6 \(nested too deep to decode\), length \d+$/);
  });
});

describe('the command', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sixgate-decode-'));
  test.after(() => rmSync(dir, { recursive: true, force: true }));

  test('an unreadable file: exit 2 and one line on stderr', async () => {
    const notCapture = join(dir, 'notes.txt');
    writeFileSync(notCapture, 'not a capture\n');
    const shortHeader = join(dir, 'short.pcap');
    writeFileSync(shortHeader, new PcapWriter(1).toBytes().subarray(0, 12));
    for (const [file, message] of [
      [join(dir, 'missing.pcap'), /ENOENT: no such file or directory/],
      [notCapture, /not a pcap or pcapng file \(magic 6e6f7420\)/],
      [shortHeader, /pcap file shorter than its 24-byte header/],
      [dir, /EISDIR/],
    ] as const) {
      const r = await sixgate('decode', file);
      assert.equal(r.code, 2, file);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr.split('\n').length, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`^sixgate decode: ${file}: ${message.source}`));
    }
  });

  test('a truncated last record: the complete packets, a warning, exit 1 (as tcpdump)', async () => {
    const bytes = readFileSync(join(capturesDir, 'zeek__ipv6-fragmented-dns.pcap'));
    const file = join(dir, 'cut.pcap');
    writeFileSync(file, bytes.subarray(0, bytes.length - 100));
    const r = await sixgate('decode', '--no-time', file);
    assert.equal(r.code, 1);
    assert.equal(r.stdout.split('\n').length - 1, 7);
    assert.match(r.stdout, /^IP6 2001:470:1f11:81f:d138:5f55:6d4:1fe2\.51850 > 2607:f740:b::f93\.53: UDP, length 73, sum ok\n/);
    assert.match(r.stderr, /^sixgate decode: .*cut\.pcap: record 8 at byte \d+: truncated, \d+ of 436 captured bytes present\n$/);
  });
});
