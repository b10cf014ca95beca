// The data path fails closed and repairs itself (`sixgate nat` in the
// topology of topology.ts): the TUN deleted under a UDP load or set down
// while a TCP connection through the NAT is open. A capture on the outside
// link (the router's side) must never show a ULA source; the failure is
// logged within a second, traffic resumes within five and the connection
// survives (the connection table is kept across the repair).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { requires } from '../support/prereq.js';
import { readCapture } from '../../src/pcap/reader.js';
import { formatIpv6 } from '../../src/wire/address.js';
import { NatLab, A, udpEchoCode, udpClientCode } from './topology.js';

const req = requires({ root: true, tools: ['ip', 'tcpdump', 'busybox', 'nsenter'], files: ['/dev/net/tun'] });

function config(gw: string): string {
  return `uplink: up0
stateFile: /tmp/${gw}-state.snap
capacity: 16384
networks:
  - { name: web, bridge: br0, subnets: [fd66:1::/64], externalAddresses: [${A.dedicated}] }
`;
}

/** A TCP client in `ns` that echoes lines through a server; `say` writes one and waits for its echo. */
function echoSession(lab: NatLab, port: number): { say(text: string, ms?: number): Promise<void>; output(): string; close(): void } {
  const client = lab.c1.spawn(process.execPath, ['--input-type=module', '-e', `import net from 'node:net';
const s = net.connect({ host: '${A.inet}', port: ${port} }, () => console.log('connected'));
s.on('data', (d) => console.log('got ' + d.toString().trim()));
s.on('error', (e) => console.log('error ' + e.code));
s.on('close', () => console.log('closed'));
process.stdin.on('data', (d) => s.write(d));`]);
  let out = '';
  client.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
  const waitFor = async (text: string, ms: number): Promise<void> => {
    const end = Date.now() + ms;
    while (!out.includes(text)) {
      if (Date.now() > end) throw new Error(`waited for "${text}"; client said: ${out}\nsixgate:\n${lab.log.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return {
    async say(text, ms = 8000) {
      if (!out.includes('connected')) await waitFor('connected', ms);
      client.stdin!.write(`${text}\n`);
      await waitFor(`got ${text}`, ms);
    },
    output: () => out,
    close: () => client.kill(),
  };
}

/** tcpdump on the router's side of the uplink: the headers of every IPv6 packet; `sources` reads them back. */
async function capture(lab: NatLab, file: string): Promise<{ sources(): string[]; stop(): Promise<void> }> {
  const child: ChildProcess = lab.rt.spawn('tcpdump', ['-i', 'down0', '-n', '-U', '-s', '96', '-w', file, 'ip6']);
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
  const end = Date.now() + 5000;
  while (!err.includes('listening on')) {
    if (child.exitCode !== null || Date.now() > end) throw new Error(`tcpdump did not start: ${err}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    // Ethernet + IPv6: the source address at bytes 22..37.
    sources: () => [...readCapture(readFileSync(file))].filter((p) => p.caplen >= 38).map((p) => formatIpv6(p.data, 22)),
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGINT');
      await exited;
    },
  };
}

const isUla = (a: string): boolean => /^f[cd]/i.test(a);

/** Milliseconds until `text` appears in sixgate's log after `mark` (throws after `ms`). */
async function logged(lab: NatLab, mark: number, text: string, ms: number): Promise<number> {
  const start = Date.now();
  while (!lab.log.slice(mark).includes(text)) {
    if (Date.now() - start > ms) throw new Error(`"${text}" not logged within ${ms} ms:\n${lab.log.slice(mark)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - start;
}

/** Milliseconds until a UDP exchange container → internet succeeds again. */
async function udpBack(lab: NatLab, ms: number): Promise<number> {
  const start = Date.now();
  for (;;) {
    const r = await lab.c1.node(udpClientCode(A.inet, 5002), 3000);
    if (r.stdout.trim() === `peer ${A.dedicated}`) return Date.now() - start;
    if (Date.now() - start > ms) throw new Error(`no UDP answer within ${ms} ms: ${r.stdout}\nsixgate:\n${lab.log.slice(-3000)}`);
  }
}

describe('nat66 data path supervision', { ...req, timeout: 120_000 }, () => {
  let lab: NatLab;
  const pcap = (name: string): string => `/tmp/${lab.gw.name}-${name}.pcap`;

  before(async () => {
    lab = new NatLab({ withNpt: false, withInet2: false });
    await lab.server(lab.inet, udpEchoCode(5002));
    await lab.server(lab.inet, `import net from 'node:net';
net.createServer((s) => { s.on('error', () => {}); s.pipe(s); }).listen(5004, '::', () => console.log('ready'));`);
    await lab.startSixgate(config(lab.gw.name));
  });

  after(async () => {
    await lab?.stopSixgate('SIGKILL');
    lab?.destroy();
    if (lab) for (const f of ['state.snap', 'nat.yaml', 'load.pcap', 'dead.pcap']) rmSync(`/tmp/${lab.gw.name}-${f}`, { force: true });
  });

  test('the fail-closed routes sit under every TUN route, tagged', () => {
    const routes = lab.gw.ip('-6', 'route', 'show', 'table', 'all', 'proto', '166');
    assert.match(routes, /^unreachable default dev lo table 6646 metric 664600/m);
    assert.match(routes, new RegExp(`^unreachable ${A.dedicated} dev lo metric 664600`, 'm'));
  });

  test('TUN deleted under load: no ULA source leaves, down logged < 1 s, traffic back < 5 s, the TCP session survives', async (t) => {
    const session = echoSession(lab, 5004);
    await session.say('before');
    const cap = await capture(lab, pcap('load'));
    // Bounded load: at most 30,000 datagrams in 3 s from the other container.
    const load = lab.c2.node(`import dgram from 'node:dgram';
const s = dgram.createSocket('udp6'); s.on('error', () => {});
const msg = Buffer.alloc(64); let sent = 0; const end = Date.now() + 3000;
const tick = () => { for (let i = 0; i < 10 && sent < 30000; i++, sent++) s.send(msg, 5002, '${A.inet}', () => {});
  if (Date.now() < end && sent < 30000) setTimeout(tick, 1); else setTimeout(() => { console.log(sent); process.exit(0); }, 200); };
tick();`, 10_000);
    await new Promise((r) => setTimeout(r, 500));
    const mark = lab.log.length;
    lab.gw.ip('link', 'del', 'sixgate0');
    const downMs = await logged(lab, mark, 'data path down', 1000);
    await logged(lab, mark, 'data path repaired', 5000);
    const backMs = await udpBack(lab, 5000);
    await session.say('after');
    const sent = Number((await load).stdout.trim());
    await new Promise((r) => setTimeout(r, 300));
    await cap.stop();
    const sources = cap.sources();
    const ula = sources.filter(isUla).length;
    const translated = sources.filter((a) => a === A.dedicated).length;
    session.close();
    assert.equal(ula, 0, `${ula} packets with a ULA source on the outside link`);
    assert.ok(translated > 1000, `the load went out translated (${translated} packets seen, ${sent} sent)`);
    assert.doesNotMatch(session.output(), /error|closed/);
    assert.ok(backMs < 5000, `traffic back after ${backMs} ms`);
    assert.match(lab.gw.ip('-6', 'route', 'show', 'table', '6646'), /^default dev sixgate0/m, 'the route into the new TUN is back');
    const repairMs = /"downMs":(\d+)[^\n]*data path repaired/.exec(lab.log.slice(mark))?.[1];
    t.diagnostic(`TUN deleted: down logged after ${downMs} ms, repaired after ${repairMs} ms; UDP answered again ${backMs} ms after that; ${translated} translated packets, ${sent} sent`);
  });

  test('TUN set down: repaired (brought up, routes re-applied), the TCP session survives', async () => {
    const session = echoSession(lab, 5004);
    await session.say('before');
    const mark = lab.log.length;
    lab.gw.ip('link', 'set', 'sixgate0', 'down');
    await logged(lab, mark, 'data path down', 1000);
    await logged(lab, mark, 'data path repaired', 5000);
    await udpBack(lab, 5000);
    await session.say('after');
    session.close();
    assert.doesNotMatch(session.output(), /error|closed/);
  });

  test('an apply that removes routes through the TUN is not a failure', async () => {
    const { writeFileSync } = await import('node:fs');
    const mark = lab.log.length;
    writeFileSync(`/tmp/${lab.gw.name}-nat.yaml`, config(lab.gw.name).replace(A.dedicated, '2001:db8:1::67'));
    lab.sixgate!.kill('SIGHUP');
    await logged(lab, mark, 'model applied', 8000);
    writeFileSync(`/tmp/${lab.gw.name}-nat.yaml`, config(lab.gw.name));
    lab.sixgate!.kill('SIGHUP');
    await new Promise((r) => setTimeout(r, 300));
    await logged(lab, lab.log.indexOf('model applied', mark) + 1, 'model applied', 8000);
    await new Promise((r) => setTimeout(r, 300));
    assert.doesNotMatch(lab.log.slice(mark), /data path down/);
    await udpBack(lab, 5000);
  });

  test('with sixgate dead and the TUN deleted, container traffic is dropped, never sent untranslated; a restart repairs', async () => {
    await lab.stopSixgate('SIGKILL');
    lab.gw.ip('link', 'del', 'sixgate0');
    const cap = await capture(lab, pcap('dead'));
    const r = await lab.c1.node(udpClientCode(A.inet, 5002), 4000);
    const ping = await lab.c1.run('busybox', ['ping6', '-c', '1', '-W', '1', A.inet], 4000);
    await cap.stop();
    assert.equal(r.stdout.trim(), 'timeout');
    assert.match(ping.stdout + ping.stderr, /unreachable|0 packets received/i);
    assert.deepEqual(cap.sources().filter(isUla), [], 'no ULA source on the outside link');
    await lab.startSixgate(config(lab.gw.name));
    await udpBack(lab, 5000);
  });
});
