// Caller-owned packet rings. One Uint8Array of fixed slots; packet data
// starts `headroom` bytes into its slot (room for a virtio-net header or for
// headers a later stage prepends in place); lengths in an Int32Array.
// Per-slot metadata for sockets lives in two more arrays, so a batch call
// never creates an object:
//
//   meta: Int32Array, META_STRIDE ints per slot   addr: Uint8Array, ADDR_STRIDE bytes per slot
//   ICMPv6: [hop limit, ifindex, src scope id, 0]  [source(16) | destination(16)]
//   packet: [ifindex, pkttype, ethertype, 0]       unused

export const META_STRIDE = 4;
export const ADDR_STRIDE = 32;

/** Index of each counter in a handle's `counters` (Float64Array, so nothing wraps). Slots 0..6 are written by C. */
export const Counter = {
  RxPackets: 0,
  RxBytes: 1,
  /** Packets longer than a slot: dropped whole, never delivered cut. */
  RxOversize: 2,
  TxPackets: 3,
  TxBytes: 4,
  /** Packets the kernel refused one by one (bad vnet header, no route...); the batch went on. */
  TxRejected: 5,
  /** errno of the last rejected packet, for logs. */
  TxLastErrno: 6,
  /** Packets dropped because the device or link was down (EIO/ENETDOWN). */
  TxDown: 7,
  /** Readiness callbacks delivered (one per wake-up, not per packet). */
  Wakeups: 8,
} as const;
export const COUNTER_COUNT = 9;

export function newCounters(): Float64Array {
  return new Float64Array(COUNTER_COUNT);
}

export interface RingOptions {
  /** Number of slots: the most packets one batch call moves. */
  slots: number;
  /** Bytes per slot including headroom. 65535 + headroom for GSO super-packets. */
  slotSize: number;
  /** Bytes reserved at the start of each slot; at least 10 for a TUN with vnet headers. */
  headroom?: number;
}

export class PacketRing {
  readonly slots: number;
  readonly slotSize: number;
  readonly headroom: number;
  readonly buf: Uint8Array;
  readonly lens: Int32Array;
  readonly meta: Int32Array;
  readonly addr: Uint8Array;
  /** [0]: when Tun.read last filled the ring, in monotonicMs (a typed array, so reading it allocates nothing). */
  readonly stamp: Float64Array;

  constructor(options: RingOptions) {
    const { slots, slotSize } = options;
    const headroom = options.headroom ?? 0;
    if (!Number.isInteger(slots) || slots < 1 || slots > 65536) throw new RangeError(`ring slots must be 1..65536, got ${slots}`);
    if (!Number.isInteger(headroom) || headroom < 0) throw new RangeError(`ring headroom must be >= 0, got ${headroom}`);
    if (!Number.isInteger(slotSize) || slotSize <= headroom || slotSize > 1 << 20) {
      throw new RangeError(`ring slotSize must be > headroom (${headroom}) and <= 1 MiB, got ${slotSize}`);
    }
    this.slots = slots;
    this.slotSize = slotSize;
    this.headroom = headroom;
    this.buf = new Uint8Array(slots * slotSize);
    this.lens = new Int32Array(slots);
    this.meta = new Int32Array(slots * META_STRIDE);
    this.addr = new Uint8Array(slots * ADDR_STRIDE);
    this.stamp = new Float64Array(1);
  }

  /** Offset in `buf` where slot `i`'s packet data starts. */
  offset(i: number): number {
    return i * this.slotSize + this.headroom;
  }

  /** Bytes of packet data a slot holds. */
  get room(): number {
    return this.slotSize - this.headroom;
  }
}

/**
 * CLOCK_MONOTONIC in milliseconds, the clock Tun.read stamps rings with:
 * the engine's timers need the control plane's calls (expiry, snapshots)
 * and the data path's reads on one time base. process.hrtime is libuv's
 * uv_hrtime, clock_gettime(CLOCK_MONOTONIC). Not for the per-packet path:
 * a JS clock call allocates in Node 20.
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
