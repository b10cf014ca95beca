// One host's sub-prefix of the fleet prefix, held in etcd the way Flannel
// holds a subnet: a key per sub-prefix bound to an etcd lease with a TTL
// that the host keeps alive. Allocation is a transaction that creates the
// key only if it is absent, so two hosts can never hold the same
// sub-prefix, whatever the timing. The sub-prefix is remembered in the
// state directory, so a restart within the TTL re-claims the same one (the
// key still names this host: it is moved to the new lease by a
// compare-and-swap on its revision); without the file, a key that still
// names this host is taken back the same way. After the TTL the remembered
// sub-prefix comes back too if no other host took it meanwhile.
//
// Fail static: when etcd cannot be reached the host keeps the sub-prefix
// it has and keeps trying (keepalives every TTL/3 by the client; a lost
// lease is re-claimed with backoff, the current sub-prefix first).
import { readFileSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import type { Etcd3, IKeyValue, Lease } from 'etcd3';
import type { Logger } from '../log.js';
import { type FleetPlan, leaseKey, subprefixAt, subprefixOfKey } from './subnets.js';

/** What a lease key holds: who has the sub-prefix and where to route it. */
export interface LeaseValue {
  readonly host: string;
  /** The host's address on the shared link: the next hop of the other hosts' routes. */
  readonly uplink: string;
}

export interface SubnetLeaseOptions {
  readonly client: Etcd3;
  readonly plan: FleetPlan;
  readonly value: LeaseValue;
  readonly ttlSeconds: number;
  /** Where the sub-prefix is remembered across restarts (a small JSON file); none: not remembered. */
  readonly stateFile?: string;
  readonly log: Logger;
  /** Called when a sub-prefix is claimed (at start, and again after a loss: the same one if still free). */
  readonly onClaim?: (subprefix: string) => void;
  /** Called when etcd says the lease is gone (it expired while etcd could not be reached): the sub-prefix is not held until onClaim. */
  readonly onLost?: (subprefix: string) => void;
}

const BACKOFF_MIN_MS = 200;
const BACKOFF_MAX_MS = 5_000;

/** Parses a lease key's value; undefined for anything that is not one. */
export function parseLeaseValue(text: string): LeaseValue | undefined {
  try {
    const v = JSON.parse(text) as Partial<LeaseValue>;
    return typeof v.host === 'string' && typeof v.uplink === 'string' ? { host: v.host, uplink: v.uplink } : undefined;
  } catch {
    return undefined;
  }
}

export class SubnetLease {
  readonly #o: SubnetLeaseOptions;
  #lease: Lease | undefined;
  #subprefix: string | undefined;
  #closed = false;
  #retry: NodeJS.Timeout | undefined;
  #backoffMs = BACKOFF_MIN_MS;

  constructor(options: SubnetLeaseOptions) {
    this.#o = options;
    this.#subprefix = this.#remembered();
  }

  /** The sub-prefix held (or last held: kept while etcd is unreachable), if any. */
  get subprefix(): string | undefined {
    return this.#subprefix;
  }

  /** Whether a lease is held (false before the first claim and after etcd said it is gone, until claimed again). */
  get held(): boolean {
    return this.#lease !== undefined;
  }

  /** Claims a sub-prefix, retrying with backoff until one is held; resolves with it. */
  async acquire(): Promise<string> {
    for (;;) {
      if (this.#closed) throw new Error('fleet lease closed');
      try {
        const got = await this.#claim();
        this.#backoffMs = BACKOFF_MIN_MS;
        return got;
      } catch (err) {
        this.#o.log.warn({ err: (err as Error).message, retryMs: this.#backoffMs }, 'fleet: cannot claim a sub-prefix from etcd yet');
        await new Promise((r) => { this.#retry = setTimeout(r, this.#backoffMs); });
        this.#backoffMs = Math.min(this.#backoffMs * 2, BACKOFF_MAX_MS);
      }
    }
  }

  /** Stops keepalives; the key stays until its TTL runs out (a restart takes it back). */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#retry);
    this.#lease?.release();
  }

  /** Gives the sub-prefix back at once (`--cleanup`): the lease is revoked, its key deleted, the memory removed. */
  async release(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    if (this.#lease !== undefined) await this.#lease.revoke();
    else if (this.#subprefix !== undefined) await this.#deleteIfOurs(this.#subprefix);
    if (this.#o.stateFile !== undefined) rmSync(this.#o.stateFile, { force: true });
  }

  async #claim(): Promise<string> {
    const { client, plan, value, ttlSeconds } = this.#o;
    const lease = client.lease(ttlSeconds, { autoKeepAlive: true });
    lease.on('lost', (err) => this.#lost(lease, err));
    // After etcd was out of reach, the key is read again before the lease counts as held (#verify).
    let unreachable = false;
    lease.on('keepaliveFailed', () => { unreachable = true; });
    lease.on('keepaliveSucceeded', () => {
      if (!unreachable) return;
      unreachable = false;
      void this.verify();
    });
    let id: string;
    try {
      id = await lease.grant();
    } catch (err) {
      lease.release();
      throw err;
    }
    const text = JSON.stringify(value);
    const wanted = this.#subprefix;
    let got: string | undefined;
    try {
      got = wanted !== undefined && await this.#reclaim(wanted, id, text) ? wanted : undefined;
      got ??= await this.#allocate(id, text);
    } finally {
      if (got === undefined) await lease.revoke().catch(() => lease.release());
    }
    if (got === undefined) throw new Error(`no free sub-prefix /${plan.size} left in ${plan.prefix} (${plan.count} in all)`);
    this.#lease = lease;
    const changed = got !== this.#subprefix;
    this.#subprefix = got;
    this.#remember(got);
    this.#o.log.info({ subprefix: got, lease: id, ttl: ttlSeconds, reclaimed: !changed && wanted !== undefined }, 'fleet: sub-prefix held');
    this.#o.onClaim?.(got);
    return got;
  }

  /**
   * Reads the key back: the lease counts as held only while the key's current
   * revision names this lease and this host; otherwise it is lost (onLost:
   * the NDP proxy stops answering inside it) and claimed again. Run when etcd
   * answers again after keepalives failed (the lease lived, the key may not
   * have), and when the watch of the leases shows the key gone or changed
   * (the watch resumes from the last revision it saw, so a change made while
   * etcd was out of reach arrives on reconnect).
   */
  async verify(): Promise<void> {
    const { client, plan, value } = this.#o;
    const lease = this.#lease;
    if (this.#closed || lease === undefined || this.#subprefix === undefined) return;
    try {
      const kv: IKeyValue | undefined = (await client.get(leaseKey(plan, this.#subprefix)).exec()).kvs[0];
      const id = await lease.grant();
      if (kv !== undefined && kv.lease === id && parseLeaseValue(kv.value.toString())?.host === value.host) return;
      this.#o.log.warn({ subprefix: this.#subprefix }, 'fleet: the lease key no longer names this host');
      this.#lost(lease, new Error(kv === undefined ? 'its key is gone' : `its key (revision ${kv.mod_revision}) names another lease or host`));
      lease.release();
    } catch (err) {
      // Out of reach again: fail static, the next keepalive that succeeds checks again.
      this.#o.log.warn({ err: (err as Error).message }, 'fleet: could not read the lease key back after a reconnect');
    }
  }

  /** Takes `subprefix` back if it is free or still names this host; false if another host holds it. */
  async #reclaim(subprefix: string, id: string, text: string): Promise<boolean> {
    const { client, plan, value } = this.#o;
    const key = leaseKey(plan, subprefix);
    const res = await client.if(key, 'Create', '==', 0).then(client.put(key).value(text).lease(id))
      .else(client.get(key)).commit();
    if (res.succeeded) return true;
    const kv = res.responses[0]?.response_range?.kvs[0];
    if (kv === undefined || parseLeaseValue(kv.value.toString())?.host !== value.host) return false;
    // Ours from before a restart: move it to the new lease unless it changed in between.
    const swap = await client.if(key, 'Mod', '==', kv.mod_revision).then(client.put(key).value(text).lease(id)).commit();
    return swap.succeeded;
  }

  /**
   * A sub-prefix whose key still names this host (its state file was lost),
   * else the key of a free one created (random start among the free ones,
   * so claimants rarely collide).
   */
  async #allocate(id: string, text: string): Promise<string | undefined> {
    const { client, plan, value } = this.#o;
    const all = await client.getAll().prefix(plan.keyPrefix).strings();
    const taken = new Set<string | undefined>();
    for (const [key, held] of Object.entries(all)) {
      const subprefix = subprefixOfKey(plan, key);
      if (subprefix !== undefined && parseLeaseValue(held)?.host === value.host && await this.#reclaim(subprefix, id, text)) return subprefix;
      taken.add(subprefix);
    }
    const start = Math.floor(Math.random() * plan.count);
    for (let i = 0; i < plan.count; i++) {
      const subprefix = subprefixAt(plan, (start + i) % plan.count);
      if (taken.has(subprefix)) continue;
      const key = leaseKey(plan, subprefix);
      const res = await client.if(key, 'Create', '==', 0).then(client.put(key).value(text).lease(id)).commit();
      if (res.succeeded) return subprefix;
    }
    return undefined;
  }

  async #deleteIfOurs(subprefix: string): Promise<void> {
    const { client, plan, value } = this.#o;
    const key = leaseKey(plan, subprefix);
    const kv: IKeyValue | undefined = (await client.get(key).exec()).kvs[0];
    if (kv === undefined || parseLeaseValue(kv.value.toString())?.host !== value.host) return;
    await client.if(key, 'Mod', '==', kv.mod_revision).then(client.delete().key(key)).commit();
  }

  /**
   * etcd answered that the lease ran out (it was unreachable longer than the
   * TTL, or the lease was revoked): the routes stay, the sub-prefix is
   * claimed again (onLost lets the NDP proxy stop answering for it meanwhile).
   */
  #lost(lease: Lease, err: Error): void {
    if (this.#closed || lease !== this.#lease) return;
    this.#lease = undefined;
    this.#o.log.warn({ subprefix: this.#subprefix, err: err.message }, 'fleet: lease lost; keeping the routes, claiming the sub-prefix again');
    if (this.#subprefix !== undefined) this.#o.onLost?.(this.#subprefix);
    void this.acquire().catch(() => undefined);
  }

  #remembered(): string | undefined {
    if (this.#o.stateFile === undefined) return undefined;
    try {
      const saved = JSON.parse(readFileSync(this.#o.stateFile, 'utf8')) as { prefix?: string; subprefix?: string };
      if (saved.prefix !== this.#o.plan.prefix || typeof saved.subprefix !== 'string') return undefined;
      return subprefixOfKey(this.#o.plan, leaseKey(this.#o.plan, saved.subprefix));
    } catch {
      return undefined;
    }
  }

  #remember(subprefix: string): void {
    const file = this.#o.stateFile;
    if (file === undefined) return;
    writeFileSync(`${file}.tmp`, `${JSON.stringify({ prefix: this.#o.plan.prefix, subprefix })}\n`);
    renameSync(`${file}.tmp`, file);
  }
}
