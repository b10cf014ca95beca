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
import { PUSH_SERVER, PUSH_PORT, COUNT_SERVER, COUNT_PORT, Watch, countClient, pushClient, flowing as flowPushes } from '../support/push.js';

const req = requires({ root: true, tools: ['ip', 'busybox', 'nsenter'], files: ['/dev/net/tun'] });

const LAB_ADDRESS = '2001:db8:1::67';
const WEB = `{ name: web, bridge: br0, subnets: [fd66:1::/64], externalAddresses: [${A.dedicated}] }`;
const LAB = `{ name: lab, bridge: br1, subnets: [fd66:2::/64], externalAddresses: [${LAB_ADDRESS}] }`;
const PUBLISHED = `{ protocol: tcp, hostIp: "::", hostPort: 8080, containerAddress: "${A.c1}", containerPort: ${COUNT_PORT} }`;
const OTHER = `{ protocol: tcp, hostIp: "::", hostPort: 9090, containerAddress: "${A.c2}", containerPort: 90 }`;

function config(gw: string, networks: string[], published: string[], capacity = 16384): string {
  return `uplink: up0
stateFile: /tmp/${gw}-state.snap
capacity: ${capacity}
networks:
${networks.map((n) => `  - ${n}`).join('\n')}
published:
${published.map((p) => `  - ${p}`).join('\n')}
`;
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
    const reader = lab.c1.spawn(process.execPath, ['--input-type=module', '-e', countClient(A.inet, PUSH_PORT)]);
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

  const flowing = (what: string, timeoutMs?: number): Promise<void> =>
    flowPushes([outbound, published], what, () => `sixgate:\n${lab.log.slice(-3000)}`, timeoutMs);

  async function reload(networks: string[], ports: string[], capacity?: number): Promise<string> {
    writeFileSync(`/tmp/${lab.gw.name}-nat.yaml`, config(lab.gw.name, networks, ports, capacity));
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

  test('a capacity change (SIGHUP): a new table, every live session moved into it', async () => {
    const log = await reload([WEB], [PUBLISHED], 32768);
    assert.equal(applied(log).natRebuilt, true);
    assert.equal(applied(log).sessionsDropped, 0);
    assert.match(log, /NAT table rebuilt: live sessions moved into it/);
    await flowing('capacity changed');
  });

  test('SIGTERM and a start after those changes: the saved table restores every session', async () => {
    assert.equal(await lab.stopSixgate('SIGTERM'), 0);
    await lab.startSixgate(config(lab.gw.name, [WEB], [PUBLISHED], 32768));
    assert.match(lab.log, /"dropped":0,.*connection table restored/);
    // TCP retransmits what was lost meanwhile, with backoff: allow for a few seconds.
    await flowing('restarted', 10_000);
  });
});
