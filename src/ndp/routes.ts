// The routing-table snapshot `auto` rules consult: which interface the kernel
// would send a target to. Unlike ndppd 0.2 (first match in
// /proc/net/ipv6_route order, re-read by polling), this is a true
// longest-prefix match over a snapshot the wiring injects whenever the table
// changes (netlink or `ip -j -6 route`); the engine never reads it itself.
import { matchesPrefix } from '../wire/address.js';

export interface RouteSpec {
  /** 16 bytes. */
  readonly prefix: Uint8Array;
  readonly prefixLength: number;
  /** Engine interface id of the route's device. */
  readonly iface: number;
}

export class RouteTable {
  // Sorted by prefix length, longest first, so the first match is the best.
  private prefixes = new Uint8Array(0);
  private lengths = new Uint8Array(0);
  private ifaces = new Int32Array(0);
  size = 0;

  /** Replaces the snapshot. Control path: allocates. */
  replace(routes: readonly RouteSpec[]): void {
    const sorted = [...routes].sort((a, b) => b.prefixLength - a.prefixLength);
    this.size = sorted.length;
    this.prefixes = new Uint8Array(sorted.length * 16);
    this.lengths = new Uint8Array(sorted.length);
    this.ifaces = new Int32Array(sorted.length);
    sorted.forEach((r, i) => {
      this.prefixes.set(r.prefix.subarray(0, 16), i * 16);
      this.lengths[i] = r.prefixLength;
      this.ifaces[i] = r.iface;
    });
  }

  /**
   * Interface of the longest prefix holding the address at buf[off]; -1 when
   * none, or when that interface is `exclude` (the uplink itself: the kernel
   * would send the target out where the question came from, so it is not
   * behind us, and answering would hijack it).
   */
  lookup(buf: Uint8Array, off: number, exclude: number): number {
    for (let i = 0; i < this.size; i++) {
      if (matchesPrefix(buf, off, this.prefixes, i * 16, this.lengths[i]!)) {
        return this.ifaces[i] === exclude ? -1 : this.ifaces[i]!;
      }
    }
    return -1;
  }
}
