// What the NDP service needs to know about, and change on, the host it runs
// on: interface link-local addresses, the IPv6 routing table (for `auto`
// rules) and route installation (autowire). Everything here acts on the
// network namespace of the calling process. `ip` runs through execFile
// with an argument array (never a shell), batched with `-batch -` so a burst
// of session changes costs one process, not one each as in ndppd.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { formatIpv6, isLinkLocal, tryParseIpv6 } from '../wire/address.js';

interface IfAddress {
  readonly addr: Uint8Array;
  readonly dev: string;
  readonly scope: number;
}

// "fe800000000000000000000000000001 02 40 20 80 eth0": address, ifindex, prefix length, scope, flags, name.
async function readIfInet6(): Promise<IfAddress[]> {
  let text: string;
  try {
    text = await readFile('/proc/net/if_inet6', 'utf8');
  } catch {
    return [];
  }
  const out: IfAddress[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 6 || f[0]!.length !== 32) continue;
    // IFA_F_TENTATIVE (0x40) and IFA_F_DADFAILED (0x08): not usable yet, or never.
    if ((parseInt(f[4]!, 16) & 0x48) !== 0) continue;
    const addr = new Uint8Array(16);
    for (let i = 0; i < 16; i++) addr[i] = parseInt(f[0]!.slice(2 * i, 2 * i + 2), 16);
    out.push({ addr, dev: f[5]!, scope: parseInt(f[3]!, 16) });
  }
  return out;
}

/** The link-local address of every interface that has one (first one listed wins), from /proc/net/if_inet6. */
export async function linkLocalAddresses(): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for (const a of await readIfInet6()) {
    if (isLinkLocal(a.addr, 0) && !out.has(a.dev)) out.set(a.dev, a.addr);
  }
  return out;
}

/** Global-scope addresses per interface: the host's own addresses behind iface/auto rules (ndppd's "local" list). */
export async function globalAddresses(): Promise<Map<string, Uint8Array[]>> {
  const out = new Map<string, Uint8Array[]>();
  for (const a of await readIfInet6()) {
    if (a.scope !== 0) continue;
    const list = out.get(a.dev) ?? [];
    list.push(a.addr);
    out.set(a.dev, list);
  }
  return out;
}

export interface HostRoute {
  readonly prefix: Uint8Array;
  readonly prefixLength: number;
  readonly dev: string;
}

/** Output of `ip -j -6 route show table main`, as (prefix, length, device); routes without a device are skipped. */
export function parseRoutes(json: string): HostRoute[] {
  const routes: HostRoute[] = [];
  let list: unknown;
  try {
    list = JSON.parse(json);
  } catch {
    return routes;
  }
  if (!Array.isArray(list)) return routes;
  for (const r of list as { dst?: unknown; dev?: unknown; type?: unknown }[]) {
    if (typeof r.dst !== 'string' || typeof r.dev !== 'string' || r.dev === 'lo') continue;
    if (r.type !== undefined && r.type !== 'unicast') continue;
    const [addrText, lenText] = r.dst === 'default' ? ['::', '0'] : r.dst.split('/');
    const prefix = tryParseIpv6(addrText!);
    const prefixLength = lenText === undefined ? 128 : Number(lenText);
    if (prefix === undefined || !Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > 128) continue;
    routes.push({ prefix, prefixLength, dev: r.dev });
  }
  return routes;
}

function run(cmd: string, args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { encoding: 'utf8', timeout: 10_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

export async function readRoutes(): Promise<HostRoute[]> {
  return parseRoutes(await run('ip', ['-j', '-6', 'route', 'show', 'table', 'main']));
}

/** Runs `ip -6 -force -batch -` with these lines (`route replace ...`); -force keeps going past a failed line. */
export async function ipBatch(lines: readonly string[]): Promise<void> {
  if (lines.length === 0) return;
  await run('ip', ['-6', '-force', '-batch', '-'], lines.join('\n') + '\n');
}

/** `ip -6 route replace` lines for a target reached through `dev`, optionally via a next hop (ndppd's autovia). */
export function routeReplaceLines(target: Uint8Array, dev: string, via: Uint8Array | null): string[] {
  const t = formatIpv6(target, 0);
  if (via === null) return [`route replace ${t} dev ${dev}`];
  const v = formatIpv6(via, 0);
  // A global next hop needs its own on-link host route first; a link-local one is on-link by definition.
  return isLinkLocal(via, 0)
    ? [`route replace ${t} via ${v} dev ${dev}`]
    : [`route replace ${v} dev ${dev}`, `route replace ${t} via ${v} dev ${dev}`];
}

export function routeRemoveLine(target: Uint8Array, dev: string): string {
  return `route del ${formatIpv6(target, 0)} dev ${dev}`;
}

/**
 * Calls `onChange` (debounced) whenever the IPv6 routing table changes,
 * through `ip -6 monitor route`. Returns a function that stops watching.
 */
export function watchRoutes(onChange: () => void, debounceMs = 50): () => void {
  let child: ChildProcess | undefined = spawn('ip', ['-6', 'monitor', 'route'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let timer: NodeJS.Timeout | undefined;
  child.stdout?.on('data', () => {
    if (timer !== undefined) return;
    timer = setTimeout(() => {
      timer = undefined;
      onChange();
    }, debounceMs);
  });
  child.on('error', () => { child = undefined; });
  child.unref();
  (child.stdout as unknown as { unref?: () => void } | null)?.unref?.();
  return () => {
    if (timer !== undefined) clearTimeout(timer);
    child?.kill();
    child = undefined;
  };
}
