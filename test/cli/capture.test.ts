// `sixgate capture` against a real `sixgate nat` in the NAT66 topology
// (test/datapath/topology.ts), refusals silent so an unpublished port is a
// drop: UDP from the internet to an unpublished port of the external address
// (nat66, no-mapping, raw IPv6 from the TUN) and a Neighbor Solicitation from
// the router for an address nobody claims (ndp, not-ours, an Ethernet frame
// from the uplink's packet socket) land in one pcapng (Linux cooked, the one
// link type for both) that tcpdump reads,
// each with its reason as a comment; -c stops after N; a client that goes
// away mid-capture leaves the daemon forwarding and the capture free. The
// same under `sixgate run` with a real dockerd, for a Docker network's
// external address; under `sixgate ndp` alone the frames keep their Ethernet
// link type.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { requires } from '../support/prereq.js';
import { waitFor } from '../support/wait.js';
import { NatLab, A, CLI, tcpSinkCode } from '../datapath/topology.js';
import { ServiceLab, A as SA } from '../service/topology.js';
import { Lab } from '../support/netns.js';
import { request } from '../../src/service/control.js';
import { readCapture, type CapturePacket } from '../../src/pcap/reader.js';
import { LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_RAW } from '../../src/pcap/linktype.js';

const req = requires({ root: true, tools: ['ip', 'nsenter', 'tcpdump', 'ndisc6'], files: ['/dev/net/tun'] });

const UNPUBLISHED = 9999;
const NOBODY = '2001:db8:1::99';

function config(gw: string): string {
  return `uplink: up0
capacity: 16384
refuse: silent
stateFile: /tmp/${gw}-state.snap
networks:
  - { name: web, bridge: br0, subnets: [fd66:1::/64], externalAddresses: [${A.dedicated}] }
`;
}

function packets(file: string): CapturePacket[] {
  if (!existsSync(file)) return [];
  try {
    return [...readCapture(readFileSync(file))];
  } catch {
    return []; // not even the section header written yet
  }
}

describe('sixgate capture (sixgate nat)', { ...req, timeout: 90_000 }, () => {
  let lab: NatLab;
  let socket: string;
  let file: string;

  before(async () => {
    lab = new NatLab({ withNpt: false, withInet2: false });
    socket = `/tmp/${lab.gw.name}-control.sock`;
    file = `/tmp/${lab.gw.name}-capture.pcapng`;
    await lab.server(lab.inet, tcpSinkCode(5003));
    await lab.startSixgate(config(lab.gw.name), ['--control-socket', socket]);
    await waitFor(() => existsSync(socket), 5000, 'the control socket');
    await request(socket, { op: 'status' });
  });

  after(async () => {
    await lab?.stopSixgate('SIGTERM');
    lab?.destroy();
    if (lab) for (const f of ['state.snap', 'nat.yaml', 'capture.pcapng']) rmSync(`/tmp/${lab.gw.name}-${f}`, { force: true });
  });

  /** One bad packet of each kind: a datagram to an unpublished port, a solicitation for an address nobody claims. */
  async function plant(): Promise<void> {
    await lab.inet.node(`import dgram from 'node:dgram';
const s = dgram.createSocket('udp6'); s.send('bad', ${UNPUBLISHED}, '${A.dedicated}', () => s.close());`, 5000);
    await lab.rt.run('ndisc6', ['-q', '-r', '1', '-w', '100', NOBODY, 'down0'], 5000);
  }

  /** Plants bad packets every 300 ms until `done`. */
  async function plantUntil(done: () => boolean, what: () => string): Promise<void> {
    const end = Date.now() + 15_000;
    while (!done()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what()}\nsixgate log:\n${lab.log.slice(-2000)}`);
      await plant();
      await new Promise((r) => setTimeout(r, 300));
    }
  }

  test('capture --drops writes a pcapng tcpdump reads, each packet with its drop reason and component', async () => {
    rmSync(file, { force: true });
    const client = spawn(process.execPath, [CLI, 'capture', '--drops', '-s', socket, '-w', file], { stdio: 'pipe' });
    let stderr = '';
    client.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const reasons = (): string[] => packets(file).map((p) => p.comment ?? '');
    await plantUntil(() => reasons().some((c) => c.includes('nat66 drop: no-mapping')) && reasons().some((c) => c.includes('ndp drop: not-ours')),
      () => `both drops captured (capture said: ${stderr})`);
    client.kill('SIGINT');
    await once(client, 'exit');
    assert.match(stderr, /^\d+ packets? captured$/m);

    const all = packets(file);
    const nat = all.find((p) => p.comment!.startsWith('sixgate nat66 drop: no-mapping'))!;
    const ndp = all.find((p) => p.comment!.startsWith('sixgate ndp drop: not-ours'))!;
    // Both components in one file: Linux cooked, the one link type tcpdump reads for both.
    assert.deepEqual([nat.linktype, ndp.linktype], [LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL]);
    assert.match(nat.comment!, /\(Inbound packet that matches no session, mapping or published port\.\)/);
    assert.ok(all.every((p) => /^sixgate (nat66|ndp) drop: [a-z0-9-]+ \(/.test(p.comment!)), 'only drops, each with a reason');
    assert.ok(Math.abs(Number(nat.tsNs / 1_000_000n) - Date.now()) < 30_000, 'wall-clock time stamps');

    const decoded = spawnSync(process.execPath, [CLI, 'decode', file], { encoding: 'utf8' });
    assert.match(decoded.stdout, /^ {4}comment: sixgate ndp drop: not-ours \(/m, 'sixgate decode prints the comments');
    const read = spawnSync('tcpdump', ['-n', '-r', file], { encoding: 'utf8' });
    assert.equal(read.status, 0, read.stderr);
    assert.match(read.stdout, new RegExp(`IP6 ${A.inet}\\.\\d+ > ${A.dedicated}\\.${UNPUBLISHED}: UDP, length 3`));
    assert.match(read.stdout, new RegExp(`ICMP6, neighbor solicitation, who has ${NOBODY}`));
  });

  test('-c N stops after N packets (here: -w - into tcpdump), --reason keeps only that reason, --component writes raw IPv6', async () => {
    const client = spawn(process.execPath, [CLI, 'capture', '--reason', 'no-mapping', '--component', 'nat66', '-c', '2', '-s', socket, '-w', '-'], { stdio: 'pipe' });
    const chunks: Buffer[] = [];
    client.stdout.on('data', (d: Buffer) => chunks.push(d));
    await plantUntil(() => client.exitCode !== null, () => 'the capture to stop by itself');
    assert.equal(client.exitCode, 0);
    const got = [...readCapture(Buffer.concat(chunks))];
    assert.equal(got.length, 2);
    assert.ok(got.every((p) => p.comment!.startsWith('sixgate nat66 drop: no-mapping') && p.linktype === LINKTYPE_RAW), got.map((p) => p.comment).join('\n'));
    const read = spawnSync('tcpdump', ['-n', '-r', '-'], { input: Buffer.concat(chunks), encoding: 'utf8' });
    assert.equal(read.status, 0, read.stderr);
    assert.equal(read.stdout.trim().split('\n').length, 2, read.stdout);
  });

  test('a client that goes away mid-capture leaves the daemon forwarding, and the capture free for the next', async () => {
    // Everything (no --drops) while a TCP upload runs: the tap copies every packet.
    const client: ChildProcess = spawn(process.execPath, [CLI, 'capture', '-s', socket, '-w', file], { stdio: 'ignore' });
    const upload = lab.c1.node(`import net from 'node:net';
const s = net.connect({ host: '${A.inet}', port: 5003 }, () => {
  let n = 0; const t = setInterval(() => { s.write(Buffer.alloc(1000, 1)); if (++n === 30) { clearInterval(t); s.end(); } }, 50);
});
let out = ''; s.on('data', (d) => out += d); s.on('end', () => console.log(out.trim()));`, 20_000);
    await waitFor(() => packets(file).some((p) => p.comment?.startsWith('sixgate nat66 outbound: translated and forwarded') === true), 5000, 'forwarded packets captured');
    client.kill('SIGKILL');
    const done = await upload;
    assert.equal(done.stdout.trim(), `peer ${A.dedicated} bytes 30000`, 'the upload completed');
    // The tap was stopped: a new capture is not refused as busy.
    await new Promise((r) => setTimeout(r, 300));
    const again = spawnSync(process.execPath, [CLI, 'capture', '--drops', '-c', '1', '-s', socket, '-w', `${file}.2`], { timeout: 1500, encoding: 'utf8' });
    assert.doesNotMatch(again.stderr, /busy|another sixgate capture/);
    rmSync(`${file}.2`, { force: true });
  });
});

describe('sixgate capture (sixgate run, a real dockerd)', {
  ...requires({ root: true, tools: ['dockerd', 'docker', 'containerd', 'runc', 'nsenter', 'busybox', 'tar', 'ip', 'ndisc6', 'tcpdump'] }), timeout: 120_000,
}, () => {
  let lab: ServiceLab;
  let socket: string;

  before(async () => {
    lab = new ServiceLab();
    await lab.start();
    await lab.docker.docker('network', 'create', '--ipv6', '--subnet', SA.ula, 'ula');
    socket = `/tmp/${lab.rt.name}-control.sock`;
    await lab.startSixgate(['run', '--uplink', 'up0', '--docker-host', `unix://${lab.docker.socket}`, '--status-file', lab.statusFile,
      '--state-file', `/tmp/${lab.rt.name}-state`, '--control-socket', socket, '--refuse', 'silent', '--retry-max-ms', '500', '--cleanup']);
    await lab.waitLog(/docker state applied/, 20_000);
  });

  after(async () => {
    await lab?.destroy();
    if (lab) for (const f of ['state', 'state.model.json', 'capture.pcapng']) rmSync(`/tmp/${lab.rt.name}-${f}`, { force: true });
  });

  test('capture --drops: a datagram to an unpublished port of a network\'s external address, with its reason', async () => {
    const file = `/tmp/${lab.rt.name}-capture.pcapng`;
    const client = spawn(process.execPath, [CLI, 'capture', '--drops', '--component', 'nat66', '-s', socket, '-w', file], { stdio: 'pipe' });
    const ext = lab.external('ula');
    const end = Date.now() + 15_000;
    while (!packets(file).some((p) => p.comment?.startsWith('sixgate nat66 drop: no-mapping') === true)) {
      if (Date.now() > end) throw new Error(`nothing captured\n${lab.text.slice(-2000)}`);
      await lab.inet.node(`import dgram from 'node:dgram';
const s = dgram.createSocket('udp6'); s.send('bad', ${UNPUBLISHED}, '${ext}', () => s.close());`, 5000);
      await new Promise((r) => setTimeout(r, 300));
    }
    client.kill('SIGINT');
    await once(client, 'exit');
    const read = spawnSync('tcpdump', ['-n', '-r', file], { encoding: 'utf8' });
    assert.equal(read.status, 0, read.stderr);
    assert.match(read.stdout, new RegExp(`IP6 ${SA.inet}\\.\\d+ > ${ext}\\.${UNPUBLISHED}: UDP, length 3`));
  });
});

describe('sixgate capture (sixgate ndp)', { ...req, timeout: 60_000 }, () => {
  test('the NDP proxy alone: Ethernet frames, each with its drop reason', async () => {
    const lab = new Lab();
    const host = lab.ns('ndp');
    const rt = lab.ns('rt');
    lab.veth(host, 'up0', rt, 'down0');
    lab.addr(rt, 'down0', '2001:db8:1::1/64');
    const conf = `/tmp/${host.name}-ndppd.conf`;
    const socket = `/tmp/${host.name}-control.sock`;
    writeFileSync(conf, 'proxy up0 {\n  rule 2001:db8:1:1::/64 {\n    static\n  }\n}\n');
    const daemon = host.spawn(process.execPath, [CLI, 'ndp', '-c', conf, '--control-socket', socket]);
    try {
      await waitFor(() => existsSync(socket), 10_000, 'the control socket');
      const client = spawn(process.execPath, [CLI, 'capture', '--drops', '-c', '1', '-s', socket, '-w', '-'], { stdio: 'pipe' });
      const chunks: Buffer[] = [];
      client.stdout.on('data', (d: Buffer) => chunks.push(d));
      const end = Date.now() + 15_000;
      while (client.exitCode === null) {
        if (Date.now() > end) throw new Error('nothing captured');
        await rt.run('ndisc6', ['-q', '-r', '1', '-w', '100', NOBODY, 'down0'], 5000);
        await new Promise((r) => setTimeout(r, 200));
      }
      const [p] = [...readCapture(Buffer.concat(chunks))];
      assert.equal(p!.linktype, LINKTYPE_ETHERNET);
      assert.match(p!.comment!, /^sixgate ndp drop: not-ours \(/);
      const read = spawnSync('tcpdump', ['-n', '-e', '-r', '-'], { input: Buffer.concat(chunks), encoding: 'utf8' });
      assert.match(read.stdout, new RegExp(`ethertype IPv6 .* neighbor solicitation, who has ${NOBODY}`));
    } finally {
      daemon.kill('SIGTERM');
      lab.destroy();
      rmSync(conf, { force: true });
    }
  });
});
