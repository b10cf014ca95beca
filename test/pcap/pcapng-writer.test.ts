// The pcapng writer against the project's reader and against tcpdump: two
// interfaces, comments, time stamps; and Linux cooked framing of raw IPv6
// and Ethernet packets, the one link type tcpdump reads for both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { PcapngWriter, linuxCooked } from '../../src/pcap/pcapng-writer.js';
import { readCapture } from '../../src/pcap/reader.js';
import { LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_RAW, ipOffset } from '../../src/pcap/linktype.js';
import { requires } from '../support/prereq.js';
import { udpPacket } from '../nat/support.js';

const udp = udpPacket('2001:db8::1', 4000, '2001:db8::2', 9999, 5);
const frame = new Uint8Array([0x33, 0x33, 0, 0, 0, 1, 2, 0, 0, 0, 0, 9, 0x86, 0xdd, ...udp]);

function file(write: (w: PcapngWriter) => void): Uint8Array {
  const blocks: Uint8Array[] = [];
  write(new PcapngWriter((b) => blocks.push(b)));
  return Buffer.concat(blocks);
}

test('interfaces of several link types, packets with and without comments, read back', () => {
  const bytes = file((w) => {
    const tun = w.addInterface(LINKTYPE_RAW, 'sixgate0');
    const eth = w.addInterface(LINKTYPE_ETHERNET, 'eth0');
    w.add(tun, { tsNs: 1_790_000_000_123_456_000n, data: udp, comment: 'sixgate nat66 drop: no-mapping (é)' });
    w.add(eth, { tsNs: 1_790_000_000_200_000_000n, data: frame });
    assert.throws(() => w.add(2, { tsNs: 0n, data: udp }), RangeError);
  });
  const capture = readCapture(bytes);
  const got = [...capture];
  assert.equal(capture.error, undefined);
  assert.deepEqual(got.map((p) => [p.linktype, p.tsNs, p.caplen, p.origlen, p.comment]), [
    [LINKTYPE_RAW, 1_790_000_000_123_456_000n, udp.length, udp.length, 'sixgate nat66 drop: no-mapping (é)'],
    [LINKTYPE_ETHERNET, 1_790_000_000_200_000_000n, frame.length, frame.length, undefined],
  ]);
  assert.deepEqual([...got[1]!.data], [...frame]);
});

test('Linux cooked framing keeps the packet, and the source MAC of a frame', () => {
  const raw = linuxCooked(LINKTYPE_RAW, udp)!;
  const eth = linuxCooked(LINKTYPE_ETHERNET, frame)!;
  for (const c of [raw, eth]) {
    assert.equal(ipOffset(LINKTYPE_LINUX_SLL, c), 16);
    assert.deepEqual([...c.subarray(16)], [...udp]);
  }
  assert.deepEqual([...eth.subarray(0, 12)], [0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 9], 'multicast, ARPHRD_ETHER, the source MAC');
  assert.equal(linuxCooked(LINKTYPE_LINUX_SLL, raw), undefined);
});

test('tcpdump reads what the writer wrote', requires({ tools: ['tcpdump'] }), () => {
  const bytes = file((w) => {
    const any = w.addInterface(LINKTYPE_LINUX_SLL, 'sixgate0');
    w.add(any, { tsNs: 1_790_000_000_000_000_000n, data: linuxCooked(LINKTYPE_RAW, udp)!, comment: 'a comment' });
    w.add(any, { tsNs: 1_790_000_000_000_001_000n, data: linuxCooked(LINKTYPE_ETHERNET, frame)! });
  });
  const r = spawnSync('tcpdump', ['-n', '-r', '-'], { input: bytes, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 2);
  for (const l of lines) assert.match(l, /IP6 2001:db8::1\.4000 > 2001:db8::2\.9999: UDP, length 5/);
});
