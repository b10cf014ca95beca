// What the host's interfaces and routes look like, read from /proc and
// `ip -j`: addresses with prefix lengths, link-locals, on-link prefixes,
// the routing table, and a watcher for route changes. Everything acts on the
// network namespace of the calling process.
import { readFile } from 'node:fs/promises';
import { formatIpv6, isLinkLocal, tryParseIpv6 } from '../wire/address.js';
import { monitorRoutes, run } from './run.js';

export interface IfAddress {
  readonly addr: Uint8Array;
  readonly prefixLength: number;
  readonly ifindex: number;
  readonly dev: string;
  /** 0 global, 0x20 link, 0x10 host (kernel IPV6_ADDR_SCOPE_*). */
  readonly scope: number;
  readonly flags: number;
}

// IFA_F_TENTATIVE (0x40) and IFA_F_DADFAILED (0x08): not usable yet, or never.
const UNUSABLE = 0x48;

/**
 * Parses /proc/net/if_inet6: "fe800000000000000000000000000001 02 40 20 80 eth0"
 * = address, ifindex, prefix length, scope, flags, name (all hex but the name).
 */
export function parseIfInet6(text: string): IfAddress[] {
  const out: IfAddress[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 6 || f[0]!.length !== 32) continue;
    const flags = parseInt(f[4]!, 16);
    if ((flags & UNUSABLE) !== 0) continue;
    const addr = new Uint8Array(16);
    for (let i = 0; i < 16; i++) addr[i] = parseInt(f[0]!.slice(2 * i, 2 * i + 2), 16);
    out.push({ addr, ifindex: parseInt(f[1]!, 16), prefixLength: parseInt(f[2]!, 16), scope: parseInt(f[3]!, 16), flags, dev: f[5]! });
  }
  return out;
}

export async function readAddresses(): Promise<IfAddress[]> {
  try {
    return parseIfInet6(await readFile('/proc/net/if_inet6', 'utf8'));
  } catch {
    return [];
  }
}

/** The link-local address of every interface that has one (first one listed wins). */
export async function linkLocalAddresses(): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for (const a of await readAddresses()) {
    if (isLinkLocal(a.addr, 0) && !out.has(a.dev)) out.set(a.dev, a.addr);
  }
  return out;
}

/** Global-scope addresses per interface. */
export async function globalAddresses(): Promise<Map<string, Uint8Array[]>> {
  const out = new Map<string, Uint8Array[]>();
  for (const a of await readAddresses()) {
    if (a.scope !== 0) continue;
    const list = out.get(a.dev) ?? [];
    list.push(a.addr);
    out.set(a.dev, list);
  }
  return out;
}

/** Global addresses of one interface with their prefix lengths (a /128 means "no on-link prefix"). */
export async function interfaceGlobals(dev: string): Promise<IfAddress[]> {
  return (await readAddresses()).filter((a) => a.dev === dev && a.scope === 0);
}

export interface HostRoute {
  readonly prefix: Uint8Array;
  readonly prefixLength: number;
  readonly dev: string;
}

/**
 * Output of `ip -j -6 route show`, as (prefix, length, device). A multipath
 * route (two routers advertising on one link make the default route one) has
 * its device from its next hops when they all leave by the same one; routes
 * without a device are skipped.
 */
export function parseRoutes(json: string): HostRoute[] {
  const routes: HostRoute[] = [];
  let list: unknown;
  try {
    list = JSON.parse(json);
  } catch {
    return routes;
  }
  if (!Array.isArray(list)) return routes;
  for (const r of list as { dst?: unknown; dev?: unknown; type?: unknown; nexthops?: unknown }[]) {
    const dev = typeof r.dev === 'string' ? r.dev : nexthopsDevice(r.nexthops);
    if (typeof r.dst !== 'string' || dev === undefined || dev === 'lo') continue;
    if (r.type !== undefined && r.type !== 'unicast') continue;
    const [addrText, lenText] = r.dst === 'default' ? ['::', '0'] : r.dst.split('/');
    const prefix = tryParseIpv6(addrText!);
    const prefixLength = lenText === undefined ? 128 : Number(lenText);
    if (prefix === undefined || !Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > 128) continue;
    routes.push({ prefix, prefixLength, dev });
  }
  return routes;
}

/** The one device every next hop of a multipath route leaves by, or undefined. */
function nexthopsDevice(nexthops: unknown): string | undefined {
  if (!Array.isArray(nexthops) || nexthops.length === 0) return undefined;
  const devs = new Set((nexthops as { dev?: unknown }[]).map((h) => h.dev));
  const [dev] = devs;
  return devs.size === 1 && typeof dev === 'string' ? dev : undefined;
}

export async function readRoutes(table = 'main'): Promise<HostRoute[]> {
  return parseRoutes(await run('ip', ['-j', '-6', 'route', 'show', 'table', table]));
}

/** `ip -6 route replace` lines for a target reached through `dev`, optionally via a next hop. */
export function routeReplaceLines(target: Uint8Array, dev: string, via: Uint8Array | null): string[] {
  const t = formatIpv6(target, 0);
  if (via === null) return [`route replace ${t} dev ${dev}`];
  const v = formatIpv6(via, 0);
  // A global next hop needs its own on-link host route first; a link-local one is on-link by definition.
  return isLinkLocal(via, 0)
    ? [`route replace ${t} via ${v} dev ${dev}`]
    : [`route replace ${v} dev ${dev}`, `route replace ${t} via ${v} dev ${dev}`];
}

export function routeRemoveLine(target: Uint8Array, dev: string): string {
  return `route del ${formatIpv6(target, 0)} dev ${dev}`;
}

/**
 * Calls `onChange` (debounced) whenever an IPv6 address of `dev` is added,
 * changed (its lifetimes refreshed, deprecated) or deleted: the kernel's
 * RTM_NEWADDR / RTM_DELADDR, as `ip -6 monitor address` prints them
 * ("[Deleted ]5: eth0    inet6 ..."). Returns a stop function.
 */
export function watchAddresses(dev: string, onChange: () => void, debounceMs = 20): () => void {
  const line = new RegExp(`^(Deleted )?\\d+: ${dev.replace(/[^\w]/g, '\\$&')}\\s+inet6 `);
  return monitorRoutes((l) => line.test(l), onChange, debounceMs, 'address');
}

/** Calls `onChange` (debounced) whenever the IPv6 routing table changes. Returns a stop function. */
export function watchRoutes(onChange: () => void, debounceMs = 50): () => void {
  return monitorRoutes(() => true, onChange, debounceMs);
}
