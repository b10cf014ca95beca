// The NDP proxy's sockets under supervision: an uplink that vanishes shows
// in failedInterfaces (what health reports for the proxy) as soon as the
// socket fails, and leaves it when the proxy has reopened its sockets. The
// service runs in a child process inside a namespace.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { requires } from '../support/prereq.js';
import { Lab, type Netns } from '../support/netns.js';

const req = requires({ root: true, tools: ['ip'] });
const url = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

describe('NDP proxy sockets: failure state for health', { ...req, timeout: 30_000 }, () => {
  let lab: Lab;
  let host: Netns;

  before(() => {
    lab = new Lab();
    host = lab.ns('host');
    const router = lab.ns('router');
    lab.veth(host, 'h0', router, 'r0');
  });
  after(() => lab?.destroy());

  test('an interface deleted is failed within a second; recreated, it is open again', async () => {
    const r = await host.node(`import { NdpService } from '${url('../../src/proxy/ndp-service.js')}';
import { uplinkConfig } from '${url('../../src/proxy/sources.js')}';
import { createLogger } from '${url('../../src/log.js')}';
import { monotonicMs } from '${url('../../src/io/ring.js')}';
import { parseIpv6 } from '${url('../../src/wire/address.js')}';
import { execFileSync } from 'node:child_process';
const logger = createLogger({ level: 'warn', destination: { write: () => true } });
const svc = await NdpService.start({ config: uplinkConfig('h0', [], 'test'), logger, now: monotonicMs, addresses: new Map([['h0', [parseIpv6('2001:db8:1::5')]]]) });
const until = async (pred, ms) => { const end = Date.now() + ms; while (!pred()) { if (Date.now() > end) return false; await new Promise((r) => setTimeout(r, 5)); } return true; };
const out = { before: svc.failedInterfaces };
const t0 = Date.now();
execFileSync('ip', ['link', 'del', 'h0']);
out.noticed = await until(() => svc.failedInterfaces.length > 0, 1000);
out.noticedMs = Date.now() - t0;
out.during = svc.failedInterfaces;
execFileSync('ip', ['link', 'add', 'h0', 'type', 'veth', 'peer', 'name', 'h0p']);
execFileSync('ip', ['link', 'set', 'h0', 'up']);
out.reopened = await until(() => svc.failedInterfaces.length === 0, 8000);
await svc.stop();
console.log(JSON.stringify(out));`, 20_000);
    const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
    assert.deepEqual(out.before, [], r.stderr);
    assert.equal(out.noticed, true, `failed interfaces: ${JSON.stringify(out)}`);
    assert.deepEqual(out.during, ['h0']);
    assert.equal(out.reopened, true);
  });
});
