// `sixgate run` end to end against a real Docker engine (Debian's dockerd in
// a namespace, test/support/docker.ts), with a router and an internet
// namespace upstream (topology.ts). One engine and one topology for the
// file; the tests run in order and build on each other's containers.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { rmSync, statSync, writeFileSync } from 'node:fs';
import { requires } from '../support/prereq.js';
import { waitFor } from '../support/wait.js';
import { IMAGE, watchContainerStarts } from '../support/docker.js';
import { tcpServerCode, udpEchoCode, udpClientCode, udpPingPongCode } from '../datapath/topology.js';
import { ServiceLab, A, HTTPD_CMD, httpGetCode, CLI } from './topology.js';
import { PUSH_SERVER, PUSH_PORT, COUNT_SERVER, COUNT_PORT, Watch, countClient, pushClient, flowing as flowPushes } from '../support/push.js';
import { percentile } from '../docker/support.js';
import { readHealth } from '../../src/service/health.js';
import { dashboardMetricNames } from '../support/promql.js';

const req = requires({
  root: true,
  tools: ['dockerd', 'docker', 'containerd', 'runc', 'nsenter', 'busybox', 'tar', 'ip', 'ndisc6', 'ip6tables-save'],
  files: ['/dev/net/tun'],
});

const METRICS_PORT = 9464;
const LATENCY_CONTAINERS = Number(process.env.SIXGATE_SERVICE_LATENCY_N ?? 20);

interface Inspect {
  Id: string;
  NetworkSettings: { Networks: Record<string, { GlobalIPv6Address: string }>; Ports: Record<string, Array<{ HostIp: string; HostPort: string }> | null> };
}

async function until(what: string, pred: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('sixgate run against a real Docker engine', { ...req, timeout: 240_000 }, () => {
  let lab: ServiceLab;
  let ext: string;
  let ip6tablesBefore = '';
  /** Every ip6tables table in dhost, without counters and comments (sixgate must never write there). */
  const ip6tables = (): string => lab.dhost.exec('ip6tables-save').split('\n').filter((l) => !l.startsWith('#')).map((l) => l.replace(/\[\d+:\d+\]/g, '')).join('\n');
  const args = (): string[] => ['run', '--uplink', 'up0', '--docker-host', `unix://${lab.docker.socket}`, '--status-file', lab.statusFile,
    '--log-level', 'debug', '--retry-max-ms', '500', '--cleanup', '--metrics-listen', `[::1]:${METRICS_PORT}`];

  const inspect = async (id: string): Promise<Inspect> => await lab.docker.call('GET', `/containers/${id}/json`) as Inspect;
  const addressOn = async (id: string, network: string): Promise<string> => (await inspect(id)).NetworkSettings.Networks[network]!.GlobalIPv6Address;
  const exec = async (id: string, ...cmd: string[]): Promise<string> => lab.docker.docker('exec', id, ...cmd);
  /** Runs node code inside a container's network namespace (busybox has no UDP client). */
  const nodeIn = async (id: string, code: string): Promise<string> => {
    const pid = (await lab.docker.call('GET', `/containers/${id}/json`) as { State: { Pid: number } }).State.Pid;
    return execFileSync('nsenter', [`--net=/proc/${pid}/ns/net`, '--', process.execPath, '--input-type=module', '-e', code], { encoding: 'utf8', timeout: 10_000 });
  };
  const run = async (...argv: string[]): Promise<string> => lab.docker.docker('run', '-d', '--stop-timeout', '1', ...argv);
  /**
   * A TCP stream the internet pushes (a tick every 50 ms, from inet's `port`)
   * into a new container `name` on ula that only reads: what it heard so far,
   * and how to end it.
   */
  const tickStream = async (port: number, name: string): Promise<{ heard: () => string; end: () => Promise<void> }> => {
    const pusher = lab.inet.spawn(process.execPath, ['--input-type=module', '-e', `import net from 'node:net';
net.createServer((s) => { s.on('error', () => {}); let n = 0; const t = setInterval(() => s.write('tick ' + (n++) + '\\n'), 50); s.on('close', () => clearInterval(t)); })
  .listen(${port}, '::', () => console.log('ready'));`]);
    const id = await run('--network', 'ula', '--name', name, IMAGE, 'sleep', '3600');
    const pid = (await lab.docker.call('GET', `/containers/${id}/json`) as { State: { Pid: number } }).State.Pid;
    let heard = '';
    const reader = spawn('nsenter', [`--net=/proc/${pid}/ns/net`, '--', process.execPath, '--input-type=module', '-e', `import net from 'node:net';
const s = net.connect({ host: '${A.inet}', port: ${port} }); s.setEncoding('utf8');
s.on('data', (d) => process.stdout.write(d)); s.on('error', (e) => console.log('error ' + e.code)); s.on('close', () => console.log('closed'));`]);
    reader.stdout.setEncoding('utf8').on('data', (d: string) => { heard += d; });
    return {
      heard: () => heard,
      end: async () => {
        reader.kill();
        pusher.kill();
        await lab.docker.docker('rm', '-f', name);
      },
    };
  };

  before(async () => {
    lab = new ServiceLab();
    await lab.start();
    const d = lab.docker;
    await d.docker('network', 'create', '--ipv6', '--subnet', A.ula, 'ula');
    await d.docker('network', 'create', '--ipv6', '--subnet', A.global, 'glob');
    await d.docker('network', 'create', '--ipv6', '--subnet', A.global2, 'zglob');
    await d.docker('network', 'create', '--ipv6', '--internal', '--subnet', A.internal, 'internal');
    await d.docker('network', 'create', '--ipv6', '--subnet', A.noMasq, '-o', 'com.docker.network.bridge.enable_ip_masquerade=false', 'nomasq');
    ext = lab.external('ula');
    await lab.inet.spawn(process.execPath, ['--input-type=module', '-e', tcpServerCode(5001)]);
    await lab.inet.spawn(process.execPath, ['--input-type=module', '-e', udpEchoCode(5002)]);
    ip6tablesBefore = ip6tables();
    await lab.startSixgate(args());
    await lab.waitLog(/docker state applied/, 20_000);
  });

  after(async () => {
    await lab?.destroy();
  });

  test('ULA network: TCP, UDP and ping reach the internet from the dedicated external address', async () => {
    const c = await run('--network', 'ula', '--name', 'out1', IMAGE, 'sleep', '3600');
    await until('TCP through the NAT', async () => {
      try {
        return (await exec(c, 'nc', '-w', '3', A.inet, '5001')).includes(`peer ${ext}`);
      } catch {
        return false;
      }
    });
    const udp = await nodeIn(c, udpClientCode(A.inet, 5002));
    assert.match(udp, new RegExp(`peer ${ext}`));
    const ping = await exec(c, 'busybox', 'ping', '-c', '1', '-W', '3', A.inet);
    assert.match(ping, /1 packets received/);
  });

  test('global network on the uplink prefix: the router resolves a container address; stopping withdraws it', async () => {
    const c = await run('--network', 'glob', '--name', 'g1', IMAGE, 'sleep', '3600');
    const addr = await addressOn(c, 'glob');
    assert.ok(addr.startsWith('2001:db8:1:0:d0c:'), addr);
    await until(`NDP answer for ${addr}`, () => lab.ndpAnswers(addr));
    const ping = await lab.rt.run('busybox', ['ping', '-c', '1', '-W', '3', addr]);
    assert.match(ping.stdout, /1 packets received/);
    await lab.docker.docker('kill', c);
    await until(`no NDP answer for ${addr}`, async () => !(await lab.ndpAnswers(addr)));
  });

  const http = async (url: string): Promise<string> => (await lab.inet.node(httpGetCode(url), 10_000)).stdout.trim();
  const hostPort = async (id: string, port: string): Promise<string> => {
    const list = (await inspect(id)).NetworkSettings.Ports[port] ?? [];
    const v6 = list.find((b) => b.HostIp.includes(':')) ?? list[0];
    assert.ok(v6 !== undefined, `no binding for ${port}`);
    return v6.HostPort;
  };
  const rules = (): string => lab.dhost.ip('-6', 'rule', 'show', 'pref', '6646');

  test('published ports: -p 8080:80 keeps the client address; ephemeral -p 80, a range and -P work; hairpin works', async () => {
    const web = await run('--network', 'ula', '--name', 'web', '-p', '8080:80', IMAGE, ...HTTPD_CMD);
    const eph = await run('--network', 'ula', '--name', 'eph', '-p', '80', IMAGE, ...HTTPD_CMD);
    const rng = await run('--network', 'ula', '--name', 'rng', '-p', '9000-9001:80-81', IMAGE, ...HTTPD_CMD);
    const all = await run('--network', 'ula', '--name', 'all', '--expose', '80', '-P', IMAGE, ...HTTPD_CMD);
    await until('8080 answers with the client address', async () => (await http(`http://[${ext}]:8080/cgi-bin/ip`)) === `peer ${A.inet}`
      || (await http(`http://[${ext}]:8080/cgi-bin/ip`)) === `peer [${A.inet}]`);
    for (const [id, port] of [[eph, '80/tcp'], [rng, '80/tcp'], [all, '80/tcp']] as const) {
      const p = await hostPort(id, port);
      await until(`${id.slice(0, 12)} on ${p}`, async () => (await http(`http://[${ext}]:${p}/cgi-bin/ip`)).includes(A.inet));
    }
    assert.equal(await hostPort(rng, '80/tcp'), '9000');
    // Hairpin: a container of the same network reaches web through the external address.
    const client = await run('--network', 'ula', '--name', 'hp', IMAGE, 'sleep', '3600');
    const got = await exec(client, 'wget', '-q', '-O', '-', `http://[${ext}]:8080/cgi-bin/ip`);
    assert.match(got, /^peer /);
    void web;
  });

  test('internal and enable_ip_masquerade=false networks are not NAT\'d', async () => {
    const r = rules();
    assert.match(r, /fd66:1::\/64/);
    assert.doesNotMatch(r, /fd66:3::/);
    assert.doesNotMatch(r, /fd66:4::/);
    const c = await run('--network', 'nomasq', '--name', 'nm', IMAGE, 'sleep', '3600');
    // Leaves with its own ULA source (the router drops the answer), never with the external address.
    const out = await exec(c, 'sh', '-c', `nc -w 2 ${A.inet} 5001 || true`);
    assert.doesNotMatch(out, new RegExp(ext));
  });

  test('networks sixgate cannot serve get one log line each and the rest keeps working', async () => {
    const from = lab.lines.length;
    await lab.docker.docker('network', 'create', 'v4only');
    await lab.docker.docker('network', 'create', '--ipv6', '--subnet', 'fd66:6::/127', 'tiny');
    await lab.waitLog(/network v4only has no IPv6 subnet/, 10_000, from);
    await lab.waitLog(/network tiny: subnet fd66:6::\/127 is too small/, 10_000, from);
    const c = await run('--network', 'ula', IMAGE, 'sleep', '3600');
    assert.match(await exec(c, 'nc', '-w', '3', A.inet, '5001'), new RegExp(`peer ${ext}`));
  });

  test('a container on two IPv6 networks gets both handled (NDP for the global address, NAT for the ULA one)', async () => {
    const c = await run('--network', 'ula', '--name', 'two', '-p', '8090:80', IMAGE, ...HTTPD_CMD);
    // Docker routes by default through the network whose name sorts first (ula), as a user would set it up.
    await lab.docker.docker('network', 'connect', 'zglob', c);
    const g = await addressOn(c, 'zglob');
    await until(`NDP answer for ${g}`, () => lab.ndpAnswers(g));
    await until('8090 through the ULA address', async () => (await http(`http://[${ext}]:8090/cgi-bin/ip`)).includes(A.inet));
    await lab.docker.docker('network', 'disconnect', 'zglob', c);
    await until(`no NDP answer for ${g} after disconnect`, async () => !(await lab.ndpAnswers(g)));
  });

  test('a container on a ULA and a global network whose name sorts first (its default route): published-port replies are still translated', async () => {
    const c = await run('--network', 'ula', '--name', 'twoglob', '-p', '8091:80', IMAGE, ...HTTPD_CMD);
    await lab.docker.docker('network', 'connect', 'glob', c);
    // Precondition: Docker moved the default route to glob (eth1), so replies from the ULA address leave through glob's bridge.
    const routes = await exec(c, 'cat', '/proc/net/ipv6_route');
    const dflt = routes.split('\n').map((l) => l.trim().split(/\s+/)).find((f) => f[0] === '0'.repeat(32) && f[1] === '00' && f[9] !== 'lo');
    assert.equal(dflt?.[9], 'eth1', `default route via glob expected:\n${routes}`);
    await until('8091 answers through the NAT although the default route is the global network',
      async () => (await http(`http://[${ext}]:8091/cgi-bin/ip`)).includes(A.inet), 15_000);
    await lab.docker.docker('rm', '-f', c);
  });

  test('docker network create/rm of an unrelated network: an outbound and a published-port connection, pushed from outside, keep flowing', async () => {
    const reader = await run('--network', 'ula', '--name', 'reader', '-p', `8095:${COUNT_PORT}`, IMAGE, 'sleep', '3600');
    const pid = (await lab.docker.call('GET', `/containers/${reader}/json`) as { State: { Pid: number } }).State.Pid;
    // The container's ends only read: node in its network namespace.
    const inContainer = (code: string): ChildProcess => spawn('nsenter', [`--net=/proc/${pid}/ns/net`, '--', process.execPath, '--input-type=module', '-e', code]);
    const pusher = new Watch(lab.inet.spawn(process.execPath, ['--input-type=module', '-e', PUSH_SERVER]));
    const children: ChildProcess[] = [pusher.child];
    try {
      await until('the pusher listens', async () => pusher.out.includes('ready'));
      const sink = inContainer(COUNT_SERVER);
      children.push(sink);
      const published = new Watch(sink);
      await until('the sink listens', async () => published.out.includes('ready'));
      const outbound = new Watch(inContainer(countClient(A.inet, PUSH_PORT)));
      children.push(outbound.child);
      children.push(lab.inet.spawn(process.execPath, ['--input-type=module', '-e', pushClient(ext, 8095)]));
      const flowing = (what: string): Promise<void> => flowPushes([outbound, published], what, () => lab.text.slice(-3000));
      await flowing('before');
      const from = lab.lines.length;
      await lab.docker.docker('network', 'create', '--ipv6', '--subnet', 'fd66:8::/64', 'unrelated');
      await waitFor(() => /fd66:8::\/64/.test(rules()), 10_000, 'the new network routed');
      await flowing('after docker network create');
      const removing = lab.lines.length;
      await lab.docker.docker('network', 'rm', 'unrelated');
      await waitFor(() => !/fd66:8::\/64/.test(rules()), 10_000, 'the network unrouted');
      // The routes go first; the apply ends with the steering of the host's addresses.
      await lab.waitLog(/^model applied$/, 10_000, removing);
      await flowing('after docker network rm');
      const applied = lab.lines.slice(from).filter((l) => l.msg === 'model applied');
      assert.ok(applied.length >= 2 && applied.every((l) => l.sessionsDropped === 0), JSON.stringify(applied));
    } finally {
      for (const c of children) c.kill('SIGKILL');
      await lab.docker.docker('rm', '-f', reader);
    }
  });

  test('removal leaves nothing behind: a published port, a network and its rule', async () => {
    const from = lab.lines.length;
    await lab.docker.docker('rm', '-f', 'web');
    await lab.waitLog(/model applied/, 10_000, from);
    assert.ok(lab.lines.slice(from).some((l) => l.msg === 'model applied' && (l.publishedRemoved as number) >= 1));
    assert.match(await http(`http://[${ext}]:8080/cgi-bin/ip`), /^error /);
    await lab.docker.docker('network', 'create', '--ipv6', '--subnet', 'fd66:7::/64', 'tmpula');
    await waitFor(() => /fd66:7::\/64/.test(rules()), 10_000, 'the new network routed');
    await lab.docker.docker('network', 'rm', 'tmpula');
    await waitFor(() => !/fd66:7::\/64/.test(rules()), 10_000, 'the removed network unrouted');
  });

  test(`event to ready: ${LATENCY_CONTAINERS} container starts, NDP and NAT sides`, async () => {
    // The test's own event stream: the engine's time of each container's start event.
    const starts = await watchContainerStarts(lab.docker.socket);
    const startAt = starts.startAt;
    const from = lab.lines.length;
    const ids: string[] = [];
    try {
      for (let i = 0; i < LATENCY_CONTAINERS; i++) {
        const global = i % 2 === 0;
        const created = await lab.docker.call('POST', `/containers/create?name=lat${i}`, {
          Image: IMAGE, Cmd: ['sleep', '3600'], StopTimeout: 1, ExposedPorts: global ? {} : { '80/tcp': {} },
          HostConfig: { NetworkMode: global ? 'glob' : 'ula', PortBindings: global ? {} : { '80/tcp': [{ HostPort: String(10_000 + i) }] } },
        }) as { Id: string };
        await lab.docker.call('POST', `/containers/${created.Id}/start`);
        ids.push(created.Id);
      }
      // Per container: when the batch that made it running was applied to both engines.
      const ready = (): Map<string, { at: number; ndp: boolean; own: number }> => {
        const out = new Map<string, { at: number; ndp: boolean; own: number }>();
        for (const l of lab.lines.slice(from)) {
          const id = l.docker as string | undefined;
          // The start's batch (a network connect before it is a batch of its own).
          if (l.msg !== 'change applied' || l.action !== 'start' || id === undefined || out.has(id) || !ids.some((x) => x.startsWith(id))) continue;
          out.set(id, { at: l.readyAtMs as number, ndp: l.ndpMs !== undefined, own: (l.ndpMs ?? l.natMs) as number });
        }
        return out;
      };
      await waitFor(() => ready().size >= LATENCY_CONTAINERS && startAt.size >= LATENCY_CONTAINERS, 30_000, 'every start applied and seen');
      const ndp: number[] = [];
      const nat: number[] = [];
      for (const [id, r] of ready()) {
        const measured = r.at - startAt.get(id)!;
        (r.ndp ? ndp : nat).push(Math.max(0, measured));
        // The daemon's own figure (its metric) counts from the start event too, not the network connect before it.
        assert.ok(Math.abs(r.own - measured) <= 25, `${id}: daemon says ${r.own} ms, the test ${measured} ms`);
      }
      ndp.sort((a, b) => a - b);
      nat.sort((a, b) => a - b);
      assert.equal(ndp.length, LATENCY_CONTAINERS / 2);
      const figures = { ndpP50: percentile(ndp, 50), ndpP99: percentile(ndp, 99), natP50: percentile(nat, 50), natP99: percentile(nat, 99) };
      process.stdout.write(`# start event to ready, ms: ${JSON.stringify(figures)}\n`);
      // The goal is 50 ms at p99, both sides. NDP: the add is synchronous. NAT: a port-only change
      // updates the engine's table in process (p50 ≈ 5 ms, p99 ≈ 11 ms on a busy 2-CPU machine), then
      // runs one `tc -batch` that adds the port's steering filters for the host's own addresses
      // (p50 ≈ 27 ms, p99 ≈ 99 ms there: the exec dominates, and misses the goal under load).
      // The NDP bound stays loose (it shares the CPUs with dockerd's starts).
      assert.ok(figures.ndpP50 <= 50 && figures.ndpP99 <= 250, JSON.stringify(figures));
      assert.ok(figures.natP50 <= 60 && figures.natP99 <= 200, JSON.stringify(figures));
      for (const id of ids.filter((_, i) => i % 2 === 0).slice(0, 3)) assert.ok(await lab.ndpAnswers(await addressOn(id, 'glob')));
    } finally {
      await starts.stop();
      if (ids.length > 0) await lab.docker.docker('rm', '-f', ...ids);
    }
  });

  test('metrics on scrape and the health file', async () => {
    // Some traffic first, so the NAT counters have moved.
    assert.match(await exec('out1', 'nc', '-w', '3', A.inet, '5001'), new RegExp(`peer ${ext}`));
    const r = await lab.dhost.node(`const res = await fetch('http://[::1]:${METRICS_PORT}/metrics'); console.log(await res.text());`);
    assert.match(r.stdout, /^sixgate_docker_connected 1$/m);
    assert.match(r.stdout, /^sixgate_ndp_container_addresses \d+$/m);
    assert.match(r.stdout, /^sixgate_nat_sessions \d+$/m);
    assert.match(r.stdout, /^sixgate_event_ready_seconds\{engine="ndp",quantile="0.99"\} /m);
    assert.match(r.stdout, /^sixgate_nat_out_packets_total [1-9]/m);
    assert.match(r.stdout, /^sixgate_docker_events_total [1-9]/m);
    assert.match(r.stdout, /^sixgate_ndp_solicit_received_total\{iface="up0"\} \d+$/m);
    assert.match(r.stdout, /^# TYPE sixgate_service_batches_total counter$/m);
    const served = new Set([...r.stdout.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
    for (const name of dashboardMetricNames()) assert.ok(served.has(name), `the Grafana dashboard's ${name} is served`);
    const h = await lab.dhost.run(process.execPath, [CLI, 'health', '--file', lab.statusFile]);
    assert.equal(h.code, 0, h.stdout + h.stderr);
    assert.match(h.stdout, /ready/);
  });

  test('one NDP engine on the uplink answers the dedicated NAT address and a container address, and counts both', async () => {
    const c = await run('--network', 'glob', '--name', 'g2', IMAGE, 'sleep', '3600');
    const g = await addressOn(c, 'glob');
    const scrape = async (): Promise<string> => (await lab.dhost.node(`const res = await fetch('http://[::1]:${METRICS_PORT}/metrics'); console.log(await res.text());`)).stdout;
    const sent = (text: string): number => Number(/^sixgate_ndp_advert_sent_total\{iface="up0"\} (\d+)/m.exec(text)?.[1] ?? 0);
    await until(`NDP answer for ${g}`, () => lab.ndpAnswers(g));
    // Each ndisc6 run sends one NS and stops at the first answer.
    const before = await scrape();
    for (let i = 0; i < 3; i++) assert.ok(await lab.ndpAnswers(ext), `NDP answer for the NAT's ${ext}`);
    const mid = await scrape();
    for (let i = 0; i < 3; i++) assert.ok(await lab.ndpAnswers(g), `NDP answer for the container's ${g}`);
    const after = await scrape();
    assert.ok(sent(mid) - sent(before) >= 3, `the NAT address's answers are in the daemon's engine: ${sent(before)} -> ${sent(mid)}`);
    assert.ok(sent(after) - sent(mid) >= 3, `the container address's answers too: ${sent(mid)} -> ${sent(after)}`);
    assert.deepEqual([...after.matchAll(/^sixgate_ndp_\w+_total\{iface="([^"]+)"/gm)].map((m) => m[1]).filter((v, i, all) => all.indexOf(v) === i), ['up0'], 'one engine, one uplink');
    const answers = Number(new RegExp(`^sixgate_container_ndp_answers_total\\{network="glob",container="g2",container_id="${c.slice(0, 12)}"\\} (\\d+)$`, 'm').exec(after)?.[1]);
    assert.ok(answers >= 3, `the container's own answers: ${answers}`);
    const natAnswers = Number(/^sixgate_network_ndp_answers_total\{network="ula"\} (\d+)$/m.exec(after)?.[1]);
    assert.ok(natAnswers >= 3, `the NAT network's answers for its external address: ${natAnswers}`);
    await lab.docker.docker('rm', '-f', c);
  });

  test('per-container series appear with the container, count its traffic, and go when it is removed', async () => {
    const scrape = async (): Promise<string> => (await lab.dhost.node(`const res = await fetch('http://[::1]:${METRICS_PORT}/metrics'); console.log(await res.text());`)).stdout;
    const c = await run('--network', 'ula', '--name', 'mx1', IMAGE, 'sleep', '3600');
    const labels = `network="ula",container="mx1",container_id="${c.slice(0, 12)}"`;
    const value = (text: string, name: string, extra = ''): number => Number(new RegExp(`^${name}\\{${labels}${extra}\\} (\\S+)$`, 'm').exec(text)?.[1]);
    await until('the series of a new container', async () => value(await scrape(), 'sixgate_container_packets_total', ',direction="out"') === 0);
    await until('TCP through the NAT', async () => {
      try {
        return (await exec(c, 'nc', '-w', '3', A.inet, '5001')).includes(`peer ${ext}`);
      } catch {
        return false;
      }
    });
    // What the fast path forwards is counted once a second.
    await until('the traffic counted', async () => value(await scrape(), 'sixgate_container_packets_total', ',direction="in"') >= 3);
    const text = await scrape();
    assert.ok(value(text, 'sixgate_container_packets_total', ',direction="out"') >= 3, text);
    assert.ok(value(text, 'sixgate_container_packets_total', ',direction="in"') >= 3);
    assert.ok(value(text, 'sixgate_container_bytes_total', ',direction="in"') > value(text, 'sixgate_container_packets_total', ',direction="in"') * 40);
    assert.ok(value(text, 'sixgate_container_sessions') >= 1);
    const network = Number(/^sixgate_network_packets_total\{network="ula",direction="out"\} (\S+)$/m.exec(text)?.[1]);
    assert.ok(network >= value(text, 'sixgate_container_packets_total', ',direction="out"'), 'the network counts its containers\' packets');
    assert.match(text, /^sixgate_network_sessions\{network="ula"\} [1-9]/m);
    await lab.docker.docker('rm', '-f', c);
    await until('the series gone with the container', async () => !(await scrape()).includes('container="mx1"'));
  });

  test('the TUN deleted (and held by another device), then set down: unhealthy < 1 s, metrics say so, traffic back < 5 s, a TCP connection survives', async (t) => {
    await lab.inet.spawn(process.execPath, ['--input-type=module', '-e', `import net from 'node:net';
net.createServer((s) => { s.on('error', () => {}); s.pipe(s); }).listen(5006, '::', () => console.log('ready'));`]);
    const pid = (await lab.docker.call('GET', '/containers/out1/json') as { State: { Pid: number } }).State.Pid;
    const client = spawn('nsenter', [`--net=/proc/${pid}/ns/net`, '--', process.execPath, '--input-type=module', '-e', `import net from 'node:net';
const connect = () => { const s = net.connect({ host: '${A.inet}', port: 5006 }, () => console.log('connected'));
  s.on('data', (d) => console.log('got ' + d.toString().trim())); s.on('error', (e) => console.log('error ' + e.code)); s.on('close', () => console.log('closed'));
  process.stdin.on('data', (d) => s.write(d)); };
setTimeout(connect, 300);`], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    client.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    const say = async (text: string): Promise<void> => {
      await waitFor(() => out.includes('connected'), 8000, `the client connected: ${out}`);
      client.stdin.write(`${text}\n`);
      await waitFor(() => out.includes(`got ${text}`), 8000, `the echo of ${text}: ${out}`);
    };
    const metrics = async (): Promise<string> => (await lab.dhost.node(`const res = await fetch('http://[::1]:${METRICS_PORT}/metrics'); console.log(await res.text());`)).stdout;
    const udpOk = async (): Promise<boolean> => {
      try {
        return (await nodeIn('out1', udpClientCode(A.inet, 5002))).includes(`peer ${ext}`);
      } catch {
        return false;
      }
    };
    try {
      await say('before');
      // Deleted, and a veth takes the name, so the repair fails until it goes: a down state long enough to watch.
      let start = Date.now();
      // One batch: the repair's first attempt comes 50 ms after the failure.
      lab.dhost.exec('ip', ['-batch', '-'], 10_000, 'link del sixgate0\nlink add sixgate0 type veth peer name sixgate0p\n');
      await waitFor(() => !readHealth(lab.statusFile).healthy, 1000, 'health unhealthy', 10);
      const unhealthyMs = Date.now() - start;
      assert.match(readHealth(lab.statusFile).reason, /nat66 down \(the TUN failed/);
      assert.match(await metrics(), /^sixgate_part_up\{part="nat66"\} 0$/m);
      assert.equal(await udpOk(), false, 'nothing goes out while the data path is down');
      start = Date.now();
      lab.dhost.ip('link', 'del', 'sixgate0');
      await until('UDP through the NAT again', udpOk, 5000);
      const backMs = Date.now() - start;
      await say('after');
      await waitFor(() => readHealth(lab.statusFile).healthy, 1000, `healthy again: ${readHealth(lab.statusFile).reason}`, 10);
      // Set down: the kernel deletes its routes; the repair brings it up and puts them back.
      const from = lab.lines.length;
      lab.dhost.ip('link', 'set', 'sixgate0', 'down');
      await lab.waitLog(/data path repaired/, 5000, from);
      await until('UDP through the NAT after the set down', udpOk, 5000);
      await say('again');
      assert.doesNotMatch(out, /error|closed/);
      const m = await metrics();
      assert.match(m, /^sixgate_part_up\{part="nat66"\} 1$/m);
      assert.match(m, /^sixgate_nat_failures_total 2$/m);
      assert.match(m, /^sixgate_nat_repairs_total 2$/m);
      t.diagnostic(`unhealthy ${unhealthyMs} ms after the TUN was deleted; UDP through again ${backMs} ms after the name was freed`);
    } finally {
      client.kill();
    }
  });

  test('SIGHUP resyncs: a policy rule removed behind the back of sixgate comes back', async () => {
    // The ULA network's rule on its own bridge (it has one on every other Docker bridge too, for multi-network containers).
    const bridge = `br-${((await lab.docker.call('GET', '/networks/ula')) as { Id: string }).Id.slice(0, 12)}`;
    const own = new RegExp(`from fd66:1::/64 iif ${bridge} `);
    assert.match(rules(), own);
    lab.dhost.ip('-6', 'rule', 'del', 'pref', '6646', 'from', 'fd66:1::/64', 'iif', bridge);
    assert.doesNotMatch(rules(), own);
    const from = lab.lines.length;
    lab.sixgate!.kill('SIGHUP');
    await lab.waitLog(/resync requested/, 5_000, from);
    await waitFor(() => own.test(rules()), 10_000, 'the rule restored');
  });

  test('dockerd restarts mid-run: sixgate resyncs, nothing stale, nothing lost', async () => {
    const gone = await run('--network', 'glob', '--name', 'gone', IMAGE, 'sleep', '3600');
    const back = await run('--network', 'glob', '--name', 'back', '--restart', 'always', IMAGE, 'sleep', '3600');
    const web2 = await run('--network', 'ula', '--name', 'web2', '--restart', 'always', '-p', '8085:80', IMAGE, ...HTTPD_CMD);
    const goneAddr = await addressOn(gone, 'glob');
    await until('gone answered', () => lab.ndpAnswers(goneAddr));
    await lab.docker.stopDaemon();
    const from = lab.lines.length;
    await lab.waitLog(/lost the Docker engine|cannot sync/, 10_000, from);
    await lab.docker.startDaemon();
    await lab.waitLog(/connected to Docker/, 20_000, from);
    let backAddr = '';
    await until('back running again', async () => {
      try {
        backAddr = await addressOn(back, 'glob');
        return backAddr !== '';
      } catch {
        return false;
      }
    }, 20_000);
    await until(`back (${backAddr}) answered`, () => lab.ndpAnswers(backAddr));
    if (goneAddr !== backAddr) assert.equal(await lab.ndpAnswers(goneAddr), false, 'the dead container is not answered');
    await until('web2 published again', async () => (await http(`http://[${ext}]:8085/cgi-bin/ip`)).includes(A.inet), 20_000);
    void web2;
  });

  test('SIGKILL + restart with Docker unreachable: the data path resumes from the last model, a stream the internet pushes flows on', async () => {
    const stateFile = `/tmp/${lab.rt.name}-state.table`;
    const withState = (): string[] => [...args(), '--state-file', stateFile];
    await lab.stopSixgate('SIGKILL');
    let from = lab.lines.length;
    await lab.startSixgate(withState(), null);
    await lab.waitLog(/docker state applied/, 20_000, from);
    const stream = await tickStream(5009, 'reader');
    try {
      await waitFor(() => /tick 5\n/.test(stream.heard()), 10_000, 'the stream flows');
      await lab.stopSixgate('SIGKILL');
      from = lab.lines.length;
      // A Docker endpoint that never answers: only the saved model can bring the data path up.
      await lab.startSixgate([...withState().filter((a) => !a.startsWith('unix://') && a !== '--docker-host'), '--docker-host', `unix:///tmp/${lab.rt.name}-nodocker.sock`], null);
      await lab.waitLog(/NAT66 resumed from the last model/, 10_000, from);
      const seen = Number([...stream.heard().matchAll(/tick (\d+)/g)].pop()![1]);
      await waitFor(() => new RegExp(`tick ${seen + 20}\\n`).test(stream.heard()), 15_000, 'the stream flows again before Docker answers');
      assert.ok(!lab.lines.slice(from).some((l) => /docker state applied/.test(l.msg)), 'Docker never answered');
      assert.doesNotMatch(stream.heard(), /error|closed/);
      // Back to the daemon the next tests expect.
      await lab.stopSixgate('SIGKILL');
      from = lab.lines.length;
      await lab.startSixgate(args(), null);
      await lab.waitLog(/docker state applied/, 20_000, from);
    } finally {
      await stream.end();
      rmSync(stateFile, { force: true });
      rmSync(`${stateFile}.model.json`, { force: true });
    }
  });

  test('SIGHUP with a new capacity in the file: the sessions move to a new table (the state file grows), a stream the internet pushes flows on', async () => {
    const stateFile = `/tmp/${lab.rt.name}-hup.table`;
    const configFile = `/tmp/${lab.rt.name}-hup.yaml`;
    writeFileSync(configFile, 'capacity: 16384\n');
    await lab.stopSixgate('SIGKILL');
    let from = lab.lines.length;
    await lab.startSixgate([...args(), '-c', configFile, '--state-file', stateFile], null);
    await lab.waitLog(/docker state applied/, 20_000, from);
    const stream = await tickStream(5010, 'hupreader');
    try {
      await waitFor(() => /tick 5\n/.test(stream.heard()), 10_000, 'the stream flows');
      const sizeBefore = statSync(stateFile).size;
      writeFileSync(configFile, 'capacity: 32768\n');
      from = lab.lines.length;
      lab.sixgate!.kill('SIGHUP');
      await waitFor(() => lab.lines.slice(from).some((l) => l.msg === 'model applied' && l.natRebuilt === true), 15_000, 'the table moved');
      const reloaded = lab.lines.slice(from).find((l) => l.msg === 'configuration reloaded');
      assert.ok((reloaded?.changed as string[] | undefined)?.includes('capacity'), JSON.stringify(reloaded));
      assert.ok(!lab.lines.slice(from).some((l) => /need a restart/.test(l.msg)), 'capacity applied, not deferred');
      const seen = Number([...stream.heard().matchAll(/tick (\d+)/g)].pop()![1]);
      await waitFor(() => new RegExp(`tick ${seen + 20}\\n`).test(stream.heard()), 10_000, 'the stream flows on');
      assert.doesNotMatch(stream.heard(), /error|closed/);
      assert.ok(statSync(stateFile).size > sizeBefore, 'the state file holds the larger table');
    } finally {
      await stream.end();
      // Back to the daemon the next tests expect.
      await lab.stopSixgate('SIGKILL');
      from = lab.lines.length;
      await lab.startSixgate(args(), null);
      await lab.waitLog(/docker state applied/, 20_000, from);
      for (const f of [stateFile, `${stateFile}.model.json`, configFile]) rmSync(f, { force: true });
    }
  });

  test('sixgate started before dockerd waits, then catches up; --cleanup leaves nothing behind', async () => {
    assert.equal(await lab.stopSixgate('SIGTERM'), 0);
    await lab.docker.stopDaemon();
    const from = lab.lines.length;
    await lab.startSixgate(args());
    await lab.waitLog(/cannot sync with the Docker engine/, 10_000, from);
    await lab.docker.startDaemon();
    await lab.waitLog(/docker state applied/, 30_000, from);
    const back = (await lab.docker.call('GET', '/containers/back/json') as Inspect);
    const addr = back.NetworkSettings.Networks.glob!.GlobalIPv6Address;
    await until(`back (${addr}) answered after the late start`, () => lab.ndpAnswers(addr), 20_000);
    assert.equal(await lab.stopSixgate('SIGTERM'), 0);
    assert.equal(rules().trim(), '');
    assert.equal(lab.dhost.ip('-6', 'route', 'show', 'table', 'all', 'proto', '166').trim(), '');
    assert.ok(!lab.dhost.ipJson<Array<{ ifname: string }>>('link', 'show').some((l) => l.ifname === 'sixgate0'));
  });

  test("--workers 2: a container's and its network's series are the workers' sums of what it sent and received", async () => {
    await lab.stopSixgate('SIGTERM'); // stopped already, unless this test runs alone
    const from = lab.lines.length;
    await lab.startSixgate([...args(), '--workers', '2']);
    await lab.waitLog(/docker state applied/, 20_000, from);
    const scrape = async (): Promise<string> => (await lab.dhost.node(`const res = await fetch('http://[::1]:${METRICS_PORT}/metrics'); console.log(await res.text());`)).stdout;
    const c = await run('--network', 'ula', '--name', 'mx2', IMAGE, 'sleep', '3600');
    const series = (text: string, name: string, labels: string): number => Number(new RegExp(`^${name}\\{${labels}\\} (\\S+)$`, 'm').exec(text)?.[1]);
    const container = `network="ula",container="mx2",container_id="${c.slice(0, 12)}"`;
    await until('the series of a new container', async () => series(await scrape(), 'sixgate_container_packets_total', `${container},direction="out"`) === 0);
    const count = 20;
    assert.equal((JSON.parse(await nodeIn(c, udpPingPongCode(A.inet, 5002, count))) as { got: number }).got, count);
    // What the fast path forwards is counted once a second, then published by its worker.
    await until('the datagrams counted both ways', async () => {
      const text = await scrape();
      return series(text, 'sixgate_container_packets_total', `${container},direction="out"`) === count
        && series(text, 'sixgate_container_packets_total', `${container},direction="in"`) === count;
    });
    const text = await scrape();
    assert.equal(series(text, 'sixgate_container_sessions', container), 1, text);
    assert.ok(series(text, 'sixgate_network_packets_total', 'network="ula",direction="out"') >= count, text);
    assert.ok(series(text, 'sixgate_network_sessions', 'network="ula"') >= 1, text);
    await lab.docker.docker('rm', '-f', c);
    assert.equal(await lab.stopSixgate('SIGTERM'), 0);
  });

  test('Docker doing IPv6 NAT itself (--docker-ip6tables on): its networks are left alone with a warning', async () => {
    const from = lab.lines.length;
    await lab.startSixgate([...args(), '--docker-ip6tables', 'on']);
    await lab.waitLog(/docker state applied/, 20_000, from);
    assert.ok(lab.lines.slice(from).some((l) => /network ula: Docker's own ip6tables NAT serves it/.test(l.msg)));
    assert.equal(rules().trim(), '');
    assert.ok(!lab.dhost.ipJson<Array<{ ifname: string }>>('link', 'show').some((l) => l.ifname === 'sixgate0'));
    // Global networks are still proxied.
    const addr = ((await lab.docker.call('GET', '/containers/back/json')) as Inspect).NetworkSettings.Networks.glob!.GlobalIPv6Address;
    await until(`back (${addr}) answered`, () => lab.ndpAnswers(addr));
    assert.equal(await lab.stopSixgate('SIGINT'), 0);
  });

  test('sixgate never wrote to ip6tables (no DOCKER or other chain touched)', () => {
    assert.equal(ip6tables(), ip6tablesBefore);
  });
});
