// Containers as the model needs them, from either API answer: the list
// (GET /containers/json, one call for a whole resync) or an inspect (per
// event). Both give the ports Docker actually allocated, so `-p 80`
// (ephemeral), host-port ranges and `-P` work (docker-ipv6nat read only the
// requested HostConfig.PortBindings and skipped those, bug B2); the
// requested bindings fill in when an engine reports no allocation.
import { canonicalAddress } from './classify.js';
import type { ApiContainerInspect, ApiContainerSummary, ApiPortBinding } from './api-types.js';

export type PortProtocol = 'tcp' | 'udp' | 'sctp';

export interface ContainerEndpoint {
  networkId: string;
  networkName: string;
  /** Canonical IPv6 addresses with their prefix length (GlobalIPv6Address first). */
  addresses: Array<{ address: string; prefixLength: number }>;
  /** MacAddress, lower case, when the engine reports one. */
  mac?: string;
}

/** A host port Docker bound for the container (one per host IP it reported). */
export interface PortBinding {
  protocol: PortProtocol;
  containerPort: number;
  /** As Docker reported it: "", "0.0.0.0", "::", or a specific address. */
  hostIp: string;
  hostPort: number;
}

export interface ContainerInfo {
  id: string;
  name: string;
  running: boolean;
  endpoints: ContainerEndpoint[];
  bindings: PortBinding[];
}

const PROTOCOLS: readonly string[] = ['tcp', 'udp', 'sctp'];

function port(n: unknown): number | undefined {
  const v = typeof n === 'string' ? (/^\d{1,5}$/.test(n) ? Number(n) : NaN) : typeof n === 'number' ? n : NaN;
  return Number.isInteger(v) && v >= 1 && v <= 65535 ? v : undefined;
}

function endpointsOf(networks: Record<string, {
  NetworkID?: string; GlobalIPv6Address?: string; GlobalIPv6PrefixLen?: number; MacAddress?: string;
  SecondaryIPv6Addresses?: Array<{ Addr?: string; PrefixLen?: number }> | null;
}> | null | undefined): ContainerEndpoint[] {
  const out: ContainerEndpoint[] = [];
  for (const [networkName, ep] of Object.entries(networks ?? {})) {
    if (ep === null || typeof ep !== 'object' || typeof ep.NetworkID !== 'string' || ep.NetworkID === '') continue;
    const addresses: ContainerEndpoint['addresses'] = [];
    const add = (text: string | undefined, len: number | undefined): void => {
      const address = text === undefined || text === '' ? undefined : canonicalAddress(text);
      if (address !== undefined && !addresses.some((a) => a.address === address)) addresses.push({ address, prefixLength: len ?? 64 });
    };
    add(ep.GlobalIPv6Address, ep.GlobalIPv6PrefixLen);
    for (const s of ep.SecondaryIPv6Addresses ?? []) add(s.Addr, s.PrefixLen);
    const mac = typeof ep.MacAddress === 'string' && /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(ep.MacAddress) ? ep.MacAddress.toLowerCase() : undefined;
    out.push({ networkId: ep.NetworkID, networkName, addresses, ...(mac === undefined ? {} : { mac }) });
  }
  return out;
}

/** From a GET /containers/json entry (the engine lists running containers only). */
export function containerFromSummary(raw: ApiContainerSummary): ContainerInfo | undefined {
  if (typeof raw.Id !== 'string') return undefined;
  const bindings: PortBinding[] = [];
  for (const p of raw.Ports ?? []) {
    const containerPort = port(p.PrivatePort);
    const hostPort = port(p.PublicPort);
    const protocol = p.Type ?? 'tcp';
    if (containerPort === undefined || hostPort === undefined || !PROTOCOLS.includes(protocol)) continue;
    bindings.push({ protocol: protocol as PortProtocol, containerPort, hostIp: p.IP ?? '', hostPort });
  }
  return {
    id: raw.Id,
    name: (raw.Names?.[0] ?? raw.Id.slice(0, 12)).replace(/^\//, ''),
    running: (raw.State ?? 'running') === 'running' || raw.State === 'paused',
    endpoints: endpointsOf(raw.NetworkSettings?.Networks),
    bindings,
  };
}

function bindingsFromMap(map: Record<string, ApiPortBinding[] | null> | null | undefined, out: PortBinding[], onlyKeys?: Set<string>): Set<string> {
  const seen = new Set<string>();
  for (const [key, list] of Object.entries(map ?? {})) {
    if (onlyKeys !== undefined && !onlyKeys.has(key)) continue;
    const m = /^(\d{1,5})(?:\/(\w+))?$/.exec(key);
    const containerPort = m === null ? undefined : port(m[1]);
    const protocol = m?.[2] ?? 'tcp';
    if (containerPort === undefined || !PROTOCOLS.includes(protocol)) continue;
    for (const b of list ?? []) {
      const hostPort = port(b.HostPort);
      if (hostPort === undefined) continue;
      out.push({ protocol: protocol as PortProtocol, containerPort, hostIp: b.HostIp ?? '', hostPort });
      seen.add(key);
    }
  }
  return seen;
}

/** From GET /containers/{id}/json. */
export function containerFromInspect(raw: ApiContainerInspect): ContainerInfo | undefined {
  if (typeof raw.Id !== 'string') return undefined;
  const bindings: PortBinding[] = [];
  const allocated = bindingsFromMap(raw.NetworkSettings?.Ports, bindings);
  // Requested bindings with a fixed host port, for keys the engine reported no allocation for.
  const requested = new Set(Object.keys(raw.HostConfig?.PortBindings ?? {}).filter((k) => !allocated.has(k)));
  bindingsFromMap(raw.HostConfig?.PortBindings, bindings, requested);
  return {
    id: raw.Id,
    name: (raw.Name ?? raw.Id.slice(0, 12)).replace(/^\//, ''),
    running: raw.State?.Running === true,
    endpoints: endpointsOf(raw.NetworkSettings?.Networks),
    bindings,
  };
}
