// The uplink: named by the user, or the device of the IPv6 default route;
// its on-link prefixes come from its global addresses (a /128 alone, as on
// many cloud VMs, means "no prefix": nothing to NDP-proxy, NAT66 falls back
// to the host address).
import { HostSetupError } from '../errors.js';
import { interfaceGlobals, readRoutes } from '../host/interfaces.js';
import { ifIndex } from '../io/netif.js';
import { clearHostBits, formatIpv6 } from '../wire/address.js';
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

export async function readUplink(name: string): Promise<Uplink> {
  return { name, prefixes: await uplinkPrefixes(name) };
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
