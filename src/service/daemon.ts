// `sixgate run`: the Docker feed driving the NDP proxy and the NAT66 data
// path. The feed's deltas go two ways:
//   - addresses of global subnets inside the uplink's on-link prefix → the
//     NDP proxy answers for each exact /128 (added and removed one by one,
//     synchronously, so an answer exists as soon as the batch arrives);
//   - anything NAT-relevant (networks, published ports, a resync) → the
//     snapshot is compiled into a DatapathModel and applied; applies are
//     coalesced (one in flight, at most one queued, always from the latest
//     snapshot), so a burst of events costs one apply, not one each.
// The data path starts lazily, with the first network it has to serve: a
// host whose networks Docker NATs itself never gets a TUN. After a restart
// it starts at once from the last model it applied (kept beside the state
// file), so existing connections forward before Docker has answered.
//
// One NDP service answers on the uplink for both: container addresses are
// claimed as the source `docker`, the data path claims its external
// addresses and NPTv6 prefixes as `nat66` in the same NdpSources, so every
// NS is validated once and its answer counted in one place.
//
// Failures are per part: a Docker engine that is down, an NDP proxy that
// cannot open its sockets, a data path the host cannot support: each is one
// log line (repeated only when it changes) and a health component that is
// down, while the other parts go on serving. Parts that fail after start
// repair themselves (the feed reconnects, the proxy reopens its sockets, the
// data path its TUN and routes) and report their state here meanwhile.
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { HostSetupError, SixgateError } from '../errors.js';
import {
  DockerFeed, acquireInstanceLock, applyNdpDeltas, parseDockerHost, endpointFromEnv, touchesNat, touchesShims,
  type DeltaBatch, type DockerEndpoint, type FeedDelta, type InstanceLock, type NdpSink,
} from '../docker/index.js';
import { causingEvent } from '../docker/feed.js';
import { NdpService } from '../proxy/ndp-service.js';
import { NdpSources, uplinkConfig } from '../proxy/sources.js';
import { DatapathService, cleanupHost, uplinkFacts } from '../datapath/nat-service.js';
import { FleetAgent, fleetOptionsOf } from './fleet.js';
import { LeaseGate } from './lease-gate.js';
import { ensureFleetNetwork } from './fleet-network.js';
import type { DatapathModel } from '../datapath/nat-model.js';
import { natOptions } from '../datapath/nat-file.js';
import { watchAddresses, watchRoutes } from '../host/interfaces.js';
import { startupProblems } from '../host/checks.js';
import { parseIpv6, prefixesOverlap } from '../wire/address.js';
import { PrefixDelegation, delegationFile } from '../host/dhcpv6-pd.js';
import { RESTART_OPTIONS, type ServiceConfig } from '../config/options.js';
import type { HealthStatus, ComponentHealth } from './health.js';
import { datapathModel, filterResolvable, modelKey } from './docker-to-nat.js';
import { findUplink, readUplink } from './uplink.js';
import { LatencyRing } from './latency.js';
import { ShimManager } from './shims.js';

export interface DaemonOptions {
  readonly config: ServiceConfig;
  readonly log: Logger;
  /** Monotonic milliseconds (the CLI passes monotonicMs). */
  readonly now: () => number;
  /** Environment for DOCKER_HOST & co. (TLS settings too when config.dockerHost is set). */
  readonly env?: NodeJS.ProcessEnv;
}

/** The source container addresses are claimed under in NdpSources. */
const DOCKER_SOURCE = 'docker';

/** How often a part that failed is tried again. */
const REPAIR_INTERVAL_MS = 10_000;

export { RESTART_OPTIONS };

/** A batch whose NAT side waits for an apply. */
interface Pending {
  readonly cause: DeltaBatch['cause'];
  readonly deltas: number;
  readonly action?: string;
  readonly id?: string;
  /** Engine timestamp of the event, wall-clock ms. */
  readonly eventMs: number | undefined;
  readonly ndpMs: number | undefined;
  /** When the batch reached the daemon, wall-clock ms: splits the feed's part from the apply's. */
  readonly arrivedMs: number;
}

/** Wall-clock ms with sub-ms precision, comparable with the engine's event timeNano. */
function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

/** The proxy's sockets: down while one waits to be reopened (the proxy retries by itself). */
function ndpHealth(ndp: NdpService | undefined): ComponentHealth {
  const failed = ndp?.failedInterfaces ?? [];
  return failed.length === 0 ? { ok: true } : { ok: false, detail: `sockets on ${failed.join(', ')} failed, reopening` };
}

export class SixgateDaemon {
  readonly feed: DockerFeed;
  readonly uplink: string;
  /** Event (engine timestamp) → engines ready, in ms; NDP and NAT apart. */
  readonly ndpLatency = new LatencyRing(4096);
  readonly natLatency = new LatencyRing(4096);
  readonly counters = { batches: 0, applies: 0, applyFailures: 0, ndpAdded: 0, ndpRemoved: 0, lastResyncMs: 0 };
  #config: ServiceConfig;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #lock: InstanceLock;
  #ndp: NdpService | undefined;
  #ndpError: string | undefined;
  /** What the NDP service answers for, by source; kept while it is not running, read when it starts. */
  readonly #ndpSources = new NdpSources();
  #datapath: DatapathService | undefined;
  /** Host shims of macvlan/ipvlan networks. */
  readonly shims: ShimManager;
  /** Fleet mode: this host's lease in etcd and the routes to the other hosts. */
  #fleet: FleetAgent | undefined;
  /** Fleet mode: container addresses go to the NDP proxy through it (only those inside the lease). */
  #leaseGate: LeaseGate | undefined;
  /** Fleet mode: what is wrong with the Docker network on the lease (or why it could not be checked yet). */
  #fleetNetworkProblem: string | undefined;
  #natError: string | undefined;
  #appliedKey = '';
  #applying: Promise<void> | undefined;
  #applyAgain = false;
  #force = false;
  /** Events whose NAT side waits for the apply in flight or queued. */
  #waiting: Pending[] = [];
  readonly #skipped = new Map<string, string>();
  #stopRoutes: (() => void) | undefined;
  #repair: NodeJS.Timeout | undefined;
  #uplinkKey = '';
  #delegation: PrefixDelegation | undefined;
  /** Global networks that were inside an upstream prefix in this run, and those of them outside every one now (name → subnets). */
  readonly #fitted = new Set<string>();
  #outside = new Map<string, string>();
  #stopped = false;
  #resyncStarted = 0;

  private constructor(options: DaemonOptions, uplink: string, lock: InstanceLock, endpoint: DockerEndpoint, prefixes: readonly string[]) {
    this.#config = options.config;
    this.#log = options.log;
    this.#now = options.now;
    this.#lock = lock;
    this.uplink = uplink;
    this.shims = new ShimManager({ log: options.log.child({ part: 'shim' }) });
    this.#uplinkKey = prefixes.join(',');
    this.feed = new DockerFeed({
      log: options.log.child({ part: 'docker' }), endpoint, uplinks: [{ name: uplink, prefixes }],
      dockerIp6tables: options.config.dockerIp6tables, backoff: { maxMs: options.config.retryMaxMs },
    });
  }

  /**
   * Takes the instance lock, finds the uplink, starts the NDP proxy and the
   * feed (which waits for the engine by itself). Throws ConfigError,
   * InstanceLockedError or HostSetupError (a missing capability or
   * /dev/net/tun, no uplink after --wait-uplink) only.
   */
  static async start(options: DaemonOptions): Promise<SixgateDaemon> {
    const { config, log } = options;
    const endpoint = config.dockerHost !== undefined ? parseDockerHost(config.dockerHost, options.env ?? process.env) : endpointFromEnv(options.env);
    // What cannot be repaired later fails the start, before anything is touched.
    const problems = startupProblems({ nat66: config.nat66 });
    if (problems.length > 0) throw new HostSetupError(problems);
    const lock = await acquireInstanceLock();
    try {
      const uplink = await findUplink(config.uplink, config.waitUplink, log);
      const { prefixes } = await readUplink(uplink);
      if (prefixes.length === 0) {
        log.warn({ uplink }, `uplink ${uplink} has no IPv6 on-link prefix: global networks are not NDP-proxied and NAT66 uses the host address`);
      }
      const fleetOptions = await fleetOptionsOf(config, uplink, log.child({ part: 'fleet' }));
      const fleet = fleetOptions === undefined ? undefined : await FleetAgent.create(fleetOptions);
      const daemon = new SixgateDaemon(options, uplink, lock, endpoint, prefixes);
      if (fleet !== undefined) daemon.#startFleet(fleet);
      log.info({ uplink, prefixes, ndp: config.ndp, nat66: config.nat66, dhcpv6Pd: config.dhcpv6Pd }, 'sixgate starting');
      if (config.dhcpv6Pd) await daemon.#startDelegation();
      if (config.nat66) await daemon.#resumeNat();
      if (daemon.#wantsNdp) await daemon.#startNdp();
      daemon.feed.onChange((batch) => daemon.#onBatch(batch));
      // Routes and the uplink's address events (a prefix added or removed at once, not at the next route change).
      const stopRoutes = watchRoutes(() => void daemon.#refreshUplink());
      const stopAddresses = watchAddresses(uplink, () => void daemon.#refreshUplink());
      daemon.#stopRoutes = () => { stopRoutes(); stopAddresses(); };
      daemon.#repair = setInterval(() => void daemon.#retryFailed(), REPAIR_INTERVAL_MS);
      daemon.#repair.unref();
      daemon.#resyncStarted = options.now();
      daemon.feed.start();
      return daemon;
    } catch (err) {
      await lock.release();
      throw err;
    }
  }

  /** The configuration in force (SIGHUP may have changed it, see reconfigure). */
  get config(): ServiceConfig {
    return this.#config;
  }

  /**
   * A configuration re-read on SIGHUP: options that can change live take
   * effect (with the resync that follows), the others (RESTART_OPTIONS) keep
   * their value and are named in one warning. Returns what changed.
   */
  reconfigure(next: ServiceConfig): { applied: string[]; needRestart: string[] } {
    const old = this.#config;
    const merged: Record<string, unknown> = { ...next };
    const applied: string[] = [];
    const needRestart: string[] = [];
    for (const key of new Set([...Object.keys(old), ...Object.keys(next)]) as Set<keyof ServiceConfig>) {
      if (JSON.stringify(old[key]) === JSON.stringify(next[key])) continue;
      if (RESTART_OPTIONS.includes(key)) {
        needRestart.push(key);
        merged[key] = old[key];
      } else {
        applied.push(key);
      }
    }
    this.#config = merged as unknown as ServiceConfig;
    if (applied.length > 0) this.#log.info({ changed: applied }, 'configuration reloaded');
    if (needRestart.length > 0) this.#log.warn({ needRestart }, `configuration changes that need a restart, old values kept until then: ${needRestart.join(', ')}`);
    return { applied, needRestart };
  }

  get datapath(): DatapathService | undefined {
    return this.#datapath;
  }

  /** The DHCPv6-PD client (--dhcpv6-pd), if running. */
  get delegation(): PrefixDelegation | undefined {
    return this.#delegation;
  }

  /** Global (routed, non-NAT) Docker networks that lay in an upstream prefix and no longer do: name → subnets. */
  get outsidePrefix(): ReadonlyMap<string, string> {
    return this.#outside;
  }

  async #startDelegation(): Promise<void> {
    try {
      this.#delegation = await PrefixDelegation.start({
        uplink: this.uplink, file: delegationFile(this.#config.stateFile), log: this.#log.child({ part: 'dhcpv6-pd' }), now: this.#now,
        onChange: () => {
          this.#datapath?.upstreamChanged();
          this.#checkGlobalNetworks();
          if (this.#config.nat66) void this.#scheduleApply();
        },
      });
    } catch (err) {
      this.#log.error({ uplink: this.uplink }, `DHCPv6-PD client not running: ${(err as Error).message}`);
    }
  }

  /**
   * Reports (one line per change, status, a metric) the global Docker
   * networks whose subnets lay in an upstream prefix (on-link or delegated)
   * and no longer do: after a renumbering their containers' addresses are
   * not routed to this host. Docker cannot move a network's subnet: it has
   * to be re-created, or made a ULA network labelled sixgate.nptv6=auto.
   */
  #checkGlobalNetworks(): void {
    // #uplinkKey is the uplink's on-link prefixes, joined by commas.
    const upstream = [...this.#uplinkKey.split(',').filter((p) => p !== ''), ...(this.#delegation?.prefixes() ?? [])];
    const outside = new Map<string, string>();
    for (const net of this.feed.snapshot().networks) {
      const global = net.subnets.filter((s) => (s.service === 'ndp' || s.reason === 'not-on-uplink'));
      if (global.length === 0) continue;
      if (global.some((s) => upstream.some((p) => prefixesOverlap(s.prefix, p)))) this.#fitted.add(net.name);
      else if (this.#fitted.has(net.name)) outside.set(net.name, global.map((s) => s.prefix).join(', '));
    }
    for (const [name, subnets] of outside) {
      if (this.#outside.get(name) === subnets) continue;
      this.#log.warn({ network: name, subnets, upstream }, `network ${name} (${subnets}) is outside the upstream prefixes (${upstream.join(', ') || 'none'}): `
        + 'its containers are not reachable; re-create it with a subnet of the current prefix, or as a ULA network labelled sixgate.nptv6=auto');
    }
    this.#outside = outside;
  }

  get ndp(): NdpService | undefined {
    return this.#ndp;
  }

  /** Number of exact addresses the proxy answers for containers. */
  get ndpAddressCount(): number {
    return this.#ndpSources.countOf(DOCKER_SOURCE);
  }

  get fleet(): FleetAgent | undefined {
    return this.#fleet;
  }

  /** The lease is claimed in the background: the host serves meanwhile, and a fleet whose etcd is away waits for it. */
  #startFleet(agent: FleetAgent): void {
    this.#fleet = agent;
    const gate = new LeaseGate(this.#sink, agent.plan.prefix, this.#log.child({ part: 'fleet' }));
    this.#leaseGate = gate;
    agent.onLease((subprefix) => {
      gate.setLease(subprefix);
      if (subprefix !== undefined) void this.#checkFleetNetwork();
    });
    void agent.start().catch((err: Error) => { if (!this.#stopped) this.#log.error({ err: err.message }, 'fleet: stopped trying'); });
  }

  /** Creates or checks the Docker network on the lease (--fleet-network); a failure is retried with the other repairs. */
  async #checkFleetNetwork(): Promise<void> {
    const name = this.#config.fleetNetwork;
    const lease = this.#fleet?.subprefix;
    if (name === undefined || lease === undefined || this.#stopped) return;
    const log = this.#log.child({ part: 'fleet' });
    try {
      const res = await ensureFleetNetwork(this.feed.client, name, lease, this.#config.fleetNetworkOptions);
      if (res.state === 'mismatch') {
        if (this.#fleetNetworkProblem !== res.detail) log.warn(res.detail);
        this.#fleetNetworkProblem = res.detail;
      } else {
        this.#fleetNetworkProblem = undefined;
        log.info({ network: name, subnets: res.subnets, lease }, res.state === 'created' ? 'fleet: Docker network created on the lease' : 'fleet: Docker network matches the lease');
      }
    } catch (err) {
      this.#fleetNetworkProblem = `Docker network ${name} not checked yet: ${(err as Error).message}`;
    }
  }

  /** Container addresses (ndp) or the data path's external addresses (nat66) need NDP answers. */
  get #wantsNdp(): boolean {
    return this.#config.ndp || this.#config.nat66;
  }

  async #startNdp(): Promise<void> {
    try {
      this.#ndp = await NdpService.start({
        config: uplinkConfig(this.uplink, [], 'sixgate run'), sources: this.#ndpSources,
        logger: this.#log.child({ part: 'ndp' }), now: this.#now, kernelAnswers: this.#config.ndpKernelAnswers,
      });
      this.#ndpError = undefined;
    } catch (err) {
      const msg = (err as Error).message;
      if (msg !== this.#ndpError) this.#log.error({ uplink: this.uplink }, `NDP proxy not running: ${msg}`);
      this.#ndpError = msg;
    }
  }

  /**
   * After a restart, the connections of the last run forward at once: the
   * data path starts from the last model it applied (kept beside the state
   * file) before the feed has asked Docker anything; the first resync then
   * applies the real model as any change. Without a state file or a saved
   * model it waits for Docker as before; a model that no longer starts is
   * one error line, and the resync starts the data path again.
   */
  async #resumeNat(): Promise<void> {
    const stateFile = this.#config.stateFile;
    if (stateFile === undefined) return;
    const model = readLastModel(stateFile, this.uplink);
    if (model === undefined) return;
    try {
      this.#datapath = await this.#startDatapath(model, stateFile);
      this.#appliedKey = modelKey(model);
      this.#log.info({ networks: model.networks.length }, 'NAT66 resumed from the last model, before Docker answers');
    } catch (err) {
      this.#natFailed(err);
    }
  }

  #startDatapath(model: DatapathModel, stateFile: string | undefined): Promise<DatapathService> {
    return DatapathService.start({
      // No ip6tables look: the feed already leaves the networks Docker NATs itself to Docker.
      model, logger: this.#log.child({ part: 'nat66' }), kernelNatCheck: false, ndpSources: this.#ndpSources,
      delegatedPrefixes: () => this.#delegation?.prefixes() ?? [],
      ...(stateFile === undefined ? {} : { stateFile }),
      nat: natOptions(this.#config),
      workers: this.#config.workers,
      offload: this.#config.offload,
      containerOf: (address) => this.feed.snapshot().addresses.find((a) => a.address === address)?.containerName,
    });
  }

  readonly #sink: NdpSink = {
    add: (uplink, address) => {
      this.#ndpSources.add(DOCKER_SOURCE, uplink, parseIpv6(address));
      this.counters.ndpAdded++;
    },
    remove: (uplink, address) => {
      this.#ndpSources.remove(DOCKER_SOURCE, uplink, parseIpv6(address));
      this.counters.ndpRemoved++;
    },
  };

  /**
   * Container addresses to the NDP proxy at once, but those of ipvlan l3
   * networks: they lie on the LAN's own link, so each is probed for another
   * holder first (ShimManager.claimAfterProbe) and claimed after.
   */
  #applyNdp(deltas: readonly FeedDelta[]): number {
    const ipvlan = new Set(this.feed.snapshot().networks.filter((n) => n.driver === 'ipvlan').map((n) => n.id));
    const probed = (d: FeedDelta): d is FeedDelta & { kind: 'address-added' } =>
      d.kind === 'address-added' && d.address.service === 'ndp' && ipvlan.has(d.address.networkId);
    for (const d of deltas) {
      if (probed(d)) {
        const a = d.address;
        const wanted = (): boolean => !this.#stopped && this.feed.snapshot().addresses.some((x) => x.address === a.address && x.networkId === a.networkId);
        void this.shims.claimAfterProbe(a, a.uplink!, wanted, () => this.#ndpSink.add(a.uplink!, a.address));
      } else if (d.kind === 'address-removed') {
        this.shims.released(d.address.address);
      }
    }
    return applyNdpDeltas(deltas.filter((d) => !probed(d)), this.#ndpSink);
  }

  get #ndpSink(): NdpSink {
    return this.#leaseGate ?? this.#sink;
  }

  #onBatch(batch: DeltaBatch): void {
    if (this.#stopped) return;
    this.counters.batches++;
    // Measured from the event that caused the deltas (the start, not the network connect before it).
    const ev = causingEvent(batch);
    const eventMs = ev === undefined ? undefined : Number(BigInt(ev.timeNano) / 1000n) / 1000;
    const ndpCalls = this.#config.ndp ? this.#applyNdp(batch.deltas) : 0;
    const ndpMs = ndpCalls > 0 && eventMs !== undefined ? wallMs() - eventMs : undefined;
    if (ndpMs !== undefined) this.ndpLatency.add(ndpMs);
    if (batch.cause !== 'event' || touchesShims(batch.deltas)) void this.shims.sync(this.feed.snapshot());
    // After the NDP side's figure: a network created or gone may fit the upstream prefixes or not.
    if (batch.cause !== 'event' || batch.deltas.some((d) => d.kind.startsWith('network'))) this.#checkGlobalNetworks();
    const pending: Pending = { cause: batch.cause, deltas: batch.deltas.length, ...(ev === undefined ? {} : { action: ev.action, id: (ev.attributes.container ?? ev.id).slice(0, 12) }), eventMs, ndpMs, arrivedMs: wallMs() };
    if (!this.#config.nat66 || (batch.cause === 'event' && !touchesNat(batch.deltas))) {
      this.#done(pending, eventMs === undefined ? undefined : wallMs() - eventMs, false);
      return;
    }
    this.#waiting.push(pending);
    void this.#scheduleApply();
  }

  /** One debug line per batch once both engines reflect it; resyncs at info. */
  #done(p: Pending, natMs: number | undefined, applied: boolean): void {
    if (natMs !== undefined && this.#config.nat66) this.natLatency.add(natMs);
    if (p.cause === 'resync') {
      if (this.#resyncStarted > 0) this.counters.lastResyncMs = this.#now() - this.#resyncStarted;
      this.#resyncStarted = 0;
      this.#log.info({ deltas: p.deltas, ndpAddresses: this.ndpAddressCount, natApplied: applied, resyncMs: this.counters.lastResyncMs }, 'docker state applied');
      return;
    }
    const readyAtMs = wallMs();
    this.#log.debug({ cause: p.cause, action: p.action, docker: p.id, deltas: p.deltas, ndpMs: p.ndpMs, natMs, applyMs: applied ? readyAtMs - p.arrivedMs : undefined, readyAtMs }, 'change applied');
  }

  /**
   * One apply in flight; any number of requests meanwhile fold into one
   * more, from the latest snapshot. `force` re-applies even an unchanged
   * model (SIGHUP, retrying after a failure): the data path then repairs
   * what was changed behind its back.
   */
  #scheduleApply(force = false): Promise<void> {
    this.#force ||= force;
    if (this.#applying !== undefined) {
      this.#applyAgain = true;
      return this.#applying;
    }
    this.#applying = (async () => {
      do {
        this.#applyAgain = false;
        const waiting = this.#waiting;
        this.#waiting = [];
        const forced = this.#force;
        this.#force = false;
        await this.#applyNat(forced);
        const done = wallMs();
        for (const p of waiting) this.#done(p, p.eventMs === undefined ? undefined : done - p.eventMs, true);
      } while (this.#applyAgain && !this.#stopped);
    })().finally(() => { this.#applying = undefined; });
    return this.#applying;
  }

  async #applyNat(force = false): Promise<void> {
    if (this.#stopped) return;
    const declared = datapathModel(this.feed.snapshot(), this.uplink, this.#config);
    let model: DatapathModel;
    const facts = uplinkFacts(this.uplink, this.#delegation?.prefixes());
    try {
      const r = filterResolvable(declared, facts);
      model = r.model;
      const now = new Map(r.skipped.map((s) => [s.network, s.reason]));
      for (const [network, reason] of now) {
        if (this.#skipped.get(network) !== reason) this.#log.warn({ network }, `network ${network} not NAT'd: ${reason}`);
      }
      this.#skipped.clear();
      for (const [k, v] of now) this.#skipped.set(k, v);
    } catch (err) {
      this.#natFailed(err);
      return;
    }
    const key = modelKey(model);
    if (!force && key === this.#appliedKey && this.#datapath !== undefined) return;
    this.counters.applies++;
    try {
      if (this.#datapath === undefined && model.networks.length === 0) {
        // Nothing to serve (yet): not a failure, whatever failed before.
        this.#natError = undefined;
        return;
      }
      if (this.#datapath === undefined) {
        this.#datapath = await this.#startDatapath(model, this.#config.stateFile);
      } else {
        // The engine options as reloaded: a new capacity moves the sessions into a new table.
        await this.#datapath.apply(model, { resync: force, facts, nat: natOptions(this.#config) });
      }
      this.#appliedKey = key;
      if (this.#config.stateFile !== undefined) saveLastModel(this.#config.stateFile, model, this.#log);
      if (this.#natError !== undefined) this.#log.info('NAT66 data path recovered');
      this.#natError = undefined;
    } catch (err) {
      this.#natFailed(err);
    }
  }

  #natFailed(err: unknown): void {
    this.counters.applyFailures++;
    const msg = err instanceof SixgateError ? err.message : String((err as Error)?.message ?? err);
    if (msg !== this.#natError) this.#log.error({ err: err instanceof SixgateError ? err.code : err }, `NAT66 data path: ${msg}`);
    this.#natError = msg;
  }

  async #refreshUplink(): Promise<void> {
    if (this.#stopped) return;
    const up = await readUplink(this.uplink);
    const key = up.prefixes.join(',');
    if (key === this.#uplinkKey) return;
    this.#uplinkKey = key;
    this.#log.info({ uplink: this.uplink, prefixes: up.prefixes }, 'uplink prefixes changed');
    this.feed.setUplinks([up]);
    this.#checkGlobalNetworks();
    if (this.#config.nat66) void this.#scheduleApply();
  }

  // A part that failed (the uplink missing at start, the host not ready for
  // the data path) is tried again now and then, not only on the next change.
  async #retryFailed(): Promise<void> {
    if (this.#stopped) return;
    await this.#refreshUplink();
    if (this.#wantsNdp && this.#ndp === undefined) await this.#startNdp();
    if (this.#config.nat66 && this.#natError !== undefined) await this.#scheduleApply(true);
    if (this.#fleetNetworkProblem !== undefined) await this.#checkFleetNetwork();
  }

  /**
   * SIGHUP (after reconfigure, when the file was re-read): re-reads the
   * uplink, resyncs with the engine, re-applies the data path re-reading the
   * kernel's rules and routes, restarts a failed NDP proxy.
   */
  async resync(): Promise<void> {
    this.#log.info('resync requested');
    await this.#refreshUplink();
    if (this.#wantsNdp && this.#ndp === undefined) await this.#startNdp();
    const started = this.#now();
    this.#resyncStarted = started;
    await this.feed.resync();
    if (this.#config.nat66) await this.#scheduleApply(true);
    this.#resyncStarted = 0;
    this.counters.lastResyncMs = this.#now() - started;
    this.#log.info({ resyncMs: this.counters.lastResyncMs, ndpAddresses: this.ndpAddressCount }, 'resync done');
  }

  status(): HealthStatus {
    const components: Record<string, ComponentHealth> = {
      docker: this.feed.state === 'live' ? { ok: true } : { ok: false, detail: this.feed.state },
    };
    if (this.#wantsNdp) components.ndp = this.#ndpError !== undefined ? { ok: false, detail: this.#ndpError } : ndpHealth(this.#ndp);
    // A data path that failed after start reports itself (down while it repairs its TUN and routes).
    if (this.#config.nat66) components.nat66 = this.#natError !== undefined ? { ok: false, detail: this.#natError } : this.#datapath?.health() ?? { ok: true };
    if (this.#fleet !== undefined) {
      // Not held: before the first claim (the remembered sub-prefix first), or after etcd said it is gone.
      const lease = this.#fleet.subprefix;
      const withheld = this.#leaseGate?.withheld.length ?? 0;
      components.fleet = !this.#fleet.held ? { ok: false, detail: lease === undefined ? 'waiting for a lease from etcd' : `claiming lease ${lease} from etcd` }
        : this.#fleetNetworkProblem !== undefined ? { ok: false, detail: `lease ${lease}; ${this.#fleetNetworkProblem}` }
        : withheld > 0 ? { ok: false, detail: `lease ${lease}; ${withheld} container address(es) outside it not answered for` }
        : { ok: true, detail: `lease ${lease}` };
    }
    if (this.#stopped) return { state: 'stopping', components };
    if (this.feed.counters.resyncs === 0 && this.feed.state !== 'live') {
      return { state: this.feed.counters.failedAttempts > 0 ? 'degraded' : 'starting', components };
    }
    return { state: Object.values(components).every((c) => c.ok) ? 'ready' : 'degraded', components };
  }

  /**
   * Stops every part. Routes, rules and the TUN stay for the next start
   * (packets wait instead of leaking untranslated) unless config.cleanup.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#stopRoutes?.();
    clearInterval(this.#repair);
    await this.feed.stop();
    await this.#applying?.catch(() => {});
    const cleanup = this.#config.cleanup;
    try {
      await this.#fleet?.stop(cleanup);
      await this.shims.stop(cleanup);
      if (this.#datapath !== undefined) await this.#datapath.stop({ cleanup });
      else if (cleanup) await cleanupHost({ uplink: this.uplink, tun: this.#config.tun, reservedPorts: this.#config.hostPortRange });
      if (cleanup && this.#config.stateFile !== undefined) rmSync(lastModelPath(this.#config.stateFile), { force: true });
    } finally {
      await this.#delegation?.stop({ release: cleanup });
      await this.#ndp?.stop();
      await this.#lock.release();
    }
  }
}

/** The last model the data path applied, beside the state file (see #resumeNat). */
function lastModelPath(stateFile: string): string {
  return `${stateFile}.model.json`;
}

/**
 * The saved model when it is one for this uplink with networks to serve;
 * undefined when there is none or it does not read as one (the data path
 * validates the rest when it starts from it).
 */
function readLastModel(stateFile: string, uplink: string): DatapathModel | undefined {
  try {
    const model = JSON.parse(readFileSync(lastModelPath(stateFile), 'utf8')) as DatapathModel;
    const plausible = typeof model === 'object' && model !== null && model.uplink === uplink &&
      Array.isArray(model.networks) && model.networks.length > 0 && Array.isArray(model.published);
    return plausible ? model : undefined;
  } catch {
    return undefined;
  }
}

// Written whole and renamed into place, so a crash never leaves half a model.
function saveLastModel(stateFile: string, model: DatapathModel, log: Logger): void {
  const path = lastModelPath(stateFile);
  try {
    writeFileSync(`${path}.new`, JSON.stringify(model), { mode: 0o600 });
    renameSync(`${path}.new`, path);
  } catch (err) {
    log.warn({ file: path, err: (err as Error).message }, 'could not save the NAT model: a restart will wait for Docker before forwarding');
  }
}
