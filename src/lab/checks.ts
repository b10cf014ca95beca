// What `sixgate lab` verifies, each from the side a user would look from:
//  - the router sends its own Neighbor Solicitations for the global
//    container (a raw ICMPv6 socket in sglab-router) and times the answer;
//  - HTTP requests between namespaces (probe.js in each) show which source
//    address the other side saw: the NAT's external address going out, the
//    real client address on a published port, an answer on the hairpin.
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Icmp6Addr, Icmp6Meta, Icmp6Socket, PacketRing } from '../io/index.js';
import { formatMac, parseIpv6, writeSolicitedNode } from '../wire/address.js';
import type { Netns } from './netns.js';
import type { GetResult } from './probe.js';
import type { Runner } from './static.js';
import { ADDR, PUBLISHED_PORT, WEB_PORT, type LabContainers } from './topology.js';

export interface CheckResult {
  readonly ok: boolean;
  readonly text: string;
}

export function formatCheck(c: CheckResult): string {
  return `${c.ok ? '✓' : '✗'} ${c.text}`;
}

const ms = (v: number): string => `${v < 10 ? v.toFixed(2) : v.toFixed(0)} ms`;
/** The handshake is the network's share; the whole GET adds a fresh node's first-request warm-up. */
const took = (r: GetResult): string => (r.connectMs === undefined ? ms(r.ms!) : `TCP handshake ${ms(r.connectMs)}, reply in ${ms(r.ms!)}`);

const NS_TYPE = 135;
const NA_TYPE = 136;
const NS_BODY = 32;
/** One cold solicitation and enough warm ones for a steady median. */
const NS_PROBES = 10;

export interface NsProbeResult {
  /** Round trips in ms of the answered solicitations, in order. */
  readonly rtts: number[];
  /** The link-layer address the answers carried (who answered). */
  readonly mac: string | undefined;
}

/** Sends `count` NS for `target` from `ns` out of `dev` (one at a time) and times each NA. */
export async function nsProbe(ns: Netns, dev: string, source: string, target: string, count: number, timeoutMs = 1000): Promise<NsProbeResult> {
  const ifindex = ns.ifindex(dev);
  const mac = ns.mac(dev);
  const targetBytes = parseIpv6(target);
  const sock = ns.enter(() => Icmp6Socket.open({ ifname: dev, types: [NA_TYPE] }));
  const tx = new PacketRing({ slots: 1, slotSize: 128 });
  const rx = new PacketRing({ slots: 8, slotSize: 2048 });
  const b = tx.buf;
  b.fill(0, 0, NS_BODY);
  b[0] = NS_TYPE;
  b.set(targetBytes, 8);
  b[24] = 1; // Source Link-Layer Address option, 8 bytes
  b[25] = 1;
  b.set(mac, 26);
  tx.lens[0] = NS_BODY;
  tx.meta[Icmp6Meta.HOP_LIMIT] = 255;
  tx.meta[Icmp6Meta.IFINDEX] = ifindex;
  tx.addr.set(parseIpv6(source), Icmp6Addr.SRC);
  writeSolicitedNode(targetBytes, 0, tx.addr, Icmp6Addr.DST);
  let waiting: ((at: number) => void) | undefined;
  let answerMac: string | undefined;
  sock.onReadable(() => {
    const at = performance.now();
    const n = sock.recv(rx);
    for (let i = 0; i < n; i++) {
      const off = rx.offset(i);
      const len = rx.lens[i]!;
      if (len < 24 || rx.buf[off] !== NA_TYPE) continue;
      let match = true;
      for (let k = 0; k < 16; k++) if (rx.buf[off + 8 + k] !== targetBytes[k]) match = false;
      if (!match) continue;
      // Target Link-Layer Address option right after the target, when present.
      if (len >= 32 && rx.buf[off + 24] === 2) answerMac = formatMac(rx.buf, off + 26);
      waiting?.(at);
    }
  });
  const rtts: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const answered = new Promise<number | undefined>((resolve) => {
        const timer = setTimeout(() => resolve(undefined), timeoutMs);
        waiting = (at) => { clearTimeout(timer); resolve(at); };
      });
      const sent = performance.now();
      if (sock.send(tx, 0, 1) !== 1) throw new Error('the router could not send its solicitation');
      const at = await answered;
      waiting = undefined;
      if (at !== undefined) rtts.push(at - sent);
      await sleep(20);
    }
  } finally {
    sock.close();
  }
  return { rtts, mac: answerMac };
}

/** One GET from inside a namespace (probe.js), retried until it succeeds or `deadlineMs` passes. */
export async function httpGet(run: Runner, netns: string, url: string, deadlineMs = 10_000): Promise<GetResult & { tries: number }> {
  const end = Date.now() + deadlineMs;
  let last: GetResult = { ok: false, error: 'not tried' };
  for (let tries = 1; ; tries++) {
    last = await probeOnce(run, netns, url);
    if (last.ok || Date.now() > end) return { ...last, tries };
    await sleep(200);
  }
}

function probeOnce(run: Runner, netns: string, url: string): Promise<GetResult> {
  return new Promise((resolve) => {
    const child = spawn('nsenter', [`--net=${netns}`, '--', run.node, run.probe, 'get', url, '3000'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('error', (err) => { clearTimeout(timer); resolve({ ok: false, error: err.message }); });
    child.once('close', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(out.trim().split('\n').pop() ?? '') as GetResult);
      } catch {
        resolve({ ok: false, error: `probe printed ${JSON.stringify(out.slice(0, 200))}` });
      }
    });
  });
}

/** "peer ADDR" (busybox httpd puts IPv6 in brackets) → ADDR. */
export function peerOf(body: string | undefined): string | undefined {
  const m = /^peer \[?([0-9A-Fa-f:.]+)\]?$/.exec(body?.trim() ?? '');
  return m?.[1];
}

export interface CheckContext {
  readonly run: Runner;
  /** sglab-host, where sixgate (and dockerd) run. */
  readonly host: Netns;
  readonly router: Netns;
  readonly internet: Netns;
  /** sglab-host's uplink MAC: an NA carrying it came from sixgate. */
  readonly hostMac: string;
  readonly containers: LabContainers;
  readonly external: string;
  /** The path of the containers' web servers ("/" for probe.js, the CGI with Docker). */
  readonly webPath: string;
}

const url = (addr: string, port: number, path: string): string => `http://[${addr}]:${port}${path}`;

export async function runChecks(cx: CheckContext): Promise<CheckResult[]> {
  const { containers: c, external } = cx;
  const out: CheckResult[] = [];
  // NDP: a cold solicitation (sixgate verifies the container first), then warm ones.
  const target = c.glob1.address;
  try {
    const r = await nsProbe(cx.router, 'down0', ADDR.router, target, NS_PROBES);
    const bySixgate = r.mac === cx.hostMac;
    if (r.rtts.length === 0) out.push({ ok: false, text: `NS for ${target} (container glob1) not answered within 1 s (${NS_PROBES} tries)` });
    else if (!bySixgate) out.push({ ok: false, text: `NS for ${target} answered by ${r.mac ?? 'an NA without a link-layer address'}, not by sglab-host's ${cx.hostMac}` });
    else {
      const warm = r.rtts.slice(1).sort((a, b) => a - b);
      const tail = warm.length > 0 ? `, then p50 ${ms(warm[warm.length >> 1]!)}` : '';
      out.push({ ok: true, text: `NS for ${target} (container glob1) answered by sixgate (${ms(r.rtts[0]!)} cold${tail}; ${r.rtts.length}/${NS_PROBES} answered)` });
    }
  } catch (err) {
    out.push({ ok: false, text: `NS for ${target}: ${(err as Error).message}` });
  }

  const routed = await httpGet(cx.run, cx.internet.path, url(target, WEB_PORT, cx.webPath));
  const routedPeer = peerOf(routed.body);
  out.push(routed.ok && routedPeer === ADDR.internet
    ? { ok: true, text: `global network: internet → container glob1 [${target}]:${WEB_PORT} routed, no NAT, client address ${routedPeer} (${took(routed)})` }
    : { ok: false, text: `global network: internet → [${target}]:${WEB_PORT} ${routed.ok ? `saw ${routed.body}` : `failed (${routed.error})`}` });

  const outbound = await httpGet(cx.run, c.client.netns, url(ADDR.internet, WEB_PORT, '/'));
  const seen = peerOf(outbound.body);
  out.push(outbound.ok && seen === external
    ? { ok: true, text: `outbound NAT: container client ${c.client.address} → internet seen as ${seen} (${took(outbound)})` }
    : { ok: false, text: `outbound NAT: container client → internet ${outbound.ok ? `seen as ${seen ?? outbound.body}, expected ${external}` : `failed (${outbound.error})`}` });

  const published = await httpGet(cx.run, cx.internet.path, url(external, PUBLISHED_PORT, cx.webPath));
  const client = peerOf(published.body);
  out.push(published.ok && client === ADDR.internet
    ? { ok: true, text: `published port ${PUBLISHED_PORT} → container web [${c.web.address}]:${WEB_PORT}, client address ${client} preserved (${took(published)})` }
    : { ok: false, text: `published port: internet → [${external}]:${PUBLISHED_PORT} ${published.ok ? `container saw ${client ?? published.body}, expected ${ADDR.internet}` : `failed (${published.error})`}` });

  const hairpin = await httpGet(cx.run, c.client.netns, url(external, PUBLISHED_PORT, cx.webPath));
  const from = peerOf(hairpin.body);
  out.push(hairpin.ok && from !== undefined
    ? { ok: true, text: `hairpin: container client → [${external}]:${PUBLISHED_PORT} → container web, which saw ${from} (${took(hairpin)})` }
    : { ok: false, text: `hairpin: container client → [${external}]:${PUBLISHED_PORT} ${hairpin.ok ? `answered ${hairpin.body}` : `failed (${hairpin.error})`}` });
  if (c.lan1 !== undefined) {
    const lan1 = c.lan1;
    const shim = await httpGet(cx.run, cx.host.path, url(lan1.address, WEB_PORT, cx.webPath));
    const peer = peerOf(shim.body);
    out.push(shim.ok && peer === ADDR.lanHost
      ? { ok: true, text: `macvlan: sglab-host → container lan1 [${lan1.address}]:${WEB_PORT} through sixgate's shim, client address ${peer} (${took(shim)})` }
      : { ok: false, text: `macvlan: sglab-host → [${lan1.address}]:${WEB_PORT} ${shim.ok ? `container saw ${peer ?? shim.body}, expected ${ADDR.lanHost}` : `failed (${shim.error})`}` });
  }
  return out;
}
