// Table fairness end to end (issue 14): one container floods SYNs to a
// blackholed destination (many remotes from a few ports: sessions, up to
// its address quota), another floods one-way UDP from every source port
// (new mappings: it exhausts the external address's UDP pool), while a
// third opens TCP connections and UDP exchanges through the same external
// address. The third must keep >= 99 % of them. Floods are raw-socket
// python3 loops inside the containers' namespaces, bounded in count and time.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { requires } from '../support/prereq.js';
import { NatLab, A, tcpServerCode, udpEchoCode } from './topology.js';
import type { Netns } from '../support/netns.js';

const req = requires({ root: true, tools: ['ip', 'python3'], files: ['/dev/net/tun'] });

const VICTIM = 'fd66:1::4';
const BLACKHOLE = '2001:db8:9::';
const ATTEMPTS = 200;
/**
 * Packets per second per flood. Far below a flooder's full speed: on a
 * shared 2-CPU machine two python loops at full speed starve sixgate itself
 * and the kernel drops at the TUN queue, which measures the CPU, not the
 * table. What matters here is that every flood packet asks for a new
 * session: 4,000 a second reach the quota and the pool's end within 1.1 s.
 */
const RATE = 4_000;

// A small table and a 2,000-port pool make both floods cheap: the SYN
// flooder reaches its address quota (a quarter of 16,384) in a few thousand
// packets, the UDP flooder the pool in 2,000.
const CONFIG = `uplink: up0
capacity: 16384
networks:
  - { name: web, bridge: br0, subnets: [fd66:1::/64], externalAddresses: [${A.dedicated}], portRange: [40000, 41999] }
`;

/** python3: `count` packets (at most `seconds`, `rate` per second) from a raw socket; syn = 16 source ports to ever new remotes, udp = every source port to one remote. */
function floodCode(kind: 'syn' | 'udp', count: number, seconds: number, rate: number): string {
  return `
import socket, struct, time
kind, count, seconds, rate = '${kind}', ${count}, ${seconds}, ${rate}
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_TCP if kind == 'syn' else socket.IPPROTO_UDP)
s.setsockopt(socket.IPPROTO_IPV6, getattr(socket, 'IPV6_CHECKSUM', 7), 16 if kind == 'syn' else 6)
start = time.time()
end = start + seconds
sent = 0
for i in range(count):
    if kind == 'syn':
        s.sendto(struct.pack('!HHIIBBHHH', 20000 + (i & 15), 80, i, 0, 0x50, 0x02, 65535, 0, 0), ('${BLACKHOLE}%x' % (1 + (i >> 4)), 0))
    else:
        s.sendto(struct.pack('!HHHH', 1024 + i % 64000, 9, 8, 0), ('${BLACKHOLE}1', 0))
    sent += 1
    if (i & 255) == 0:
        now = time.time()
        if now > end:
            break
        if start + i / rate > now:
            time.sleep(start + i / rate - now)
print(sent, flush=True)
`;
}

/** node: ATTEMPTS TCP connections and ATTEMPTS UDP exchanges to inet, 8 at a time; prints {tcp, udp} successes. */
function victimCode(): string {
  return `import net from 'node:net';
import dgram from 'node:dgram';
const tcpOnce = () => new Promise((done) => {
  const s = net.connect({ host: '${A.inet}', port: 5001 });
  const t = setTimeout(() => { s.destroy(); done(0); }, 3000);
  s.on('error', () => { clearTimeout(t); done(0); });
  s.once('data', (d) => { clearTimeout(t); s.destroy(); done(String(d).startsWith('peer ${A.dedicated}') ? 1 : 0); });
});
const udpOnce = () => new Promise((done) => {
  const s = dgram.createSocket('udp6');
  const t = setTimeout(() => { s.close(); done(0); }, 2500);
  s.on('message', (m) => { clearTimeout(t); s.close(); done(String(m) === 'peer ${A.dedicated}' ? 1 : 0); });
  // One retry after a second, as resolvers do: a datagram lost on a busy host is not the table's doing.
  const r = setTimeout(() => s.send('hi', 5002, '${A.inet}'), 1000);
  s.on('close', () => clearTimeout(r));
  s.send('hi', 5002, '${A.inet}');
});
const run = async (once) => {
  let ok = 0; let next = 0;
  await Promise.all(Array.from({ length: 8 }, async () => { while (next++ < ${ATTEMPTS}) { const r = await once(); ok += r; } }));
  return ok;
};
const [tcp, udp] = await Promise.all([run(tcpOnce), run(udpOnce)]);
console.log(JSON.stringify({ tcp, udp }));`;
}

describe('NAT fairness under floods', { ...req, timeout: 90_000 }, () => {
  let lab: NatLab;
  let victim: Netns;
  const servers: ChildProcess[] = [];

  before(async () => {
    lab = new NatLab({ withNpt: false, withInet2: false });
    victim = lab.lab.ns('c4');
    lab.lab.veth(victim, 'eth0', lab.gw, 'vc4');
    lab.gw.ip('link', 'set', 'vc4', 'master', 'br0');
    lab.lab.addr(victim, 'eth0', `${VICTIM}/64`);
    victim.ip('-6', 'route', 'add', 'default', 'via', 'fd66:1::1');
    // The flood's destinations: silently dropped upstream, never answered.
    lab.rt.ip('-6', 'route', 'add', 'blackhole', `${BLACKHOLE}/64`);
    servers.push(await lab.server(lab.inet, tcpServerCode(5001)));
    servers.push(await lab.server(lab.inet, udpEchoCode(5002)));
    await lab.startSixgate(CONFIG);
  });

  after(async () => {
    for (const s of servers) s.kill('SIGKILL');
    await lab?.stopSixgate('SIGKILL');
    lab?.destroy();
    if (lab) rmSync(`/tmp/${lab.gw.name}-nat.yaml`, { force: true });
  });

  test('a container flooding SYNs and one exhausting the UDP ports leave another >= 99 % of its new connections', async () => {
    const calm = JSON.parse((await victim.node(victimCode(), 30_000)).stdout.trim().split('\n').pop() ?? '{}') as { tcp: number; udp: number };
    assert.deepEqual(calm, { tcp: ATTEMPTS, udp: ATTEMPTS }, 'without floods');
    const syn = lab.c1.run('python3', ['-c', floodCode('syn', 40_000, 10, RATE)], 20_000);
    const udp = lab.c2.run('python3', ['-c', floodCode('udp', 40_000, 10, RATE)], 20_000);
    // Let both floods reach the quota and the pool's end before measuring.
    await new Promise((r) => setTimeout(r, 1500));
    const r = await victim.node(victimCode(), 30_000);
    const floods = [await syn, await udp];
    const sent = floods.map((f) => Number(f.stdout.trim()));
    const result = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { tcp: number; udp: number };
    const tunStats = lab.gw.ip('-s', 'link', 'show', 'sixgate0');
    // SIGTERM: sixgate logs its counters on the way out.
    await lab.stopSixgate('SIGTERM');
    const detail = `victim ${JSON.stringify(result)} of ${ATTEMPTS} each; floods sent ${sent.join(' SYN, ')} UDP\n${tunStats}\n${lab.log.slice(-3000)}`;
    assert.ok(sent[0]! > 10_000 && sent[1]! > 10_000, `the floods ran: ${detail}`);
    assert.ok(result.tcp >= 0.99 * ATTEMPTS, `TCP: ${detail}`);
    assert.ok(result.udp >= 0.99 * ATTEMPTS, `UDP: ${detail}`);
    // The SYN flooder hit its quota and was named, once (rate-limited).
    assert.match(lab.log, new RegExp(`"address":"${A.c1}".*"quota":"address".*NAT session quota reached`));
  });
});
