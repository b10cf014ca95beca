// Published ports on the Docker host's own addresses, as docker-ipv6nat
// and Docker's ip6tables publish them: `sixgate run` against a real Docker
// engine (Debian's dockerd in a namespace, userland proxy on, its default)
// with two ULA networks and a third whose ports bind one host address
// (host_binding_ipv6), and a port published on that address alone. From
// the internet through each of the host's global addresses and through the
// dedicated address the container sees the client; the Docker host itself and a container of the other network reach
// the port at the host's address; the host's own service on another port
// stays the host's; docker-proxy, listening on every port, never gets the
// connection.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { requires } from '../support/prereq.js';
import { tcpServerCode, tcpClientCode } from '../datapath/topology.js';
import { ServiceLab, A, HTTPD_CMD, httpGetCode } from './topology.js';

const req = requires({
  root: true,
  tools: ['dockerd', 'docker', 'containerd', 'runc', 'nsenter', 'busybox', 'tar', 'ip', 'tc', 'docker-proxy'],
  files: ['/dev/net/tun'],
});

/** The host's second global address on the uplink (the first is A.up). */
const UP2 = '2001:db8:1::3';
const HOST_SERVICE_PORT = 7000;

/** docker-proxy processes' command lines (they run wherever dockerd does). */
function dockerProxies(): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmd.includes('docker-proxy')) out.push(cmd);
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

describe('published ports on the Docker host\'s own addresses', { ...req, timeout: 120_000 }, () => {
  let lab: ServiceLab;
  let webB = '';

  const run = async (...argv: string[]): Promise<string> => lab.docker.docker('run', '-d', '--stop-timeout', '1', ...argv);
  /** The container's answer, "peer ADDRESS" (busybox httpd may bracket the address). */
  const get = async (where: 'inet' | 'dhost', host: string, port: number): Promise<string> =>
    (await (where === 'inet' ? lab.inet : lab.dhost).node(httpGetCode(`http://[${host}]:${port}/cgi-bin/ip`), 10_000)).stdout.trim().replace(/[[\]]/g, '');
  const until = async (what: string, pred: () => Promise<boolean>): Promise<void> => {
    const end = Date.now() + 15_000;
    while (!(await pred())) {
      if (Date.now() > end) throw new Error(`timed out: ${what}\n${lab.text.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  before(async () => {
    lab = new ServiceLab();
    await lab.start();
    lab.lab.addr(lab.dhost, 'up0', `${UP2}/64`);
    const d = lab.docker;
    await d.docker('network', 'create', '--ipv6', '--subnet', 'fd66:a::/64', 'neta');
    await d.docker('network', 'create', '--ipv6', '--subnet', 'fd66:b::/64', 'netb');
    await d.docker('network', 'create', '--ipv6', '--subnet', 'fd66:c::/64', '-o', `com.docker.network.bridge.host_binding_ipv6=${UP2}`, 'netc');
    await run('--network', 'neta', '--name', 'weba', '-p', '8080:80', 'bb:latest', ...HTTPD_CMD);
    webB = await run('--network', 'netb', '--name', 'webb', '-p', '8081:80', 'bb:latest', ...HTTPD_CMD);
    await run('--network', 'netc', '--name', 'webc', '-p', '8082:80', 'bb:latest', ...HTTPD_CMD);
    await run('--network', 'neta', '--name', 'webd', '-p', `[${UP2}]:8083:80`, 'bb:latest', ...HTTPD_CMD);
    await lab.dhost.spawn(process.execPath, ['--input-type=module', '-e', tcpServerCode(HOST_SERVICE_PORT)]);
    await lab.startSixgate(['run', '--uplink', 'up0', '--docker-host', `unix://${d.socket}`, '--status-file', lab.statusFile, '--cleanup']);
    await lab.waitLog(/docker state applied/, 20_000);
    await until('8080 on the host address', async () => (await get('inet', A.up, 8080)) === `peer ${A.inet}`);
  });

  after(async () => {
    await lab?.destroy();
  });

  test('docker-proxy listens on the published ports (the userland proxy is on), yet never gets the connections', () => {
    const proxies = dockerProxies();
    for (const port of [8080, 8081]) assert.ok(proxies.some((c) => c.includes(`-host-port ${port}`)), `docker-proxy for ${port}: ${proxies.join('\n')}`);
  });

  test('from outside: every global address of the host and the dedicated address answer, with the client\'s address, for both networks', async () => {
    for (const [host, port] of [[A.up, 8080], [UP2, 8080], [lab.external('neta'), 8080], [A.up, 8081], [UP2, 8081], [lab.external('netb'), 8081]] as const) {
      assert.equal(await get('inet', host, port), `peer ${A.inet}`, `[${host}]:${port}`);
    }
  });

  test('from the Docker host itself: the container sees the host\'s address, not docker-proxy\'s', async () => {
    for (const host of [A.up, UP2]) assert.equal(await get('dhost', host, 8080), `peer ${host}`, `[${host}]:8080`);
  });

  test('from a container of the other network: the container sees that network\'s external address', async () => {
    const got = await lab.docker.docker('exec', webB, 'wget', '-q', '-O', '-', `http://[${A.up}]:8080/cgi-bin/ip`);
    assert.equal(got.trim().replace(/[[\]]/g, ''), `peer ${lab.external('netb')}`);
  });

  test('the host\'s own service on another port stays the host\'s', async () => {
    const r = JSON.parse((await lab.inet.node(tcpClientCode(A.up, HOST_SERVICE_PORT), 10_000)).stdout.trim().split('\n').pop()!) as { peer?: string };
    assert.equal(r.peer, A.inet);
  });

  test('a network (and its bridge) that comes and goes: the steering follows, the ports keep answering', async () => {
    const from = lab.lines.length;
    await lab.docker.docker('network', 'create', '--ipv6', '--subnet', 'fd66:d::/64', 'netd');
    await lab.waitLog(/model applied/, 10_000, from);
    const mid = lab.lines.length;
    await lab.docker.docker('network', 'rm', 'netd');
    await lab.waitLog(/model applied/, 10_000, mid);
    const bad = lab.lines.slice(from).filter((l) => l.level >= 40);
    assert.deepEqual(bad, []);
    assert.equal(await get('inet', UP2, 8081), `peer ${A.inet}`);
  });

  test('host_binding_ipv6 and -p [address]:port:port: the port answers on that host address only', async () => {
    assert.equal(await get('inet', UP2, 8082), `peer ${A.inet}`);
    // Elsewhere the port is Docker's own (its proxy, which hides the client), never sixgate's.
    assert.notEqual(await get('inet', A.up, 8082), `peer ${A.inet}`);
    assert.equal(await get('inet', UP2, 8083), `peer ${A.inet}`);
    assert.notEqual(await get('inet', A.up, 8083), `peer ${A.inet}`);
  });
});
