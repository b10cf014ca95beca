// Connections where only the outside end speaks, for continuity tests: a
// server that pushes to whoever connects, a client that pushes to a server,
// and readers that only count what arrives (the inside end, which then
// sends nothing but ACKs that would re-create a lost session). Each reader
// prints "bytes N" every 50 ms; Watch follows that output.
import type { ChildProcess } from 'node:child_process';

/** The port PUSH_SERVER listens on, and COUNT_SERVER's. */
export const PUSH_PORT = 6001;
export const COUNT_PORT = 7080;

/** Pushes 4 KB every 100 ms to whoever connects; reads nothing. */
export const PUSH_SERVER = `import net from 'node:net';
net.createServer((s) => {
  s.on('error', () => {});
  const t = setInterval(() => s.write(Buffer.alloc(4096, 1)), 100);
  s.on('close', () => clearInterval(t));
}).listen(${PUSH_PORT}, '::', () => console.log('ready'));`;

/** Counts what it receives and says so every 50 ms; sends nothing. */
export const COUNT_SERVER = `import net from 'node:net';
let n = 0;
net.createServer((s) => { s.on('error', (e) => console.log('error ' + e.code)); s.on('data', (d) => { n += d.length; }); s.on('end', () => console.log('end')); })
  .listen(${COUNT_PORT}, '::', () => console.log('ready'));
setInterval(() => console.log('bytes ' + n), 50);`;

export function countClient(host: string, port: number): string {
  return `import net from 'node:net';
let n = 0;
const s = net.connect({ host: '${host}', port: ${port} });
s.on('data', (d) => { n += d.length; });
s.on('error', (e) => { console.log('error ' + e.code); process.exit(1); });
s.on('end', () => { console.log('end'); process.exit(1); });
setInterval(() => console.log('bytes ' + n), 50);`;
}

export function pushClient(host: string, port: number): string {
  return `import net from 'node:net';
const s = net.connect({ host: '${host}', port: ${port} }, () => setInterval(() => s.write(Buffer.alloc(4096, 2)), 100));
s.on('error', (e) => { console.log('error ' + e.code); process.exit(1); });`;
}

/** A reader's output: the last byte count it printed, and whether its connection failed. */
export class Watch {
  out = '';
  constructor(readonly child: ChildProcess) {
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { this.out += d; });
  }

  get bytes(): number {
    const all = [...this.out.matchAll(/bytes (\d+)/g)];
    return all.length === 0 ? 0 : Number(all[all.length - 1]![1]);
  }

  get failed(): boolean {
    return /error|end/.test(this.out);
  }
}

/**
 * Resolves once every reader got at least two more pushes (8 KB) on the same
 * connection within `timeoutMs`; throws with their output and `context()` otherwise.
 */
export async function flowing(watches: readonly Watch[], what: string, context: () => string, timeoutMs = 3000): Promise<void> {
  const from = watches.map((w) => w.bytes);
  const end = Date.now() + timeoutMs;
  while (watches.some((w, i) => w.bytes < from[i]! + 8192)) {
    if (Date.now() > end || watches.some((w) => w.failed)) {
      const detail = watches.map((w, i) => `${from[i]} -> ${w.bytes}: ${w.out.slice(-120).replace(/\n/g, ' ')}`).join('\n');
      throw new Error(`${what}: data stopped\n${detail}\n${context()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
