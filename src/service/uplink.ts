// The uplink: named by the user, or the device of the IPv6 default route;
// its on-link prefixes come from its global addresses (a /128 alone, as on
// many cloud VMs, means "no prefix": nothing to NDP-proxy, NAT66 falls back
// to the host address).
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { HostSetupError } from '../errors.js';
import { interfaceGlobals, readRoutes } from '../host/interfaces.js';
import { ipJson } from '../host/run.js';
import { ifIndex } from '../io/netif.js';
import { clearHostBits, formatIpv6, parseIpv6 } from '../wire/address.js';
import type { Uplink } from '../docker/index.js';

/** The device of the IPv6 default route (the first one, as the kernel lists them). */
export async function detectUplink(): Promise<string> {
  const routes = await readRoutes('main');
  const def = routes.find((r) => r.prefixLength === 0);
  if (def === undefined) {
    throw new HostSetupError(['no IPv6 default route to take the uplink from: pass --uplink <ifname> (or SIXGATE_UPLINK)']);
  }
  return def.dev;
}

/** The uplink's on-link prefixes ("2001:db8:1::/64"), from its global addresses. */
export async function uplinkPrefixes(uplink: string): Promise<string[]> {
  const out = new Set<string>();
  for (const a of await interfaceGlobals(uplink)) {
    if (a.prefixLength >= 128) continue;
    out.add(`${formatIpv6(clearHostBits(a.addr, a.prefixLength), 0)}/${a.prefixLength}`);
  }
  return [...out].sort();
}

/** One on-link prefix of the uplink as the kernel holds it (its address's lifetimes; null = forever). */
export interface UpstreamPrefix {
  readonly prefix: string;
  readonly state: 'preferred' | 'deprecated';
  readonly validSeconds: number | null;
  readonly preferredSeconds: number | null;
}

const FOREVER = 0xffffffff;

/** The uplink's on-link prefixes with their state and lifetimes (`ip -j -6 addr`), for status output. */
export async function upstreamPrefixes(uplink: string): Promise<UpstreamPrefix[]> {
  type AddrInfo = { local?: string; prefixlen?: number; scope?: string; deprecated?: boolean; valid_life_time?: number; preferred_life_time?: number };
  const links = await ipJson<Array<{ addr_info?: AddrInfo[] }>>(['addr', 'show', 'dev', uplink, 'scope', 'global']).catch(() => []);
  const out = new Map<string, UpstreamPrefix>();
  const lifetime = (s: number | undefined): number | null => s === undefined || s === FOREVER ? null : s;
  for (const a of links.flatMap((l) => l.addr_info ?? [])) {
    if (a.local === undefined || a.prefixlen === undefined || a.prefixlen >= 128) continue;
    const prefix = `${formatIpv6(clearHostBits(parseIpv6(a.local), a.prefixlen), 0)}/${a.prefixlen}`;
    const seen = out.get(prefix);
    // The longest-lived address of a prefix speaks for it.
    if (seen !== undefined && (seen.validSeconds === null || (lifetime(a.valid_life_time) ?? Infinity) <= seen.validSeconds)) continue;
    const deprecated = a.deprecated === true || a.preferred_life_time === 0;
    out.set(prefix, { prefix, state: deprecated ? 'deprecated' : 'preferred', validSeconds: lifetime(a.valid_life_time), preferredSeconds: lifetime(a.preferred_life_time) });
  }
  return [...out.values()].sort((x, y) => (x.state === y.state ? x.prefix.localeCompare(y.prefix) : x.state === 'preferred' ? -1 : 1));
}

export async function readUplink(name: string): Promise<Uplink> {
  return { name, prefixes: await uplinkPrefixes(name) };
}

/** How often start-up looks again for an uplink it waits for. */
const WAIT_POLL_MS = 200;

/**
 * The uplink at start: the one named, else the device of the IPv6 default
 * route. With `waitSeconds` (boot ordering: the interface or its route may
 * come up after sixgate), looks again until then. Throws HostSetupError, one
 * line saying what to do, when there is none in time: a mistyped name must
 * not leave a daemon running that serves nothing.
 */
export async function findUplink(name: string | undefined, waitSeconds: number, log: Logger): Promise<string> {
  const deadline = performance.now() + waitSeconds * 1000;
  for (let attempt = 0; ; attempt++) {
    let problem: string;
    try {
      const uplink = name ?? await detectUplink();
      if (uplinkExists(uplink)) return uplink;
      problem = `uplink ${uplink} does not exist: check the name with \`ip link\``;
    } catch (err) {
      if (!(err instanceof HostSetupError)) throw err;
      problem = err.message;
    }
    if (performance.now() >= deadline) {
      const waited = waitSeconds > 0 ? ` (waited ${waitSeconds} s)` : '; at boot, --wait-uplink SECONDS waits for it';
      throw new HostSetupError([problem + waited]);
    }
    if (attempt === 0) log.info({ uplink: name, waitSeconds }, `waiting for the uplink: ${problem}`);
    await sleep(WAIT_POLL_MS);
  }
}

/** Whether the interface exists in this network namespace (if_nametoindex; /sys may show another namespace). */
export function uplinkExists(name: string): boolean {
  try {
    ifIndex(name);
    return true;
  } catch {
    return false;
  }
}
