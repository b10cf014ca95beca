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

/** /dev/net/tun, CAP_NET_ADMIN and CAP_NET_RAW, IPv6 forwarding, and `ip`. */
export function checkHost(options: { uplink: string; needTc?: boolean }): CheckResult {
  const errors: string[] = [];
  const warnings: string[] = [];
  try {
    accessSync('/dev/net/tun', constants.R_OK | constants.W_OK);
  } catch {
    errors.push('/dev/net/tun is missing or not accessible: load the tun module (modprobe tun) or pass --device /dev/net/tun to the container');
  }
  const caps = effectiveCaps();
  if (!hasCap(CAP_NET_ADMIN, caps)) errors.push('CAP_NET_ADMIN is missing: run as root or add --cap-add NET_ADMIN');
  if (!hasCap(CAP_NET_RAW, caps)) errors.push('CAP_NET_RAW is missing (NDP proxy sockets): run as root or add --cap-add NET_RAW');
  if (readSysctl('net.ipv6.conf.all.forwarding') !== '1') {
    errors.push('IPv6 forwarding is off: sysctl -w net.ipv6.conf.all.forwarding=1 (and persist it in /etc/sysctl.d)');
  }
  const ar = readSysctl(`net.ipv6.conf.${options.uplink.replace(/\./g, '/')}.accept_ra`);
  if (ar === undefined) errors.push(`uplink ${options.uplink} does not exist`);
  else if (ar === '1') warnings.push(`forwarding disables router advertisements on ${options.uplink}: sysctl -w net.ipv6.conf.${options.uplink}.accept_ra=2 if it is configured by SLAAC`);
  if (!hasTool('ip')) errors.push('the `ip` tool (iproute2) is not on PATH');
  if (options.needTc && !hasTool('tc')) errors.push('published ports on the host\'s own addresses and host-address mode need `tc` (iproute2) on PATH');
  return { errors, warnings };
}

/**
 * Inside subnets that the kernel already masquerades through ip6tables
 * (Docker's own `ip6tables: true` NAT, or docker-ipv6nat): translating them
 * again would be double NAT. Reads `ip6tables-save -t nat` once; absent or
 * failing tools mean "nothing found".
 */
export async function kernelNatSubnets(): Promise<string[]> {
  if (!hasTool('ip6tables-save')) return [];
  let text: string;
  try {
    text = await run('ip6tables-save', ['-t', 'nat']);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('-A ') || !/-j MASQUERADE\b/.test(line)) continue;
    const m = /(?:^|\s)-s\s+(\S+)/.exec(line);
    if (m !== null) out.push(m[1]!);
  }
  return out;
}
