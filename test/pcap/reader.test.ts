import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createRequire } from 'node:module';
import { readCapture, MAX_CAPLEN, type CapturePacket } from '../../src/pcap/reader.js';
import { PcapWriter } from '../../src/pcap/writer.js';
import { PcapError } from '../../src/errors.js';
import { capturesDir } from '../support/paths.js';

const TS = 1_700_000_000_123_456_789n;

function samplePackets(): Uint8Array[] {
  return [1, 60, 1500].map((n, i) => Uint8Array.from({ length: n }, (_, j) => (i * 31 + j) & 0xff));
}

function writeSample(nanosecond: boolean): Uint8Array {
  const w = new PcapWriter(101, { nanosecond });
  samplePackets().forEach((p, i) => w.add(p, TS + BigInt(i) * 1000n));
  return w.toBytes();
}

/** The same classic file with every header field byte-swapped: a big-endian writer's output. */
function toBigEndian(le: Uint8Array): Uint8Array {
  const be = Uint8Array.from(le);
  const swap = (at: number, size: number) => be.subarray(at, at + size).reverse();
  swap(0, 4); swap(4, 2); swap(6, 2); swap(8, 4); swap(12, 4); swap(16, 4); swap(20, 4);
  const view = new DataView(le.buffer, le.byteOffset);
  for (let at = 24; at < le.length;) {
    const caplen = view.getUint32(at + 8, true);
    for (let f = 0; f < 16; f += 4) swap(at + f, 4);
    at += 16 + caplen;
  }
  return be;
}

function collect(bytes: Uint8Array): { packets: CapturePacket[]; error: string | undefined } {
  const capture = readCapture(bytes);
  const packets = [...capture.packets];
  return { packets, error: capture.error?.message };
}

describe('classic pcap', () => {
  for (const nanosecond of [false, true]) {
    for (const order of ['little', 'big'] as const) {
      test(`${nanosecond ? 'ns' : 'µs'} magic, ${order}-endian: writer round trip`, () => {
        const le = writeSample(nanosecond);
        const capture = readCapture(order === 'little' ? le : toBigEndian(le));
        assert.equal(capture.format, 'pcap');
        assert.equal(capture.littleEndian, order === 'little');
        const packets = [...capture.packets];
        assert.equal(capture.error, undefined);
        const expected = samplePackets();
        assert.equal(packets.length, expected.length);
        packets.forEach((p, i) => {
          assert.equal(p.index, i);
          assert.equal(p.linktype, 101);
          assert.equal(p.caplen, expected[i].length);
          assert.equal(p.origlen, expected[i].length);
          assert.deepEqual(p.data, expected[i]);
          const ts = TS + BigInt(i) * 1000n;
          assert.equal(p.tsNs, nanosecond ? ts : (ts / 1000n) * 1000n);
        });
      });
    }
  }

  test('records are views into the file buffer, not copies', () => {
    const bytes = writeSample(false);
    const [first] = readCapture(bytes).packets;
    assert.equal(first.data.buffer, bytes.buffer);
  });

  test('the nanosecond capture from tcpdump reads with full resolution', () => {
    const { packets, error } = collect(readFileSync(join(capturesDir, 'tcpdump__tcp-handshake-nano.pcap')));
    assert.equal(error, undefined);
    assert.equal(packets.length, 3);
    assert.equal(packets[0].linktype, 113);
    assert.equal(packets[0].tsNs, 1418145369924505488n);
  });

  test('a record over the snaplen is cut to the snaplen and reading goes on, as libpcap does', () => {
    const w = new PcapWriter(101, { snaplen: 100 });
    w.add(new Uint8Array(40));
    w.add(Uint8Array.from({ length: 150 }, (_, i) => i));
    w.add(new Uint8Array(40));
    const { packets, error } = collect(w.toBytes());
    assert.equal(error, undefined);
    assert.deepEqual(packets.map(p => [p.caplen, p.origlen, p.data.length]), [[40, 40, 40], [100, 150, 100], [40, 40, 40]]);
    assert.equal(packets[1].data[99], 99);
    const file = collect(readFileSync(join(capturesDir, 'sixgate__edge-over-snaplen.pcap')));
    assert.deepEqual(file.packets.map(p => p.caplen), [67, 128, 67]);
  });

  test('the link-type field\'s upper half (FCS length bits) does not change the link type', () => {
    const { packets } = collect(readFileSync(join(capturesDir, 'sixgate__edge-fcs-bits.pcap')));
    assert.deepEqual(packets.map(p => p.linktype), [229, 229]);
    const w = new PcapWriter(1);
    w.add(new Uint8Array(60));
    const bytes = w.toBytes();
    new DataView(bytes.buffer).setUint32(20, 0x14000001, true); // FCS present, 4 bytes (two 16-bit units)
    assert.equal(collect(bytes).packets[0].linktype, 1);
  });

  test(`a caplen over ${MAX_CAPLEN} is refused even when the snaplen allows it`, () => {
    const w = new PcapWriter(101, { snaplen: 0x7fffffff });
    w.add(new Uint8Array(40));
    const bytes = w.toBytes();
    new DataView(bytes.buffer).setUint32(24 + 8, 0xffffffff, true);
    const { packets, error } = collect(bytes);
    assert.equal(packets.length, 0);
    assert.match(error ?? '', /caplen 4294967295 is over the limit of 262144/);
  });

  test('a truncated last record is reported after the complete ones', () => {
    const bytes = writeSample(false);
    const cut = collect(bytes.subarray(0, bytes.length - 10));
    assert.equal(cut.packets.length, 2);
    assert.match(cut.error ?? '', /record 3 at byte \d+: truncated, 1490 of 1500 captured bytes present/);
    const header = collect(bytes.subarray(0, 24 + 16 + 1 + 5));
    assert.equal(header.packets.length, 1);
    assert.match(header.error ?? '', /record 2 .*truncated record header \(5 of 16 bytes\)/);
  });

  test('iterating again starts over and clears the error', () => {
    const bytes = writeSample(false);
    const capture = readCapture(bytes.subarray(0, bytes.length - 1));
    assert.equal([...capture.packets].length, 2);
    assert.ok(capture.error instanceof PcapError);
    assert.equal([...capture.packets].length, 2);
  });
});

describe('files that are not captures', () => {
  const cases: [string, Uint8Array, RegExp][] = [
    ['empty', new Uint8Array(0), /not a capture file: 0 bytes/],
    ['text', new TextEncoder().encode('hello world, not a pcap'), /not a pcap or pcapng file \(magic 68656c6c\)/],
    ['short header', writeSample(false).subarray(0, 20), /shorter than its 24-byte header/],
    ['pcapng without byte-order magic', new Uint8Array([0x0a, 0x0d, 0x0d, 0x0a, ...new Array(24).fill(0)]), /byte-order magic/],
  ];
  for (const [name, bytes, message] of cases) {
    test(name, () => {
      assert.throws(() => readCapture(bytes), (err: unknown) => err instanceof PcapError && err.code === 'SIXGATE_ERR_PCAP' && message.test(err.message));
    });
  }

  test('a version other than 2.x', () => {
    const bytes = writeSample(false);
    new DataView(bytes.buffer).setUint16(4, 9, true);
    assert.throws(() => readCapture(bytes), /unsupported pcap version 9\.4/);
  });
});

/** Builds pcapng blocks in either byte order. */
class PcapngBuilder {
  private readonly parts: Uint8Array[] = [];
  constructor(private le: boolean) {}

  block(type: number, body: Uint8Array, le = this.le): this {
    const padded = (body.length + 3) & ~3;
    const out = new Uint8Array(12 + padded);
    const v = new DataView(out.buffer);
    v.setUint32(0, type, le);
    v.setUint32(4, out.length, le);
    out.set(body, 8);
    v.setUint32(out.length - 4, out.length, le);
    this.parts.push(out);
    return this;
  }

  section(le: boolean): this {
    this.le = le;
    const body = new Uint8Array(16);
    const v = new DataView(body.buffer);
    v.setUint32(0, 0x1a2b3c4d, le);
    v.setUint16(4, 1, le);
    v.setBigInt64(8, -1n, le);
    return this.block(0x0a0d0d0a, body);
  }

  /** tsresol: the raw if_tsresol byte, or undefined for the µs default. */
  interface(linktype: number, snaplen: number, tsresol?: number, tsoffsetSec?: bigint): this {
    const body = new Uint8Array(8 + 8 + 16 + 4);
    const v = new DataView(body.buffer);
    v.setUint16(0, linktype, this.le);
    v.setUint32(4, snaplen, this.le);
    let at = 8;
    if (tsresol !== undefined) {
      v.setUint16(at, 9, this.le); v.setUint16(at + 2, 1, this.le); body[at + 4] = tsresol; at += 8;
    }
    if (tsoffsetSec !== undefined) {
      v.setUint16(at, 14, this.le); v.setUint16(at + 2, 8, this.le); v.setBigInt64(at + 4, tsoffsetSec, this.le); at += 12;
    }
    // opt_endofopt: the 4 zeroed bytes after the last option
    return this.block(1, body.subarray(0, at + 4));
  }

  enhanced(ifIndex: number, ts: bigint, data: Uint8Array, origlen = data.length): this {
    const body = new Uint8Array(20 + data.length);
    const v = new DataView(body.buffer);
    v.setUint32(0, ifIndex, this.le);
    v.setUint32(4, Number(ts >> 32n), this.le);
    v.setUint32(8, Number(ts & 0xffffffffn), this.le);
    v.setUint32(12, data.length, this.le);
    v.setUint32(16, origlen, this.le);
    body.set(data, 20);
    return this.block(6, body);
  }

  obsolete(ifIndex: number, ts: bigint, data: Uint8Array): this {
    const body = new Uint8Array(20 + data.length);
    const v = new DataView(body.buffer);
    v.setUint16(0, ifIndex, this.le);
    v.setUint32(4, Number(ts >> 32n), this.le);
    v.setUint32(8, Number(ts & 0xffffffffn), this.le);
    v.setUint32(12, data.length, this.le);
    v.setUint32(16, data.length, this.le);
    body.set(data, 20);
    return this.block(2, body);
  }

  simple(data: Uint8Array, origlen = data.length): this {
    const body = new Uint8Array(4 + data.length);
    new DataView(body.buffer).setUint32(0, origlen, this.le);
    body.set(data, 4);
    return this.block(3, body);
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of this.parts) { out.set(p, at); at += p.length; }
    return out;
  }
}

describe('pcapng', () => {
  test('tcpdump__icmpv6-length-zero.pcapng', () => {
    const capture = readCapture(readFileSync(join(capturesDir, 'tcpdump__icmpv6-length-zero.pcapng')));
    assert.equal(capture.format, 'pcapng');
    const packets = [...capture.packets];
    assert.equal(capture.error, undefined);
    assert.equal(packets.length, 1);
    assert.equal(packets[0].linktype, 1);
    assert.equal(packets[0].caplen, 86);
    // decoded/…txt: 04:24:49.656077 (UTC) on 2010-05-20
    assert.equal(packets[0].tsNs, 1274329489_656077_000n);
    assert.equal(packets[0].data[12], 0x86);
  });

  const pkt = (n: number, fill: number) => new Uint8Array(n).fill(fill);

  test('big-endian file: if_tsresol in powers of 10 and 2, if_tsoffset, EPB/SPB/PB, unknown blocks, a second little-endian section', () => {
    const b = new PcapngBuilder(false)
      .section(false)
      .interface(101, 0, 9)                 // ns
      .interface(229, 0, 0x80 | 10, 100n)   // 1/1024 s, 100 s offset
      .block(0xbad, pkt(7, 0xee))           // unknown: skipped by its length
      .enhanced(0, 1_500_000_000_000_000_123n, pkt(41, 1))
      .enhanced(1, 3n * 1024n + 512n, pkt(42, 2), 1000)
      .obsolete(0, 7n, pkt(43, 3))
      .simple(pkt(44, 4))
      .section(true)
      .interface(1, 16)                     // µs default, snaplen 16
      .simple(pkt(16, 5), 60)
      .enhanced(0, 2_000_001n, pkt(14, 6));
    const capture = readCapture(b.bytes());
    assert.equal(capture.littleEndian, false);
    const packets = [...capture.packets];
    assert.equal(capture.error, undefined);
    assert.deepEqual(packets.map(p => [p.index, p.linktype, p.caplen, p.origlen, p.data[0], p.tsNs]), [
      [0, 101, 41, 41, 1, 1_500_000_000_000_000_123n],
      [1, 229, 42, 1000, 2, 103_500_000_000n],
      [2, 101, 43, 43, 3, 7n],
      [3, 101, 44, 44, 4, 0n],
      [4, 1, 16, 60, 5, 0n],
      [5, 1, 14, 14, 6, 2_000_001_000n],
    ]);
  });

  test('a packet for an interface the section has not declared', () => {
    const b = new PcapngBuilder(true).section(true).interface(1, 0).section(false).enhanced(0, 0n, pkt(20, 0));
    const { packets, error } = collect(b.bytes());
    assert.equal(packets.length, 0);
    assert.match(error ?? '', /block 4 at byte \d+: packet for undeclared interface 0/);
  });

  test('caplen over the interface snaplen (cut to it), over the block, over the hard limit', () => {
    const over = collect(new PcapngBuilder(true).section(true).interface(1, 10).enhanced(0, 0n, pkt(11, 0)).enhanced(0, 0n, pkt(4, 0)).bytes());
    assert.equal(over.error, undefined);
    assert.deepEqual(over.packets.map(p => p.caplen), [10, 4]);
    const bytes = new PcapngBuilder(true).section(true).interface(1, 0).enhanced(0, 0n, pkt(12, 0)).bytes();
    const v = new DataView(bytes.buffer);
    const epb = bytes.length - (12 + 20 + 12);
    v.setUint32(epb + 20, 13, true);
    assert.match(collect(bytes).error ?? '', /caplen 13 runs past the end of the block/);
    v.setUint32(epb + 20, 0xffffffff, true);
    assert.match(collect(bytes).error ?? '', /caplen 4294967295 is over the limit of 262144/);
  });

  test('truncated and corrupt blocks end iteration after the good ones', () => {
    const good = new PcapngBuilder(true).section(true).interface(1, 0).enhanced(0, 0n, pkt(20, 0)).enhanced(0, 0n, pkt(20, 0)).bytes();
    const cut = collect(good.subarray(0, good.length - 3));
    assert.equal(cut.packets.length, 1);
    assert.match(cut.error ?? '', /block 4 at byte \d+: truncated, 49 of 52 bytes present/);
    const tail = collect(good.subarray(0, good.length - 44));
    assert.match(tail.error ?? '', /truncated block header/);
    const bad = Uint8Array.from(good);
    new DataView(bad.buffer).setUint32(bad.length - 4, 48, true);
    assert.match(collect(bad).error ?? '', /trailing block length does not match 52/);
    new DataView(bad.buffer).setUint32(bad.length - 52 + 4, 6, true);
    assert.match(collect(bad).error ?? '', /invalid block length 6/);
  });
});

// pcap-parser (a dependency named by the product card) reads classic µs files
// only. It serves here as an independent oracle for that format; the facts
// below are why src/pcap has its own reader (see docs/dependencies.md).
const require = createRequire(import.meta.url);
const pcapParser = require('pcap-parser') as { parse(input: Readable): NodeJS.EventEmitter };

interface OraclePacket { header: { timestampSeconds: number; timestampMicroseconds: number; capturedLength: number; originalLength: number }; data: Buffer }

function parseWithPcapParser(bytes: Uint8Array): Promise<{ packets: OraclePacket[]; error: string | undefined }> {
  return new Promise((resolve) => {
    const packets: OraclePacket[] = [];
    let error: string | undefined;
    const parser = pcapParser.parse(Readable.from([Buffer.from(bytes)]));
    parser.on('packet', (p: OraclePacket) => packets.push(p));
    parser.on('error', (e: Error) => { error = e.message; });
    parser.on('end', () => resolve({ packets, error }));
  });
}

describe('agrees with pcap-parser on classic µs captures', () => {
  // Left out: an over-snaplen record and a file cut mid-record, where we follow libpcap (tests above), not pcap-parser.
  const libpcapOnly = ['tcpdump__tcp-handshake-nano.pcap', 'sixgate__edge-over-snaplen.pcap', 'sixgate__edge-cut-mid-record.pcap'];
  const files = readdirSync(capturesDir).filter(f => f.endsWith('.pcap') && !libpcapOnly.includes(f));
  test(`${files.length} files from test/fixtures/captures`, async () => {
    assert.ok(files.length >= 40);
    for (const file of files) {
      const bytes = readFileSync(join(capturesDir, file));
      const ours = collect(bytes);
      const theirs = await parseWithPcapParser(bytes);
      assert.equal(ours.error, undefined, file);
      assert.equal(theirs.error, undefined, file);
      assert.equal(ours.packets.length, theirs.packets.length, file);
      ours.packets.forEach((p, i) => {
        const h = theirs.packets[i].header;
        assert.equal(p.tsNs, BigInt(h.timestampSeconds) * 1_000_000_000n + BigInt(h.timestampMicroseconds) * 1000n, file);
        assert.equal(p.caplen, h.capturedLength, file);
        assert.equal(p.origlen, h.originalLength, file);
        assert.ok(Buffer.from(p.data.buffer, p.data.byteOffset, p.data.length).equals(theirs.packets[i].data), file);
      });
    }
  });

  test('what pcap-parser 0.2.1 does not do', async () => {
    const nano = await parseWithPcapParser(readFileSync(join(capturesDir, 'tcpdump__tcp-handshake-nano.pcap')));
    assert.equal(nano.error, 'unknown magic number: 4d3cb2a1');
    const ng = await parseWithPcapParser(readFileSync(join(capturesDir, 'tcpdump__icmpv6-length-zero.pcapng')));
    assert.equal(ng.error, 'unknown magic number: 0a0d0d0a');
    // A truncated last record disappears without an error.
    const bytes = writeSample(false);
    const cut = await parseWithPcapParser(bytes.subarray(0, bytes.length - 10));
    assert.deepEqual([cut.packets.length, cut.error], [2, undefined]);
    // Its version check is `major != 2 && minor != 4`: 9.4 passes.
    new DataView(bytes.buffer).setUint16(4, 9, true);
    assert.equal((await parseWithPcapParser(bytes)).error, undefined);
  });
});

describe('robustness', () => {
  test('bit-flipped and cut files: PcapError or records, never another exception', () => {
    let seed = 0xcafe;
    const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) / 0x1000000;
    const originals = [
      readFileSync(join(capturesDir, 'tcpdump__icmpv6-length-zero.pcapng')),
      readFileSync(join(capturesDir, 'zeek__icmp6-nd-options.pcap')),
      readFileSync(join(capturesDir, 'tcpdump__tcp-handshake-nano.pcap')),
      new PcapngBuilder(false).section(false).interface(1, 0, 0x80 | 20).enhanced(0, 5n, new Uint8Array(30)).simple(new Uint8Array(9)).bytes(),
    ];
    for (let i = 0; i < 5000; i++) {
      const bytes = Uint8Array.from(originals[i % originals.length]);
      // Flip bits in the headers, where the lengths are.
      for (let flips = 1 + Math.floor(rand() * 3); flips > 0; flips--) {
        bytes[Math.floor(rand() * Math.min(bytes.length, 120))] ^= 1 << Math.floor(rand() * 8);
      }
      const input = bytes.subarray(0, bytes.length - Math.floor(rand() * 8));
      let capture;
      try {
        capture = readCapture(input);
      } catch (err) {
        assert.ok(err instanceof PcapError, String(err));
        continue;
      }
      for (const p of capture.packets) {
        assert.ok(p.caplen <= MAX_CAPLEN && p.data.length === p.caplen);
        assert.ok(p.data.byteOffset + p.data.length <= input.byteOffset + input.length);
      }
    }
  });
});
