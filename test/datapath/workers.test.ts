// End to end with two packet workers (`sixgate nat --workers 2`): a
// multi-queue TUN steered by the eBPF program of queue-steering.ts, one
// engine shard per worker. The core cases of e2e.test.ts (outbound TCP, UDP,
// ping, fragments, published ports, hairpin, ICMPv6 errors about a flow; the
// fast path, each worker promoting and syncing its own sessions), and
// many flows from many inside addresses and ports: spread over both workers,
// each answered and translated back. c1 and c2 hash to different workers
// (queue-steering.test.ts computes where each address goes).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { requires } from '../support/prereq.js';
import { waitFor } from '../support/wait.js';
import { request } from '../../src/service/control.js';
import {
  NatLab, A, CLI, tcpServerCode, tcpClientCode, tcpSinkCode, udpEchoCode, udpClientCode,
  udpMirrorCode, udpPingPongCode, fragmentedUdpClientCode, uploadClientCode, tcpMirrorCode, MirrorClient, checkPublishedAndHairpin,
} from './topology.js';
import { addressWords, shardSlice } from '../../src/nat/engine-config.js';
import { workerOfAddress } from '../../src/datapath/queue-steering.js';
import { formatIpv6, parseIpv6 } from '../../src/wire/address.js';
import { readCapture } from '../../src/pcap/reader.js';

const req = requires({ root: true, tools: ['ip', 'busybox', 'nsenter'], files: ['/dev/net/tun'] });

const MB = 1 << 20;
const WORKERS = 2;
const PORT_RANGE: [number, number] = [1024, 65535];

function workerOf(address: string): number {
  const words = new Uint32Array(4);
  addressWords(parseIpv6(address), words, 0);
  return workerOfAddress(words, 0, WORKERS);
}

/** The TCP packets of a raw-IPv6 capture file as "SRC.PORT > DST.PORT" (none while the file is not written yet). */
function capturedTcp(file: string): string[] {
  if (!existsSync(file)) return [];
  try {
    return [...readCapture(readFileSync(file))].filter((p) => p.data[6] === 6).map((p) => {
      const port = (off: number): number => (p.data[off]! << 8) | p.data[off + 1]!;
      return `${formatIpv6(p.data, 8)}.${port(40)} > ${formatIpv6(p.data, 24)}.${port(42)}`;
    });
  } catch {
    return []; // not even the section header written yet
  }
}

async function counters(): Promise<Record<string, number>> {
  return (await request(controlSocket, { op: 'counters' }) as { counters: Record<string, number> }).counters;
}

/** The per-network series of network `web`: packets each way and sessions. */
async function webSeries(): Promise<{ out: number; in: number; sessions: number }> {
  const c = (await request(controlSocket, { op: 'counters' }) as { counters: Record<string, Record<string, unknown>> }).counters;
  const packets = c.sixgate_network_packets_total?.web as { out: number; in: number } | undefined;
  return { out: packets?.out ?? 0, in: packets?.in ?? 0, sessions: (c.sixgate_network_sessions?.web as number | undefined) ?? 0 };
}


let stateFile = '';
let controlSocket = '';

function args(): string[] {
  return ['--workers', String(WORKERS), '--control-socket', controlSocket, '-v'];
}

function config(extraPublished = ''): string {
  return `uplink: up0
stateFile: ${stateFile}
capacity: 16384
networks:
  - { name: web, bridge: br0, subnets: [fd66:1::/64], externalAddresses: [${A.dedicated}] }
published:
  - { protocol: tcp, hostIp: "::", hostPort: 8080, containerAddress: "${A.c1}", containerPort: 80 }
  - { protocol: udp, hostIp: "", hostPort: 5353, containerAddress: "${A.c1}", containerPort: 53 }
${extraPublished}`;
}

/** UDP echo answering "ADDR PORT" of the sender, as the internet sees it. */
const UDP_PEER_ECHO = `import dgram from 'node:dgram';
const s = dgram.createSocket('udp6');
s.on('message', (m, r) => s.send(r.address + ' ' + r.port + ' ' + m, r.port, r.address));
s.bind(5010, '::', () => console.log('ready'));`;

/** From each of `sources` (inside addresses of c1), `perSource` sockets each send to the echo and wait for their own answer. */
function manyFlowsCode(sources: readonly string[], perSource: number): string {
  return `import dgram from 'node:dgram';
const sources = ${JSON.stringify(sources)};
const seen = []; let open = 0;
const done = () => { console.log(JSON.stringify(seen)); process.exit(0); };
setTimeout(done, 6000);
for (const src of sources) for (let k = 0; k < ${perSource}; k++) {
  const s = dgram.createSocket('udp6'); open++;
  s.bind(0, src, () => {
    const tag = src + '/' + s.address().port;
    let tries = 0;
    const t = setInterval(() => { if (tries++ < 5) s.send(tag, 5010, '${A.inet}'); }, 300);
    s.send(tag, 5010, '${A.inet}');
    s.on('message', (m) => { clearInterval(t); const [ext, port, back] = m.toString().split(' '); seen.push({ tag, ext, port: Number(port), back }); s.close(); if (--open === 0) done(); });
  });
}`;
}

describe('nat66 data path with two workers', { ...req, timeout: 90_000 }, () => {
  let lab: NatLab;
  const servers: ChildProcess[] = [];
  /** A TCP connection from c1 and one from c2 (one on each worker) to a new mirror on inet's `port`, each having said `lines`. */
  const mirrorClients = async (port: number, ...lines: string[]): Promise<MirrorClient[]> => {
    servers.push(await lab.server(lab.inet, tcpMirrorCode(port)));
    const clients = [lab.c1, lab.c2].map((c) => new MirrorClient(c, A.inet, port, () => lab.log));
    for (const c of clients) {
      await c.waitFor('connected');
      for (const line of lines) await c.say(line);
    }
    return clients;
  };

  before(async () => {
    lab = new NatLab({ withNpt: false });
    stateFile = `/tmp/${lab.gw.name}-state.snap`;
    controlSocket = `/tmp/${lab.gw.name}-control.sock`;
    servers.push(await lab.server(lab.inet, tcpServerCode(5001, 8 * MB)));
    servers.push(await lab.server(lab.inet, udpEchoCode(5002)));
    servers.push(await lab.server(lab.inet, UDP_PEER_ECHO));
    servers.push(await lab.server(lab.inet2, tcpSinkCode(5003)));
    servers.push(await lab.server(lab.c1, tcpServerCode(80, MB)));
    servers.push(await lab.server(lab.c1, udpEchoCode(53)));
    await lab.startSixgate(config(), args());
  });

  after(async () => {
    await lab?.stopSixgate('SIGKILL');
    lab?.destroy();
    if (lab) for (const f of ['nat.yaml', 'control.sock', 'state.snap.worker0of2', 'state.snap.worker1of2', 'state.snap.config.json']) rmSync(`/tmp/${lab.gw.name}-${f}`, { force: true });
  });

  test('two queues, steered by an eBPF program; c1 and c2 on different workers', () => {
    assert.match(lab.log, /"workers":2/);
    assert.notEqual(workerOf(A.c1), workerOf(A.c2), 'the cases below cover both workers');
    const link = lab.gw.exec('ip', ['-d', 'link', 'show', 'sixgate0']);
    assert.match(link, /multi_queue/, link);
  });

  test('outbound TCP, UDP and ping: translated both ways; TCP from either worker on the fast path, counted by its worker', async () => {
    const r = await lab.nodeResult(lab.c1, tcpClientCode(A.inet, 5001));
    assert.equal(r.peer, A.dedicated);
    assert.equal(r.bytes, 8 * MB);
    const r2 = await lab.nodeResult(lab.c2, tcpClientCode(A.inet, 5001));
    assert.equal(r2.bytes, 8 * MB);
    // The fast path's counts come back once a second, through each worker's published counters.
    let c: Record<string, number> = {};
    for (const end = Date.now() + 3000; Date.now() < end; await new Promise((res) => setTimeout(res, 200))) {
      c = (await request(controlSocket, { op: 'counters' }) as { counters: Record<string, number> }).counters;
      if (c.sixgate_nat_offload_promotions_total! >= 2 && c.sixgate_nat_offloaded_sessions === 0) break;
    }
    assert.ok(c.sixgate_nat_offload_promotions_total! >= 2, `both downloads promoted: ${c.sixgate_nat_offload_promotions_total}`);
    assert.equal(c.sixgate_nat_offloaded_sessions, 0, 'and demoted by their FINs');
    assert.ok(c.sixgate_nat_offload_in_packets_total! > c.sixgate_nat_tun_rx_packets_total!, `fast ${c.sixgate_nat_offload_in_packets_total}, TUN ${c.sixgate_nat_tun_rx_packets_total}`);
    const udp = await lab.c2.node(udpClientCode(A.inet, 5002), 5000);
    assert.equal(udp.stdout.trim(), `peer ${A.dedicated}`);
    for (const c of [lab.c1, lab.c2]) {
      const ping = await c.run('busybox', ['ping6', '-c', '2', '-W', '2', A.inet], 8000);
      assert.match(ping.stdout, /2 packets received/);
    }
  });

  test("per-network series: the workers' sums, matching what containers on both workers sent and received", async () => {
    // The counts of the flows before this one settle first (the fast path's come back once a second).
    let before = await webSeries();
    for (let last = { ...before, out: -1 }; before.out !== last.out || before.in !== last.in;) {
      last = before;
      await new Promise((r) => setTimeout(r, 1200));
      before = await webSeries();
    }
    const each = 50;
    for (const c of [lab.c1, lab.c2]) assert.equal((await lab.nodeResult<{ got: number }>(c, udpPingPongCode(A.inet, 5002, each))).got, each);
    // The fast path's share comes back with each worker's next sync (once a second), then its next publish.
    const want = { out: before.out + 2 * each, in: before.in + 2 * each };
    let now = before;
    await waitFor(async () => {
      now = await webSeries();
      return now.out === want.out && now.in === want.in;
    }, 4000, `web's series ${JSON.stringify(want)}`).catch(() => assert.deepEqual({ out: now.out, in: now.in }, want));
    assert.ok(now.sessions >= 2, `the two flows' sessions counted: ${now.sessions}`);
  });

  test('fragmented UDP (4000-byte datagrams) crosses both ways, from containers of either worker', async () => {
    servers.push(await lab.server(lab.inet, udpMirrorCode(5005)));
    for (const c of [lab.c1, lab.c2]) {
      const r = await c.node(fragmentedUdpClientCode(A.inet, 5005), 5000);
      assert.equal(r.stdout.trim(), 'same');
    }
  });

  test('published ports and hairpin reach the container (c2 is on the other worker)', async () => {
    await checkPublishedAndHairpin(lab);
  });

  test('ICMPv6 errors about a flow reach its worker: PMTUD through an MTU-1280 hop, traceroute', async () => {
    const r = await lab.nodeResult(lab.c2, uploadClientCode(A.inet2, 5003, 2 * MB));
    assert.equal(r.bytes, 2 * MB);
    const tr = await lab.c1.run('busybox', ['traceroute6', '-n', '-q', '1', '-m', '4', '-w', '1', A.inet], 15_000);
    assert.match(tr.stdout, new RegExp(`\\s${A.rt}\\s`), tr.stdout);
  });

  test("SIGHUP: a port published in the other worker's slice reaches its container (every shard reconfigured, the steering reloaded)", async () => {
    const port = shardSlice(PORT_RANGE[0], PORT_RANGE[1], 1, WORKERS)[0] + 100;
    assert.equal(workerOf(A.c1), 0);
    await lab.reload(config(`  - { protocol: tcp, hostIp: "::", hostPort: ${port}, containerAddress: "${A.c1}", containerPort: 80 }\n`));
    const r = await lab.nodeResult(lab.inet, tcpClientCode(A.dedicated, port));
    assert.equal(r.peer, A.inet);
    assert.equal(r.bytes, MB);
  });

  test('many flows from many inside addresses and ports: both workers map, every answer comes back translated', async () => {
    const sources = Array.from({ length: 8 }, (_, i) => `fd66:1::${(0x100 + i).toString(16)}`);
    for (const s of sources) lab.c1.ip('-6', 'addr', 'add', `${s}/64`, 'dev', 'eth0', 'nodad');
    const seen = await lab.nodeResult<Array<{ tag: string; ext: string; port: number; back: string }>>(lab.c1, manyFlowsCode(sources, 8));
    assert.equal(seen.length, sources.length * 8, 'every flow answered');
    for (const f of seen) {
      assert.equal(f.ext, A.dedicated);
      assert.equal(f.back, f.tag, 'each answer reached the socket that asked');
    }
    const slices = Array.from({ length: WORKERS }, (_, w) => shardSlice(PORT_RANGE[0], PORT_RANGE[1], w, WORKERS));
    const used = new Set(seen.map((f) => slices.findIndex(([lo, hi]) => f.port >= lo && f.port <= hi)));
    assert.deepEqual([...used].sort(), [0, 1], `external ports from both workers' slices: ${seen.map((f) => f.port).join(' ')}`);
    // `sixgate flows` gathers the sessions from both shards.
    const listed = spawnSync(process.execPath, [CLI, 'flows', '-s', controlSocket, '--proto', 'udp', '--port', '5010', '-o', 'json'], { encoding: 'utf8' });
    assert.equal(listed.status, 0, listed.stderr);
    const flows = JSON.parse(listed.stdout) as Array<{ id: number; insidePort: number; externalPort: number }>;
    assert.equal(flows.length, seen.length);
    assert.deepEqual(new Set(flows.map((f) => f.externalPort)), new Set(seen.map((f) => f.port)));
    assert.equal(new Set(flows.map((f) => f.id)).size, flows.length, 'ids unique over the shards');
    // The counters are the shards' sums.
    const { counters } = (await request(controlSocket, { op: 'counters' }) as { counters: Record<string, number> });
    assert.ok(counters.sixgate_nat_sessions! >= flows.length, `sessions ${counters.sixgate_nat_sessions}`);
    assert.ok(counters.sixgate_nat_out_packets_total! >= seen.length, `out packets ${counters.sixgate_nat_out_packets_total}`);
    assert.ok(counters.sixgate_nat_tun_rx_packets_total! >= 2 * seen.length, `TUN packets ${counters.sixgate_nat_tun_rx_packets_total}`);
  });

  test("sixgate capture: each worker's fast path steps aside, the capture sees both directions of a flow on each worker", async () => {
    const clients = await mirrorClients(5007, 'one', 'two');
    let c = await counters();
    await waitFor(async () => (c = await counters()).sixgate_nat_offloaded_sessions! >= 2, 3000, 'both connections offloaded');
    const file = `/tmp/${lab.gw.name}-capture.pcapng`;
    const capture = spawn(process.execPath, [CLI, 'capture', '--component', 'nat66', '-s', controlSocket, '-w', file], { stdio: 'ignore' });
    const gone = new Promise((r) => capture.on('exit', r));
    try {
      await waitFor(async () => (c = await counters()).sixgate_nat_offloaded_sessions === 0, 3000, 'both taken back to the TUN');
      assert.ok(c.sixgate_nat_offload_demoted_capture_total! >= 2, `demoted by the capture: ${c.sixgate_nat_offload_demoted_capture_total}`);
      for (const client of clients) await client.say('three');
      // Outbound as read from the container (by the worker its source goes to); inbound to the external port, which lies in its worker's slice.
      const slices = Array.from({ length: WORKERS }, (_, w) => shardSlice(PORT_RANGE[0], PORT_RANGE[1], w, WORKERS));
      const seen = (): { out: Set<number>; inSlices: Set<number> } => {
        const out = new Set<number>();
        const inSlices = new Set<number>();
        for (const line of capturedTcp(file)) {
          const m = /^(\S+)\.\d+ > (\S+)\.(\d+)$/.exec(line)!;
          if (m[2] === A.inet) out.add(workerOf(m[1]!));
          if (m[1] === A.inet && m[2] === A.dedicated) inSlices.add(slices.findIndex(([lo, hi]) => Number(m[3]) >= lo && Number(m[3]) <= hi));
        }
        return { out, inSlices };
      };
      await waitFor(() => seen().out.size === 2 && seen().inSlices.size === 2, 3000, 'both directions from both workers captured');
      assert.deepEqual([...seen().out].sort(), [0, 1]);
      assert.deepEqual([...seen().inSlices].sort(), [0, 1]);
    } finally {
      capture.kill('SIGINT');
      await gone;
      rmSync(file, { force: true });
    }
    // Over (the daemon stops the taps at its next drain): each worker promotes its flow again at its next packet.
    await new Promise((r) => setTimeout(r, 300));
    for (const client of clients) await client.say('four');
    await waitFor(async () => (await counters()).sixgate_nat_offloaded_sessions! >= 2, 3000, 'both promoted again');
    for (const client of clients) client.child.kill();
  });

  test('-v and the quota line come from both workers: each session opened is logged, a container at its quota is named', async () => {
    const mark = lab.log.length;
    const lines = (): Array<Record<string, unknown>> => lab.log.slice(mark).split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const c of [lab.c1, lab.c2]) assert.match((await c.run('busybox', ['ping6', '-c', '1', '-W', '2', A.inet], 5000)).stdout, /1 packets received/);
    // By the worker of the inside address (c1 pings from an address the flows test gave it).
    const workers = (): Set<number> => new Set(lines().filter((l) => l.msg === 'NAT session opened' && l.proto === 'icmpv6').map((l) => workerOf(String(l.inside).replace(/^\[(.*)\]:\d+$/, '$1'))));
    await waitFor(() => workers().size === WORKERS, 3000, `the pings' sessions logged:\n${lab.log.slice(mark).slice(-2000)}`);
    // c2 (worker 1) opens more UDP flows than its quota allows.
    await lab.reload(`${config()}addressQuota: 4\n`);
    await lab.c2.node(`import dgram from 'node:dgram';
for (let k = 0; k < 8; k++) { const s = dgram.createSocket('udp6'); s.bind(0, () => s.send('q', 5009, '${A.inet}')); }
setTimeout(() => process.exit(0), 300);`, 5000);
    await waitFor(() => lines().some((l) => l.msg?.toString().startsWith('NAT session quota reached') === true && l.address === A.c2 && l.quota === 'address'),
      3000, `the quota line:\n${lab.log.slice(mark).slice(-2000)}`);
    await lab.reload(config());
  });

  test('the TUN deleted: every worker attaches a queue of the new one, both forward again', async () => {
    const mark = lab.log.length;
    lab.gw.ip('link', 'del', 'sixgate0');
    await lab.logged(mark, 'data path repaired');
    for (const c of [lab.c1, lab.c2]) {
      const udp = await c.node(udpClientCode(A.inet, 5002), 5000);
      assert.equal(udp.stdout.trim(), `peer ${A.dedicated}`);
    }
  });

  test('a crash and a restart: each worker adopts its shard from its state file, long-lived connections on both go on', async () => {
    const clients = await mirrorClients(5004, 'before');
    await lab.stopSixgate('SIGKILL');
    const mark = lab.log.length;
    await lab.startSixgate(config(), args());
    const restored = lab.log.slice(mark).split('\n').filter((l) => l.includes('connection table restored'));
    assert.equal(restored.length, WORKERS, lab.log.slice(mark));
    for (const line of restored) assert.ok((JSON.parse(line) as { sessions: number }).sessions >= 1, line);
    for (const c of clients) {
      await c.say('after');
      assert.doesNotMatch(c.out, /error/);
      c.child.kill();
    }
  });

  test("--cleanup: a stop removes the TUN and every shard's state file", async () => {
    await lab.stopSixgate('SIGKILL');
    await lab.startSixgate(config(), [...args(), '--cleanup']);
    const files = [0, 1].map((w) => `${stateFile}.worker${w}of${WORKERS}`);
    for (const f of files) assert.ok(existsSync(f), f);
    assert.equal(await lab.stopSixgate('SIGTERM'), 0);
    for (const f of files) assert.ok(!existsSync(f), `${f} removed`);
    assert.doesNotMatch(lab.gw.exec('ip', ['link', 'show']), /sixgate0/);
  });
});
