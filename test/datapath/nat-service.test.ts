// DatapathService.apply in a namespace: a new model touches only what
// changed. The service runs in a child process inside the namespace (its
// `ip` and `tc` children must never run in the root namespace).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { requires } from '../support/prereq.js';
import { Lab, type Netns } from '../support/netns.js';
import { serviceGateway } from './topology.js';

const req = requires({ root: true, tools: ['ip', 'tc', 'ip6tables-save', 'ip6tables'], files: ['/dev/net/tun'] });
const SERVICE = fileURLToPath(new URL('../../src/datapath/nat-service.js', import.meta.url));
const LOG = fileURLToPath(new URL('../../src/log.js', import.meta.url));

// Runs `body` (statements using `svc`, `base`, `out`, `calls`) against a started service; prints `out` as JSON.
// `calls` lists every host command the service ran, by name (HostOps injected).
function script(body: string, startOptions = ''): string {
  return `import { DatapathService, HOST_OPS } from '${SERVICE}';
import { createLogger } from '${LOG}';
import { performance } from 'node:perf_hooks';
const lines = [];
const logger = createLogger({ level: 'info', destination: { write: (l) => { lines.push(JSON.parse(l)); return true; } } });
const base = { uplink: 'up0', published: [], networks: [{ name: 'web', bridge: 'br0', subnets: ['fd66:1::/64'], externalAddresses: ['2001:db8:1::66'] }] };
const out = {};
const calls = [];
const host = Object.fromEntries(Object.entries(HOST_OPS).map(([name, f]) => [name, (...a) => { calls.push(name); return f(...a); }]));
const svc = await DatapathService.start({ model: base, logger, nat: { capacity: 4096 }, host${startOptions} });
try {
${body}
} finally {
  out.logs = lines.map((l) => l.msg);
  await svc.stop({ cleanup: true });
}
console.log(JSON.stringify(out));`;
}

describe('DatapathService.apply', { ...req, timeout: 60_000 }, () => {
  let lab: Lab;
  let gw: Netns;

  before(() => {
    lab = new Lab();
    gw = serviceGateway(lab);
  });
  after(() => lab?.destroy());

  async function run(body: string, startOptions = ''): Promise<Record<string, unknown>> {
    const r = await gw.node(script(body, startOptions), 30_000);
    const last = r.stdout.trim().split('\n').pop() ?? '';
    try {
      return JSON.parse(last) as Record<string, unknown>;
    } catch {
      throw new Error(`script failed (${r.code}): ${r.stdout}\n${r.stderr}`);
    }
  }

  test('each change touches only what changed; the same model twice touches nothing', async () => {
    const out = await run(`
const pub = { protocol: 'tcp', hostIp: '', hostPort: 8080, containerAddress: 'fd66:1::2', containerPort: 80 };
out.samePort = await svc.apply({ ...base, published: [pub] });
out.again = await svc.apply({ ...base, published: [pub] });
const two = { ...base, published: [pub], networks: [...base.networks, { name: 'lab', bridge: 'br1', subnets: ['fd66:2::/64'], externalAddresses: ['2001:db8:1::67'] }] };
out.addNet = await svc.apply(two);
out.dropPort = await svc.apply({ ...two, published: [] });
out.back = await svc.apply(base);
`);
    const r = out as Record<string, Record<string, number | boolean>>;
    assert.equal(r.samePort!.natRebuilt, false);
    assert.equal(r.samePort!.publishedAdded, 1);
    assert.equal(r.samePort!.rulesAndRoutesAdded, 0);
    assert.equal(r.samePort!.ndpAdded, 0);
    assert.deepEqual([r.again!.rulesAndRoutesAdded, r.again!.rulesAndRoutesRemoved, r.again!.publishedAdded, r.again!.publishedRemoved, r.again!.ndpAdded],
      [0, 0, 0, 0, 0]);
    assert.equal(r.again!.natRebuilt, false);
    // A rule, a throw route, the /128 route and its fail-closed twin; one more NDP address; the engine changes in place.
    assert.equal(r.addNet!.rulesAndRoutesAdded, 4);
    assert.equal(r.addNet!.rulesAndRoutesRemoved, 0);
    assert.equal(r.addNet!.ndpAdded, 1);
    assert.equal(r.addNet!.natRebuilt, false);
    assert.equal(r.addNet!.sessionsDropped, 0);
    assert.equal(r.dropPort!.publishedRemoved, 1);
    assert.equal(Number(r.dropPort!.rulesAndRoutesAdded) + Number(r.dropPort!.rulesAndRoutesRemoved), 0);
    assert.equal(r.back!.rulesAndRoutesRemoved, 4);
    assert.equal(r.back!.ndpRemoved, 1);
    assert.equal(gw.ip('-6', 'rule', 'show', 'pref', '6646').trim(), '', 'stop({cleanup}) removed the rules');
    assert.equal(gw.ip('-6', 'route', 'show', 'table', 'all', 'proto', '166').trim(), '');
  });

  test('a published-port change runs no command and keeps the engine; rules are diffed in memory, read again only on resync', async () => {
    const out = await run(`
out.start = [...calls];
const pub = { protocol: 'tcp', hostIp: '', hostPort: 8080, containerAddress: 'fd66:1::2', containerPort: 80 };
const engine = svc.engine;
let n = calls.length;
const t0 = performance.now();
out.port = await svc.apply({ ...base, published: [pub] });
out.portMs = performance.now() - t0;
out.portCalls = calls.slice(n);
out.sameEngine = svc.engine === engine;
n = calls.length;
await svc.apply(base);
out.unpublishCalls = calls.slice(n);
n = calls.length;
out.resync = await svc.apply(base, { resync: true });
out.resyncCalls = calls.slice(n);
n = calls.length;
out.net = await svc.apply({ ...base, networks: [...base.networks, { name: 'lab', bridge: 'br1', subnets: ['fd66:2::/64'], externalAddresses: ['2001:db8:1::67'] }] });
out.netCalls = calls.slice(n);
`, ', kernelNatCheck: false');
    assert.deepEqual(out.start, ['readPolicy', 'ipBatch'], 'no ip6tables look with kernelNatCheck: false');
    assert.deepEqual(out.portCalls, [], 'a port-only change execs nothing');
    assert.deepEqual(out.unpublishCalls, []);
    assert.equal(out.sameEngine, true, 'no engine rebuild: sessions stay');
    assert.equal((out.port as Record<string, number>).publishedAdded, 1);
    process.stdout.write(`# port-only apply: ${Number(out.portMs).toFixed(2)} ms\n`);
    assert.deepEqual(out.resyncCalls, ['readPolicy'], 'a resync re-reads the kernel and finds it as it should be');
    assert.deepEqual(out.netCalls, ['ipBatch'], 'a new network: one ip -batch, no read');
    assert.equal((out.net as Record<string, number>).rulesAndRoutesAdded, 4);
  });

  test('published ports on the host\'s addresses: steered with one tc batch per change; if steering fails outside host mode, a warning and the external address still serves', async () => {
    const out = await run(`
const pub = { protocol: 'tcp', hostIp: '', hostPort: 8080, containerAddress: 'fd66:1::2', containerPort: 80 };
let n = calls.length;
out.port = await svc.apply({ ...base, publishOnHostAddresses: true, published: [pub] });
out.portCalls = calls.slice(n);
out.filters = (await import('node:child_process')).execFileSync('tc', ['filter', 'show', 'dev', 'up0', 'ingress'], { encoding: 'utf8' });
host.applySteering = async () => { throw new Error('no u32 here'); };
out.failed = await svc.apply({ ...base, publishOnHostAddresses: true, published: [pub, { ...pub, hostPort: 8081 }] });
out.published = svc.engine.published.size;
`);
    assert.deepEqual(out.portCalls, ['applySteering']);
    assert.match(String(out.filters), /match 00001f90\/0000ffff at 40/);
    assert.equal((out.failed as Record<string, number>).publishedAdded, 2, 'both ports on the external address, and 8081 on the host address too');
    assert.ok((out.logs as string[]).some((m) => /external addresses only: steering the host's own addresses failed/.test(m)));
  });

  test('the fast path: on, its programs on the uplink and every bridge, following the bridges an apply names; off when asked', async () => {
    // The service's private parts, read at run time: which devices its programs are attached to.
    const out = await run(`
out.state = svc.offloadState;
out.start = svc.programs.attached.length;
const two = { ...base, networks: [...base.networks, { name: 'lab', bridge: 'br1', subnets: ['fd66:2::/64'], externalAddresses: ['2001:db8:1::67'] }] };
await svc.apply(two);
out.two = svc.programs.attached.length;
await svc.apply(base);
out.back = svc.programs.attached.length;
`);
    assert.equal(out.state, 'on');
    assert.deepEqual([out.start, out.two, out.back], [2, 3, 2], 'up0 and br0; br1 with its network; gone with it');
    const off = await run('out.state = svc.offloadState; out.programs = svc.programs === undefined;', ", offload: 'off'");
    assert.equal(off.state, 'off (offload: off)');
    assert.equal(off.programs, true);
  });

  test('the ip6tables look happens once, at start', async () => {
    const out = await run(`out.start = [...calls]; await svc.apply(base); await svc.apply(base, { resync: true }); out.all = [...calls];`);
    assert.deepEqual(out.start, ['kernelNatSubnets', 'readPolicy', 'ipBatch']);
    assert.equal((out.all as string[]).filter((c) => c === 'kernelNatSubnets').length, 1);
  });

  test('a network the kernel already masquerades (ip6tables) is left alone with a warning', async () => {
    gw.exec('ip6tables', ['-t', 'nat', '-A', 'POSTROUTING', '-s', 'fd66:1::/64', '!', '-o', 'br0', '-j', 'MASQUERADE']);
    try {
      const out = await run(`out.rules = (await import('node:child_process')).execFileSync('ip', ['-6', 'rule', 'show', 'pref', '6646'], { encoding: 'utf8' });`);
      assert.equal(String(out.rules).trim(), '');
      assert.ok((out.logs as string[]).some((m) => /double NAT/.test(m)));
    } finally {
      gw.exec('ip6tables', ['-t', 'nat', '-F', 'POSTROUTING']);
    }
  });

  test('a host that is not ready is refused with what to change', async () => {
    gw.sysctl('net.ipv6.conf.all.forwarding', '0');
    try {
      const r = await gw.node(script(''), 30_000);
      assert.match(r.stdout + r.stderr, /IPv6 forwarding is off: sysctl -w net\.ipv6\.conf\.all\.forwarding=1/);
      assert.match(r.stdout + r.stderr, /SIXGATE_ERR_HOST_SETUP|HostSetupError/);
    } finally {
      gw.sysctl('net.ipv6.conf.all.forwarding', '1');
    }
  });
});
