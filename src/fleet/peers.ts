// The other hosts of the fleet, as etcd says: every lease key under the
// fleet's key prefix, read once and then followed by a watch from the
// revision read (no event lost in between). A key that goes (its host's
// lease expired, or it released it) takes its host out. While etcd cannot
// be reached no event arrives and the table stays as it was (fail static);
// the client's watch resumes from the last revision it saw.
import type { Etcd3, Watcher } from 'etcd3';
import type { Logger } from '../log.js';
import { type FleetPlan, subprefixOfKey } from './subnets.js';
import { type LeaseValue, parseLeaseValue } from './lease.js';

export class FleetPeers {
  readonly #client: Etcd3;
  readonly #plan: FleetPlan;
  readonly #log: Logger;
  readonly #onChange: (peers: ReadonlyMap<string, LeaseValue>) => void;
  /** sub-prefix -> its holder, every host's including this one's. */
  readonly #leases = new Map<string, LeaseValue>();
  #watcher: Watcher | undefined;
  #read = false;

  constructor(client: Etcd3, plan: FleetPlan, log: Logger, onChange: (leases: ReadonlyMap<string, LeaseValue>) => void) {
    this.#client = client;
    this.#plan = plan;
    this.#log = log;
    this.#onChange = onChange;
  }

  get leases(): ReadonlyMap<string, LeaseValue> {
    return this.#leases;
  }

  /** Whether the leases have been read from etcd at least once. */
  get read(): boolean {
    return this.#read;
  }

  /** Reads every lease and starts the watch. Rejects when etcd cannot be reached (the caller retries). */
  async start(): Promise<void> {
    const res = await this.#client.getAll().prefix(this.#plan.keyPrefix).exec();
    this.#leases.clear();
    for (const kv of res.kvs) this.#put(kv.key.toString(), kv.value.toString());
    this.#read = true;
    this.#onChange(this.#leases);
    const watcher = await this.#client.watch().prefix(this.#plan.keyPrefix)
      .startRevision(String(BigInt(res.header.revision) + 1n)).create();
    this.#watcher = watcher;
    watcher.on('put', (kv) => { this.#put(kv.key.toString(), kv.value.toString()); this.#onChange(this.#leases); });
    watcher.on('delete', (kv) => {
      const subprefix = subprefixOfKey(this.#plan, kv.key.toString());
      if (subprefix !== undefined && this.#leases.delete(subprefix)) this.#onChange(this.#leases);
    });
    watcher.on('disconnected', (err) => this.#log.warn({ err: err.message }, 'fleet: etcd watch lost; routes kept, reconnecting'));
    watcher.on('connected', () => this.#log.debug('fleet: etcd watch connected'));
  }

  async stop(): Promise<void> {
    await this.#watcher?.cancel().catch(() => undefined);
    this.#watcher = undefined;
  }

  #put(key: string, text: string): void {
    const subprefix = subprefixOfKey(this.#plan, key);
    const value = parseLeaseValue(text);
    if (subprefix === undefined || value === undefined) {
      this.#log.warn({ key }, 'fleet: ignoring a key under the fleet prefix that is not a lease');
      return;
    }
    this.#leases.set(subprefix, value);
  }
}
