// The Docker feed against a real engine: Debian's dockerd (20.10, API 1.41)
// started in a namespace of its own by test/support/docker.ts. One engine for
// the whole file (start ≈ 0.5 s); the tests build on each other's state in order.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Lab } from '../support/netns.js';
import { DockerHost, pool } from '../support/docker.js';
import { requires } from '../support/prereq.js';
import { waitFor } from '../support/wait.js';
import { DockerFeed, EngineClient, type DockerNetwork, type EngineEvent } from '../../src/docker/index.js';
import { causingEvent, MAX_BATCH_EVENTS, rfc3339Nano } from '../../src/docker/feed.js';
import { captureLog, percentile, Recorder } from './support.js';

const RESYNC_CONTAINERS = Number(process.env.SIXGATE_DOCKER_RESYNC_N ?? 200);
const LATENCY_CONTAINERS = 30;
const UPLINKS = [{ name: 'up0', prefixes: ['2001:db8:5::/64'] }];

test('causingEvent: the latest folded event that can change state (a start after its connect, not a later exec)', () => {
  const ev = (action: string, t: number): EngineEvent => ({ type: 'container', action, id: 'c1', attributes: {}, timeNano: String(t) });
  const connect = ev('connect', 1);
  const start = ev('start', 2);
  assert.equal(causingEvent({ deltas: [], cause: 'event', event: connect, events: [connect, start, ev('exec_start: sh', 3), ev('health_status: healthy', 4)] }), start);
  assert.equal(causingEvent({ deltas: [], cause: 'event', event: connect }), connect, 'a batch without the list: its first event');
  assert.equal(causingEvent({ deltas: [], cause: 'resync' }), undefined);
  assert.ok(MAX_BATCH_EVENTS >= 2);
});

test('rfc3339Nano: Docker\'s StartedAt to event nanoseconds; the zero time and junk are undefined', () => {
  const s = Date.parse('2026-11-22T10:55:01Z') / 1000;
  assert.equal(rfc3339Nano('2026-11-22T10:55:01.123456789Z'), `${s}123456789`);
  assert.equal(rfc3339Nano('2026-11-22T10:55:01.5Z'), `${s}500000000`);
  assert.equal(rfc3339Nano('2026-11-22T11:55:01+01:00'), `${s}000000000`);
  assert.equal(rfc3339Nano('0001-01-01T00:00:00Z'), undefined);
  assert.equal(rfc3339Nano('yesterday'), undefined);
  assert.equal(rfc3339Nano(undefined), undefined);
});

const req = requires({ root: true, tools: ['dockerd', 'docker', 'containerd', 'runc', 'nsenter', 'busybox', 'tar', 'ip'] });

describe('docker feed against a real engine', req, () => {
  let lab: Lab;
  let host: DockerHost;
  let feed: DockerFeed;
  let rec: Recorder;
  let logs: ReturnType<typeof captureLog>;
  // The test's own event stream: engine timestamps of start/die/connect/disconnect per container.
  const seen = new Map<string, EngineEvent[]>();
  let watcher: AbortController;
  const feeds: DockerFeed[] = [];

  const newFeed = (log = logs.log): DockerFeed => {
    const f = new DockerFeed({ log, endpoint: { kind: 'unix', socketPath: host.socket }, uplinks: UPLINKS, backoff: { initialMs: 50, maxMs: 400 } });
    feeds.push(f);
    return f;
  };

  const watchEvents = async (): Promise<void> => {
    watcher = new AbortController();
    const client = new EngineClient({ kind: 'unix', socketPath: host.socket });
    const stream = await client.subscribe({ signal: watcher.signal });
    void (async () => {
      try {
        for await (const ev of stream) {
          const id = ev.type === 'container' ? ev.id : ev.attributes.container ?? ev.id;
          if (!seen.has(id)) seen.set(id, []);
          seen.get(id)!.push(ev);
        }
      } catch {
        // Aborted at the end, or the engine restarted.
      } finally {
        await client.close();
      }
    })();
  };

  const eventTime = async (id: string, action: string, network?: string): Promise<bigint> => {
    let ev: EngineEvent | undefined;
    await waitFor(() => {
      ev = [...(seen.get(id) ?? [])].reverse().find((e) => e.action === action && (network === undefined || e.id === network));
      return ev !== undefined;
    }, 10_000, `${action} event of ${id.slice(0, 12)}`, 1);
    return BigInt(ev!.timeNano);
  };

  const net = (name: string): DockerNetwork => {
    const n = feed.snapshot().networks.find((x) => x.name === name);
    assert.ok(n, `network ${name} in the model`);
    return n;
  };

  const addressesOf = (id: string) => feed.snapshot().addresses.filter((a) => a.containerId === id);
  const portsOf = (id: string) => feed.snapshot().ports.filter((p) => p.containerId === id);

  before(async () => {
    lab = new Lab();
    host = await DockerHost.start(lab);
    // An address for ports published on one specific IPv6 host address (docker-proxy binds it).
    host.ns.ip('-6', 'addr', 'add', '2001:db8:5::80/128', 'dev', 'lo', 'nodad');
    await watchEvents();
    logs = captureLog();
  });

  after(async () => {
    watcher?.abort();
    for (const f of feeds) await f.stop();
    await host?.destroy();
    lab?.destroy();
  });

  test('networks: ULA → nat66, internal and masquerade-off are not NAT\'d, uplink prefix → ndp, no IPv6 → logged and ignored', async () => {
    await host.docker('network', 'create', '--ipv6', '--subnet', 'fd00:a1::/64', '-o', 'com.docker.network.bridge.name=sgula', 'ula');
    await host.docker('network', 'create', '--ipv6', '--internal', '--subnet', 'fd00:a2::/64', 'ulaint');
    feed = newFeed();
    rec = new Recorder(feed);
    feed.start();
    await feed.ready();
    assert.deepEqual(rec.received[0].batch.deltas.filter((d) => d.kind === 'network-added').map((d) => (d as { network: DockerNetwork }).network.name).sort(),
      ['bridge', 'ula', 'ulaint']);
    // These arrive as events.
    await host.docker('network', 'create', '--ipv6', '--subnet', 'fd00:a3::/64', '-o', 'com.docker.network.bridge.enable_ip_masquerade=false',
      '-o', 'com.docker.network.bridge.enable_icc=false', 'ulanomasq');
    await host.docker('network', 'create', '--ipv6', '--subnet', '2001:db8:5:0:1::/80',
      '-o', 'com.docker.network.bridge.host_binding_ipv6=2001:db8:5::80', 'glob');
    await host.docker('network', 'create', '--ipv6', '--subnet', '2001:db8:99::/80', 'elsewhere');
    await host.docker('network', 'create', '--ipv6', '--subnet', 'fd00:a4::/64', '--label', 'sixgate.nptv6=2001:db8:7:1::/64', 'npt');
    await host.docker('network', 'create', '--subnet', '10.99.0.0/24', 'v4only');
    await rec.waitDelta((d) => d.kind === 'network-added' && d.network.name === 'npt', 'npt network-added');
    await waitFor(() => logs.has(/network v4only has no IPv6 subnet/), 5_000, 'the v4only log line');

    assert.equal(net('bridge').bridge, 'docker0');
    assert.equal(net('bridge').subnets[0].service, 'nat66');
    assert.equal(net('ula').bridge, 'sgula');
    assert.deepEqual(net('ula').subnets, [{ prefix: 'fd00:a1::/64', length: 64, service: 'nat66', reason: '' }]);
    assert.equal(net('ulaint').internal, true);
    assert.deepEqual(net('ulaint').subnets.map((s) => [s.service, s.reason]), [['none', 'internal']]);
    assert.deepEqual(net('ulanomasq').subnets.map((s) => [s.service, s.reason]), [['none', 'masquerade-off']]);
    assert.equal(net('ulanomasq').icc, false);
    assert.equal(net('ulanomasq').bridge, `br-${net('ulanomasq').id.slice(0, 12)}`);
    assert.deepEqual(net('glob').subnets, [{ prefix: '2001:db8:5:0:1::/80', length: 80, service: 'ndp', reason: '', uplink: 'up0' }]);
    assert.equal(net('glob').hostBindingIpv6, '2001:db8:5::80');
    assert.deepEqual(net('elsewhere').subnets.map((s) => [s.service, s.reason]), [['none', 'not-on-uplink']]);
    assert.deepEqual(net('npt').subnets.map((s) => [s.service, s.externalPrefix]), [['nptv6', '2001:db8:7:1::/64']]);
    assert.ok(!feed.snapshot().networks.some((n) => n.name === 'v4only' || n.name === 'host' || n.name === 'none'));
    assert.ok(feed.snapshot().networks.every((n) => !n.dockerNat), 'Docker 20.10 without experimental does no IPv6 NAT');

    // Uplink prefixes are an input: taking the uplink away turns ndp into none, as a network-changed delta.
    const from = rec.length;
    feed.setUplinks([]);
    const changed = rec.received.slice(from).flatMap((r) => r.batch.deltas).find((d) => d.kind === 'network-changed');
    assert.ok(changed && changed.kind === 'network-changed' && changed.network.name === 'glob' && changed.network.subnets[0].service === 'none');
    feed.setUplinks(UPLINKS);
    assert.equal(net('glob').subnets[0].service, 'ndp');

    const removedAt = rec.length;
    await host.docker('network', 'rm', 'elsewhere');
    await rec.waitDelta((d) => d.kind === 'network-removed' && d.network.name === 'elsewhere', 'elsewhere removed', removedAt);
  });

  test('published ports: -p 8080:80, -p 80, a range, -P, a specific IPv6 host address; IPv4 host addresses skipped', async () => {
    const run = (...args: string[]) => host.docker('run', '-d', '--stop-timeout', '1', ...args, 'bb:latest', 'sleep', '3600');
    const fixed = await run('--network', 'ula', '-p', '8080:80');
    const ephemeral = await run('--network', 'ula', '-p', '80');
    const range = await run('--network', 'ula', '-p', '9000-9002:7000-7002/udp');
    const all = await run('--network', 'ula', '-P', '--expose', '5000', '--expose', '5001/udp');
    const v4 = await run('--network', 'ula', '-p', '127.0.0.1:8181:80');
    const v6 = await run('--network', 'ula', '-p', '[2001:db8:5::80]:8282:80');
    const glob = await run('--network', 'glob', '-p', '8383:80');
    for (const id of [fixed, ephemeral, range, all, v4, v6, glob]) {
      await rec.waitDelta((d) => d.kind === 'address-added' && d.address.containerId === id, `address of ${id.slice(0, 12)}`);
    }
    const addr = (id: string) => addressesOf(id)[0].address;
    const summary = (id: string) => portsOf(id).map((p) => `${p.protocol} ${p.hostAddress ?? '*'} ${p.hostPort}->${p.containerAddress} ${p.containerPort}`).sort();
    // What Docker allocated, from its own view.
    const allocated = async (id: string, key: string): Promise<number> => {
      const info = await host.call('GET', `/containers/${id}/json`) as { NetworkSettings: { Ports: Record<string, Array<{ HostPort: string }>> } };
      return Number(info.NetworkSettings.Ports[key][0].HostPort);
    };

    assert.deepEqual(summary(fixed), [`tcp * 8080->${addr(fixed)} 80`]);
    const eph = await allocated(ephemeral, '80/tcp');
    assert.ok(eph >= 1024);
    assert.deepEqual(summary(ephemeral), [`tcp * ${eph}->${addr(ephemeral)} 80`]);
    assert.deepEqual(summary(range), [0, 1, 2].map((i) => `udp * ${9000 + i}->${addr(range)} ${7000 + i}`).sort());
    const [p5000, p5001] = [await allocated(all, '5000/tcp'), await allocated(all, '5001/udp')];
    assert.deepEqual(summary(all), [`tcp * ${p5000}->${addr(all)} 5000`, `udp * ${p5001}->${addr(all)} 5001`].sort());
    assert.deepEqual(summary(v4), []);
    await waitFor(() => logs.has(/published on IPv4 127\.0\.0\.1 only/), 2_000, 'the IPv4-only log line');
    assert.deepEqual(summary(v6), [`tcp 2001:db8:5::80 8282->${addr(v6)} 80`]);
    // The network's host_binding_ipv6 stands in for "every address".
    assert.deepEqual(summary(glob), [`tcp 2001:db8:5::80 8383->${addr(glob)} 80`]);
    assert.equal(addressesOf(glob)[0].service, 'ndp');
    assert.equal(addressesOf(glob)[0].uplink, 'up0');

    for (const id of [fixed, ephemeral, range, all, v4, v6, glob]) await host.call('DELETE', `/containers/${id}?force=true`);
    await waitFor(() => feed.snapshot().ports.length === 0 && feed.snapshot().addresses.length === 0, 10_000, 'removal leaves nothing');
  });

  test('a container on two IPv6 networks gets both addresses; its ports stay on the nat66 network', async () => {
    const id = await host.docker('run', '-d', '--stop-timeout', '1', '--network', 'glob', '-p', '8088:80', 'bb:latest', 'sleep', '3600');
    await rec.waitDelta((d) => d.kind === 'port-added' && d.port.containerId === id, 'port on glob');
    assert.equal(portsOf(id)[0].networkName, 'glob');
    const from = rec.length;
    await host.docker('network', 'connect', 'ula', id);
    await rec.waitDelta((d) => d.kind === 'address-added' && d.address.containerId === id && d.address.networkName === 'ula', 'address on ula', from);
    assert.deepEqual(addressesOf(id).map((a) => [a.networkName, a.service]), [['glob', 'ndp'], ['ula', 'nat66']]);
    // The port moved to the nat66 network in the same batch (deterministic, not map order).
    assert.equal(portsOf(id)[0].networkName, 'ula');
    assert.equal(portsOf(id)[0].containerAddress, addressesOf(id)[1].address);
    const inspect = await host.call('GET', `/containers/${id}/json`) as { NetworkSettings: { Networks: Record<string, { GlobalIPv6Address: string }> } };
    assert.deepEqual(addressesOf(id).map((a) => a.address), [inspect.NetworkSettings.Networks.glob.GlobalIPv6Address, inspect.NetworkSettings.Networks.ula.GlobalIPv6Address]);
    await host.docker('network', 'disconnect', 'ula', id);
    await waitFor(() => addressesOf(id).length === 1 && portsOf(id)[0]?.networkName === 'glob', 5_000, 'back to glob only');
    await host.call('DELETE', `/containers/${id}?force=true`);
    await waitFor(() => addressesOf(id).length === 0 && portsOf(id).length === 0, 5_000, 'container gone');
  });

  test(`start, stop, connect, disconnect reach consumers fast (${LATENCY_CONTAINERS} containers)`, async (t) => {
    const ulaId = net('ula').id;
    const nptId = net('npt').id;
    const lat: Record<string, number[]> = { start: [], die: [], connect: [], disconnect: [] };
    const ms = (a: bigint, b: bigint) => Number(a - b) / 1e6;
    const ids: string[] = [];
    for (let i = 0; i < LATENCY_CONTAINERS; i++) {
      const from = rec.length;
      const id = await host.runSleeper({ network: 'ula' });
      ids.push(id);
      const got = await rec.waitDelta((d) => d.kind === 'address-added' && d.address.containerId === id, 'address-added', from);
      lat.start.push(ms(got.atNs, await eventTime(id, 'start')));
      assert.equal(causingEvent(got.batch)?.action, 'start', 'the batch answers the start, not the network connect before it');
    }
    for (const id of ids.slice(0, 10)) {
      let from = rec.length;
      await host.call('POST', `/networks/${nptId}/connect`, { Container: id });
      let got = await rec.waitDelta((d) => d.kind === 'address-added' && d.address.containerId === id && d.address.networkId === nptId, 'connect', from);
      lat.connect.push(ms(got.atNs, await eventTime(id, 'connect', nptId)));
      assert.equal(causingEvent(got.batch)?.action, 'connect');
      from = rec.length;
      await host.call('POST', `/networks/${nptId}/disconnect`, { Container: id });
      got = await rec.waitDelta((d) => d.kind === 'address-removed' && d.address.containerId === id && d.address.networkId === nptId, 'disconnect', from);
      lat.disconnect.push(ms(got.atNs, await eventTime(id, 'disconnect', nptId)));
    }
    for (const id of ids) {
      const from = rec.length;
      await host.call('POST', `/containers/${id}/kill`);
      const got = await rec.waitDelta((d) => d.kind === 'address-removed' && d.address.containerId === id, 'address-removed', from);
      lat.die.push(ms(got.atNs, await eventTime(id, 'die')));
      assert.equal(addressesOf(id).length, 0);
    }
    assert.ok(!feed.snapshot().addresses.some((a) => a.networkId === ulaId && ids.includes(a.containerId)));
    const all = Object.values(lat).flat().sort((a, b) => a - b);
    for (const [kind, v] of Object.entries(lat)) {
      v.sort((a, b) => a - b);
      t.diagnostic(`${kind}: n=${v.length} p50 ${percentile(v, 50).toFixed(2)} ms, p99 ${percentile(v, 99).toFixed(2)} ms, max ${v[v.length - 1].toFixed(2)} ms`);
    }
    t.diagnostic(`event→delta all: n=${all.length} p50 ${percentile(all, 50).toFixed(2)} ms, p99 ${percentile(all, 99).toFixed(2)} ms`);
    assert.ok(percentile(all, 50) <= 50, `p50 ${percentile(all, 50)} ms`);
    // Goal: p99 ≤ 50 ms (met on a quiet machine); the bound leaves room for CPUs shared with other suites.
    assert.ok(percentile(all, 99) <= 150, `p99 ${percentile(all, 99)} ms (goal 50 ms)`);
    await pool(ids, 8, async (id) => { await host.call('DELETE', `/containers/${id}?force=true`); });
  });

  test(`a full resync of ${RESYNC_CONTAINERS} running containers`, async (t) => {
    const t0 = performance.now();
    const ids: string[] = [];
    await pool([...Array(RESYNC_CONTAINERS).keys()], 4, async () => { ids.push(await host.runSleeper({ network: 'ula' })); });
    t.diagnostic(`started ${RESYNC_CONTAINERS} containers in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    await waitFor(() => ids.every((id) => addressesOf(id).length === 1), 20_000, 'every container in the live model', 20);

    // A fresh feed: connect, subscribe, list, build the model.
    const fresh = newFeed(captureLog().log);
    let t1 = performance.now();
    fresh.start();
    await fresh.ready();
    const coldMs = performance.now() - t1;
    assert.equal(fresh.snapshot().addresses.filter((a) => ids.includes(a.containerId)).length, RESYNC_CONTAINERS);
    assert.deepEqual(fresh.snapshot(), feed.snapshot(), 'a rebuilt model equals the one kept by events');
    await fresh.stop();

    // A resync of the live feed: lists and diff; nothing changed, so nothing is emitted.
    const from = rec.length;
    const warm: number[] = [];
    for (let i = 0; i < 5; i++) {
      t1 = performance.now();
      await feed.resync();
      warm.push(performance.now() - t1);
    }
    assert.equal(rec.length, from, 'an unchanged engine resyncs to no deltas');
    warm.sort((a, b) => a - b);
    t.diagnostic(`resync of ${RESYNC_CONTAINERS} containers: cold (new feed to ready) ${coldMs.toFixed(1)} ms; live resync median ${warm[2].toFixed(1)} ms, max ${warm[4].toFixed(1)} ms`);
    assert.ok(coldMs <= 1_000 * (process.env.CI ? 2 : 1), `cold resync ${coldMs} ms (goal ≤ 1 s)`);
    assert.ok(warm[2] <= 1_000, `live resync ${warm[2]} ms`);
  });

  test('dockerd restarts mid-run: the feed reconnects, resyncs, nothing stale, nothing lost', async (t) => {
    const before = feed.snapshot().addresses.length;
    assert.ok(before >= RESYNC_CONTAINERS);
    const sessions = feed.counters.sessions;
    const logFrom = logs.lines.length;
    const t0 = performance.now();
    await host.stopDaemon();
    await waitFor(() => feed.state === 'connecting', 10_000, 'the feed noticing');
    await host.startDaemon();
    await watchEvents();
    await waitFor(() => feed.counters.sessions > sessions && feed.state === 'live', 20_000, 'the feed back live');
    t.diagnostic(`dockerd stop + start and feed back live: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    // Without live-restore every container died with the engine: none may linger in the model.
    assert.equal(feed.snapshot().addresses.length, 0);
    assert.equal(feed.snapshot().ports.length, 0);
    assert.ok(net('ula') && net('glob'), 'networks survive the restart');
    const retries = logs.lines.slice(logFrom).filter((l) => /retry \d+ in \d+ ms/.test(l.msg));
    assert.ok(retries.length >= 1, 'one log line per attempt');
    // And it keeps following events.
    const id = await host.runSleeper({ network: 'ula', ports: { '80/tcp': [{ HostPort: '8090' }] } });
    await waitFor(() => addressesOf(id).length === 1 && portsOf(id).length === 1, 5_000, 'a new container after the restart');
    await host.call('DELETE', `/containers/${id}?force=true`);
  });

  test('a feed started before dockerd waits (one clear line per attempt) and catches up', async () => {
    await host.stopDaemon();
    const early = captureLog();
    const waiting = newFeed(early.log);
    waiting.start();
    await waitFor(() => early.lines.filter((l) => /retry \d+ in \d+ ms/.test(l.msg)).length >= 3, 10_000, 'three retry lines');
    const lines = early.lines.filter((l) => /retry/.test(l.msg));
    assert.match(lines[0].msg, /does not exist: is dockerd running|not answering/);
    assert.deepEqual(lines.slice(0, 3).map((l) => l.attempt), [1, 2, 3]);
    assert.ok((lines[2].retryInMs as number) > (lines[0].retryInMs as number), 'backoff grows');
    await host.startDaemon();
    await waiting.ready();
    const id = await host.runSleeper({ network: 'ula' });
    await waitFor(() => waiting.snapshot().addresses.some((a) => a.containerId === id), 5_000, 'the container in the late feed');
    assert.deepEqual(waiting.snapshot().networks.map((n) => n.name), ['bridge', 'glob', 'npt', 'ula', 'ulaint', 'ulanomasq']);
    await waiting.stop();
  });
});
