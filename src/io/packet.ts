// An AF_PACKET socket on one interface: whole Ethernet frames in and out,
// a classic BPF filter (bpf.ts) attached before the first frame is queued,
// and ALLMULTI/PROMISC held through PACKET_ADD_MEMBERSHIP, which the kernel
// reference-counts and drops when the socket closes (even on a crash).
import { addon } from './addon.js';
import { FdHandle } from './handle.js';
import { check, errnoName, ioError } from './errno.js';
import { ifIndex } from './netif.js';
import { Counter, type PacketRing } from './ring.js';

/** Offsets in a slot's META_STRIDE ints. */
export const PacketMeta = { IFINDEX: 0, PKTTYPE: 1, ETHERTYPE: 2 } as const;
/** sll_pkttype values. */
export const PktType = { HOST: 0, BROADCAST: 1, MULTICAST: 2, OTHERHOST: 3, OUTGOING: 4 } as const;

export const ETH_P_ALL = 0x0003;
export const ETH_P_IPV6 = 0x86dd;

const PACKET_MR_PROMISC = 1;
const PACKET_MR_ALLMULTI = 2;
const FLAG_IGNORE_OUTGOING = 1;

export interface PacketOptions {
  ifname: string;
  /** Ethertype to bind to (default ETH_P_IPV6). */
  ethertype?: number;
  /** Compiled classic BPF (bpf.ts); absent: every frame of `ethertype`. */
  filter?: Uint8Array;
  /** Do not see the frames this host sends (PACKET_IGNORE_OUTGOING). Default true. */
  ignoreOutgoing?: boolean;
  allmulti?: boolean;
  promisc?: boolean;
}

const SOL_SOCKET = 1;
const SO_RCVBUF = 8;
const SO_RCVBUFFORCE = 33;

export class PacketSocket extends FdHandle {
  readonly ifname: string;
  readonly ifindex: number;

  private constructor(fd: number, ifname: string, ifindex: number) {
    super(fd, `packet socket on ${ifname}`);
    this.ifname = ifname;
    this.ifindex = ifindex;
  }

  static open(options: PacketOptions): PacketSocket {
    const ifindex = ifIndex(options.ifname);
    const flags = (options.ignoreOutgoing ?? true) ? FLAG_IGNORE_OUTGOING : 0;
    const fd = addon().packetOpen(ifindex, options.ethertype ?? ETH_P_IPV6, options.filter, flags);
    if (fd < 0) throw ioError(fd, 'socket(AF_PACKET) + SO_ATTACH_FILTER + bind', options.ifname);
    const sock = new PacketSocket(fd, options.ifname, ifindex);
    try {
      if (options.allmulti) sock.setAllmulti(true);
      if (options.promisc) sock.setPromisc(true);
    } catch (err) {
      sock.close();
      throw err;
    }
    return sock;
  }

  /**
   * Replaces the classic BPF filter (bpf.ts) on the open socket: the kernel
   * swaps it atomically, so each frame meets either the old or the new one.
   * Frames queued already stay queued.
   */
  setFilter(filter: Uint8Array): void {
    check(addon().packetSetFilter(this.live('setsockopt'), filter), 'setsockopt SO_ATTACH_FILTER', this.subject);
  }

  setAllmulti(on: boolean): void {
    check(addon().packetMembership(this.live('setsockopt'), this.ifindex, PACKET_MR_ALLMULTI, on ? 1 : 0),
      `setsockopt PACKET_${on ? 'ADD' : 'DROP'}_MEMBERSHIP ALLMULTI`, this.ifname);
  }

  setPromisc(on: boolean): void {
    check(addon().packetMembership(this.live('setsockopt'), this.ifindex, PACKET_MR_PROMISC, on ? 1 : 0),
      `setsockopt PACKET_${on ? 'ADD' : 'DROP'}_MEMBERSHIP PROMISC`, this.ifname);
  }

  /**
   * Socket receive buffer in bytes (SO_RCVBUFFORCE, so root may exceed
   * net.core.rmem_max; SO_RCVBUF otherwise). A bigger buffer rides out
   * bursts (e.g. an NS flood) between wake-ups.
   */
  setReceiveBuffer(bytes: number): void {
    const fd = this.live('setsockopt');
    if (addon().setsockoptInt(fd, SOL_SOCKET, SO_RCVBUFFORCE, bytes) < 0) {
      check(addon().setsockoptInt(fd, SOL_SOCKET, SO_RCVBUF, bytes), 'setsockopt SO_RCVBUF', this.subject);
    }
  }

  /**
   * Frames the kernel dropped since the last call because the receive buffer
   * was full (PACKET_STATISTICS: reading resets the kernel's count). One
   * system call: read it on a timer, not per packet.
   */
  takeDrops(): number {
    const n = addon().packetDrops(this.live('getsockopt'));
    return check(n, 'getsockopt PACKET_STATISTICS', this.subject);
  }

  /** Receives up to `max` frames (Ethernet header first) into slots 0..n-1, with ifindex/pkttype/ethertype in ring.meta. */
  recv(ring: PacketRing, max = ring.slots): number {
    const n = addon().packetRecv(this.live('recvmmsg'), ring.buf, ring.lens, ring.slotSize, ring.headroom,
      ring.meta, max, this.counters);
    if (n < 0) throw ioError(n, 'recvmmsg', this.subject);
    return n;
  }

  /** Sends whole frames from slots start..start+count-1; returns frames consumed. A down link counts Counter.TxDown. */
  send(ring: PacketRing, start: number, count: number): number {
    const n = addon().packetSend(this.live('sendmmsg'), ring.buf, ring.lens, ring.slotSize, ring.headroom,
      start, count, this.counters);
    if (n >= 0) return n;
    if (errnoName(n) === 'ENETDOWN') {
      this.counters[Counter.TxDown] += count;
      return count;
    }
    throw ioError(n, 'sendmmsg', this.subject);
  }

  // onReadable, pause, close: FdHandle. The kernel drops our ALLMULTI/PROMISC references with the socket.
}
