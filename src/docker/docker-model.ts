// The model of Docker networks and containers, and the typed deltas that
// carry its changes to consumers (NDP proxy, NAT66).
//
// The model is a set of facts, each owned by one network or container:
//   network   one per modelled network (bridge with an IPv6 subnet)
//   address   one per (container, network, IPv6 address), every network of a
//             container (docker-ipv6nat kept one, picked at random, bug B3)
//   port      one per published (protocol, host address, host port), aimed at
//             the container's address on its port network (below)
// Any change recomputes the facts of the owners it touches and emits the
// difference, so a full resync after a reconnect emits only what really
// changed, and nothing stale survives it.
//
// Port network, deterministic: among the container's networks with an IPv6
// address, nat66 first, then nptv6, ndp, shim, none; ties by network name.
import {
  classifyNetwork, canonicalAddress, subnetOf,
  type ClassifyContext, type DockerNetwork, type Issue, type SubnetService,
} from './classify.js';
import type { ContainerInfo, PortProtocol } from './containers.js';
import type { ApiNetwork } from './api-types.js';

export interface ContainerAddress {
  containerId: string;
  containerName: string;
  networkId: string;
  networkName: string;
  bridge: string;
  /** Canonical RFC 5952 text. */
  address: string;
  prefixLength: number;
  /** The network subnet holding it ("fd00:1::/64"). */
  subnet: string;
  service: SubnetService;
  /** ndp: the uplink to answer on. */
  uplink?: string;
  /** nptv6: the external prefix of the subnet. */
  externalPrefix?: string;
  /** The container's MAC on this network, when Docker reports one (a shim's conflict probe tells it from others). */
  mac?: string;
}

export interface PublishedPort {
  containerId: string;
  containerName: string;
  networkId: string;
  networkName: string;
  protocol: PortProtocol;
  /** A specific external address, or null for every external address of the network. */
  hostAddress: string | null;
  hostPort: number;
  containerAddress: string;
  containerPort: number;
  /** The service of the subnet holding containerAddress (NAT66 consumers take 'nat66'). */
  service: SubnetService;
}

export type FeedDelta =
  | { kind: 'network-added'; network: DockerNetwork }
  | { kind: 'network-changed'; network: DockerNetwork; previous: DockerNetwork }
  | { kind: 'network-removed'; network: DockerNetwork }
  | { kind: 'address-added' | 'address-removed'; address: ContainerAddress }
  | { kind: 'port-added' | 'port-removed'; port: PublishedPort };

type Fact =
  | { t: 'network'; v: DockerNetwork }
  | { t: 'address'; v: ContainerAddress }
  | { t: 'port'; v: PublishedPort };

/** An issue worth one log line while it lasts; `owner` is a network or container id. */
export interface ModelIssue extends Issue {
  owner: string;
}

const SERVICE_RANK: Record<SubnetService, number> = { nat66: 0, nptv6: 1, ndp: 2, shim: 3, none: 4 };

export class DockerModel {
  #ctx: ClassifyContext;
  readonly #rawNetworks = new Map<string, ApiNetwork>();
  readonly #networks = new Map<string, DockerNetwork>();
  /** Networks looked at and left out (no IPv6, not a bridge): id → name. */
  readonly #ignored = new Map<string, string>();
  readonly #containers = new Map<string, ContainerInfo>();
  readonly #facts = new Map<string, Map<string, Fact>>();
  readonly #issueKeys = new Map<string, Set<string>>();
  readonly #onIssue: (issue: ModelIssue) => void;

  constructor(ctx: ClassifyContext, onIssue: (issue: ModelIssue) => void = () => {}) {
    this.#ctx = ctx;
    this.#onIssue = onIssue;
  }

  get context(): ClassifyContext {
    return this.#ctx;
  }

  /** Replaces everything (a full resync). */
  replaceAll(networks: readonly ApiNetwork[], containers: readonly ContainerInfo[]): FeedDelta[] {
    const owners = new Set<string>([...this.#facts.keys()]);
    this.#rawNetworks.clear();
    this.#networks.clear();
    this.#ignored.clear();
    this.#containers.clear();
    for (const raw of networks) {
      if (typeof raw.Id !== 'string') continue;
      this.#rawNetworks.set(raw.Id, raw);
      owners.add(`n:${raw.Id}`);
    }
    for (const c of containers) {
      if (!c.running) continue;
      this.#containers.set(c.id, c);
      owners.add(`c:${c.id}`);
    }
    this.#classifyAll();
    const deltas = this.#recompute(owners);
    for (const owner of this.#issueKeys.keys()) {
      const id = owner.slice(2);
      if (!(owner.startsWith('n:') ? this.#rawNetworks.has(id) : this.#containers.has(id))) this.#issueKeys.delete(owner);
    }
    return deltas;
  }

  /** A network was created or changed (inspect answer). */
  upsertNetwork(raw: ApiNetwork): FeedDelta[] {
    if (typeof raw.Id !== 'string') return [];
    this.#rawNetworks.set(raw.Id, raw);
    this.#classify(raw.Id);
    return this.#recompute(this.#ownersOfNetwork(raw.Id));
  }

  removeNetwork(id: string): FeedDelta[] {
    const owners = this.#ownersOfNetwork(id);
    this.#rawNetworks.delete(id);
    this.#networks.delete(id);
    this.#ignored.delete(id);
    this.#issueKeys.delete(`n:${id}`);
    return this.#recompute(owners);
  }

  /** A container's current state (inspect answer); not running means no facts. */
  upsertContainer(info: ContainerInfo): FeedDelta[] {
    if (!info.running) return this.removeContainer(info.id);
    this.#containers.set(info.id, info);
    return this.#recompute(new Set([`c:${info.id}`]));
  }

  removeContainer(id: string): FeedDelta[] {
    this.#containers.delete(id);
    this.#issueKeys.delete(`c:${id}`);
    return this.#recompute(new Set([`c:${id}`]));
  }

  /** New uplink prefixes or ip6tables verdict: reclassifies everything. */
  setContext(ctx: ClassifyContext): FeedDelta[] {
    this.#ctx = ctx;
    this.#classifyAll();
    return this.#recompute(new Set([...this.#facts.keys(), ...[...this.#rawNetworks.keys()].map((id) => `n:${id}`),
      ...[...this.#containers.keys()].map((id) => `c:${id}`)]));
  }

  /** Whether the network id is known (modelled or deliberately ignored). */
  knowsNetwork(id: string): boolean {
    return this.#networks.has(id) || this.#ignored.has(id);
  }

  /** Network ids a container refers to that the model has never seen. */
  unknownNetworksOf(info: ContainerInfo): string[] {
    return info.endpoints.map((e) => e.networkId).filter((id) => !this.knowsNetwork(id));
  }

  hasContainer(id: string): boolean {
    return this.#containers.has(id);
  }

  networks(): DockerNetwork[] {
    return [...this.#networks.values()].sort((a, b) => cmp(a.name, b.name));
  }

  addresses(): ContainerAddress[] {
    return this.#all('address').sort((a, b) => cmp(a.containerName, b.containerName) || cmp(a.networkName, b.networkName) || cmp(a.address, b.address));
  }

  ports(): PublishedPort[] {
    return this.#all('port').sort((a, b) => cmp(a.containerName, b.containerName) || cmp(a.protocol, b.protocol) || a.hostPort - b.hostPort);
  }

  /** Running containers the model holds. */
  get containerCount(): number {
    return this.#containers.size;
  }

  #all(t: 'address'): ContainerAddress[];
  #all(t: 'port'): PublishedPort[];
  #all(t: 'address' | 'port'): Array<ContainerAddress | PublishedPort> {
    const out: Array<ContainerAddress | PublishedPort> = [];
    for (const facts of this.#facts.values()) for (const f of facts.values()) if (f.t === t) out.push(f.v as ContainerAddress | PublishedPort);
    return out;
  }

  #classifyAll(): void {
    this.#networks.clear();
    this.#ignored.clear();
    for (const id of this.#rawNetworks.keys()) this.#classify(id);
  }

  #classify(id: string): void {
    const raw = this.#rawNetworks.get(id);
    if (raw === undefined) return;
    const issues: Issue[] = [];
    const net = classifyNetwork(raw, this.#ctx, issues);
    this.#report(`n:${id}`, issues);
    if (net === undefined) {
      this.#networks.delete(id);
      this.#ignored.set(id, raw.Name ?? id);
    } else {
      this.#ignored.delete(id);
      this.#networks.set(id, net);
    }
  }

  /** Logs each issue once per owner while the owner lives. */
  #report(owner: string, issues: readonly Issue[]): void {
    if (issues.length === 0) return;
    let keys = this.#issueKeys.get(owner);
    if (keys === undefined) this.#issueKeys.set(owner, keys = new Set());
    for (const issue of issues) {
      if (keys.has(issue.msg)) continue;
      keys.add(issue.msg);
      this.#onIssue({ ...issue, owner: owner.slice(2) });
    }
  }

  #ownersOfNetwork(id: string): Set<string> {
    const owners = new Set<string>([`n:${id}`]);
    for (const c of this.#containers.values()) if (c.endpoints.some((e) => e.networkId === id)) owners.add(`c:${c.id}`);
    return owners;
  }

  #factsOf(owner: string): Map<string, Fact> {
    const out = new Map<string, Fact>();
    const id = owner.slice(2);
    if (owner.startsWith('n:')) {
      const net = this.#networks.get(id);
      if (net !== undefined) out.set(`net|${id}`, { t: 'network', v: net });
      return out;
    }
    const c = this.#containers.get(id);
    if (c === undefined) return out;
    const issues: Issue[] = [];
    const candidates: Array<{ net: DockerNetwork; addr: ContainerAddress }> = [];
    for (const ep of c.endpoints) {
      const net = this.#networks.get(ep.networkId);
      if (net === undefined) continue;
      for (const a of ep.addresses) {
        const subnet = subnetOf(net, a.address);
        if (subnet === undefined) {
          issues.push({ level: 'warn', msg: `container ${c.name}: address ${a.address} is in no IPv6 subnet of network ${net.name}: ignored` });
          continue;
        }
        const addr: ContainerAddress = {
          containerId: c.id, containerName: c.name, networkId: net.id, networkName: net.name, bridge: net.bridge,
          address: a.address, prefixLength: a.prefixLength, subnet: subnet.prefix, service: subnet.service,
          ...(subnet.uplink !== undefined ? { uplink: subnet.uplink } : {}),
          ...(subnet.externalPrefix !== undefined ? { externalPrefix: subnet.externalPrefix } : {}),
          ...(ep.mac !== undefined ? { mac: ep.mac } : {}),
        };
        out.set(`addr|${c.id}|${net.id}|${a.address}`, { t: 'address', v: addr });
        candidates.push({ net, addr });
      }
    }
    if (c.bindings.length > 0 && candidates.length > 0) {
      candidates.sort((x, y) => SERVICE_RANK[x.addr.service] - SERVICE_RANK[y.addr.service] || cmp(x.net.name, y.net.name));
      const { net, addr } = candidates[0];
      if (!net.internal) {
        for (const b of c.bindings) {
          const hostAddress = this.#hostAddress(b.hostIp, net, c.name, b.hostPort, issues);
          if (hostAddress === undefined) continue;
          const port: PublishedPort = {
            containerId: c.id, containerName: c.name, networkId: net.id, networkName: net.name, protocol: b.protocol,
            hostAddress, hostPort: b.hostPort, containerAddress: addr.address, containerPort: b.containerPort, service: addr.service,
          };
          out.set(`port|${c.id}|${b.protocol}|${hostAddress ?? '*'}|${b.hostPort}`, { t: 'port', v: port });
        }
      }
    }
    this.#report(owner, issues);
    return out;
  }

  /** null: every external address; undefined: not an IPv6 binding (skipped, logged). */
  #hostAddress(hostIp: string, net: DockerNetwork, container: string, hostPort: number, issues: Issue[]): string | null | undefined {
    if (hostIp === '' || hostIp === '0.0.0.0' || hostIp === '::') return net.hostBindingIpv6;
    const canon = canonicalAddress(hostIp);
    if (canon === undefined) {
      issues.push({ level: 'info', msg: `container ${container}: port ${hostPort} is published on IPv4 ${hostIp} only: no IPv6 mapping` });
      return undefined;
    }
    if (canon === '::1' || canon.startsWith('fe80:')) {
      issues.push({ level: 'warn', msg: `container ${container}: port ${hostPort} is published on ${canon}, which NAT cannot serve: skipped` });
      return undefined;
    }
    return canon;
  }

  #recompute(owners: Set<string>): FeedDelta[] {
    const added: FeedDelta[] = [];
    const removed: FeedDelta[] = [];
    const netsAdded: FeedDelta[] = [];
    const netsRemoved: FeedDelta[] = [];
    for (const owner of owners) {
      const before = this.#facts.get(owner) ?? new Map<string, Fact>();
      const after = this.#factsOf(owner);
      for (const [key, old] of before) {
        const now = after.get(key);
        if (now !== undefined && JSON.stringify(now.v) === JSON.stringify(old.v)) continue;
        if (old.t === 'network') {
          if (now === undefined) netsRemoved.push({ kind: 'network-removed', network: old.v });
          else netsAdded.push({ kind: 'network-changed', network: now.v as DockerNetwork, previous: old.v });
          continue;
        }
        removed.push(old.t === 'address' ? { kind: 'address-removed', address: old.v } : { kind: 'port-removed', port: old.v });
        if (now !== undefined) added.push(now.t === 'address' ? { kind: 'address-added', address: now.v } : { kind: 'port-added', port: now.v as PublishedPort });
      }
      for (const [key, now] of after) {
        if (before.has(key)) continue;
        if (now.t === 'network') netsAdded.push({ kind: 'network-added', network: now.v });
        else added.push(now.t === 'address' ? { kind: 'address-added', address: now.v } : { kind: 'port-added', port: now.v });
      }
      if (after.size === 0) this.#facts.delete(owner);
      else this.#facts.set(owner, after);
    }
    // Consumers never see an address on a network they do not know, nor a port before its address.
    return [...netsAdded, ...removed.sort(portsFirst), ...added.sort(addressesFirst), ...netsRemoved];
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function portsFirst(a: FeedDelta, b: FeedDelta): number {
  return (a.kind === 'port-removed' ? 0 : 1) - (b.kind === 'port-removed' ? 0 : 1);
}

function addressesFirst(a: FeedDelta, b: FeedDelta): number {
  return (a.kind === 'address-added' ? 0 : 1) - (b.kind === 'address-added' ? 0 : 1);
}
