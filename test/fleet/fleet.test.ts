// Fleet mode end to end: a three-member etcd cluster and three hosts on one
// link (namespaces), each host a real FleetAgent process with a container
// namespace behind it. Leases are distinct, containers reach each other
// directly via the hosts' uplink addresses, losing one etcd member or all
// of them changes nothing, a killed host's routes go within TTL + 2 s, a
// restarted host gets its sub-prefix back, and many concurrent claimants
// never share one.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { once } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import { Lab, type Netns } from '../support/netns.js';
import { requires } from '../support/prereq.js';
import { EtcdCluster } from '../support/etcd.js';
import { waitFor } from '../support/wait.js';
import { repoRoot } from '../support/paths.js';
import { SIXGATE_PROTO } from '../../src/host/tags.js';

const TTL = 3;
const FLEET_PREFIX = '2001:db8:100::/48';
const AGENT = join(repoRoot, 'dist', 'test', 'support', 'fleet-agent.js');
const SIXGATE = join(repoRoot, 'dist', 'src', 'cli', 'main.js');

/** `viaRun`: the host is `sixgate run --fleet` (no Docker engine, no NDP or NAT66), not the bare agent. */
interface Host { name: string; ns: Netns; container: Netns; uplink: string; viaRun: boolean; agent?: ChildProcess; subprefix?: string }

function peerRoutes(ns: Netns): Map<string, string> {
  const routes = ns.ipJson<Array<{ dst: string; gateway?: string }>>('-6', 'route', 'show', 'proto', String(SIXGATE_PROTO));
  return new Map(routes.filter((r) => r.gateway !== undefined).map((r) => [r.dst, r.gateway!]));
}

/** "2001:db8:100:7::/64", 2 -> "2001:db8:100:7::2" */
function inside(subprefix: string, host: number): string {
  return `${subprefix.slice(0, subprefix.indexOf('/'))}${host}`;
}

describe('fleet: leases in etcd, routes between hosts', requires({ root: true, tools: ['etcd', 'ip', 'nsenter', 'busybox'] }), () => {
  const lab = new Lab();
  const state = mkdtempSync(join(tmpdir(), `sgt-fleet-${process.pid}-`));
  let etcd: EtcdCluster;
  const hosts: Host[] = [];

  const statusFile = (h: Host): string => join(state, h.name, 'status.json');

  /** The lease `sixgate run` reports in its status file, if any. */
  function reportedLease(h: Host): string | undefined {
    try {
      const status = JSON.parse(readFileSync(statusFile(h), 'utf8')) as { pid: number; components: Record<string, { detail?: string }> };
      return status.pid === h.agent?.pid ? /^lease (\S+)$/.exec(status.components.fleet?.detail ?? '')?.[1] : undefined;
    } catch {
      return undefined;
    }
  }

  async function startAgent(h: Host): Promise<string> {
    const child = h.viaRun
      ? h.ns.spawn(process.execPath, [SIXGATE, 'run', '--uplink', 'up0', '--no-ndp', '--no-nat66', '--docker-host', `unix://${join(state, 'nodocker.sock')}`,
        '--status-file', statusFile(h), '--control-socket', join(state, `${h.name}.sock`), '--log-level', 'warn',
        '--fleet', etcd.urls, '--fleet-prefix', FLEET_PREFIX, '--fleet-size', '/64', '--fleet-ttl', String(TTL), '--fleet-host', h.name])
      : h.ns.spawn(process.execPath, [AGENT, JSON.stringify({
        etcd: { urls: etcd.urls }, prefix: FLEET_PREFIX, size: 64, host: h.name, uplinkAddress: h.uplink,
        ttlSeconds: TTL, stateFile: join(state, h.name, 'fleet.json'),
      })]);
    h.agent = child;
    let out = '';
    child.stderr?.setEncoding('utf8').on('data', (d: string) => { if (process.env.FLEET_DEBUG) process.stderr.write(d); });
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
    let exited = false;
    child.once('exit', () => { exited = true; });
    const held = (): string | undefined => h.viaRun ? reportedLease(h) : /held (\S+)\n/.exec(out)?.[1];
    await waitFor(() => { if (exited) throw new Error(`${h.name} exited: ${out}`); return held() !== undefined; }, 10_000, `${h.name}'s lease`, 20);
    const subprefix = held()!;
    if (h.subprefix === undefined) {
      // The container behind the host, numbered inside the host's lease.
      h.ns.ip('-6', 'addr', 'add', `${inside(subprefix, 1)}/64`, 'dev', 'ct0', 'nodad');
      h.container.ip('-6', 'addr', 'add', `${inside(subprefix, 2)}/64`, 'dev', 'eth0', 'nodad');
      h.container.ip('-6', 'route', 'add', 'default', 'via', inside(subprefix, 1));
    }
    h.subprefix = subprefix;
    return subprefix;
  }

  function ping(from: Host, to: Host): void {
    from.container.exec('busybox', ['ping6', '-c', '1', '-W', '1', '-I', inside(from.subprefix!, 2), inside(to.subprefix!, 2)]);
  }

  function expectMesh(): void {
    for (const h of hosts) {
      const want = new Map(hosts.filter((o) => o !== h && o.agent !== undefined).map((o) => [o.subprefix!, o.uplink]));
      assert.deepEqual(peerRoutes(h.ns), want, `${h.name}'s routes to the other hosts`);
    }
  }

  before(async () => {
    const link = lab.ns('link');
    const ports: string[] = [];
    const members = [];
    for (let i = 1; i <= 3; i++) {
      const e = lab.ns(`etcd${i}`);
      lab.veth(link, `pe${i}`, e, 'up0');
      ports.push(`pe${i}`);
      lab.addr(e, 'up0', `2001:db8:f::e${i}/64`);
      members.push({ name: `m${i}`, ns: e, address: `2001:db8:f::e${i}` });
      const h = lab.ns(`host${i}`);
      const c = lab.ns(`ct${i}`);
      lab.veth(link, `ph${i}`, h, 'up0');
      ports.push(`ph${i}`);
      lab.addr(h, 'up0', `2001:db8:f::a${i}/64`);
      lab.veth(h, 'ct0', c, 'eth0');
      h.sysctl('net.ipv6.conf.all.forwarding', '1');
      mkdirSync(join(state, `host${i}`));
      hosts.push({ name: `host${i}`, ns: h, container: c, uplink: `2001:db8:f::a${i}`, viaRun: i === 3 });
    }
    lab.bridge(link, 'br0', ports);
    lab.addr(link, 'br0', '2001:db8:f::1/64');
    etcd = new EtcdCluster(members);
    await etcd.start();
  });

  after(async () => {
    for (const h of hosts) h.agent?.kill('SIGKILL');
    await etcd?.destroy();
    lab.destroy();
    rmSync(state, { recursive: true, force: true });
  });

  test('three hosts hold distinct sub-prefixes and route to each other via their uplink addresses', async () => {
    const got = await Promise.all(hosts.map((h) => startAgent(h)));
    assert.equal(new Set(got).size, 3, `distinct leases: ${got.join(' ')}`);
    for (const s of got) assert.match(s, /^2001:db8:100:[0-9a-f]*::\/64$/);
    await waitFor(() => { try { expectMesh(); return true; } catch { return false; } }, 3_000, 'the full mesh of routes', 50);
    // Container to container, both ways, straight through the two hosts:
    // the source address is the container's own (no NAT, no proxy).
    ping(hosts[0]!, hosts[1]!);
    ping(hosts[1]!, hosts[2]!);
    ping(hosts[2]!, hosts[0]!);
  });

  test('one etcd member killed, then all of etcd stopped: leases, routes and traffic stay', async () => {
    await etcd.kill('m1');
    await new Promise((r) => setTimeout(r, (TTL + 1) * 1000));
    expectMesh();
    ping(hosts[0]!, hosts[1]!);
    await etcd.stopAll();
    await new Promise((r) => setTimeout(r, (TTL + 1) * 1000));
    expectMesh();
    ping(hosts[0]!, hosts[2]!);
    ping(hosts[1]!, hosts[0]!);
    await etcd.start();
    await new Promise((r) => setTimeout(r, 1000));
    expectMesh();
  });

  test('a killed host\'s routes are withdrawn within TTL + 2 s; restarted, it gets the same sub-prefix back', async () => {
    const h3 = hosts[2]!;
    const held = h3.subprefix!;
    h3.agent!.kill('SIGKILL');
    await once(h3.agent!, 'exit');
    const killedAt = Date.now();
    await waitFor(() => !peerRoutes(hosts[0]!.ns).has(held) && !peerRoutes(hosts[1]!.ns).has(held), (TTL + 2) * 1000,
      'the dead host\'s routes withdrawn', 50);
    const withdrawnMs = Date.now() - killedAt;
    assert.ok(withdrawnMs <= (TTL + 2) * 1000, `withdrawn after ${withdrawnMs} ms`);
    // Restart within the state: the remembered sub-prefix is free again (or still ours) and comes back.
    assert.equal(await startAgent(h3), held);
    await waitFor(() => { try { expectMesh(); return true; } catch { return false; } }, 3_000, 'the mesh back', 50);
    ping(hosts[0]!, h3);
    // Restarted while its lease still lives (SIGTERM keeps the key): same sub-prefix too.
    h3.agent!.kill('SIGTERM');
    await once(h3.agent!, 'exit');
    assert.equal(await startAgent(h3), held);
  });

  test('--cleanup gives the lease back at once: the others withdraw its routes without waiting for the TTL', async () => {
    const h3 = hosts[2]!;
    const held = h3.subprefix!;
    // sixgate run reads --cleanup at start: restart it with it.
    h3.agent!.kill('SIGTERM');
    await once(h3.agent!, 'exit');
    h3.viaRun = false;
    assert.equal(await startAgent(h3), held, 'the bare agent re-claims the lease sixgate run held (same host name, same state)');
    const stoppedAt = Date.now();
    h3.agent!.kill('SIGINT');
    await once(h3.agent!, 'exit');
    await waitFor(() => !peerRoutes(hosts[0]!.ns).has(held) && !peerRoutes(hosts[1]!.ns).has(held), 1_500, 'routes withdrawn on release', 20);
    assert.ok(Date.now() - stoppedAt < TTL * 1000);
    assert.deepEqual(peerRoutes(h3.ns), new Map(), 'the released host removed its own fleet routes');
    h3.agent = undefined;
  });

  test('many concurrent claimants never share a sub-prefix', async () => {
    const e = etcd.members[1]!.ns;
    const fleet = join(repoRoot, 'dist', 'src', 'fleet', 'index.js');
    const log = join(repoRoot, 'dist', 'src', 'log.js');
    const res = await e.node(`
      const { etcdClient, fleetPlan, SubnetLease } = await import(${JSON.stringify(fleet)});
      const { createLogger } = await import(${JSON.stringify(log)});
      const client = etcdClient({ urls: ${JSON.stringify(etcd.urls)} });
      const plan = fleetPlan('2001:db8:200::/60', 64);
      const log = createLogger({ level: 'silent' });
      const leases = Array.from({ length: 16 }, (_, i) => new SubnetLease({ client, plan, ttlSeconds: 10, log,
        value: { host: 'claimant' + i, uplink: '2001:db8:f::' + (i + 1).toString(16) } }));
      const got = await Promise.all(leases.map((l) => l.acquire()));
      const keys = await client.getAll().prefix(plan.keyPrefix).keys();
      await Promise.all(leases.map((l) => l.release()));
      client.close();
      process.stdout.write(JSON.stringify({ got, keys: keys.length }));
    `, 20_000);
    assert.equal(res.code, 0, res.stderr);
    const { got, keys } = JSON.parse(res.stdout) as { got: string[]; keys: number };
    assert.equal(new Set(got).size, 16, `16 claimants on 16 sub-prefixes, each its own: ${got.join(' ')}`);
    assert.equal(keys, 16);
  });
});
