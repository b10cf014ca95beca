// More than one core: one worker_thread per queue of a multi-queue TUN,
// each running the packet loop (loop.ts) over its own queue with its own
// engine shard (a Nat66 with `shard`: its slice of every port range), and a
// steering program (queue-steering.ts) that sends both directions of a
// connection to the worker holding it. The main thread keeps the control
// plane and fans out to the workers: configuration, host addresses, a
// reopened TUN; it gathers their counters from SharedArrayBuffers each
// worker publishes into every PUBLISH_MS (reading them costs nothing; the
// per-network and per-host counts too, in blocks laid out for what the
// series ask: workload-counts.ts) and their sessions on request. With a state file each worker maps its shard's
// table over a file of its own (shardStateFile), adopted at the next start
// with the same number of workers. A capture (`sixgate capture`) starts
// every worker's tap by message; each drains its own every CAPTURE_DRAIN_MS
// and posts the records (their buffers transferred) to WorkersCapture, which
// the capture drains as it drains a single loop's tap.
//
// Queue order is the steering's worker index: queue k is the k-th attached,
// so the workers attach one after the other. The main thread's own TUN
// descriptor (the service's) is a detached queue: it keeps the persistent
// device, takes the steering program and no packets.
//
// This file runs on both sides: NatWorkers in the main thread, runWorker()
// in each worker (started through nat-worker.ts).
import { Worker, parentPort, workerData } from 'node:worker_threads';
import { Tun } from '../io/tun.js';
import { COUNTER_COUNT, monotonicMs } from '../io/ring.js';
import { Nat66 } from '../nat/nat66.js';
import { DROP_REASON_COUNT } from '../nat/drop.js';
import { NAT_COUNTER_NAMES, NatCounter } from '../nat/types.js';
import { lastQuotaHit, takeOpenedSessions, type QuotaHit, type SessionInfo } from '../nat/status.js';
import type { CompiledConfig, NatConfig } from '../nat/engine-config.js';
import type { Logger } from 'pino';
import type { StateFile } from '../io/statefile.js';
import { LOOP_COUNTER_NAMES, TunDatapath } from './loop.js';
import { loadSteering } from './queue-steering.js';
import { adoptState, moveState, type StateLog } from './state.js';
import { BpfMap } from '../io/ebpf.js';
import { CANDIDATE_RING } from '../nat/candidates.js';
import { NatOffload, OFFLOAD_COUNTER_NAMES, type OffloadRoutes } from './offload.js';
import { KEY_SIZE, VALUE_SIZE } from './offload-layout.js';
import { CAPTURE_BYTES, type CaptureControl, type CapturedPacket, type CaptureSettings } from '../io/capture.js';
import { HOST_COUNTER_COUNT } from '../nat/hosts.js';
import { HOST_VALUES, networkSessions, readHostWords, wordsOf, type WorkloadCounts } from './workload-counts.js';

/** How often a worker copies its counters into the shared block. */
const PUBLISH_MS = 100;
const EXPIRE_MS = 1000;
/** How often a capturing worker posts what its tap took: its buffer holds thousands of packets, this keeps it far from full. */
const CAPTURE_DRAIN_MS = 5;
/** A shard's session ids are offset by its index times this in listings (table ids stay below 2^24). */
const SHARD_ID_STRIDE = 2 ** 24;

/** A worker's counters in its SharedArrayBuffer, in this order. */
const LAYOUT = {
  loop: [0, LOOP_COUNTER_NAMES.length],
  nat: [LOOP_COUNTER_NAMES.length, NAT_COUNTER_NAMES.length],
  drops: [LOOP_COUNTER_NAMES.length + NAT_COUNTER_NAMES.length, DROP_REASON_COUNT],
  tun: [LOOP_COUNTER_NAMES.length + NAT_COUNTER_NAMES.length + DROP_REASON_COUNT, COUNTER_COUNT],
  sessions: [LOOP_COUNTER_NAMES.length + NAT_COUNTER_NAMES.length + DROP_REASON_COUNT + COUNTER_COUNT, 1],
  offload: [LOOP_COUNTER_NAMES.length + NAT_COUNTER_NAMES.length + DROP_REASON_COUNT + COUNTER_COUNT + 1, OFFLOAD_COUNTER_NAMES.length],
  offloaded: [LOOP_COUNTER_NAMES.length + NAT_COUNTER_NAMES.length + DROP_REASON_COUNT + COUNTER_COUNT + 1 + OFFLOAD_COUNTER_NAMES.length, 1],
} as const;
type Part = keyof typeof LAYOUT;
const BLOCK = LAYOUT.offloaded[0] + 1;

/**
 * A worker's per-network and per-host counts (workload-counts.ts) in a
 * block of their own, laid out for `nets` networks and the hosts asked for:
 * netCounters, netDrops, each network's sessions, then per host its
 * HOST_VALUES, its sessions and whether the shard has a record of it.
 */
function hostAt(nets: number, host: number): number {
  return nets * (HOST_COUNTER_COUNT + DROP_REASON_COUNT + 1) + host * (HOST_VALUES + 2);
}

function view(block: Float64Array, part: Part): Float64Array {
  const [at, n] = LAYOUT[part];
  return block.subarray(at, at + n);
}

interface WorkerInit {
  readonly index: number;
  readonly count: number;
  readonly tun: string;
  readonly config: NatConfig;
  readonly counters: SharedArrayBuffer;
  /** The shard's state file and this boot's id (shardStateFile), or none. */
  readonly stateFile?: string;
  readonly boot?: Uint32Array;
  /** The fast path's map (the main thread's fd) and this worker's share of it (slots), or none while it is off. */
  readonly offload?: WorkerOffload & { readonly slots: number };
  /** -v: the worker posts the sessions it opened every PUBLISH_MS. */
  readonly logSessions: boolean;
}

/** The fast path as the workers get it: the map's fd and size, where its packets leave, whether to log each decision. */
export interface WorkerOffload {
  readonly mapFd: number;
  readonly entries: number;
  readonly routes: OffloadRoutes;
  readonly debug: boolean;
}

/**
 * Worker `index` of `count`'s state file beside `base`: a shard's sessions
 * hold ports of its slice only, so a table is adopted only by the same
 * worker of the same count (another count starts empty, its files unused).
 */
export function shardStateFile(base: string, index: number, count: number): string {
  return `${base}.worker${index}of${count}`;
}

/** What a configuration change did, summed over the workers (the service's report). */
export interface ShardsReconfigured {
  natRebuilt: boolean;
  sessionsDropped: number;
  publishedAdded: number;
  publishedRemoved: number;
}

type Request =
  | { type: 'open' }
  | { type: 'start'; hostAddresses: Uint8Array[] }
  | { type: 'config'; config: NatConfig }
  | { type: 'hosts'; hostAddresses: Uint8Array[] }
  | { type: 'reopen' }
  | { type: 'sessions'; limit: number }
  | { type: 'offload'; routes: OffloadRoutes; reset: boolean }
  /** From now on the worker publishes its per-network counts (for `nets` networks) and those of `hosts` (4 words each) into `block` (hostAt). */
  | { type: 'workload'; block: SharedArrayBuffer; nets: number; hosts: Uint32Array }
  /** Starts the worker's capture tap with these settings, or stops it (none). */
  | { type: 'capture'; settings: CaptureSettings | undefined }
  | { type: 'stop'; cleanup: boolean };

type Message =
  | { type: 'loaded'; restored: number }
  | { type: 'log'; level: 'info' | 'warn' | 'debug'; fields: object; text: string }
  | { type: 'done'; id: number; result?: unknown; error?: string }
  | { type: 'failed'; message: string }
  /** What the worker's capture tap took since its last post, and its losses since the capture started. */
  | { type: 'captured'; packets: CapturedPacket[]; lost: number }
  /** -v: the sessions the shard opened since its last post, and how many more its ring missed. */
  | { type: 'opened'; opened: SessionInfo[]; missed: number }
  /** The shard's quota hits went up since its last post: the last one. */
  | { type: 'quota'; hit: QuotaHit };

export interface NatWorkersOptions {
  /** The TUN's name; `control` is the main thread's detached queue of it (steering goes there). */
  readonly tun: string;
  readonly control: Tun;
  readonly count: number;
  /** The engine configuration every shard runs (each adds its `shard`). */
  readonly config: NatConfig;
  readonly hostAddresses: Uint8Array[];
  /** Each shard's table lives in shardStateFile(stateFile, ...) when given; `boot` is this boot's id. */
  readonly stateFile?: string;
  readonly boot?: Uint32Array;
  /** The workers' log lines (state files, table moves) go here. */
  readonly logger: Logger;
  /** A worker's queue failed or a worker died: the service repairs (reopen) or reports it. */
  readonly onFailure: (message: string) => void;
  /** The fast path, shared out among the workers (each promotes and syncs its own sessions); none while it is off. */
  readonly offload?: WorkerOffload;
  /** -v: the sessions the workers open, told every PUBLISH_MS (the service logs them as its own engine's). */
  readonly onOpened?: (opened: readonly SessionInfo[], missed: number) => void;
}

/** What the workers tell the main thread besides answers: for the -v session lines and the quota log line. */
interface WorkerTidings {
  readonly onOpened: NatWorkersOptions['onOpened'];
  /** The quota a worker's engine hit last. */
  quota: QuotaHit | undefined;
}

class Shard {
  readonly worker: Worker;
  readonly block: Float64Array;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #next = 1;
  /** Set by NatWorkers.stop: an exit after it is no failure. */
  stopping = false;
  /** The worker ended (a crash, or stop): repairs start a new one over the same state file. */
  exited = false;
  /** Resolves with the sessions the shard adopted from its state file. */
  readonly loaded: Promise<number>;

  constructor(public init: WorkerInit, onFailure: (message: string) => void, log: Logger, capture: WorkersCapture, told: WorkerTidings) {
    this.block = new Float64Array(init.counters);
    this.worker = new Worker(new URL('./nat-worker.js', import.meta.url), { workerData: init });
    this.loaded = new Promise((resolve, reject) => {
      this.worker.once('error', reject);
      this.worker.on('message', (m: Message) => {
        if (m.type === 'loaded') resolve(m.restored);
        else if (m.type === 'log') log[m.level]({ worker: init.index, ...m.fields }, m.text);
        else if (m.type === 'failed') onFailure(`worker ${init.index}: ${m.message}`);
        else if (m.type === 'captured') capture.receive(init.index, m.packets, m.lost);
        else if (m.type === 'opened') told.onOpened?.(m.opened, m.missed);
        else if (m.type === 'quota') told.quota = m.hit;
        else {
          const p = this.#pending.get(m.id);
          this.#pending.delete(m.id);
          if (m.error !== undefined) p?.reject(new Error(`worker ${init.index}: ${m.error}`));
          else p?.resolve(m.result);
        }
      });
    });
    this.worker.on('error', (err) => onFailure(`worker ${init.index} failed: ${err.message}`));
    this.worker.on('exit', (code) => {
      this.exited = true;
      for (const p of this.#pending.values()) p.reject(new Error(`worker ${init.index} exited (${code})`));
      this.#pending.clear();
      if (!this.stopping) onFailure(`worker ${init.index} exited (${code}); the repair starts it anew over its state file`);
    });
  }

  call<T>(request: Request): Promise<T> {
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ id, ...request });
    });
  }
}

/**
 * The workers' capture taps seen as one tap: started and stopped by message,
 * their records gathered as they arrive (in order per worker; the capture
 * orders them by time) until the capture drains them. What waits is bounded
 * as a tap's buffer is (one per worker): a client that reads slowly loses
 * packets, never memory.
 */
export class WorkersCapture implements CaptureControl {
  active = false;
  #settings: CaptureSettings | undefined;
  #packets: CapturedPacket[] = [];
  #bytes = 0;
  /** Per worker, its tap's losses; then those that found no room here. */
  #lost: number[] = [];
  #overflow = 0;

  constructor(private readonly shards: () => readonly Shard[]) {}

  get lost(): number {
    return this.#lost.reduce((a, b) => a + b, this.#overflow);
  }

  start(settings: CaptureSettings): void {
    this.active = true;
    this.#settings = settings;
    this.#packets = [];
    this.#bytes = 0;
    this.#lost = [];
    this.#overflow = 0;
    for (const s of this.shards()) this.startOn(s);
  }

  /** Starts the capture on one worker (also one started anew while a capture runs). */
  startOn(shard: Shard): void {
    if (this.#settings !== undefined) void shard.call({ type: 'capture', settings: this.#settings }).catch(() => {});
  }

  stop(): void {
    const was = this.active;
    this.active = false;
    this.#settings = undefined;
    this.#packets = [];
    this.#bytes = 0;
    if (was) for (const s of this.shards()) void s.call({ type: 'capture', settings: undefined }).catch(() => {});
  }

  /** A worker's post: kept until the next drain, nothing while no capture runs (a post that crossed a stop). */
  receive(worker: number, packets: readonly CapturedPacket[], lost: number): void {
    if (this.#settings === undefined) return;
    const room = (this.#settings.bytes ?? CAPTURE_BYTES) * this.shards().length;
    for (const p of packets) {
      if (this.#bytes + p.data.length > room) {
        this.#overflow++;
        continue;
      }
      this.#bytes += p.data.length;
      this.#packets.push(p);
    }
    this.#lost[worker] = lost;
  }

  drain(): CapturedPacket[] {
    const out = this.#packets;
    this.#packets = [];
    this.#bytes = 0;
    return out;
  }
}

/** The workers of a multi-queue data path, seen from the main thread. */
export class NatWorkers {
  readonly count: number;
  /** `sixgate capture` of the workers' loops. */
  readonly capture: WorkersCapture;
  readonly #shards: Shard[];
  readonly #onFailure: (message: string) => void;
  readonly #logger: Logger;
  #config: NatConfig;
  #hostAddresses: Uint8Array[];
  #stopped = false;
  /** The per-network and per-host blocks read, every shard having published into them (hostAt). */
  #workload: { nets: number; hosts: readonly string[]; blocks: Float64Array[] } | undefined;
  /** The layout asked for last (read once every shard has it), and each shard's request for it (a worker started anew gets it too). */
  #wanted: { key: string; hosts: readonly string[] } | undefined;
  #workloadRequests: Request[] = [];
  /** Sessions the shards adopted from their state files at start. */
  restored = 0;
  /** Every worker's queue batches through io_uring. */
  ioUring = false;
  readonly #told: WorkerTidings;

  private constructor(options: NatWorkersOptions, shards: Shard[], onFailure: (message: string) => void, capture: WorkersCapture, told: WorkerTidings) {
    this.count = options.count;
    this.#onFailure = onFailure;
    this.#logger = options.logger;
    this.#config = options.config;
    this.#hostAddresses = options.hostAddresses;
    this.#shards = shards;
    this.capture = capture;
    this.#told = told;
  }

  /** The session quota a worker's engine hit last (none yet). */
  get lastQuotaHit(): QuotaHit | undefined {
    return this.#told.quota;
  }

  /** Starts the workers, attaches their queues in order, steers the TUN to them and starts their loops. */
  static async start(options: NatWorkersOptions): Promise<NatWorkers> {
    // Failures count once the workers run; during start-up they fail the start instead.
    let running = false;
    const onFailure = (message: string): void => {
      if (running) options.onFailure(message);
    };
    const shards: Shard[] = [];
    const capture = new WorkersCapture(() => shards);
    const told: WorkerTidings = { onOpened: options.onOpened, quota: undefined };
    for (let index = 0; index < options.count; index++) shards.push(new Shard({
      index, count: options.count, tun: options.tun, config: options.config,
      counters: new SharedArrayBuffer(BLOCK * Float64Array.BYTES_PER_ELEMENT),
      ...(options.stateFile === undefined ? {} : { stateFile: shardStateFile(options.stateFile, index, options.count), boot: options.boot }),
      ...(options.offload === undefined ? {} : { offload: { ...options.offload, slots: Math.floor(options.offload.entries / 2 / options.count) } }),
      logSessions: options.onOpened !== undefined,
    }, onFailure, options.logger, capture, told));
    const workers = new NatWorkers(options, shards, onFailure, capture, told);
    try {
      workers.restored = (await Promise.all(shards.map((s) => s.loaded))).reduce((a, b) => a + b, 0);
      const uring: boolean[] = [];
      for (const s of shards) uring.push(await s.call<boolean>({ type: 'open' }));
      workers.ioUring = uring.every(Boolean);
      workers.steer(options.control);
      await Promise.all(shards.map((s) => s.call({ type: 'start', hostAddresses: options.hostAddresses })));
      running = true;
    } catch (err) {
      await workers.stop();
      throw err;
    }
    return workers;
  }

  /** Loads the steering program for the configuration in force and attaches it through `control`. */
  steer(control: Tun): void {
    const program = loadSteering(this.#config, this.count);
    try {
      control.setSteering(program.fd);
    } finally {
      // The device holds its own reference.
      program.close();
    }
  }

  /** Every shard moves to `config`; the steering follows (published ports may have moved). */
  async reconfigure(config: NatConfig, control: Tun): Promise<ShardsReconfigured> {
    this.#config = config;
    const results = await Promise.all(this.#shards.map((s) => s.call<ShardsReconfigured>({ type: 'config', config })));
    this.steer(control);
    return results.reduce((a, r) => ({
      natRebuilt: a.natRebuilt || r.natRebuilt, sessionsDropped: a.sessionsDropped + r.sessionsDropped,
      publishedAdded: Math.max(a.publishedAdded, r.publishedAdded), publishedRemoved: Math.max(a.publishedRemoved, r.publishedRemoved),
    }));
  }

  /** Where offloaded packets leave now; `reset`: every worker demotes all its sessions first (a reconfiguration). */
  async offload(routes: OffloadRoutes, reset: boolean): Promise<void> {
    for (const s of this.#shards) if (s.init.offload !== undefined) s.init = { ...s.init, offload: { ...s.init.offload, routes } };
    await Promise.all(this.#shards.map((s) => s.call({ type: 'offload', routes, reset }).catch(() => {})));
  }

  setHostAddresses(hostAddresses: Uint8Array[]): void {
    this.#hostAddresses = hostAddresses;
    for (const s of this.#shards) void s.call({ type: 'hosts', hostAddresses }).catch(() => {});
  }

  /**
   * After a failure: every worker attaches a fresh queue, in order (the
   * kernel numbers queues as they attach, and the steering returns those
   * numbers), then the steering goes on again through the new `control`. A
   * worker that died is started anew first, its shard adopted from its state
   * file (without one its sessions are lost, and only its).
   */
  async reopen(control: Tun): Promise<void> {
    for (let i = 0; i < this.#shards.length; i++) {
      let s = this.#shards[i]!;
      if (s.exited) {
        s = new Shard({ ...s.init, config: this.#config }, this.#onFailure, this.#logger, this.capture, this.#told);
        const restored = await s.loaded;
        this.#logger.warn({ worker: i, restoredSessions: restored }, 'packet worker started anew');
        this.#shards[i] = s;
        await s.call({ type: 'open' });
        this.capture.startOn(s);
        const workload = this.#workloadRequests[i];
        if (workload !== undefined) await s.call(workload);
      } else {
        await s.call({ type: 'reopen' });
      }
    }
    this.steer(control);
    await Promise.all(this.#shards.map((s) => s.call({ type: 'start', hostAddresses: this.#hostAddresses })));
  }

  /** The sum over the workers of one part of their published counters. */
  sum(part: Exclude<Part, 'sessions' | 'offloaded'>): Float64Array {
    const out = new Float64Array(LAYOUT[part][1]);
    for (const s of this.#shards) {
      const v = view(s.block, part);
      for (let i = 0; i < v.length; i++) out[i]! += v[i]!;
    }
    return out;
  }

  /** The per-network and per-host counts summed over the shards as last published; `cfg` (the main thread's engine's) names the networks. */
  workload(cfg: CompiledConfig): WorkloadCounts {
    const w = this.#workload;
    this.#share(cfg.netCount, this.#wanted?.hosts ?? []);
    const nets = w?.nets ?? 0;
    const sums = new Float64Array(w === undefined ? 0 : w.blocks[0]!.length);
    for (const b of w?.blocks ?? []) for (let k = 0; k < b.length; k++) sums[k]! += b[k]!;
    return {
      cfg,
      netCounters: sums.subarray(0, nets * HOST_COUNTER_COUNT),
      netDrops: sums.subarray(nets * HOST_COUNTER_COUNT, nets * (HOST_COUNTER_COUNT + DROP_REASON_COUNT)),
      networkSessions: (net) => sums[nets * (HOST_COUNTER_COUNT + DROP_REASON_COUNT) + net]!,
      readHost: (address, out) => {
        const i = w?.hosts.indexOf(address) ?? -1;
        if (i < 0) {
          out.fill(0);
          return -1;
        }
        const at = hostAt(nets, i);
        out.set(sums.subarray(at, at + HOST_VALUES));
        return sums[at + HOST_VALUES + 1]! > 0 ? sums[at + HOST_VALUES]! : -1;
      },
      watch: (addresses) => this.#share(cfg.netCount, addresses),
    };
  }

  /**
   * The shards publish for `nets` networks and these hosts into new blocks
   * from now on; the blocks in use stay until every shard has written the
   * new ones (a series never reads a fresh block's zeros).
   */
  #share(nets: number, hosts: readonly string[]): void {
    const key = `${nets} ${hosts.join(' ')}`;
    if (key === this.#wanted?.key) return;
    this.#wanted = { key, hosts: [...hosts] };
    const words = new Uint32Array(hosts.length * 4);
    hosts.forEach((h, i) => words.set(wordsOf(h), i * 4));
    const blocks = this.#shards.map(() => new SharedArrayBuffer(hostAt(nets, hosts.length) * Float64Array.BYTES_PER_ELEMENT));
    this.#workloadRequests = blocks.map((block) => ({ type: 'workload', block, nets, hosts: words }));
    void Promise.all(this.#shards.map((s, i) => s.call(this.#workloadRequests[i]!))).then(() => {
      if (this.#wanted?.key === key) this.#workload = { nets, hosts: [...hosts], blocks: blocks.map((b) => new Float64Array(b)) };
    }, () => {});
  }

  /** Sessions on the fast path, over the workers (as last published). */
  get offloadedSessions(): number {
    return this.#shards.reduce((n, s) => n + view(s.block, 'offloaded')[0]!, 0);
  }

  /** Sessions in all the shards' tables (as last published). */
  get sessionCount(): number {
    return this.#shards.reduce((n, s) => n + view(s.block, 'sessions')[0]!, 0);
  }

  /** Up to `limit` sessions of each shard. */
  async listSessions(limit = Infinity): Promise<SessionInfo[]> {
    const parts = await Promise.all(this.#shards.map((s) => s.call<SessionInfo[]>({ type: 'sessions', limit })));
    return parts.flat();
  }

  /** Stops the workers; their state files stay for the next start, or go with `cleanup`. */
  async stop(cleanup = false): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await Promise.all(this.#shards.map(async (s) => {
      s.stopping = true;
      await s.call({ type: 'stop', cleanup }).catch(() => {});
      await s.worker.terminate();
    }));
  }
}

/** to[i] += from[i] (counters summed). */
export function addInto(to: Float64Array, from: Float64Array): void {
  for (let i = 0; i < from.length; i++) to[i]! += from[i]!;
}

/** The worker's side: one queue, one loop, one engine shard; answers the main thread's requests. */
export function runWorker(): void {
  const port = parentPort;
  if (port === null) throw new Error('runWorker runs in a worker_thread');
  const init = workerData as WorkerInit;
  const shard = { index: init.index, count: init.count };
  const block = new Float64Array(init.counters);
  const carried = Float64Array.from(block);
  const log: StateLog = {
    info: ((fields: object, text: string) => port.postMessage({ type: 'log', level: 'info', fields, text } satisfies Message)) as StateLog['info'],
    warn: ((fields: object, text: string) => port.postMessage({ type: 'log', level: 'warn', fields, text } satisfies Message)) as StateLog['warn'],
  };
  const fast = init.offload === undefined ? undefined : new NatOffload({
    map: BpfMap.borrow(init.offload.mapFd, KEY_SIZE, VALUE_SIZE, init.offload.entries, 'NAT66 fast path'),
    worker: init.index, slots: init.offload.slots, batch: CANDIDATE_RING,
    debug: init.offload.debug ? (fields, text) => port.postMessage({ type: 'log', level: 'debug', fields, text } satisfies Message) : undefined,
  });
  if (fast !== undefined) {
    fast.clearStale();
    fast.setRoutes(init.offload!.routes);
  }
  const mappable = init.stateFile !== undefined;
  let nat = new Nat66({ ...init.config, shard }, { mappable });
  nat.sessions.noteCreated = init.logSessions;
  let state: StateFile | undefined;
  let restored: number;
  // Throws when another process holds the file: the worker ends, and the start fails.
  ({ state, restored } = adoptState(nat, init.stateFile, init.boot, log));
  fast?.bind(nat);
  // A new table takes every live session (a capacity change, or a layout a fresh start would not build: the state file's next start must adopt it).
  const moveTo = (config: NatConfig): number => {
    const fresh = new Nat66(config, { mappable });
    fresh.sessions.noteCreated = init.logSessions;
    addInto(fresh.counters, nat.counters);
    addInto(fresh.drops, nat.drops);
    const { dropped } = fresh.migrateFrom(nat);
    if (init.boot !== undefined) state = moveState(fresh, state, init.boot, log);
    nat = fresh;
    if (loop !== undefined) loop.nat = fresh;
    fast?.bind(fresh);
    return dropped;
  };
  let tun: Tun | undefined;
  let loop: TunDatapath | undefined;
  let captureTimer: NodeJS.Timeout | undefined;
  let postedLost = 0;
  // The tap's records to the main thread, their buffers moved, not copied.
  const postCaptured = (): void => {
    const packets = loop!.capture.drain();
    if (packets.length === 0 && loop!.capture.lost === postedLost) return;
    postedLost = loop!.capture.lost;
    port.postMessage({ type: 'captured', packets, lost: postedLost } satisfies Message, packets.map((p) => p.data.buffer as ArrayBuffer));
  };
  const fail = (err: unknown): void => port.postMessage({ type: 'failed', message: (err as Error).message } satisfies Message);
  const open = (): Tun => Tun.open({ name: init.tun, vnetHeader: true, multiQueue: true, up: false, uring: true });
  const shared = {
    loop: view(block, 'loop'), nat: view(block, 'nat'), drops: view(block, 'drops'), tun: view(block, 'tun'), sessions: view(block, 'sessions'),
    offload: view(block, 'offload'), offloaded: view(block, 'offloaded'),
  };
  let workload: { block: Float64Array; nets: number; hosts: Uint32Array } | undefined;
  const publishWorkload = (): void => {
    if (workload === undefined) return;
    const { block, nets, hosts } = workload;
    // Between a configuration and this shard's taking it the networks differ: they wait for the next publish.
    if (nat.cfg.netCount === nets) {
      block.set(nat.netCounters, 0);
      block.set(nat.netDrops, nets * HOST_COUNTER_COUNT);
      for (let n = 0; n < nets; n++) block[nets * (HOST_COUNTER_COUNT + DROP_REASON_COUNT) + n] = networkSessions(nat, n);
    }
    for (let i = 0; i < hosts.length / 4; i++) {
      const at = hostAt(nets, i);
      const sessions = readHostWords(nat, hosts, i * 4, block, at);
      block[at + HOST_VALUES] = Math.max(sessions, 0);
      block[at + HOST_VALUES + 1] = sessions < 0 ? 0 : 1;
    }
  };
  let quotaHits = 0;
  // What the main thread logs: the sessions opened (-v), the quota hit last when there were more hits.
  const tell = (): void => {
    if (init.logSessions && (nat.sessions.createdCount > 0 || nat.sessions.createdMissed > 0)) {
      port.postMessage({ type: 'opened', ...takeOpenedSessions(nat) } satisfies Message);
    }
    const hits = nat.counters[NatCounter.AddressQuotaHits]! + nat.counters[NatCounter.NetworkQuotaHits]!;
    if (hits !== quotaHits) port.postMessage({ type: 'quota', hit: lastQuotaHit(nat) } satisfies Message);
    quotaHits = hits;
  };
  const publish = (): void => {
    publishWorkload();
    if (loop === undefined || tun === undefined) return;
    tell();
    shared.loop.set(loop.counters);
    shared.nat.set(nat.counters);
    shared.drops.set(nat.drops);
    shared.tun.set(tun.counters);
    shared.sessions[0] = nat.table.count;
    if (fast !== undefined) {
      shared.offload.set(fast.counters);
      shared.offloaded[0] = fast.sessions;
    }
  };
  const timers = [
    setInterval(publish, PUBLISH_MS),
    // What the fast path forwarded counts first (it refreshes timers), then the expiry, then the expired are demoted.
    setInterval(() => {
      const now = monotonicMs();
      fast?.sync(now);
      nat.expire(now);
      fast?.reap();
    }, EXPIRE_MS),
  ];
  const handle = (m: Request & { id: number }): unknown => {
    switch (m.type) {
      case 'open':
        tun = open();
        loop = new TunDatapath({ tun, nat, onError: fail });
        loop.offload = fast;
        // A capture must see every packet: this worker's fast path steps aside while one runs.
        if (fast !== undefined) loop.capture.onActive = (active) => (active ? fast.pause() : fast.resume());
        // A worker started anew after a crash carries on from its predecessor's last published counters (zeros at a start): metrics never go backwards.
        addInto(loop.counters, view(carried, 'loop'));
        addInto(tun.counters, view(carried, 'tun'));
        addInto(nat.counters, view(carried, 'nat'));
        addInto(nat.drops, view(carried, 'drops'));
        quotaHits = nat.counters[NatCounter.AddressQuotaHits]! + nat.counters[NatCounter.NetworkQuotaHits]!;
        if (fast !== undefined) addInto(fast.counters, view(carried, 'offload'));
        return tun.uring;
      case 'start':
        loop!.setHostAddresses(m.hostAddresses);
        loop!.start();
        return undefined;
      case 'hosts':
        loop?.setHostAddresses(m.hostAddresses);
        return undefined;
      case 'config': {
        const config = { ...m.config, shard };
        if (nat.needsNewTable(config)) {
          const dropped = moveTo(config);
          return { natRebuilt: true, sessionsDropped: dropped, publishedAdded: nat.published.size, publishedRemoved: 0 };
        }
        const relayout = state !== undefined && !nat.staysRestorable(config);
        const result = { natRebuilt: false, ...nat.reconfigure(config) };
        if (relayout) moveTo(config);
        return result;
      }
      case 'reopen': {
        loop?.stop();
        const old = tun;
        old?.close();
        tun = open();
        if (old !== undefined) addInto(tun.counters, old.counters);
        loop?.attach(tun);
        return undefined;
      }
      case 'offload':
        if (m.reset) fast?.demoteAll(undefined, monotonicMs());
        fast?.setRoutes(m.routes);
        return undefined;
      case 'workload':
        workload = { block: new Float64Array(m.block), nets: m.nets, hosts: m.hosts };
        publishWorkload();
        return undefined;
      case 'capture':
        clearInterval(captureTimer);
        captureTimer = undefined;
        if (m.settings === undefined) {
          loop?.capture.stop();
        } else if (loop !== undefined) {
          loop.capture.start(m.settings);
          postedLost = 0;
          captureTimer = setInterval(postCaptured, CAPTURE_DRAIN_MS);
        }
        return undefined;
      case 'sessions':
        // Ids unique over the shards (a table holds fewer than 2^24 sessions).
        return nat.listSessions(m.limit).map((info) => ({ ...info, id: info.id + init.index * SHARD_ID_STRIDE }));
      case 'stop':
        loop?.stop();
        fast?.demoteAll(undefined, monotonicMs());
        publish();
        tun?.close();
        if (m.cleanup) state?.remove();
        else if (state !== undefined) log.info({ file: state.path, sessions: nat.table.count }, 'connection table left in the state file');
        state?.close();
        for (const t of timers) clearInterval(t);
        clearInterval(captureTimer);
        return undefined;
    }
  };
  port.on('message', (m: Request & { id: number }) => {
    try {
      port.postMessage({ type: 'done', id: m.id, result: handle(m) } satisfies Message);
    } catch (err) {
      port.postMessage({ type: 'done', id: m.id, error: (err as Error).message } satisfies Message);
    }
  });
  port.postMessage({ type: 'loaded', restored } satisfies Message);
}
