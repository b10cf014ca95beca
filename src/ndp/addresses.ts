// The exact (/128) addresses an uplink answers for at once, and the
// multicast memberships they need.
//
// Three sources feed one set per uplink: static /128 rules of ndppd.conf, a
// static list, and addresses other parts of sixgate push at run time (a
// container's address). Each entry keeps a bit per source, so removing an
// address from one source leaves it answered while another still claims it.
//
// RFC 4861 §7.2.8: a proxy MUST join the solicited-node group of each
// address it answers for; doing so sends MLD reports, which is what makes
// MLD-snooping switches deliver the NS at all (ndppd issue #55). Several
// addresses can share a group (same low 24 bits), so groups are reference
// counted and a join or leave is only reported on the first or last use.
// Membership changes happen on the control path (add, remove, configure),
// never per packet, so they are plain objects the wiring drains.
import { AddressTable } from './address-table.js';
import { formatIpv6, writeSolicitedNode } from '../wire/address.js';

export const AddressSource = {
  /** A static /128 rule in ndppd.conf. */
  Rule: 1,
  /** Pushed at run time through NdpEngine.add(). */
  Api: 2,
  /** The static address list given with the uplink. */
  Static: 4,
} as const;

export type MembershipChange =
  | { readonly kind: 'join' | 'leave'; readonly iface: number; readonly group: Uint8Array }
  | { readonly kind: 'allmulti'; readonly iface: number; readonly on: boolean };

// Returned when nothing changed, so the per-batch drain allocates nothing.
const NO_CHANGES: readonly MembershipChange[] = Object.freeze([]);

export class ExactAddresses {
  /** Keyed by (uplink interface id, address). */
  readonly table: AddressTable;
  readonly sources: Uint8Array;
  /** Per entry: solicited NAs sent. */
  readonly answered: Float64Array;
  /** Per entry: DAD probes defended. */
  readonly defended: Float64Array;
  /** Per entry: when the last solicited NA or DAD defence was queued (the engine's clock, ms); 0 = never. */
  readonly lastAnswered: Float64Array;
  /** "iface/low 24 bits" -> how many addresses need the group, and the group itself. */
  private readonly groups = new Map<string, { count: number; iface: number; group: Uint8Array }>();
  private changes: MembershipChange[] = [];

  constructor(capacity: number, seed?: number) {
    this.table = new AddressTable(capacity, seed);
    this.sources = new Uint8Array(capacity);
    this.answered = new Float64Array(capacity);
    this.defended = new Float64Array(capacity);
    this.lastAnswered = new Float64Array(capacity);
  }

  find(uplink: number, buf: Uint8Array, off: number): number {
    return this.table.find(uplink, buf, off);
  }

  /**
   * Adds `source` to the address's claims. Returns the entry when the address
   * is new to the uplink (the caller announces it), -1 when it was already
   * answered, and -2 when the table is full.
   */
  add(uplink: number, addr: Uint8Array, off: number, source: number): number {
    const existing = this.table.find(uplink, addr, off);
    if (existing >= 0) {
      this.sources[existing] |= source;
      return -1;
    }
    const e = this.table.insert(uplink, addr, off);
    if (e < 0) return -2;
    this.sources[e] = source;
    this.answered[e] = 0;
    this.defended[e] = 0;
    this.lastAnswered[e] = 0;
    this.joinGroup(uplink, addr, off);
    return e;
  }

  /** Drops `source`'s claim; forgets the address (and maybe leaves its group) when no claim is left. */
  remove(uplink: number, addr: Uint8Array, off: number, source: number): boolean {
    const e = this.table.find(uplink, addr, off);
    if (e < 0 || (this.sources[e]! & source) === 0) return false;
    this.sources[e] &= ~source;
    if (this.sources[e] === 0) this.forget(e);
    return true;
  }

  /** Removes entry e outright. */
  forget(e: number): void {
    const uplink = this.table.tag(e);
    const addr = new Uint8Array(16);
    this.table.copyAddress(e, addr, 0);
    this.table.remove(e);
    this.sources[e] = 0;
    this.leaveGroup(uplink, addr, 0);
  }

  /** Live entries of one uplink (control path). */
  entriesOf(uplink: number): number[] {
    const out: number[] = [];
    for (let e = 0; e < this.table.capacity; e++) {
      if (this.table.live(e) && this.table.tag(e) === uplink) out.push(e);
    }
    return out;
  }

  joinGroup(iface: number, addr: Uint8Array, off: number): void {
    const key = groupKey(iface, addr, off);
    const held = this.groups.get(key);
    if (held !== undefined) {
      held.count++;
      return;
    }
    const g = group(addr, off);
    this.groups.set(key, { count: 1, iface, group: g });
    this.changes.push({ kind: 'join', iface, group: g });
  }

  leaveGroup(iface: number, addr: Uint8Array, off: number): void {
    const key = groupKey(iface, addr, off);
    const held = this.groups.get(key);
    if (held === undefined) return;
    if (--held.count === 0) {
      this.groups.delete(key);
      this.changes.push({ kind: 'leave', iface, group: held.group });
    }
  }

  /** Joins for every group interface `iface` holds now: to replay on a socket opened again. */
  joinsOf(iface: number): MembershipChange[] {
    return [...this.groups.values()].filter((g) => g.iface === iface).map((g) => ({ kind: 'join' as const, iface, group: g.group }));
  }

  setAllmulti(iface: number, on: boolean): void {
    this.changes.push({ kind: 'allmulti', iface, on });
  }

  /** Membership changes since the last call, oldest first (the same empty array when there are none). */
  takeChanges(): readonly MembershipChange[] {
    if (this.changes.length === 0) return NO_CHANGES;
    const out = this.changes;
    this.changes = [];
    return out;
  }

  /** Per-address counters of one uplink (control path). */
  stats(uplink: number): { address: string; sources: number; answered: number; defended: number; lastAnswered: number }[] {
    const addr = new Uint8Array(16);
    return this.entriesOf(uplink).map((e) => {
      this.table.copyAddress(e, addr, 0);
      return {
        address: formatIpv6(addr, 0), sources: this.sources[e]!, answered: this.answered[e]!, defended: this.defended[e]!,
        lastAnswered: this.lastAnswered[e]!,
      };
    });
  }
}

function groupKey(iface: number, addr: Uint8Array, off: number): string {
  return `${iface}/${(addr[off + 13]! << 16) | (addr[off + 14]! << 8) | addr[off + 15]!}`;
}

function group(addr: Uint8Array, off: number): Uint8Array {
  const g = new Uint8Array(16);
  writeSolicitedNode(addr, off, g, 0);
  return g;
}
