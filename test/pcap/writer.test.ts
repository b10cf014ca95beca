import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PcapWriter } from '../../src/pcap/writer.js';
import { readCapture } from '../../src/pcap/reader.js';
import { fillL4Checksum } from '../../src/wire/checksum.js';
import { requires } from '../support/prereq.js';

// A UDP packet ::1.1 > ::2.2 with no payload, as a TUN would deliver it.
function udpPacket(): Uint8Array {
  const p = new Uint8Array(48);
  p.set([0x60, 0, 0, 0, 0, 8, 17, 64]);
  p[23] = 1;
  p[39] = 2;
  p.set([0, 1, 0, 2, 0, 8], 40);
  fillL4Checksum(p, 0, 40, 8, 17);
  return p;
}

test('global header: little-endian 2.4, magic by resolution, snaplen, link type', () => {
  const us = new PcapWriter(101).toBytes();
  assert.deepEqual([...us], [0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 101, 0, 0, 0]);
  const ns = new PcapWriter(1, { nanosecond: true, snaplen: 1500 }).toBytes();
  assert.deepEqual([...ns.subarray(0, 4)], [0x4d, 0x3c, 0xb2, 0xa1]);
  assert.equal(new DataView(ns.buffer).getUint32(16, true), 1500);
});

test('records: cut at the snaplen with the original length kept, 1 µs apart without timestamps', () => {
  const w = new PcapWriter(1, { snaplen: 64 });
  w.add(new Uint8Array(100));
  w.add(new Uint8Array(10));
  const [a, b] = readCapture(w.toBytes()).packets;
  assert.deepEqual([a.caplen, a.origlen, a.tsNs], [64, 100, 0n]);
  assert.deepEqual([b.caplen, b.origlen, b.tsNs], [10, 10, 1000n]);
});

test('microsecond files drop the nanoseconds, nanosecond files keep them', () => {
  for (const nanosecond of [false, true]) {
    const w = new PcapWriter(101, { nanosecond });
    w.add(udpPacket(), 1_700_000_000_123_456_789n);
    const [p] = readCapture(w.toBytes()).packets;
    assert.equal(p.tsNs, nanosecond ? 1_700_000_000_123_456_789n : 1_700_000_000_123_456_000n);
  }
});

test('tcpdump reads what the writer wrote', requires({ tools: ['tcpdump'] }), () => {
  const dir = mkdtempSync(join(tmpdir(), 'sixgate-writer-'));
  try {
    for (const nanosecond of [false, true]) {
      const file = join(dir, `${nanosecond ? 'ns' : 'us'}.pcap`);
      const w = new PcapWriter(101, { nanosecond });
      w.add(udpPacket(), 1_700_000_000_123_456_789n);
      writeFileSync(file, w.toBytes());
      const out = execFileSync('tcpdump', ['-nn', '-vv', ...(nanosecond ? ['--nano'] : []), '-r', file], {
        encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, TZ: 'UTC' },
      });
      assert.match(out, new RegExp(`^22:13:20\\.123456${nanosecond ? '789' : ''} IP6 .*::1\\.1 > ::2\\.2: \\[udp sum ok\\] UDP, length 0\\n$`));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
