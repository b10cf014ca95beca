// The Docker feed: keeps a DockerModel in step with one engine and hands
// consumers typed deltas, by callback (onChange) or async iterator (changes).
//
// Session, repeated for as long as the feed runs:
//   1. negotiate the API version, read /version and /info (Docker's own ip6tables?);
//   2. subscribe to /events first (with since=<last event seen> after a
//      reconnect), so nothing between the listing and the stream is lost;
//   3. full resync: list networks and running containers (two calls, however
//      many containers) and replace the model; only real changes are emitted;
//   4. live: per event, refresh just what it names; /_ping every 10 s.
// Any failure ends the session; the next one starts after a capped
// exponential backoff, with one log line per attempt saying what is wrong.
//
// Per-event refreshes are serialised per container/network (a die that
// overtakes a start cannot leave a stale entry) and run concurrently across
// them. A die or destroy removes the container at once, without a request.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../log.js';
import { DockerApiError } from '../errors.js';
import { EngineClient, OLDEST_API_VERSION, compareApiVersions, sinceFromTimeNano, type EngineEvent } from './client.js';
import { describeEndpoint, endpointFromEnv, type DockerEndpoint } from './endpoint.js';
import { resolveDockerIp6tables, type DockerNetwork, type Ip6tablesSetting, type Uplink } from './classify.js';
import { containerFromInspect, containerFromSummary, type ContainerInfo } from './containers.js';
import { DockerModel, type ContainerAddress, type FeedDelta, type PublishedPort } from './docker-model.js';

export interface DockerFeedOptions {
  log: Logger;
  /** Default: DOCKER_HOST & co. from the environment. */
  endpoint?: DockerEndpoint;
  /** Uplinks and their on-link prefixes: global subnets inside them are NDP-proxied. */
  uplinks?: readonly Uplink[];
  /** Docker's own ip6tables NAT: inferred from the engine ('auto', default) or given. */
  dockerIp6tables?: Ip6tablesSetting;
  /** Reconnect backoff: first delay and cap (default 250 ms, 10 s). */
  backoff?: { initialMs?: number; maxMs?: number };
  /** /_ping period while live (default 10 s, as docker-ipv6nat). */
  pingIntervalMs?: number;
  requestTimeoutMs?: number;
}

export type FeedState = 'idle' | 'connecting' | 'syncing' | 'live' | 'stopped';

export interface DeltaBatch {
  deltas: FeedDelta[];
  cause: 'resync' | 'event' | 'uplinks';
  /** cause 'event': the (oldest) engine event this batch answers. */
  event?: EngineEvent;
  /**
   * cause 'event': every engine event folded into this batch, oldest first
   * (a container's network connect and its start, often ~0.5 s apart, are
   * refreshed once). At most MAX_BATCH_EVENTS: the first and the latest.
   * A container found running before its start event arrived gets that
   * start here too, timed by the engine's State.StartedAt.
   */
  events?: EngineEvent[];
}

/** Events kept per batch: the first one and the latest ones. */
export const MAX_BATCH_EVENTS = 16;

// Container events that change nothing sixgate models (they still trigger
// a refresh, which then finds no difference).
const NO_STATE_CHANGE = /^(exec_|health_status|attach|detach|resize|top|copy|archive-path|extract-to-dir|export|commit)/;

/**
 * The event a batch's deltas answer: the latest folded event that can change
 * a container's or network's state (the refresh read the state after it),
 * e.g. the start after a network connect, not an exec that came later.
 * Latency is measured from it.
 */
export function causingEvent(batch: DeltaBatch): EngineEvent | undefined {
  const events = batch.events ?? (batch.event === undefined ? [] : [batch.event]);
  for (let i = events.length - 1; i >= 0; i--) {
    if (!NO_STATE_CHANGE.test(events[i]!.action)) return events[i];
  }
  return events.at(-1);
}

export interface FeedSnapshot {
  networks: DockerNetwork[];
  addresses: ContainerAddress[];
  ports: PublishedPort[];
}

/** RFC 3339 time with up to nanoseconds (Docker's StartedAt) → nanoseconds since the epoch as digits; undefined for the zero time or junk. */
export function rfc3339Nano(text: unknown): string | undefined {
  if (typeof text !== 'string') return undefined;
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(text);
  const ms = m === null ? NaN : Date.parse(`${m[1]}${m[3]}`);
  if (!Number.isFinite(ms) || ms <= 0) return undefined;
  return (BigInt(ms) * 1_000_000n + BigInt((m![2] ?? '').padEnd(9, '0'))).toString();
}

type Work = { kind: 'container' | 'network'; id: string; first: EngineEvent; last: EngineEvent; events: EngineEvent[] };

export class DockerFeed {
  readonly client: EngineClient;
  readonly #log: Logger;
  readonly #model: DockerModel;
  readonly #setting: Ip6tablesSetting;
  readonly #backoffInitial: number;
  readonly #backoffMax: number;
  readonly #pingInterval: number;
  #uplinks: readonly Uplink[];
  #state: FeedState = 'idle';
  #stopped = false;
  #stop = new AbortController();
  #session: AbortController | undefined;
  #loop: Promise<void> | undefined;
  #since: string | undefined;
  #engineId: string | undefined;
  #ip6tablesMsg: string | undefined;
  #holdWork = true;
  readonly #pending = new Map<string, Work>();
  readonly #running = new Map<string, Promise<void>>();
  readonly #listeners = new Set<(batch: DeltaBatch) => void>();
  readonly #iterators = new Set<{ push(b: DeltaBatch | null): void }>();
  #ready: { promise: Promise<void>; resolve(): void; reject(e: Error): void };
  /** Completed full resyncs and events handled, for tests and metrics. */
  readonly counters = { resyncs: 0, events: 0, sessions: 0, failedAttempts: 0 };

  constructor(options: DockerFeedOptions) {
    this.#log = options.log;
    const endpoint = options.endpoint ?? endpointFromEnv();
    this.client = new EngineClient(endpoint, { requestTimeoutMs: options.requestTimeoutMs });
    this.#uplinks = options.uplinks ?? [];
    this.#setting = options.dockerIp6tables ?? 'auto';
    this.#backoffInitial = options.backoff?.initialMs ?? 250;
    this.#backoffMax = options.backoff?.maxMs ?? 10_000;
    this.#pingInterval = options.pingIntervalMs ?? 10_000;
    this.#model = new DockerModel({ uplinks: this.#uplinks, dockerIp6tables: this.#setting === 'on' },
      (issue) => this.#log[issue.level]({ docker: issue.owner.slice(0, 12) }, issue.msg));
    let resolve!: () => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<void>((res, rej) => { resolve = res; reject = rej; });
    promise.catch(() => {});
    this.#ready = { promise, resolve, reject };
  }

  get state(): FeedState {
    return this.#state;
  }

  /** Starts the session loop (returns at once; the engine may not be up yet). */
  start(): void {
    if (this.#loop !== undefined) return;
    this.#loop = this.#run();
  }

  /** Resolves after the first complete resync; rejects if the feed is stopped first. */
  ready(): Promise<void> {
    return this.#ready.promise;
  }

  /** Calls `listener` with every non-empty batch, in order; returns the unsubscribe function. */
  onChange(listener: (batch: DeltaBatch) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Every batch from now on, until stop(). Each iterator buffers what its
   * reader has not taken yet (consumers that stop reading should return()).
   */
  changes(): AsyncIterableIterator<DeltaBatch> {
    const queue: Array<DeltaBatch | null> = [];
    let wake: (() => void) | undefined;
    const sink = {
      push: (b: DeltaBatch | null) => {
        queue.push(b);
        wake?.();
      },
    };
    if (this.#stopped) queue.push(null);
    else this.#iterators.add(sink);
    const iterators = this.#iterators;
    const it: AsyncIterableIterator<DeltaBatch> = {
      async next(): Promise<IteratorResult<DeltaBatch>> {
        while (queue.length === 0) await new Promise<void>((r) => { wake = r; });
        wake = undefined;
        const b = queue.shift()!;
        if (b === null) {
          queue.unshift(null);
          iterators.delete(sink);
          return { value: undefined, done: true };
        }
        return { value: b, done: false };
      },
      async return(): Promise<IteratorResult<DeltaBatch>> {
        iterators.delete(sink);
        queue.length = 0;
        queue.push(null);
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]() {
        return it;
      },
    };
    return it;
  }

  /** The model as it stands (sorted, for display and tests). */
  snapshot(): FeedSnapshot {
    return { networks: this.#model.networks(), addresses: this.#model.addresses(), ports: this.#model.ports() };
  }

  /** New uplink prefixes (from the route watch): reclassifies, emits what changed. */
  setUplinks(uplinks: readonly Uplink[]): void {
    this.#uplinks = uplinks;
    this.#emit({ deltas: this.#model.setContext({ ...this.#model.context, uplinks }), cause: 'uplinks' });
  }

  /** Forces a full resync now (SIGHUP); ends the session on failure, like any error. */
  async resync(): Promise<void> {
    if (this.#state !== 'live' || this.#session === undefined) return;
    try {
      await this.#resync(this.#session.signal);
    } catch (err) {
      this.#session.abort(err);
    }
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#stop.abort();
    this.#session?.abort();
    await this.#loop;
    await Promise.allSettled([...this.#running.values()]);
    await this.client.close();
    this.#state = 'stopped';
    this.#ready.reject(new Error('docker feed stopped'));
    for (const it of this.#iterators) it.push(null);
    this.#iterators.clear();
  }

  async #run(): Promise<void> {
    let attempt = 0;
    while (!this.#stopped) {
      const session = new AbortController();
      this.#session = session;
      const onStop = (): void => session.abort();
      this.#stop.signal.addEventListener('abort', onStop, { once: true });
      let pinger: NodeJS.Timeout | undefined;
      let wentLive = false;
      try {
        this.#state = 'connecting';
        await this.#connect(session.signal, attempt);
        const events = await this.client.subscribe({ since: this.#since, signal: session.signal });
        this.#holdWork = true;
        const pump = this.#pump(events);
        pump.catch(() => {});
        await this.#resync(session.signal);
        this.#state = 'live';
        wentLive = true;
        attempt = 0;
        this.counters.sessions++;
        this.#ready.resolve();
        pinger = setInterval(() => {
          this.client.ping(AbortSignal.any([session.signal, AbortSignal.timeout(5_000)]))
            .catch((err: unknown) => session.abort(err));
        }, this.#pingInterval);
        await Promise.race([pump, new Promise<void>((_, reject) => session.signal.addEventListener('abort',
          () => reject(session.signal.reason as Error), { once: true }))]);
        throw new DockerApiError('engine-down', `Docker engine at ${describeEndpoint(this.client.endpoint)} closed the event stream`);
      } catch (err) {
        if (this.#stopped) break;
        attempt = wentLive ? 1 : attempt + 1;
        this.counters.failedAttempts++;
        const delay = Math.min(this.#backoffMax, this.#backoffInitial * 2 ** (attempt - 1));
        const reason = err instanceof DockerApiError ? err.reason : (err as Error)?.name ?? 'error';
        const text = err instanceof Error ? err.message : String(err);
        this.#log.warn({ attempt, retryInMs: delay, reason },
          `${wentLive ? 'lost the Docker engine' : 'cannot sync with the Docker engine'}: ${text}; retry ${attempt} in ${delay} ms`);
        this.#state = 'connecting';
        session.abort();
        await sleep(delay, undefined, { signal: this.#stop.signal }).catch(() => {});
      } finally {
        clearInterval(pinger);
        this.#stop.signal.removeEventListener('abort', onStop);
        session.abort();
      }
    }
  }

  async #connect(signal: AbortSignal, attempt: number): Promise<void> {
    const api = await this.client.negotiate(signal);
    const [version, info] = await Promise.all([this.client.version(signal), this.client.info(signal)]);
    const verdict = resolveDockerIp6tables(version, info, this.#setting);
    if (verdict.issue !== undefined && verdict.issue.msg !== this.#ip6tablesMsg) this.#log[verdict.issue.level](verdict.issue.msg);
    this.#ip6tablesMsg = verdict.issue?.msg;
    if (verdict.on !== this.#model.context.dockerIp6tables) {
      this.#emit({ deltas: this.#model.setContext({ uplinks: this.#uplinks, dockerIp6tables: verdict.on }), cause: 'resync' });
    }
    if (compareApiVersions(api, OLDEST_API_VERSION) < 0) {
      this.#log.warn(`Docker API ${api} is older than ${OLDEST_API_VERSION} (Docker 20.10), the oldest sixgate is tested with`);
    }
    if (info.ID !== this.#engineId || attempt > 0) {
      this.#log.info({ engine: info.ID, version: version.Version, api, engineApi: this.client.engineApiVersion },
        `connected to Docker ${version.Version ?? '?'} at ${describeEndpoint(this.client.endpoint)} (API ${api})`);
    }
    this.#engineId = info.ID;
  }

  async #pump(events: AsyncGenerator<EngineEvent>): Promise<void> {
    for await (const ev of events) {
      this.#since = sinceFromTimeNano(ev.timeNano);
      this.counters.events++;
      if (ev.type === 'container') {
        this.#schedule('container', ev.id, ev);
      } else if (ev.action === 'connect' || ev.action === 'disconnect') {
        const container = ev.attributes.container;
        if (container !== undefined) this.#schedule('container', container, ev);
      } else {
        this.#schedule('network', ev.id, ev);
      }
    }
  }

  #schedule(kind: Work['kind'], id: string, ev: EngineEvent): void {
    const key = `${kind[0]}:${id}`;
    const work = this.#pending.get(key);
    if (work === undefined) {
      this.#pending.set(key, { kind, id, first: ev, last: ev, events: [ev] });
    } else {
      work.last = ev;
      if (work.events.length >= MAX_BATCH_EVENTS) work.events.splice(1, 1);
      work.events.push(ev);
    }
    if (!this.#holdWork && !this.#running.has(key)) this.#drain(key);
  }

  #drain(key: string): void {
    const run = (async () => {
      let work: Work | undefined;
      while ((work = this.#pending.get(key)) !== undefined && !this.#holdWork) {
        this.#pending.delete(key);
        try {
          const deltas = work.kind === 'container' ? await this.#refreshContainer(work) : await this.#refreshNetwork(work);
          this.#emit({ deltas, cause: 'event', event: work.first, events: work.events });
        } catch (err) {
          if ((err as Error).name === 'AbortError') return;
          // Lost connections end the session (the stream breaks too) and the resync covers this.
          this.#log.warn({ docker: work.id.slice(0, 12) }, `refreshing ${work.kind} after ${work.last.action}: ${(err as Error).message}`);
        }
      }
    })().finally(() => this.#running.delete(key));
    this.#running.set(key, run);
  }

  async #refreshContainer(work: Work): Promise<FeedDelta[]> {
    if (work.last.type === 'container' && (work.last.action === 'die' || work.last.action === 'destroy')) {
      return this.#model.removeContainer(work.id);
    }
    const signal = this.#session?.signal;
    const raw = await this.client.inspectContainer(work.id, signal);
    const info = raw === undefined ? undefined : containerFromInspect(raw);
    if (info === undefined) return this.#model.removeContainer(work.id);
    const deltas = info.running ? await this.#learnNetworks(info, signal) : [];
    deltas.push(...this.#model.upsertContainer(info));
    // The refresh of a network connect often already sees the container
    // running: its start event is still on the way and its own refresh will
    // find nothing new. The batch then answers that start, as the engine
    // recorded it (State.StartedAt, set just before the event is sent).
    const started = info.running && deltas.length > 0 ? rfc3339Nano((raw!.State as { StartedAt?: unknown } | null | undefined)?.StartedAt) : undefined;
    if (started !== undefined && BigInt(started) > BigInt(work.last.timeNano)) {
      work.events.push({ type: 'container', action: 'start', id: work.id, attributes: {}, timeNano: started });
    }
    return deltas;
  }

  /** Fetches networks a container is on that the model has not seen yet (created a moment ago). */
  async #learnNetworks(info: ContainerInfo, signal: AbortSignal | undefined): Promise<FeedDelta[]> {
    const deltas: FeedDelta[] = [];
    for (const id of this.#model.unknownNetworksOf(info)) {
      const raw = await this.client.inspectNetwork(id, signal);
      if (raw !== undefined) deltas.push(...this.#model.upsertNetwork(raw));
    }
    return deltas;
  }

  async #refreshNetwork(work: Work): Promise<FeedDelta[]> {
    if (work.last.action === 'destroy' || work.last.action === 'remove') return this.#model.removeNetwork(work.id);
    const raw = await this.client.inspectNetwork(work.id, this.#session?.signal);
    return raw === undefined ? this.#model.removeNetwork(work.id) : this.#model.upsertNetwork(raw);
  }

  /** Lists everything and replaces the model; event work waits meanwhile, then runs on fresh state. */
  async #resync(signal: AbortSignal): Promise<void> {
    this.#state = 'syncing';
    this.#holdWork = true;
    await Promise.allSettled([...this.#running.values()]);
    try {
      const [networks, summaries] = await Promise.all([this.client.listNetworks(signal), this.client.listContainers(signal)]);
      const containers: ContainerInfo[] = [];
      for (const s of summaries) {
        const c = containerFromSummary(s);
        if (c !== undefined) containers.push(c);
      }
      this.#emit({ deltas: this.#model.replaceAll(networks, containers), cause: 'resync' });
      this.counters.resyncs++;
    } finally {
      this.#holdWork = false;
      this.#state = this.#session?.signal.aborted === false ? 'live' : this.#state;
    }
    for (const key of this.#pending.keys()) if (!this.#running.has(key)) this.#drain(key);
  }

  #emit(batch: DeltaBatch): void {
    if (batch.deltas.length === 0) return;
    for (const listener of this.#listeners) {
      try {
        listener(batch);
      } catch (err) {
        this.#log.error({ err }, 'a docker feed listener threw');
      }
    }
    for (const it of this.#iterators) it.push(batch);
  }
}
