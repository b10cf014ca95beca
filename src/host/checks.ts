// Startup checks: what the host must offer before the data path can work,
// each failure with the exact thing to change. Read once at start, never on
// the packet path.
import { accessSync, constants, readFileSync } from 'node:fs';
import { hasTool, run } from './run.js';
import { readSysctl } from './sysctl.js';

export const CAP_NET_ADMIN = 12;
export const CAP_NET_RAW = 13;

/** Effective capability bits of this process (CapEff in /proc/self/status), as a bigint. */
export function effectiveCaps(statusText?: string): bigint {
  const text = statusText ?? readFileSync('/proc/self/status', 'utf8');
  const m = /^CapEff:\s*([0-9a-f]+)/m.exec(text);
  return m === null ? 0n : BigInt(`0x${m[1]}`);
}

export function hasCap(cap: number, caps = effectiveCaps()): boolean {
  return (caps & (1n << BigInt(cap))) !== 0n;
}

export interface CheckResult {
  /** Problems that stop the data path, each naming the fix. */
  readonly errors: string[];
  /** Problems worth a log line. */
  readonly warnings: string[];
}

const TUN_MISSING = '/dev/net/tun is missing or not accessible: load the tun module (modprobe tun) or pass --device /dev/net/tun to the container';

/**
 * What `sixgate run` cannot start without, checked before it touches
 * anything: both capabilities (one line naming the ways to grant them), and
 * /dev/net/tun when NAT66 is on. Everything else it repairs at run time.
 */
export function startupProblems(options: { nat66: boolean }, caps = effectiveCaps()): string[] {
  const problems: string[] = [];
  const missingCaps = capabilityProblem(caps);
  if (missingCaps !== undefined) problems.push(missingCaps);
  if (options.nat66 && !tunAccessible()) problems.push(TUN_MISSING);
  return problems;
}

const CAP_NAMES: Record<number, string> = { [CAP_NET_ADMIN]: 'CAP_NET_ADMIN', [CAP_NET_RAW]: 'CAP_NET_RAW' };

/** One line naming the missing capabilities and the ways to grant them; undefined when both are there. */
function capabilityProblem(caps: bigint): string | undefined {
  const missing = [CAP_NET_ADMIN, CAP_NET_RAW].filter((cap) => !hasCap(cap, caps)).map((cap) => CAP_NAMES[cap]!);
  if (missing.length === 0) return undefined;
  return `${missing.join(' and ')} ${missing.length === 1 ? 'is' : 'are'} missing (sixgate needs CAP_NET_ADMIN and CAP_NET_RAW): ` +
    'run it as root, or grant them (systemd AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW; docker --cap-add NET_ADMIN --cap-add NET_RAW)';
}

function tunAccessible(): boolean {
  try {
    accessSync('/dev/net/tun', constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** /dev/net/tun, CAP_NET_ADMIN and CAP_NET_RAW, IPv6 forwarding, and `ip`. */
export function checkHost(options: { uplink: string; needTc?: boolean }): CheckResult {
  const errors: string[] = [];
  const warnings: string[] = [];
  if (!tunAccessible()) errors.push(TUN_MISSING);
  const caps = capabilityProblem(effectiveCaps());
  if (caps !== undefined) errors.push(caps);
  const forwarding = forwardingProblem();
  if (forwarding !== undefined) errors.push(forwarding);
  const ar = acceptRaProblem(options.uplink);
  if (ar === 'missing') errors.push(`uplink ${options.uplink} does not exist`);
  else if (ar !== undefined) warnings.push(ar);
  if (!hasTool('ip')) errors.push('the `ip` tool (iproute2) is not on PATH');
  if (options.needTc && !hasTool('tc')) errors.push('published ports on the host\'s own addresses and host-address mode need `tc` (iproute2) on PATH');
  return { errors, warnings };
}

/** What is wrong with IPv6 forwarding, with the fix; undefined when it is on. */
export function forwardingProblem(): string | undefined {
  return readSysctl('net.ipv6.conf.all.forwarding') === '1' ? undefined
    : 'IPv6 forwarding is off: sysctl -w net.ipv6.conf.all.forwarding=1 (and persist it in /etc/sysctl.d)';
}

/**
 * What is wrong with the uplink's accept_ra, with the fix: with forwarding
 * on, 1 ignores router advertisements (the uplink's SLAAC address and default
 * route lapse). 'missing' when the interface does not exist.
 */
export function acceptRaProblem(uplink: string): string | undefined {
  const ar = readSysctl(`net.ipv6.conf.${uplink.replace(/\./g, '/')}.accept_ra`);
  if (ar === undefined) return 'missing';
  return ar === '1' && readSysctl('net.ipv6.conf.all.forwarding') === '1'
    ? `forwarding disables router advertisements on ${uplink}: sysctl -w net.ipv6.conf.${uplink}.accept_ra=2 if it is configured by SLAAC` : undefined;
}

/** `ip6tables-save -t TABLE`, or undefined when the tool is missing or fails. */
export async function ip6tablesSave(table: 'nat' | 'filter'): Promise<string | undefined> {
  if (!hasTool('ip6tables-save')) return undefined;
  try {
    return await run('ip6tables-save', ['-t', table]);
  } catch {
    return undefined;
  }
}

/**
 * Inside subnets that the kernel already masquerades through ip6tables
 * (Docker's own `ip6tables: true` NAT, or docker-ipv6nat): translating them
 * again would be double NAT. Reads `ip6tables-save -t nat` once; absent or
 * failing tools mean "nothing found".
 */
export async function kernelNatSubnets(): Promise<string[]> {
  const text = await ip6tablesSave('nat');
  if (text === undefined) return [];
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('-A ') || !/-j MASQUERADE\b/.test(line)) continue;
    const m = /(?:^|\s)-s\s+(\S+)/.exec(line);
    if (m !== null) out.push(m[1]!);
  }
  return out;
}
