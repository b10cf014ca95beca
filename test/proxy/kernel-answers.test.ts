// NS answered in the kernel (src/proxy/ndp-responder.ts) end to end:
//
//   router (r0 2001:db8:1::1/64) ---- (h0 2001:db8:1::2/64) host: the proxy, 2001:db8:1::5 answered
//
// The proxy runs in a child process in the host namespace. While its event
// loop is blocked (user space paused), ndisc6 in the router namespace still
// gets its answers: the tc program made them. tcpdump on the router's side
// counts exactly one NA per NS, so the sockets never answered them again;
// the proxy's counters show them once it runs again. A capture of every
// packet turns the program off (user space answers, and sees the NS). An
// address withdrawn leaves the kernel's map at once.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { requires } from '../support/prereq.js';
import { Lab, type Netns } from '../support/netns.js';
import { waitFor } from '../support/wait.js';

const req = requires({ root: true, tools: ['ip', 'nsenter', 'ndisc6', 'tcpdump'] });
const url = (path: string): string => fileURLToPath(new URL(path, import.meta.url));
const TARGET = '2001:db8:1::5';
const WITHDRAWN = '2001:db8:1::6';

describe('NDP answers in the kernel', { ...req, timeout: 60_000 }, () => {
  let lab: Lab | undefined;
  let router: Netns;
  let host: Netns;

  before(async () => {
    lab = new Lab();
    [router, host] = [lab.ns('router'), lab.ns('host')];
    lab.veth(router, 'r0', host, 'h0');
    lab.addr(router, 'r0', '2001:db8:1::1/64');
    lab.addr(host, 'h0', '2001:db8:1::2/64');
    await waitFor(() => /fe80/.test(router.ip('-6', 'addr', 'show', 'dev', 'r0')), 5000, 'link-local address');
  });
  after(() => lab?.destroy());

  /** tcpdump on r0, one line per NS or NA for the target. */
  async function watch(): Promise<{ child: ChildProcess; lines: string[] }> {
    const child = router.spawn('tcpdump', ['-i', 'r0', '-n', '-l', '-e', 'icmp6 and (ip6[40] == 135 or ip6[40] == 136)']);
    const lines: string[] = [];
    let ready = false;
    child.stdout!.on('data', (d: Buffer) => lines.push(...d.toString().split('\n').filter((l) => l.includes(`${TARGET},`))));
    child.stderr!.on('data', (d: Buffer) => { if (/listening/.test(d.toString())) ready = true; });
    await waitFor(() => ready, 5000, 'tcpdump');
    return { child, lines };
  }

  test('answered while the proxy\'s event loop is blocked, once per NS, and counted after', async () => {
    const dump = await watch();
    const r = await host.node(`import { NdpService } from '${url('../../src/proxy/ndp-service.js')}';
import { uplinkConfig } from '${url('../../src/proxy/sources.js')}';
import { createLogger } from '${url('../../src/log.js')}';
import { monotonicMs } from '${url('../../src/io/ring.js')}';
import { parseIpv6 } from '${url('../../src/wire/address.js')}';
import { NdpEvent } from '${url('../../src/ndp/counters.js')}';
import { ANY_REASON } from '${url('../../src/io/capture.js')}';
import { spawn } from 'node:child_process';
const logs = [];
const logger = createLogger({ level: 'info', format: 'json', destination: { write: (l) => { logs.push(l); return true; } } });
const svc = await NdpService.start({ config: uplinkConfig('h0', [], 'test'), logger, now: monotonicMs, addresses: new Map([['h0', [parseIpv6('${TARGET}')]]]) });
const until = async (pred, ms) => { const end = Date.now() + ms; while (!pred()) { if (Date.now() > end) return false; await new Promise((r) => setTimeout(r, 5)); } return true; };
const kernel = () => svc.stats().interfaces.h0.kernel;
const out = { synced: await until(() => kernel()?.targets === 1, 3000) };
// Three NS, one at a time, while this process does not run a line of JavaScript.
const probe = () => spawn('nsenter', ['--net=${router.path}', '--', 'sh', '-c', 'for i in 1 2 3; do ndisc6 -1 -n -r 1 -w 1000 ${TARGET} r0 || exit 1; done'], { stdio: ['ignore', 'pipe', 'pipe'] });
const paused = probe();
let text = '';
paused.stdout.on('data', (d) => { text += d; });
const exited = new Promise((resolve) => paused.once('exit', resolve));
Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2500);
out.pausedExit = await exited;
out.pausedText = text;
out.kernel = kernel();
const id = svc.interfaceIds.get('h0');
out.inKernel = svc.engine.counters.eventCount(id, NdpEvent.AnsweredInKernel);
out.advertSent = svc.engine.counters.eventCount(id, NdpEvent.AdvertSent);
out.addressAnswered = svc.engine.addresses.stats(id)[0].answered;
// A capture of every packet: the engine must see the NS, so the program steps aside.
svc.capture.start({ dropsOnly: false, want: ANY_REASON });
out.attachedWhileCapturing = kernel().attached;
const watched = probe();
out.watchedExit = await new Promise((resolve) => watched.once('exit', resolve));
out.captured = svc.capture.drain().length;
svc.capture.stop();
out.attachedAfter = kernel().attached;
out.inKernelAfter = svc.engine.counters.eventCount(id, NdpEvent.AnsweredInKernel);
// An address withdrawn is not answered a moment later, even before the event loop turns again.
svc.add('h0', parseIpv6('${WITHDRAWN}'), 'docker');
out.addedSynced = await until(() => kernel().targets === 2, 3000);
svc.remove('h0', parseIpv6('${WITHDRAWN}'), 'docker');
const late = spawn('nsenter', ['--net=${router.path}', '--', 'ndisc6', '-1', '-n', '-r', '1', '-w', '500', '${WITHDRAWN}', 'r0'], { stdio: 'ignore' });
const lateExit = new Promise((resolve) => late.once('exit', resolve));
Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
out.withdrawnExit = await lateExit;
out.startLine = logs.find((l) => l.includes('kernelAnswers='));
await svc.stop();
console.log(JSON.stringify(out));`, 30_000);
    await sleep(300);
    dump.child.kill();
    const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
    assert.equal(out.synced, true, r.stderr);
    assert.match(String(out.startLine), /kernelAnswers=on/);
    assert.equal(out.pausedExit, 0, `ndisc6 got no answer while user space was paused: ${JSON.stringify(out)}`);
    assert.equal((String(out.pausedText).match(/Target link-layer address/g) ?? []).length, 3);
    assert.equal(out.inKernel, 3, JSON.stringify(out));
    assert.equal(out.advertSent, 3, 'counted as answers like any other');
    assert.equal(out.addressAnswered, 3, 'and per address');
    assert.equal(out.attachedWhileCapturing, false);
    assert.equal(out.watchedExit, 0, 'user space answers while the capture runs');
    assert.ok((out.captured as number) >= 3, 'the capture saw the NS');
    assert.equal(out.attachedAfter, true);
    assert.equal(out.inKernelAfter, 3, 'nothing answered in the kernel while the capture ran');
    assert.equal(out.addedSynced, true);
    assert.notEqual(out.withdrawnExit, 0, 'a withdrawn address is no longer answered');
    const ns = dump.lines.filter((l) => /neighbor solicitation/.test(l)).length;
    // Less the announcement to ff02::1 when the address was claimed.
    const na = dump.lines.filter((l) => /neighbor advertisement/.test(l) && !/> ff02::1:/.test(l)).length;
    assert.equal(ns, 6, dump.lines.join('\n'));
    assert.equal(na, 6, `exactly one NA per NS:\n${dump.lines.join('\n')}`);
  });

  test('kernelAnswers off, and debug logging, leave every NS to user space, and say so', async () => {
    const r = await host.node(`import { NdpService } from '${url('../../src/proxy/ndp-service.js')}';
import { uplinkConfig } from '${url('../../src/proxy/sources.js')}';
import { createLogger } from '${url('../../src/log.js')}';
import { monotonicMs } from '${url('../../src/io/ring.js')}';
const lines = [];
for (const [level, kernelAnswers] of [['info', 'off'], ['debug', 'auto']]) {
  const logs = [];
  const logger = createLogger({ level, format: 'json', destination: { write: (l) => { logs.push(l); return true; } } });
  const svc = await NdpService.start({ config: uplinkConfig('h0', [], 'test'), logger, now: monotonicMs, kernelAnswers });
  lines.push(JSON.parse(logs.find((l) => l.includes('kernelAnswers=')) ?? '{}').msg, svc.stats().interfaces.h0.kernel ?? null);
  await svc.stop();
}
console.log(JSON.stringify(lines));`, 20_000);
    const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '[]') as unknown[];
    assert.deepEqual(out, ['kernelAnswers=off (kernelAnswers off)', null, 'kernelAnswers=off (debug log: every answer is logged from user space)', null], r.stderr);
  });
});
