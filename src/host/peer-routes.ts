// Routes to the other hosts of a fleet (Flannel's host-gw): each other
// host's sub-prefix via its address on the shared link, tagged with
// sixgate's route protocol so a restart adopts them and `--cleanup` finds
// them. Only routes of the fleet's sub-prefix length inside the fleet
// prefix that have a next hop are ever touched: the routes of this host's
// own networks (same proto, no gateway) are not.
import { ipBatch, ipJson } from './run.js';
import { SIXGATE_PROTO } from './tags.js';

/** sub-prefix -> next hop (the peer's uplink address). */
export type PeerRouteTable = ReadonlyMap<string, string>;

interface RouteJson { dst: string; gateway?: string }

/** The fleet routes installed now: tagged, inside `fleetPrefix`, `/size` long, with a gateway. */
export async function readPeerRoutes(fleetPrefix: string, size: number): Promise<Map<string, string>> {
  const routes = await ipJson<RouteJson[]>(['route', 'show', 'proto', String(SIXGATE_PROTO), 'root', fleetPrefix]);
  const out = new Map<string, string>();
  for (const r of routes) {
    if (r.gateway !== undefined && r.dst.endsWith(`/${size}`)) out.set(r.dst, r.gateway);
  }
  return out;
}

/** The `ip -6 -batch` lines that turn the routes `installed` into `wanted`. */
export function peerRouteLines(installed: PeerRouteTable, wanted: PeerRouteTable): string[] {
  const lines: string[] = [];
  for (const [dst, via] of installed) {
    if (wanted.get(dst) !== via) lines.push(`route del ${dst} via ${via} proto ${SIXGATE_PROTO}`);
  }
  for (const [dst, via] of wanted) {
    if (installed.get(dst) !== via) lines.push(`route replace ${dst} via ${via} proto ${SIXGATE_PROTO}`);
  }
  return lines;
}

/**
 * Makes the host's fleet routes exactly `wanted` (read back first, so a
 * route someone deleted is put back). Returns the lines the kernel refused
 * (a next hop not on any link: reported by the caller, the rest applied).
 */
export async function applyPeerRoutes(fleetPrefix: string, size: number, wanted: PeerRouteTable): Promise<string[]> {
  const installed = await readPeerRoutes(fleetPrefix, size);
  const { failed } = await ipBatch(peerRouteLines(installed, wanted), { force: true });
  return failed;
}
