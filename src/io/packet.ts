// An AF_PACKET socket on one interface: whole Ethernet frames in and out,
// a classic BPF filter (bpf.ts) attached before the first frame is queued,
// and ALLMULTI/PROMISC held through PACKET_ADD_MEMBERSHIP, which the kernel
// reference-counts and drops when the socket closes (even on a crash).
import { addon } from './addon.js';
import { check, closedError, errnoName, ioError } from './errno.js';
import { ifIndex } from './netif.js';
import { Readiness, READABLE } from './poll.js';
import { Counter, newCounters, type PacketRing } from './ring.js';

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

export class PacketSocket {
  readonly ifname: string;
  readonly ifindex: number;
  readonly counters = newCounters();
  #fd: number;
  #poll: Readiness | undefined;
  readonly #subject: string;

  private constructor(fd: number, ifname: string, ifindex: number) {
    this.#fd = fd;
    this.ifname = ifname;
    this.ifindex = ifindex;
    this.#subject = `packet socket on ${ifname}`;
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

  get fd(): number {
    return this.#fd;
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  #live(op: string): number {
    if (this.#fd < 0) throw closedError(op, this.#subject);
    return this.#fd;
  }

  setAllmulti(on: boolean): void {
    check(addon().packetMembership(this.#live('setsockopt'), this.ifindex, PACKET_MR_ALLMULTI, on ? 1 : 0),
      `setsockopt PACKET_${on ? 'ADD' : 'DROP'}_MEMBERSHIP ALLMULTI`, this.ifname);
  }

  setPromisc(on: boolean): void {
    check(addon().packetMembership(this.#live('setsockopt'), this.ifindex, PACKET_MR_PROMISC, on ? 1 : 0),
      `setsockopt PACKET_${on ? 'ADD' : 'DROP'}_MEMBERSHIP PROMISC`, this.ifname);
  }

  /**
   * Socket receive buffer in bytes (SO_RCVBUFFORCE, so root may exceed
   * net.core.rmem_max; SO_RCVBUF otherwise). A bigger buffer rides out
   * bursts (e.g. an NS flood) between wake-ups.
   */
  setReceiveBuffer(bytes: number): void {
    const fd = this.#live('setsockopt');
    if (addon().setsockoptInt(fd, SOL_SOCKET, SO_RCVBUFFORCE, bytes) < 0) {
      check(addon().setsockoptInt(fd, SOL_SOCKET, SO_RCVBUF, bytes), 'setsockopt SO_RCVBUF', this.#subject);
    }
  }

  /** Receives up to `max` frames (Ethernet header first) into slots 0..n-1, with ifindex/pkttype/ethertype in ring.meta. */
  recv(ring: PacketRing, max = ring.slots): number {
    const n = addon().packetRecv(this.#live('recvmmsg'), ring.buf, ring.lens, ring.slotSize, ring.headroom,
      ring.meta, max, this.counters);
    if (n < 0) throw ioError(n, 'recvmmsg', this.#subject);
    return n;
  }

  /** Sends whole frames from slots start..start+count-1; returns frames consumed. A down link counts Counter.TxDown. */
  send(ring: PacketRing, start: number, count: number): number {
    const n = addon().packetSend(this.#live('sendmmsg'), ring.buf, ring.lens, ring.slotSize, ring.headroom,
      start, count, this.counters);
    if (n >= 0) return n;
    if (errnoName(n) === 'ENETDOWN') {
      this.counters[Counter.TxDown] += count;
      return count;
    }
    throw ioError(n, 'sendmmsg', this.#subject);
  }

  /** One call per wake-up (drain with recv()); `events` < 0 is an errno from the poll. Replaces an earlier callback. */
  onReadable(callback: (events: number) => void): void {
    const fd = this.#live('poll');
    this.#poll?.stop();
    const counters = this.counters;
    this.#poll = new Readiness(fd, READABLE, (events) => {
      counters[Counter.Wakeups] += 1;
      callback(events);
    }, this.#subject);
  }

  pause(): void {
    this.#poll?.stop();
    this.#poll = undefined;
  }

  /** Idempotent; the kernel drops our ALLMULTI/PROMISC references with the socket. */
  close(): void {
    if (this.#fd < 0) return;
    this.pause();
    const fd = this.#fd;
    this.#fd = -1;
    addon().close(fd);
  }
}
