// Steering into the TUN with tc, for the host's own addresses. In host-address
// mode sixgate translates to the host's address within a reserved port range,
// and published ports answer on every address of the host: packets to those
// ports must reach the TUN before the host's own stack (or docker-proxy) sees
// them, without netfilter NAT. Ingress classification on the uplink does it:
//
//   tc qdisc add dev UPLINK clsact
//   tc filter add dev UPLINK ingress pref P protocol ipv6 handle 800::N u32 \
//      match ip6 dst H/128 match ip6 protocol 6 0xff match ip6 dport 0xf000 0xf000 \
//      action mirred egress redirect dev TUN
//
// u32 + mirred, because act_mirred strips the Ethernet header when the
// target has none (a TUN), which nftables' netdev `fwd` does not do on every
// kernel, and flower (with port ranges) is often not built in. Port ranges
// become aligned power-of-two blocks (value/mask pairs). ICMPv6 echo replies
// and errors to H are steered too: sixgate writes those that are not its own
// back into the TUN unchanged, and the kernel then delivers them locally.
//
// Locally originated packets never cross the uplink: the host's own
// connections to its addresses leave through `lo` (egress), containers'
// through their bridge (ingress), so the same filters sit there too, with
// one more kind: a published container's answers to the host's own
// connections (from its address and port to a host address), which the
// local table would otherwise deliver to the host untranslated.
//
// Every filter has a handle of its own (N), which the caller keeps
// (SteeringState), so a published port that comes or goes adds or deletes
// its own filters in one `tc -batch` and leaves the others in place.
import { formatIpv6 } from '../wire/address.js';
import { Protocol } from '../wire/ipv6.js';
import { assertIfname, hasTool, run, HostCommandError } from './run.js';
import { SIXGATE_TC_PRIORITY } from './tags.js';

/** Protocols whose ports can be steered (TCP, UDP, SCTP). */
const STEERABLE: readonly number[] = [Protocol.Tcp, Protocol.Udp, Protocol.Sctp];

/** ICMPv6 errors (destination unreachable, packet too big, time exceeded, parameter problem). */
export const ICMP_ERRORS: readonly number[] = [1, 2, 3, 4];
export const ICMP_ECHO_REPLY = 129;

export interface SteerSpec {
  /** The destination address (a host address sixgate translates on). */
  readonly address: Uint8Array;
  /** Destination port ranges [lo, hi] per protocol number (6 TCP, 17 UDP, 132 SCTP). */
  readonly ports: ReadonlyArray<{ readonly protocol: number; readonly lo: number; readonly hi: number }>;
  /** Packets to `address` from these (address, port): a published container answering the host's own connection. */
  readonly from?: ReadonlyArray<{ readonly protocol: number; readonly address: Uint8Array; readonly port: number }>;
  /** ICMPv6 types to `address` that are steered too (default none). */
  readonly icmpTypes?: readonly number[];
}

/** The filters on one device: on what it receives (ingress) or sends (egress). */
export interface SteerHook {
  readonly dev: string;
  readonly direction: 'ingress' | 'egress';
  readonly specs: readonly SteerSpec[];
}

/** [value, mask] blocks that exactly cover lo..hi (like CIDR blocks for ports). */
export function portBlocks(lo: number, hi: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let p = lo;
  while (p <= hi) {
    let size = 1;
    while ((p & ((size << 1) - 1)) === 0 && p + (size << 1) - 1 <= hi && size < 0x10000) size <<= 1;
    out.push([p, 0xffff & ~(size - 1)]);
    p += size;
  }
  return out;
}

function checkProtocol(protocol: number, lo: number, hi: number): void {
  if (!STEERABLE.includes(protocol) || !(lo >= 0 && hi <= 65535 && lo <= hi)) throw new RangeError(`bad steering ports ${protocol} ${lo}-${hi}`);
}

/** What each of `hook`'s filters matches, and its action: the text after `u32` in `tc filter add`. */
export function steeringFilters(hook: SteerHook, tun: string): string[] {
  const out: string[] = [];
  const action = `action mirred egress redirect dev ${assertIfname(tun)}`;
  for (const s of hook.specs) {
    const dst = `match ip6 dst ${formatIpv6(s.address, 0)}/128`;
    for (const { protocol, lo, hi } of s.ports) {
      checkProtocol(protocol, lo, hi);
      for (const [value, mask] of portBlocks(lo, hi)) {
        out.push(`${dst} match ip6 protocol ${protocol} 0xff match ip6 dport 0x${value.toString(16)} 0x${mask.toString(16)} ${action}`);
      }
    }
    for (const f of s.from ?? []) {
      checkProtocol(f.protocol, f.port, f.port);
      out.push(`${dst} match ip6 src ${formatIpv6(f.address, 0)}/128 match ip6 protocol ${f.protocol} 0xff match ip6 sport 0x${f.port.toString(16)} 0xffff ${action}`);
    }
    for (const type of s.icmpTypes ?? []) out.push(`${dst} match ip6 protocol 58 0xff match u8 ${type} 0xff at 40 ${action}`);
  }
  // A port published twice (two addresses' specs never collide; one address's might) is one filter.
  return [...new Set(out)];
}

async function tc(args: readonly string[], input?: string): Promise<string> {
  return run('tc', args, input);
}

/** A hook's place: "dev direction". */
export function hookKey(hook: Pick<SteerHook, 'dev' | 'direction'>): string {
  return `${hook.dev} ${hook.direction}`;
}

/** Per hook (hookKey), each filter of sixgate's there (steeringFilters' text) and its u32 handle. */
export type SteeringState = ReadonlyMap<string, ReadonlyMap<string, number>>;

/** Item handles in u32's root table (800::1 .. 800::fff). */
const MAX_HANDLE = 0xfff;

/**
 * Installs exactly `hooks` and returns what is installed. With `installed`
 * (the last call's answer, the kernel's state since), only the difference
 * runs, in one `tc -batch`: each filter has a handle of its own, so a
 * published port that comes or goes is a few lines, not every filter again.
 * Without it (start, resync, a failure) every hook's filters are cleared
 * first, one command each. Hooks missing from `hooks` are not touched
 * (removeSteering).
 */
export async function applySteering(tun: string, hooks: readonly SteerHook[], installed?: SteeringState): Promise<SteeringState> {
  if (!hasTool('tc')) throw new Error(`cannot steer into ${tun}: the \`tc\` tool (iproute2) is not on PATH`);
  const lines: string[] = [];
  const next = new Map<string, Map<string, number>>();
  for (const hook of hooks) {
    const key = hookKey(hook);
    const before = installed?.get(key);
    if (before === undefined && hook.specs.length === 0) continue;
    if (installed === undefined) await deleteOurFilters(hook.dev, hook.direction);
    const head = `dev ${assertIfname(hook.dev)} ${hook.direction} pref ${SIXGATE_TC_PRIORITY} protocol ipv6`;
    const wanted = new Set(steeringFilters(hook, tun));
    const now = new Map<string, number>();
    const used = new Set(before?.values() ?? []);
    for (const [text, handle] of before ?? []) {
      if (wanted.has(text)) now.set(text, handle);
      else lines.push(`filter del ${head} handle 800::${handle.toString(16)} u32`);
    }
    // Creates the qdisc, or leaves the one there (and its filters) as it is.
    if (before === undefined) lines.push(`qdisc replace dev ${hook.dev} clsact`);
    let free = 1;
    for (const text of wanted) {
      if (now.has(text)) continue;
      while (used.has(free)) free++;
      if (free > MAX_HANDLE) throw new RangeError(`more than ${MAX_HANDLE} steering filters on ${key}`);
      used.add(free);
      now.set(text, free);
      lines.push(`filter add ${head} handle 800::${free.toString(16)} u32 ${text}`);
    }
    next.set(key, now);
  }
  if (lines.length === 0) return next;
  try {
    await tc(['-batch', '-'], lines.join('\n') + '\n');
  } catch (err) {
    const text = err instanceof HostCommandError ? err.stderr : String(err);
    const hint = /clsact|qdisc/i.test(text) ? 'the kernel needs CONFIG_NET_SCH_INGRESS' :
      /u32|Unknown filter/i.test(text) ? 'the kernel needs CONFIG_NET_CLS_U32' :
      /mirred|action/i.test(text) ? 'the kernel needs CONFIG_NET_ACT_MIRRED' : 'see the message';
    throw new Error(`installing steering into ${tun} failed (${hint}): ${text.trim()}`);
  }
  return next;
}

async function deleteOurFilters(dev: string, direction: 'ingress' | 'egress'): Promise<void> {
  try {
    await tc(['filter', 'del', 'dev', dev, direction, 'pref', String(SIXGATE_TC_PRIORITY)]);
  } catch {
    // None installed.
  }
}

/** Removes sixgate's filters from `dev` (both directions), and the clsact qdisc when nothing else uses it. */
export async function removeSteering(dev: string): Promise<void> {
  if (!hasTool('tc')) return;
  await deleteOurFilters(dev, 'ingress');
  await deleteOurFilters(dev, 'egress');
  try {
    const left = JSON.parse((await tc(['-j', 'filter', 'show', 'dev', dev, 'ingress'])).trim() || '[]') as unknown[];
    const egress = JSON.parse((await tc(['-j', 'filter', 'show', 'dev', dev, 'egress'])).trim() || '[]') as unknown[];
    if (left.length === 0 && egress.length === 0) await tc(['qdisc', 'del', 'dev', dev, 'clsact']);
  } catch {
    // No clsact qdisc (or no such device): nothing of ours is left.
  }
}

/** Removes sixgate's filters from every device that has a clsact qdisc (cleanup, whatever model put them there). */
export async function removeAllSteering(): Promise<void> {
  if (!hasTool('tc')) return;
  let qdiscs: Array<{ kind?: string; dev?: string }> = [];
  try {
    qdiscs = JSON.parse((await tc(['-j', 'qdisc', 'show'])).trim() || '[]') as typeof qdiscs;
  } catch {
    return;
  }
  for (const q of qdiscs) if (q.kind === 'clsact' && typeof q.dev === 'string') await removeSteering(q.dev);
}
