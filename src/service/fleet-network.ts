// Fleet mode's Docker network: the host's global network takes its subnet
// from the host's lease. sixgate creates it through the Docker API when it
// is missing, or checks the one there and says what to change (it never
// removes a network: containers may be attached).
import type { ApiNetwork, EngineClient } from '../docker/index.js';
import { addressInPrefix } from '../fleet/index.js';

export type FleetNetworkResult =
  | { readonly state: 'created' | 'matches'; readonly subnets: readonly string[] }
  | { readonly state: 'mismatch'; readonly detail: string };

/** What is wrong with `network` as the global network of `lease`; undefined when it fits. */
export function fleetNetworkMismatch(network: ApiNetwork, lease: string): string | undefined {
  const v6 = (network.IPAM?.Config ?? []).map((c) => c.Subnet ?? '').filter((s) => s.includes(':'));
  if (network.EnableIPv6 !== true) return 'IPv6 is not enabled on it';
  if (v6.length === 0) return 'it has no IPv6 subnet';
  const outside = v6.filter((s) => !addressInPrefix(s, lease) || Number(s.split('/')[1]) < Number(lease.split('/')[1]));
  return outside.length > 0 ? `its subnet ${outside.join(', ')} is not inside this host's lease ${lease}` : undefined;
}

/** The network's IPv6 subnets (the ones the check accepted). */
function subnetsOf(network: ApiNetwork): string[] {
  return (network.IPAM?.Config ?? []).map((c) => c.Subnet ?? '').filter((s) => s.includes(':'));
}

/** Creates network `name` on `lease` if absent, else checks it; a mismatch names the commands that fix it. */
export async function ensureFleetNetwork(client: EngineClient, name: string, lease: string, options: Readonly<Record<string, string>>): Promise<FleetNetworkResult> {
  const existing = await client.get<ApiNetwork>(`/networks/${encodeURIComponent(name)}`, undefined, true);
  if (existing === undefined) {
    await client.post('/networks/create', {
      Name: name, Driver: 'bridge', EnableIPv6: true, CheckDuplicate: true,
      IPAM: { Config: [{ Subnet: lease }] }, Options: options, Labels: { 'io.sixgate.fleet-lease': lease },
    });
    return { state: 'created', subnets: [lease] };
  }
  const wrong = fleetNetworkMismatch(existing, lease);
  if (wrong === undefined) return { state: 'matches', subnets: subnetsOf(existing) };
  const opts = Object.entries(options).map(([k, v]) => ` -o ${k}=${v}`).join('');
  return {
    state: 'mismatch',
    detail: `Docker network ${name}: ${wrong}; to fix, with its containers disconnected: ` +
      `docker network rm ${name} && docker network create --ipv6 --subnet ${lease}${opts} ${name}`,
  };
}
