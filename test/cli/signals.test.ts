// The signal storm (src/cli/signals.ts): `sixgate run`, `sixgate nat` and
// `sixgate ndp`, each in namespaces of its own, get SIGHUP, SIGUSR1, SIGINT,
// SIGTERM and SIGQUIT at random moments of their start-up and of their
// shutdown, 50 signals in all. Every time: nothing ever listens on the
// inspector's port 9229 in the daemon's namespace, the process ends only on a
// stop signal, with exit status 0, and the stop is a normal one (`nat` saved
// its table, `ndp` removed its autowire route).
//
// "Start-up" here begins once the handlers are in place: before that Node's
// own defaults apply, a window only --disable-sigusr1 (Node >= 22.14) and the
// inspector check of signals.ts cover, tested on its own below.
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { requires } from '../support/prereq.js';
import { Lab, type Netns } from '../support/netns.js';
import { waitFor } from '../support/wait.js';
import { repoRoot } from '../support/paths.js';
import { jsonLogs } from '../support/process.js';

const CLI = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
const SIGNALS = ['SIGHUP', 'SIGUSR1', 'SIGINT', 'SIGTERM', 'SIGQUIT'] as const;
const STOPS: ReadonlySet<NodeJS.Signals> = new Set(['SIGINT', 'SIGTERM', 'SIGQUIT']);
/** 9229 as /proc/net/tcp spells a local port. */
const INSPECTOR_PORT = `:${(9229).toString(16).toUpperCase().padStart(4, '0')}`;
const TCP_LISTEN = '0A';

const bit = (signal: NodeJS.Signals): bigint => 1n << BigInt(constants.signals[signal] - 1);

/** The signals `pid` catches (SigCgt), as a bit set; 0n once it is gone. */
function caughtSignals(pid: number): bigint {
  try {
    const m = /SigCgt:\s*([0-9a-f]+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? 0n : BigInt(`0x${m[1]}`);
  } catch {
    return 0n;
  }
}

/** Whether anything listens on port 9229 in the network namespace of `pid`. */
function inspectorListening(pid: number): boolean {
  for (const table of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[1]?.endsWith(INSPECTOR_PORT) && cols[3] === TCP_LISTEN) return true;
    }
  }
  return false;
}

/** One `sixgate` process, watched for port 9229 every few milliseconds while it lives. */
class Daemon {
  readonly child: ChildProcess;
  out = '';
  inspectorSeen = false;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(ns: Netns, args: readonly string[]) {
    this.child = ns.spawn(process.execPath, [CLI, ...args], { env: jsonLogs() });
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => { this.out += d; });
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => { this.out += d; });
    const watch = setInterval(() => {
      if (this.alive && inspectorListening(this.child.pid!)) this.inspectorSeen = true;
    }, 5);
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => {
      clearInterval(watch);
      resolve({ code, signal });
    }));
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves once signals.ts has installed its handlers (SIGQUIT, the last one, is caught). */
  async routed(): Promise<void> {
    await waitFor(() => !this.alive || (caughtSignals(this.child.pid!) & bit('SIGQUIT')) !== 0n, 10_000, `handlers:\n${this.out}`, 1);
    assert.ok(this.alive, `exited before its handlers were in place:\n${this.out}`);
  }

  /** Resolves once the daemon is running: it answers SIGUSR1 with its counters. */
  async running(): Promise<void> {
    const count = (): number => this.out.split('"msg":"counters"').length;
    const before = count();
    const end = Date.now() + 15_000;
    while (count() === before) {
      assert.ok(this.alive, `exited while it should run:\n${this.out}`);
      assert.ok(Date.now() < end, `not running within 15 s:\n${this.out}`);
      this.child.kill('SIGUSR1');
      await sleep(50);
    }
  }

  /** Waits for the exit (SIGKILL after 15 s, which fails the test). */
  async end(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    const r = await this.exited;
    clearTimeout(timer);
    return r;
  }
}

/** How one command is started, brought to a state worth stopping, and judged after a stop. */
interface Subject {
  readonly ns: Netns;
  readonly args: readonly string[];
  prepare(): void;
  /** Work done while running, so the stop has something to undo. */
  whileRunning(d: Daemon): Promise<void>;
  /** Asserts the stop was a normal one. */
  afterStop(d: Daemon): void;
}

interface Timing {
  startupMs: number;
  shutdownMs: number;
}

/** One undisturbed lifetime: checks the normal path and measures how long start-up and shutdown take. */
async function calibrate(s: Subject): Promise<Timing> {
  s.prepare();
  const d = new Daemon(s.ns, s.args);
  await d.routed();
  const t0 = Date.now();
  await d.running();
  const startupMs = Date.now() - t0;
  await s.whileRunning(d);
  const t1 = Date.now();
  d.child.kill('SIGTERM');
  const r = await d.end();
  assert.deepEqual(r, { code: 0, signal: null }, d.out);
  s.afterStop(d);
  return { startupMs, shutdownMs: Date.now() - t1 };
}

/**
 * Start-stop cycles until `budget` signals are sent (16 + 18 + 16 = 50 in
 * all): in each, two signals at random moments of start-up and one at a
 * random moment of shutdown (one that would find the process gone is not
 * sent and not counted).
 */
async function storm(t: TestContext, s: Subject, budget: number, offset: number): Promise<void> {
  const timing = await calibrate(s);
  t.diagnostic(`calibration: start-up ${timing.startupMs} ms, shutdown ${timing.shutdownMs} ms`);
  let sent = 0;
  for (let i = 0; sent < budget; i++) {
    assert.ok(i < budget, `only ${sent} of ${budget} signals sent in ${i} lifetimes`);
    const [first, second, late] = [0, 1, 2].map((k) => SIGNALS[(3 * i + offset + k) % SIGNALS.length]!) as [NodeJS.Signals, NodeJS.Signals, NodeJS.Signals];
    const [firstMs, secondMs] = [Math.random(), Math.random()].sort().map((r) => Math.round(r * timing.startupMs)) as [number, number];
    const lateMs = Math.round(Math.random() * timing.shutdownMs * 0.6);
    const what = `lifetime ${i}: ${first} and ${second} ${firstMs} and ${secondMs} ms into start-up, ${late} ${lateMs} ms into shutdown`;
    s.prepare();
    const d = new Daemon(s.ns, s.args);
    await d.routed();
    let stopSent = false;
    const send = (signal: NodeJS.Signals): void => {
      if (sent < budget && d.alive) {
        d.child.kill(signal);
        sent++;
        stopSent ||= STOPS.has(signal);
      }
    };
    await sleep(firstMs);
    send(first);
    await sleep(secondMs - firstMs);
    send(second);
    // No stop among what was sent (the budget may end before the second signal): stop it the normal way.
    if (!stopSent) {
      await d.running();
      await s.whileRunning(d);
      d.child.kill('SIGTERM');
    }
    await sleep(lateMs);
    send(late);
    const r = await d.end();
    assert.deepEqual(r, { code: 0, signal: null }, `${what}:\n${d.out}`);
    assert.equal(d.inspectorSeen, false, `${what}: something listened on 9229:\n${d.out}`);
    s.afterStop(d);
  }
}

const req = requires({ root: true, tools: ['ip', 'nsenter'], files: ['/dev/net/tun'] });

describe('signals at random moments of start-up and shutdown', { ...req, timeout: 180_000 }, () => {
  let lab: Lab;
  const files: string[] = [];

  before(() => {
    lab = new Lab();
  });

  after(() => {
    lab?.destroy();
    for (const f of files) rmSync(f, { force: true });
  });

  test('sixgate run (no Docker engine): 16 signals', async (t) => {
    const ns = lab.ns('run');
    lab.veth(ns, 'up0', lab.ns('runrt'), 'down0');
    lab.addr(ns, 'up0', '2001:db8:1::2/64');
    const status = `/tmp/${ns.name}-status.json`;
    files.push(status);
    await storm(t, {
      ns,
      args: ['run', '--uplink', 'up0', '--docker-host', `unix:///tmp/${ns.name}-none.sock`, '--status-file', status, '--retry-max-ms', '200'],
      prepare: () => {},
      whileRunning: async () => {},
      afterStop: (d) => assert.match(d.out, /"msg":"stopped"|stopped before start-up/),
    }, 16, 0);
  });

  test('sixgate nat (static configuration): 18 signals; the table is saved on every stop of a started data path', async (t) => {
    const gw = lab.ns('gw');
    lab.veth(gw, 'up0', lab.ns('natrt'), 'down0');
    lab.addr(gw, 'up0', '2001:db8:1::2/64');
    lab.bridge(gw, 'br0');
    lab.addr(gw, 'br0', 'fd66:1::1/64');
    gw.sysctl('net.ipv6.conf.all.forwarding', '1');
    const state = `/tmp/${gw.name}-state.snap`;
    const config = `/tmp/${gw.name}-nat.yaml`;
    files.push(state, config);
    writeFileSync(config, `uplink: up0\nstateFile: ${state}\ncapacity: 1024\nnetworks:\n  - { name: web, bridge: br0, subnets: [fd66:1::/64] }\n`);
    await storm(t, {
      ns: gw,
      args: ['nat', '-c', config],
      prepare: () => rmSync(state, { force: true }),
      whileRunning: async () => {},
      afterStop: (d) => {
        // A stop that came before the data path started ends the program without starting it.
        if (!d.out.includes('nat66 data path running')) return;
        assert.match(d.out, /connection table left in the state file/);
        assert.ok(existsSync(state), `no table saved:\n${d.out}`);
      },
    }, 18, 1);
  });

  test('sixgate ndp (autowire): 16 signals; the autowired route is gone after every stop', async (t) => {
    // router ── h0 host hb0 ── ctr, as in test/proxy/ndp-service.test.ts: the router
    // reaches the container only through the proxy, which then autowires its route.
    const CTR = '2001:db8:1::1:5';
    const router = lab.ns('router');
    const host = lab.ns('host');
    const ctr = lab.ns('ctr');
    lab.veth(router, 'r0', host, 'h0');
    lab.veth(host, 'hb0', ctr, 'c0');
    lab.addr(router, 'r0', '2001:db8:1::1/64');
    lab.addr(host, 'h0', '2001:db8:1::2/64');
    lab.addr(host, 'hb0', '2001:db8:1::1:1/112');
    lab.addr(ctr, 'c0', `${CTR}/112`);
    ctr.ip('-6', 'route', 'add', 'default', 'via', '2001:db8:1::1:1');
    host.sysctl('net.ipv6.conf.all.forwarding', '1');
    await waitFor(() => /fe80/.test(host.ip('-6', 'addr', 'show', 'dev', 'hb0')) && /fe80/.test(host.ip('-6', 'addr', 'show', 'dev', 'h0')), 5000, 'link-local addresses');
    const echo = ctr.spawn(process.execPath, ['-e', `
      const s = require('node:dgram').createSocket('udp6');
      s.on('message', (m, r) => s.send(m, r.port, r.address));
      s.bind(7777, '::', () => console.log('ready'));`]);
    await new Promise<void>((resolve) => echo.stdout!.once('data', () => resolve()));
    const config = `/tmp/${host.name}-ndppd.conf`;
    files.push(config);
    writeFileSync(config, 'proxy h0 {\n  autowire yes\n  rule 2001:db8:1::1:0/112 {\n    iface hb0\n  }\n}\n');
    const route = (): string => host.ip('-6', 'route', 'show', CTR).trim();
    try {
      await storm(t, {
        ns: host,
        args: ['ndp', '-c', config],
        prepare: () => router.ip('neigh', 'flush', 'dev', 'r0'),
        whileRunning: async () => {
          const r = await router.node(`
            import { createSocket } from 'node:dgram';
            const s = createSocket('udp6');
            const t = setTimeout(() => { console.log('timeout'); process.exit(1); }, 4000);
            s.on('message', (m) => { console.log('reply ' + m); clearTimeout(t); s.close(); });
            s.send('hello', 7777, '${CTR}');`, 9000);
          assert.match(r.stdout, /reply hello/, 'the router reaches the container through the proxy');
          await waitFor(() => route().includes('dev hb0'), 3000, 'the autowired route');
        },
        afterStop: () => assert.equal(route(), '', 'the autowired route is removed at exit'),
      }, 16, 2);
    } finally {
      echo.kill();
    }
  });

});

describe('early signals', { ...req, timeout: 60_000 }, () => {
  let lab: Lab;
  let ns: Netns;
  let config: string;

  before(() => {
    lab = new Lab();
    ns = lab.ns('early');
    lab.veth(ns, 'e0', lab.ns('earlyrt'), 'r0');
    config = `/tmp/${ns.name}-ndppd.conf`;
    writeFileSync(config, 'proxy e0 {\n  rule 2001:db8:5::1 {\n    static\n  }\n}\n');
  });

  after(() => {
    lab?.destroy();
    rmSync(config, { force: true });
  });

  test('a SIGHUP during start-up reloads once start-up is over', async () => {
    const d = new Daemon(ns, ['ndp', '-c', config]);
    await d.routed();
    d.child.kill('SIGHUP');
    await d.running();
    await waitFor(() => d.out.includes('configuration reloaded'), 5000, `the reload:\n${d.out}`);
    assert.match(d.out, /SIGHUP during start-up: reloading once start-up is over/);
    d.child.kill('SIGTERM');
    assert.deepEqual(await d.end(), { code: 0, signal: null }, d.out);
  });

  test('a SIGUSR1 before the handlers opens the inspector only until signals.ts runs', async (t) => {
    let opened = 0;
    for (let attempt = 0; attempt < 10 && opened < 2; attempt++) {
      const d = new Daemon(ns, ['ndp', '-c', config]);
      // Node's own SIGUSR1 handler is in place, signals.ts's are not yet (SIGQUIT is not caught).
      let caught = 0n;
      const end = Date.now() + 10_000;
      while ((caught & bit('SIGUSR1')) === 0n && Date.now() < end) caught = caughtSignals(d.child.pid!);
      if ((caught & bit('SIGQUIT')) === 0n) d.child.kill('SIGUSR1');
      await d.running();
      if (d.out.includes('Debugger listening')) {
        opened++;
        // Node opens it from another thread: signals.ts looks again a little later.
        await waitFor(() => d.out.includes('opened the Node inspector; closed it'), 3000, `the warning:\n${d.out}`);
        await waitFor(() => !inspectorListening(d.child.pid!), 3000, 'port 9229 closed');
      }
      assert.equal(inspectorListening(d.child.pid!), false, d.out);
      d.child.kill('SIGTERM');
      assert.deepEqual(await d.end(), { code: 0, signal: null }, d.out);
    }
    t.diagnostic(`the inspector opened and was closed in ${opened} lifetimes`);
    assert.ok(opened > 0, 'no SIGUSR1 reached Node before the handlers in 10 attempts');
  });
});

describe('commands that are not daemons', () => {
  test('get the default signal actions back: SIGINT ends `sixgate decode` waiting on its input', async () => {
    const child = spawn(process.execPath, [CLI, 'decode', '/dev/stdin'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const exited = once(child, 'exit');
    // Routed while the program loads (SIGQUIT caught), handed back once decode starts.
    await waitFor(() => (caughtSignals(child.pid!) & bit('SIGQUIT')) !== 0n, 10_000, 'handlers', 1);
    await waitFor(() => (caughtSignals(child.pid!) & bit('SIGQUIT')) === 0n, 10_000, 'handlers released', 1);
    child.kill('SIGINT');
    assert.deepEqual(await exited, [null, 'SIGINT']);
  });
});
