// A small Docker Engine API client over undici: version negotiation, the
// handful of list/inspect calls the feed needs, and the /events stream.
//
// Version negotiation: GET /_ping answers with the engine's API-Version
// header; requests then use min(engine, ours) in the path (/v1.41/...), so
// one build works against Debian's Docker 20.10 (API 1.41) and current
// engines (whose minimum is 1.44 from Docker 29 on, hence ours is recent).
import { request, type Agent } from 'undici';
import { DockerApiError } from '../errors.js';
import { createAgent, describeEndpoint, originOf, type DockerEndpoint } from './endpoint.js';
import type {
  ApiContainerInspect, ApiContainerSummary, ApiEvent, ApiInfo, ApiNetwork, ApiVersion,
} from './api-types.js';

/** The newest API version this client was written against. */
export const CLIENT_API_VERSION = '1.48';
/** The oldest one it is tested against (Docker 20.10). */
export const OLDEST_API_VERSION = '1.41';

/** Event actions that can change the model; the engine filters out the rest. */
export const WATCHED_EVENTS = {
  container: ['start', 'die', 'destroy', 'rename'],
  network: ['create', 'destroy', 'remove', 'connect', 'disconnect'],
} as const;

export interface EngineEvent {
  type: 'network' | 'container';
  action: string;
  /** The network or container ID. */
  id: string;
  attributes: Record<string, string>;
  /** Exact nanoseconds since the epoch as digits (JSON numbers lose the last ones). */
  timeNano: string;
}

export interface EngineClientOptions {
  /** Bound on each ordinary request, headers and body (default 10 s). */
  requestTimeoutMs?: number;
}

/** Compares "1.41" style versions numerically. */
export function compareApiVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** "seconds.nanoseconds", the form /events?since= takes, from exact nanosecond digits. */
export function sinceFromTimeNano(timeNano: string): string {
  const padded = timeNano.padStart(10, '0');
  return `${padded.slice(0, -9)}.${padded.slice(-9)}`;
}

const TIME_NANO_RE = /"timeNano"\s*:\s*(\d+)/;

function classifyConnectError(err: unknown, where: string): DockerApiError {
  if (err instanceof DockerApiError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? '';
  const text = (err as Error | undefined)?.message ?? String(err);
  if (code === 'ENOENT') {
    return new DockerApiError('socket-missing', `Docker socket ${where} does not exist: is dockerd running (and is this the right DOCKER_HOST)?`, { cause: err });
  }
  if (code === 'EACCES' || code === 'EPERM') {
    return new DockerApiError('permission-denied', `permission denied on ${where}: run as root or as a member of the socket's group (docker)`, { cause: err });
  }
  return new DockerApiError('engine-down', `Docker engine at ${where} is not answering (${code || text})`, { cause: err });
}

export class EngineClient {
  readonly endpoint: DockerEndpoint;
  readonly #agent: Agent;
  readonly #origin: string;
  readonly #where: string;
  readonly #timeoutMs: number;
  #apiVersion: string | undefined;
  #engineApiVersion: string | undefined;

  constructor(endpoint: DockerEndpoint, options: EngineClientOptions = {}) {
    this.endpoint = endpoint;
    this.#agent = createAgent(endpoint);
    this.#origin = originOf(endpoint);
    this.#where = describeEndpoint(endpoint);
    this.#timeoutMs = options.requestTimeoutMs ?? 10_000;
  }

  /** The version used in request paths, once negotiated. */
  get apiVersion(): string | undefined {
    return this.#apiVersion;
  }

  /** The engine's own API version, as it announced it. */
  get engineApiVersion(): string | undefined {
    return this.#engineApiVersion;
  }

  /** GET /_ping (unversioned): liveness, and the engine's API-Version header. */
  async ping(signal?: AbortSignal): Promise<string | undefined> {
    const res = await this.#request('/_ping', signal);
    const body = await res.body.text();
    if (res.statusCode !== 200) {
      throw new DockerApiError('http', `GET /_ping on ${this.#where}: HTTP ${res.statusCode} ${body.trim()}`, { status: res.statusCode });
    }
    const header = res.headers['api-version'];
    return Array.isArray(header) ? header[0] : header;
  }

  /** Pings and settles the API version: min(engine, ours). Returns it. */
  async negotiate(signal?: AbortSignal): Promise<string> {
    const engine = await this.ping(signal) ?? (await this.#getUnversioned<ApiVersion>('/version', signal)).ApiVersion;
    this.#engineApiVersion = engine;
    this.#apiVersion = engine === undefined || compareApiVersions(engine, CLIENT_API_VERSION) > 0 ? CLIENT_API_VERSION : engine;
    return this.#apiVersion;
  }

  version(signal?: AbortSignal): Promise<ApiVersion> {
    return this.get<ApiVersion>('/version', signal);
  }

  info(signal?: AbortSignal): Promise<ApiInfo> {
    return this.get<ApiInfo>('/info', signal);
  }

  listNetworks(signal?: AbortSignal): Promise<ApiNetwork[]> {
    return this.get<ApiNetwork[]>('/networks', signal);
  }

  /** undefined when the network is gone (404). */
  inspectNetwork(id: string, signal?: AbortSignal): Promise<ApiNetwork | undefined> {
    return this.get<ApiNetwork>(`/networks/${encodeURIComponent(id)}`, signal, true);
  }

  /** Running containers only: stopped ones have no addresses. */
  listContainers(signal?: AbortSignal): Promise<ApiContainerSummary[]> {
    return this.get<ApiContainerSummary[]>('/containers/json', signal);
  }

  /** undefined when the container is gone (404). */
  inspectContainer(id: string, signal?: AbortSignal): Promise<ApiContainerInspect | undefined> {
    return this.get<ApiContainerInspect>(`/containers/${encodeURIComponent(id)}/json`, signal, true);
  }

  /** GET /v<negotiated><path> as JSON; with `allow404`, a 404 is undefined. */
  async get<T>(path: string, signal?: AbortSignal): Promise<T>;
  async get<T>(path: string, signal: AbortSignal | undefined, allow404: true): Promise<T | undefined>;
  async get<T>(path: string, signal?: AbortSignal, allow404 = false): Promise<T | undefined> {
    const version = this.#apiVersion ?? await this.negotiate(signal);
    return this.#json<T>(`/v${version}${path}`, signal, allow404);
  }

  /** POST /v<negotiated><path> with a JSON body; resolves the JSON answer (fleet mode creates its network with it). */
  async post<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    const version = this.#apiVersion ?? await this.negotiate(signal);
    const full = `/v${version}${path}`;
    let res;
    try {
      res = await request(this.#origin + full, {
        method: 'POST', dispatcher: this.#agent, signal, headersTimeout: this.#timeoutMs, bodyTimeout: this.#timeoutMs,
        headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
      });
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      throw classifyConnectError(err, this.#where);
    }
    const text = await res.body.text();
    if (res.statusCode < 200 || res.statusCode > 299) {
      throw new DockerApiError('http', `POST ${full} on ${this.#where}: HTTP ${res.statusCode} ${text.trim()}`, { status: res.statusCode });
    }
    return (text.trim() === '' ? {} : JSON.parse(text)) as T;
  }

  async #getUnversioned<T>(path: string, signal?: AbortSignal): Promise<T> {
    return (await this.#json<T>(path, signal, false)) as T;
  }

  async #json<T>(path: string, signal: AbortSignal | undefined, allow404: boolean): Promise<T | undefined> {
    const res = await this.#request(path, signal);
    const text = await res.body.text();
    if (res.statusCode === 404 && allow404) return undefined;
    if (res.statusCode !== 200) {
      throw new DockerApiError('http', `GET ${path} on ${this.#where}: HTTP ${res.statusCode} ${text.trim()}`, { status: res.statusCode });
    }
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new DockerApiError('protocol', `GET ${path} on ${this.#where}: the answer is not JSON`, { cause: err });
    }
  }

  async #request(path: string, signal: AbortSignal | undefined, stream = false): Promise<Awaited<ReturnType<typeof request>>> {
    try {
      return await request(this.#origin + path, {
        dispatcher: this.#agent,
        signal,
        headersTimeout: this.#timeoutMs,
        bodyTimeout: stream ? 0 : this.#timeoutMs,
      });
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      throw classifyConnectError(err, this.#where);
    }
  }

  /**
   * Subscribes to the engine's event stream, filtered to what changes the
   * model, and resolves once the engine has answered (so whatever happens
   * after this call is in the stream). With `since` ("sec.nanos") the engine
   * first replays what it kept since then. The iterator ends when the engine
   * closes the stream and throws on a broken connection; abort `signal` to stop.
   */
  async subscribe(options: { since?: string; signal: AbortSignal }): Promise<AsyncGenerator<EngineEvent>> {
    const version = this.#apiVersion ?? await this.negotiate(options.signal);
    const filters = JSON.stringify({
      type: ['container', 'network'],
      event: [...new Set([...WATCHED_EVENTS.container, ...WATCHED_EVENTS.network])],
    });
    let path = `/v${version}/events?filters=${encodeURIComponent(filters)}`;
    if (options.since !== undefined) path += `&since=${encodeURIComponent(options.since)}`;
    const res = await this.#request(path, options.signal, true);
    if (res.statusCode !== 200) {
      const text = await res.body.text();
      throw new DockerApiError('http', `GET /events on ${this.#where}: HTTP ${res.statusCode} ${text.trim()}`, { status: res.statusCode });
    }
    return this.#lines(res.body);
  }

  async *#lines(body: AsyncIterable<unknown>): AsyncGenerator<EngineEvent> {
    let pending = '';
    try {
      for await (const chunk of body) {
        pending += (chunk as Buffer).toString('utf8');
        let nl: number;
        while ((nl = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          const event = parseEventLine(line);
          if (event !== undefined) yield event;
        }
      }
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      throw classifyConnectError(err, this.#where);
    }
  }

  /** Closes pooled connections (and the event stream, if one is open). */
  async close(): Promise<void> {
    await this.#agent.destroy();
  }
}

/** One /events line, or undefined for blank lines and events the model does not use. */
export function parseEventLine(line: string): EngineEvent | undefined {
  if (line.trim() === '') return undefined;
  let raw: ApiEvent;
  try {
    raw = JSON.parse(line) as ApiEvent;
  } catch {
    return undefined;
  }
  const type = raw.Type;
  const id = raw.Actor?.ID;
  if ((type !== 'network' && type !== 'container') || typeof id !== 'string' || typeof raw.Action !== 'string') return undefined;
  const timeNano = TIME_NANO_RE.exec(line)?.[1] ?? (raw.time !== undefined ? `${raw.time}000000000` : '0');
  return { type, action: raw.Action, id, attributes: raw.Actor?.Attributes ?? {}, timeNano };
}
