// Fleet mode end to end (test/fleet/topology.ts): a three-member etcd
// cluster and hosts on one link, bare FleetAgents and one `sixgate run
// --fleet` (host3), each with a container namespace behind it. Leases are
// distinct, containers reach each other directly via the hosts' uplink
// addresses, losing one etcd member or all of them changes nothing (and a
// host started meanwhile waits for etcd), a killed host's routes go within
// TTL + 2 s, a restarted host gets its sub-prefix back, --cleanup gives it
// back at once, and many concurrent claimants never share one.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { requires } from '../support/prereq.js';
import { waitFor } from '../support/wait.js';
import { repoRoot } from '../support/paths.js';
import { FleetLab, FLEET_PREFIX, peerRoutes, type FleetHost } from './topology.js';

const TTL = 3;

describe('fleet: leases in etcd, routes between hosts', { ...requires({ root: true, tools: ['etcd', 'ip', 'nsenter', 'busybox'] }), timeout: 90_000 }, () => {
  let fl: FleetLab;
  let h1: FleetHost;
  let h2: FleetHost;
  let h3: FleetHost;
  let h4: FleetHost;
  const withdrawnFrom = (hosts: FleetHost[], subprefix: string): boolean => hosts.every((h) => !peerRoutes(h.ns).has(subprefix));
  const withdrawn = (subprefix: string): boolean => withdrawnFrom([h1, h2], subprefix);

  before(async () => {
    fl = await FleetLab.create({ hosts: 4, viaRun: [3], ttl: TTL });
    [h1, h2, h3, h4] = fl.hosts as [FleetHost, FleetHost, FleetHost, FleetHost];
  });

  after(async () => {
    await fl?.destroy();
  });

  test('three hosts hold distinct sub-prefixes and route to each other via their uplink addresses', async () => {
    const got = await Promise.all([h1, h2, h3].map((h) => fl.start(h)));
    assert.equal(new Set(got).size, 3, `distinct leases: ${got.join(' ')}`);
    for (const s of got) assert.match(s, /^2001:db8:100:[0-9a-f]*::\/64$/);
    await waitFor(() => fl.meshComplete(), 3_000, 'the full mesh of routes', 50);
    // Container to container, both ways, straight through the two hosts:
    // the source address is the container's own (no NAT, no proxy).
    fl.ping(h1, h2);
    fl.ping(h2, h3);
    fl.ping(h3, h1);
  });

  test('one etcd member killed, then all of etcd stopped: leases, routes and traffic stay; a new host waits for etcd', async () => {
    await fl.etcd.kill('m1');
    await sleep((TTL + 1) * 1000);
    fl.assertMesh();
    fl.ping(h1, h2);
    await fl.etcd.stopAll();
    await sleep((TTL + 1) * 1000);
    fl.assertMesh();
    fl.ping(h1, h3);
    fl.ping(h2, h1);
    let h4Lease: string | undefined;
    const h4Started = fl.start(h4).then((s) => { h4Lease = s; });
    await sleep(1000);
    assert.equal(h4Lease, undefined, 'no lease without etcd');
    await fl.etcd.start();
    await h4Started;
    assert.ok(![h1, h2, h3].some((h) => h.subprefix === h4Lease), `host4 got a lease of its own: ${h4Lease}`);
    await waitFor(() => fl.meshComplete(), 5_000, 'the mesh with host4', 50);
    fl.ping(h4, h1);
  });

  test('a host cut off from etcd past its TTL keeps its routes; reachable again, it takes its lease back', async () => {
    const held = h1.subprefix!;
    const before = peerRoutes(h1.ns);
    const members = fl.etcd.members.map((m) => `${m.address}/128`);
    for (const m of members) h1.ns.ip('-6', 'route', 'add', 'blackhole', m);
    try {
      // For the others host1 is gone (its lease expired); host1 itself changes nothing.
      await waitFor(() => withdrawnFrom([h2], held), (TTL + 3) * 1000, 'the others see host1\'s lease expire', 50);
      assert.deepEqual(peerRoutes(h1.ns), before, 'host1 keeps its routes to the others (fail static)');
    } finally {
      for (const m of members) h1.ns.ip('-6', 'route', 'del', 'blackhole', m);
    }
    await waitFor(() => fl.meshComplete(), 5_000, 'host1 back in the mesh', 50);
    assert.equal(peerRoutes(h2.ns).get(held), h1.uplink, 'with the same sub-prefix');
    fl.ping(h2, h1);
  });

  test('a host whose key is deleted by hand reads it back (the watch says so), stops claiming it as held and takes it again', async () => {
    const held = h1.subprefix!;
    const e = fl.etcd.members[0]!.ns;
    const fleet = join(repoRoot, 'dist', 'src', 'fleet', 'index.js');
    const res = await e.node(`
      const { etcdClient, fleetPlan, leaseKey } = await import(${JSON.stringify(fleet)});
      const client = await etcdClient({ urls: ${JSON.stringify(fl.etcd.urls)} });
      const key = leaseKey(fleetPlan('${FLEET_PREFIX}', 64), '${held}');
      await client.delete().key(key);
      const end = Date.now() + 5000;
      let back = null;
      while (back === null && Date.now() < end) {
        back = await client.get(key).string();
        if (back === null) await new Promise((r) => setTimeout(r, 50));
      }
      client.close();
      process.stdout.write(JSON.stringify({ back }));
    `, 15_000);
    assert.equal(res.code, 0, res.stderr);
    // Without the check the lease lives on (keepalives succeed) and the key never comes back.
    const { back } = JSON.parse(res.stdout) as { back: string | null };
    assert.equal(JSON.parse(back ?? 'null')?.host, h1.name, 'host1 took its sub-prefix again');
    await waitFor(() => peerRoutes(h2.ns).get(held) === h1.uplink && fl.meshComplete(), 5_000, 'the mesh with host1 again', 50);
    fl.ping(h2, h1);
  });

  test('a killed host\'s routes are withdrawn within TTL + 2 s; restarted, it gets the same sub-prefix back', async () => {
    const held = h3.subprefix!;
    await fl.stop(h3, 'SIGKILL');
    const killedAt = Date.now();
    await waitFor(() => withdrawn(held), (TTL + 2) * 1000, 'the dead host\'s routes withdrawn', 50);
    const withdrawnMs = Date.now() - killedAt;
    assert.ok(withdrawnMs <= (TTL + 2) * 1000, `withdrawn after ${withdrawnMs} ms`);
    // Restarted after its lease expired: the remembered sub-prefix is still free and comes back.
    assert.equal(await fl.start(h3), held);
    await waitFor(() => fl.meshComplete(), 3_000, 'the mesh back', 50);
    fl.ping(h1, h3);
    // Restarted while its lease still lives (SIGTERM keeps the key): same sub-prefix too.
    await fl.stop(h3, 'SIGTERM');
    assert.equal(await fl.start(h3), held);
  });

  test('--cleanup gives the lease back at once: the others withdraw its routes without waiting for the TTL', async () => {
    const held = h3.subprefix!;
    // sixgate run reads --cleanup at start; the bare agent stops with it on SIGINT.
    await fl.stop(h3, 'SIGTERM');
    h3.viaRun = false;
    assert.equal(await fl.start(h3), held, 'the bare agent re-claims the lease sixgate run held (same host name, same state)');
    const stoppedAt = Date.now();
    await fl.stop(h3, 'SIGINT');
    await waitFor(() => withdrawn(held), 1_500, 'routes withdrawn on release', 20);
    assert.ok(Date.now() - stoppedAt < TTL * 1000);
    assert.deepEqual(peerRoutes(h3.ns), new Map(), 'the released host removed its own fleet routes');
  });

  test('many concurrent claimants never share a sub-prefix', async () => {
    const e = fl.etcd.members[1]!.ns;
    const fleet = join(repoRoot, 'dist', 'src', 'fleet', 'index.js');
    const log = join(repoRoot, 'dist', 'src', 'log.js');
    const res = await e.node(`
      const { etcdClient, fleetPlan, SubnetLease } = await import(${JSON.stringify(fleet)});
      const { createLogger } = await import(${JSON.stringify(log)});
      const client = await etcdClient({ urls: ${JSON.stringify(fl.etcd.urls)} });
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
