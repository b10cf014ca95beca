// macvlan networks under `sixgate run`, against a real Docker engine: the
// host shim on the network's parent (the uplink up0, whose peer is the LAN's
// router rt), container routes through it, the DAD probe that refuses to
// route an address another LAN host holds, and nothing left behind. Then the
// same probe before the NDP proxy answers for an ipvlan l3 address.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { requires } from '../support/prereq.js';
import { Lab } from '../support/netns.js';
import { waitFor } from '../support/wait.js';
import { IMAGE } from '../support/docker.js';
import { ServiceLab, A, HTTPD_CMD, httpGetCode, CLI } from './topology.js';
import { shimName } from '../../src/host/shim.js';

const url = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

const req = requires({
  root: true,
  tools: ['dockerd', 'docker', 'containerd', 'runc', 'nsenter', 'busybox', 'tar', 'ip'],
  files: ['/dev/net/tun'],
});

/** Container addresses come from this range of the LAN's own prefix. */
const RANGE = '2001:db8:1:0:1::/80';
/** An address rt (a LAN host) already holds, which a container is then given. */
const TAKEN = '2001:db8:1:0:1::99';
const METRICS_PORT = 9467;

describe('macvlan networks: the host shim', { ...req, timeout: 180_000 }, () => {
  let lab: ServiceLab;
  let netId = '';
  let shim = '';
  const socket = `/tmp/sgt-shims-${process.pid}.sock`;
  const metric = async (name: string): Promise<string> => {
    const text = (await lab.dhost.node(httpGetCode(`http://[::1]:${METRICS_PORT}/metrics`))).stdout;
    return new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 'absent';
  };

  const routesOf = (dev: string): string => links().includes(dev) ? lab.dhost.exec('ip', ['-6', 'route', 'show', 'dev', dev]) : '';
  const addressOf = async (id: string): Promise<string> =>
    ((await lab.docker.call('GET', `/containers/${id}/json`)) as { NetworkSettings: { Networks: Record<string, { GlobalIPv6Address: string }> } }).NetworkSettings.Networks.lan!.GlobalIPv6Address;
  const links = (): string => lab.dhost.exec('ip', ['-o', 'link', 'show']);

  before(async () => {
    lab = new ServiceLab();
    await lab.start();
    netId = (await lab.docker.docker('network', 'create', '-d', 'macvlan', '--ipv6', '--subnet', A.uplinkPrefix, '--gateway', A.rt,
      '--ip-range', RANGE, '-o', 'parent=up0', 'lan')).trim();
    shim = shimName(netId);
    await lab.startSixgate(['run', '--uplink', 'up0', '--docker-host', `unix://${lab.docker.socket}`, '--status-file', lab.statusFile,
      '--log-level', 'debug', '--retry-max-ms', '500', '--cleanup', '--control-socket', socket, '--metrics-listen', `[::1]:${METRICS_PORT}`]);
    await lab.waitLog(/docker state applied/, 20_000);
  });

  after(async () => {
    await lab?.destroy();
  });

  test('the host, the container and a LAN host reach each other; the container sees real source addresses', async () => {
    const id = (await lab.docker.docker('run', '-d', '--stop-timeout', '1', '--network', 'lan', '--name', 'web', IMAGE, ...HTTPD_CMD)).trim();
    const addr = await addressOf(id);
    await waitFor(() => routesOf(shim).includes(addr), 10_000, `a route to ${addr} through ${shim}`, 50);
    // The host, from its own address on the parent (the shim has only a link-local).
    assert.equal((await lab.dhost.node(httpGetCode(`http://[${addr}]/cgi-bin/ip`))).stdout.trim(), `peer [${A.up}]`);
    // A LAN host, directly (macvlan's own path).
    assert.equal((await lab.rt.node(httpGetCode(`http://[${addr}]/cgi-bin/ip`))).stdout.trim(), `peer [${A.rt}]`);
    // The container reaches the host's address, which lives on the parent.
    lab.dhost.spawn(process.execPath, ['--input-type=module', '-e',
      "import net from 'node:net'; net.createServer((s) => s.end('host ' + s.remoteAddress + '\\n')).listen(7001, '::');"]);
    await waitFor(async () => {
      const out = await lab.docker.docker('exec', id, 'sh', '-c', `nc -w 2 ${A.up} 7001 </dev/null`).catch(() => '');
      return out.trim() === `host ${addr}`;
    }, 10_000, 'the container reaches the host', 50);
    const shimLink = lab.dhost.exec('ip', ['-d', 'link', 'show', shim]);
    assert.match(shimLink, /macvlan mode bridge/);
    assert.match(shimLink, /alias sixgate shim lan/);
    assert.doesNotMatch(lab.dhost.exec('ip', ['-6', 'addr', 'show', 'dev', shim]), /scope global/, 'the shim takes no address from the LAN');
    await lab.docker.docker('rm', '-f', id);
    await waitFor(() => !routesOf(shim).includes(addr), 10_000, 'the route goes with the container', 50);
  });

  test('an address a LAN host already holds is reported, not routed', async () => {
    lab.lab.addr(lab.rt, 'down0', `${TAKEN}/64`, { nodad: true });
    const from = lab.lines.length;
    const id = (await lab.docker.docker('run', '-d', '--stop-timeout', '1', '--network', 'lan', '--ip6', TAKEN, IMAGE, 'sleep', '600')).trim();
    await lab.waitLog(/is already used on up0 by/, 10_000, from);
    const line = lab.lines.slice(from).find((l) => /is already used on up0 by/.test(l.msg))!;
    assert.equal(line.address, TAKEN);
    assert.deepEqual(line.holders, [[...lab.rt.mac('down0')].map((b) => b.toString(16).padStart(2, '0')).join(':')]);
    assert.doesNotMatch(routesOf(shim), new RegExp(TAKEN.replace(/:/g, '\\:')));
    const status = JSON.parse(lab.dhost.exec(process.execPath, [CLI, 'status', '-o', 'json', '--socket', socket])) as { networks: Array<{ name: string; mode: string; notes: string[] }> };
    const lan = status.networks.find((n) => n.name === 'lan')!;
    assert.equal(lan.mode, 'shim (macvlan on up0)');
    assert.ok(lan.notes.some((n) => n.startsWith(`conflict: ${TAKEN} `)), JSON.stringify(lan.notes));
    assert.equal(await metric('sixgate_address_conflicts'), '1');
    assert.equal(await metric('sixgate_shims'), '1');
    await lab.docker.docker('rm', '-f', id);
  });

  test('the network removed: its shim goes; a subnet off the link is routed whole; --cleanup leaves no shim', async () => {
    await lab.docker.docker('network', 'rm', 'lan');
    await waitFor(() => !links().includes(shim), 10_000, 'the shim deleted with its network', 50);
    // Docker allows one macvlan network per parent (without VLANs): the next one takes up0 again.
    const other = (await lab.docker.docker('network', 'create', '-d', 'macvlan', '--ipv6', '--subnet', '2001:db8:77::/64', '-o', 'parent=up0', 'routed')).trim();
    await waitFor(() => routesOf(shimName(other)).includes('2001:db8:77::/64'), 10_000, 'a shim for the routed network, with its subnet routed whole', 50);
    assert.equal(await lab.stopSixgate(), 0);
    assert.doesNotMatch(links(), /sgs-/);
  });
});

// ipvlan l3 (which this kernel lacks): the probe before the NDP proxy's
// first answer, on a parent `eth0` whose peer is a LAN host holding one of
// two container addresses.
describe('ipvlan l3: the probe before answering', { ...requires({ root: true, tools: ['ip'] }), timeout: 60_000 }, () => {
  test('a free address is claimed; one a LAN host holds is not, and is reported with its MAC', async () => {
    const lab = new Lab();
    try {
      const host = lab.ns('host');
      const lan = lab.ns('lan');
      lab.veth(host, 'eth0', lan, 'r0');
      lab.addr(host, 'eth0', '2001:db8:1::2/64', { nodad: true });
      lab.addr(lan, 'r0', '2001:db8:1::1/64', { nodad: true });
      lab.addr(lan, 'r0', '2001:db8:1:0:6::7/64', { nodad: true });
      const r = await host.node(`import { ShimManager } from '${url('../../src/service/shims.js')}';
import { createLogger } from '${url('../../src/log.js')}';
const lines = [];
const log = createLogger({ level: 'info', destination: { write: (l) => { lines.push(JSON.parse(l).msg); return true; } } });
const shims = new ShimManager({ log });
const claimed = [];
const address = (a) => ({ containerId: 'c', containerName: 'l3', networkId: 'n', networkName: 'ipl3', bridge: 'eth0', address: a, prefixLength: 80, subnet: '2001:db8:1:0:6::/80', service: 'ndp', uplink: 'eth0' });
for (const a of ['2001:db8:1:0:6::5', '2001:db8:1:0:6::7']) await shims.claimAfterProbe(address(a), 'eth0', () => true, () => claimed.push(a));
console.log(JSON.stringify({ claimed, conflicts: shims.conflicts, lines: lines.filter((l) => /already used/.test(l)) }));`, 20_000);
      const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { claimed: string[]; conflicts: Array<{ address: string; holders: string[] }>; lines: string[] };
      const lanMac = [...lan.mac('r0')].map((b) => b.toString(16).padStart(2, '0')).join(':');
      assert.deepEqual(out.claimed, ['2001:db8:1:0:6::5'], r.stderr);
      assert.deepEqual(out.conflicts.map((c) => [c.address, c.holders]), [['2001:db8:1:0:6::7', [lanMac]]]);
      assert.equal(out.lines.length, 1);
    } finally {
      lab.destroy();
    }
  });
});
