// What the control socket (src/service/control.ts) answers: the views of a
// running daemon for `sixgate status`, `sixgate flows`, `sixgate ndp
// sessions` and `sixgate counters --live`, built on demand from the parts'
// own state (the Docker feed's snapshot, the data path's resolved model and
// connection table, the NDP engine's tables, the counter registry). Control
// path only: these allocate freely, and the flow listing walks the table in
// slices between event-loop turns so the packets never wait for it.
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import type { DatapathService } from '../datapath/nat-service.js';
import type { ResolvedModel } from '../datapath/nat-model.js';
import type { FeedSnapshot } from '../docker/feed.js';
import { ControlError } from '../errors.js';
import { monotonicMs } from '../io/ring.js';
import { TICK_MS } from '../nat/engine-config.js';
import { sessionSlice, type SessionInfo } from '../nat/status.js';
import { R } from '../nat/table.js';
import { PROTO_CLASS_NAMES } from '../nat/types.js';
import type { NdpService } from '../proxy/ndp-service.js';
import type { PrefixDelegation } from '../host/dhcpv6-pd.js';
import { matchesPrefix, parseIpv6, parseIpv6Prefix } from '../wire/address.js';
import { readAddressWords } from '../wire/checksum.js';
import { captureRequest, captureStream, type CaptureComponent, type CaptureSource } from './capture.js';
import type { ControlAnswer, ControlOp, ControlRequest } from './control.js';
import { counterValues, type Metric } from './counters.js';
import type { SixgateDaemon } from './daemon.js';
import type { HealthStatus } from './health.js';
import { upstreamPrefixes, uplinkPrefixes } from './uplink.js';

/** How often a watch compares the table with what it saw last. */
export const WATCH_INTERVAL_MS = 1000;
/** Sessions one watch may follow (filter by container, protocol or port for more). */
export const WATCH_MAX_SESSIONS = 65_536;

/** Table records walked per event-loop turn by a flow listing: a full slice of live sessions takes ~10 ms to format (npm run bench -- flows). */
export const FLOW_SLICE_RECORDS = 2048;

/** A monotonic engine timestamp (ms) as wall-clock ISO text; null for 0 (never). */
function wallTime(monotonic: number): string | null {
  return monotonic === 0 ? null : new Date(Date.now() - (monotonicMs() - monotonic)).toISOString();
}

// ------------------------------------------------------------------ NDP

export interface ProxiedAddress {
  address: string;
  /** Who claims it: a container's name, or what sixgate knows of it. */
  owner: string | null;
  answered: number;
  defended: number;
  /** Wall-clock time of the last answer or DAD defence; null if none yet. */
  lastAnswer: string | null;
}

export interface NdpInterfaceStatus {
  name: string;
  rules: { rule: string; method: string; answered: number; sessions: number; limited: number }[];
  addresses: ProxiedAddress[];
}

function ndpInterfaces(ndp: NdpService, owner: (address: string) => string | undefined): NdpInterfaceStatus[] {
  ndp.refreshCounters();
  return [...ndp.interfaceIds].map(([name, id]) => ({
    name,
    rules: ndp.engine.ruleStats(id),
    addresses: ndp.engine.addresses.stats(id).map((a) => ({
      address: a.address, owner: owner(a.address) ?? null, answered: a.answered, defended: a.defended, lastAnswer: wallTime(a.lastAnswered),
    })),
  }));
}

export interface NdpSessionView {
  uplink: string;
  target: string;
  state: string;
  rule: string;
  ageMs: number;
  expiresInMs: number;
}

/** ndppd's session list: target, state, the rule that made it, age. */
export function ndpSessions(ndp: NdpService | undefined): NdpSessionView[] {
  if (ndp === undefined) return [];
  const names = new Map([...ndp.interfaceIds].map(([name, id]) => [id, name]));
  const now = monotonicMs();
  return ndp.engine.sessionList().map((s) => ({
    uplink: names.get(s.uplink) ?? String(s.uplink), target: s.target, state: s.state, rule: s.rule,
    ageMs: Math.max(0, Math.round(now - s.created)), expiresInMs: Math.max(0, Math.round(s.expires - now)),
  }));
}

// ------------------------------------------------------------------ NAT66

export interface PublishedView {
  protocol: string;
  /** "[addr]:port", or "*:port" for every external address of the network. */
  host: string;
  container: string;
  containerName: string | null;
}

export interface NetworkView {
  name: string;
  id: string | null;
  bridge: string;
  /** masquerade (dedicated|host), nptv6, ndp (routed, proxied), docker (Docker's own NAT), none (left alone). */
  mode: string;
  subnets: string[];
  externalAddresses: string[];
  /** External addresses of a prefix being retired: their connections carry on, new ones leave from the others. */
  drainingAddresses: string[];
  externalPrefix: string | null;
  /** nptv6 auto: the upstream prefix its external prefix is derived from ('delegated' or 'on-link'), else null. */
  prefixFrom: string | null;
  /** Why sixgate leaves it (or a subnet of it) alone, when it does. */
  notes: string[];
  published: PublishedView[];
  containers: { name: string; id: string; addresses: string[] }[];
}

const endpoint = (address: string, port: number): string => `[${address}]:${port}`;

function natNetworks(model: ResolvedModel, containerOf: (address: string) => string | undefined): NetworkView[] {
  return model.networks.map((n) => ({
    name: n.name, id: null, bridge: n.bridge,
    mode: n.mode === 'nptv6' ? 'nptv6' : `masquerade (${n.addressMode})`,
    subnets: [...n.subnets], externalAddresses: [...n.externalAddresses], drainingAddresses: [...n.drainingAddresses ?? []],
    externalPrefix: n.externalPrefix ?? null, prefixFrom: n.prefixFrom ?? null, notes: [],
    published: model.published.filter((p) => n.subnets.some((s) => insidePrefix(p.insideAddress, s))).map((p) => ({
      protocol: p.protocol,
      host: p.externalAddress === undefined ? `*:${p.externalPort}` : endpoint(p.externalAddress, p.externalPort),
      container: endpoint(p.insideAddress, p.insidePort),
      containerName: containerOf(p.insideAddress) ?? null,
    })),
    containers: [],
  }));
}

function insidePrefix(address: string, prefix: string): boolean {
  const p = parseIpv6Prefix(prefix);
  return matchesPrefix(parseIpv6(address), 0, p.address, 0, p.length);
}

/** Docker's networks as the feed sees them, joined with what the data path made of them. */
function dockerNetworks(snapshot: FeedSnapshot, model: ResolvedModel | undefined): NetworkView[] {
  const resolved = new Map((model?.networks ?? []).map((n) => [n.name, n]));
  return snapshot.networks.map((net) => {
    const services = new Set(net.subnets.map((s) => s.service));
    const r = resolved.get(net.name);
    const nptv6 = (model?.networks ?? []).filter((n) => n.name.startsWith(`${net.name}/nptv6:`));
    const mode = net.dockerNat ? 'docker' : r !== undefined ? `masquerade (${r.addressMode})`
      : services.has('nptv6') ? 'nptv6' : services.has('nat66') ? 'masquerade (not applied)' : services.has('ndp') ? 'ndp'
        : services.has('shim') ? `shim (${net.driver} on ${net.bridge})` : 'none';
    const containers = new Map<string, { name: string; id: string; addresses: string[] }>();
    for (const a of snapshot.addresses) {
      if (a.networkId !== net.id) continue;
      const c = containers.get(a.containerId) ?? { name: a.containerName, id: a.containerId.slice(0, 12), addresses: [] };
      c.addresses.push(a.address);
      containers.set(a.containerId, c);
    }
    return {
      name: net.name, id: net.id.slice(0, 12), bridge: net.bridge, mode,
      subnets: net.subnets.map((s) => `${s.prefix} ${s.service}`),
      externalAddresses: [...(r?.externalAddresses ?? [])],
      drainingAddresses: [...(r?.drainingAddresses ?? [])],
      externalPrefix: nptv6.map((n) => n.externalPrefix).filter((p) => p !== undefined).join(', ') || null,
      prefixFrom: nptv6.map((n) => n.prefixFrom).find((p) => p !== undefined) ?? null,
      notes: net.subnets.filter((s) => s.reason !== '').map((s) => `${s.prefix}: ${s.reason}`),
      published: snapshot.ports.filter((p) => p.networkId === net.id).map((p) => ({
        protocol: p.protocol,
        host: p.hostAddress === null ? `*:${p.hostPort}` : endpoint(p.hostAddress, p.hostPort),
        container: endpoint(p.containerAddress, p.containerPort),
        containerName: p.containerName,
      })),
      containers: [...containers.values()],
    };
  });
}

export interface FlowFilter {
  readonly proto?: string;
  readonly port?: number;
  readonly container?: string;
}

export type FlowView = SessionInfo & { container: string | null };

/** The request's filters, checked (a bad one is a bad-request answer). */
export function flowFilter(request: ControlRequest): FlowFilter {
  const { proto, port, container } = request;
  if (proto !== undefined && (typeof proto !== 'string' || !PROTO_CLASS_NAMES.includes(proto))) {
    throw new ControlError('bad-request', `proto must be one of ${PROTO_CLASS_NAMES.join(', ')}`);
  }
  if (port !== undefined && (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535)) {
    throw new ControlError('bad-request', 'port must be an integer in 0..65535');
  }
  if (container !== undefined && (typeof container !== 'string' || container.length > 255)) {
    throw new ControlError('bad-request', 'container must be a container name or id');
  }
  return { ...(proto === undefined ? {} : { proto }), ...(port === undefined ? {} : { port }), ...(container === undefined ? {} : { container }) };
}

function addressWords(text: string): Uint32Array {
  const words = new Uint32Array(4);
  readAddressWords(parseIpv6(text), 0, words, 0);
  return words;
}

/**
 * The data path's sessions matching `filter`, FLOW_SLICE_RECORDS records
 * per event-loop turn. `containers` names inside addresses (run only).
 * Ends early if the engine is replaced meanwhile (its table goes with it).
 */
async function* flowSlices(datapath: () => DatapathService | undefined, filter: FlowFilter,
  containers: ReadonlyMap<string, { name: string; id: string }>): AsyncIterable<FlowView[]> {
  const service = datapath();
  if (service === undefined) return;
  const engine = service.engine;
  const proto = filter.proto === undefined ? -1 : PROTO_CLASS_NAMES.indexOf(filter.proto);
  let inside: Uint32Array[] | undefined;
  if (filter.container !== undefined) {
    const c = filter.container;
    inside = [...containers].filter(([, v]) => v.name === c || v.id.startsWith(c)).map(([address]) => addressWords(address));
    if (inside.length === 0) return;
  }
  const port = filter.port ?? -1;
  const workers = service.packetWorkers;
  if (workers !== undefined) {
    // The shards' tables are in their workers: each sends its sessions, filtered here.
    const wanted = inside?.map((w) => w.join());
    const keepInfo = (s: SessionInfo): boolean => (proto < 0 || s.protocol === filter.proto)
      && (port < 0 || s.insidePort === port || s.remotePort === port || s.externalPort === port)
      && (wanted === undefined || wanted.includes(addressWords(s.inside).join()));
    const found = (await workers.listSessions()).filter(keepInfo);
    for (let at = 0; at < found.length; at += FLOW_SLICE_RECORDS) {
      yield found.slice(at, at + FLOW_SLICE_RECORDS).map((s) => ({ ...s, container: containers.get(s.inside)?.name ?? null }));
    }
    return;
  }
  const keep = (rec: Uint32Array, o: number): boolean => {
    if (proto >= 0 && ((rec[o + R.META]! >>> 12) & 0xf) !== proto) return false;
    if (port >= 0) {
      const ports = rec[o + R.PORTS]!;
      if (ports >>> 16 !== port && (ports & 0xffff) !== port && rec[o + R.EXT]! >>> 16 !== port) return false;
    }
    return inside === undefined || inside.some((w) => w[0] === rec[o + R.IN_ADDR] && w[1] === rec[o + R.IN_ADDR + 1]
      && w[2] === rec[o + R.IN_ADDR + 2] && w[3] === rec[o + R.IN_ADDR + 3]);
  };
  const table = engine.table;
  for (let from = 1; from <= table.capacity;) {
    if (datapath()?.engine !== engine) return;
    const found: SessionInfo[] = [];
    from = sessionSlice(table, engine.cfg.extWords, Math.floor(monotonicMs() / TICK_MS), from, FLOW_SLICE_RECORDS, found, keep);
    yield found.map((s) => ({ ...s, container: containers.get(s.inside)?.name ?? null }));
    await nextTurn();
  }
}

export type FlowEvent = FlowView & { event: 'new' | 'update' | 'destroy' };

const sameFlow = (a: FlowView, b: FlowView): boolean => a.protocol === b.protocol && a.inside === b.inside && a.insidePort === b.insidePort
  && a.remote === b.remote && a.remotePort === b.remotePort && a.externalPort === b.externalPort;

/**
 * Sessions opening, changing TCP state and closing, as `conntrack -E` shows
 * them: the table is compared with the last look every WATCH_INTERVAL_MS
 * (walked in slices like a listing), so a session shorter than that may go
 * unseen. Never ends; an empty part is a heartbeat.
 */
async function* flowEvents(datapath: () => DatapathService | undefined, filter: FlowFilter,
  containers: () => ReadonlyMap<string, { name: string; id: string }>): AsyncIterable<FlowEvent[]> {
  let known: Map<number, FlowView> | undefined;
  for (;;) {
    const seen = new Map<number, FlowView>();
    for await (const part of flowSlices(datapath, filter, containers())) {
      for (const f of part) seen.set(f.id, f);
      if (seen.size > WATCH_MAX_SESSIONS) {
        throw new ControlError('too-many', `more than ${WATCH_MAX_SESSIONS} sessions to watch: narrow it with --container, --proto or --port`);
      }
    }
    const events: FlowEvent[] = [];
    if (known !== undefined) {
      for (const [id, f] of seen) {
        const old = known.get(id);
        if (old === undefined || !sameFlow(old, f)) {
          if (old !== undefined) events.push({ ...old, event: 'destroy' });
          events.push({ ...f, event: 'new' });
        } else if (old.state !== f.state) {
          events.push({ ...f, event: 'update' });
        }
      }
      for (const [id, old] of known) if (!seen.has(id)) events.push({ ...old, event: 'destroy' });
    }
    known = seen;
    yield events;
    await sleep(WATCH_INTERVAL_MS);
  }
}

// ------------------------------------------------------------------ ops

/** What `sixgate capture` taps: the NAT66 loop and the NDP proxy, those that run. */
function captureSources(datapath: DatapathService | undefined, ndp: NdpService | undefined): CaptureSource[] {
  const out: CaptureSource[] = [];
  if (datapath !== undefined) out.push({ component: 'nat66', tap: datapath.packetWorkers?.capture ?? datapath.loop.capture, interfaceName: () => datapath.tun.name });
  if (ndp !== undefined) {
    out.push({
      component: 'ndp', tap: ndp.capture,
      interfaceName: (id) => [...ndp.interfaceIds].find(([, i]) => i === id)?.[0] ?? `link ${id}`,
    });
  }
  return out;
}

function capture(request: ControlRequest, sources: () => CaptureSource[], kinds: readonly CaptureComponent[]): ControlAnswer {
  return { stream: captureStream(sources, kinds, captureRequest(request)) };
}

function counters(metrics: readonly Metric[]): ControlAnswer {
  return { result: { counters: counterValues(metrics) } };
}

/** `sixgate run`: status (uplink, Docker networks, containers, ports, proxied addresses, health), flows, ndp-sessions, counters. */
/** A macvlan/ipvlan network's shim, its routes or why it is missing, and address conflicts, as notes. */
function withShims(networks: NetworkView[], shims: SixgateDaemon['shims']): NetworkView[] {
  for (const n of networks) {
    const s = shims.status.find((x) => x.network === n.name);
    if (s !== undefined) n.notes.push(s.problem === '' ? `shim ${s.shim}: ${s.routes.length} route(s)` : `no shim: ${s.problem}`);
    for (const c of shims.conflicts.filter((x) => x.network === n.name)) {
      n.notes.push(`conflict: ${c.address} (${c.container}) is held on ${c.parent} by ${c.holders.join(', ')}: not routed`);
    }
  }
  return networks;
}

export function runOps(daemon: SixgateDaemon, metrics: readonly Metric[]): Record<string, ControlOp> {
  const containerMap = (): Map<string, { name: string; id: string }> =>
    new Map(daemon.feed.snapshot().addresses.map((a) => [a.address, { name: a.containerName, id: a.containerId }]));
  return {
    status: async () => {
      const snapshot = daemon.feed.snapshot();
      const owners = new Map(snapshot.addresses.map((a) => [a.address, `container ${a.containerName}`]));
      for (const n of daemon.datapath?.model.networks ?? []) for (const a of n.externalAddresses) owners.set(a, `nat66 ${n.name}`);
      const ndp = daemon.ndp === undefined ? [] : ndpInterfaces(daemon.ndp, (a) => owners.get(a));
      return {
        result: {
          daemon: 'run', pid: process.pid, health: daemon.status(),
          uplinks: [{
            name: daemon.uplink, prefixes: await uplinkPrefixes(daemon.uplink).catch(() => []), upstream: await upstreamPrefixes(daemon.uplink),
            delegation: daemon.delegation?.status() ?? null,
            ndp: ndp.find((i) => i.name === daemon.uplink) ?? null,
          }],
          networks: withShims(dockerNetworks(snapshot, daemon.datapath?.model), daemon.shims).map((n) => (daemon.outsidePrefix.has(n.name)
            ? { ...n, notes: [...n.notes, 'outside the upstream prefixes since they changed: re-create it with a subnet of the current prefix, or as a ULA network labelled sixgate.nptv6=auto'] }
            : n)),
          nat: natSummary(daemon.datapath),
        },
      };
    },
    flows: (request) => {
      const filter = flowFilter(request);
      return { stream: flowSlices(() => daemon.datapath, filter, containerMap()) };
    },
    'flows-watch': (request) => ({ stream: flowEvents(() => daemon.datapath, flowFilter(request), containerMap) }),
    'ndp-sessions': () => ({ result: ndpSessions(daemon.ndp) }),
    counters: () => counters(metrics),
    capture: (request) => capture(request, () => captureSources(daemon.datapath, daemon.ndp), ['nat66', 'ndp']),
  };
}

function natSummary(service: DatapathService | undefined): { sessions: number; capacity: number; tun: string; offload: string; offloadedSessions: number } | null {
  return service === undefined ? null : {
    sessions: service.sessionCount, capacity: service.engine.table.capacity * (service.packetWorkers?.count ?? 1), tun: service.tun.name,
    offload: service.offloadState, offloadedSessions: service.offloadedSessions,
  };
}

/** `sixgate nat`: status (networks, published ports, the NDP answers for its external addresses, health), flows, counters. */
export function natOps(service: DatapathService, metrics: readonly Metric[], delegation?: PrefixDelegation): Record<string, ControlOp> {
  return {
    status: async () => {
      const model = service.model;
      const owners = new Map(model.networks.flatMap((n) => n.externalAddresses.map((a) => [a, `nat66 ${n.name}`] as const)));
      const ndp = service.ndpProxy === undefined ? [] : ndpInterfaces(service.ndpProxy, (a) => owners.get(a));
      const health = service.health();
      const status: HealthStatus = { state: health.ok ? 'ready' : 'degraded', components: { nat66: health } };
      return {
        result: {
          daemon: 'nat', pid: process.pid, health: status,
          uplinks: [{
            name: model.uplink, prefixes: [], upstream: await upstreamPrefixes(model.uplink), delegation: delegation?.status() ?? null,
            ndp: ndp.find((i) => i.name === model.uplink) ?? null,
          }],
          networks: natNetworks(model, () => undefined),
          nat: natSummary(service),
        },
      };
    },
    flows: (request) => ({ stream: flowSlices(() => service, flowFilter(request), new Map()) }),
    'flows-watch': (request) => ({ stream: flowEvents(() => service, flowFilter(request), () => new Map()) }),
    'ndp-sessions': () => ({ result: ndpSessions(service.ndpProxy) }),
    counters: () => counters(metrics),
    capture: (request) => capture(request, () => captureSources(service, service.ndpProxy), ['nat66', 'ndp']),
  };
}

/** `sixgate ndp`: status (interfaces, rules, exact addresses, health), ndp-sessions, counters. */
export function ndpOps(service: NdpService, metrics: readonly Metric[]): Record<string, ControlOp> {
  return {
    status: () => {
      const failed = service.failedInterfaces;
      const ndp: HealthStatus['components'] = { ndp: failed.length === 0 ? { ok: true } : { ok: false, detail: `sockets on ${failed.join(', ')} failed, reopening` } };
      return {
        result: {
          daemon: 'ndp', pid: process.pid, health: { state: failed.length === 0 ? 'ready' : 'degraded', components: ndp },
          uplinks: ndpInterfaces(service, () => undefined).map((i) => ({ name: i.name, prefixes: [], ndp: i })),
          networks: [], nat: null,
        },
      };
    },
    'ndp-sessions': () => ({ result: ndpSessions(service) }),
    counters: () => counters(metrics),
    capture: (request) => capture(request, () => captureSources(undefined, service), ['ndp']),
  };
}
