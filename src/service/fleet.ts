// Fleet mode under `sixgate run`: hold a sub-prefix of the fleet prefix in
// etcd (src/fleet/) and route every other host's sub-prefix via its uplink
// address (src/host/peer-routes.ts), following etcd's watch. Fail static:
// when etcd is away the lease and the routes in force stay as they are,
// the host keeps serving, and both sides retry with backoff.
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import type { Logger } from '../log.js';
import { ConfigError } from '../errors.js';
import type { ServiceConfig } from '../config/options.js';
import { FleetPeers, SubnetLease, etcdClient, fleetPlan, type EtcdEndpoints, type FleetPlan, type LeaseValue } from '../fleet/index.js';
import { applyPeerRoutes, interfaceGlobals } from '../host/index.js';
import { formatIpv6 } from '../wire/address.js';

export interface FleetOptions {
  readonly etcd: EtcdEndpoints;
  readonly prefix: string;
  readonly size: number;
  /** This host's name in its lease (unique in the fleet: a restart re-claims by it). */
  readonly host: string;
  /** This host's address on the shared link: the other hosts' next hop to its sub-prefix. */
  readonly uplinkAddress: string;
  readonly ttlSeconds: number;
  /** Remembers the sub-prefix across restarts. */
  readonly stateFile?: string;
  readonly log: Logger;
}

/**
 * The agent's options from `sixgate run`'s configuration (undefined without
 * --fleet). Throws ConfigError for a half-given fleet or an uplink without
 * a global address to be routed via.
 */
export async function fleetOptionsOf(config: ServiceConfig, uplink: string, log: Logger): Promise<FleetOptions | undefined> {
  if (config.fleet === undefined) return undefined;
  if (config.fleetPrefix === undefined || config.fleetSize === undefined) {
    throw new ConfigError('fleet: --fleet needs --fleet-prefix and --fleet-size (fleetPrefix, fleetSize)');
  }
  const sizeText = String(config.fleetSize);
  if (!/^\/?\d{1,3}$/.test(sizeText)) throw new ConfigError(`fleetSize: expected /N, got ${JSON.stringify(sizeText)}`);
  let uplinkAddress = config.fleetAddress;
  if (uplinkAddress === undefined) {
    const globals = await interfaceGlobals(uplink);
    if (globals.length === 0) throw new ConfigError(`fleet: uplink ${uplink} has no global address for the other hosts to route via; set fleetAddress`);
    uplinkAddress = formatIpv6(globals[0]!.addr, 0);
  }
  return {
    etcd: {
      urls: config.fleet,
      ...(config.fleetCa === undefined ? {} : { caFile: config.fleetCa }),
      ...(config.fleetCert === undefined ? {} : { certFile: config.fleetCert }),
      ...(config.fleetKey === undefined ? {} : { keyFile: config.fleetKey }),
    },
    prefix: config.fleetPrefix,
    size: Number(sizeText.replace('/', '')),
    host: config.fleetHost ?? hostname(),
    uplinkAddress,
    ttlSeconds: config.fleetTtl,
    // Beside the connection table's state file, else beside the status file.
    stateFile: config.stateFile !== undefined ? `${config.stateFile}.fleet.json` : join(dirname(config.statusFile), 'fleet.json'),
    log,
  };
}

const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 5_000;

export class FleetAgent {
  readonly plan: FleetPlan;
  readonly #o: FleetOptions;
  readonly #client: Etcd3;
  readonly #lease: SubnetLease;
  readonly #peers: FleetPeers;
  #applying: Promise<void> = Promise.resolve();
  #pending = false;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  /** Resolves once, when the routes of the first full read of the leases are in place. */
  #routed: Promise<void>;
  #markRouted: () => void = () => undefined;
  readonly #leaseListeners: Array<(subprefix: string | undefined) => void> = [];

  /** Validates the options (ConfigError) and makes the etcd client; nothing is asked of etcd before start(). */
  static async create(options: FleetOptions): Promise<FleetAgent> {
    const plan = fleetPlan(options.prefix, options.size);
    return new FleetAgent(options, plan, await etcdClient(options.etcd));
  }

  private constructor(options: FleetOptions, plan: FleetPlan, client: Etcd3) {
    this.#o = options;
    this.plan = plan;
    this.#client = client;
    const value: LeaseValue = { host: options.host, uplink: options.uplinkAddress };
    this.#lease = new SubnetLease({
      client: this.#client, plan: this.plan, value, ttlSeconds: options.ttlSeconds, stateFile: options.stateFile, log: options.log,
      onClaim: (subprefix) => {
        this.#scheduleApply();
        for (const listener of this.#leaseListeners) listener(subprefix);
      },
      onLost: () => {
        for (const listener of this.#leaseListeners) listener(undefined);
      },
    });
    this.#peers = new FleetPeers(this.#client, this.plan, options.log, () => this.#scheduleApply());
    this.#routed = new Promise((resolve) => { this.#markRouted = resolve; });
  }

  /** The sub-prefix this host holds (or held last), if any. */
  get subprefix(): string | undefined {
    return this.#lease.subprefix;
  }

  /** Whether the lease is held now (see SubnetLease.held). */
  get held(): boolean {
    return this.#lease.held;
  }

  /** Calls `listener` with each lease claimed (at start, and again after one was lost), and with undefined when etcd says it is gone. */
  onLease(listener: (subprefix: string | undefined) => void): void {
    this.#leaseListeners.push(listener);
  }

  /** Every lease known, this host's included. */
  get leases(): ReadonlyMap<string, LeaseValue> {
    return this.#peers.leases;
  }

  /** Claims the lease and starts the watch, each retried until etcd answers; resolves with the sub-prefix once routes are in place. */
  async start(): Promise<string> {
    const subprefix = await this.#lease.acquire();
    await this.#startPeers();
    await this.#routed;
    return subprefix;
  }

  /** Stops following etcd. `cleanup`: gives the lease back and removes the fleet routes; otherwise both stay (a restart adopts them). */
  async stop(cleanup = false): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#peers.stop();
    await this.#applying;
    if (cleanup) {
      await this.#lease.release().catch((err: Error) => this.#o.log.warn({ err: err.message }, 'fleet: could not release the lease (it expires with its TTL)'));
      await applyPeerRoutes(this.plan.prefix, this.plan.size, new Map());
    } else {
      this.#lease.close();
    }
    this.#client.close();
  }

  async #startPeers(): Promise<void> {
    for (let wait = RETRY_MIN_MS; !this.#stopped; wait = Math.min(wait * 2, RETRY_MAX_MS)) {
      try {
        await this.#peers.start();
        return;
      } catch (err) {
        this.#o.log.warn({ err: (err as Error).message, retryMs: wait }, 'fleet: cannot read the leases from etcd yet');
        await new Promise((r) => { this.#timer = setTimeout(r, wait); });
      }
    }
  }

  /** Coalesces changes: one apply runs at a time, and one more after it if anything changed meanwhile. */
  #scheduleApply(): void {
    if (this.#pending || this.#stopped) return;
    this.#pending = true;
    this.#applying = this.#applying.then(async () => {
      this.#pending = false;
      await this.#apply();
    });
  }

  async #apply(): Promise<void> {
    const own = this.#lease.subprefix;
    // Our key gone or someone else's per the watch: read it back before answering inside it any longer.
    if (own !== undefined && this.#lease.held && this.#peers.read && this.#peers.leases.get(own)?.host !== this.#o.host) await this.#lease.verify();
    const wanted = new Map<string, string>();
    for (const [subprefix, value] of this.#peers.leases) {
      if (subprefix !== own && value.host !== this.#o.host) wanted.set(subprefix, value.uplink);
    }
    try {
      const failed = await applyPeerRoutes(this.plan.prefix, this.plan.size, wanted);
      if (failed.length > 0) this.#o.log.warn({ failed }, 'fleet: routes the kernel refused (next hop not on a link?)');
      else this.#o.log.debug({ routes: wanted.size }, 'fleet: routes to the other hosts in place');
    } catch (err) {
      this.#o.log.error({ err: (err as Error).message }, 'fleet: could not apply routes to the other hosts');
    }
    if (this.#peers.read) this.#markRouted();
  }
}
