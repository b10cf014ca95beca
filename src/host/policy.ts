// sixgate's policy routing, as a desired state that is diffed against what
// the kernel holds and applied through one `ip -batch`:
//
//   ip -6 rule add from SUBNET iif BRIDGE lookup T pref P protocol X   (per NAT network subnet)
//   ip -6 route add default dev TUN table T proto X                     (container traffic → TUN)
//   ip -6 route add throw PREFIX table T proto X                        (local networks never enter the TUN)
//   ip -6 route add EXTERNAL dev TUN proto X                            (replies to external addresses → TUN)
//   ip -6 route add unreachable DST table T|main metric M proto X       (under each TUN route: fail closed)
//
// Fail closed: the kernel deletes the routes through a TUN that is deleted
// or set down, and traffic from a NAT network would then fall through to
// the main table and leave the uplink with its ULA source. An unreachable
// route of the same prefix with a worse metric stays when the TUN route
// goes, so the container gets "no route" until the data path is repaired.
//
// Only rules at sixgate's priority and routes with sixgate's proto are ever
// read, changed or removed (tags.ts), so a crash leaves state the next start
// adopts as is, and `cleanup` removes exactly what sixgate added.
import { formatIpv6, parseIpv6, parseIpv6Prefix } from '../wire/address.js';
import { assertIfname, ipBatch, ipJson, monitorRoutes } from './run.js';
import { SIXGATE_PROTO, SIXGATE_RULE_PRIORITY, SIXGATE_TABLE } from './tags.js';

export interface PolicyRule {
  /** Source prefix, e.g. "fd66:1::/64". */
  readonly from: string;
  /** Ingress interface (the network's bridge). */
  readonly iif: string;
}

export interface PolicyRoute {
  /** "default", "2001:db8::66/128", "fd66::/16" */
  readonly dst: string;
  /** 'unicast' routes need `dev`; 'throw' and 'unreachable' routes have none. */
  readonly type: 'unicast' | 'throw' | 'unreachable';
  readonly dev?: string;
  /** 'unicast': the source address the host's own sockets use on this route (`src`), if not the kernel's choice. */
  readonly src?: string;
  /** 'main' or sixgate's table. */
  readonly table: 'main' | 'sixgate';
}

export interface PolicyState {
  readonly rules: readonly PolicyRule[];
  readonly routes: readonly PolicyRoute[];
}

export const EMPTY_POLICY: PolicyState = { rules: [], routes: [] };

/**
 * Metric of the fail-closed unreachable routes: far above the kernel's 1024
 * for the TUN routes, so they are used only when a TUN route is gone.
 */
export const FAIL_CLOSED_METRIC = 6646 * 100;

/** Canonical prefix text ("2001:db8::66/128", "default" for ::/0). */
export function canonicalPrefix(text: string): string {
  if (text === 'default') return 'default';
  const { address, length } = parseIpv6Prefix(text.includes('/') ? text : `${text}/128`);
  if (length === 0) return 'default';
  return `${formatIpv6(address, 0)}/${length}`;
}

export function ruleKey(r: PolicyRule): string {
  return `from ${canonicalPrefix(r.from)} iif ${r.iif}`;
}

export function routeKey(r: PolicyRoute): string {
  const table = r.table === 'main' ? 'main' : String(SIXGATE_TABLE);
  return r.type === 'unicast'
    ? `${canonicalPrefix(r.dst)} dev ${r.dev ?? ''}${srcPart(r)} table ${table}`
    : `${r.type} ${canonicalPrefix(r.dst)} table ${table}`;
}

function srcPart(r: PolicyRoute): string {
  return r.src === undefined ? '' : ` src ${formatIpv6(parseIpv6(r.src), 0)}`;
}

function ruleLine(verb: 'add' | 'del', r: PolicyRule): string {
  return `rule ${verb} from ${canonicalPrefix(r.from)} iif ${assertIfname(r.iif)} lookup ${SIXGATE_TABLE} pref ${SIXGATE_RULE_PRIORITY} protocol ${SIXGATE_PROTO}`;
}

function routeLine(verb: 'replace' | 'del', r: PolicyRoute): string {
  const table = r.table === 'main' ? 'main' : String(SIXGATE_TABLE);
  const head = r.type === 'throw' ? `throw ${canonicalPrefix(r.dst)}`
    : r.type === 'unreachable' ? `unreachable ${canonicalPrefix(r.dst)}`
    : `${canonicalPrefix(r.dst)} dev ${assertIfname(r.dev ?? '')}${srcPart(r)}`;
  const metric = r.type === 'unreachable' ? ` metric ${FAIL_CLOSED_METRIC}` : '';
  return `route ${verb} ${head} table ${table}${metric} proto ${SIXGATE_PROTO}`;
}

interface RuleJson { priority?: number; src?: string; srclen?: number; iif?: string; table?: string; protocol?: string }
interface RouteJson { type?: string; dst?: string; dev?: string; prefsrc?: string; table?: string }

/** sixgate's rules and routes as the kernel holds them now. */
export async function readPolicy(): Promise<PolicyState> {
  const rules: PolicyRule[] = [];
  for (const r of await ipJson<RuleJson[]>(['rule', 'show'])) {
    if (r.priority !== SIXGATE_RULE_PRIORITY || r.src === undefined || r.iif === undefined) continue;
    rules.push({ from: `${r.src === 'all' ? '::' : r.src}/${r.srclen ?? 0}`, iif: r.iif });
  }
  const routes: PolicyRoute[] = [];
  for (const r of await ipJson<RouteJson[]>(['route', 'show', 'table', 'all', 'proto', String(SIXGATE_PROTO)])) {
    if (r.dst === undefined) continue;
    const table = r.table === undefined || r.table === 'main' ? 'main' : r.table === String(SIXGATE_TABLE) ? 'sixgate' : undefined;
    if (table === undefined) continue;
    const dst = r.dst === 'default' ? 'default' : r.dst.includes('/') ? r.dst : `${r.dst}/128`;
    routes.push(r.type === 'throw' || r.type === 'unreachable' ? { dst, type: r.type, table }
      : { dst, type: 'unicast', dev: r.dev, ...(r.prefsrc === undefined ? {} : { src: r.prefsrc }), table });
  }
  return { rules, routes };
}

export interface PolicyDiff {
  /** ip -batch lines, removals first (a replaced route must not be deleted after its replacement). */
  readonly lines: string[];
  readonly added: number;
  readonly removed: number;
}

/** The lines that turn `current` into `desired`; nothing when they already agree. */
export function diffPolicy(current: PolicyState, desired: PolicyState): PolicyDiff {
  const have = new Map(current.rules.map((r) => [ruleKey(r), r]));
  const want = new Map(desired.rules.map((r) => [ruleKey(r), r]));
  const haveRoutes = new Map(current.routes.map((r) => [routeKey(r), r]));
  const wantRoutes = new Map(desired.routes.map((r) => [routeKey(r), r]));
  const dels: string[] = [];
  const adds: string[] = [];
  for (const [k, r] of have) if (!want.has(k)) dels.push(ruleLine('del', r));
  for (const [k, r] of haveRoutes) if (!wantRoutes.has(k)) dels.push(routeLine('del', r));
  // Routes before rules: a rule must never send traffic into a table that has no route yet.
  for (const [k, r] of wantRoutes) if (!haveRoutes.has(k)) adds.push(routeLine('replace', r));
  for (const [k, r] of want) if (!have.has(k)) adds.push(ruleLine('add', r));
  return { lines: [...dels, ...adds], added: adds.length, removed: dels.length };
}

/** Reads, diffs and applies; returns the diff that was applied. Throws naming the lines the kernel refused. */
export async function applyPolicy(desired: PolicyState): Promise<PolicyDiff> {
  const diff = diffPolicy(await readPolicy(), desired);
  const { failed } = await ipBatch(diff.lines, { force: true });
  if (failed.length > 0) throw new Error(`ip refused: ${failed.join('; ')}`);
  return diff;
}

/** Removes every rule and route sixgate installed (whatever model put them there). */
export async function cleanupPolicy(): Promise<PolicyDiff> {
  return applyPolicy(EMPTY_POLICY);
}

/**
 * Calls `onLoss` (debounced) when the kernel deletes a route through `dev`:
 * the device was set down or deleted, or someone removed the route. Our own
 * applies delete such routes too, so the caller checks what is left before
 * calling it a failure. One `ip -6 monitor route` child; returns the stop function.
 */
export function watchDeviceRoutes(dev: string, onLoss: () => void, debounceMs = 20): () => void {
  const needle = ` dev ${assertIfname(dev)} `;
  return monitorRoutes((line) => line.startsWith('Deleted ') && line.includes(needle), onLoss, debounceMs);
}
