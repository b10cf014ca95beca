// Host-address mode: the host has a single address and sixgate translates to
// it within a reserved port range. Replies to that range (and published
// ports) must reach the TUN before the host's own stack sees them, without
// netfilter NAT. Ingress classification on the uplink does it:
//
//   tc qdisc add dev UPLINK clsact
//   tc filter add dev UPLINK ingress pref P protocol ipv6 u32 \
//      match ip6 dst H/128 match ip6 protocol 6 0xff match ip6 dport 0xf000 0xf000 \
//      action mirred egress redirect dev TUN
//
// u32 + mirred, because act_mirred strips the Ethernet header when the
// target has none (a TUN), which nftables' netdev `fwd` does not do on every
// kernel, and flower (with port ranges) is often not built in. Port ranges
// become aligned power-of-two blocks (value/mask pairs). ICMPv6 echo replies
// and errors to H are steered too: sixgate writes those that are not its own
// back into the TUN unchanged, and the kernel then delivers them locally.
import { formatIpv6 } from '../wire/address.js';
import { Protocol } from '../wire/ipv6.js';
import { assertIfname, hasTool, run, HostCommandError } from './run.js';
import { SIXGATE_TC_PRIORITY } from './tags.js';

/** Protocols whose ports can be steered (TCP, UDP, SCTP). */
const STEERABLE: readonly number[] = [Protocol.Tcp, Protocol.Udp, Protocol.Sctp];

export interface SteerSpec {
  /** The host address the translation uses. */
  readonly address: Uint8Array;
  /** Port ranges [lo, hi] per protocol number (6 TCP, 17 UDP, 132 SCTP). */
  readonly ports: ReadonlyArray<{ readonly protocol: number; readonly lo: number; readonly hi: number }>;
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

const ICMP_STEERED = [1, 2, 3, 4, 129];

/** The `tc -batch` lines that add every steering filter for `specs` (after a clsact qdisc). */
export function steeringLines(uplink: string, tun: string, specs: readonly SteerSpec[]): string[] {
  const lines: string[] = [];
  assertIfname(uplink);
  assertIfname(tun);
  const head = `filter add dev ${uplink} ingress pref ${SIXGATE_TC_PRIORITY} protocol ipv6 u32`;
  const action = `action mirred egress redirect dev ${tun}`;
  for (const s of specs) {
    const dst = `match ip6 dst ${formatIpv6(s.address, 0)}/128`;
    for (const { protocol, lo, hi } of s.ports) {
      if (!STEERABLE.includes(protocol) || !(lo >= 0 && hi <= 65535 && lo <= hi)) throw new RangeError(`bad steering ports ${protocol} ${lo}-${hi}`);
      for (const [value, mask] of portBlocks(lo, hi)) {
        lines.push(`${head} ${dst} match ip6 protocol ${protocol} 0xff match ip6 dport 0x${value.toString(16)} 0x${mask.toString(16)} ${action}`);
      }
    }
    for (const type of ICMP_STEERED) {
      lines.push(`${head} ${dst} match ip6 protocol 58 0xff match u8 ${type} 0xff at 40 ${action}`);
    }
  }
  return lines;
}

async function tc(args: readonly string[], input?: string): Promise<string> {
  return run('tc', args, input);
}

/** What is missing for ingress steering, or undefined when it can work. */
export async function probeSteering(uplink: string): Promise<string | undefined> {
  if (!hasTool('tc')) return 'the `tc` tool (iproute2) is not on PATH';
  try {
    await tc(['qdisc', 'replace', 'dev', uplink, 'clsact']);
  } catch (err) {
    return `cannot add a clsact qdisc on ${uplink} (kernel needs CONFIG_NET_SCH_INGRESS): ${(err as Error).message}`;
  }
  return undefined;
}

/** Installs exactly `specs` (replacing sixgate's previous filters) on the uplink's ingress. */
export async function applySteering(uplink: string, tun: string, specs: readonly SteerSpec[]): Promise<void> {
  if (specs.length === 0) {
    await removeSteering(uplink);
    return;
  }
  const missing = await probeSteering(uplink);
  if (missing !== undefined) throw new Error(`host-address mode cannot steer replies into ${tun}: ${missing}`);
  await deleteOurFilters(uplink);
  const lines = steeringLines(uplink, tun, specs);
  try {
    await tc(['-batch', '-'], lines.join('\n') + '\n');
  } catch (err) {
    const text = err instanceof HostCommandError ? err.stderr : String(err);
    const hint = /u32|Unknown filter/i.test(text) ? 'the kernel needs CONFIG_NET_CLS_U32' :
      /mirred|action/i.test(text) ? 'the kernel needs CONFIG_NET_ACT_MIRRED' : 'see the message';
    throw new Error(`installing ingress steering on ${uplink} failed (${hint}): ${text.trim()}`);
  }
}

async function deleteOurFilters(uplink: string): Promise<void> {
  try {
    await tc(['filter', 'del', 'dev', uplink, 'ingress', 'pref', String(SIXGATE_TC_PRIORITY)]);
  } catch {
    // None installed.
  }
}

/** Removes sixgate's filters, and the clsact qdisc when nothing else uses it. */
export async function removeSteering(uplink: string): Promise<void> {
  if (!hasTool('tc')) return;
  await deleteOurFilters(uplink);
  try {
    const left = JSON.parse((await tc(['-j', 'filter', 'show', 'dev', uplink, 'ingress'])).trim() || '[]') as unknown[];
    const egress = JSON.parse((await tc(['-j', 'filter', 'show', 'dev', uplink, 'egress'])).trim() || '[]') as unknown[];
    if (left.length === 0 && egress.length === 0) await tc(['qdisc', 'del', 'dev', uplink, 'clsact']);
  } catch {
    // No clsact qdisc (or no such device): nothing of ours is left.
  }
}
