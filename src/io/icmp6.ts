// A raw ICMPv6 socket with what an NDP proxy needs per packet: hop limit,
// ingress ifindex, source and destination address (RFC 4861 §7.1.1 checks),
// and per-packet source address and hop limit on send. Batched both ways
// over a PacketRing; metadata layout in ring.ts.
import { addon } from './addon.js';
import { FdHandle } from './handle.js';
import { check, ioError } from './errno.js';
import { checkIfname } from './netif.js';
import type { PacketRing } from './ring.js';

/** Offsets in a slot's META_STRIDE ints. */
export const Icmp6Meta = { HOP_LIMIT: 0, IFINDEX: 1, SCOPE_ID: 2 } as const;
/** Offsets in a slot's ADDR_STRIDE bytes. */
export const Icmp6Addr = { SRC: 0, DST: 16 } as const;

const IPPROTO_IPV6 = 41;
const IPV6_MULTICAST_LOOP = 19;
const IPV6_MULTICAST_ALL = 29;

export interface Icmp6Options {
  /** SO_BINDTODEVICE; absent: all interfaces of the namespace. */
  ifname?: string;
  /** ICMPv6 types to deliver (ICMP6_FILTER); absent: all. */
  types?: readonly number[];
  /** Deliver only multicast groups this socket joined (IPV6_MULTICAST_ALL=0). Default false (Linux default). */
  joinedGroupsOnly?: boolean;
}

const SOL_SOCKET = 1;
const SO_RCVBUF = 8;
const SO_RCVBUFFORCE = 33;

export class Icmp6Socket extends FdHandle {
  readonly ifname: string;

  private constructor(fd: number, ifname: string) {
    super(fd, `icmpv6 socket${ifname ? ` on ${ifname}` : ''}`);
    this.ifname = ifname;
  }

  static open(options: Icmp6Options = {}): Icmp6Socket {
    const ifname = options.ifname ?? '';
    if (ifname !== '') checkIfname(ifname);
    const fd = addon().icmp6Open(ifname);
    if (fd < 0) throw ioError(fd, 'socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6)', ifname || 'icmpv6 socket');
    const sock = new Icmp6Socket(fd, ifname);
    try {
      if (options.types !== undefined) sock.setFilter(options.types);
      if (options.joinedGroupsOnly) sock.#setInt(IPPROTO_IPV6, IPV6_MULTICAST_ALL, 0, 'IPV6_MULTICAST_ALL');
    } catch (err) {
      sock.close();
      throw err;
    }
    return sock;
  }


  #setInt(level: number, name: number, value: number, label: string): void {
    check(addon().setsockoptInt(this.live('setsockopt'), level, name, value), `setsockopt ${label}`, this.subject);
  }

  /** Deliver only these ICMPv6 types (0..255). */
  setFilter(types: readonly number[]): void {
    const pass = new Uint8Array(32);
    for (const t of types) {
      if (!Number.isInteger(t) || t < 0 || t > 255) throw new RangeError(`ICMPv6 type out of range: ${t}`);
      pass[t >> 3] |= 1 << (t & 7);
    }
    check(addon().icmp6SetFilter(this.live('setsockopt'), pass), 'setsockopt ICMP6_FILTER', this.subject);
  }

  /** IPV6_JOIN_GROUP for a 16-byte multicast `group` on interface `ifindex`. */
  join(group: Uint8Array, ifindex: number): void {
    if (group.length !== 16) throw new RangeError('group must be 16 bytes');
    check(addon().icmp6Membership(this.live('setsockopt'), 1, group, ifindex), 'setsockopt IPV6_JOIN_GROUP', this.subject);
  }

  /** IPV6_LEAVE_GROUP. */
  leave(group: Uint8Array, ifindex: number): void {
    if (group.length !== 16) throw new RangeError('group must be 16 bytes');
    check(addon().icmp6Membership(this.live('setsockopt'), 0, group, ifindex), 'setsockopt IPV6_LEAVE_GROUP', this.subject);
  }

  /** Whether our own multicast sends come back to this host's sockets (off by default). */
  setMulticastLoop(on: boolean): void {
    this.#setInt(IPPROTO_IPV6, IPV6_MULTICAST_LOOP, on ? 1 : 0, 'IPV6_MULTICAST_LOOP');
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
   * Receives up to `max` messages into slots 0..n-1 (ICMPv6 header first; the
   * kernel strips the IPv6 header) with hop limit, ifindex, source and
   * destination in ring.meta / ring.addr. Returns n.
   */
  recv(ring: PacketRing, max = ring.slots): number {
    const n = addon().icmp6Recv(this.live('recvmmsg'), ring.buf, ring.lens, ring.slotSize, ring.headroom,
      ring.meta, ring.addr, max, this.counters);
    if (n < 0) throw ioError(n, 'recvmmsg', this.subject);
    return n;
  }

  /**
   * Sends slots start..start+count-1. Per slot: meta HOP_LIMIT (0..255, or -1
   * for the socket default, which is 255), IFINDEX (outgoing interface and
   * scope of link-local addresses), addr SRC (:: lets the kernel choose) and
   * DST. The kernel computes the checksum. Returns the messages consumed;
   * fewer than `count` means the socket buffer is full.
   */
  send(ring: PacketRing, start: number, count: number): number {
    const n = addon().icmp6Send(this.live('sendmmsg'), ring.buf, ring.lens, ring.slotSize, ring.headroom,
      ring.meta, ring.addr, start, count, this.counters);
    if (n < 0) throw ioError(n, 'sendmmsg', this.subject);
    return n;
  }

  // onReadable, pause, close: FdHandle. Memberships end with the socket.
}
