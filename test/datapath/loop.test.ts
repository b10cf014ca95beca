// TunDatapath on an in-memory device (PacketDevice): the loop's pass,
// its failure handling (a device that fails stops the loop and is reported;
// another device attached later carries on with the same engine and
// sessions) and an allocation count of the pass, without a kernel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { countGcs } from '../support/gc.js';
import { TunDatapath, LoopCounter, type PacketDevice } from '../../src/datapath/loop.js';
import { VNET_HDR_LEN } from '../../src/io/tun.js';
import type { PacketRing } from '../../src/io/ring.js';
import { Nat66 } from '../../src/nat/nat66.js';
import { udpPacket, tcpPacket, portsOf, srcText, dstText, TCP_SYN, TCP_RST, TCP_ACK } from '../nat/support.js';
import { NatCounter } from '../../src/nat/types.js';
import { NatDrop } from '../../src/nat/drop.js';
import { ANY_REASON } from '../../src/io/capture.js';

const EXT = '2001:db8:ffff::1';
const REMOTE = '2001:db8:2::2';
/** A monotonic clock after weeks of uptime: never a small integer. */
const NOW = 1_790_000_000_000.25;
const MAX_PACKET = 256;

/**
 * A PacketDevice in memory: packets queued with `inject` are read in order
 * (or replayed forever with `replay`), written ones are kept as copies (or
 * only counted with `keep: false`). Reads and writes copy byte by byte into
 * preallocated space, so the device itself allocates nothing per packet.
 */
class MemoryDevice implements PacketDevice {
  readonly name = 'mem0';
  readonly vnetHeader = true;
  closed = false;
  written = 0;
  readonly sent: Uint8Array[] = [];
  /** The next read throws (an I/O error). */
  failRead = false;
  private readonly inbox: Uint8Array;
  private readonly inLens: Int32Array;
  private queued = 0;
  private head = 0;
  private replaying = false;
  private callback: ((events: number) => void) | undefined;

  constructor(private readonly keep = true, capacity = 1024) {
    this.inbox = new Uint8Array(capacity * MAX_PACKET);
    this.inLens = new Int32Array(capacity);
  }

  inject(...packets: Uint8Array[]): void {
    for (const p of packets) {
      this.inbox.set(p, this.queued * MAX_PACKET);
      this.inLens[this.queued++] = p.length;
    }
  }

  /** From now on every read returns the queued packets again, round after round. */
  replay(): void {
    this.replaying = true;
  }

  read(ring: PacketRing): number {
    if (this.failRead) throw new Error('mem0: read failed (EBADFD)');
    let n = 0;
    while (n < ring.slots && this.head < this.queued) {
      const at = ring.offset(n);
      const from = this.head * MAX_PACKET;
      const len = this.inLens[this.head]!;
      for (let b = 0; b < VNET_HDR_LEN; b++) ring.buf[at - VNET_HDR_LEN + b] = 0;
      for (let b = 0; b < len; b++) ring.buf[at + b] = this.inbox[from + b]!;
      ring.lens[n++] = len;
      this.head++;
      if (this.replaying && this.head === this.queued) this.head = 0;
    }
    ring.stamp[0] = NOW;
    return n;
  }

  write(ring: PacketRing, start: number, count: number): number {
    this.written += count;
    if (this.keep) for (let i = start; i < start + count; i++) this.sent.push(ring.buf.slice(ring.offset(i), ring.offset(i) + ring.lens[i]!));
    return count;
  }

  onReadable(callback: (events: number) => void): void {
    this.callback = callback;
  }

  pause(): void {
    this.callback = undefined;
  }

  /** What the poll would do: a wake-up (events > 0) or a failure (a negative errno). */
  wake(events = 1): boolean {
    const cb = this.callback;
    cb?.(events);
    return cb !== undefined;
  }
}

function engine(inside = 'fd00::/64'): Nat66 {
  return new Nat66({ networks: [{ name: 'd', insideSubnets: [inside], externalAddresses: [EXT] }], capacity: 4096, seed: 3 });
}

test('a wake-up reads, translates both ways and writes back; the loop counts', () => {
  const device = new MemoryDevice();
  const loop = new TunDatapath({ tun: device, nat: engine() });
  loop.start();
  device.inject(udpPacket('fd00::2', 4000, REMOTE, 53), udpPacket('fd00::3', 4000, REMOTE, 53));
  assert.ok(device.wake());
  assert.equal(device.sent.length, 2);
  for (const p of device.sent) assert.equal(srcText(p), EXT);
  const reply = udpPacket(REMOTE, 53, EXT, portsOf(device.sent[0]!)!.src);
  device.inject(reply, new Uint8Array(20)); // and a runt: dropped
  device.wake();
  assert.equal(device.sent.length, 3);
  assert.equal(dstText(device.sent[2]!), 'fd00::2');
  assert.equal(portsOf(device.sent[2]!)!.dst, 4000);
  const c = loop.counters;
  // The engine decides each packet's direction (a runt has no inside source: inbound), so the two add up to Packets.
  assert.deepEqual([c[LoopCounter.Outbound], c[LoopCounter.Inbound], c[LoopCounter.Dropped], c[LoopCounter.Packets]], [2, 2, 1, 4]);
});

test('a wake-up reads until a read comes back short of a full ring (the queue is empty), never once more', () => {
  class CountingDevice extends MemoryDevice {
    reads = 0;
    override read(ring: PacketRing): number {
      this.reads++;
      return super.read(ring);
    }
  }
  const device = new CountingDevice(false);
  const loop = new TunDatapath({ tun: device, nat: engine(), slots: 64 });
  loop.start();
  for (let i = 0; i < 3; i++) device.inject(udpPacket('fd00::2', 4000 + i, REMOTE, 53));
  device.wake();
  assert.equal(device.reads, 1);
  for (let i = 0; i < 64 + 5; i++) device.inject(udpPacket('fd00::2', 5000 + i, REMOTE, 53));
  device.wake();
  assert.equal(device.reads, 1 + 2);
  assert.equal(device.written, 3 + 64 + 5);
});

test('a packet to an unpublished port leaves as the reply that replaced it: its length, a plain vnet header', () => {
  // A device whose reads carry a GSO type in the vnet header, and which records the header it is handed.
  class GsoDevice extends MemoryDevice {
    readonly headers: number[][] = [];
    override read(ring: PacketRing): number {
      const n = super.read(ring);
      for (let i = 0; i < n; i++) ring.buf[ring.offset(i) - VNET_HDR_LEN + 1] = 4;
      return n;
    }
    override write(ring: PacketRing, start: number, count: number): number {
      for (let i = start; i < start + count; i++) this.headers.push([...ring.buf.subarray(ring.offset(i) - VNET_HDR_LEN, ring.offset(i))]);
      return super.write(ring, start, count);
    }
  }
  const device = new GsoDevice();
  const nat = engine();
  const loop = new TunDatapath({ tun: device, nat });
  loop.start();
  device.inject(tcpPacket(REMOTE, 40000, EXT, 8080, TCP_SYN), udpPacket(REMOTE, 5353, EXT, 9999, 100));
  device.wake();
  assert.equal(device.sent.length, 2);
  const [rst, unreachable] = device.sent as [Uint8Array, Uint8Array];
  assert.equal(rst.length, 60);
  assert.equal(rst[40 + 13], TCP_RST | TCP_ACK);
  assert.equal(dstText(rst), REMOTE);
  assert.equal(unreachable.length, 48 + 148);
  assert.equal(unreachable[40], 1);
  assert.deepEqual(device.headers, [new Array(VNET_HDR_LEN).fill(0), new Array(VNET_HDR_LEN).fill(0)]);
  assert.equal(loop.counters[LoopCounter.Dropped], 0);
  assert.equal(nat.counters[NatCounter.RstSent] + nat.counters[NatCounter.UnreachableSent], 2);
});

test('a device that fails stops the loop and is reported once; another device carries on with the same sessions', () => {
  const nat = engine();
  const errors: unknown[] = [];
  const first = new MemoryDevice();
  const loop = new TunDatapath({ tun: first, nat, onError: (err) => errors.push(err) });
  loop.start();
  first.inject(udpPacket('fd00::2', 4000, REMOTE, 53));
  first.wake();
  const extPort = portsOf(first.sent[0]!)!.src;

  // The poll reports the failure (a deleted TUN: EBADFD)...
  assert.ok(first.wake(-77));
  assert.equal(loop.isRunning, false);
  assert.equal(errors.length, 1);
  assert.match(String(errors[0]), /mem0: device failed \(errno 77\)/);
  assert.equal(first.wake(), false, 'no more wake-ups: the loop let go of the device');

  // ...or a read throws.
  const second = new MemoryDevice();
  loop.attach(second);
  loop.start();
  second.failRead = true;
  second.inject(udpPacket(REMOTE, 53, EXT, extPort));
  second.wake();
  assert.equal(loop.isRunning, false);
  assert.equal(errors.length, 2);
  assert.equal(loop.counters[LoopCounter.ReadErrors], 2);

  const third = new MemoryDevice();
  loop.attach(third);
  loop.start();
  third.inject(udpPacket(REMOTE, 53, EXT, extPort));
  third.wake();
  assert.equal(third.sent.length, 1, 'the reply to a session opened before the failure is translated');
  assert.equal(dstText(third.sent[0]!), 'fd00::2');
  assert.equal(loop.counters[LoopCounter.Outbound], 1, 'counters survive the change of device');
});

test('the pass allocates nothing (a million packets through the loop, both directions)', async () => {
  const flows = 256;
  // Inside addresses whose 32-bit words stay below 2^31: in some processes
  // V8 leaves the engine's hash mixing uninlined, and a Uint32Array word of
  // 2^31 or more (any fc00::/7 address) is then boxed on each call. That is
  // the engine's to fix and to test (test/nat/alloc.test.ts); this test is
  // about the loop around it.
  const nat = engine('2001:db8:a::/64');
  const opener = new MemoryDevice();
  const loop = new TunDatapath({ tun: opener, nat });
  const outbound: Uint8Array[] = [];
  for (let i = 0; i < flows; i++) outbound.push(udpPacket(`2001:db8:a::${(i >> 4) + 2}`, 20_000 + (i & 15), REMOTE, 53, 32));
  opener.inject(...outbound);
  while (loop.pass() > 0);
  assert.equal(opener.sent.length, flows);
  const device = new MemoryDevice(false, 2 * flows);
  for (let i = 0; i < flows; i++) device.inject(outbound[i]!, udpPacket(REMOTE, 53, EXT, portsOf(opener.sent[i]!)!.src, 32));
  device.replay();
  loop.attach(device);
  for (let r = 0; r < 4000; r++) loop.pass(); // let every function reach optimised code
  // A boxed number per packet would fill the young generation several times
  // in every window of a million packets; a GC in one window only is the
  // optimising compiler finishing late on a busy machine, so up to three windows.
  const rounds = Math.ceil(1_000_000 / 64);
  const scavenges: number[] = [];
  do {
    const before = device.written;
    const gcs = countGcs();
    for (let r = 0; r < rounds; r++) loop.pass();
    scavenges.push(await gcs.stop());
    assert.equal(device.written - before, rounds * 64, 'every packet translated and written');
  } while (scavenges.at(-1)! > 0 && scavenges.length < 3);
  assert.equal(scavenges.at(-1), 0, `GCs while passing ${rounds * 64} packets, per window: ${scavenges.join(', ')}`);
});

test('dropped packets cost no allocation with the capture tap idle, nor while it captures them', async () => {
  const loop = new TunDatapath({ tun: new MemoryDevice(), nat: engine('2001:db8:a::/64') });
  // Inbound to an address that is not ours: every packet a not-external drop.
  const device = new MemoryDevice(false, 64);
  for (let i = 0; i < 64; i++) device.inject(udpPacket(REMOTE, 53, `2001:db8:ffff::${i + 2}`, 4000 + i, 32));
  device.replay();
  loop.attach(device);
  const window = async (): Promise<number> => {
    for (let r = 0; r < 4000; r++) loop.pass(); // optimised code first
    const scavenges: number[] = [];
    do {
      const gcs = countGcs();
      for (let r = 0; r < Math.ceil(1_000_000 / 64); r++) loop.pass();
      scavenges.push(await gcs.stop());
    } while (scavenges.at(-1)! > 0 && scavenges.length < 3);
    return scavenges.at(-1)!;
  };
  assert.equal(await window(), 0, 'GCs with the tap idle');
  assert.equal(loop.counters[LoopCounter.Dropped], loop.counters[LoopCounter.Packets]);
  // Capturing: the first packets are copied in, the rest counted lost once the buffer is full.
  loop.capture.start({ dropsOnly: true, want: ANY_REASON, records: 1024 });
  assert.equal(await window(), 0, 'GCs while capturing');
  const got = loop.capture.drain();
  assert.equal(got.length, 1024);
  assert.ok(loop.capture.lost > 1_000_000);
  assert.deepEqual([dstText(got[0]!.data), got[0]!.reason], ['2001:db8:ffff::2', NatDrop.NotExternal]);
  loop.capture.stop();
});
