// A host shim for a macvlan or ipvlan network: the host's own interface on
// the network's parent, so the host and its containers can talk.
//
// A macvlan (or ipvlan) parent never receives what its children send, and
// its children never see what the parent sends, so a host cannot reach its
// own macvlan containers through the parent. A sibling interface on the same
// parent, in bridge mode (ipvlan: l2), can: siblings of one parent switch
// frames between each other. sixgate makes one per network (`sgs-<id11>`,
// the alias `sixgate shim <network>` marks it as ours) and
//   - routes each running container's /128 through it (or the whole subnet
//     when it is not the link's own prefix: then nothing else claims it);
//   - answers Neighbor Solicitations for the parent's global addresses on it
//     (kernel proxy entries, proxy_delay 0), so containers reach the host's
//     addresses, which live on the parent, through it;
//   - takes no address from the LAN: RA and SLAAC are off on it, and its
//     link-local comes from a MAC derived from the network id, so it is the
//     same after a restart or a re-creation.
// The routes carry sixgate's proto like every route it installs.
import { createHash } from 'node:crypto';
import { assertIfname, ipBatch, ipJson } from './run.js';
import { writeSysctl } from './sysctl.js';
import { SIXGATE_PROTO } from './tags.js';
import { formatMac } from '../wire/address.js';

export const SHIM_PREFIX = 'sgs-';
const ALIAS_PREFIX = 'sixgate shim ';

export interface ShimSpec {
  /** The interface: shimName(networkId). */
  readonly name: string;
  readonly parent: string;
  readonly driver: 'macvlan' | 'ipvlan';
  /** macvlan only (ipvlan shares the parent's). */
  readonly mac: string;
  /** For the alias and log lines. */
  readonly network: string;
  /** Destinations routed through the shim: "2001:db8:1::5/128" or a subnet. */
  readonly routes: readonly string[];
  /** The parent's global addresses, answered for on the shim. */
  readonly hostAddresses: readonly string[];
}

/** The shim interface of a network: 15 bytes at most, stable for the network's life. */
export function shimName(networkId: string): string {
  return SHIM_PREFIX + networkId.slice(0, 11);
}

/** A locally administered unicast MAC derived from the network id. */
export function shimMac(networkId: string): string {
  const h = createHash('sha256').update(`sixgate-shim:${networkId}`).digest();
  return formatMac(Uint8Array.of(0x02, h[0]!, h[1]!, h[2]!, h[3]!, h[4]!), 0);
}

interface IpLink { ifname?: string; ifalias?: string; link?: string; operstate?: string; address?: string }

/** The shims on this host (sgs-* interfaces carrying sixgate's alias), as name → alias network. */
export async function listShims(): Promise<Map<string, string>> {
  const links = await ipJson<IpLink[]>(['link', 'show'], false);
  const out = new Map<string, string>();
  for (const l of links) {
    if (l.ifname?.startsWith(SHIM_PREFIX) && l.ifalias?.startsWith(ALIAS_PREFIX)) out.set(l.ifname, l.ifalias.slice(ALIAS_PREFIX.length));
  }
  return out;
}

/** `ip link` lines that create the shim, down (its sysctls are set before it comes up). */
export function shimCreateLines(spec: ShimSpec): string[] {
  const name = assertIfname(spec.name);
  const parent = assertIfname(spec.parent);
  const type = spec.driver === 'macvlan' ? `address ${spec.mac} type macvlan mode bridge` : 'type ipvlan mode l2';
  return [
    `link add ${name} link ${parent} ${type}`,
    `link set dev ${name} alias "${ALIAS_PREFIX}${spec.network.replace(/[^\w.-]/g, '_')}"`,
  ];
}

/**
 * Makes the shim exist and hold exactly `spec.routes` and `spec.hostAddresses`;
 * idempotent, so a restart adopts what the last run left.
 */
export async function applyShim(spec: ShimSpec): Promise<void> {
  const name = assertIfname(spec.name);
  const existing = await ipJson<IpLink[]>(['link', 'show', 'dev', name], false).catch(() => [] as IpLink[]);
  if (existing.length === 0) {
    await ipBatch(shimCreateLines(spec), { family6: false });
    // RA and SLAAC off before it is up: no address from the LAN's prefix; proxy for the host's addresses.
    for (const [key, value] of [['accept_ra', '0'], ['autoconf', '0'], ['proxy_ndp', '1']]) writeSysctl(`net.ipv6.conf.${name}.${key}`, value);
    writeSysctl(`net.ipv6.neigh.${name}.proxy_delay`, '0');
  }
  await ipBatch([`link set dev ${name} up`], { family6: false });
  const routes = await ipJson<Array<{ dst?: string }>>(['route', 'show', 'dev', name, 'proto', String(SIXGATE_PROTO)]);
  const proxies = await ipJson<Array<{ dst?: string }>>(['neigh', 'show', 'proxy', 'dev', name]);
  const haveRoutes = new Set(routes.map((r) => withLength(r.dst ?? '')));
  const haveProxies = new Set(proxies.map((p) => p.dst ?? ''));
  const wantRoutes = new Set(spec.routes);
  const wantProxies = new Set(spec.hostAddresses);
  const lines: string[] = [];
  for (const r of haveRoutes) if (!wantRoutes.has(r)) lines.push(`route del ${r} dev ${name} proto ${SIXGATE_PROTO}`);
  for (const p of haveProxies) if (!wantProxies.has(p)) lines.push(`neigh del proxy ${p} dev ${name}`);
  for (const r of wantRoutes) if (!haveRoutes.has(r)) lines.push(`route replace ${r} dev ${name} proto ${SIXGATE_PROTO}`);
  for (const p of wantProxies) if (!haveProxies.has(p)) lines.push(`neigh replace proxy ${p} dev ${name}`);
  await ipBatch(lines, { force: true });
}

/** Deletes a shim; its routes and proxy entries go with it. Gone already is fine. */
export async function removeShim(name: string): Promise<void> {
  await ipBatch([`link del ${assertIfname(name)}`], { family6: false, force: true }).catch(() => {});
}

/** `ip -j route` prints a host route without its length. */
function withLength(dst: string): string {
  return dst.includes('/') ? dst : `${dst}/128`;
}
