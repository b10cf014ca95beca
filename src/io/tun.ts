// A TUN device (IFF_TUN|IFF_NO_PI): layer-3 packets in and out of the kernel,
// batched over a PacketRing.
//
// With `vnetHeader: true` every packet carries a struct virtio_net_hdr in the
// 10 bytes just before its data (the end of the slot's headroom), in host
// byte order (little-endian here), and the kernel hands us GSO super-packets
// of up to 64 KiB with partial checksums (see the Vnet* helpers below):
//
//    0      1         2         4         6            8            10
//   +------+---------+---------+---------+------------+-------------+-----------
//   |flags |gso_type | hdr_len |gso_size | csum_start | csum_offset | IP packet...
//   +------+---------+---------+---------+------------+-------------+-----------
//                                                                   ^ ring.offset(i)
//
// Forwarding a super-packet whole (header included) to another vnet TUN is
// the throughput lever (as wireguard-go and Tailscale do); a header of zeros means "a
// normal, fully checksummed packet".
import { addon } from './addon.js';
import { check, errnoName, ioError } from './errno.js';
import { FdHandle } from './handle.js';
import { checkIfname, setMtu, setTxqueuelen, setUp } from './netif.js';
import { Counter, type PacketRing } from './ring.js';

export const VNET_HDR_LEN = 10;

/** Offsets inside the virtio-net header, relative to its start (packet offset - VNET_HDR_LEN). */
export const VnetF = {
  FLAGS: 0,
  GSO_TYPE: 1,
  HDR_LEN: 2,
  GSO_SIZE: 4,
  CSUM_START: 6,
  CSUM_OFFSET: 8,
} as const;

export const VnetFlag = {
  /** Checksum is partial: the pseudo-header sum sits at csum_start + csum_offset; finish it or pass it on. */
  NEEDS_CSUM: 1,
  DATA_VALID: 2,
} as const;

export const GsoType = {
  NONE: 0,
  TCPV4: 1,
  UDP: 3,
  TCPV6: 4,
  UDP_L4: 5,
  ECN: 0x80,
} as const;

/** TUNSETOFFLOAD bits reported in `Tun.offloads`. */
export const Offload = { CSUM: 0x01, TSO4: 0x02, TSO6: 0x04, USO4: 0x20, USO6: 0x40 } as const;

const OPEN_VNET_HDR = 2;
const OPEN_PERSIST = 4;
const OPEN_MULTI_QUEUE = 8;

// Accessors over (buf, pktOff): pktOff is where the IP packet starts
// (ring.offset(i)); the header is the VNET_HDR_LEN bytes before it.
export function vnetFlags(buf: Uint8Array, pktOff: number): number {
  return buf[pktOff - VNET_HDR_LEN + VnetF.FLAGS];
}
export function vnetGsoType(buf: Uint8Array, pktOff: number): number {
  return buf[pktOff - VNET_HDR_LEN + VnetF.GSO_TYPE];
}
function u16le(buf: Uint8Array, at: number): number {
  return buf[at] | (buf[at + 1] << 8);
}
function setU16le(buf: Uint8Array, at: number, v: number): void {
  buf[at] = v & 0xff;
  buf[at + 1] = (v >>> 8) & 0xff;
}
export function vnetHdrLen(buf: Uint8Array, pktOff: number): number {
  return u16le(buf, pktOff - VNET_HDR_LEN + VnetF.HDR_LEN);
}
export function vnetGsoSize(buf: Uint8Array, pktOff: number): number {
  return u16le(buf, pktOff - VNET_HDR_LEN + VnetF.GSO_SIZE);
}
export function vnetCsumStart(buf: Uint8Array, pktOff: number): number {
  return u16le(buf, pktOff - VNET_HDR_LEN + VnetF.CSUM_START);
}
export function vnetCsumOffset(buf: Uint8Array, pktOff: number): number {
  return u16le(buf, pktOff - VNET_HDR_LEN + VnetF.CSUM_OFFSET);
}
/** Writes a complete header (every byte), e.g. before writing a packet built in place. */
export function vnetWrite(buf: Uint8Array, pktOff: number, flags: number, gsoType: number, hdrLen: number,
  gsoSize: number, csumStart: number, csumOffset: number): void {
  const h = pktOff - VNET_HDR_LEN;
  buf[h + VnetF.FLAGS] = flags;
  buf[h + VnetF.GSO_TYPE] = gsoType;
  setU16le(buf, h + VnetF.HDR_LEN, hdrLen);
  setU16le(buf, h + VnetF.GSO_SIZE, gsoSize);
  setU16le(buf, h + VnetF.CSUM_START, csumStart);
  setU16le(buf, h + VnetF.CSUM_OFFSET, csumOffset);
}
/** "A plain, fully checksummed packet". */
export function vnetClear(buf: Uint8Array, pktOff: number): void {
  buf.fill(0, pktOff - VNET_HDR_LEN, pktOff);
}

export interface TunOptions {
  /** Interface name; empty or absent lets the kernel pick tunN. An existing TUN of that name is attached. */
  name?: string;
  /** IFF_VNET_HDR + TUNSETOFFLOAD (CSUM, TSO4/6, and USO4/6 when the kernel has them). */
  vnetHeader?: boolean;
  /** TUNSETPERSIST: the device outlives this process. */
  persist?: boolean;
  mtu?: number;
  txqueuelen?: number;
  /** Bring the link up (default true). */
  up?: boolean;
  /**
   * Move each read and write batch in one io_uring system call instead of one
   * call per packet (native/src/uring.c). Where io_uring is unavailable (an
   * old kernel, a seccomp profile that forbids it) the device quietly keeps
   * readv/write; `Tun.uring` says which.
   */
  uring?: boolean;
  /**
   * IFF_MULTI_QUEUE: every open of the name attaches one more queue (an fd
   * of its own), numbered in the order they were attached. A device made
   * without it cannot take a second queue, nor one made with it a plain open.
   */
  multiQueue?: boolean;
}

export class Tun extends FdHandle {
  readonly name: string;
  readonly vnetHeader: boolean;
  /** Offload bits the kernel accepted (Offload.*); 0 without vnet headers. */
  readonly offloads: number;
  #vnetLen: number;
  /** The io_uring that batches this device's reads and writes, when asked for and available. */
  #uring: object | undefined;

  private constructor(fd: number, name: string, vnetHeader: boolean, offloads: number, uring: object | undefined) {
    super(fd, name);
    this.name = name;
    this.vnetHeader = vnetHeader;
    this.offloads = offloads;
    this.#vnetLen = vnetHeader ? VNET_HDR_LEN : 0;
    this.#uring = uring;
  }

  /** Reads and writes go through io_uring (TunOptions.uring). */
  get uring(): boolean {
    return this.#uring !== undefined;
  }

  /** Creates (or attaches to) a TUN in the calling thread's network namespace and configures it. */
  static open(options: TunOptions = {}): Tun {
    const name = options.name ?? '';
    if (name !== '') checkIfname(name);
    const flags = (options.vnetHeader ? OPEN_VNET_HDR : 0) | (options.persist ? OPEN_PERSIST : 0) | (options.multiQueue ? OPEN_MULTI_QUEUE : 0);
    const got = addon().tunOpen(name, flags);
    if (typeof got === 'number') throw ioError(got, 'open /dev/net/tun + TUNSETIFF', name || 'tun');
    const uring = options.uring === true ? addon().uringOpen() : undefined;
    const tun = new Tun(got.fd, got.name, options.vnetHeader === true, got.offloads, typeof uring === 'object' ? uring : undefined);
    try {
      if (options.mtu !== undefined) setMtu(tun.name, options.mtu);
      if (options.txqueuelen !== undefined) setTxqueuelen(tun.name, options.txqueuelen);
      if (options.up ?? true) setUp(tun.name, true);
    } catch (err) {
      tun.close();
      throw err;
    }
    return tun;
  }

  #assertRing(ring: PacketRing): void {
    if (ring.headroom < this.#vnetLen) {
      throw new RangeError(`${this.name}: a vnet-header TUN needs ring headroom >= ${VNET_HDR_LEN}`);
    }
  }

  /**
   * Reads up to `max` packets into slots 0..n-1 of `ring` and returns n
   * (0 when nothing is waiting). Oversize packets are counted
   * (Counter.RxOversize) and skipped. Stamps `ring.stamp[0]` with the
   * time of the read (monotonicMs).
   */
  read(ring: PacketRing, max = ring.slots): number {
    const fd = this.live('read');
    this.#assertRing(ring);
    let n = this.#uring !== undefined
      ? addon().tunUringRead(this.#uring, fd, ring.buf, ring.lens, ring.slotSize, ring.headroom, this.#vnetLen, max, this.counters, ring.stamp)
      : addon().tunRead(fd, ring.buf, ring.lens, ring.slotSize, ring.headroom, this.#vnetLen, max, this.counters, ring.stamp);
    if (n < 0 && this.#uringRefused(n)) n = addon().tunRead(fd, ring.buf, ring.lens, ring.slotSize, ring.headroom, this.#vnetLen, max, this.counters, ring.stamp);
    if (n < 0) throw ioError(n, 'read', this.name);
    return n;
  }

  /**
   * Writes slots start..start+count-1 and returns how many were consumed
   * (written, or refused and counted). Fewer than `count` means the kernel
   * queue is full (EAGAIN): retry later or drop. A link that is down drops
   * the batch into Counter.TxDown instead of throwing.
   */
  write(ring: PacketRing, start: number, count: number): number {
    const fd = this.live('write');
    this.#assertRing(ring);
    let n = this.#uring !== undefined
      ? addon().tunUringWrite(this.#uring, fd, ring.buf, ring.lens, ring.slotSize, ring.headroom, this.#vnetLen, start, count, this.counters)
      : addon().tunWrite(fd, ring.buf, ring.lens, ring.slotSize, ring.headroom, this.#vnetLen, start, count, this.counters);
    if (n < 0 && this.#uringRefused(n)) n = addon().tunWrite(fd, ring.buf, ring.lens, ring.slotSize, ring.headroom, this.#vnetLen, start, count, this.counters);
    if (n >= 0) return n;
    const name = errnoName(n);
    if (name === 'EIO' || name === 'ENETDOWN') {
      this.counters[Counter.TxDown] += count;
      return count;
    }
    throw ioError(n, 'write', this.name);
  }

  /** TUNSETPERSIST on the open device. */
  setPersist(on: boolean): void {
    check(addon().tunSetPersist(this.live('TUNSETPERSIST'), on ? 1 : 0), 'ioctl TUNSETPERSIST', this.name);
  }

  /**
   * A kernel whose TUN lacks non-blocking io_uring requests (RWF_NOWAIT)
   * refuses every one with EOPNOTSUPP, before touching a packet: the device
   * drops io_uring for good and the call is made again with readv/write.
   */
  #uringRefused(negErrno: number): boolean {
    if (this.#uring === undefined || errnoName(negErrno) !== 'EOPNOTSUPP') return false;
    addon().uringClose(this.#uring);
    this.#uring = undefined;
    return true;
  }

  /** A non-persistent TUN disappears when its last queue closes. Idempotent. */
  override close(): void {
    if (this.#uring !== undefined) addon().uringClose(this.#uring);
    this.#uring = undefined;
    super.close();
  }
  /** TUNSETQUEUE: a detached queue of a multi-queue device takes no packets but keeps the device open for ioctls. */
  setQueueAttached(on: boolean): void {
    check(addon().tunSetQueue(this.live('TUNSETQUEUE'), on ? 1 : 0), 'ioctl TUNSETQUEUE', this.name);
  }

  /**
   * TUNSETSTEERINGEBPF: the device reads each packet from the queue this
   * socket-filter program (its fd, src/io/ebpf.ts) returns, modulo the
   * queues attached; -1 removes it.
   */
  setSteering(programFd: number): void {
    check(addon().tunSetSteering(this.live('TUNSETSTEERINGEBPF'), programFd), 'ioctl TUNSETSTEERINGEBPF', this.name);
  }

}
