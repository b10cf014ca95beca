// The control socket: a unix socket in the run directory through which the
// CLI (`sixgate status`, `flows`, `ndp sessions`, `counters --live`) asks a
// running daemon (`run`, `nat` or `ndp`) for its state. Read-only: no request
// changes anything.
//
// Protocol version 1, newline-delimited JSON. A request is one line:
//   {"v":1,"op":"status"}
//   {"v":1,"op":"flows","proto":"tcp","port":80,"container":"web"}
// An answer is one line {"v":1,"ok":true,"result":...}; a listing is any
// number of {"v":1,"ok":true,"part":[...]} lines and then
// {"v":1,"ok":true,"end":true,"count":N}; a refusal is
// {"v":1,"ok":false,"error":{"code":"bad-json","message":"..."}}. Several
// requests may follow each other on one connection.
//
// One request never stalls or crashes the daemon: a line longer than
// MAX_REQUEST_BYTES is refused and the connection closed; malformed JSON, an
// unknown version or op, and a handler that throws are error answers; a
// connection idle (in either direction: a client that stops reading a
// listing too) for IDLE_TIMEOUT_MS is closed; at most MAX_CLIENTS are served
// at once (the next one gets `busy`). Listings are produced in slices between
// event-loop turns and wait for the client to drain, so a big answer neither
// holds up the packets nor piles up in memory.
//
// The socket is mode 0660, owned by the daemon's user: root, or the
// service's group. A stale socket file (left by a SIGKILL) is replaced; a
// live one (another daemon answers there) is left alone and this daemon
// serves none, with one warning.
import { chmodSync, mkdirSync, statSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { ControlError } from '../errors.js';

export const DEFAULT_CONTROL_SOCKET = '/run/sixgate/control.sock';
export const PROTOCOL_VERSION = 1;
/** Longest request line accepted (requests are a few filters: far below this). */
export const MAX_REQUEST_BYTES = 16 * 1024;
export const MAX_CLIENTS = 16;
export const IDLE_TIMEOUT_MS = 10_000;
const SOCKET_MODE = 0o660;

export interface ControlRequest {
  readonly v: number;
  readonly op: string;
  readonly [key: string]: unknown;
}

/** What an op answers: one result, or a listing sent part by part. */
export type ControlAnswer = { readonly result: unknown } | { readonly stream: AsyncIterable<readonly unknown[]> };

export type ControlOp = (request: ControlRequest) => ControlAnswer | Promise<ControlAnswer>;

export interface ControlServer {
  readonly path: string;
  close(): Promise<void>;
}

/**
 * Serves `ops` on `path`. Resolves to undefined (with one warning) when the
 * socket cannot be served: the daemon runs on without it.
 */
export async function startControlServer(path: string, ops: Readonly<Record<string, ControlOp>>, log: Logger): Promise<ControlServer | undefined> {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    if (await answers(path)) {
      log.warn({ socket: path }, `control socket ${path} is served by another running sixgate: this one serves none (pass another path)`);
      return undefined;
    }
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      log.warn({ socket: path }, `control socket ${path}: ${(err as Error).message}; sixgate status and flows will not reach this daemon`);
      return undefined;
    }
  }
  const clients = new Set<Socket>();
  const server = createServer((socket) => {
    if (clients.size >= MAX_CLIENTS) {
      refuseAndClose(socket, 'busy', `${MAX_CLIENTS} clients already connected; try again`);
      return;
    }
    clients.add(socket);
    socket.on('close', () => clients.delete(socket));
    serveConnection(socket, ops, log);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    chmodSync(path, SOCKET_MODE);
  } catch (err) {
    server.close();
    log.warn({ socket: path }, `control socket ${path}: ${(err as Error).message}; sixgate status and flows will not reach this daemon`);
    return undefined;
  }
  server.on('error', (err) => log.warn({ socket: path }, `control socket: ${err.message}`));
  const inode = statSync(path).ino;
  log.debug({ socket: path }, 'control socket ready');
  return {
    path,
    close: () => closeServer(server, clients, path, inode),
  };
}

async function closeServer(server: Server, clients: Set<Socket>, path: string, inode: number): Promise<void> {
  for (const c of clients) c.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  // Only our own file: another daemon may have taken the path since.
  try {
    if (statSync(path).ino === inode) unlinkSync(path);
  } catch {
    // already gone
  }
}

/** Whether a daemon answers on `path` (a stale file refuses the connection). */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const probe = createConnection(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED') resolve(false);
      else reject(err);
    });
  });
}

function line(message: Record<string, unknown>): string {
  return `${JSON.stringify({ v: PROTOCOL_VERSION, ...message })}\n`;
}

function refusal(code: string, message: string): Record<string, unknown> {
  return { ok: false, error: { code, message } };
}

/** The refusal, then the connection closed (destroyed once written: nothing more is read from it). */
function refuseAndClose(socket: Socket, code: string, message: string): void {
  socket.on('error', () => {});
  socket.end(line(refusal(code, message)), () => socket.destroy());
}

/** Reads request lines one at a time (the next waits for the answer to the last). */
function serveConnection(socket: Socket, ops: Readonly<Record<string, ControlOp>>, log: Logger): void {
  socket.setTimeout(IDLE_TIMEOUT_MS);
  socket.on('timeout', () => socket.destroy());
  socket.on('error', () => {}); // a client that went away: nothing to do
  let buffered = '';
  let busy = false;
  const next = async (): Promise<void> => {
    while (!busy && !socket.destroyed) {
      const nl = buffered.indexOf('\n');
      if (nl < 0) return;
      const text = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      busy = true;
      socket.pause();
      try {
        await answer(socket, text, ops);
      } catch (err) {
        log.warn({ err }, 'control request failed');
        if (!socket.destroyed) socket.write(line(refusal('internal', String((err as Error)?.message ?? err))));
      }
      busy = false;
      socket.resume();
    }
  };
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    const nl = buffered.indexOf('\n');
    if ((nl < 0 ? buffered.length : nl) > MAX_REQUEST_BYTES) {
      buffered = '';
      socket.pause();
      refuseAndClose(socket, 'too-large', `request longer than ${MAX_REQUEST_BYTES} bytes`);
      return;
    }
    void next();
  });
}

async function answer(socket: Socket, text: string, ops: Readonly<Record<string, ControlOp>>): Promise<void> {
  let request: ControlRequest;
  try {
    request = JSON.parse(text) as ControlRequest;
  } catch (err) {
    socket.write(line(refusal('bad-json', `not JSON: ${(err as Error).message}`)));
    return;
  }
  if (typeof request !== 'object' || request === null || Array.isArray(request)) {
    socket.write(line(refusal('bad-request', 'a request is a JSON object: {"v":1,"op":"..."}')));
    return;
  }
  if (request.v !== PROTOCOL_VERSION) {
    socket.write(line(refusal('bad-version', `protocol version ${JSON.stringify(request.v)} not supported; this daemon speaks v${PROTOCOL_VERSION}`)));
    return;
  }
  const op = typeof request.op === 'string' && Object.hasOwn(ops, request.op) ? ops[request.op] : undefined;
  if (op === undefined) {
    socket.write(line(refusal('unknown-op', `unknown op ${JSON.stringify(request.op)}; this daemon answers ${Object.keys(ops).join(', ')}`)));
    return;
  }
  let reply: ControlAnswer;
  try {
    reply = await op(request);
  } catch (err) {
    const code = err instanceof ControlError ? err.reason : 'internal';
    socket.write(line(refusal(code, String((err as Error)?.message ?? err))));
    return;
  }
  if ('result' in reply) {
    socket.write(line({ ok: true, result: reply.result }));
    return;
  }
  let count = 0;
  for await (const part of reply.stream) {
    if (socket.destroyed) return; // the iterator's return() ends the walk
    count += part.length;
    // An empty part is a stream's heartbeat (a watch with nothing new): the client is not idle.
    if (part.length === 0) socket.setTimeout(IDLE_TIMEOUT_MS);
    else if (!socket.write(line({ ok: true, part }))) await drained(socket);
  }
  if (!socket.destroyed) socket.write(line({ ok: true, end: true, count }));
}

/** Until the client read what is buffered, or went away (the idle timeout closes a client that stopped reading). */
function drained(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

// ------------------------------------------------------------------ client

export interface ControlClientOptions {
  /** How long the daemon may stay silent (0: for ever, for a watch). */
  readonly timeoutMs?: number;
}

/**
 * Sends one request; resolves to its result, or for a listing calls `onPart`
 * with each part and resolves to the count. Throws ControlError (no-daemon,
 * or the daemon's refusal).
 */
export function request(path: string, body: { op: string; [key: string]: unknown }, onPart?: (part: unknown[]) => void,
  options: ControlClientOptions = {}): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    let buffered = '';
    let settled = false;
    const settle = (err: Error | undefined, value?: unknown): void => {
      if (settled) return;
      settled = true;
      socket.destroy();
      if (err !== undefined) reject(err);
      else resolve(value);
    };
    if (options.timeoutMs !== 0) socket.setTimeout(options.timeoutMs ?? IDLE_TIMEOUT_MS, () => settle(new ControlError('timeout', `the daemon on ${path} did not answer in time`)));
    socket.once('connect', () => socket.write(`${JSON.stringify({ v: PROTOCOL_VERSION, ...body })}\n`));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'ENOENT' || err.code === 'ECONNREFUSED'
        ? `no sixgate daemon answers on ${path} (is it running? --socket names another path)`
        : err.code === 'EACCES' ? `${path}: permission denied (the socket is for root and the service's group)` : `${path}: ${err.message}`;
      settle(new ControlError('no-daemon', why));
    });
    socket.on('close', () => settle(new ControlError('closed', `the daemon on ${path} closed the connection before answering`)));
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      for (let nl = buffered.indexOf('\n'); nl >= 0 && !settled; nl = buffered.indexOf('\n')) {
        const text = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        let msg: { ok?: boolean; result?: unknown; part?: unknown[]; end?: boolean; count?: number; error?: { code: string; message: string } };
        try {
          msg = JSON.parse(text) as typeof msg;
        } catch {
          settle(new ControlError('bad-json', `the daemon on ${path} sent something that is not JSON`));
          return;
        }
        if (msg.ok !== true) settle(new ControlError(msg.error?.code ?? 'error', msg.error?.message ?? 'refused'));
        else if (msg.part !== undefined) onPart?.(msg.part);
        else if (msg.end === true) settle(undefined, msg.count);
        else settle(undefined, msg.result);
      }
    });
  });
}
