// The NDP proxy wired to the host: the pure engine (src/ndp/engine.ts) fed
// from AF_PACKET sockets, its actions sent back as whole frames, its
// membership changes and routes applied (through src/host). One packet socket per interface the engine uses (uplinks
// receive NS, inner interfaces NA; a BPF filter in the kernel passes nothing
// else), plus one ICMPv6 socket per uplink that holds the solicited-node
// group memberships (so MLD reports go out, RFC 4861 §7.2.8). Every answer
// is a whole frame: the solicitor's MAC is in the NS or its frame.
//
// An uplink has a second packet socket, the priority socket: its filter
// passes only NS for the exact addresses the engine answers at once, and the
// first socket's filter leaves those out (bpf.ts nsTargetFilters; both
// rebuilt when the addresses change). It is read before every batch of the
// first, so an NS for a container's address never queues behind a flood of
// NS for random targets.
//
// On an uplink whose kernel takes it, a tc program answers NS for those same
// exact addresses in softirq (ndp-responder.ts): the common case never
// reaches the sockets, so neither a flood nor the scheduler delays it. It is
// off while someone watches the slow path (debug logging of every answer, a
// `sixgate capture` of every packet) or with kernelAnswers 'off'; the
// kernel's answers are credited to the engine's counters (foldKernelAnswers).
//
// Interface flags are never set with SIOCSIFFLAGS as ndppd does: ALLMULTI
// and PROMISC are PACKET_ADD_MEMBERSHIP references the kernel drops when the
// socket closes, so even a crash leaves the interface as it was.
//
// Per wake-up: read a batch (on an uplink, what the priority socket holds,
// then FLOOD_BATCH frames of the other), run it through the engine with one
// `now`, send what it queued, up to RX_SLOTS * RX_BATCHES frames; then run
// due timers and send every queued frame with one call per interface.
//
// One service per host: every part of sixgate that needs an address or a
// prefix answered feeds it through its NdpSources (src/proxy/sources.ts), so
// each NS is validated once and counted in one set of counters per uplink.
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { PacketSocket, PacketMeta, PktType } from '../io/packet.js';
import { Icmp6Socket } from '../io/icmp6.js';
import { Counter, PacketRing, META_STRIDE } from '../io/ring.js';
import { icmp6Filter, Icmp6Type, MAX_INSNS, nsTargetFilters, type NsTargetFilters } from '../io/bpf.js';
import { hwaddr, ifIndex } from '../io/netif.js';
import { CaptureTap, NOT_DROPPED } from '../io/capture.js';
import { formatIpv6, matchesPrefix, parseIpv6 } from '../wire/address.js';
import { HEADER_LEN as ETH_LEN } from '../wire/ethernet.js';
import { ConfigError, NativeIoError } from '../errors.js';
import { ActionKind, IP_OFFSET, SendPurpose } from '../ndp/actions.js';
import { F as IP, HEADER_LEN as IP_HEADER_LEN } from '../wire/ipv6.js';
import { F as ND, NaFlag } from '../wire/ndp.js';
import { MAX_INTERFACES, NdpDrop, NdpEvent } from '../ndp/counters.js';
import { NdpResponder, type ResponderStats } from './ndp-responder.js';
import { NdpEngine, type NdpEngineOptions, type UplinkSpec } from '../ndp/engine.js';
import { parseNdppdConfig, type NdppdConfig, type ProxyConfig, type RuleConfig } from '../ndp/ndppd-conf.js';
import { ipBatch } from '../host/run.js';
import { NdpSources, type SourcesListener } from './sources.js';
import {
  globalAddresses, linkLocalAddresses, readRoutes, routeRemoveLine, routeReplaceLines, watchRoutes, type HostRoute,
} from '../host/interfaces.js';

export interface NdpServiceOptions {
  readonly config: NdppdConfig;
  readonly logger: Logger;
  /** Monotonic milliseconds; the CLI passes monotonicMs. */
  readonly now: () => number;
  readonly engine?: NdpEngineOptions;
  /** Extra exact addresses per uplink name, answered like static /128 rules. */
  readonly addresses?: ReadonlyMap<string, readonly Uint8Array[]>;
  /** Source of the NAs sent: the target (default) or the uplink's link-local address. */
  readonly naSource?: 'target' | 'link-local';
  /** Addresses and prefixes other parts of sixgate claim (default: a set of its own, fed through add/remove). */
  readonly sources?: NdpSources;
  /** Answer NS for exact addresses in the kernel where it takes the program (default 'auto'; see the header). */
  readonly kernelAnswers?: 'auto' | 'off';
}

interface Link {
  readonly id: number;
  readonly name: string;
  readonly ifindex: number;
  readonly packet: PacketSocket;
  /** Uplinks only: NS for the exact addresses, read first (see the header). */
  readonly priority: PacketSocket | null;
  /** Uplinks only: the filters attached to `packet` and `priority`. */
  filters: NsTargetFilters | null;
  /** Uplinks only. */
  readonly icmp: Icmp6Socket | null;
  /** Uplinks only, while kernel answers are on: the tc program answering the exact addresses. */
  responder: NdpResponder | null;
  readonly uplink: boolean;
  readonly inner: boolean;
  readonly promisc: boolean;
}

// One wake-up reads up to RX_SLOTS * RX_BATCHES frames: big batches amortise
// the poll and native call; the bound keeps timers and other sockets fed.
const RX_SLOTS = 256;
const RX_BATCHES = 4;
/** An uplink's other socket is read in smaller batches, the priority socket before each: an NS for an exact address waits for one at most. */
const FLOOD_BATCH = 64;
const RX_SLOT_SIZE = 2048;
/** An uplink's priority socket: a burst of NS for every exact address at once (a router after its restart) fits. */
const PRIORITY_RCVBUF = 1 << 20;
/**
 * An uplink's other socket: rides out a few ms of an NS flood between
 * wake-ups. Only prefix-ruled targets queue here, and for them late beats
 * dropped (a static prefix's members keep being answered through a flood,
 * test/proxy/ndp-service.test.ts); 256 KiB lost 10 % of them.
 */
const FLOOD_RCVBUF = 4 << 20;
/** How often the kernel's receive-buffer drops and answers are read (a system call per socket, so not per wake-up). */
const OVERFLOW_POLL_MS = 1000;
/** A reader of the counters (metrics, the counters line) reads the kernel's anew at most this often. */
const COUNTERS_REFRESH_MS = 100;

/** The source add() and remove() claim for when the caller names none. */
const API_SOURCE = 'api';

export class NdpService implements SourcesListener {
  readonly engine: NdpEngine;
  readonly sources: NdpSources;
  /** `sixgate capture`: the frames the engine dropped (or every frame it read), link id as interface. */
  readonly capture = new CaptureTap();
  /** ndppd.conf (or an uplink with no rules); the sources' claims come on top (see NdpSources.configWith). */
  private config: NdppdConfig;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly extra: ReadonlyMap<string, readonly Uint8Array[]>;
  private readonly naSource: 'target' | 'link-local';
  private readonly ids = new Map<string, number>();
  private readonly links: (Link | undefined)[] = new Array(MAX_INTERFACES);
  private readonly rx = new PacketRing({ slots: RX_SLOTS, slotSize: RX_SLOT_SIZE });
  private readonly tx: PacketRing;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private routeRefresh: NodeJS.Timeout | undefined;
  private recovery: NodeJS.Timeout | undefined;
  private localRefresh: NodeJS.Timeout | undefined;
  private overflowPoll: NodeJS.Timeout | undefined;
  /** The local addresses last configured (see localAddresses), to spot changes. */
  private localKey = '';
  /** The uplinks of the configuration in force. */
  private uplinkNames = new Set<string>();
  private routes: readonly HostRoute[] = [];
  private stopWatching: (() => void) | undefined;
  /** Routes installed by autowire, "target dev" -> removal line, undone on stop. */
  private readonly wired = new Map<string, string>();
  private ipQueue: Promise<void> = Promise.resolve();
  /** Reconfigurations run one at a time (reload, a source's prefixes). */
  private applyQueue: Promise<void> = Promise.resolve();
  /** A reconfiguration for an uplink new to the sources is queued. */
  private reconfiguring = false;
  private stopped = false;
  /** -v: each answer is logged as it leaves (decided once: nothing is read per flush otherwise). */
  private readonly logAnswers: boolean;
  /** The uplinks' filters are rebuilt on the next turn of the event loop (once for a burst of address changes). */
  private retargeting: NodeJS.Immediate | undefined;
  /** When the kernel's drops and answers were last read (countOverflows). */
  private countedAt = Number.NEGATIVE_INFINITY;
  /** Whether the uplinks' tc programs may answer, and why (or why not): set once, off for good after a refusal. */
  private kernelAnswers: { on: boolean; reason: string };
  /** The start-up line has said whether the kernel answers: a later refusal needs a line of its own. */
  private kernelAnswersLogged = false;

  private constructor(options: NdpServiceOptions) {
    this.config = options.config;
    // A capture of every packet takes the answers back from the kernel (watchChanged).
    this.capture.onActive = () => this.watchChanged();
    this.log = options.logger;
    this.logAnswers = options.logger.isLevelEnabled('debug');
    this.now = options.now;
    this.extra = options.addresses ?? new Map();
    this.naSource = options.naSource ?? 'target';
    this.engine = new NdpEngine(options.engine);
    this.tx = new PacketRing({ slots: this.engine.actions.capacity, slotSize: 256 });
    this.kernelAnswers = options.kernelAnswers === 'off' ? { on: false, reason: 'kernelAnswers off' }
      : this.logAnswers ? { on: false, reason: 'debug log: every answer is logged from user space' }
        : { on: true, reason: 'tc program on the uplinks\' ingress' };
    this.sources = options.sources ?? new NdpSources();
    this.sources.attach(this);
    this.overflowPoll = setInterval(() => this.countOverflows(), OVERFLOW_POLL_MS);
    this.overflowPoll.unref();
  }

  /** Opens the sockets, configures the engine and starts answering. Throws ConfigError or NativeIoError. */
  static async start(options: NdpServiceOptions): Promise<NdpService> {
    const service = new NdpService(options);
    try {
      await service.apply(options.config);
    } catch (err) {
      await service.stop();
      throw err;
    }
    const k = service.kernelAnswers;
    service.log.info({ kernelAnswers: k.on ? 'on' : 'off' }, `kernelAnswers=${k.on ? 'on' : 'off'} (${k.reason})`);
    service.kernelAnswersLogged = true;
    return service;
  }

  /**
   * SIGHUP: applies a new configuration. Sessions still covered by a rule
   * keep their state; interfaces no longer used are closed. On failure the
   * previous configuration stays in force.
   */
  reload(config: NdppdConfig): Promise<void> {
    return this.serialized(async () => {
      const previous = this.config;
      try {
        await this.apply(config);
      } catch (err) {
        await this.apply(previous);
        throw err;
      }
    });
  }

  /**
   * `source` claims `addr` on `uplink` (see NdpSources.add). True when the
   * address is answered now: false while the uplink's sockets are not open
   * (it is answered once they are).
   */
  add(uplink: string, addr: Uint8Array, source = API_SOURCE): boolean {
    this.sources.add(source, uplink, addr);
    const id = this.ids.get(uplink);
    return id !== undefined && this.engine.addresses.find(id, addr, 0) >= 0;
  }

  /** `source` withdraws its claim; true when the address is no longer answered (no other source claims it). */
  remove(uplink: string, addr: Uint8Array, source = API_SOURCE): boolean {
    return this.sources.remove(source, uplink, addr);
  }

  // SourcesListener: the sources call these on every change.

  added(uplink: string, addr: Uint8Array): void {
    const id = this.ids.get(uplink);
    if (id === undefined || !this.uplinkNames.has(uplink)) {
      // An uplink only the sources name: its sockets open with the next configuration (one for a burst of addresses).
      if (!this.reconfiguring) {
        this.reconfiguring = true;
        void this.prefixesChanged().finally(() => { this.reconfiguring = false; });
      }
      return;
    }
    this.engine.add(id, addr);
    this.flush();
    this.scheduleRetarget();
  }

  removed(uplink: string, addr: Uint8Array): void {
    const id = this.ids.get(uplink);
    if (id === undefined) return;
    this.engine.remove(id, addr);
    this.flush();
    // Withdrawn (a container gone, maybe to another host): the kernel stops answering it now, not with the filters.
    const link = this.links[id];
    if (link?.responder != null && this.engine.addresses.find(id, addr, 0) < 0) {
      try {
        link.responder.forget(addr, (target, n) => this.creditKernelAnswers(link, target, n));
      } catch (err) {
        this.log.warn({ err, iface: link.name }, 'could not update the kernel\'s NDP targets');
      }
    }
    this.scheduleRetarget();
  }

  prefixesChanged(): Promise<void> {
    return this.serialized(async () => {
      try {
        await this.apply(this.config);
      } catch (err) {
        // A missing interface: recovery opens it when it is back (failedInterfaces says so meanwhile).
        this.log.warn({ err: (err as Error).message }, 'could not apply the new addresses; retrying');
        this.scheduleRecovery();
      }
    });
  }

  private serialized(work: () => Promise<void>): Promise<void> {
    const next = this.applyQueue.then(() => (this.stopped ? undefined : work()));
    this.applyQueue = next.catch(() => {});
    return next;
  }

  /** Interfaces whose sockets failed and wait for recovery (health: the proxy is down on them). */
  get failedInterfaces(): string[] {
    return [...this.ids].filter(([, id]) => this.links[id] === undefined).map(([name]) => name);
  }

  /** Each interface the engine counts for, by name, and its id in the engine's counters (the counter registry). */
  get interfaceIds(): ReadonlyMap<string, number> {
    return this.ids;
  }

  /** Brings the engine's counters up to date with the kernel's drops and answers, for a reader (at most every COUNTERS_REFRESH_MS). */
  refreshCounters(): void {
    if (this.now() - this.countedAt >= COUNTERS_REFRESH_MS) this.countOverflows();
  }

  /** Rules, exact addresses and sessions per interface name (control path; the counters are in src/service/counters.ts). */
  stats(): Record<string, unknown> {
    this.countOverflows();
    const out: Record<string, unknown> = {};
    for (const [name, id] of this.ids) {
      const link = this.links[id];
      const kernel = link?.responder == null ? null : this.foldKernelAnswers(link);
      out[name] = {
        rules: this.engine.ruleStats(id),
        addresses: this.engine.addresses.stats(id),
        ...(link?.filters != null && link.priority !== null ? {
          priority: {
            match: link.filters.match, omitted: link.filters.omitted, received: link.priority.counters[Counter.RxPackets],
          },
        } : {}),
        ...(kernel !== null ? { kernel: { attached: link!.responder!.attached, ...kernel } } : {}),
      };
    }
    const sessions = this.engine.sessionList();
    // A state dump, bounded: a flood can hold thousands of (mostly invalid) sessions.
    return { interfaces: out, sessionCount: sessions.length, sessions: sessions.slice(0, 1000) };
  }

  /** Closes every socket (dropping ALLMULTI/PROMISC and group memberships) and removes the routes autowire added. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.sources.detach(this);
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.retargeting !== undefined) clearImmediate(this.retargeting);
    if (this.routeRefresh !== undefined) clearInterval(this.routeRefresh);
    if (this.recovery !== undefined) clearTimeout(this.recovery);
    if (this.localRefresh !== undefined) clearInterval(this.localRefresh);
    clearInterval(this.overflowPoll);
    this.stopWatching?.();
    for (let id = 0; id < MAX_INTERFACES; id++) this.closeLink(id);
    const lines = [...this.wired.values()];
    this.wired.clear();
    await this.ipQueue;
    if (lines.length > 0) {
      try {
        const { failed } = await ipBatch(lines, { force: true });
        if (failed.length > 0) this.log.warn({ failed }, 'could not remove every route autowire added');
      } catch (err) {
        this.log.warn({ err }, 'could not remove every route autowire added');
      }
    }
  }

  // ---------------------------------------------------------------- set-up

  private async apply(base: NdppdConfig): Promise<void> {
    const config = this.sources.configWith(base);
    const linkLocals = await linkLocalAddresses();
    const globals = await globalAddresses();
    const wanted = new Set<string>();
    const usesAuto = config.proxies.some((p) => p.rules.some((r) => r.method === 'auto'));
    const routes = usesAuto ? await readRoutes() : [];
    for (const p of config.proxies) {
      wanted.add(p.iface);
      for (const r of p.rules) if (r.iface !== null) wanted.add(r.iface);
    }
    for (const dev of this.routeDevices(config, routes)) wanted.add(dev);
    if (wanted.size > MAX_INTERFACES) throw new ConfigError(`${wanted.size} interfaces involved; at most ${MAX_INTERFACES} are supported`, { file: config.file });

    for (const [name, id] of this.ids) {
      if (!wanted.has(name)) {
        this.closeLink(id);
        this.ids.delete(name);
      }
    }
    const uplinks = new Set(config.proxies.map((p) => p.iface));
    const inner = new Set([...wanted].filter((name) => !uplinks.has(name)));
    for (const p of config.proxies) for (const r of p.rules) if (r.iface !== null) inner.add(r.iface);
    for (const name of wanted) {
      let id = this.ids.get(name);
      if (id === undefined) {
        id = this.freeId();
        this.ids.set(name, id);
      }
      let mac: Uint8Array;
      try {
        mac = hwaddr(name);
      } catch (err) {
        // The id stays reserved for the name: if the interface comes back, its sessions and addresses still apply.
        throw new ConfigError(`interface ${name}: ${(err as Error).message}`, { file: config.file });
      }
      this.engine.setInterface(id, { name, mac, linkLocal: linkLocals.get(name) ?? null });
      if (linkLocals.get(name) === undefined) this.log.warn({ iface: name }, 'no link-local address: probes cannot be sent from it');
      const link = this.links[id];
      const isUplink = uplinks.has(name);
      const isInner = inner.has(name);
      const promisc = config.proxies.find((p) => p.iface === name)?.promiscuous ?? false;
      if (link === undefined || link.uplink !== isUplink || link.inner !== isInner || link.promisc !== promisc) {
        this.closeLink(id);
        this.openLink(id, name, isUplink, isInner, promisc);
      }
    }

    const specs: UplinkSpec[] = config.proxies.map((p) => ({
      iface: this.ids.get(p.iface)!,
      router: p.router, timeout: p.timeout, ttl: p.ttl, deadtime: p.deadtime, retries: p.retries,
      keepalive: p.keepalive, autowire: p.autowire,
      rules: p.rules.map((r) => ({
        prefix: r.prefix, prefixLength: r.prefixLength, method: r.method, autovia: r.autovia, text: r.text,
        iface: r.iface === null ? -1 : this.ids.get(r.iface)!,
      })),
      addresses: [...(this.extra.get(p.iface) ?? []), ...this.localAddresses(p, routes, globals)],
      naSource: this.naSource,
    }));
    // The sources add static rules only, which have no local addresses: the base gives the same key as refreshLocals computes.
    this.localKey = this.localsKey(base, routes, globals);
    this.routes = routes;
    this.engine.setRoutes(this.routeSpecs(config, routes));
    this.engine.configure(specs);
    // Claimed again after every configuration: an uplink that left and came back forgot its addresses.
    // An uplink a source named while this configuration was being read has no id yet: configure again.
    let uplinkAdded = false;
    for (const uplink of this.sources.uplinks()) {
      const id = this.ids.get(uplink);
      if (id === undefined) {
        uplinkAdded = true;
        continue;
      }
      for (const addr of this.sources.addressesOf(uplink)) this.engine.add(id, addr);
    }
    if (uplinkAdded) void this.prefixesChanged();
    this.config = base;
    this.uplinkNames = uplinks;
    this.flush();
    // The kernel's targets and answers follow the configuration at once; the filters on the next turn.
    for (const link of this.links) if (link?.responder != null) this.syncResponder(link, this.exactTargets(link.id));
    this.scheduleRetarget();

    this.stopWatching?.();
    this.stopWatching = undefined;
    if (this.routeRefresh !== undefined) clearInterval(this.routeRefresh);
    this.routeRefresh = undefined;
    if (usesAuto) {
      // Event-driven (ip monitor), with route-ttl as a safety net in case an event is missed.
      this.stopWatching = watchRoutes(() => void this.refreshRoutes());
      this.routeRefresh = setInterval(() => void this.refreshRoutes(), config.routeTtl);
      this.routeRefresh.unref();
    }
    if (this.localRefresh !== undefined) clearInterval(this.localRefresh);
    this.localRefresh = undefined;
    if (config.proxies.some((p) => p.rules.some((r) => r.method !== 'static'))) {
      this.localRefresh = setInterval(() => void this.refreshLocals(), config.addressTtl);
      this.localRefresh.unref();
    }
    this.log.info({
      proxies: config.proxies.map((p) => ({ iface: p.iface, rules: p.rules.map((r) => `${r.text} ${r.method}${r.iface ? ` ${r.iface}` : ''}`) })),
      interfaces: [...this.ids.keys()],
    }, 'ndp proxy configured');
  }

  // Devices of the routes that can decide an `auto` rule's target.
  private routeDevices(config: NdppdConfig, routes: readonly HostRoute[]): Set<string> {
    const devs = new Set<string>();
    for (const p of config.proxies) {
      for (const r of p.rules) if (r.method === 'auto') for (const d of innerDevices(p, r, routes)) devs.add(d);
    }
    return devs;
  }

  // The host's own addresses on the inner side of iface/auto rules: nobody
  // there answers a probe for them (the host does not hear its own NS), so,
  // like ndppd's handle_local, they are answered at once.
  private localAddresses(p: ProxyConfig, routes: readonly HostRoute[], globals: ReadonlyMap<string, Uint8Array[]>): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (const r of p.rules) {
      if (r.method === 'static') continue;
      for (const dev of innerDevices(p, r, routes)) {
        for (const a of globals.get(dev) ?? []) if (matchesPrefix(a, 0, r.prefix, 0, r.prefixLength)) out.push(a);
      }
    }
    return out;
  }

  private localsKey(config: NdppdConfig, routes: readonly HostRoute[], globals: ReadonlyMap<string, Uint8Array[]>): string {
    return config.proxies.map((p) => `${p.iface}:${this.localAddresses(p, routes, globals).map((a) => formatIpv6(a, 0)).join(',')}`).join(' ');
  }

  // address-ttl: the host's addresses are re-read; the engine is reconfigured only when they changed.
  private async refreshLocals(): Promise<void> {
    if (this.stopped) return;
    try {
      const key = this.localsKey(this.config, this.routes, await globalAddresses());
      if (key !== this.localKey) await this.apply(this.config);
    } catch (err) {
      this.log.warn({ err }, 'could not refresh the local addresses');
    }
  }

  // Only routes that overlap an auto rule can decide one (a full table can hold 100k+ routes).
  private routeSpecs(config: NdppdConfig, routes: readonly HostRoute[]) {
    const autos = config.proxies.flatMap((p) => p.rules.filter((r) => r.method === 'auto'));
    return routes
      .filter((route) => this.ids.has(route.dev) && autos.some((r) =>
        matchesPrefix(route.prefix, 0, r.prefix, 0, Math.min(route.prefixLength, r.prefixLength))))
      .map((route) => ({ prefix: route.prefix, prefixLength: route.prefixLength, iface: this.ids.get(route.dev)! }));
  }

  private async refreshRoutes(): Promise<void> {
    if (this.stopped) return;
    try {
      const routes = await readRoutes();
      const devs = this.routeDevices(this.config, routes);
      if ([...devs].some((d) => !this.ids.has(d))) {
        await this.apply(this.config);
        return;
      }
      this.routes = routes;
      this.engine.setRoutes(this.routeSpecs(this.config, routes));
    } catch (err) {
      this.log.warn({ err }, 'could not refresh the routing table');
    }
  }

  private freeId(): number {
    const used = new Set(this.ids.values());
    for (let id = 0; id < MAX_INTERFACES; id++) if (!used.has(id)) return id;
    throw new ConfigError(`more than ${MAX_INTERFACES} interfaces`);
  }

  private openLink(id: number, name: string, uplink: boolean, inner: boolean, promisc: boolean): void {
    const ifindex = ifIndex(name);
    const types = icmpTypes(uplink, inner);
    // No exact targets yet: every NS takes the first socket until retarget() splits them.
    const filters = uplink ? nsTargetFilters([], { types }) : null;
    const packet = PacketSocket.open({ ifname: name, filter: filters?.rest ?? icmp6Filter({ types }), promisc });
    let priority: PacketSocket | null = null;
    let icmp: Icmp6Socket | null = null;
    try {
      if (filters !== null) {
        packet.setReceiveBuffer(FLOOD_RCVBUF);
        priority = PacketSocket.open({ ifname: name, filter: filters.priority });
        priority.setReceiveBuffer(PRIORITY_RCVBUF);
        // Only for group memberships: it reads and sends nothing.
        icmp = Icmp6Socket.open({ ifname: name, types: [] });
      }
    } catch (err) {
      packet.close();
      priority?.close();
      throw err;
    }
    const link: Link = { id, name, ifindex, packet, priority, filters, icmp, responder: null, uplink, inner, promisc };
    this.links[id] = link;
    if (uplink) this.openResponder(link);
    packet.onReadable((events) => this.readable(link, events));
    priority?.onReadable((events) => this.readablePriority(link, events));
    // Reopened after a failure or a role change: the old sockets took the memberships with them.
    for (const change of this.engine.membershipsOf(id)) this.applyMembership(change);
    this.log.debug({ iface: name, ifindex, uplink, inner, promisc }, 'listening');
  }

  private closeLink(id: number): void {
    const link = this.links[id];
    if (link === undefined) return;
    this.countOverflow(link);
    if (link.responder !== null) {
      this.foldKernelAnswers(link);
      link.responder.close();
    }
    link.packet.close();
    link.priority?.close();
    link.icmp?.close();
    this.links[id] = undefined;
  }

  // ------------------------------------------------------------- data path

  private readable(link: Link, events: number): void {
    if (events < 0) return this.failed(link, events);
    const now = this.now();
    const batch = link.priority === null ? RX_SLOTS : FLOOD_BATCH;
    for (let read = 0; read < RX_SLOTS * RX_BATCHES;) {
      if (link.priority !== null && this.receive(link, link.priority, now, RX_SLOTS) < 0) return;
      const n = this.receive(link, link.packet, now, batch);
      if (n < batch) break;
      read += n;
    }
    this.engine.tick(now);
    this.flush();
  }

  private readablePriority(link: Link, events: number): void {
    if (events < 0) return this.failed(link, events);
    const now = this.now();
    for (let batch = 0; batch < RX_BATCHES; batch++) {
      if (this.receive(link, link.priority!, now, RX_SLOTS) < RX_SLOTS) break;
    }
    this.engine.tick(now);
    this.flush();
  }

  private failed(link: Link, errno: number): void {
    // Typically the interface went away (ndppd 0.2 spins on POLLERR here).
    this.log.error({ iface: link.name, errno }, 'socket failed; closing it and retrying until the interface is back');
    this.closeLink(link.id);
    this.scheduleRecovery();
  }

  /** Reads up to `max` frames from `sock` into the engine and sends the answers at once, so their solicitors wait for no later batch. Frames read, or -1. */
  private receive(link: Link, sock: PacketSocket, now: number, max: number): number {
    const rx = this.rx;
    let n: number;
    try {
      n = sock.recv(rx, max);
    } catch (err) {
      this.log.error({ err, iface: link.name }, 'receive failed');
      return -1;
    }
    for (let i = 0; i < n; i++) {
      if (rx.meta[i * META_STRIDE + PacketMeta.PKTTYPE] === PktType.OUTGOING) continue;
      const off = rx.offset(i);
      const dropped = this.engine.receive(now, link.id, rx.buf, off + ETH_LEN, rx.lens[i]! - ETH_LEN, off + 6);
      if (this.capture.active) this.capture.offer(rx.buf, off, rx.lens[i]!, link.id, dropped === 0 ? NOT_DROPPED : dropped, 0, now);
    }
    if (this.engine.actions.count > 0) this.flush();
    return n;
  }

  private scheduleRetarget(): void {
    if (this.stopped || this.retargeting !== undefined) return;
    this.retargeting = setImmediate(() => {
      this.retargeting = undefined;
      for (const link of this.links) if (link !== undefined) this.retarget(link);
    });
  }

  /** The exact addresses the engine answers on interface `id`, copied out. */
  private exactTargets(id: number): Uint8Array[] {
    const table = this.engine.addresses.table;
    return this.engine.addresses.entriesOf(id).map((e) => {
      const t = new Uint8Array(16);
      table.copyAddress(e, t, 0);
      return t;
    });
  }

  /**
   * Splits the uplink's NS anew for the exact addresses the engine holds
   * now. A socket is charged for its old filter and its new one while they
   * swap (net.core.optmem_max), so long filters are swapped through the
   * pair for no targets: the other socket first takes every NS, then the
   * priority socket gets its new filter, then the other one its. Each NS
   * reaches at least one socket all along (an address new or gone may be
   * answered twice for that moment). A kernel that refuses a filter
   * (ENOMEM) gets shorter ones, down to none: the engine answers the
   * addresses left out from the other socket.
   */
  private retarget(link: Link): void {
    if (link.priority === null || link.filters === null) return;
    const targets = this.exactTargets(link.id);
    this.syncResponder(link, targets);
    const types = icmpTypes(true, link.inner);
    const none = nsTargetFilters([], { types });
    const previous = link.filters;
    for (let budget = MAX_INSNS; ; budget >>= 1) {
      const filters = nsTargetFilters(targets, { types }, budget);
      // After a refusal, always: the priority socket may hold a filter the record does not.
      if (budget < MAX_INSNS || Buffer.compare(filters.priority, link.filters.priority) !== 0) {
        try {
          link.packet.setFilter(none.rest);
          link.priority.setFilter(none.priority);
          link.filters = none;
          link.priority.setFilter(filters.priority);
          link.packet.setFilter(filters.rest);
          link.filters = filters;
        } catch (err) {
          if (err instanceof NativeIoError && err.errno === 'ENOMEM' && filters.omitted < targets.length) continue;
          // A failed socket: readable() reports it and recovery reopens it.
          this.log.warn({ err, iface: link.name }, 'could not update the priority filter');
          return;
        }
      }
      if (link.filters.match !== previous.match || link.filters.omitted !== previous.omitted) {
        const exact = link.filters.match === 'exact' && link.filters.omitted === 0;
        this.log[exact ? 'info' : 'warn']({ iface: link.name, match: link.filters.match, omitted: link.filters.omitted, addresses: targets.length },
          exact ? 'priority filter: every address matched exactly again' : 'priority filter: too many addresses to match each exactly in the kernel');
      }
      return;
    }
  }

  // Frames the kernel dropped since the last look, counted as the engine's
  // drops: a flood that outruns the wake-ups shows in the same table.
  private countOverflows(): void {
    this.countedAt = this.now();
    for (let id = 0; id < MAX_INTERFACES; id++) {
      const link = this.links[id];
      if (link === undefined) continue;
      this.countOverflow(link);
      if (link.responder !== null) this.foldKernelAnswers(link);
    }
  }

  // ------------------------------------------------------- kernel answers

  /** Loads and attaches the uplink's tc program; the first refusal turns kernel answers off for good, with one log line. */
  private openResponder(link: Link): void {
    // No hardware address: not an Ethernet device, whose frames the program could misread.
    if (!this.kernelAnswers.on || (this.engine.interfaceInfo(link.id)?.mac.every((b) => b === 0) ?? true)) return;
    let responder: NdpResponder | null = null;
    try {
      responder = NdpResponder.load(link.ifindex);
      if (!this.captureWatches()) responder.attach();
      link.responder = responder;
    } catch (err) {
      responder?.close();
      this.kernelAnswers = { on: false, reason: `the kernel refused the program: ${(err as Error).message}` };
      if (this.kernelAnswersLogged) this.log.warn({ iface: link.name }, `kernelAnswers=off (${this.kernelAnswers.reason})`);
    }
  }

  /** The responder answers the exact addresses as the engine would (its flags and source, the uplink's MAC). */
  private syncResponder(link: Link, targets: readonly Uint8Array[]): void {
    const up = this.engine.answerFrom(link.id);
    const info = this.engine.interfaceInfo(link.id);
    if (link.responder === null || up === undefined || info === undefined) return;
    try {
      link.responder.sync(targets, {
        mac: info.mac, flags: up.flags | NaFlag.Solicited, linkLocal: up.fromLinkLocal ? info.linkLocal : null,
      }, (target, n) => this.creditKernelAnswers(link, target, n));
    } catch (err) {
      this.log.warn({ err, iface: link.name }, 'could not update the kernel\'s NDP targets');
    }
  }

  /** The kernel's answers since the last look, counted as the engine counts its own, plus answered-in-kernel. */
  private foldKernelAnswers(link: Link): ResponderStats | null {
    try {
      return link.responder!.fold((target, n) => this.creditKernelAnswers(link, target, n));
    } catch (err) {
      this.log.warn({ err, iface: link.name }, 'could not read the kernel\'s NDP counters');
      return null;
    }
  }

  private creditKernelAnswers(link: Link, target: Uint8Array, n: number): void {
    const c = this.engine.counters;
    c.eventMany(link.id, NdpEvent.SolicitReceived, n);
    c.eventMany(link.id, NdpEvent.AdvertSent, n);
    c.eventMany(link.id, NdpEvent.AnsweredInKernel, n);
    const a = this.engine.addresses;
    const e = a.find(link.id, target, 0);
    if (e >= 0) {
      a.answered[e] += n;
      a.lastAnswered[e] = this.now();
    }
  }

  /** A capture of every packet shows what the engine reads: the kernel's answers must come through it meanwhile. */
  private captureWatches(): boolean {
    return this.capture.active && !this.capture.dropsOnly;
  }

  private watchChanged(): void {
    if (!this.links.some((link) => link?.responder != null)) return;
    const watch = this.captureWatches();
    for (const link of this.links) {
      if (link?.responder == null) continue;
      try {
        if (watch) link.responder.detach();
        else link.responder.attach();
      } catch (err) {
        this.log.warn({ err, iface: link.name }, 'could not attach the NDP responder again');
      }
    }
    this.log.info(`kernelAnswers=${watch ? 'paused (a capture of every packet runs)' : 'on again'}`);
  }

  private countOverflow(link: Link): void {
    try {
      const n = link.packet.takeDrops() + (link.priority?.takeDrops() ?? 0);
      if (n > 0) this.engine.counters.dropMany(link.id, NdpDrop.SocketOverflow, n);
    } catch {
      // A failed socket: readable() reports it and recovery reopens it.
    }
  }

  private scheduleRecovery(delayMs = 1000): void {
    if (this.stopped || this.recovery !== undefined) return;
    // Not unref'd: while an interface is missing, this timer is what keeps the daemon alive.
    this.recovery = setTimeout(() => {
      this.recovery = undefined;
      this.apply(this.config).then(
        () => this.log.info('all interfaces open again'),
        (err: unknown) => {
          this.log.debug({ err: (err as Error).message }, 'interfaces still missing');
          this.scheduleRecovery(5000);
        },
      );
    }, delayMs);
  }

  private onTimer(): void {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    this.engine.tick(this.now());
    this.flush();
  }

  private arm(): void {
    const at = this.engine.nextDeadline;
    if (this.stopped || at === Number.POSITIVE_INFINITY || at >= this.timerAt) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => this.onTimer(), Math.max(0, Math.ceil(at - this.now())));
  }

  /** Sends what the engine queued (one batch call per interface), then applies memberships and routes. */
  private flush(): void {
    const a = this.engine.actions;
    if (a.count > 0) {
      for (let id = 0; id < MAX_INTERFACES; id++) {
        const link = this.links[id];
        if (link !== undefined) this.sendFrames(link);
      }
      if (this.logAnswers) this.logSentAnswers();
      let routeLines: string[] | undefined;
      for (let i = 0; i < a.count; i++) {
        const kind = a.kind[i];
        if (kind === ActionKind.Send) continue;
        const link = this.links[a.iface[i]!];
        if (link === undefined) continue;
        const o = a.offset(i);
        const target = a.bytes.slice(o, o + 16);
        const key = `${formatIpv6(target, 0)} ${link.name}`;
        routeLines ??= [];
        if (kind === ActionKind.RouteReplace) {
          routeLines.push(...routeReplaceLines(target, link.name, a.hasVia[i] === 1 ? a.bytes.slice(o + 16, o + 32) : null));
          this.wired.set(key, routeRemoveLine(target, link.name));
        } else {
          routeLines.push(routeRemoveLine(target, link.name));
          this.wired.delete(key);
        }
      }
      a.clear();
      if (routeLines !== undefined) this.runIp(routeLines);
    }
    const changes = this.engine.takeMembershipChanges();
    for (let i = 0; i < changes.length; i++) this.applyMembership(changes[i]!);
    this.arm();
  }

  /** The answers among the frames just sent, one debug line each, read back from the frames. */
  private logSentAnswers(): void {
    const a = this.engine.actions;
    for (let i = 0; i < a.count; i++) {
      const purpose = a.purpose[i];
      if (a.kind[i] !== ActionKind.Send || (purpose !== SendPurpose.Answer && purpose !== SendPurpose.Defend)) continue;
      const ip = a.offset(i) + IP_OFFSET;
      this.log.debug({
        iface: this.links[a.iface[i]!]?.name, target: formatIpv6(a.bytes, ip + IP_HEADER_LEN + ND.TARGET), to: formatIpv6(a.bytes, ip + IP.DST),
      }, purpose === SendPurpose.Answer ? 'NDP answer sent' : 'DAD probe for an address in use: defended');
    }
  }

  private sendFrames(link: Link): void {
    const a = this.engine.actions;
    const tx = this.tx;
    let frames = 0;
    for (let i = 0; i < a.count; i++) {
      if (a.kind[i] !== ActionKind.Send || a.iface[i] !== link.id) continue;
      const len = a.frameLength[i]!;
      copy(a.bytes, a.offset(i), tx.buf, tx.offset(frames), len);
      tx.lens[frames++] = len;
    }
    try {
      if (frames > 0) link.packet.send(tx, 0, frames);
    } catch (err) {
      this.log.warn({ err, iface: link.name }, 'send failed');
    }
  }

  private applyMembership(change: ReturnType<NdpEngine['takeMembershipChanges']>[number]): void {
    const link = this.links[change.iface];
    if (link === undefined) return;
    try {
      if (change.kind === 'allmulti') {
        link.packet.setAllmulti(change.on);
      } else if (link.icmp !== null) {
        if (change.kind === 'join') link.icmp.join(change.group, link.ifindex);
        else link.icmp.leave(change.group, link.ifindex);
      }
      this.log.debug({ iface: link.name, change: change.kind, group: 'group' in change ? formatIpv6(change.group, 0) : undefined }, 'membership');
    } catch (err) {
      this.log.warn({ err, iface: link.name, change: change.kind }, 'membership change failed');
    }
  }

  // Route changes run one batch at a time, in order, off the packet path.
  private runIp(lines: string[]): void {
    this.ipQueue = this.ipQueue.then(async () => {
      try {
        // -force: one refused line (a route already gone) must not stop the rest of the batch.
        const { failed } = await ipBatch(lines, { force: true });
        if (failed.length > 0) this.log.warn({ failed, commands: lines }, 'route update failed');
        else this.log.info({ commands: lines }, 'routes updated');
      } catch (err) {
        this.log.warn({ err, commands: lines }, 'route update failed');
      }
    });
  }
}

/** The service's capture tap, telling it when a capture starts and stops. */

/** Uplinks hear NS, inner interfaces NA; the kernel filters out the rest. */
function icmpTypes(uplink: boolean, inner: boolean): number[] {
  return [...(uplink ? [Icmp6Type.NS] : []), ...(inner ? [Icmp6Type.NA] : [])];
}

/** The inner interfaces a rule probes: its `iface`, or for `auto` the devices of routes overlapping its prefix. */
function innerDevices(p: ProxyConfig, r: RuleConfig, routes: readonly HostRoute[]): string[] {
  if (r.method === 'iface') return [r.iface!];
  if (r.method !== 'auto') return [];
  const devs: string[] = [];
  for (const route of routes) {
    const len = Math.min(route.prefixLength, r.prefixLength);
    if (route.dev !== p.iface && !devs.includes(route.dev) && matchesPrefix(route.prefix, 0, r.prefix, 0, len)) devs.push(route.dev);
  }
  return devs;
}

// A byte loop: `set(subarray(...))` would create a view object per frame.
function copy(from: Uint8Array, fromOff: number, to: Uint8Array, toOff: number, len: number): void {
  for (let i = 0; i < len; i++) to[toOff + i] = from[fromOff + i]!;
}

/** Parses `--address IF=ADDR` values into the map NdpServiceOptions.addresses takes. Throws ConfigError. */
export function parseAddressOptions(values: readonly string[]): Map<string, Uint8Array[]> {
  const out = new Map<string, Uint8Array[]>();
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq <= 0) throw new ConfigError(`--address wants IFACE=ADDRESS, not ${JSON.stringify(v)}`);
    const list = out.get(v.slice(0, eq)) ?? [];
    list.push(parseIpv6(v.slice(eq + 1)));
    out.set(v.slice(0, eq), list);
  }
  return out;
}

/** Reads and parses an ndppd.conf file (the parser itself is pure, in src/ndp/ndppd-conf.ts). Throws ConfigError, also when the file cannot be read. */
export async function loadNdppdConfig(path: string): Promise<NdppdConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read the configuration: ${(e as Error).message}`, { file: path });
  }
  return parseNdppdConfig(text, path);
}
