// An on-demand packet tap for `sixgate capture`: a data path (the NAT66 loop,
// the NDP proxy) owns one and offers it packets where it counts them; the
// control socket starts it, drains it and stops it.
//
// While nobody captures it costs one predictable branch per packet on
// `active` and holds no memory. Started, it owns one preallocated byte
// buffer and typed arrays of record metadata: a packet offered is copied in
// behind the last one, or counted in `lost` when it does not fit. Draining
// (on the event loop, so always between two batches) hands every record over
// and empties the buffer in one step: no wrap-around to manage, and a client
// that reads slowly loses packets, never memory.

/** Default buffer while a capture runs: 64 full GSO super-packets, or thousands of ordinary ones. */
export const CAPTURE_BYTES = 4 * 1024 * 1024;
/** Records per drain, whatever their size. */
export const CAPTURE_RECORDS = 8192;
/** `reason` of a packet that was not dropped. */
export const NOT_DROPPED = -1;
/** `want` meaning: every drop reason. */
export const ANY_REASON = -1;
/** `want` meaning: this component has no drop reason of the requested name, so it offers nothing. */
export const NO_REASON = -2;

export interface CaptureSettings {
  /** Only dropped packets (else every packet the component sees). */
  readonly dropsOnly: boolean;
  /** Only packets dropped for this reason code (ANY_REASON, NO_REASON). */
  readonly want: number;
  readonly bytes?: number;
  readonly records?: number;
}

/** One drained record; `data` is a copy the caller keeps. */
export interface CapturedPacket {
  readonly data: Uint8Array;
  /** Which of the component's interfaces (the NDP link id; 0 for the TUN). */
  readonly iface: number;
  /** The drop reason code, or NOT_DROPPED. */
  readonly reason: number;
  /** What the component did with a packet it kept (its own code: the NAT66 verdict and direction). */
  readonly note: number;
  /** When it was read, in monotonicMs. */
  readonly stamp: number;
}

/** What a capture drives: a CaptureTap, or several seen as one (the packet workers' taps: datapath/workers.ts). */
export interface CaptureControl {
  readonly active: boolean;
  /** Packets that did not fit since the capture started. */
  readonly lost: number;
  start(settings: CaptureSettings): void;
  stop(): void;
  drain(): CapturedPacket[];
}

export class CaptureTap implements CaptureControl {
  /** The one field the packet path reads while idle. */
  active = false;
  dropsOnly = true;
  want = ANY_REASON;
  /** Packets that did not fit since the capture started. */
  lost = 0;
  /** Told when a capture starts and stops (the NAT66 fast path steps aside while one runs). */
  onActive: ((active: boolean) => void) | undefined;
  private buf = new Uint8Array(0);
  private used = 0;
  private count = 0;
  private offs = new Int32Array(0);
  private lens = new Int32Array(0);
  private ifaces = new Int32Array(0);
  private reasons = new Int32Array(0);
  private notes = new Int32Array(0);
  private stamps = new Float64Array(0);

  /** Allocates the buffer and starts taking packets. Control plane. */
  start(settings: CaptureSettings): void {
    const records = settings.records ?? CAPTURE_RECORDS;
    this.buf = new Uint8Array(settings.bytes ?? CAPTURE_BYTES);
    this.offs = new Int32Array(records);
    this.lens = new Int32Array(records);
    this.ifaces = new Int32Array(records);
    this.reasons = new Int32Array(records);
    this.notes = new Int32Array(records);
    this.stamps = new Float64Array(records);
    this.used = 0;
    this.count = 0;
    this.lost = 0;
    this.dropsOnly = settings.dropsOnly;
    this.want = settings.want;
    this.active = true;
    this.onActive?.(true);
  }

  /** Stops and frees the buffer. Control plane. */
  stop(): void {
    const was = this.active;
    this.active = false;
    this.buf = new Uint8Array(0);
    this.used = 0;
    this.count = 0;
    if (was) this.onActive?.(false);
  }

  /**
   * A packet the component dropped for `reason` (NOT_DROPPED: kept, `note`
   * says how), taken if the capture wants it. Returns its record number, or
   * -1 when not taken. Packet path: copies, allocates nothing.
   */
  offer(buf: Uint8Array, off: number, len: number, iface: number, reason: number, note: number, stamp: number): number {
    if (reason === NOT_DROPPED ? this.dropsOnly : this.want !== ANY_REASON && reason !== this.want) return -1;
    const at = this.used;
    const r = this.count;
    if (r === this.offs.length || len > this.buf.length - at) {
      this.lost++;
      return -1;
    }
    // A byte loop, not set(subarray()): no view object per packet, capturing or not.
    const to = this.buf;
    for (let k = 0; k < len; k++) to[at + k] = buf[off + k]!;
    this.used = at + len;
    this.count = r + 1;
    this.offs[r] = at;
    this.lens[r] = len;
    this.ifaces[r] = iface;
    this.reasons[r] = reason;
    this.notes[r] = note;
    this.stamps[r] = stamp;
    return r;
  }

  /** Sets what became of a packet offered before the component decided (record from `offer`). */
  settle(record: number, reason: number, note: number): void {
    if (record < 0) return;
    this.reasons[record] = reason;
    this.notes[record] = note;
  }

  /** Every record taken since the last drain, copied out; the buffer is empty after. Control plane. */
  drain(): CapturedPacket[] {
    const out: CapturedPacket[] = [];
    for (let r = 0; r < this.count; r++) {
      const at = this.offs[r]!;
      out.push({
        data: this.buf.slice(at, at + this.lens[r]!), iface: this.ifaces[r]!, reason: this.reasons[r]!, note: this.notes[r]!, stamp: this.stamps[r]!,
      });
    }
    this.used = 0;
    this.count = 0;
    return out;
  }
}
