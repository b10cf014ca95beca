// The NAT66 fast path end to end (`sixgate nat`, offload on by default):
// established TCP and answered UDP flows leave the TUN for the tc programs
// on the bridge's and the uplink's ingress, their packets counted back into
// the engine; a FIN, a capture and a crash each put them back on the slow
// path. The topology is topology.ts's.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { requires } from '../support/prereq.js';
import { request } from '../../src/service/control.js';
import { NatLab, A, CLI, tcpServerCode, tcpClientCode, tcpMirrorCode, MirrorClient, udpPingPongCode } from './topology.js';

const req = requires({ root: true, tools: ['ip', 'tcpdump', 'nsenter'], files: ['/dev/net/tun'] });

const MB = 1 << 20;

/** UDP echo: each datagram back to its sender. */
const UDP_ECHO = `import dgram from 'node:dgram';
const s = dgram.createSocket('udp6');
s.on('message', (m, r) => s.send(m, r.port, r.address));
s.bind(5006, '::', () => console.log('ready'));`;

describe('NAT66 fast path end to end', { ...req, timeout: 90_000 }, () => {
  let lab: NatLab;
  let socket = '';
  const servers: ChildProcess[] = [];
  const config = (): string => `uplink: up0
capacity: 16384
networks:
  - { name: web, bridge: br0, subnets: [fd66:1::/64], externalAddresses: [${A.dedicated}] }
`;

  const counters = async (): Promise<Record<string, number>> =>
    (await request(socket, { op: 'counters' }) as { counters: Record<string, number> }).counters;

  /** Polls the counters until `ok` holds (the fast path's counts come back once a second); returns the last read. */
  const until = async (ok: (c: Record<string, number>) => boolean, ms: number): Promise<Record<string, number>> => {
    const end = Date.now() + ms;
    let c = await counters();
    while (!ok(c) && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 100));
      c = await counters();
    }
    return c;
  };

  /** A long-lived connection to the mirror, its first lines through: established and offloaded. */
  const offloadedConnection = async (): Promise<MirrorClient> => {
    const client = new MirrorClient(lab.c1, A.inet, 5004, () => lab.log);
    await client.waitFor('connected');
    await client.say('one');
    await client.say('two');
    const c = await until((x) => x.sixgate_nat_offloaded_sessions! >= 1, 2000);
    assert.ok(c.sixgate_nat_offloaded_sessions! >= 1, 'the connection is offloaded');
    return client;
  };

  before(async () => {
    lab = new NatLab({ withNpt: false, withInet2: false });
    socket = `/tmp/${lab.gw.name}-offload.sock`;
    servers.push(await lab.server(lab.inet, tcpServerCode(5001, 16 * MB)));
    servers.push(await lab.server(lab.inet, tcpMirrorCode(5004)));
    servers.push(await lab.server(lab.inet, UDP_ECHO));
    await lab.startSixgate(config(), ['--control-socket', socket]);
    assert.match(lab.log, /"offload":"on"/, 'the start-up line says the fast path is on');
  });

  after(async () => {
    for (const s of servers) s.kill();
    await lab?.stopSixgate('SIGKILL');
    lab?.destroy();
    rmSync(socket, { force: true });
    if (lab) rmSync(`/tmp/${lab.gw.name}-nat.yaml`, { force: true });
  });

  test('a 16 MB TCP download crosses a promotion mid-stream and mostly takes the fast path; its FIN demotes it within 2 s', async () => {
    const r = await lab.nodeResult(lab.c1, tcpClientCode(A.inet, 5001));
    assert.equal(r.peer, A.dedicated);
    assert.equal(r.bytes, 16 * MB);
    const c = await until((x) => x.sixgate_nat_offloaded_sessions === 0 && x.sixgate_nat_offload_demoted_closed_total! >= 1, 2500);
    assert.ok(c.sixgate_nat_offload_promotions_total! >= 1, JSON.stringify(c));
    assert.equal(c.sixgate_nat_offloaded_sessions, 0, 'demoted after the FIN');
    assert.ok(c.sixgate_nat_offload_demoted_closed_total! >= 1);
    const fast = c.sixgate_nat_offload_in_packets_total!;
    const tun = c.sixgate_nat_tun_rx_packets_total!;
    assert.ok(fast > 4 * tun, `fast path ${fast} packets in, TUN ${tun} packets in all`);
    // Folded into the engine's counters: what it translated includes them.
    assert.ok(c.sixgate_nat_in_packets_total! >= fast, `engine in-packets ${c.sixgate_nat_in_packets_total} >= fast ${fast}`);
    assert.ok(c.sixgate_nat_offload_in_bytes_total! > 8 * MB);
  });

  test('UDP: promoted once answered, the requests after it on the fast path both ways', async () => {
    const before = await counters();
    const r = await lab.nodeResult<{ got: number }>(lab.c1, udpPingPongCode(A.inet, 5006, 200));
    assert.equal(r.got, 200);
    const c = await until((x) => x.sixgate_nat_offload_out_packets_total! - before.sixgate_nat_offload_out_packets_total! >= 150, 2500);
    assert.equal(c.sixgate_nat_offload_promotions_total! - before.sixgate_nat_offload_promotions_total!, 1);
    assert.ok(c.sixgate_nat_offload_out_packets_total! - before.sixgate_nat_offload_out_packets_total! >= 150, JSON.stringify(c));
    assert.ok(c.sixgate_nat_offload_in_packets_total! - before.sixgate_nat_offload_in_packets_total! >= 150);
  });

  test('a capture started mid-flow takes the flow back to the TUN and sees its packets', async () => {
    const client = await offloadedConnection();
    const listed = spawnSync(process.execPath, [CLI, 'flows', '-s', socket, '--port', '5004'], { encoding: 'utf8' });
    assert.match(listed.stdout, /^tcp +established .* fast /m, `sixgate flows shows it on the fast path:\n${listed.stdout}`);
    const capture = spawn(process.execPath, [CLI, 'capture', '-c', '2', '-s', socket, '-w', '-'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    capture.stdout!.on('data', (d: Buffer) => chunks.push(d));
    const c = await until((x) => x.sixgate_nat_offload_demoted_capture_total! >= 1, 2000);
    assert.equal(c.sixgate_nat_offloaded_sessions, 0);
    await client.say('three');
    const code = await new Promise<number | null>((resolve) => capture.on('exit', resolve));
    assert.equal(code, 0);
    const read = spawnSync('tcpdump', ['-n', '-r', '-'], { input: Buffer.concat(chunks), encoding: 'utf8' });
    assert.match(read.stdout, new RegExp(`${A.c1}\\.\\d+ > ${A.inet}\\.5004`), read.stdout + read.stderr);
    // Over: the flow is promoted again by its next packet.
    await client.say('four');
    const again = await until((x) => x.sixgate_nat_offloaded_sessions! >= 1, 2000);
    assert.ok(again.sixgate_nat_offloaded_sessions! >= 1);
    client.child.kill();
  });

  test('a SIGKILL leaves no program attached (the flow waits at the TUN); after a restart it goes on through the TUN, then the fast path again', async () => {
    const client = await offloadedConnection();
    await lab.stopSixgate('SIGKILL');
    // A program left on the bridge would still translate and forward this; with none the TUN holds it, unread.
    client.child.stdin!.write('while-dead\n');
    await new Promise((r) => setTimeout(r, 1000));
    assert.doesNotMatch(client.out, /got while-dead/, 'nothing forwarded while sixgate is dead');
    await lab.startSixgate(config(), ['--control-socket', socket]);
    await client.waitFor('got while-dead');
    const tun = await counters();
    assert.ok(tun.sixgate_nat_tun_rx_packets_total! >= 2, 'through the TUN');
    await client.say('after');
    const again = await until((x) => x.sixgate_nat_offloaded_sessions! >= 1, 2000);
    assert.equal(again.sixgate_nat_offloaded_sessions, 1, 'promoted anew by the new process');
    assert.doesNotMatch(client.out, /error/);
    client.child.kill();
  });
});
