// The DHCPv6 prefix-delegation client on the uplink: the engine
// (src/dhcp6/client.ts) with its UDP socket (port 546, to
// All_DHCP_Relay_Agents_and_Servers on the uplink), its timer and its file.
//
// The file (beside the state file: `<stateFile>.dhcpv6-pd.json`, mode 0600)
// keeps the client's DUID (DUID-UUID, RFC 6355, made once) and IAID, so the
// server sees the same client after every restart, and the lease with the
// wall-clock time it was obtained, so a restart uses it at once and only
// confirms it (Renew, or Rebind past T2) instead of asking for a new one.
// `onChange` is called whenever the prefixes in force change: a new lease,
// another prefix at a renewal, the lease's end.
import { randomUUID } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { PdClient, leaseEnd, type Lease, type Outgoing, type PdEvent } from '../dhcp6/client.js';
import { ALL_SERVERS, CLIENT_PORT, SERVER_PORT } from '../wire/dhcpv6.js';

export interface PrefixDelegationOptions {
  readonly uplink: string;
  /** The client's file (DUID, IAID, lease). */
  readonly file: string;
  readonly log: Logger;
  /** Monotonic milliseconds (the engine's clock). */
  readonly now: () => number;
  readonly onChange: (prefixes: readonly string[]) => void;
}

/** What status output shows of the lease: times left in seconds (null = forever). */
export interface DelegationStatus {
  readonly state: string;
  readonly server: string | null;
  readonly prefixes: ReadonlyArray<{ prefix: string; validSeconds: number | null; preferredSeconds: number | null }>;
  readonly renewInSeconds: number | null;
  readonly rebindInSeconds: number | null;
}

interface SavedFile {
  duid: string;
  iaid: number;
  /** The lease, its `at` as wall-clock ms. */
  lease?: Lease;
}

const INFINITY = 0xffffffff;

/** The file beside the state file, or in /var/lib/sixgate without one. */
export function delegationFile(stateFile: string | undefined): string {
  return `${stateFile ?? '/var/lib/sixgate/state'}.dhcpv6-pd.json`;
}

export class PrefixDelegation {
  readonly #o: PrefixDelegationOptions;
  readonly #socket: Socket;
  readonly #client: PdClient;
  readonly #saved: SavedFile;
  #timer: NodeJS.Timeout | undefined;
  #prefixes = '';
  #stopped = false;

  private constructor(o: PrefixDelegationOptions, socket: Socket, saved: SavedFile) {
    this.#o = o;
    this.#socket = socket;
    this.#saved = saved;
    const now = o.now();
    // The kept lease, moved from wall-clock time to the engine's clock.
    const kept = saved.lease === undefined ? undefined : { ...saved.lease, at: now - (Date.now() - saved.lease.at) };
    this.#client = new PdClient(Buffer.from(saved.duid, 'hex'), saved.iaid, Math.random, kept, now);
    if (this.#client.lease !== undefined) {
      o.log.info({ uplink: o.uplink, prefixes: this.#client.prefixes(now) }, 'DHCPv6-PD: lease kept from the last run, in use and being confirmed');
    }
    this.#prefixes = this.#client.prefixes(now).join(',');
    socket.on('message', (msg) => this.#handle(this.#client.receive(new Uint8Array(msg), this.#o.now())));
  }

  /** Opens the socket and starts asking (or confirming the kept lease). Throws when port 546 cannot be bound. */
  static async start(o: PrefixDelegationOptions): Promise<PrefixDelegation> {
    const saved = readSaved(o.file);
    const socket = createSocket({ type: 'udp6', reuseAddr: true });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ port: CLIENT_PORT, address: '::' }, () => { socket.off('error', reject); resolve(); });
    });
    socket.on('error', (err) => o.log.warn({ err: err.message }, 'DHCPv6-PD socket error'));
    const pd = new PrefixDelegation(o, socket, saved);
    pd.#save();
    pd.#handle(pd.#client.wake(o.now()));
    return pd;
  }

  /** The delegated prefixes in force, the current one first. */
  prefixes(): string[] {
    return this.#client.prefixes(this.#o.now());
  }

  status(): DelegationStatus {
    const now = this.#o.now();
    const l = this.#client.lease;
    const left = (seconds: number): number | null => (seconds === INFINITY ? null : Math.max(0, Math.round((l!.at + seconds * 1000 - now) / 1000)));
    return {
      state: this.#client.state, server: l?.serverId ?? null,
      prefixes: l === undefined ? [] : l.prefixes.map((p) => ({ prefix: p.prefix, validSeconds: left(p.valid), preferredSeconds: left(p.preferred) })),
      renewInSeconds: l === undefined ? null : left(l.t1), rebindInSeconds: l === undefined ? null : left(l.t2),
    };
  }

  /** Stops; with `release`, gives the prefixes back to the server first (--cleanup) and forgets the lease. */
  async stop(options: { release?: boolean } = {}): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#timer);
    if (options.release) {
      const release = this.#client.release(this.#o.now());
      if (release !== undefined) {
        await this.#send(release);
        this.#o.log.info({ uplink: this.#o.uplink, prefixes: this.#saved.lease?.prefixes.map((p) => p.prefix) }, 'DHCPv6-PD: lease released');
      }
      delete this.#saved.lease;
      this.#save();
    }
    this.#socket.close();
  }

  #handle(r: { send?: Outgoing; event?: PdEvent }): void {
    if (this.#stopped) return;
    if (r.event !== undefined) this.#logEvent(r.event);
    if (r.send !== undefined) void this.#send(r.send);
    const lease = this.#client.lease;
    const saved = lease === undefined ? undefined : { ...lease, at: Date.now() - (this.#o.now() - lease.at) };
    if (JSON.stringify(saved) !== JSON.stringify(this.#saved.lease)) {
      if (saved === undefined) delete this.#saved.lease;
      else this.#saved.lease = saved;
      this.#save();
    }
    const prefixes = this.#client.prefixes(this.#o.now());
    if (prefixes.join(',') !== this.#prefixes) {
      this.#prefixes = prefixes.join(',');
      this.#o.onChange(prefixes);
    }
    clearTimeout(this.#timer);
    const wake = this.#client.nextWake();
    if (wake !== Infinity) {
      this.#timer = setTimeout(() => this.#handle(this.#client.wake(this.#o.now())), Math.max(0, wake - this.#o.now()));
      this.#timer.unref();
    }
  }

  #logEvent(e: PdEvent): void {
    const uplink = this.#o.uplink;
    if (e.kind === 'bound') {
      const prefixes = e.lease.prefixes.map((p) => `${p.prefix} (valid ${p.valid} s, preferred ${p.preferred} s)`);
      const before = e.previous?.prefixes.map((p) => p.prefix).join(',');
      const what = e.previous === undefined ? 'lease obtained' : before === e.lease.prefixes.map((p) => p.prefix).join(',') ? 'lease extended' : 'delegated prefix changed';
      const log = what === 'lease extended' ? this.#o.log.debug.bind(this.#o.log) : this.#o.log.info.bind(this.#o.log);
      log({ uplink, prefixes, t1: e.lease.t1, t2: e.lease.t2, server: e.lease.serverId, ...(before === undefined ? {} : { before }) }, `DHCPv6-PD: ${what}`);
    } else if (e.kind === 'expired') {
      this.#o.log.warn({ uplink, prefixes: e.lease.prefixes.map((p) => p.prefix) },
        'DHCPv6-PD: lease ended (valid lifetime over, no server renewed it): its prefixes are no longer used; asking again');
    } else {
      this.#o.log.warn({ uplink, status: e.status }, 'DHCPv6-PD: the server refused (status code)');
    }
  }

  #send(m: Outgoing): Promise<void> {
    return new Promise((resolve) => {
      this.#socket.send(m.bytes, SERVER_PORT, `${ALL_SERVERS}%${this.#o.uplink}`, (err) => {
        if (err) this.#o.log.debug({ err: err.message, message: m.type }, 'DHCPv6-PD: send failed');
        resolve();
      });
    });
  }

  #save(): void {
    try {
      writeFileSync(`${this.#o.file}.new`, JSON.stringify(this.#saved), { mode: 0o600 });
      renameSync(`${this.#o.file}.new`, this.#o.file);
    } catch (err) {
      this.#o.log.warn({ file: this.#o.file, err: (err as Error).message }, 'DHCPv6-PD: could not save the lease: a restart asks for a new one');
    }
  }
}

/** The saved DUID, IAID and lease, or a new DUID-UUID and IAID when there is no usable file. */
function readSaved(file: string): SavedFile {
  try {
    const s = JSON.parse(readFileSync(file, 'utf8')) as SavedFile;
    if (typeof s.duid === 'string' && /^([0-9a-f]{2}){3,130}$/.test(s.duid) && Number.isInteger(s.iaid)) {
      const lease = s.lease !== undefined && Array.isArray(s.lease.prefixes) && s.lease.prefixes.length > 0 && leaseEnd(s.lease) > Date.now() ? s.lease : undefined;
      return { duid: s.duid, iaid: s.iaid, ...(lease === undefined ? {} : { lease }) };
    }
  } catch {
    // No file yet, or not ours: start afresh.
  }
  // DUID-UUID: type 4, then the UUID's 16 bytes.
  return { duid: `0004${randomUUID().replace(/-/g, '')}`, iaid: Math.floor(Math.random() * 0xffffffff) >>> 0 };
}
