// End to end through real kernels: containers behind a bridge, sixgate
// (`sixgate nat`, a child process in the host namespace) translating through
// its TUN, a router and internet hosts (topology.ts). One topology for the
// whole file; the tests run in order (restart, host mode and cleanup last).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { requires } from '../support/prereq.js';
import {
  NatLab, A, tcpServerCode, tcpClientCode, tcpSinkCode, udpEchoCode, udpClientCode,
  udpMirrorCode, fragmentedUdpClientCode, uploadClientCode, tcpMirrorCode, MirrorClient, checkPublishedAndHairpin,
} from './topology.js';

const req = requires({ root: true, tools: ['ip', 'tc', 'busybox', 'nsenter'], files: ['/dev/net/tun'] });

const MB = 1 << 20;

function config(gw: string, web: string): string {
  return `uplink: up0
stateFile: /tmp/${gw}-state.snap
capacity: 16384
networks:
  - { name: web, bridge: br0, subnets: [fd66:1::/64], ${web} }
  - { name: lab, bridge: br1, subnets: [fd66:2::/64], mode: nptv6, externalPrefix: ${A.nptPrefix} }
published:
  - { protocol: tcp, hostIp: "::", hostPort: 8080, containerAddress: "${A.c1}", containerPort: 80 }
  - { protocol: tcp, hostIp: "0.0.0.0", hostPort: 8080, containerAddress: "${A.c1}", containerPort: 80 }
  - { protocol: udp, hostIp: "", hostPort: 5353, containerAddress: "${A.c1}", containerPort: 53 }
  - { protocol: tcp, hostIp: "192.0.2.1", hostPort: 9090, containerAddress: "${A.c1}", containerPort: 90 }
`;
}
const DEDICATED = `externalAddresses: [${A.dedicated}]`;
const HOST = 'addressMode: host';

interface HostState { rules: string; routes: string; tun: boolean; tc: string }

function hostState(lab: NatLab): HostState {
  const links = lab.gw.ipJson<Array<{ ifname: string }>>('link', 'show');
  return {
    rules: lab.gw.ip('-6', 'rule', 'show', 'pref', '6646'),
    routes: lab.gw.ip('-6', 'route', 'show', 'table', 'all', 'proto', '166'),
    tun: links.some((l) => l.ifname === 'sixgate0'),
    tc: lab.gw.exec('tc', ['filter', 'show', 'dev', 'up0', 'ingress']),
  };
}

describe('nat66 data path end to end', { ...req, timeout: 120_000 }, () => {
  let lab: NatLab;
  const servers: ChildProcess[] = [];

  before(async () => {
    lab = new NatLab();
    servers.push(await lab.server(lab.inet, tcpServerCode(5001, 32 * MB)));
    servers.push(await lab.server(lab.inet, udpEchoCode(5002)));
    servers.push(await lab.server(lab.inet2, tcpSinkCode(5003)));
    servers.push(await lab.server(lab.c1, tcpServerCode(80, 1 * MB)));
    servers.push(await lab.server(lab.c1, udpEchoCode(53)));
    await lab.startSixgate(config(lab.gw.name, DEDICATED));
  });

  after(async () => {
    await lab?.stopSixgate('SIGKILL');
    lab?.destroy();
    if (lab) for (const f of ['state.snap', 'nat.yaml']) rmSync(`/tmp/${lab.gw.name}-${f}`, { force: true });
  });

  test('outbound TCP: the internet sees the external address; 32 MB arrive', async () => {
    const r = await lab.nodeResult(lab.c1, tcpClientCode(A.inet, 5001));
    assert.equal(r.peer, A.dedicated);
    assert.equal(r.bytes, 32 * MB);
  });

  test('outbound UDP and ping: answers come back translated', async () => {
    const udp = await lab.c1.node(udpClientCode(A.inet, 5002), 5000);
    assert.equal(udp.stdout.trim(), `peer ${A.dedicated}`);
    const ping = await lab.c1.run('busybox', ['ping6', '-c', '2', '-W', '2', A.inet], 8000);
    assert.match(ping.stdout, /2 packets received/);
  });

  test('fragmented UDP (4000-byte datagrams) crosses both ways', async () => {
    servers.push(await lab.server(lab.inet, udpMirrorCode(5005)));
    const r = await lab.c1.node(fragmentedUdpClientCode(A.inet, 5005), 5000);
    assert.equal(r.stdout.trim(), 'same');
  });

  test('unsolicited inbound is refused, never let in (refuse.test.ts has the details)', async () => {
    const tcp = await lab.nodeResult(lab.inet, tcpClientCode(A.dedicated, 8081).replace('setTimeout(8000', 'setTimeout(1500'));
    assert.equal(tcp.error, 'ECONNREFUSED');
    // An unconnected socket ignores the port unreachable: no answer ever comes.
    const udp = await lab.inet.node(udpClientCode(A.dedicated, 5999), 4000);
    assert.equal(udp.stdout.trim(), 'timeout');
  });

  test('published ports: the container sees the client; hairpin from another container; IPv4 HostIp skipped', async () => {
    await checkPublishedAndHairpin(lab);
    assert.match(lab.log, /192\.0\.2\.1:9090.*IPv4 HostIp/);
  });

  test('PMTUD: Packet Too Big from an MTU-1280 hop reaches the container; a 4 MB upload completes', async () => {
    const r = await lab.nodeResult(lab.c1, uploadClientCode(A.inet2, 5003, 4 * MB));
    assert.equal(r.peer, A.dedicated);
    assert.equal(r.bytes, 4 * MB);
    const route = lab.c1.ip('-6', 'route', 'get', A.inet2);
    assert.match(route, /mtu 1280/, `the container learnt the path MTU: ${route}`);
  });

  test('hop limit exceeded comes back translated (traceroute shows the router)', async () => {
    const tr = await lab.c1.run('busybox', ['traceroute6', '-n', '-q', '1', '-m', '4', '-w', '1', A.inet], 15_000);
    assert.match(tr.stdout, new RegExp(`\\s${A.rt.replace(/:/g, ':')}\\s`), tr.stdout);
    assert.match(tr.stdout, new RegExp(A.inet), tr.stdout);
  });

  test('NPTv6 network carries a TCP transfer from its external prefix', async () => {
    const r = await lab.nodeResult(lab.c3, tcpClientCode(A.inet, 5001));
    assert.equal(r.bytes, 32 * MB);
    assert.ok(r.peer?.startsWith('2001:db8:66:'), `peer ${r.peer}`);
  });

  test('restart: a long-lived TCP connection keeps working across a sixgate restart', async () => {
    servers.push(await lab.server(lab.inet, tcpMirrorCode(5004)));
    const client = new MirrorClient(lab.c1, A.inet, 5004, () => lab.log);
    await client.waitFor('connected');
    await client.say('before');
    assert.equal(await lab.stopSixgate('SIGTERM'), 0);
    await lab.startSixgate(config(lab.gw.name, DEDICATED));
    assert.match(lab.log, /connection table restored/);
    await client.say('after');
    assert.doesNotMatch(client.out, /error/);
    client.child.kill();
  });

  test('a crash leaves state the next start adopts unchanged (idempotent start)', async () => {
    const first = hostState(lab);
    assert.match(first.rules, /from fd66:1::\/64 iif br0 lookup 6646/);
    assert.match(first.routes, new RegExp(`${A.dedicated} dev sixgate0`));
    await lab.stopSixgate('SIGKILL');
    await lab.startSixgate(config(lab.gw.name, DEDICATED));
    assert.deepEqual(hostState(lab), first);
    const r = await lab.nodeResult(lab.c1, tcpClientCode(A.inet, 5001));
    assert.equal(r.bytes, 32 * MB);
  });

  test('host-address mode (applied by SIGHUP): TCP goes out from the host address; the host still pings', async () => {
    await lab.reload(config(lab.gw.name, HOST));
    assert.match(hostState(lab).tc, /mirred|redirect/);
    assert.doesNotMatch(hostState(lab).routes, new RegExp(A.dedicated));
    const r = await lab.nodeResult(lab.c1, tcpClientCode(A.inet, 5001));
    assert.equal(r.peer, A.gwUp);
    assert.equal(r.bytes, 32 * MB);
    const pub = await lab.nodeResult(lab.inet, tcpClientCode(A.gwUp, 8080));
    assert.equal(pub.peer, A.inet);
    const ping = await lab.gw.run('busybox', ['ping6', '-c', '1', '-W', '2', A.inet], 5000);
    assert.match(ping.stdout, /1 packets received/, 'echo replies steered into the TUN are passed on to the host');
    assert.match(lab.gw.exec('sysctl', ['-n', 'net.ipv4.ip_local_reserved_ports']), /61000-61999/);
  });

  test('--cleanup removes every rule, route, filter and the TUN', async () => {
    assert.equal(await lab.stopSixgate('SIGTERM'), 0);
    const r = await lab.gw.run(process.execPath, [(await import('./topology.js')).CLI, 'nat', '-c', `/tmp/${lab.gw.name}-nat.yaml`, '--cleanup-only'], 15_000);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const s = hostState(lab);
    assert.equal(s.rules.trim(), '');
    assert.equal(s.routes.trim(), '');
    assert.equal(s.tun, false);
    assert.equal(s.tc.trim(), '');
    assert.equal(lab.gw.exec('sysctl', ['-n', 'net.ipv4.ip_local_reserved_ports']).trim(), '');
  });
});
