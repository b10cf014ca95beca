// The engine's output: a preallocated queue the engine appends to and the
// wiring drains after every batch (then calls clear()). Nothing is allocated
// per action; the slot bytes hold either a whole Ethernet frame to send or
// the addresses of a route change.
//
// Send slot layout:   [0, 14) Ethernet header | [14, frameLen) IPv6 packet,
//   sent as is on a packet socket (every destination MAC is known: the
//   solicitor's SLLA or frame source, or a multicast group's).
// Route slot layout:  [0, 16) target | [16, 32) next hop (when hasVia)

export const ActionKind = {
  /** Send a frame on `iface`. */
  Send: 1,
  /** `ip -6 route replace TARGET [via VIA] dev IFACE` (autowire / autovia). */
  RouteReplace: 2,
  /** Remove the route RouteReplace installed for TARGET on IFACE. */
  RouteRemove: 3,
} as const;

/** Why a frame is sent: lets the wiring log and count without parsing it again. */
export const SendPurpose = {
  /** Solicited NA to the solicitor (S=1). */
  Answer: 1,
  /** NA to ff02::1 defending an address against a DAD probe (S=0). */
  Defend: 2,
  /** Unsolicited NA to ff02::1 announcing a new address. */
  Announce: 3,
  /** NS sent to an inner interface to verify a target. */
  Probe: 4,
} as const;

export const SLOT_SIZE = 128;
/** Where the IPv6 packet starts in a Send slot. */
export const IP_OFFSET = 14;

export class NdpActions {
  readonly capacity: number;
  count = 0;
  readonly kind: Uint8Array;
  readonly iface: Int32Array;
  readonly purpose: Uint8Array;
  /** Send: bytes of the whole frame in the slot. */
  readonly frameLength: Int32Array;
  /** Route: 1 when bytes [16, 32) of the slot hold a next hop. */
  readonly hasVia: Uint8Array;
  /** capacity * SLOT_SIZE bytes. */
  readonly bytes: Uint8Array;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.kind = new Uint8Array(capacity);
    this.iface = new Int32Array(capacity);
    this.purpose = new Uint8Array(capacity);
    this.frameLength = new Int32Array(capacity);
    this.hasVia = new Uint8Array(capacity);
    this.bytes = new Uint8Array(capacity * SLOT_SIZE);
  }

  /** Byte offset of action i's slot in `bytes`. */
  offset(i: number): number {
    return i * SLOT_SIZE;
  }

  /**
   * Claims the next slot, or returns -1 when no room is left. Work an
   * outsider can trigger in bulk (prefix rules, probes) asks with
   * `bulk = true` and may only use three quarters of the queue, so answers for
   * exact addresses always find room in the same batch.
   */
  claim(kind: number, iface: number, bulk: boolean): number {
    const limit = bulk ? (this.capacity * 3) >> 2 : this.capacity;
    if (this.count >= limit) return -1;
    const i = this.count++;
    this.kind[i] = kind;
    this.iface[i] = iface;
    this.purpose[i] = 0;
    this.frameLength[i] = 0;
    this.hasVia[i] = 0;
    return i;
  }

  clear(): void {
    this.count = 0;
  }
}
