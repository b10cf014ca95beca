// sixgate ndp end to end, in namespaces:
//
//   router (r0 2001:db8:1::1/64) ---- (h0 2001:db8:1::2/64) host (hb0 2001:db8:1::1:1/112) ---- (c0 2001:db8:1::1:5/112) ctr
//
// The router treats the whole /64 as on-link, so it resolves the container's
// address with an NS on r0; only an NDP proxy on h0 can answer it. A UDP
// exchange router -> ctr -> router therefore works exactly when the proxy did.
import { test, describe, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { requires } from '../support/prereq.js';
import { Lab, type Netns } from '../support/netns.js';
import { waitFor } from '../support/wait.js';
import { repoRoot } from '../support/paths.js';
import { PacketSocket } from '../../src/io/packet.js';
import { PacketRing } from '../../src/io/ring.js';
import { icmp6Filter, Icmp6Type } from '../../src/io/bpf.js';
import { parseNd } from '../../src/wire/ndp.js';
import { formatIpv6, formatMac } from '../../src/wire/address.js';
import { ConfigError } from '../../src/errors.js';
import { loadNdppdConfig, parseAddressOptions } from '../../src/proxy/ndp-service.js';
import { EVENT_NAMES } from '../../src/ndp/counters.js';
import { ip, nsFrame, withExtensionHeaders } from '../ndp/fixtures.js';
import { Protocol } from '../../src/wire/ipv6.js';
import { fillL4Checksum } from '../../src/wire/checksum.js';
import { jsonLogs } from '../support/process.js';

const CLI = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
const CTR = '2001:db8:1::1:5';
const ROUTER = '2001:db8:1::1';

interface Daemon {
  child: ChildProcess;
  lines: string[];
  stop(): Promise<void>;
}

describe('sixgate ndp in network namespaces', requires({ root: true, tools: ['ip', 'nsenter', 'ndisc6', 'ndppd'] }), () => {
  let lab: Lab;
  let router: Netns;
  let host: Netns;
  let ctr: Netns;
  let dir: string;
  let hostMac: string;
  let echo: ChildProcess;
  let running: Daemon | undefined;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sixgate-ndp-'));
    lab = new Lab();
    router = lab.ns('router');
    host = lab.ns('host');
    ctr = lab.ns('ctr');
    lab.veth(router, 'r0', host, 'h0');
    lab.veth(host, 'hb0', ctr, 'c0');
    lab.addr(router, 'r0', '2001:db8:1::1/64');
    lab.addr(host, 'h0', '2001:db8:1::2/64');
    lab.addr(host, 'hb0', '2001:db8:1::1:1/112');
    lab.addr(ctr, 'c0', `${CTR}/112`);
    ctr.ip('-6', 'route', 'add', 'default', 'via', '2001:db8:1::1:1');
    host.sysctl('net.ipv6.conf.all.forwarding', '1');
    hostMac = formatMac(host.mac('h0'), 0);
    // Link-local addresses appear once the links are up; the proxy needs them as sources.
    await waitFor(() => /fe80/.test(host.ip('-6', 'addr', 'show', 'dev', 'hb0')) && /fe80/.test(host.ip('-6', 'addr', 'show', 'dev', 'h0')), 5000, 'link-local addresses');
    echo = ctr.spawn(process.execPath, ['-e', `
      const s = require('node:dgram').createSocket('udp6');
      s.on('message', (m, r) => s.send(m, r.port, r.address));
      s.bind(7777, '::', () => console.log('ready'));`]);
    await new Promise<void>((resolve) => echo.stdout!.once('data', () => resolve()));
  });

  afterEach(async () => {
    await running?.stop();
    running = undefined;
  });

  after(() => {
    echo?.kill();
    lab?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(conf: string, args: string[] = [], cmd: 'sixgate' | 'ndppd' = 'sixgate'): Promise<Daemon> {
    const path = join(dir, `${cmd}-${Date.now()}.conf`);
    writeFileSync(path, conf);
    router.ip('neigh', 'flush', 'dev', 'r0');
    const child = cmd === 'sixgate'
      ? host.spawn(process.execPath, [CLI, 'ndp', '-c', path, '-v', ...args], { env: jsonLogs() })
      : host.spawn('ndppd', ['-c', path, ...args]);
    const lines: string[] = [];
    // A chunk can end inside a line (a counters line with a thousand sessions): lines are kept whole.
    const collector = (): ((d: Buffer) => void) => {
      let partial = '';
      return (d) => {
        const parts = (partial + d.toString('utf8')).split('\n');
        partial = parts.pop()!;
        lines.push(...parts.filter((l) => l !== ''));
      };
    };
    child.stdout!.on('data', collector());
    child.stderr!.on('data', collector());
    let exited = false;
    child.once('exit', () => { exited = true; });
    const ready = cmd === 'sixgate' ? /sixgate ndp running/ : /Using configuration file/;
    await waitFor(() => exited || lines.some((l) => ready.test(l)), 10_000, `${cmd} to start`);
    if (exited) throw new Error(`${cmd} exited at start:\n${lines.join('\n')}`);
    if (cmd === 'ndppd') await sleep(300);
    const daemon: Daemon = {
      child, lines,
      stop: async () => {
        if (exited) return;
        const gone = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await Promise.race([gone, sleep(5000)]);
        if (!exited) child.kill('SIGKILL');
      },
    };
    running = daemon;
    return daemon;
  }

  async function counters(d: Daemon): Promise<{ drops: Record<string, number>; events: Record<string, number> }> {
    const before = d.lines.length;
    d.child.kill('SIGUSR1');
    await waitFor(() => d.lines.slice(before).some((l) => l.includes('"msg":"counters"')), 5000, 'counters');
    const line = d.lines.slice(before).find((l) => l.includes('"msg":"counters"'))!;
    // The registry's series for h0 (src/service/counters.ts), zeros included.
    const values = (JSON.parse(line) as { counters: Record<string, Record<string, unknown>> }).counters;
    return {
      drops: values.sixgate_ndp_drops_total!.h0 as Record<string, number>,
      events: Object.fromEntries(EVENT_NAMES.map((e) => [e, values[`sixgate_ndp_${e.replace(/-/g, '_')}_total`]!.h0 as number])),
    };
  }

  async function udpExchange(timeoutMs = 4000): Promise<boolean> {
    const r = await router.node(`
      import { createSocket } from 'node:dgram';
      const s = createSocket('udp6');
      const t = setTimeout(() => { console.log('timeout'); process.exit(1); }, ${timeoutMs});
      s.on('message', (m) => { console.log('reply ' + m); clearTimeout(t); s.close(); });
      s.send('hello', 7777, '${CTR}');`, timeoutMs + 5000);
    return r.code === 0 && r.stdout.includes('reply hello');
  }

  /** An AF_PACKET socket in the router namespace seeing NAs on r0. */
  function routerTap(): { send(frame: Uint8Array): void; adverts(): { dst: string; target: string; s: boolean; o: boolean; r: boolean }[]; close(): void } {
    const sock = router.enter(() => PacketSocket.open({ ifname: 'r0', filter: icmp6Filter({ types: [Icmp6Type.NA] }) }));
    const ring = new PacketRing({ slots: 64, slotSize: 2048 });
    const tx = new PacketRing({ slots: 1, slotSize: 2048 });
    const seen: { dst: string; target: string; s: boolean; o: boolean; r: boolean }[] = [];
    return {
      send(frame) {
        tx.buf.set(frame, tx.offset(0));
        tx.lens[0] = frame.length;
        sock.send(tx, 0, 1);
      },
      adverts() {
        const n = sock.recv(ring);
        for (let i = 0; i < n; i++) {
          const off = ring.offset(i);
          const repr = parseNd(ring.buf, off + 14, ring.lens[i]! - 14);
          if (typeof repr === 'object' && repr.kind === 'na') {
            seen.push({ dst: formatIpv6(repr.dst, 0), target: formatIpv6(repr.target, 0), s: repr.solicited, o: repr.override, r: repr.router });
          }
        }
        return seen;
      },
      close: () => sock.close(),
    };
  }

  // PACKET_MR_ALLMULTI/PROMISC show in dev->flags (sysfs), not in the user flags `ip link` prints.
  function devFlags(): number {
    return parseInt(execFileSync('ip', ['netns', 'exec', host.name, 'cat', '/sys/class/net/h0/flags'], { encoding: 'utf8' }), 16);
  }

  function allmulti(): boolean {
    return (devFlags() & 0x200) !== 0;
  }

  function frameFromRouter(target: string, o: Parameters<typeof nsFrame>[1] = {}): Uint8Array {
    const mac = router.mac('r0');
    return nsFrame(ip(target), { src: ip(ROUTER), slla: mac, frameSrc: mac, ...o });
  }

  test('control: without a proxy the router cannot reach the container', async () => {
    router.ip('neigh', 'flush', 'dev', 'r0');
    assert.equal(await udpExchange(3500), false);
  });

  test('static /128 rule: UDP works, ndisc6 gets our MAC, the solicited-node group is joined', async () => {
    await start(`proxy h0 {\n  rule ${CTR} {\n    static\n  }\n}\n`);
    assert.equal(await udpExchange(), true);
    const out = router.exec('ndisc6', ['-1', '-r', '2', '-w', '1000', CTR, 'r0']);
    assert.match(out, new RegExp(`Target link-layer address: ${hostMac.toUpperCase()}`, 'i'));
    assert.match(host.ip('-6', 'maddr', 'show', 'dev', 'h0'), /ff02::1:ff01:5/);
    const c = await counters(running!);
    assert.ok((c.events['advert-sent'] ?? 0) >= 2, JSON.stringify(c));
  });

  test('iface rule: answered only after the container answers on hb0; autowire adds and removes the route', async () => {
    const d = await start(`proxy h0 {\n  autowire yes\n  rule 2001:db8:1::1:0/112 {\n    iface hb0\n  }\n}\n`);
    assert.ok(allmulti(), 'a prefix rule needs all multicast');
    assert.equal(await udpExchange(), true);
    // The host's own address behind hb0 is answered at once (nobody there would answer the probe).
    const own = router.exec('ndisc6', ['-1', '-r', '2', '-w', '1000', '2001:db8:1::1:1', 'r0']);
    assert.match(own, new RegExp(`Target link-layer address: ${hostMac}`, 'i'));
    const c = await counters(d);
    assert.equal(c.events['session-created'], 1);
    assert.equal(c.events['session-valid'], 1);
    // SIGHUP with the same rules keeps the verified session: the next NS is answered from it.
    d.child.kill('SIGHUP');
    await waitFor(() => d.lines.some((l) => l.includes('configuration reloaded')), 5000, 'reload');
    router.ip('neigh', 'flush', 'dev', 'r0');
    assert.equal(await udpExchange(), true);
    const after = await counters(d);
    assert.equal(after.events['session-created'], 1, 'no new session after the reload');
    await waitFor(() => host.ip('-6', 'route', 'show', CTR).includes('dev hb0'), 3000, 'the autowired route');
    await d.stop();
    running = undefined;
    assert.equal(host.ip('-6', 'route', 'show', CTR).trim(), '', 'route removed at exit');
    assert.ok(!allmulti(), 'ALLMULTI dropped with the socket');
  });

  test('promiscuous yes: IFF_PROMISC while running, gone after SIGTERM; SIGUSR1 dumps the sessions', async () => {
    const d = await start(`proxy h0 {\n  promiscuous yes\n  rule 2001:db8:1::1:0/112 {\n    iface hb0\n  }\n}\n`);
    assert.ok((devFlags() & 0x100) !== 0);
    assert.equal(await udpExchange(), true);
    const before = d.lines.length;
    d.child.kill('SIGUSR1');
    await waitFor(() => d.lines.slice(before).some((l) => l.includes('"msg":"counters"')), 5000, 'the dump');
    const dump = JSON.parse(d.lines.slice(before).find((l) => l.includes('"msg":"counters"'))!) as { sessions: { target: string; state: string }[] };
    assert.deepEqual(dump.sessions.map((x) => [x.target, x.state]), [[CTR, 'valid']]);
    await d.stop();
    running = undefined;
    assert.equal(devFlags() & 0x100, 0);
  });

  test('auto rule: the inner interface comes from the routing table', async () => {
    await start(`proxy h0 {\n  rule 2001:db8:1::/64 {\n    auto\n  }\n}\n`);
    assert.equal(await udpExchange(), true);
    // The router's own address routes back out of h0: never answered.
    const tap = routerTap();
    try {
      tap.send(frameFromRouter('2001:db8:1::77', { src: ip('2001:db8:1::3') }));
      await sleep(300);
      assert.deepEqual(tap.adverts().filter((a) => a.target === '2001:db8:1::77'), []);
    } finally {
      tap.close();
    }
    const c = await counters(running!);
    assert.equal(c.drops['no-route'], 1);
  });

  test('malformed NS are dropped and counted: hop limit 64, bad checksum, multicast target, zero-length option', async () => {
    const d = await start(`proxy h0 {\n  rule ${CTR} {\n    static\n  }\n}\n`);
    const tap = routerTap();
    try {
      tap.send(frameFromRouter(CTR, { hopLimit: 64 }));
      tap.send(frameFromRouter(CTR, { badChecksum: true }));
      tap.send(frameFromRouter('ff02::1', { dst: ip('ff02::1:ff00:1') }));
      tap.send(frameFromRouter(CTR, { extraOptions: [14, 0, 0, 0, 0, 0, 0, 0] }));
      await sleep(300);
      assert.deepEqual(tap.adverts(), [], 'nothing answered');
      const c = await counters(d);
      assert.deepEqual(
        [c.drops['bad-hop-limit'], c.drops['bad-checksum'], c.drops['multicast-target'], c.drops['bad-option-length']],
        [1, 1, 1, 1], JSON.stringify(c));
      tap.send(frameFromRouter(CTR));
      await waitFor(() => tap.adverts().length === 1, 2000, 'the NA for a good NS');
      assert.deepEqual(tap.adverts()[0], { dst: ROUTER, target: CTR, s: true, o: false, r: true });
    } finally {
      tap.close();
    }
  });

  test('DAD: defended for an address in use (NA to ff02::1, S=0), never for a bare static prefix', async () => {
    await start(`proxy h0 {\n  rule ${CTR} {\n    static\n  }\n  rule 2001:db8:1::2:0/112 {\n    static\n  }\n}\n`);
    const tap = routerTap();
    try {
      tap.send(frameFromRouter(CTR, { src: ip('::'), slla: null }));
      tap.send(frameFromRouter('2001:db8:1::2:9', { src: ip('::'), slla: null }));
      await waitFor(() => tap.adverts().length >= 1, 2000, 'the DAD defence');
      await sleep(200);
      assert.deepEqual(tap.adverts(), [{ dst: 'ff02::1', target: CTR, s: false, o: false, r: true }]);
    } finally {
      tap.close();
    }
  });

  /**
   * An AF_PACKET socket on r0 that sends NS for random targets in
   * 2001:db8:1::1:100-ffff from `floodSrc` in batches (frames patched in
   * place from one template) and counts the NAs that come back, by target.
   */
  function flooder(floodSrc: string) {
    const sock = router.enter(() => PacketSocket.open({ ifname: 'r0', filter: icmp6Filter({ types: [Icmp6Type.NA] }) }));
    sock.setReceiveBuffer(32 << 20);
    const rx = new PacketRing({ slots: 256, slotSize: 256 });
    const tx = new PacketRing({ slots: 512, slotSize: 128 });
    const template = frameFromRouter('2001:db8:1::1:100', { src: ip(floodSrc) });
    const icmpLen = template.length - 14 - 40;
    const answers = new Map<string, number>();
    let seed = 12345;
    return {
      answers,
      drain(): void {
        for (let n = sock.recv(rx); n > 0; n = sock.recv(rx)) {
          for (let i = 0; i < n; i++) {
            const repr = parseNd(rx.buf, rx.offset(i) + 14, rx.lens[i]! - 14);
            if (typeof repr !== 'object' || repr.kind !== 'na') continue;
            const target = formatIpv6(repr.target, 0);
            answers.set(target, (answers.get(target) ?? 0) + 1);
          }
        }
      },
      /** One batch: `count` NS for random targets, then `extra` frames. */
      send(count: number, extra: readonly Uint8Array[] = []): void {
        for (let i = 0; i < count; i++) {
          seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
          const low = (seed >>> 16) | 0x100;
          const o = tx.offset(i);
          // Target, its solicited-node group and group MAC: the last two bytes of each.
          tx.buf.set(template, o);
          tx.buf[o + 4] = tx.buf[o + 14 + 38] = tx.buf[o + 14 + 40 + 8 + 14] = low >> 8;
          tx.buf[o + 5] = tx.buf[o + 14 + 39] = tx.buf[o + 14 + 40 + 8 + 15] = low & 0xff;
          fillL4Checksum(tx.buf, o + 14, o + 14 + 40, icmpLen, Protocol.Icmpv6);
          tx.lens[i] = template.length;
        }
        extra.forEach((f, k) => {
          tx.buf.set(f, tx.offset(count + k));
          tx.lens[count + k] = f.length;
        });
        sock.send(tx, 0, count + extra.length);
      },
      close: () => sock.close(),
    };
  }

  // Bounded floods: 200 batches of 500 NS, 5 ms apart (tens of thousands a
  // second, well past the prefix's and the rule's buckets).
  const BATCHES = 200;
  const PER_BATCH = 500;

  /** `batches` flood batches with `frame` after every fourth (at most 50/s), then half a second for the last answers; how many `frame`s went. */
  async function floodAlongside(f: ReturnType<typeof flooder>, batches: number, frame: Uint8Array): Promise<number> {
    let sent = 0;
    for (let b = 0; b < batches; b++) {
      const extra = b % 4 === 0 ? [frame] : [];
      sent += extra.length;
      f.send(PER_BATCH, extra);
      f.drain();
      await sleep(5);
    }
    await sleep(500);
    f.drain();
    return sent;
  }

  test('a flood of random targets inside a static /112 leaves a member it answered before answered (>= 95 %)', async (t) => {
    const d = await start(`proxy h0 {\n  rule 2001:db8:1::1:0/112 {\n    static\n  }\n}\n`);
    const f = flooder(ROUTER);
    const member = frameFromRouter(CTR);
    try {
      // The member is in use: the router resolved it before the flood.
      for (let i = 0; i < 3; i++) {
        f.send(0, [member]);
        await sleep(20);
      }
      await waitFor(() => { f.drain(); return f.answers.get(CTR) === 3; }, 2000, 'the member answered before the flood');
      f.answers.clear();
      // At most 50 NS/s for the member: within its own bucket.
      const memberSent = await floodAlongside(f, BATCHES, member);
      const c = await counters(d);
      const memberAnswers = f.answers.get(CTR) ?? 0;
      t.diagnostic(`member answered ${memberAnswers}/${memberSent}; drops ${JSON.stringify(c.drops)}`);
      assert.ok(c.drops['prefix-rate-limited']! > 0, `the flood exhausted the prefix's bucket: ${JSON.stringify(c.drops)}`);
      assert.ok(memberAnswers >= memberSent * 0.95, `member answered ${memberAnswers}/${memberSent}; ${JSON.stringify(c)}`);
    } finally {
      f.close();
    }
  });

  test('iface rule: during a flood from another neighbour, the router still gets a session and an answer for a container address it never asked for', async (t) => {
    const fresh = '2001:db8:1::1:6';
    ctr.ip('-6', 'addr', 'add', `${fresh}/112`, 'dev', 'c0', 'nodad');
    const d = await start(`proxy h0 {\n  rule 2001:db8:1::1:0/112 {\n    iface hb0\n  }\n}\n`);
    const f = flooder('2001:db8:1::66');
    try {
      // The router's first target is verified before the flood.
      f.send(0, [frameFromRouter(CTR)]);
      await waitFor(() => { f.drain(); return f.answers.get(CTR) === 1; }, 3000, 'the first container address answered');
      let answeredAt = -1;
      for (let b = 0; b < BATCHES; b++) {
        // Mid-flood the router asks for the new address, retrying every 20 batches as a resolver does.
        f.send(PER_BATCH, b >= BATCHES / 2 && b % 20 === 0 && answeredAt < 0 ? [frameFromRouter(fresh)] : []);
        f.drain();
        if (answeredAt < 0 && (f.answers.get(fresh) ?? 0) > 0) answeredAt = b;
        await sleep(5);
      }
      const c = await counters(d);
      t.diagnostic(`answered at batch ${answeredAt}; ${JSON.stringify(c)}`);
      assert.ok(c.drops['prefix-rate-limited']! > BATCHES * PER_BATCH / 2, `the flood was rate-limited: ${JSON.stringify(c.drops)}`);
      assert.ok(answeredAt >= BATCHES / 2, `the new address answered during the flood (batch ${answeredAt}); ${JSON.stringify(c)}`);
      assert.ok(c.events['session-from-reserve']! >= 1, JSON.stringify(c.events));
    } finally {
      f.close();
      ctr.ip('-6', 'addr', 'del', `${fresh}/112`, 'dev', 'c0');
    }
  });

  test('during a flood under an iface rule, NS for exact addresses take the priority socket and are answered exactly once, also after SIGHUP changes the addresses', async (t) => {
    const before = '2001:db8:1::1:5';
    const after = '2001:db8:1::1:6';
    const conf = (exact: string): string => `proxy h0 {\n  rule ${exact} {\n    static\n  }\n  rule 2001:db8:1::1:0/112 {\n    iface hb0\n  }\n}\n`;
    const d = await start(conf(before));
    const confPath = d.child.spawnargs[d.child.spawnargs.indexOf('-c') + 1]!;
    const priorityReceived = async (): Promise<number> => {
      const from = d.lines.length;
      d.child.kill('SIGUSR1');
      await waitFor(() => d.lines.slice(from).some((l) => l.includes('"msg":"counters"')), 5000, 'counters');
      const line = JSON.parse(d.lines.slice(from).find((l) => l.includes('"msg":"counters"'))!) as
        { interfaces: Record<string, { priority?: { match: string; received: number } }> };
      assert.equal(line.interfaces.h0!.priority?.match, 'exact');
      return line.interfaces.h0!.priority.received;
    };
    // The flood's targets (random, low 16 bits >= 0x100) are never exact ones: only the test's NS for them reach the priority socket.
    const f = flooder('2001:db8:1::66');
    try {
      // Half the flood, an NS for `exact` every fourth batch; then how many reached the priority socket.
      const phase = async (exact: string): Promise<number> => {
        const received = await priorityReceived();
        const sent = await floodAlongside(f, BATCHES / 2, frameFromRouter(exact));
        assert.equal(await priorityReceived() - received, sent, `every NS for ${exact} through the priority socket`);
        return sent;
      };
      const sentBefore = await phase(before);
      writeFileSync(confPath, conf(after));
      d.child.kill('SIGHUP');
      await waitFor(() => d.lines.some((l) => l.includes('configuration reloaded')), 5000, 'reload');
      await sleep(50);
      const sentAfter = await phase(after);
      const c = await counters(d);
      t.diagnostic(`answers ${JSON.stringify(Object.fromEntries([before, after].map((a) => [a, f.answers.get(a)])))}; drops ${JSON.stringify(c.drops)}`);
      assert.equal(f.answers.get(before), sentBefore, `each NS for ${before} answered once`);
      // And one unsolicited NA: the engine announces an address new to it.
      assert.equal(f.answers.get(after), sentAfter + 1, `each NS for ${after} answered once`);
      assert.ok(c.drops['prefix-rate-limited']! + c.drops['socket-overflow']! > BATCHES * PER_BATCH / 2, `the flood was shed: ${JSON.stringify(c.drops)}`);
    } finally {
      f.close();
    }
  });

  test('an NS behind a Destination Options header is answered; fragmented NS are dropped and counted (RFC 6980)', async () => {
    const d = await start(`proxy h0 {\n  rule ${CTR} {\n    static\n  }\n}\n`);
    const tap = routerTap();
    try {
      tap.send(withExtensionHeaders(frameFromRouter(CTR), [Protocol.DestinationOptions]));
      await waitFor(() => tap.adverts().length === 1, 2000, 'the NA');
      assert.deepEqual(tap.adverts()[0], { dst: ROUTER, target: CTR, s: true, o: false, r: true });
      tap.send(withExtensionHeaders(frameFromRouter(CTR), [Protocol.Fragment]));
      tap.send(withExtensionHeaders(frameFromRouter(CTR), [Protocol.DestinationOptions, Protocol.Fragment], { more: true }));
      await sleep(300);
      assert.equal(tap.adverts().length, 1, 'fragments are not answered');
      const c = await counters(d);
      assert.equal(c.drops.fragmented, 2, JSON.stringify(c));
    } finally {
      tap.close();
    }
  });

  test('SIGHUP reloads the file: a new rule answers, the old static address stops', async () => {
    const d = await start(`proxy h0 {\n  rule 2001:db8:1::3:1 {\n    static\n  }\n}\n`);
    const confPath = d.child.spawnargs[d.child.spawnargs.indexOf('-c') + 1]!;
    assert.equal(await udpExchange(2500), false);
    writeFileSync(confPath, `proxy h0 {\n  rule ${CTR} {\n    static\n  }\n}\n`);
    d.child.kill('SIGHUP');
    await waitFor(() => d.lines.some((l) => l.includes('configuration reloaded')), 5000, 'reload');
    router.ip('neigh', 'flush', 'dev', 'r0');
    assert.equal(await udpExchange(), true);
    writeFileSync(confPath, 'proxy h0 {\n  rule 2001:db8:1::/64 { statik }\n}\n');
    d.child.kill('SIGHUP');
    await waitFor(() => d.lines.some((l) => l.includes('reload failed')), 5000, 'the reload error');
    assert.ok(d.lines.some((l) => /:2:26: unknown rule option 'statik'/.test(l)));
    router.ip('neigh', 'flush', 'dev', 'r0');
    assert.equal(await udpExchange(), true, 'the previous configuration stays');
  });

  test('-d detaches once running, -p writes the pid file; SIGTERM stops it and removes the file', async () => {
    const conf = join(dir, 'daemon.conf');
    const pidfile = join(dir, 'sixgate-ndp.pid');
    writeFileSync(conf, `proxy h0 {\n  rule ${CTR} {\n    static\n  }\n}\n`);
    router.ip('neigh', 'flush', 'dev', 'r0');
    const r = await host.run(process.execPath, [CLI, 'ndp', '-d', '-p', pidfile, '-c', conf], 15_000);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const pid = Number(readFileSync(pidfile, 'utf8').trim());
    try {
      assert.ok(pid > 0);
      process.kill(pid, 0);
      assert.equal(await udpExchange(), true);
      process.kill(pid, 'SIGTERM');
      await waitFor(() => !existsSync(pidfile), 5000, 'the pid file to go');
    } finally {
      try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
    }
  });

  test('side by side with ndppd 0.2.5 on the same topology', async () => {
    const conf = `proxy h0 {\n  rule ${CTR} {\n    static\n  }\n}\n`;
    const results: Record<string, { udp: boolean; dad: boolean; hop64: boolean }> = {};
    for (const cmd of ['ndppd', 'sixgate'] as const) {
      const d = await start(conf, [], cmd);
      const udp = await udpExchange();
      const tap = routerTap();
      try {
        tap.send(frameFromRouter(CTR, { src: ip('::'), slla: null }));
        await sleep(500);
        const dad = tap.adverts().some((a) => a.dst === 'ff02::1' && a.target === CTR);
        tap.send(frameFromRouter(CTR, { hopLimit: 64 }));
        await sleep(500);
        const hop64 = tap.adverts().some((a) => a.dst === ROUTER && a.target === CTR);
        results[cmd] = { udp, dad, hop64 };
      } finally {
        tap.close();
      }
      await d.stop();
      running = undefined;
    }
    // ndppd 0.2.5 answers the hop-limit-64 NS (no §7.1.1 check) and cannot answer DAD (it sends to ::).
    assert.deepEqual(results, {
      ndppd: { udp: true, dad: false, hop64: true },
      sixgate: { udp: true, dad: true, hop64: false },
    });
  });
  test('the uplink vanishing and coming back: sixgate keeps running and answers again with the new MAC', async () => {
    const d = await start(`proxy h0 {\n  rule ${CTR} {\n    static\n  }\n}\n`);
    host.ip('link', 'del', 'h0');
    await waitFor(() => d.lines.some((l) => l.includes('socket failed')), 5000, 'the failure to be noticed');
    lab.veth(router, 'r0', host, 'h0');
    lab.addr(router, 'r0', '2001:db8:1::1/64');
    lab.addr(host, 'h0', '2001:db8:1::2/64');
    hostMac = formatMac(host.mac('h0'), 0);
    await waitFor(() => d.lines.some((l) => l.includes('all interfaces open again')), 10_000, 'recovery');
    assert.equal(d.child.exitCode, null);
    await waitFor(() => /fe80/.test(router.ip('-6', 'addr', 'show', 'dev', 'r0')), 5000, 'the router link-local address');
    const out = router.exec('ndisc6', ['-1', '-r', '3', '-w', '1000', CTR, 'r0']);
    assert.match(out, new RegExp(`Target link-layer address: ${hostMac}`, 'i'));
    assert.match(host.ip('-6', 'maddr', 'show', 'dev', 'h0'), /ff02::1:ff01:5/, 'the group is joined again');
  });
});

test('loadNdppdConfig reads a file and reports a missing one as ConfigError', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sixgate-ndpconf-'));
  try {
    const path = join(dir, 'ndppd.conf');
    writeFileSync(path, `proxy eth0 {\n  rule ${CTR} {\n    static\n  }\n}\n`);
    const c = await loadNdppdConfig(path);
    assert.equal(c.file, path);
    assert.equal(c.proxies[0]!.iface, 'eth0');
    assert.equal(formatIpv6(c.proxies[0]!.rules[0]!.prefix, 0), CTR);
    await assert.rejects(loadNdppdConfig(join(dir, 'missing.conf')), (e: unknown) =>
      e instanceof ConfigError && e.file === join(dir, 'missing.conf') && /cannot read/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--address IFACE=ADDR values', () => {
  const m = parseAddressOptions(['eth0=2001:db8::1', 'eth0=2001:db8::2', 'eth1=2001:db8::3']);
  assert.deepEqual([...m.entries()].map(([k, v]) => [k, v.map((a) => formatIpv6(a, 0))]), [
    ['eth0', ['2001:db8::1', '2001:db8::2']],
    ['eth1', ['2001:db8::3']],
  ]);
  assert.throws(() => parseAddressOptions(['2001:db8::1']), ConfigError);
  assert.throws(() => parseAddressOptions(['eth0=nope']), ConfigError);
});
