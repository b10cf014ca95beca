// Connections live through reconfigurations of `sixgate nat` (SIGHUP with a
// changed file): a network added and removed, a published port added and
// removed for another container. Two connections are watched through every
// event, each one where only the outside end speaks (so nothing from the
// container would re-create a lost session): an outbound one whose remote
// server pushes to a container that only reads, and a published-port one
// whose outside client pushes into a container that only reads. After each
// event data must keep arriving on the same sockets.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { requires } from '../support/prereq.js';
import { NatLab, A } from './topology.js';

const req = requires({ root: true, tools: ['ip', 'busybox', 'nsenter'], files: ['/dev/net/tun'] });

const LAB_ADDRESS = '2001:db8:1::67';
const WEB = `{ name: web, bridge: br0, subnets: [fd66:1::/64], externalAddresses: [${A.dedicated}] }`;
const LAB = `{ name: lab, bridge: br1, subnets: [fd66:2::/64], externalAddresses: [${LAB_ADDRESS}] }`;
const PUBLISHED = `{ protocol: tcp, hostIp: "::", hostPort: 8080, containerAddress: "${A.c1}", containerPort: 7080 }`;
const OTHER = `{ protocol: tcp, hostIp: "::", hostPort: 9090, containerAddress: "${A.c2}", containerPort: 90 }`;

function config(gw: string, networks: string[], published: string[]): string {
  return `uplink: up0
stateFile: /tmp/${gw}-state.snap
capacity: 16384
networks:
${networks.map((n) => `  - ${n}`).join('\n')}
published:
${published.map((p) => `  - ${p}`).join('\n')}
`;
}

/** Pushes 4 KB every 100 ms to whoever connects; reads nothing. */
const PUSH_SERVER = `import net from 'node:net';
net.createServer((s) => {
  s.on('error', () => {});
  const t = setInterval(() => s.write(Buffer.alloc(4096, 1)), 100);
  s.on('close', () => clearInterval(t));
}).listen(6001, '::', () => console.log('ready'));`;

/** Counts what it receives and says so every 50 ms; sends nothing. */
const COUNT_SERVER = `import net from 'node:net';
let n = 0;
net.createServer((s) => { s.on('error', (e) => console.log('error ' + e.code)); s.on('data', (d) => { n += d.length; }); s.on('end', () => console.log('end')); })
  .listen(7080, '::', () => console.log('ready'));
setInterval(() => console.log('bytes ' + n), 50);`;

function countClient(host: string, port: number): string {
  return `import net from 'node:net';
let n = 0;
const s = net.connect({ host: '${host}', port: ${port} });
s.on('data', (d) => { n += d.length; });
s.on('error', (e) => { console.log('error ' + e.code); process.exit(1); });
s.on('end', () => { console.log('end'); process.exit(1); });
setInterval(() => console.log('bytes ' + n), 50);`;
}

function pushClient(host: string, port: number): string {
  return `import net from 'node:net';
const s = net.connect({ host: '${host}', port: ${port} }, () => setInterval(() => s.write(Buffer.alloc(4096, 2)), 100));
s.on('error', (e) => { console.log('error ' + e.code); process.exit(1); });`;
}

/** A reader's output: the last byte count it printed, and whether its connection failed. */
class Watch {
  out = '';
  constructor(child: ChildProcess) {
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

describe('sixgate nat: connections live through reconfiguration', { ...req, timeout: 90_000 }, () => {
  let lab: NatLab;
  const children: ChildProcess[] = [];
  let outbound: Watch;
  let published: Watch;

  before(async () => {
    lab = new NatLab({ withInet2: false });
    children.push(await lab.server(lab.inet, PUSH_SERVER));
    const sink = await lab.server(lab.c1, COUNT_SERVER);
    children.push(sink);
    published = new Watch(sink);
    await lab.startSixgate(config(lab.gw.name, [WEB], [PUBLISHED]));
    const reader = lab.c1.spawn(process.execPath, ['--input-type=module', '-e', countClient(A.inet, 6001)]);
    children.push(reader);
    outbound = new Watch(reader);
    children.push(lab.inet.spawn(process.execPath, ['--input-type=module', '-e', pushClient(A.dedicated, 8080)]));
    await flowing('start');
  });

  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await lab?.stopSixgate('SIGKILL');
    lab?.destroy();
    if (lab) for (const f of ['state.snap', 'nat.yaml']) rmSync(`/tmp/${lab.gw.name}-${f}`, { force: true });
  });

  // Both readers get at least two more pushes (8 KB) within 3 s, on the same connection.
  async function flowing(what: string): Promise<void> {
    const from = [outbound.bytes, published.bytes];
    const end = Date.now() + 3000;
    while (outbound.bytes < from[0]! + 8192 || published.bytes < from[1]! + 8192) {
      if (Date.now() > end || outbound.failed || published.failed) {
        throw new Error(`${what}: data stopped (outbound ${from[0]} -> ${outbound.bytes}, published ${from[1]} -> ${published.bytes})\n` +
          `outbound: ${outbound.out.slice(-200)}\npublished: ${published.out.slice(-200)}\nsixgate:\n${lab.log.slice(-3000)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async function reload(networks: string[], ports: string[]): Promise<string> {
    writeFileSync(`/tmp/${lab.gw.name}-nat.yaml`, config(lab.gw.name, networks, ports));
    const mark = lab.log.length;
    lab.sixgate!.kill('SIGHUP');
    const end = Date.now() + 8000;
    while (!lab.log.slice(mark).includes('model applied')) {
      if (Date.now() > end || /apply failed|reload failed/.test(lab.log.slice(mark))) throw new Error(`apply: ${lab.log.slice(mark)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return lab.log.slice(mark);
  }

  function applied(log: string): Record<string, unknown> {
    const line = log.split('\n').find((l) => l.includes('model applied'))!;
    return JSON.parse(line) as Record<string, unknown>;
  }

  test('a network added: both connections keep flowing, no session ends', async () => {
    const log = await reload([WEB, LAB], [PUBLISHED]);
    assert.equal(applied(log).sessionsDropped, 0);
    assert.equal(applied(log).natRebuilt, false);
    await flowing('network added');
  });

  test('a published port added, then removed, for another container', async () => {
    let log = await reload([WEB, LAB], [PUBLISHED, OTHER]);
    assert.equal(applied(log).publishedAdded, 1);
    await flowing('published port added');
    log = await reload([WEB, LAB], [PUBLISHED]);
    assert.equal(applied(log).publishedRemoved, 1);
    assert.equal(applied(log).sessionsDropped, 0);
    await flowing('published port removed');
  });

  test('a network removed: both connections keep flowing; only its sessions end, counted in one line', async () => {
    // A session of the lab network that the removal ends.
    const ping = await lab.c3.run('busybox', ['ping6', '-c', '1', '-W', '2', A.inet], 5000);
    assert.match(ping.stdout, /1 packets received/);
    const log = await reload([WEB], [PUBLISHED]);
    assert.equal(applied(log).sessionsDropped, 1);
    assert.match(log, /"sessions":1,.*sessions of removed networks, external addresses or published ports ended/);
    assert.doesNotMatch(lab.log, /existing sessions dropped/);
    await flowing('network removed');
  });
});
