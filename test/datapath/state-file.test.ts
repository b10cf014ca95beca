// The connection table outlives the process: `sixgate nat` with a state file
// is SIGKILLed (or stopped with SIGTERM) and started again while connections
// are open, through real kernels (topology.ts): streams whose far end pushes
// while the container only reads, outbound and through a published port, and
// a 64 MB download checked by SHA-256 at both ends. Then state files that must not be trusted
// (truncated, damaged, another version, boot or configuration, garbage
// records): each is discarded with one log line, or its bad records dropped,
// and the daemon runs and carries new connections.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { randomFillSync } from 'node:crypto';
import { closeSync, openSync, readFileSync, rmSync, truncateSync, writeSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { requires } from '../support/prereq.js';
import { NatLab, A, tcpServerCode, tcpClientCode } from './topology.js';

const STATEFILE = new URL('../../src/io/statefile.js', import.meta.url).pathname;

const req = requires({ root: true, tools: ['ip', 'busybox', 'nsenter'], files: ['/dev/net/tun'] });

const OTHER_EXTERNAL = '2001:db8:1::67';

function config(gw: string, external: string = A.dedicated): string {
  return `uplink: up0
stateFile: /tmp/${gw}-state.table
capacity: 16384
networks:
  - { name: web, bridge: br0, subnets: [fd66:1::/64], externalAddresses: [${external}] }
published:
  - { protocol: tcp, hostIp: "::", hostPort: 8086, containerAddress: "${A.c2}", containerPort: 86 }
`;
}

/** In a container: a published server that only reads; prints each line it receives. */
const READER = `import net from 'node:net';
net.createServer((s) => {
  s.on('error', (e) => console.log('server error ' + e.code));
  s.setEncoding('utf8');
  s.on('data', (d) => process.stdout.write(d));
  s.on('close', () => console.log('closed'));
}).listen(86, '::', () => console.log('ready'));`;

/** Outside: connects to the published port and pushes "push N" every 50 ms, never reads. */
const PUSHING_CLIENT = `import net from 'node:net';
const s = net.connect({ host: '${A.dedicated}', port: 8086 }, () => {
  console.log('connected');
  let n = 0;
  setInterval(() => s.write('push ' + (n++) + '\\n'), 50);
});
s.on('error', (e) => console.log('error ' + e.code));
s.on('close', () => console.log('closed'));`;

const BIG = 64 << 20;

/** Sends 64 MB of seeded pseudo-random bytes to each client (paced by TCP), then prints their SHA-256. */
const BIG_SERVER = `import net from 'node:net';
import { createHash } from 'node:crypto';
const data = Buffer.alloc(${BIG});
let x = 12345;
for (let i = 0; i < data.length; i += 4) { x = (Math.imul(x, 1103515245) + 12345) >>> 0; data.writeUInt32LE(x, i); }
const sha = createHash('sha256').update(data).digest('hex');
net.createServer((s) => {
  s.on('error', () => {});
  s.end(data);
}).listen(5008, '::', () => console.log('ready ' + sha));`;

/**
 * Reads everything from the 64 MB server at most 16 MB/s (so a restart falls
 * in the middle); prints its progress, then the SHA-256 of what arrived.
 */
const BIG_CLIENT = `import net from 'node:net';
import { createHash } from 'node:crypto';
const h = createHash('sha256'); let n = 0; let shown = 0; const t0 = Date.now();
const s = net.connect({ host: '${A.inet}', port: 5008 });
s.on('data', (d) => {
  h.update(d); n += d.length;
  if (n - shown >= 1 << 20) { shown = n; console.log('got ' + n); }
  if (n > (Date.now() - t0) * 16000) { s.pause(); setTimeout(() => s.resume(), 20); }
});
s.on('error', (e) => console.log('error ' + e.code));
s.on('end', () => console.log('done ' + n + ' ' + h.digest('hex')));`;

/** Answers every line with "<the client's port as seen here> <line>". */
const ECHO_PORT = `import net from 'node:net';
net.createServer((s) => {
  s.on('error', () => {});
  s.setEncoding('utf8');
  s.on('data', (d) => { for (const l of d.split('\\n')) if (l) s.write(s.remotePort + ' ' + l + '\\n'); });
}).listen(5004, '::', () => console.log('ready'));`;

/** Pushes "tick N" every 50 ms to each client and never reads. */
const PUSHER = `import net from 'node:net';
net.createServer((s) => {
  s.on('error', (e) => console.log('server error ' + e.code));
  let n = 0;
  const t = setInterval(() => s.write('tick ' + (n++) + '\\n'), 50);
  s.on('close', () => clearInterval(t));
}).listen(5006, '::', () => console.log('ready'));`;

/** A client bound to `localPort`; prints what it receives, sends what arrives on stdin. */
function clientCode(port: number, localPort?: number): string {
  return `import net from 'node:net';
const s = net.connect({ host: '${A.inet}', port: ${port}${localPort === undefined ? '' : `, localPort: ${localPort}`} }, () => console.log('connected'));
s.setEncoding('utf8');
s.on('data', (d) => process.stdout.write(d));
s.on('error', (e) => console.log('error ' + e.code));
s.on('close', () => console.log('closed'));
process.stdin.on('data', (d) => s.write(d));`;
}

class Client {
  out = '';
  constructor(readonly child: ChildProcess) {
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { this.out += d; });
  }

  async waitFor(pattern: RegExp, lab: NatLab, ms = 10_000): Promise<RegExpExecArray> {
    const end = Date.now() + ms;
    for (;;) {
      const m = pattern.exec(this.out);
      if (m !== null) return m;
      if (Date.now() > end) throw new Error(`waited for ${pattern}; client said: ${this.out.slice(-500)}\nsixgate:\n${lab.log.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

describe('the connection table survives SIGKILL (state file)', { ...req, timeout: 180_000 }, () => {
  let lab: NatLab;
  let stateFile: string;
  const children: ChildProcess[] = [];

  before(async () => {
    lab = new NatLab({ withNpt: false, withInet2: false });
    stateFile = `/tmp/${lab.gw.name}-state.table`;
    children.push(await lab.server(lab.inet, ECHO_PORT));
    children.push(await lab.server(lab.inet, PUSHER));
    children.push(await lab.server(lab.inet, tcpServerCode(5001, 1 << 20)));
    await lab.startSixgate(config(lab.gw.name));
  });

  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await lab?.stopSixgate('SIGKILL');
    lab?.destroy();
    if (lab) for (const f of [stateFile, `${stateFile}.new`, `/tmp/${lab.gw.name}-nat.yaml`]) rmSync(f, { force: true });
  });

  function client(ns: NatLab['c1'], port: number, localPort?: number): Client {
    const child = ns.spawn(process.execPath, ['--input-type=module', '-e', clientCode(port, localPort)]);
    children.push(child);
    return new Client(child);
  }

  async function killAndRestart(yaml = config(lab.gw.name)): Promise<string> {
    await lab.stopSixgate('SIGKILL');
    const mark = lab.log.length;
    await lab.startSixgate(yaml);
    return lab.log.slice(mark);
  }

  test('two inside hosts with the same source port to the same remote: both connections survive SIGKILL + restart', async () => {
    const one = client(lab.c1, 5004, 40000);
    const two = client(lab.c2, 5004, 40000);
    await one.waitFor(/connected/, lab);
    await two.waitFor(/connected/, lab);
    one.child.stdin!.write('before\n');
    two.child.stdin!.write('before\n');
    const p1 = (await one.waitFor(/(\d+) before/, lab))[1];
    const p2 = (await two.waitFor(/(\d+) before/, lab))[1];
    assert.notEqual(p1, p2, 'the two mappings have different external ports');
    assert.ok(p1 === '40000' || p2 === '40000', `one of them keeps its port (${p1}, ${p2})`);
    const log = await killAndRestart();
    assert.match(log, /connection table restored/);
    // The one that lost the port race speaks first: with a forgotten table it
    // would now get port 40000, and the server would answer with a RST.
    const [first, second] = p1 === '40000' ? [two, one] : [one, two];
    first.child.stdin!.write('after\n');
    second.child.stdin!.write('after\n');
    assert.equal((await one.waitFor(/(\d+) after/, lab))[1], p1);
    assert.equal((await two.waitFor(/(\d+) after/, lab))[1], p2);
    assert.doesNotMatch(one.out + two.out, /error|closed/);
    one.child.kill();
    two.child.kill();
  });

  test('a stream the outside end pushes while the inside only reads survives SIGKILL + restart', async () => {
    const reader = client(lab.c1, 5006);
    await reader.waitFor(/tick 5\n/, lab);
    const log = await killAndRestart();
    assert.match(log, /connection table restored/);
    const seen = Number([...reader.out.matchAll(/tick (\d+)/g)].pop()![1]);
    // TCP retransmits what was lost while sixgate was down; then the stream goes on.
    await reader.waitFor(new RegExp(`tick ${seen + 20}\\n`), lab, 15_000);
    assert.doesNotMatch(reader.out, /error|closed/);
    reader.child.kill();
  });

  test('SIGTERM + restart keeps an outbound stream and a published-port stream the outside pushes while the containers only read', async () => {
    const reader = client(lab.c1, 5006);
    const server = new Client(await lab.server(lab.c2, READER));
    children.push(server.child);
    const pusher = new Client(lab.inet.spawn(process.execPath, ['--input-type=module', '-e', PUSHING_CLIENT]));
    children.push(pusher.child);
    await reader.waitFor(/tick 5\n/, lab);
    await server.waitFor(/push 5\n/, lab);
    assert.equal(await lab.stopSixgate('SIGTERM'), 0);
    const mark = lab.log.length;
    await lab.startSixgate(config(lab.gw.name));
    assert.match(lab.log.slice(mark), /connection table restored/);
    const ticks = Number([...reader.out.matchAll(/tick (\d+)/g)].pop()![1]);
    const pushes = Number([...server.out.matchAll(/push (\d+)/g)].pop()![1]);
    await reader.waitFor(new RegExp(`tick ${ticks + 20}\\n`), lab, 15_000);
    await server.waitFor(new RegExp(`push ${pushes + 20}\\n`), lab, 15_000);
    assert.doesNotMatch(reader.out + server.out + pusher.out, /error|closed/);
    for (const c of [reader, server, pusher]) c.child.kill();
  });

  test('a 64 MB download interrupted by SIGKILL + restart arrives intact (SHA-256 at both ends)', async () => {
    const bigServer = lab.inet.spawn(process.execPath, ['--input-type=module', '-e', BIG_SERVER]);
    children.push(bigServer);
    const served = new Client(bigServer);
    const sent = (await served.waitFor(/ready ([0-9a-f]{64})/, lab, 15_000))[1];
    const reader = new Client(lab.c1.spawn(process.execPath, ['--input-type=module', '-e', BIG_CLIENT]));
    children.push(reader.child);
    // Interrupted early on, while most of the 64 MB is still to come.
    await reader.waitFor(/got \d+/, lab);
    const log = await killAndRestart();
    assert.match(log, /connection table restored/);
    const done = await reader.waitFor(/done (\d+) ([0-9a-f]{64})/, lab, 25_000);
    assert.equal(Number(done[1]), BIG);
    assert.equal(done[2], sent, 'the bytes that arrived are the bytes sent');
    assert.doesNotMatch(reader.out, /error/);
    bigServer.kill();
  });

  // Each case damages the state file a SIGKILLed sixgate left, starts it
  // again and expects exactly one "state file discarded" line giving `reason`
  // (or, with reason undefined, none: the table is adopted), then a new
  // connection to work.
  async function startWith(damage: () => void, reason: RegExp | undefined, yaml = config(lab.gw.name)): Promise<string> {
    await lab.stopSixgate('SIGKILL');
    damage();
    const mark = lab.log.length;
    await lab.startSixgate(yaml);
    const log = lab.log.slice(mark);
    const discarded = log.split('\n').filter((l) => l.includes('state file discarded'));
    assert.equal(discarded.length, reason === undefined ? 0 : 1, log);
    if (reason !== undefined) assert.match(discarded[0]!, reason);
    else assert.match(log, /connection table restored/);
    const r = await lab.c1.node(tcpClientCode(A.inet, 5001), 20_000);
    assert.match(r.stdout, /"bytes":1048576/, `a new connection after the restart: ${r.stdout}${r.stderr}\n${log}`);
    return log;
  }

  function patchWord(index: number, value: number): void {
    const fd = openSync(stateFile, 'r+');
    const word = new Uint32Array([value]);
    writeSync(fd, new Uint8Array(word.buffer), 0, 4, index * 4);
    closeSync(fd);
  }

  test('a truncated state file is discarded with one line', async () => {
    await startWith(() => truncateSync(stateFile, readFileSync(stateFile).length >> 1), /truncated/);
  });

  test('a state file with a damaged header is discarded with one line', async () => {
    await startWith(() => patchWord(0, 0x12345678), /magic 0x12345678/);
  });

  test('a state file from another version is discarded with one line', async () => {
    await startWith(() => patchWord(1, 2), /version 2 is not supported/);
  });

  test('a state file from another boot is discarded with one line', async () => {
    await startWith(() => patchWord(19, 0xdeadbeef), /before the last reboot/);
  });

  test('a state file from another configuration is discarded with one line', async () => {
    await startWith(() => {}, /other external addresses/, config(lab.gw.name, OTHER_EXTERNAL));
    await startWith(() => {}, /other external addresses/);
  });

  test('garbage records are dropped, the rest adopted; the daemon runs', async () => {
    const keep = client(lab.c1, 5004, 40001);
    await keep.waitFor(/connected/, lab);
    keep.child.stdin!.write('x\n');
    await keep.waitFor(/\d+ x/, lab);
    const log = await startWith(() => {
      // Random words over the records after the first few (the live ones sit at the lowest ids).
      const bytes = readFileSync(stateFile);
      const fd = openSync(stateFile, 'r+');
      const junk = randomFillSync(new Uint8Array(64 * 4096));
      writeSync(fd, junk, 0, junk.length, 256 + 64 * 64);
      closeSync(fd);
      assert.equal(readFileSync(stateFile).length, bytes.length);
    }, undefined);
    assert.match(log, /"dropped":[1-9]/);
    keep.child.stdin!.write('y\n');
    await keep.waitFor(/\d+ y/, lab);
    keep.child.kill();
  });

  test('a state file another process holds refuses the start, saying so; an unusable one only warns', async () => {
    await lab.stopSixgate('SIGKILL');
    const holder = await lab.server(lab.gw, `import { StateFile } from '${STATEFILE}';
StateFile.open('${stateFile}'); console.log('ready'); setInterval(() => {}, 1000);`);
    children.push(holder);
    await assert.rejects(lab.startSixgate(config(lab.gw.name)), /another sixgate process is using this state file/);
    holder.kill('SIGKILL');
    await once(holder, 'exit');
    const mark = lab.log.length;
    const yaml = config(lab.gw.name).replace(`stateFile: ${stateFile}`, `stateFile: /tmp/${lab.gw.name}-nat.yaml/state.table`);
    await lab.startSixgate(yaml);
    assert.match(lab.log.slice(mark), /"err":"mkdir[^"]*failed[^"]*".*state file unusable/);
    const r = await lab.c1.node(tcpClientCode(A.inet, 5001), 20_000);
    assert.match(r.stdout, /"bytes":1048576/);
  });
});
