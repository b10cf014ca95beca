// Network inspect answers (GET /networks/{id}) of Docker 27/28 engines, for the
// gateway modes this Debian's Docker 20.10 cannot produce. Built from Docker's
// documentation, not captured from a live engine:
//   shape:   the NetworkInspect schema of the Engine API,
//            https://docs.docker.com/reference/api/engine/version/v1.57/schemas/NetworkInspect/
//            (EnableIPv4, ConfigFrom, ConfigOnly, Containers as in its example)
//   options: com.docker.network.bridge.gateway_mode_ipv6 = nat | nat-unprotected | routed | isolated,
//            https://docs.docker.com/engine/network/drivers/bridge/ (options table) and
//            https://docs.docker.com/engine/network/packet-filtering-firewalls/ ("Gateway modes":
//            isolated only with --internal; routed sets up no NAT and ignores host ports)
// Each is the JSON text an engine sends, parsed as the client parses it.
import type { ApiNetwork } from '../../src/docker/api-types.js';

/** The uplink of these fixtures: the host's on-link prefix is 2001:db8:5::/64. */
export const gatewayCtx = { uplinks: [{ name: 'eth0', prefixes: ['2001:db8:5::/64'] }] };

function inspect(name: string, id: string, opts: { subnets: string[]; internal?: boolean; mode?: string }): ApiNetwork {
  const options: Record<string, string> = {};
  if (opts.mode !== undefined) options['com.docker.network.bridge.gateway_mode_ipv6'] = opts.mode;
  const text = `{
    "Name": "${name}",
    "Id": "${id}",
    "Created": "2025-03-04T10:21:17.312254894Z",
    "Scope": "local",
    "Driver": "bridge",
    "EnableIPv4": true,
    "EnableIPv6": true,
    "IPAM": {
      "Driver": "default",
      "Options": null,
      "Config": [${opts.subnets.map((s) => `{ "Subnet": "${s}" }`).join(', ')}]
    },
    "Internal": ${opts.internal === true},
    "Attachable": false,
    "Ingress": false,
    "ConfigFrom": { "Network": "" },
    "ConfigOnly": false,
    "Containers": {},
    "Options": ${JSON.stringify(options)},
    "Labels": {}
  }`;
  return JSON.parse(text) as ApiNetwork;
}

/** `docker network create --ipv6 --subnet fd00:27::/64 -o ...gateway_mode_ipv6=nat natnet` (27.0: the default, spelt out). */
export const natNet = inspect('natnet', '27a'.padEnd(64, '0'), { subnets: ['172.20.0.0/16', 'fd00:27::/64'], mode: 'nat' });
/** 28.0: NAT, without Docker's filter on direct routing. */
export const natUnprotectedNet = inspect('natunp', '28b'.padEnd(64, '0'), { subnets: ['172.21.0.0/16', 'fd00:28::/64'], mode: 'nat-unprotected' });
/** A routed network: a global /80 inside the uplink's /64, and a ULA one next to it. */
export const routedNet = inspect('routed', '27c'.padEnd(64, '0'), { subnets: ['172.22.0.0/16', '2001:db8:5:0:27::/80', 'fd00:2c::/64'], mode: 'routed' });
/** A routed network whose global subnet is not on any uplink (someone else routes it). */
export const routedElsewhereNet = inspect('routed-far', '27d'.padEnd(64, '0'), { subnets: ['2001:db8:99::/64'], mode: 'routed' });
/** 28.0: isolated, which Docker allows only on an internal network. */
export const isolatedNet = inspect('isolated', '28e'.padEnd(64, '0'), { subnets: ['fd00:2e::/64', '2001:db8:5:0:2e::/80'], internal: true, mode: 'isolated' });
/** A mode from a future engine. */
export const unknownModeNet = inspect('future', '29f'.padEnd(64, '0'), { subnets: ['fd00:2f::/64'], mode: 'nat-someday' });
