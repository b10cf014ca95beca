// How a fleet prefix is cut into per-host sub-prefixes, and how a
// sub-prefix is spelled as an etcd key (Flannel's subnet-lease layout:
// one key per sub-prefix under the fleet's own key prefix).
import { ConfigError } from '../errors.js';
import { clearHostBits, formatIpv6, parseIpv6Prefix, matchesPrefix } from '../wire/address.js';

/** At most 2^16 sub-prefixes per fleet: an allocation scan stays cheap and a fleet that big is no use case. */
const MAX_SPLIT_BITS = 16;

export interface FleetPlan {
  /** The fleet prefix, canonical ("2001:db8:1::/48"). */
  readonly prefix: string;
  /** Length of each host's sub-prefix (the N of /N). */
  readonly size: number;
  /** How many sub-prefixes the prefix holds. */
  readonly count: number;
  /** etcd key prefix of the leases, ending in '/'. */
  readonly keyPrefix: string;
}

/** Validates P and /N; throws ConfigError naming what is wrong. */
export function fleetPlan(prefix: string, size: number, root = '/sixgate/fleet'): FleetPlan {
  const p = parseIpv6Prefix(prefix);
  if (!Number.isInteger(size) || size <= p.length || size > 128) {
    throw new ConfigError(`fleet size /${size} must be longer than the fleet prefix ${prefix} and at most /128`);
  }
  if (size - p.length > MAX_SPLIT_BITS) {
    throw new ConfigError(`fleet size /${size} cuts ${prefix} into more than 2^${MAX_SPLIT_BITS} sub-prefixes; use a shorter size`);
  }
  const canonical = `${formatIpv6(clearHostBits(p.address, p.length), 0)}/${p.length}`;
  return { prefix: canonical, size, count: 2 ** (size - p.length), keyPrefix: `${root}/${keyWord(canonical)}/leases/` };
}

/** The index-th sub-prefix of the plan, as text. */
export function subprefixAt(plan: FleetPlan, index: number): string {
  const p = parseIpv6Prefix(plan.prefix);
  const addr = p.address.slice();
  // Write `index` into the bits [p.length, plan.size), most significant first.
  for (let bit = plan.size - 1, rest = index; bit >= p.length; bit--, rest = Math.floor(rest / 2)) {
    const mask = 0x80 >> (bit & 7);
    if (rest % 2 === 1) addr[bit >> 3]! |= mask;
    else addr[bit >> 3]! &= ~mask;
  }
  return `${formatIpv6(addr, 0)}/${plan.size}`;
}

/** Whether `subprefix` is one of the plan's sub-prefixes (a key read back from etcd is checked before use). */
export function isSubprefixOf(plan: FleetPlan, subprefix: string): boolean {
  let s;
  try {
    s = parseIpv6Prefix(subprefix);
  } catch {
    return false;
  }
  const p = parseIpv6Prefix(plan.prefix);
  return s.length === plan.size && matchesPrefix(s.address, 0, p.address, 0, p.length)
    && formatIpv6(clearHostBits(s.address, s.length), 0) === subprefix.slice(0, subprefix.indexOf('/'));
}

/** Whether the address (text) lies inside the prefix (text). */
export function addressInPrefix(address: string, prefix: string): boolean {
  const a = parseIpv6Prefix(address);
  const p = parseIpv6Prefix(prefix);
  return matchesPrefix(a.address, 0, p.address, 0, p.length);
}

/** "2001:db8::/48" -> "2001:db8::-48": a '/' would read as another level of the key. */
export function keyWord(prefix: string): string {
  return prefix.replace('/', '-');
}

/** The etcd key of a sub-prefix's lease. */
export function leaseKey(plan: FleetPlan, subprefix: string): string {
  return plan.keyPrefix + keyWord(subprefix);
}

/** The sub-prefix a lease key names, or undefined for a key that is not one of the plan's. */
export function subprefixOfKey(plan: FleetPlan, key: string): string | undefined {
  if (!key.startsWith(plan.keyPrefix)) return undefined;
  const word = key.slice(plan.keyPrefix.length);
  const dash = word.lastIndexOf('-');
  if (dash < 0) return undefined;
  const subprefix = `${word.slice(0, dash)}/${word.slice(dash + 1)}`;
  return isSubprefixOf(plan, subprefix) ? subprefix : undefined;
}
