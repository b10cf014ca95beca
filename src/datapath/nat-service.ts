// The NAT66 data path as a service: TUN + policy routing + NDP answers for
// the external addresses + host-mode steering + the NAT66 engine, driven by a
// DatapathModel. `apply(model)` diffs the new model against the one in force
// and touches only what changed (routes and rules, NDP addresses, steering,
// NAT networks, published ports); the Docker feed will call it on events.
//
// Restarts: the TUN is persistent and the routes stay when sixgate stops, so
// packets wait in the kernel's queue (or are dropped) for a moment instead
// of leaking untranslated; the connection table lives in `stateFile`, mapped
// over the table's memory (src/io/statefile.ts), so it outlives the process
// however it ends and the next start adopts it: established connections
// survive a stop, a SIGKILL or a crash. `cleanup()` removes every rule,
// route, filter, the TUN and the state file.
//
// NDP: the external addresses and NPTv6 prefixes are claimed as the source
// `nat66` of an NdpSources. Under `sixgate run` the daemon's NDP service
// reads them (one service, one set of counters per uplink); `sixgate nat`
// alone starts a service of its own, the first time it has something to answer.
//
// Supervision: a TUN that fails (read or write error: deleted) or loses its
// routes (set down, a route removed: `ip monitor` says so at once) puts the
// data path down: health() reports it, one error line is logged, and the
// repair runs with backoff (reopen the TUN if it is gone, bring it up,
// re-apply routes, rules and steering), then one line says it is back. The
// engine and its connection table are untouched meanwhile. While it is down,
// the fail-closed routes (src/host/policy.ts) drop container traffic instead
// of letting it out untranslated.
//
// Uplink: every address event on the uplink (RTM_NEWADDR / RTM_DELADDR: a
// prefix added, deprecated, removed) re-resolves the model in force against
// the uplink's addresses, within tens of milliseconds: addresses picked from
// the uplink move to its current prefix, those of a prefix still valid keep
// their sessions (draining), those of a prefix gone end theirs (counted in
// `uplink` and logged). The NDP service announces the new addresses with an
// unsolicited NA and stops answering for the withdrawn ones.
//
// Fast path (offload.ts, `offload: auto`): tc programs on the uplink's and
// the bridges' ingress translate established flows in the kernel; attached
// at start and after every apply (bridges come and go), their sessions
// synced once a second before the expiry, all demoted on a reconfiguration,
// a SIGHUP, a capture and a stop. Their links end with the process.
//
// Clock: monotonicMs, the clock the TUN stamps each read with, so expiry and
// snapshots run on the translation's time base.
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { HostSetupError, NativeIoError } from '../errors.js';
import { Tun } from '../io/tun.js';
import { ifIndex, ifIndexOrZero, setUp } from '../io/netif.js';
import { bootId, type StateFile } from '../io/statefile.js';
import { monotonicMs } from '../io/ring.js';
import { Nat66 } from '../nat/nat66.js';
import { NatCounter } from '../nat/types.js';
import { lastQuotaHit, takeOpenedSessions, type SessionInfo } from '../nat/status.js';
import type { NatConfig, PublishedPort } from '../nat/engine-config.js';
// Type only: `sixgate nat` loads the NDP service when it first has something to answer, after the loop forwards.
import type { NdpService } from '../proxy/ndp-service.js';
import { NdpSources, sourcesOnlyConfig } from '../proxy/sources.js';
import { cleanupPolicy, diffPolicy, readPolicy, watchDeviceRoutes, type PolicyState } from '../host/policy.js';
import { applySteering, removeAllSteering, removeSteering, type SteerHook, type SteeringState } from '../host/steering.js';
import { checkHost, kernelNatSubnets } from '../host/checks.js';
import { ipBatch, type BatchResult } from '../host/run.js';
import { parseIfInet6, readRoutes, watchAddresses, watchRoutes } from '../host/interfaces.js';
import { formatIpv6, prefixesOverlap } from '../wire/address.js';
import { DEFAULT_TUN, type DatapathModel, type ResolvedModel } from './nat-model.js';
import { IFA_F_DEPRECATED, resolveModel, type HostFacts } from './resolve.js';
import { hostPlan, natConfig, natPublished, publishedKey, type HostPlan } from './plan.js';
import { TunDatapath } from './loop.js';
import { adoptState, moveState } from './state.js';
import { NatWorkers, addInto } from './workers.js';
import { engineCounts, type WorkloadCounts } from './workload-counts.js';
import { reservePorts, releasePorts } from './ports.js';
import { NatOffload, OffloadCounter, OffloadPrograms, type EgressRoute, type OffloadRoutes } from './offload.js';
import { CANDIDATE_RING } from '../nat/candidates.js';

export interface DatapathServiceOptions {
  readonly model: DatapathModel;
  readonly logger: Logger;
  /** The file the connection table lives in (mapped), adopted on start. */
  readonly stateFile?: string;
  /** Engine options (capacity, timers, seed...). */
  readonly nat?: Partial<NatConfig>;
  /** Run the startup checks (default true). */
  readonly checks?: boolean;
  /** Answer NDP for external addresses (default true). */
  readonly ndp?: boolean;
  /**
   * Where the external addresses are claimed when another part runs the NDP
   * service (`sixgate run`); by default the data path starts its own.
   */
  readonly ndpSources?: NdpSources;
  /**
   * Look once, at start, for inside subnets ip6tables already masquerades
   * (default true, for the standalone `sixgate nat`). `sixgate run` passes
   * false: the Docker feed already knows which networks Docker NATs itself.
   */
  readonly kernelNatCheck?: boolean;
  /** The container that holds an inside address, for log lines (`sixgate run` asks the Docker model). */
  readonly containerOf?: (address: string) => string | undefined;
  /** The host commands (tests inject counting ones; default: the real ones). */
  readonly host?: HostOps;
  /** The prefixes delegated to the host (DHCPv6-PD), the current one first; call upstreamChanged() when they change. */
  readonly delegatedPrefixes?: () => readonly string[];
  /**
   * Packet workers (default 1: the loop runs on the main thread). More: a
   * multi-queue TUN with one worker_thread per queue, each with a shard of
   * the table (workers.ts), each in a state file of its own beside `stateFile`.
   */
  readonly workers?: number;
  /** The fast path for established flows (offload.ts): 'auto' (default) is on when the kernel takes its programs. */
  readonly offload?: 'auto' | 'off';
}

/** Every command the data path runs on the host after its start-up checks. */
export interface HostOps {
  readPolicy(): Promise<PolicyState>;
  ipBatch(lines: readonly string[], options: { force?: boolean }): Promise<BatchResult>;
  applySteering(tun: string, hooks: readonly SteerHook[], installed?: SteeringState): Promise<SteeringState>;
  removeSteering(dev: string): Promise<void>;
  kernelNatSubnets(): Promise<string[]>;
}

export const HOST_OPS: HostOps = { readPolicy, ipBatch, applySteering, removeSteering, kernelNatSubnets };

export interface ApplyOptions {
  /**
   * Re-read the kernel's rules and routes and reinstall steering instead of
   * trusting what the last apply left (SIGHUP, retry after a failure): puts
   * back what was changed behind sixgate's back.
   */
  readonly resync?: boolean;
  /** The uplink's addresses when the caller has just read them (uplinkFacts). */
  readonly facts?: HostFacts;
  /**
   * Engine options (capacity, quotas) from now on, replacing the start
   * options'; a new capacity moves the live sessions into a new table.
   */
  readonly nat?: Partial<NatConfig>;
}

export interface ApplyReport {
  readonly rulesAndRoutesAdded: number;
  readonly rulesAndRoutesRemoved: number;
  readonly ndpAdded: number;
  readonly ndpRemoved: number;
  readonly steeringChanged: boolean;
  /** The engine moved to a new table (a capacity change, more external addresses than the table had room for). */
  readonly natRebuilt: boolean;
  /** Sessions ended because their network, external address or published port went (or did not fit a new table). */
  readonly sessionsDropped: number;
  readonly publishedAdded: number;
  readonly publishedRemoved: number;
  readonly notes: readonly string[];
}

// Packets the TUN queues for us while the loop is not scheduled (a busy
// 2-CPU host): the default 1000 overflowed with 64-byte UDP floods.
const TUN_QUEUE_LEN = 8192;
/** Quota hits are logged at most this often. */
const QUOTA_LOG_MS = 10_000;
/** -v: how often the sessions opened meanwhile are logged. */
const SESSION_LOG_MS = 100;

/** The name the external addresses and prefixes are claimed under in NdpSources. */
const NDP_SOURCE = 'nat66';

/** First repair attempt after a failure; each failed attempt doubles the wait, up to REPAIR_MAX_MS. */
const REPAIR_FIRST_MS = 50;
const REPAIR_MAX_MS = 5_000;

/** How long after an in-place change the table moves to a fresh layout (scheduleRelayout): the packets waiting go through first. */
const RELAYOUT_DELAY_MS = 250;

/** Whether a part works; `detail` says why not (health's component entry). */
export interface PartHealth {
  readonly ok: boolean;
  readonly detail?: string;
}

/**
 * The persistent TUN, single-queue for the main thread's loop; with workers
 * a multi-queue one whose first queue, this descriptor, is detached at once
 * (it keeps the device and its steering, the workers attach the queues that
 * carry packets). A device left by a run with the other kind is made anew:
 * the kernel attaches no queue of the other kind to it. io_uring moves a
 * batch of small packets in one system call instead of one each (bench
 * nat-e2e: about a fifth less CPU per packet, few preemptions); where it is
 * unavailable the TUN keeps readv/write.
 */
function openTun(name: string, workers: number): Tun {
  const options = { name, vnetHeader: true, persist: true, txqueuelen: TUN_QUEUE_LEN, multiQueue: workers > 1, uring: workers === 1 };
  let tun: Tun;
  try {
    tun = Tun.open(options);
  } catch (err) {
    if (!(err instanceof NativeIoError) || err.errno !== 'EINVAL') throw err;
    const other = Tun.open({ name, vnetHeader: true, multiQueue: !options.multiQueue, up: false });
    other.setPersist(false);
    other.close();
    tun = Tun.open(options);
  }
  if (workers > 1) tun.setQueueAttached(false);
  return tun;
}

/**
 * The uplink's global addresses, read synchronously: /proc/net/if_inet6 is a
 * few hundred bytes, and the async read's thread-pool round trips cost
 * milliseconds on a busy host, on every apply.
 */
export function uplinkFacts(uplink: string, delegatedPrefixes: readonly string[] = []): HostFacts {
  let text = '';
  try {
    text = readFileSync('/proc/net/if_inet6', 'utf8');
  } catch {
    // No IPv6 at all: no addresses.
  }
  const global = parseIfInet6(text).filter((a) => a.scope === 0);
  return {
    uplinkAddresses: global.filter((a) => a.dev === uplink).map((a) => ({ address: formatIpv6(a.addr, 0), prefixLength: a.prefixLength, flags: a.flags })),
    localAddresses: global.map((a) => ({ dev: a.dev, address: formatIpv6(a.addr, 0) })),
    ...(delegatedPrefixes.length === 0 ? {} : { delegatedPrefixes }),
  };
}

export class DatapathService {
  private currentTun: Tun;
  /** The packet workers (options.workers > 1); the main thread's loop then never runs. */
  private workers: NatWorkers | undefined;
  readonly loop: TunDatapath;
  private nat: Nat66;
  private resolved: ResolvedModel;
  private plan: HostPlan;
  /** The NDP service the data path started itself (none when ndpSources was given). */
  private ndp: NdpService | undefined;
  private readonly ndpSources: NdpSources;
  private readonly log: Logger;
  private readonly options: DatapathServiceOptions;
  private published = new Map<string, PublishedPort>();
  /** The engine's configuration in force (reconfigureNat skips an apply that leaves it as it is). */
  private natApplied: string | undefined;
  /** Engine options: the start options', then the last apply's that named some. */
  private natOptions: Partial<NatConfig> | undefined;
  /** The plan whose routes, NDP and steering are on the host (what a repair starts from). */
  private installed: HostPlan | undefined;
  /** Why the data path is not forwarding; undefined while it is. */
  private down: string | undefined;
  private downSince = 0;
  /** The TUN's descriptor failed (device deleted): the repair opens it again. */
  private tunFailed = false;
  private repairTimer: NodeJS.Timeout | undefined;
  private repairDelayMs = REPAIR_FIRST_MS;
  private stopWatching: (() => void) | undefined;
  private stopWatchingUplink: (() => void) | undefined;
  /** The model as declared by the last start or apply, re-resolved when the uplink's addresses change. */
  private declared: DatapathModel;
  /** The uplink addresses the model in force was resolved against (uplinkKey). */
  private uplinkKey: string;
  /** Uplink address changes that moved an external address or prefix, and the sessions they ended. */
  readonly uplink = { changes: 0, sessionsEnded: 0 };
  /** Failures seen and repairs done since start (the counter registry). */
  readonly supervision = { failures: 0, repairs: 0 };
  private expiry: NodeJS.Timeout | undefined;
  /** -v: each session opened is logged (the engine notes their ids only then). */
  private readonly logSessions: boolean;
  private sessionLog: NodeJS.Timeout | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private readonly host: HostOps;
  /** The mapped state file (options.stateFile), and this boot's id written into the table. */
  private state: StateFile | undefined;
  private readonly boot: Uint32Array | undefined;
  /** Subnets ip6tables masqueraded at start (never re-read: no ip6tables exec after start). */
  private readonly kernelNat: readonly string[];
  private readonly kernelNatWarned = new Set<string>();
  /**
   * sixgate's rules and routes as the last successful apply left them, so an
   * apply diffs in memory and runs `ip` only for a real difference;
   * undefined = not known (start, resync, a failure): read from the kernel.
   */
  private appliedPolicy: PolicyState | undefined;
  /** The steering installed (steerKeys) and each filter's handle, undefined = not known: reinstall. */
  private appliedSteering: { readonly key: string; readonly state: SteeringState } | undefined;
  /** Why steering the host's addresses failed last (outside host mode that is a warning, logged once). */
  private steeringFailure: string | undefined;
  /** The engine was changed in place into a table a fresh start would not build: move it after the apply (reconfigureNat). */
  private relayout = false;
  private relayoutTimer: NodeJS.Timeout | undefined;
  /** The resolver's notes of the last apply (logged once each). */
  private notes = new Set<string>();
  /** Quota hits already logged, and when the last line went out. */
  private quotaHits = 0;
  private quotaLoggedAt = -Infinity;
  /** The fast path's map and programs (offload.ts); none while it is off. */
  private programs: OffloadPrograms | undefined;
  /** The main thread's loop's fast path (with workers each has its own). */
  private fastPath: NatOffload | undefined;
  /** The devices and subnets the fast path's entries point at (a change demotes every session). */
  private offloadKey = '';
  /** "on", or "off (why)": the start-up line and status. */
  offloadState = 'off';
  /** The host's routes as the fast path judges remote addresses by them, re-read when the routing changes. */
  private egress: readonly EgressRoute[] = [];
  private stopWatchingEgress: (() => void) | undefined;
  private egressReads = 0;

  private constructor(options: DatapathServiceOptions, tun: Tun, nat: Nat66, resolved: ResolvedModel, plan: HostPlan, host: HostOps,
    kernelNat: readonly string[], state: StateFile | undefined, boot: Uint32Array | undefined) {
    this.options = options;
    this.natOptions = options.nat;
    this.state = state;
    this.boot = boot;
    this.ndpSources = options.ndpSources ?? new NdpSources();
    this.host = host;
    this.kernelNat = kernelNat;
    this.log = options.logger;
    this.currentTun = tun;
    this.nat = nat;
    this.logSessions = options.logger.isLevelEnabled('debug');
    nat.sessions.noteCreated = this.logSessions;
    this.resolved = resolved;
    this.plan = plan;
    this.declared = options.model;
    this.uplinkKey = uplinkKey(uplinkFacts(resolved.uplink, options.delegatedPrefixes?.()));
    this.loop = new TunDatapath({
      tun, nat,
      onError: (err) => this.failed(`the TUN failed: ${(err as Error).message}`, true),
    });
  }

  /**
   * Checks the host, opens (or re-attaches to) the persistent TUN, builds the
   * engine (adopting the table in the state file when it fits), starts
   * forwarding, then installs routing, NDP and steering. Throws
   * HostSetupError or ConfigError.
   */
  static async start(options: DatapathServiceOptions): Promise<DatapathService> {
    const log = options.logger;
    const host = options.host ?? HOST_OPS;
    const kernelNat = options.kernelNatCheck ?? true ? await host.kernelNatSubnets() : [];
    const warned = new Set<string>();
    const model = withoutKernelNat(options.model, kernelNat, log, warned);
    const { model: resolved, notes } = resolveModel(model, uplinkFacts(model.uplink, options.delegatedPrefixes?.()));
    for (const note of notes) log.info(note);
    const plan = hostPlan(resolved);
    if (options.checks ?? true) {
      const { errors, warnings } = checkHost({ uplink: resolved.uplink, needTc: plan.reservedPorts !== undefined });
      for (const w of warnings) log.warn(w);
      if (errors.length > 0) throw new HostSetupError(errors);
    }
    const workers = options.workers ?? 1;
    // With workers the main thread's engine carries no packets: the shards' tables are in state files of their own.
    const nat = new Nat66(engineConfig(resolved, options.nat), { mappable: workers === 1 && options.stateFile !== undefined });
    const boot = options.stateFile === undefined ? undefined : bootId();
    const adopted = workers === 1 ? adoptState(nat, options.stateFile, boot, log) : { state: undefined, restored: 0 };
    const state = adopted.state;
    let restored = adopted.restored;
    let tun: Tun;
    try {
      tun = openTun(resolved.tun, workers);
    } catch (err) {
      state?.close();
      throw err;
    }
    const service = new DatapathService(options, tun, nat, resolved, plan, host, kernelNat, state, boot);
    for (const w of warned) service.kernelNatWarned.add(w);
    service.notes = new Set(notes);
    service.natApplied = engineKey(engineConfig(resolved, options.nat));
    try {
      // Forward first: the engine is complete, and after a restart the TUN's
      // routes are already there (they outlive the process), so adopted
      // connections flow again while the routes, NDP and steering are checked.
      service.loop.setHostAddresses(service.hostAddresses());
      await service.startOffload(workers);
      if (workers > 1) {
        const programs = service.programs;
        service.workers = await NatWorkers.start({
          tun: resolved.tun, control: tun, count: workers, config: engineConfig(resolved, options.nat), hostAddresses: service.hostAddresses(),
          ...(programs === undefined ? {} : {
            offload: { mapFd: programs.map.fd, entries: programs.map.maxEntries, routes: offloadRoutes(resolved, service.egress), debug: log.isLevelEnabled('debug') },
          }),
          onFailure: (message) => service.failed(`a packet worker failed: ${message}`, true),
          ...(service.logSessions ? { onOpened: (opened, missed) => service.logOpened(opened, missed) } : {}),
          logger: log, ...(options.stateFile === undefined ? {} : { stateFile: options.stateFile, boot }),
        });
        restored = service.workers.restored;
      } else {
        service.loop.start();
      }
      await service.installHost(undefined, plan);
      service.stopWatching = watchDeviceRoutes(resolved.tun, () => service.checkRoutes());
      service.stopWatchingUplink = watchAddresses(resolved.uplink, () => service.upstreamChanged());
      service.expiry = setInterval(() => service.expire(), 1000);
      service.expiry.unref();
      if (service.logSessions) {
        service.sessionLog = setInterval(() => service.logOpenedSessions(), SESSION_LOG_MS);
        service.sessionLog.unref();
      }
    } catch (err) {
      service.stopWatching?.();
      service.stopWatchingUplink?.();
      service.stopWatchingEgress?.();
      await service.workers?.stop();
      service.loop.stop();
      service.programs?.close();
      tun.close();
      service.state?.close();
      await service.releaseNdp();
      throw err;
    }
    log.info({
      tun: tun.name, offloads: tun.offloads, ioUring: service.workers?.ioUring ?? tun.uring, workers, offload: service.offloadState, restoredSessions: restored,
      networks: resolved.networks.map((n) => ({ name: n.name, mode: n.mode, addressMode: n.addressMode, external: n.externalPrefix ?? n.externalAddresses })),
      published: [...service.published.keys()],
    }, 'nat66 data path running');
    service.logExternals(undefined, resolved);
    return service;
  }

  /**
   * The fast path, unless `offload: off`: the map and both programs loaded
   * and attached, and (one worker) the main loop's half; 'auto' turns it off
   * with one line when the kernel refuses (no tcx before Linux 6.6, no CAP_BPF).
   */
  private async startOffload(workers: number): Promise<void> {
    if (this.options.offload === 'off') {
      this.offloadState = 'off (offload: off)';
      return;
    }
    let programs: OffloadPrograms | undefined;
    try {
      programs = OffloadPrograms.load();
      programs.attach(this.resolved.uplink, insideDevices(this.resolved));
    } catch (err) {
      programs?.close();
      const reason = (err as Error).message;
      this.offloadState = `off (${reason})`;
      this.log.warn({ reason }, 'NAT66 fast path off: the kernel did not take its programs; every packet goes through the TUN');
      return;
    }
    this.programs = programs;
    this.offloadState = 'on';
    this.egress = await egressRoutes(this.resolved.uplink);
    this.stopWatchingEgress = watchRoutes(() => this.egressChanged());
    const routes = offloadRoutes(this.resolved, this.egress);
    this.offloadKey = routesKey(routes);
    if (workers > 1) return;
    const fast = new NatOffload({ map: programs.map, worker: 0, slots: programs.map.maxEntries / 2, batch: CANDIDATE_RING, debug: offloadDebug(this.log) });
    fast.setRoutes(routes);
    fast.bind(this.nat);
    this.fastPath = fast;
    this.loop.offload = fast;
    // A capture must see every packet: the fast path steps aside while one runs.
    this.loop.capture.onActive = (active) => (active ? fast.pause() : fast.resume());
  }

  /**
   * After an apply: the programs follow the bridges (attached per device),
   * and every offloaded session goes back to the slow path when the engine
   * was reconfigured, on a resync (SIGHUP), or when the devices its entries
   * point at changed.
   */
  private async refreshOffload(resolved: ResolvedModel, reconfigured: boolean): Promise<void> {
    const programs = this.programs;
    if (programs === undefined) return;
    try {
      programs.attach(resolved.uplink, insideDevices(resolved));
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'NAT66 fast path: a device refused its program; its flows stay on the TUN path');
    }
    const routes = offloadRoutes(resolved, this.egress);
    const key = routesKey(routes);
    const reset = reconfigured || key !== this.offloadKey;
    this.offloadKey = key;
    if (reset) this.fastPath?.demoteAll(OffloadCounter.DemotedReset, monotonicMs());
    this.fastPath?.setRoutes(routes);
    await this.workers?.offload(routes, reset);
  }

  // The host's routing changed: promotions from now on judge remote addresses
  // by the new routes. Not queued behind applies (a container's start adds
  // routes; its apply need not wait for this read); the last read wins.
  private egressChanged(): void {
    const read = ++this.egressReads;
    egressRoutes(this.resolved.uplink).then((egress) => {
      if (this.stopped || read !== this.egressReads) return;
      this.egress = egress;
      const routes = offloadRoutes(this.resolved, egress);
      this.fastPath?.setRoutes(routes);
      void this.workers?.offload(routes, false);
    }, (err: unknown) => this.log.warn({ err: (err as Error).message }, 'NAT66 fast path: could not read the routes'));
  }

  // Once a second: what the fast path forwarded counts first (it refreshes timers), then the engine expires, then the expired are demoted.
  private expire(): void {
    const now = monotonicMs();
    this.fastPath?.sync(now);
    this.nat.expire(now);
    this.fastPath?.reap();
    this.reportQuota();
  }

  /** The host addresses steered in from the uplink: their ICMPv6 that is not sixgate's goes to the host. */
  private hostAddresses(): Uint8Array[] {
    return this.plan.steering.find((h) => h.dev === this.resolved.uplink)?.specs.map((s) => s.address) ?? [];
  }

  private publishedOf(resolved: ResolvedModel): Map<string, PublishedPort> {
    return new Map(natPublished(resolved).map((p) => [publishedKey(p), p]));
  }

  // Routes, NDP, steering and reserved ports: from `before` (undefined = whatever the kernel holds) to `after`.
  private async installHost(before: HostPlan | undefined, after: HostPlan): Promise<{ policy: { added: number; removed: number }; ndpAdded: number; ndpRemoved: number; steeringChanged: boolean }> {
    const policy = await this.syncPolicy(after.policy);
    let ndpAdded = 0;
    let ndpRemoved = 0;
    if (this.options.ndp ?? true) {
      const r = await this.syncNdp(after);
      ndpAdded = r.added;
      ndpRemoved = r.removed;
    }
    const steering = after.steering.map(steerKey).join(';');
    const steeringChanged = steering !== this.appliedSteering?.key;
    if (steeringChanged) {
      const known = this.appliedSteering?.state;
      this.appliedSteering = undefined;
      // A bridge Docker has just deleted (its network's removal is on its way) took its filters with it.
      const kept = new Set(after.steering.map((h) => h.dev));
      for (const dev of new Set(before?.steering.map((h) => h.dev) ?? [])) if (!kept.has(dev) && ifIndexOrZero(dev) !== 0) await this.host.removeSteering(dev);
      const hooks = after.steering.filter((h) => ifIndexOrZero(h.dev) !== 0);
      try {
        const state = hooks.length > 0 ? await this.host.applySteering(this.resolved.tun, hooks, known) : new Map();
        this.appliedSteering = { key: steering, state };
        this.steeringFailure = undefined;
      } catch (err) {
        // Host mode cannot work without it; elsewhere the networks' own
        // addresses still serve (a kernel without u32 or mirred): said once,
        // tried again at the next change.
        if (after.reservedPorts !== undefined) throw err;
        const reason = (err as Error).message;
        if (reason !== this.steeringFailure) this.log.warn({ reason }, "published ports answer on the networks' external addresses only: steering the host's own addresses failed");
        this.steeringFailure = reason;
      }
    }
    if (after.reservedPorts !== undefined) reservePorts(after.reservedPorts, this.log);
    if (before?.reservedPorts !== undefined && (after.reservedPorts === undefined || before.reservedPorts.join() !== after.reservedPorts.join())) {
      releasePorts(before.reservedPorts);
    }
    this.published = this.publishedOf(this.resolved);
    this.installed = after;
    return { policy, ndpAdded, ndpRemoved, steeringChanged };
  }

  // The kernel's state is read only when unknown; otherwise the diff is made
  // against the last applied state in memory, and no difference runs nothing.
  private async syncPolicy(desired: PolicyState): Promise<{ added: number; removed: number }> {
    const current = this.appliedPolicy ?? await this.host.readPolicy();
    const diff = diffPolicy(current, desired);
    if (diff.lines.length > 0) {
      this.appliedPolicy = undefined;
      const { failed } = await this.host.ipBatch(diff.lines, { force: true });
      if (failed.length > 0) throw new Error(`ip refused: ${failed.join('; ')}`);
    }
    this.appliedPolicy = desired;
    return diff;
  }

  private async syncNdp(after: HostPlan): Promise<{ added: number; removed: number }> {
    const uplink = this.resolved.uplink;
    const r = this.ndpSources.setAddresses(NDP_SOURCE, uplink, after.ndpAddresses);
    await this.ndpSources.setPrefixes(NDP_SOURCE, uplink, after.ndpPrefixes);
    if (this.ndp === undefined && this.options.ndpSources === undefined && this.ndpSources.uplinks().size > 0) {
      const { NdpService } = await import('../proxy/ndp-service.js');
      this.ndp = await NdpService.start({
        config: sourcesOnlyConfig('<sixgate nat66>'), sources: this.ndpSources, logger: this.log.child({ part: 'ndp' }), now: monotonicMs,
      });
    }
    return r;
  }

  /**
   * Moves to a new model, touching only what changed. Networks, external
   * addresses, NPTv6 prefixes and published ports change the engine in
   * place or move its sessions into a new table (reconfigureNat): either
   * way only the sessions of what went end.
   * Published ports alone run no command (in dedicated and NPTv6 modes;
   * host mode steers each published port).
   * Calls are queued. After a failure the next call re-reads the kernel.
   */
  apply(model: DatapathModel, options: ApplyOptions = {}): Promise<ApplyReport> {
    const next = this.queue.then(async () => {
      if (options.resync) {
        this.appliedPolicy = undefined;
        this.appliedSteering = undefined;
      }
      try {
        if (options.nat !== undefined) this.natOptions = options.nat;
        return await this.applyNow(model, options.facts, options.resync === true);
      } catch (err) {
        this.appliedPolicy = undefined;
        this.appliedSteering = undefined;
        throw err;
      }
    });
    this.queue = next.catch(() => {});
    return next;
  }

  private async applyNow(model: DatapathModel, given: HostFacts | undefined, resync: boolean): Promise<ApplyReport> {
    if (this.stopped) throw new Error('data path stopped');
    const filtered = withoutKernelNat(model, this.kernelNat, this.log, this.kernelNatWarned);
    const delegated = this.options.delegatedPrefixes?.() ?? [];
    const facts = given === undefined ? uplinkFacts(filtered.uplink, delegated) : { ...given, delegatedPrefixes: delegated };
    const { model: resolved, notes } = resolveModel(filtered, facts);
    if (resolved.tun !== this.resolved.tun || resolved.uplink !== this.resolved.uplink) {
      throw new HostSetupError(['changing the TUN or uplink needs a restart']);
    }
    // Notes repeat on every apply (the same choices are made again): each is logged when it first appears.
    for (const note of notes) if (!this.notes.has(note)) this.log.info(note);
    this.notes = new Set(notes);
    const plan = hostPlan(resolved);
    const config = engineConfig(resolved, this.natOptions);
    const engineChanged = engineKey(config) !== this.natApplied;
    let nat = this.reconfigureNat(resolved);
    if (this.workers !== undefined && engineChanged) nat = await this.workers.reconfigure(config, this.currentTun);
    const before = this.plan;
    this.logExternals(this.resolved, resolved);
    this.declared = model;
    this.uplinkKey = uplinkKey(facts);
    this.resolved = resolved;
    this.plan = plan;
    // While the data path is down its routes cannot be installed (the TUN may
    // be gone): the repair installs the plan in force when it runs.
    const host = this.down === undefined ? await this.installHost(before, plan) : NOTHING_INSTALLED;
    this.loop.setHostAddresses(this.hostAddresses());
    this.workers?.setHostAddresses(this.hostAddresses());
    await this.refreshOffload(resolved, engineChanged || resync);
    if (this.relayout) this.scheduleRelayout();
    const report: ApplyReport = {
      rulesAndRoutesAdded: host.policy.added, rulesAndRoutesRemoved: host.policy.removed,
      ndpAdded: host.ndpAdded, ndpRemoved: host.ndpRemoved, steeringChanged: host.steeringChanged,
      ...nat, notes,
    };
    this.log.info(report, 'model applied');
    return report;
  }

  /**
   * Moves the engine to the model's networks, published ports and engine
   * options. A capacity change, or more external addresses than the table
   * has room for, needs a new table that takes every live session
   * (Nat66.migrateFrom); anything else is done in place (Nat66.reconfigure),
   * and when that leaves a table a fresh start would not build (a network or
   * external address removed or put before another) and a state file keeps
   * it, the move to a new table follows a moment later, so a restart
   * still adopts the file while a renumbering's new addresses are used at
   * once (tens of milliseconds sooner at 262,144 sessions). Either way the sessions
   * whose network, external address and published port remain carry on
   * with the same translation; the rest end, counted in one line. Nothing
   * runs when the engine's configuration is unchanged (both are O(capacity)).
   */
  private reconfigureNat(resolved: ResolvedModel): { natRebuilt: boolean; sessionsDropped: number; publishedAdded: number; publishedRemoved: number } {
    const config = engineConfig(resolved, this.natOptions);
    const key = engineKey(config);
    if (key === this.natApplied) return { natRebuilt: false, sessionsDropped: 0, publishedAdded: 0, publishedRemoved: 0 };
    let result;
    if (this.nat.needsNewTable(config)) {
      result = this.moveToNewTable(config);
    } else {
      // A table a fresh start would lay out otherwise only matters to a state file's next start: in place
      // first (no allocation, forwarding goes on with the new configuration at once), the move after (scheduleRelayout).
      this.relayout = this.state !== undefined && !this.nat.staysRestorable(config);
      result = { natRebuilt: false, ...this.nat.reconfigure(config) };
    }
    this.natApplied = key;
    if (result.sessionsDropped > 0) {
      this.log.info({ sessions: result.sessionsDropped }, 'NAT reconfigured: sessions of removed networks, external addresses or published ports ended');
    }
    return result;
  }

  /** One line per network whose external addresses (or NPTv6 prefix) are new or changed, so each is in the log when it appears. */
  private logExternals(before: ResolvedModel | undefined, after: ResolvedModel): void {
    for (const n of after.networks) {
      const now = externals(n);
      const old = before?.networks.find((b) => b.name === n.name);
      if (now.length === 0 || (old !== undefined && externals(old).join(' ') === now.join(' '))) continue;
      this.log.info({ network: n.name, mode: n.mode, addressMode: n.addressMode, external: now },
        `network ${n.name}: ${n.externalPrefix !== undefined ? 'NPTv6 prefix' : 'external address'} ${now.join(', ')}`);
    }
  }

  /** -v: a debug line per session opened since the last call (the engine's ring holds CREATED_RING; more are counted). */
  private logOpenedSessions(): void {
    const { opened, missed } = takeOpenedSessions(this.nat);
    this.logOpened(opened, missed);
  }

  /** The debug lines of sessions opened (by this thread's engine or a worker's) and of those its ring missed. */
  private logOpened(opened: readonly SessionInfo[], missed: number): void {
    for (const f of opened) {
      const container = this.options.containerOf?.(f.inside);
      this.log.debug({
        proto: f.protocol, inside: `[${f.inside}]:${f.insidePort}`, outside: `[${f.external}]:${f.externalPort}`, remote: `[${f.remote}]:${f.remotePort}`,
        ...(container === undefined ? {} : { container }), ...(f.published ? { published: true } : {}),
      }, 'NAT session opened');
    }
    if (missed > 0) this.log.debug({ sessions: missed }, 'more NAT sessions opened, not logged one by one');
  }

  /**
   * The engine was changed in place into a table a fresh start would not
   * build: once the packets waiting meanwhile went through with the new
   * configuration (RELAYOUT_DELAY_MS), its sessions move to a table a
   * restart can adopt. Queued like an apply.
   */
  private scheduleRelayout(): void {
    if (this.relayoutTimer !== undefined) return;
    this.relayoutTimer = setTimeout(() => {
      this.relayoutTimer = undefined;
      const next = this.queue.then(() => {
        if (this.stopped || !this.relayout) return;
        this.relayout = false;
        this.moveToNewTable(engineConfig(this.resolved, this.natOptions));
      });
      this.queue = next.catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'could not move the NAT table to a fresh layout'));
    }, RELAYOUT_DELAY_MS);
    this.relayoutTimer.unref();
  }

  /**
   * A new table that takes every live session of the engine in force
   * (Nat66.migrateFrom), laid out as a fresh start with `config` would lay
   * it out (no `previous`), so a restart adopts its state file.
   */
  private moveToNewTable(config: NatConfig): { natRebuilt: boolean; sessionsDropped: number; publishedAdded: number; publishedRemoved: number } {
    const fresh = new Nat66(config, { mappable: this.state !== undefined });
    fresh.sessions.noteCreated = this.logSessions;
    // The counters carry on (metrics never go backwards).
    addInto(fresh.counters, this.nat.counters);
    addInto(fresh.drops, this.nat.drops);
    const { moved, dropped } = fresh.migrateFrom(this.nat);
    if (this.boot !== undefined) this.state = moveState(fresh, this.state, this.boot, this.log);
    this.log.info({ sessions: moved, dropped, capacity: fresh.table.capacity, externalRoom: fresh.table.externalCount }, 'NAT table rebuilt: live sessions moved into it');
    this.nat = fresh;
    this.loop.nat = fresh;
    this.fastPath?.bind(fresh);
    return { natRebuilt: true, sessionsDropped: dropped, publishedAdded: fresh.published.size, publishedRemoved: 0 };
  }

  /**
   * The uplink's addresses (an address event) or the delegated prefixes
   * changed: re-resolve the model in force against them, unless they are
   * the ones it was resolved against (a router's RA refreshing lifetimes is
   * an event too). Queued like any apply.
   */
  upstreamChanged(): void {
    if (this.stopped) return;
    const facts = uplinkFacts(this.resolved.uplink, this.options.delegatedPrefixes?.());
    if (uplinkKey(facts) === this.uplinkKey) return;
    const before = externalsOf(this.resolved);
    void this.apply(this.declared, { facts }).then((report) => {
      const after = externalsOf(this.resolved);
      if (after === before) return;
      this.uplink.changes++;
      this.uplink.sessionsEnded += report.sessionsDropped;
      this.log.info({ uplink: this.resolved.uplink, before, after, sessionsEnded: report.sessionsDropped },
        'uplink prefixes changed: new connections leave from the current prefix, those on a withdrawn one ended');
    }, (err: unknown) => {
      this.log.error({ err: (err as Error).message }, 'uplink prefixes changed but the model could not be applied: the previous one stays in force');
    });
  }

  /**
   * At most one line per QUOTA_LOG_MS when containers hit their session
   * quota: the last address that did, its network and the hits since.
   */
  private reportQuota(): void {
    const c = this.natCounters;
    const hits = c[NatCounter.AddressQuotaHits]! + c[NatCounter.NetworkQuotaHits]!;
    const now = monotonicMs();
    if (hits === this.quotaHits || now - this.quotaLoggedAt < QUOTA_LOG_MS) return;
    // With workers the hit is told by message: a count published before it waits for the next second.
    const hit = this.workers === undefined ? lastQuotaHit(this.nat) : this.workers.lastQuotaHit;
    if (hit === undefined) return;
    const { address, network, perAddress, limit } = hit;
    const container = this.options.containerOf?.(address);
    this.log.warn({
      address, ...(container === undefined ? {} : { container }), network, quota: perAddress ? 'address' : 'network', limit, hits: hits - this.quotaHits,
    }, 'NAT session quota reached: the stalest unanswered sessions make room, else new flows are dropped');
    this.quotaHits = hits;
    this.quotaLoggedAt = now;
  }

  /** The engine in force (replaced by apply when it needs a new table). */
  get engine(): Nat66 {
    return this.nat;
  }

  /** The NDP service the data path started itself (`sixgate nat`; none under `sixgate run`, whose daemon's service answers for it). */
  get ndpProxy(): NdpService | undefined {
    return this.ndp;
  }

  /** The engine's counters (NatCounter), or their sum over the workers as they last published them. */
  get natCounters(): Float64Array {
    return this.workers?.sum('nat') ?? this.nat.counters;
  }

  /** The engine's drops by reason, or their sum over the workers. */
  get natDrops(): Float64Array {
    return this.workers?.sum('drops') ?? this.nat.drops;
  }

  /** The fast path's counters (OffloadCounter), or their sum over the workers; undefined while it is off. */
  get offloadCounters(): Float64Array | undefined {
    if (this.programs === undefined) return undefined;
    return this.workers?.sum('offload') ?? this.fastPath?.counters;
  }

  /** Sessions on the fast path now (over the workers). */
  get offloadedSessions(): number {
    return this.workers?.offloadedSessions ?? this.fastPath?.sessions ?? 0;
  }

  /** The packet loop's counters (LoopCounter), or their sum over the workers. */
  get loopCounters(): Float64Array {
    return this.workers?.sum('loop') ?? this.loop.counters;
  }

  /** The TUN's counters (Counter), or the sum over the workers' queues. */
  get tunCounters(): Float64Array {
    return this.workers?.sum('tun') ?? this.currentTun.counters;
  }

  /** Sessions in the table, or in all the workers' shards. */
  get sessionCount(): number {
    return this.workers?.sessionCount ?? this.nat.table.count;
  }

  /** The per-network and per-host counts: the engine's, or the workers' sums (named by this thread's engine's configuration, which the shards share). */
  get workloadCounts(): WorkloadCounts {
    return this.workers?.workload(this.nat.cfg) ?? engineCounts(this.nat);
  }

  /** The packet workers (none when the loop runs on the main thread). */
  get packetWorkers(): NatWorkers | undefined {
    return this.workers;
  }

  /** The TUN in use (a new one after a repair that reopened it). */
  get tun(): Tun {
    return this.currentTun;
  }

  get model(): ResolvedModel {
    return this.resolved;
  }

  /** Down while the TUN or its routes are being repaired, or while the NDP sockets for the external addresses are. */
  health(): PartHealth {
    if (this.down !== undefined) return { ok: false, detail: this.down };
    const ndp = this.ndp?.failedInterfaces ?? [];
    if (ndp.length > 0) return { ok: false, detail: `NDP sockets on ${ndp.join(', ')} failed, reopening` };
    return { ok: true };
  }

  /** The TUN failed or lost its routes: stop forwarding (the fail-closed routes drop meanwhile) and repair. */
  private failed(reason: string, tunFailed: boolean): void {
    if (this.stopped) return;
    this.tunFailed ||= tunFailed;
    this.loop.stop();
    if (this.down === undefined) {
      this.down = reason;
      this.downSince = monotonicMs();
      this.supervision.failures++;
      this.log.error({ tun: this.resolved.tun }, `data path down: ${reason}; repairing (NAT'd container traffic is dropped meanwhile, the connection table is kept)`);
    }
    this.scheduleRepair();
  }

  private scheduleRepair(): void {
    if (this.stopped || this.repairTimer !== undefined) return;
    this.repairTimer = setTimeout(() => {
      this.repairTimer = undefined;
      void this.repair();
    }, this.repairDelayMs);
    this.repairDelayMs = Math.min(this.repairDelayMs * 2, REPAIR_MAX_MS);
  }

  // Queued with applies, so a repair never runs in the middle of one.
  private repair(): Promise<void> {
    const next = this.queue.then(async () => {
      if (this.stopped || this.down === undefined) return;
      const name = this.resolved.tun;
      try {
        if (this.tunFailed || this.currentTun.closed || ifIndexOrZero(name) === 0) {
          const old = this.currentTun;
          old.close();
          this.currentTun = openTun(name, this.workers?.count ?? 1);
          // The device's counters carry on (metrics never go backwards).
          addInto(this.currentTun.counters, old.counters);
          this.loop.attach(this.currentTun);
          await this.workers?.reopen(this.currentTun);
          this.tunFailed = false;
        } else {
          setUp(name, true);
        }
        // Whatever the kernel removed with the device: re-read it, put it back.
        this.appliedPolicy = undefined;
        this.appliedSteering = undefined;
        await this.installHost(this.installed, this.plan);
      } catch (err) {
        this.log.debug({ err: (err as Error).message, retryMs: this.repairDelayMs }, 'data path repair failed; trying again');
        this.scheduleRepair();
        return;
      }
      if (this.workers === undefined) this.loop.start();
      this.supervision.repairs++;
      this.log.info({ tun: name, downMs: Math.round(monotonicMs() - this.downSince) }, 'data path repaired: forwarding again');
      this.down = undefined;
      this.repairDelayMs = REPAIR_FIRST_MS;
    });
    this.queue = next.catch(() => {});
    return next;
  }

  // A route through the TUN was deleted: ours (an apply) or the kernel's
  // doing (device down or gone) or someone else's. Only routes of the plan
  // in force that are missing make it a failure.
  private checkRoutes(): void {
    const next = this.queue.then(async () => {
      if (this.stopped || this.down !== undefined) return;
      const missing = diffPolicy(await this.host.readPolicy(), this.plan.policy).added;
      if (missing > 0) this.failed(`${missing} of its routes and rules were removed (TUN ${this.resolved.tun} set down or deleted?)`, false);
    });
    this.queue = next.catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'could not read the routes back'));
  }

  // Stops the service the data path started, or withdraws its claims from the one it was given.
  private async releaseNdp(): Promise<void> {
    if (this.ndp !== undefined) {
      await this.ndp.stop();
      return;
    }
    this.ndpSources.setAddresses(NDP_SOURCE, this.resolved.uplink, []);
    await this.ndpSources.setPrefixes(NDP_SOURCE, this.resolved.uplink, []);
  }

  /**
   * Stops forwarding. By default the host state stays and so does the table
   * in `stateFile` (a restart adopts them); `cleanup: true` removes every
   * rule, route, filter, reserved range, the TUN and the state file instead.
   */
  async stop(options: { cleanup?: boolean } = {}): Promise<void> {
    await this.queue;
    if (this.stopped) return;
    this.stopped = true;
    if (this.expiry !== undefined) clearInterval(this.expiry);
    if (this.sessionLog !== undefined) clearInterval(this.sessionLog);
    if (this.repairTimer !== undefined) clearTimeout(this.repairTimer);
    if (this.relayoutTimer !== undefined) clearTimeout(this.relayoutTimer);
    this.stopWatching?.();
    this.stopWatchingUplink?.();
    this.stopWatchingEgress?.();
    this.loop.stop();
    this.fastPath?.demoteAll(OffloadCounter.DemotedReset, monotonicMs());
    await this.workers?.stop(options.cleanup);
    // The links go with the programs: nothing of the fast path stays on the host.
    this.programs?.close();
    // A move to a fresh layout still waiting: now, so the next start adopts the state file.
    if (this.relayout && this.state !== undefined && !options.cleanup) this.moveToNewTable(engineConfig(this.resolved, this.natOptions));
    await this.releaseNdp();
    if (options.cleanup) this.state?.remove();
    this.state?.close();
    if (options.cleanup) {
      // A failed descriptor refuses the ioctl; cleanupHost removes the device by name anyway.
      if (!this.tunFailed) this.currentTun.setPersist(false);
      this.currentTun.close();
      await cleanupHost({ uplink: this.resolved.uplink, tun: this.resolved.tun, reservedPorts: this.plan.reservedPorts });
      return;
    }
    if (this.state !== undefined) this.log.info({ file: this.state.path, sessions: this.nat.table.count }, 'connection table left in the state file');
    this.currentTun.close();
  }
}

/**
 * The model without the networks the kernel already masquerades (Docker's
 * ip6tables NAT, found at start): never NAT twice. One warning per network.
 */
function withoutKernelNat(model: DatapathModel, kernel: readonly string[], log: Logger, warned: Set<string>): DatapathModel {
  if (kernel.length === 0) return model;
  const networks = model.networks.filter((n) => {
    const hit = n.subnets.find((s) => kernel.some((k) => k.includes(':') && prefixesOverlap(s, k)));
    if (hit !== undefined && !warned.has(n.name)) {
      warned.add(n.name);
      log.warn({ network: n.name, subnet: hit }, 'ip6tables already masquerades this network (Docker ip6tables NAT?): left to the kernel, to avoid double NAT');
    }
    return hit === undefined;
  });
  return { ...model, networks };
}

/** The engine's configuration for a model: its networks and published ports, with the engine options. */
function engineConfig(resolved: ResolvedModel, options: Partial<NatConfig> | undefined): NatConfig {
  return { ...natConfig(resolved, options), published: natPublished(resolved) };
}

function engineKey(config: NatConfig): string {
  return JSON.stringify(config);
}

const NOTHING_INSTALLED = { policy: { added: 0, removed: 0 }, ndpAdded: 0, ndpRemoved: 0, steeringChanged: false };



/** The devices the inside program goes on: every bridge a masquerading network's containers send from (a reply bridge too). */
function insideDevices(m: ResolvedModel): string[] {
  return [...new Set([...m.networks.filter((n) => n.mode === 'masquerade').map((n) => n.bridge), ...m.replyBridges])];
}

/** Where offloaded packets leave: the uplink, and each masquerading subnet's bridge (ifindexes; a device missing is left out). */
function offloadRoutes(m: ResolvedModel, egress: readonly EgressRoute[]): OffloadRoutes {
  const inside = m.networks.filter((n) => n.mode === 'masquerade').flatMap((n) => n.subnets.map((subnet) => ({ subnet, ifindex: ifIndexOrZero(n.bridge) })));
  return { uplink: ifIndexOrZero(m.uplink), inside: inside.filter((r) => r.ifindex !== 0), egress };
}

/** Which remote addresses the uplink reaches: the main table's routes, and the host's own addresses (reached through none). */
async function egressRoutes(uplink: string): Promise<EgressRoute[]> {
  const routes = await readRoutes('main').catch(() => []);
  return [
    ...routes.map((r) => ({ prefix: `${formatIpv6(r.prefix, 0)}/${r.prefixLength}`, uplink: r.dev === uplink })),
    ...(uplinkFacts(uplink).localAddresses ?? []).map((a) => ({ prefix: `${a.address}/128`, uplink: false })),
  ];
}

/** What the entries in the map point at: a change demotes every session. */
function routesKey(r: OffloadRoutes): string {
  return `${r.uplink} ${r.inside.map((i) => `${i.subnet}@${i.ifindex}`).join(' ')}`;
}

/** A debug line per promotion and demotion, or none (nothing formatted) unless debug is on. */
function offloadDebug(log: Logger): ((fields: object, text: string) => void) | undefined {
  return log.isLevelEnabled('debug') ? (fields, text) => log.debug(fields, text) : undefined;
}

/** What resolution reads of the upstream: the uplink's addresses, prefix lengths, whether each is deprecated; the delegated prefixes. */
function uplinkKey(facts: HostFacts): string {
  const addresses = facts.uplinkAddresses.map((a) => `${a.address}/${a.prefixLength}${((a.flags ?? 0) & IFA_F_DEPRECATED) !== 0 ? 'd' : ''}`);
  return [...addresses, ...(facts.delegatedPrefixes ?? []).map((p) => `pd ${p}`)].join(' ');
}

/** A network's external side: its NPTv6 prefix, or its external addresses. */
function externals(n: ResolvedModel['networks'][number]): readonly string[] {
  return n.externalPrefix !== undefined ? [n.externalPrefix] : n.externalAddresses;
}

/** Each network's external side, as text for log lines: "web 2001:db8:1::5167:1 (draining 2001:db8:9::5167:1)". */
function externalsOf(m: ResolvedModel): string {
  return m.networks.map((n) => {
    const draining = n.drainingAddresses === undefined ? '' : ` (draining ${n.drainingAddresses.join(' ')})`;
    return `${n.name} ${externals(n).join(' ')}${draining}`;
  }).join('; ');
}

function steerKey(h: SteerHook): string {
  const spec = (s: SteerHook['specs'][number]): string => `${formatIpv6(s.address, 0)} ${s.ports.map((p) => `${p.protocol}:${p.lo}-${p.hi}`).join(',')}` +
    ` ${(s.from ?? []).map((f) => `${f.protocol}:[${formatIpv6(f.address, 0)}]:${f.port}`).join(',')} ${(s.icmpTypes ?? []).join(',')}`;
  return `${h.dev} ${h.direction}: ${h.specs.map(spec).join('; ')}`;
}

/**
 * Removes everything sixgate installs, whatever model put it there: rules and
 * routes (by tag), steering (on whatever device it is), the reserved port range,
 * and the persistent TUN. Safe to run when nothing is installed.
 */
export async function cleanupHost(options: { uplink?: string; tun?: string; reservedPorts?: readonly [number, number] }): Promise<void> {
  await cleanupPolicy();
  await removeAllSteering();
  if (options.uplink !== undefined) await removeSteering(options.uplink);
  if (options.reservedPorts !== undefined) releasePorts(options.reservedPorts);
  const name = options.tun ?? DEFAULT_TUN;
  try {
    const tun = Tun.open({ name, vnetHeader: true, up: false });
    tun.setPersist(false);
    tun.close();
  } catch {
    // No such TUN (or one with other flags, which is not ours).
  }
}
