// The packet loop: one TUN queue, one ring, one NAT66 engine.
//
// Every packet in the TUN was put there by sixgate's routing (plan.ts):
// container traffic by the policy rule, replies by the external-address
// routes or host-mode steering. The engine decides which way each goes, by
// its source address (Nat66.translateBatch: from an inside subnet outbound,
// hairpin included, anything else inbound). Translated packets are written back into
// the same TUN and the kernel forwards them on; GSO super-packets (vnet
// header, partial checksum) pass whole, the engine keeps the partial sum
// right and the kernel segments only where an egress cannot take GSO.
//
// Per wake-up: read a batch (the read stamps its time), translate it in place with one
// engine call, write the kept packets back in runs of consecutive slots (a
// packet refused by the engine leaves as the RST or ICMPv6 error that replaced it);
// repeat up to a budget so timers and other handles get a turn; then the
// sessions the engine offered go to the fast path (offload.ts) in one call.
// Nothing here allocates per packet.
//
// The device is anything with the TUN's batch calls (PacketDevice): the
// service swaps in a reopened TUN after a failure (the engine and its
// connection table stay), and tests drive the loop with an in-memory one.
import { VNET_HDR_LEN, VnetFlag } from '../io/tun.js';
import { PacketRing } from '../io/ring.js';
import { CaptureTap, NOT_DROPPED } from '../io/capture.js';
import { NatBatch, DIR_IN, type Nat66 } from '../nat/nat66.js';
import { Verdict } from '../nat/types.js';
import { F as IP, HEADER_LEN as IP_HEADER_LEN, Protocol } from '../wire/ipv6.js';
import { readAddressWords } from '../wire/checksum.js';
import { describeCodes } from '../wire/names.js';
import type { NatOffload } from './offload.js';

/** Indexes of TunDatapath.counters; what each counts is its help text in LOOP_COUNTERS below. */
export const LoopCounter = {
  Wakeups: 0,
  Batches: 0 + 1,
  Packets: 2,
  Outbound: 3,
  Inbound: 4,
  Dropped: 5,
  PassedToHost: 6,
  Held: 7,
  TxShort: 8,
  ReadErrors: 9,
  Released: 10,
} as const;
// Each counter's name and one-line help: the one place they are written.
const LOOP_COUNTERS = describeCodes(LoopCounter, {
  Wakeups: ['wakeups', 'Times the TUN was readable and the loop ran.'],
  Batches: ['batches', 'Batches read from the TUN.'],
  Packets: ['packets', 'Packets read from the TUN.'],
  Outbound: ['outbound', 'Packets from an inside subnet (outbound or hairpin).'],
  Inbound: ['inbound', 'Packets from anywhere else (inbound).'],
  Dropped: ['dropped', 'Packets the engine dropped (by reason: the NAT drop counters), or released fragments with no room to send.'],
  PassedToHost: ['passed-to-host', "Host-mode packets to the host's own address that were not sixgate's: written back untouched for local delivery."],
  Held: ['held', 'Fragments the engine held until their first fragment came.'],
  TxShort: ['tx-short', 'Packets not written because the TUN queue was full.'],
  ReadErrors: ['read-errors', 'Reads that failed (device gone): the loop stops until the service attaches a working device.'],
  Released: ['released', 'Held out-of-order fragments sent once their first fragment came.'],
});
export const LOOP_COUNTER_NAMES: readonly string[] = LOOP_COUNTERS.names;
export const LOOP_COUNTER_HELP: readonly string[] = LOOP_COUNTERS.help;

/** Batches per wake-up before yielding to the event loop. */
const BATCH_BUDGET = 8;
/** Room for a 64 KiB GSO super-packet plus the vnet header, rounded for alignment. */
export const SLOT_SIZE = 65536 + 64;
export const HEADROOM = 16;
/** Released fragments collected per batch; beyond that they are dropped (counted as dropped). */
const FRAG_SLOTS = 64;
const FRAG_SLOT_SIZE = 2048 + HEADROOM;

/**
 * The packet I/O the loop runs on: what it uses of a Tun (src/io/tun.ts has
 * the contracts). read fills ring slots 0..n-1 and stamps ring.stamp[0];
 * write returns how many slots it consumed; onReadable's callback gets a
 * negative errno when the device failed.
 */
export interface PacketDevice {
  readonly name: string;
  /** Every packet carries a virtio-net header in the VNET_HDR_LEN bytes before it. */
  readonly vnetHeader: boolean;
  readonly closed: boolean;
  /** Reads until the device has no more packets or the ring is full. */
  read(ring: PacketRing): number;
  write(ring: PacketRing, start: number, count: number): number;
  onReadable(callback: (events: number) => void): void;
  pause(): void;
}

export interface LoopOptions {
  readonly tun: PacketDevice;
  readonly nat: Nat66;
  /** Ring slots: packets per read (default 64). */
  readonly slots?: number;
  /** The device failed (read error, device gone): the loop has stopped itself. */
  readonly onError?: (err: unknown) => void;
}

/** A captured packet's note: the engine's verdict (Verdict) for a kept one, and this bit for an inbound one. */
export const CAPTURE_INBOUND = 0x100;

export class TunDatapath {
  readonly counters = new Float64Array(LOOP_COUNTER_NAMES.length);
  /** `sixgate capture`: dropped packets as the engine left them, or every packet as read. */
  readonly capture = new CaptureTap();
  readonly ring: PacketRing;
  nat: Nat66;
  /** The fast path (offload.ts), given the sessions the engine offered after each wake-up. */
  offload: NatOffload | undefined;
  private tun: PacketDevice;
  private readonly onError: (err: unknown) => void;
  private readonly keep: Uint8Array;
  /** The read's packets for the engine: batch packet i is ring slot i. */
  private readonly batch: NatBatch;
  /** 1 for a host-mode packet to the host's own address: if sixgate does not claim it, it goes to the host untouched. */
  private readonly toHost: Uint8Array;
  /** While capturing every packet: each slot's capture record, taken before the engine rewrites it. */
  private readonly tapped: Int32Array;
  /** Fragments the engine released during this batch, copied out (copyReleasedFragment) before its next call recycles them. */
  private readonly frags = new PacketRing({ slots: FRAG_SLOTS, slotSize: FRAG_SLOT_SIZE, headroom: HEADROOM });
  private fragCount = 0;
  private readonly words = new Uint32Array(8);
  /** Host-mode external addresses, 4 words each: their unclaimed ICMPv6 goes to the host. */
  private hostWords = new Uint32Array(0);
  private hostCount = 0;
  private running = false;

  constructor(options: LoopOptions) {
    this.tun = options.tun;
    this.nat = options.nat;
    this.onError = options.onError ?? (() => {});
    const slots = options.slots ?? 64;
    this.ring = new PacketRing({ slots, slotSize: SLOT_SIZE, headroom: HEADROOM });
    this.keep = new Uint8Array(slots);
    this.batch = new NatBatch(slots);
    this.toHost = new Uint8Array(slots);
    this.tapped = new Int32Array(slots);
  }

  /** Host addresses used in host-address mode (16 bytes each). Control plane. */
  setHostAddresses(addresses: readonly Uint8Array[]): void {
    const w = new Uint32Array(addresses.length * 4);
    addresses.forEach((a, i) => readAddressWords(a, 0, w, i * 4));
    this.hostWords = w;
    this.hostCount = addresses.length;
  }

  /**
   * Moves the loop to another device (a TUN reopened after a failure): the
   * engine, its sessions and the counters stay. Stopped first if running.
   */
  attach(device: PacketDevice): void {
    this.stop();
    this.tun = device;
  }

  get isRunning(): boolean {
    return this.running;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.tun.onReadable((events) => {
      if (events < 0) {
        this.fail(new Error(`${this.tun.name}: device failed (errno ${-events})`));
        return;
      }
      this.counters[LoopCounter.Wakeups]++;
      try {
        // A read short of a full ring emptied the queue: the next packet brings the next wake-up.
        for (let b = 0; b < BATCH_BUDGET; b++) if (this.pass() < this.ring.slots) break;
        if (this.nat.offload.count !== 0) this.offload?.promote();
      } catch (err) {
        this.fail(err);
      }
    });
  }

  // Stopped before the callback, so a handler that attaches a new device finds the loop idle.
  private fail(err: unknown): void {
    this.counters[LoopCounter.ReadErrors]++;
    this.stop();
    this.onError(err);
  }

  stop(): void {
    if (!this.running) return;
    this.running = false;
    if (!this.tun.closed) this.tun.pause();
  }

  /** One read-translate-write round; returns packets read. Public for tests and benches. */
  pass(): number {
    const ring = this.ring;
    const n = this.tun.read(ring);
    if (n === 0) return 0;
    const c = this.counters;
    c[LoopCounter.Batches]++;
    c[LoopCounter.Packets] += n;
    const nat = this.nat;
    const buf = ring.buf;
    const lens = ring.lens;
    const keep = this.keep;
    const words = this.words;
    const vnet = this.tun.vnetHeader;
    const batch = this.batch;
    const toHost = this.toHost;
    batch.count = 0;
    batch.room = ring.room;
    // The read's own time stamp: a clock call here would allocate per read.
    batch.now = ring.stamp[0];
    // Capturing every packet: copied as read, before the engine rewrites them in place.
    const tapAll = this.capture.active && !this.capture.dropsOnly;
    if (tapAll) this.tapBatch(n);
    for (let i = 0; i < n; i++) {
      const off = ring.offset(i);
      const len = lens[i];
      keep[i] = 0;
      const partial = vnet && (buf[off - VNET_HDR_LEN] & VnetFlag.NEEDS_CSUM) !== 0;
      toHost[i] = 0;
      // Noted before translation, on the destination as received; it
      // counts only for a packet the engine finds inbound and drops.
      if (this.hostCount !== 0 && len >= IP_HEADER_LEN && buf[off + IP.NEXT_HEADER] === Protocol.Icmpv6) {
        readAddressWords(buf, off + IP.DST, words, 4);
        if (this.isHost(words)) toHost[i] = 1;
      }
      batch.add(off, len, partial);
    }
    // One call for the whole read: the engine classifies every packet and,
    // at a large table, overlaps the batch's lookups (see src/nat/batch.ts).
    nat.translateBatch(buf, batch);
    const verdicts = batch.verdicts;
    const dirs = batch.dirs;
    for (let i = 0; i < n; i++) {
      let v = verdicts[i];
      const inbound = dirs[i] === DIR_IN;
      c[inbound ? LoopCounter.Inbound : LoopCounter.Outbound]++;
      if (v < 0 && inbound && toHost[i] !== 0) {
        c[LoopCounter.PassedToHost]++;
        v = Verdict.Forward;
      }
      if (v === Verdict.Held) c[LoopCounter.Held]++;
      else if (v < 0) {
        c[LoopCounter.Dropped]++;
        if (this.capture.active && !tapAll) this.capture.offer(buf, ring.offset(i), lens[i], 0, -v, inbound ? CAPTURE_INBOUND : 0, batch.now);
      } else keep[i] = 1;
      // What became of a packet tapBatch copied as read.
      if (tapAll) this.capture.settle(this.tapped[i], v < 0 ? -v : NOT_DROPPED, (v < 0 ? 0 : v) | (inbound ? CAPTURE_INBOUND : 0));
      if (v === Verdict.Reply) this.sendBack(i, batch.lengths[i], vnet);
    }
    if (nat.releasedFragments !== 0) this.collectReleased();
    this.writeKept(n);
    if (this.fragCount !== 0) {
      const put = this.tun.write(this.frags, 0, this.fragCount);
      if (put < this.fragCount) c[LoopCounter.TxShort] += this.fragCount - put;
      c[LoopCounter.Released] += put;
      this.fragCount = 0;
    }
    return n;
  }

  private tapBatch(n: number): void {
    const ring = this.ring;
    for (let i = 0; i < n; i++) this.tapped[i] = this.capture.offer(ring.buf, ring.offset(i), ring.lens[i], 0, NOT_DROPPED, 0, this.batch.now);
  }

  // The engine released held fragments (translated now); they must leave
  // before its next translate call frees their slots.
  private collectReleased(): void {
    const nat = this.nat;
    const ring = this.frags;
    const released = nat.releasedFragments;
    for (let k = 0; k < released; k++) {
      const at = ring.offset(this.fragCount);
      const len = this.fragCount === FRAG_SLOTS ? -1 : nat.copyReleasedFragment(k, ring.buf, at, ring.room);
      if (len < 0) {
        this.counters[LoopCounter.Dropped]++;
        continue;
      }
      // A plain, fully checksummed packet as far as the vnet header goes.
      ring.buf.fill(0, at - VNET_HDR_LEN, at);
      ring.lens[this.fragCount++] = len;
    }
  }

  // A refusal's reply replaced packet i in its slot: its own length, and a
  // plain vnet header (the reply is fully checksummed and never segmented).
  private sendBack(i: number, length: number, vnet: boolean): void {
    const ring = this.ring;
    ring.lens[i] = length;
    if (vnet) {
      const off = ring.offset(i);
      ring.buf.fill(0, off - VNET_HDR_LEN, off);
    }
  }

  private isHost(w: Uint32Array): boolean {
    const h = this.hostWords;
    for (let k = 0; k < this.hostCount; k++) {
      const b = k * 4;
      if (h[b] === w[4] && h[b + 1] === w[5] && h[b + 2] === w[6] && h[b + 3] === w[7]) return true;
    }
    return false;
  }

  // Consecutive kept slots go out in one native call each.
  private writeKept(n: number): void {
    const keep = this.keep;
    let i = 0;
    while (i < n) {
      while (i < n && keep[i] === 0) i++;
      let j = i;
      while (j < n && keep[j] === 1) j++;
      if (j > i) {
        const put = this.tun.write(this.ring, i, j - i);
        if (put < j - i) this.counters[LoopCounter.TxShort] += j - i - put;
      }
      i = j;
    }
  }
}
