// `sixgate run --fleet` on a Docker host (test/service/topology.ts, with a
// one-member etcd on the router): the fleet prefix is the link's /64, cut
// into /80 leases. sixgate creates the host's Docker network on its lease
// (--fleet-network), answers NDP for a container there, and reports a
// container network outside the lease instead of answering for it; the
// router reaches the container on the lease; --cleanup gives the lease back.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { requires } from '../support/prereq.js';
import { EtcdCluster } from '../support/etcd.js';
import { waitFor } from '../support/wait.js';
import { repoRoot } from '../support/paths.js';
import { ServiceLab, A } from './topology.js';
import { fleetPlan, subprefixAt } from '../../src/fleet/index.js';
import { fleetOptionsOf } from '../../src/service/fleet.js';
import { DEFAULTS } from '../../src/config/options.js';
import { ConfigError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';

test('fleet options: off without --fleet, a half-given fleet is a ConfigError, /N and 64 both read as the size', async () => {
  const log = createLogger({ level: 'silent' });
  const base = { ...DEFAULTS, fleetAddress: '2001:db8:f::a1', fleetHost: 'h1', stateFile: '/var/lib/sixgate/c.snapshot' };
  assert.equal(await fleetOptionsOf(base, 'up0', log), undefined);
  await assert.rejects(fleetOptionsOf({ ...base, fleet: 'etcd://[::1]:2379' }, 'up0', log), (e) => e instanceof ConfigError && /--fleet-prefix and --fleet-size/.test(e.message));
  await assert.rejects(fleetOptionsOf({ ...base, fleet: 'etcd://[::1]:2379', fleetPrefix: '2001:db8::/48', fleetSize: '/x' }, 'up0', log), /fleetSize: expected \/N/);
  for (const size of ['/64', 64]) {
    const o = await fleetOptionsOf({ ...base, fleet: 'etcd://[::1]:2379', fleetPrefix: '2001:db8::/48', fleetSize: size }, 'up0', log);
    assert.equal(o!.size, 64);
    assert.equal(o!.stateFile, '/var/lib/sixgate/c.snapshot.fleet.json', 'remembered beside the state file');
    assert.equal(o!.ttlSeconds, 10);
  }
});

const req = requires({ root: true, tools: ['dockerd', 'docker', 'containerd', 'runc', 'nsenter', 'busybox', 'tar', 'ip', 'ndisc6', 'etcd'] });

describe('sixgate run --fleet on a Docker host', { ...req, timeout: 120_000 }, () => {
  let lab: ServiceLab;
  let etcd: EtcdCluster;

  before(async () => {
    lab = new ServiceLab();
    await lab.start();
    etcd = new EtcdCluster([{ name: 'rt', ns: lab.rt, address: A.rt }]);
    await etcd.start();
  });

  after(async () => {
    await lab?.destroy();
    await etcd?.destroy();
  });

  const networkOf = async (id: string, network: string): Promise<string> =>
    ((await lab.docker.call('GET', `/containers/${id}/json`)) as { NetworkSettings: { Networks: Record<string, { GlobalIPv6Address: string }> } })
      .NetworkSettings.Networks[network]!.GlobalIPv6Address;

  const fleetStatus = (): string => {
    const status = JSON.parse(readFileSync(lab.statusFile, 'utf8')) as { components: Record<string, { detail?: string }> };
    return status.components.fleet?.detail ?? '';
  };

  test('the network on the lease is created and answered for; one outside the lease is reported, not answered for', async () => {
    await lab.startSixgate(['run', '--uplink', 'up0', '--docker-host', `unix://${lab.docker.socket}`, '--status-file', lab.statusFile,
      '--control-socket', `${lab.statusFile}.sock`, '--no-nat66', '--log-level', 'debug', '--cleanup',
      '--fleet', etcd.urls, '--fleet-prefix', A.uplinkPrefix, '--fleet-size', '/80', '--fleet-ttl', '3', '--fleet-host', 'dhost',
      '--fleet-network', 'web6']);
    const at = await lab.waitLog(/fleet: Docker network created on the lease/, 15_000);
    const lease = lab.lines[at]!.lease as string;
    const inLease = await lab.docker.runSleeper({ network: 'web6' });
    const inside = await networkOf(inLease, 'web6');
    await waitFor(() => lab.ndpAnswers(inside), 5_000, `an NDP answer for ${inside} (inside the lease ${lease})`, 100);
    lab.rt.exec('busybox', ['ping6', '-c', '1', '-W', '2', inside]);

    // Another /80 of the link's prefix: some other host's lease, or nobody's.
    const plan = fleetPlan(A.uplinkPrefix, 80);
    const elsewhere = [1, 2].map((i) => subprefixAt(plan, i)).find((s) => s !== lease)!;
    await lab.docker.call('POST', '/networks/create', { Name: 'stray6', EnableIPv6: true, IPAM: { Config: [{ Subnet: elsewhere }] } });
    const stray = await lab.docker.runSleeper({ network: 'stray6' });
    const outside = await networkOf(stray, 'stray6');
    await lab.waitLog(/container address outside this host's lease: not answered for/, 5_000);
    assert.equal(await lab.ndpAnswers(outside), false, `no NDP answer for ${outside} (outside the lease)`);
    await waitFor(() => /outside it not answered for/.test(fleetStatus()), 3_000, 'the status names the withheld address', 100);
    assert.ok(await lab.ndpAnswers(inside), 'the lease\'s container is still answered for');

    // --cleanup: the lease is given back at once (no key left in etcd); the network stays.
    assert.equal(await lab.stopSixgate('SIGTERM'), 0);
    const fleet = join(repoRoot, 'dist', 'src', 'fleet', 'index.js');
    const left = await lab.rt.node(`
      const { etcdClient, fleetPlan } = await import(${JSON.stringify(fleet)});
      const client = await etcdClient({ urls: ${JSON.stringify(etcd.urls)} });
      process.stdout.write(JSON.stringify(await client.getAll().prefix(fleetPlan(${JSON.stringify(A.uplinkPrefix)}, 80).keyPrefix).keys()));
      client.close();
    `, 10_000);
    assert.equal(left.stdout, '[]', left.stderr);
    assert.ok(await lab.docker.call('GET', '/networks/web6'));
  });
});
