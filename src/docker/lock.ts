// Single-instance lock: an abstract unix socket ("\0sixgate/<name>").
//
// Why this and not a lock file: the kernel drops an abstract socket when its
// process dies in any way (SIGKILL, OOM kill, crash), so there is never a
// stale lock to clean up or a PID to second-guess; Node has no flock(2), and
// an O_EXCL pid file goes stale on a crash and races on recycled PIDs. Abstract
// sockets live in the network namespace, which is the right scope: one
// sixgate per network stack (two namespaces with one dockerd each may each run
// one). docker-ipv6nat had no lock at all (#68: two instances fought).
//
// The socket also answers a connection with one JSON line (pid, name) so the
// refusal message can say who holds the lock.
import { createConnection, createServer, type Server } from 'node:net';
import { InstanceLockedError } from '../errors.js';

export interface InstanceLock {
  readonly name: string;
  release(): Promise<void>;
}

function abstractPath(name: string): string {
  return `\0sixgate/${name}`;
}

function holder(path: string): Promise<string> {
  return new Promise((resolve) => {
    const sock = createConnection(path);
    let text = '';
    const done = (): void => {
      sock.destroy();
      resolve(text.trim());
    };
    sock.setTimeout(500, done);
    sock.setEncoding('utf8').on('data', (d: string) => { text += d; });
    sock.once('end', done);
    sock.once('error', done);
  });
}

/**
 * Takes the lock `name` (default "sixgate") or throws InstanceLockedError
 * naming the holder. Release it on shutdown; process death releases it too.
 */
export async function acquireInstanceLock(name = 'sixgate'): Promise<InstanceLock> {
  if (!/^[\w.-]{1,64}$/.test(name)) throw new RangeError(`lock name must be [A-Za-z0-9_.-]{1,64}: ${name}`);
  const path = abstractPath(name);
  const server: Server = createServer((sock) => {
    sock.end(`${JSON.stringify({ pid: process.pid, name })}\n`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch(async (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EADDRINUSE') throw err;
    const who = await holder(path);
    let pid = '';
    try {
      pid = String((JSON.parse(who) as { pid?: number }).pid ?? '');
    } catch {
      // Not ours to describe: some other program took the name.
    }
    throw new InstanceLockedError(`another sixgate instance${pid === '' ? '' : ` (pid ${pid})`} already runs in this network namespace (lock "${name}"): stop it first`);
  });
  // The lock must not keep the event loop alive on its own.
  server.unref();
  let released = false;
  return {
    name,
    release: () => new Promise<void>((resolve) => {
      if (released) { resolve(); return; }
      released = true;
      server.close(() => resolve());
    }),
  };
}
