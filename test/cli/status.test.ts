// `sixgate status` and `sixgate flows` against a real `sixgate nat` in the
// NAT66 topology (test/datapath/topology.ts): the status lists the network
// and its published ports; a slow TCP upload shows up as one session with
// the right endpoints and counters that grow; the socket is 0660 and
// root's; a malformed or oversized request is refused while the upload goes
// on untouched.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync, statSync } from 'node:fs';
import { createConnection } from 'node:net';
import { once } from 'node:events';
import { requires } from '../support/prereq.js';
import { waitFor } from '../support/wait.js';
import { NatLab, A, CLI, tcpSinkCode } from '../datapath/topology.js';
import { Lab } from '../support/netns.js';
import { request } from '../../src/service/control.js';
import type { FlowView } from '../../src/service/inspect.js';

const req = requires({ root: true, tools: ['ip', 'nsenter'], files: ['/dev/net/tun'] });

function config(gw: string): string {
  return `uplink: up0
capacity: 16384
networks:
  - { name: web, bridge: br0, subnets: [fd66:1::/64], externalAddresses: [${A.dedicated}] }
published:
  - { protocol: tcp, hostIp: "::", hostPort: 8080, containerAddress: "${A.c1}", containerPort: 80 }
  - { protocol: udp, hostIp: "${A.dedicated}", hostPort: 5353, containerAddress: "${A.c1}", containerPort: 53 }
`.replace('capacity', `stateFile: /tmp/${gw}-state.snap\ncapacity`);
}

/** Runs the CLI (in the root namespace: the socket is a file); resolves to what it printed and its exit status. */
async function sixgate(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: 'pipe' });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

/** Until `pred` resolves true (checked every 100 ms). */
async function until(pred: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A raw line to the socket, and the daemon's one-line answer. */
async function rawRequest(path: string, text: string): Promise<{ error?: { code: string } }> {
  const s = createConnection(path);
  await once(s, 'connect');
  s.write(text);
  let buf = '';
  s.setEncoding('utf8').on('data', (d: string) => { buf += d; });
  await waitFor(() => buf.includes('\n'), 5000, 'an answer');
  s.destroy();
  return JSON.parse(buf.split('\n')[0]!) as { error?: { code: string } };
}

describe('sixgate status and flows (sixgate nat)', { ...req, timeout: 90_000 }, () => {
  let lab: NatLab;
  let socket: string;

  before(async () => {
    lab = new NatLab({ withNpt: false, withInet2: false });
    socket = `/tmp/${lab.gw.name}-control.sock`;
    await lab.server(lab.inet, tcpSinkCode(5003));
    await lab.startSixgate(config(lab.gw.name), ['--control-socket', socket]);
    await until(async () => (await request(socket, { op: 'status' }).then(() => true, () => false)), 5000, 'the control socket answers');
  });

  after(async () => {
    await lab?.stopSixgate('SIGTERM');
    lab?.destroy();
    if (lab) for (const f of ['state.snap', 'nat.yaml']) rmSync(`/tmp/${lab.gw.name}-${f}`, { force: true });
  });

  test('the socket is mode 0660, owned by root', () => {
    const st = statSync(socket);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o660);
    assert.equal(st.uid, 0);
  });

  test('status lists the network, its external address and published ports', async () => {
    const json = await sixgate(['status', '-s', socket, '-o', 'json']);
    assert.equal(json.code, 0, json.stderr);
    const s = JSON.parse(json.stdout) as { daemon: string; health: { state: string }; networks: Array<{ name: string; mode: string; subnets: string[]; externalAddresses: string[]; published: Array<{ protocol: string; host: string; container: string }> }>; uplinks: Array<{ name: string; ndp: { addresses: Array<{ address: string; owner: string }> } | null }> };
    assert.equal(s.daemon, 'nat');
    assert.equal(s.health.state, 'ready');
    const web = s.networks.find((n) => n.name === 'web')!;
    assert.deepEqual([web.mode, web.subnets, web.externalAddresses], ['masquerade (dedicated)', ['fd66:1::/64'], [A.dedicated]]);
    assert.deepEqual(web.published.map((p) => `${p.protocol} ${p.host} ${p.container}`).sort(),
      [`tcp *:8080 [${A.c1}]:80`, `udp [${A.dedicated}]:5353 [${A.c1}]:53`]);
    assert.deepEqual(s.uplinks[0]!.ndp?.addresses.map((a) => [a.address, a.owner]), [[A.dedicated, 'nat66 web']]);
    const table = await sixgate(['status', '-s', socket]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^sixgate nat \(pid \d+\): ready; nat66 ok/);
    assert.match(table.stdout, new RegExp(`published +tcp \\*:8080 → \\[${A.c1}\\]:80`));
  });

  test('flows shows a TCP session with the right endpoints and growing counters; bad requests change nothing', async () => {
    // 60 KB in 1 KB writes over 6 s: a session that lives long enough to be watched.
    const upload = lab.c1.node(`import net from 'node:net';
const s = net.connect({ host: '${A.inet}', port: 5003, localPort: 40404 }, () => {
  let n = 0; const t = setInterval(() => { s.write(Buffer.alloc(1000, 1)); if (++n === 60) { clearInterval(t); s.end(); } }, 100);
});
let out = ''; s.on('data', (d) => out += d); s.on('end', () => console.log(out.trim()));`, 20_000);
    const flows = async (): Promise<FlowView[]> => {
      const r = await sixgate(['flows', '-s', socket, '--proto', 'tcp', '--port', '5003', '-o', 'json']);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as FlowView[];
    };
    let first: FlowView[] = [];
    await until(async () => (first = await flows()).length === 1 && first[0]!.packetsOut > 3, 5000, 'the session listed');
    const f = first[0]!;
    assert.deepEqual([f.protocol, f.state, f.inside, f.insidePort, f.external, f.remote, f.remotePort],
      ['tcp', 'established', A.c1, 40404, A.dedicated, A.inet, 5003]);
    assert.ok(f.expiresInMs > 60_000, `an established session lives long: ${f.expiresInMs}`);

    // Refused, and the daemon goes on forwarding the upload meanwhile.
    assert.equal((await rawRequest(socket, '{"v":1,"op":"flows","port":\n')).error?.code, 'bad-json');
    assert.equal((await rawRequest(socket, `{"v":1,"op":"status","pad":"${'x'.repeat(100_000)}"}\n`)).error?.code, 'too-large');
    assert.equal((await rawRequest(socket, '{"v":1,"op":"flows","proto":"gre"}\n')).error?.code, 'bad-request');

    await new Promise((r) => setTimeout(r, 1000));
    const later = (await flows())[0]!;
    assert.equal(later.externalPort, f.externalPort);
    assert.ok(later.packetsOut > f.packetsOut && later.bytesOut > f.bytesOut, `counters grow: ${f.bytesOut} then ${later.bytesOut}`);
    assert.ok(later.packetsIn > 0, 'ACKs came back');
    const table = await sixgate(['flows', '-s', socket, '--port', '5003']);
    assert.match(table.stdout, new RegExp(`^tcp +established +\\[${A.c1}\\]:40404 +\\[${A.dedicated}\\]:${f.externalPort} +\\[${A.inet}\\]:5003 `, 'm'));
    assert.match(table.stdout, /^1 session$/m);
    assert.equal((await sixgate(['flows', '-s', socket, '--port', '1'])).stdout.trim().split('\n').pop(), '0 sessions');

    const done = await upload;
    assert.equal(done.stdout.trim(), `peer ${A.dedicated} bytes 60000`, 'the upload completed: forwarding never stopped');
  });

  test('flows --watch sees a session open and close (its TCP state), like conntrack -E', async () => {
    const watcher = spawn(process.execPath, [CLI, 'flows', '--watch', '-s', socket, '--port', '5003', '-o', 'json'], { stdio: 'pipe' });
    let out = '';
    watcher.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    try {
      await new Promise((r) => setTimeout(r, 1500)); // the watch's first look
      const client = await lab.c1.node(`import net from 'node:net';
const s = net.connect({ host: '${A.inet}', port: 5003, localPort: 40505 }, () => { s.write('hello'); setTimeout(() => s.end(), 1500); });
s.on('data', () => {}); s.on('end', () => console.log('closed'));`, 10_000);
      assert.equal(client.stdout.trim(), 'closed');
      const events = (): Array<{ event: string; state: string; insidePort: number }> =>
        out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { event: string; state: string; insidePort: number }).filter((e) => e.insidePort === 40505);
      await waitFor(() => events().some((e) => e.event === 'update' && e.state.startsWith('fin')), 5000, `open and close seen:\n${out}`, 50);
      assert.equal(events()[0]!.event, 'new');
    } finally {
      watcher.kill('SIGTERM');
    }
  });

  test('ndp sessions and counters --live answer from the same socket', async () => {
    const sessions = await sixgate(['ndp', 'sessions', '-s', socket]);
    assert.equal(sessions.code, 0, sessions.stderr);
    assert.match(sessions.stdout, /^0 sessions$/m);
    const live = await sixgate(['counters', '--live', '-s', socket]);
    assert.equal(live.code, 0, live.stderr);
    assert.match(live.stdout, /^sixgate_nat_sessions \d+$/m);
    assert.match(live.stdout, /^sixgate_nat_drops_total\{reason="[a-z-]+"\} \d+$/m);
  });

  test('no daemon: one line on stderr, exit 1, nothing on stdout', async () => {
    const r = await sixgate(['flows', '-s', `${socket}.none`]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /no sixgate daemon answers on/);
  });
});

describe('sixgate status under sixgate run (no Docker engine)', { ...req, timeout: 60_000 }, () => {
  test('the uplink, its prefix and NDP state, and the Docker part down', async () => {
    const lab = new Lab();
    const ns = lab.ns('st');
    lab.veth(ns, 'up0', lab.ns('rt'), 'down0');
    lab.addr(ns, 'up0', '2001:db8:a::1/64');
    const socket = `/tmp/${ns.name}-control.sock`;
    const child = ns.spawn(process.execPath, [CLI, 'run', '--uplink', 'up0', '--docker-host', `unix:///tmp/${ns.name}-none.sock`,
      '--status-file', `/tmp/${ns.name}-status.json`, '--control-socket', socket, '--retry-max-ms', '200', '--tun', 'sgtst0']);
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { out += d; });
    try {
      await until(async () => (await request(socket, { op: 'status' }).then(() => true, () => false)), 10_000, `the control socket answers:\n${out}`);
      const r = await sixgate(['status', '-s', socket, '-o', 'json']);
      assert.equal(r.code, 0, r.stderr);
      const s = JSON.parse(r.stdout) as { daemon: string; health: { components: Record<string, { ok: boolean }> }; uplinks: Array<{ name: string; prefixes: string[]; ndp: unknown }>; networks: unknown[] };
      assert.equal(s.daemon, 'run');
      assert.deepEqual([s.uplinks[0]!.name, s.uplinks[0]!.prefixes], ['up0', ['2001:db8:a::/64']]);
      assert.notEqual(s.uplinks[0]!.ndp, null, 'the NDP proxy runs on the uplink');
      assert.equal(s.health.components.docker?.ok, false);
      assert.deepEqual(s.networks, []);
      const table = await sixgate(['status', '-s', socket]);
      assert.match(table.stdout, /^sixgate run \(pid \d+\): (starting|degraded); docker DOWN/);
      assert.match(table.stdout, /^uplink up0 {2}prefixes 2001:db8:a::\/64$/m);
      const live = await sixgate(['counters', '--live', '-s', socket]);
      assert.match(live.stdout, /^sixgate_part_up\{part="docker"\} 0$/m);
    } finally {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
      lab.destroy();
      rmSync(`/tmp/${ns.name}-status.json`, { force: true });
    }
  });
});
