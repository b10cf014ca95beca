// The sources of one NDP service: each part's claims are its own (a claim
// withdrawn by one leaves the address answered while another holds it), the
// sources' prefixes join the base configuration as static rules, and in a
// namespace the service answers what the sources claim through a reload of
// its base rules, an address a source claims through the priority socket.
// The service runs in a child process inside the namespace; the router asks
// with ndisc6.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { requires } from '../support/prereq.js';
import { Lab, type Netns } from '../support/netns.js';
import { waitFor } from '../support/wait.js';
import { NdpSources, uplinkConfig, type SourcesListener } from '../../src/proxy/sources.js';
import { formatIpv6, parseIpv6 } from '../../src/wire/address.js';

const url = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

function recorder(): SourcesListener & { log: string[] } {
  const log: string[] = [];
  return {
    log,
    added: (uplink, a) => { log.push(`+${uplink} ${formatIpv6(a, 0)}`); },
    removed: (uplink, a) => { log.push(`-${uplink} ${formatIpv6(a, 0)}`); },
    prefixesChanged: async () => { log.push('prefixes'); },
  };
}

describe('NdpSources', () => {
  test('an address two sources claim stays answered until both withdrew it', () => {
    const s = new NdpSources();
    const r = recorder();
    s.attach(r);
    const a = parseIpv6('2001:db8:1::5');
    assert.equal(s.add('docker', 'up0', a), true);
    assert.equal(s.add('nat66', 'up0', a), false);
    assert.equal(s.remove('docker', 'up0', a), false, 'nat66 still claims it');
    assert.equal(s.remove('docker', 'up0', a), false, 'docker has no claim left');
    assert.deepEqual(s.addressesOf('up0').map((x) => formatIpv6(x, 0)), ['2001:db8:1::5']);
    assert.equal(s.remove('nat66', 'up0', a), true);
    assert.deepEqual(r.log, ['+up0 2001:db8:1::5', '-up0 2001:db8:1::5']);
    assert.equal(s.uplinks().size, 0);
  });

  test('setAddresses replaces one source\'s claims and leaves the others\'', () => {
    const s = new NdpSources();
    s.add('docker', 'up0', parseIpv6('2001:db8:1::2'));
    assert.deepEqual(s.setAddresses('nat66', 'up0', ['2001:db8:1::1', '2001:db8:1::2']), { added: 2, removed: 0 });
    assert.deepEqual(s.setAddresses('nat66', 'up0', ['2001:db8:1::3']), { added: 1, removed: 2 });
    assert.deepEqual(s.addressesOf('up0').map((x) => formatIpv6(x, 0)).sort(), ['2001:db8:1::2', '2001:db8:1::3']);
    assert.equal(s.countOf('docker'), 1);
    assert.equal(s.countOf('nat66'), 1);
  });

  test('prefixes join the base as static rules after its own; an uplink only the sources name gets a proxy', async () => {
    const s = new NdpSources();
    const r = recorder();
    s.attach(r);
    await s.setPrefixes('nat66', 'up0', ['2001:db8:1:1::/64']);
    await s.setPrefixes('nat66', 'up0', ['2001:db8:1:1::/64']);
    assert.deepEqual(r.log, ['prefixes'], 'an unchanged list reconfigures nothing');
    s.add('docker', 'up1', parseIpv6('2001:db8:2::5'));
    const merged = s.configWith(uplinkConfig('up0', ['2001:db8:1::/112'], 'ndppd.conf'));
    assert.deepEqual(merged.proxies.map((p) => [p.iface, p.rules.map((x) => x.text)]), [
      ['up0', ['2001:db8:1::/112', '2001:db8:1:1::/64']],
      ['up1', []],
    ]);
    await s.setPrefixes('nat66', 'up0', []);
    assert.deepEqual(s.configWith(uplinkConfig('up0', [], 'x')).proxies.map((p) => p.rules.length), [0, 0]);
  });
});

describe('one NDP service fed by several sources, in namespaces', { ...requires({ root: true, tools: ['ip', 'ndisc6'] }), timeout: 60_000 }, () => {
  let lab: Lab;
  let host: Netns;
  let router: Netns;

  before(async () => {
    lab = new Lab();
    host = lab.ns('host');
    router = lab.ns('router');
    lab.veth(host, 'h0', router, 'r0');
    lab.veth(host, 'h1', router, 'r1');
    lab.addr(host, 'h0', '2001:db8:1::2/64');
    lab.addr(router, 'r0', '2001:db8:1::1/64');
    lab.addr(host, 'h1', '2001:db8:2::2/64');
    lab.addr(router, 'r1', '2001:db8:2::1/64');
    await waitFor(() => /fe80/.test(host.ip('-6', 'addr', 'show', 'dev', 'h0')) && /fe80/.test(host.ip('-6', 'addr', 'show', 'dev', 'h1')), 5000, 'link-local addresses');
  });
  after(() => lab?.destroy());

  test('claims of docker and nat66 are independent, a reload of the base rules keeps them, a new uplink opens; a full receive buffer counts socket-overflow', async () => {
    const r = await host.node(`import { NdpService } from '${url('../../src/proxy/ndp-service.js')}';
import { uplinkConfig } from '${url('../../src/proxy/sources.js')}';
import { createLogger } from '${url('../../src/log.js')}';
import { monotonicMs } from '${url('../../src/io/ring.js')}';
import { parseIpv6 } from '${url('../../src/wire/address.js')}';
import { execFile, execFileSync } from 'node:child_process';
const logger = createLogger({ level: 'warn', destination: { write: () => true } });
const svc = await NdpService.start({ config: uplinkConfig('h0', ['2001:db8:1::a:0/112'], 'ndppd.conf'), logger, now: monotonicMs });
// Asynchronous: the service answers from this process's event loop meanwhile.
const answered = (addr, dev = 'r0') => new Promise((resolve) => {
  execFileSync('ip', ['netns', 'exec', '${router.name}', 'ip', '-6', 'neigh', 'flush', 'dev', dev]);
  execFile('ip', ['netns', 'exec', '${router.name}', 'ndisc6', '-q', '-r', '2', '-w', '300', addr, dev], (err, stdout) => resolve(!err && /^[0-9a-f:]{17}$/i.test(stdout.trim())));
});
const X = '2001:db8:1::5';
const out = {};
svc.add('h0', parseIpv6(X), 'docker');
svc.add('h0', parseIpv6(X), 'nat66');
svc.remove('h0', parseIpv6(X), 'docker');
out.keptByNat = await answered(X);
await svc.sources.setPrefixes('nat66', 'h0', ['2001:db8:1::b:0/112']);
out.natPrefix = await answered('2001:db8:1::b:7');
out.baseRule = await answered('2001:db8:1::a:5');
await svc.reload(uplinkConfig('h0', ['2001:db8:1::c:0/112'], 'ndppd.conf'));
out.afterReload = { address: await answered(X), natPrefix: await answered('2001:db8:1::b:7'), newRule: await answered('2001:db8:1::c:5'), oldRule: await answered('2001:db8:1::a:5') };
svc.remove('h0', parseIpv6(X), 'nat66');
out.withdrawn = await answered(X);
// An uplink only a source names: its sockets open with the next configuration.
svc.add('h1', parseIpv6('2001:db8:2::5'), 'nat66');
const end = Date.now() + 3000;
while (!(out.newUplink = await answered('2001:db8:2::5', 'r1')) && Date.now() < end);
// The loop blocked while the router floods: the 4 MB buffer fills and the kernel drops the rest.
execFileSync('ip', ['netns', 'exec', '${router.name}', process.execPath, '--input-type=module', '-e', ${JSON.stringify(floodCode())}], { timeout: 20_000 });
// stats() reads the kernel's overflow counts at once (else within a second); the counter registry reports them.
out.interfaces = Object.keys(svc.stats().interfaces).sort();
const { counterValues, ndpServiceMetrics } = await import('${url('../../src/service/counters.js')}');
const values = counterValues(ndpServiceMetrics(svc));
out.overflow = values.sixgate_ndp_drops_total.h0['socket-overflow'];
out.received = values.sixgate_ndp_solicit_received_total.h0;
await svc.stop();
console.log(JSON.stringify(out));`, 45_000);
    const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
    assert.equal(out.keptByNat, true, `docker withdrew, nat66 still claims: ${r.stdout}${r.stderr}`);
    assert.equal(out.natPrefix, true);
    assert.equal(out.baseRule, true);
    assert.deepEqual(out.afterReload, { address: true, natPrefix: true, newRule: true, oldRule: false });
    assert.equal(out.withdrawn, false);
    assert.equal(out.newUplink, true, 'an address on an uplink new to the service is answered');
    assert.deepEqual(out.interfaces, ['h0', 'h1']);
    assert.ok((out.overflow as number) > 0, `socket-overflow counted: ${JSON.stringify(out)}`);
  });

  test('an address a source claims is answered through the priority socket; withdrawn, its NS no longer reach it', async () => {
    const r = await host.node(`import { NdpService } from '${url('../../src/proxy/ndp-service.js')}';
import { uplinkConfig } from '${url('../../src/proxy/sources.js')}';
import { createLogger } from '${url('../../src/log.js')}';
import { monotonicMs } from '${url('../../src/io/ring.js')}';
import { parseIpv6 } from '${url('../../src/wire/address.js')}';
import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
const logger = createLogger({ level: 'warn', destination: { write: () => true } });
// The priority socket is the path when the kernel does not answer (test/proxy/kernel-answers.test.ts for when it does).
const svc = await NdpService.start({ config: uplinkConfig('h0', [], 'sixgate run'), logger, now: monotonicMs, kernelAnswers: 'off' });
const ask = (addr) => new Promise((resolve) => {
  execFile('ip', ['netns', 'exec', '${router.name}', 'ndisc6', '-q', '-r', '1', '-w', '300', addr, 'r0'], (err, stdout) => resolve(!err && /^[0-9a-f:]{17}$/i.test(stdout.trim())));
});
const priority = () => svc.stats().interfaces.h0.priority;
const X = '2001:db8:1::7';
const out = { before: priority() };
svc.add('h0', parseIpv6(X), 'docker');
await sleep(20);
out.answered = await ask(X);
out.added = priority();
svc.remove('h0', parseIpv6(X), 'docker');
await sleep(20);
out.afterRemoval = await ask(X);
out.removed = priority();
await svc.stop();
console.log(JSON.stringify(out));`, 30_000);
    const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Record<string, { received: number; match: string } | boolean>;
    assert.deepEqual(out.before, { match: 'exact', omitted: 0, received: 0 }, `${r.stdout}${r.stderr}`);
    assert.equal(out.answered, true);
    assert.equal((out.added as { received: number }).received, 1, 'the NS came through the priority socket');
    assert.equal(out.afterRemoval, false);
    assert.equal((out.removed as { received: number }).received, 1, 'a withdrawn address is no longer let through');
  });
});

/** Node code for the router: FLOOD NS frames for random targets on r0, in batches, as fast as the link takes them. */
function floodCode(): string {
  return `import { PacketSocket, PacketRing } from '${url('../../src/io/index.js')}';
import { ip6, nsFrame } from '${url('../support/packets.js')}';
import { readFileSync } from 'node:fs';
const FLOOD = 40000;
const mac = Uint8Array.from(readFileSync('/sys/class/net/r0/address', 'utf8').trim().split(':').map((x) => parseInt(x, 16)));
const sock = PacketSocket.open({ ifname: 'r0' });
const tx = new PacketRing({ slots: 500, slotSize: 128 });
const src = ip6('2001:db8:1::1');
for (let sent = 0; sent < FLOOD; sent += tx.slots) {
  for (let i = 0; i < tx.slots; i++) {
    const target = ip6('2001:db8:1::d:' + ((sent + i) % 0xffff).toString(16));
    tx.lens[i] = nsFrame(tx.buf, tx.offset(i), mac, src, target, 255);
  }
  sock.send(tx, 0, tx.slots);
}
sock.close();`;
}
