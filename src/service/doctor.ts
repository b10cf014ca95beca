// `sixgate doctor`: what on this host silently breaks sixgate's path, one
// finding per problem, each naming the exact fix. The daemons run it at
// start-up too (one log line per finding). sixgate never rewrites what it
// finds here (a firewall policy, another daemon, a bridge setting): it names
// it and says what to change.
//
// Checked, in the calling process's network namespace:
//   sysctl    IPv6 forwarding; accept_ra on the uplinks
//   firewall  an nftables or ip6tables FORWARD chain (ufw, firewalld, Docker's
//             own) whose policy or an unconditional rule drops what is
//             forwarded between the bridges, the TUN and the uplink
//   ndp       ndppd or docker-ipv6nat running here; kernel proxy entries
//             (`ip -6 neigh show proxy`) answering beside sixgate
//   bridge    multicast snooping with no querier: solicited-node traffic
//             reaches only ports whose MLD reports the bridge still remembers
//   docker    Docker's own IPv6 NAT (ip6tables) and each network's gateway
//             mode, from the Docker API when it answers
//   fastpath  what keeps the kernel fast paths (the NAT66 offload, NDP
//             answers in softirq) off: a kernel without tcx (before 6.6),
//             no CAP_BPF (probed by creating a one-entry map, closed at once)
// A tool that is missing or fails is no finding: its check is skipped.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { classifyNetwork, resolveDockerIp6tables } from '../docker/classify.js';
import { EngineClient } from '../docker/client.js';
import type { DockerEndpoint } from '../docker/endpoint.js';
import { acceptRaProblem, forwardingProblem, ip6tablesSave, kernelNatSubnets } from '../host/checks.js';
import { hasTool, ipJson, run } from '../host/run.js';
import { BpfMap, MapType } from '../io/ebpf.js';
import { NativeIoError } from '../errors.js';

export interface Finding {
  /** sysctl, firewall, ndp, bridge, docker or fastpath. */
  readonly check: string;
  /** The problem and its fix, on one line. */
  readonly message: string;
}

export interface DoctorOptions {
  /** The uplinks (accept_ra; named in the fixes). */
  readonly uplinks: readonly string[];
  /** sixgate's TUN (named in the firewall fixes). */
  readonly tun: string;
  /** Where to ask Docker; undefined: no Docker check. */
  readonly docker?: DockerEndpoint;
  /** Skip the sysctl checks (the NAT66 data path checks them itself at start). */
  readonly skipSysctls?: boolean;
}

/** Every finding, checks in the order of the header above. */
export async function doctor(options: DoctorOptions): Promise<Finding[]> {
  const bridges = await bridgeLinks();
  const [firewall, proxies, docker] = await Promise.all([firewallFindings(options, bridges.map((b) => b.ifname)), kernelProxyFindings(), dockerFindings(options.docker)]);
  return [
    ...(options.skipSysctls === true ? [] : sysctlFindings(options.uplinks)),
    ...firewall,
    ...competingDaemons(),
    ...proxies,
    ...snoopingFindings(bridges),
    ...docker,
    ...fastPathFindings(),
  ];
}

// ------------------------------------------------------------------ fastpath

/** tcx links, which the fast paths attach through, came with Linux 6.6. */
const TCX_SINCE: readonly [number, number] = [6, 6];

function fastPathFindings(): Finding[] {
  const slow = 'the NAT66 fast path and NDP answers in the kernel stay off, every packet takes the user-space path';
  const release = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  const [major = 0, minor = 0] = release.split(/[.-]/).map(Number);
  if (major < TCX_SINCE[0] || (major === TCX_SINCE[0] && minor < TCX_SINCE[1])) {
    return [{ check: 'fastpath', message: `Linux ${release} has no tcx links (6.6 and later): ${slow}. Fix: a newer kernel` }];
  }
  try {
    BpfMap.create(MapType.ARRAY, 4, 4, 1, 'doctor probe').close();
  } catch (err) {
    const errno = err instanceof NativeIoError ? err.errno : undefined;
    if (errno !== 'EPERM') return [{ check: 'fastpath', message: `eBPF maps are refused (${errno ?? (err as Error).message}): ${slow}` }];
    return [{
      check: 'fastpath',
      message: `no CAP_BPF: ${slow}. Fix: grant it (systemd: CAP_BPF in CapabilityBoundingSet and AmbientCapabilities, as the shipped units do; docker --cap-add BPF)`,
    }];
  }
  return [];
}

// ------------------------------------------------------------------ sysctl

function sysctlFindings(uplinks: readonly string[]): Finding[] {
  const out: string[] = [];
  const forwarding = forwardingProblem();
  if (forwarding !== undefined) out.push(forwarding);
  for (const uplink of uplinks) {
    const ar = acceptRaProblem(uplink);
    if (ar === 'missing') out.push(`uplink ${uplink} does not exist: pass the interface of the IPv6 default route (--uplink)`);
    else if (ar !== undefined) out.push(ar);
  }
  return out.map((message) => ({ check: 'sysctl', message }));
}

// ------------------------------------------------------------------ firewall

/** The fix every FORWARD drop gets: accept what goes through the TUN, and the routed bridges to and from the uplink. */
function acceptAdvice(options: DoctorOptions, rule: (match: string) => string): string {
  const uplink = options.uplinks[0] ?? 'UPLINK';
  return [`${rule(`iifname "${options.tun}"`)}`, `${rule(`oifname "${options.tun}"`)}`].join('; ')
    + ` (NAT66), and for a routed (NDP-proxied) network ${rule(`iifname "BRIDGE" oifname "${uplink}"`)}; ${rule(`iifname "${uplink}" oifname "BRIDGE"`)}`;
}

interface NftObject {
  chain?: { family: string; table: string; name: string; hook?: string; policy?: string };
  rule?: { family: string; table: string; chain: string; handle: number; expr?: Record<string, unknown>[] };
}

/** The fix when a firewall manager owns the table (its own command, not nft), or '' for a table of nobody known. */
function managerFix(table: string, tun: string): string {
  if (table !== 'firewalld') return '';
  return `firewalld owns it: firewall-cmd --permanent --zone=trusted --add-interface=${tun} && firewall-cmd --reload (and a policy allowing the forward between the bridges' zone and the uplink's, for a routed network)`;
}

async function firewallFindings(options: DoctorOptions, bridges: readonly string[]): Promise<Finding[]> {
  const ours = new Set([options.tun, ...options.uplinks, ...bridges]);
  const out: Finding[] = [];
  const ip6tables = await ip6tablesForward(options);
  out.push(...ip6tables);
  if (!hasTool('nft')) return out;
  let objects: NftObject[];
  try {
    objects = (JSON.parse(await run('nft', ['-j', 'list', 'ruleset'])) as { nftables: NftObject[] }).nftables;
  } catch {
    return out;
  }
  // Per chain, the interfaces a rule accepts everything from (in:NAME) or to (out:NAME).
  const accepted = new Map<string, Set<string>>();
  for (const { rule } of objects) {
    if (rule === undefined || !(rule.expr ?? []).some((e) => 'accept' in e)) continue;
    const matches = (rule.expr ?? []).filter((e) => 'match' in e);
    if (matches.length !== 1) continue;
    const iface = interfaceMatch(matches[0]!);
    if (iface === undefined) continue;
    const key = `${rule.family} ${rule.table} ${rule.chain}`;
    accepted.set(key, (accepted.get(key) ?? new Set()).add(`${iface.dir}:${iface.name}`));
  }
  const forwardChains = new Set<string>();
  for (const { chain } of objects) {
    if (chain === undefined || chain.hook !== 'forward' || (chain.family !== 'ip6' && chain.family !== 'inet')) continue;
    // ip6tables over nftables shows its FORWARD chain here too: reported above already.
    if (chain.family === 'ip6' && chain.table === 'filter' && chain.name === 'FORWARD' && ip6tables.length > 0) continue;
    const name = `${chain.family} ${chain.table} ${chain.name}`;
    forwardChains.add(name);
    // Accepting everything in and out of the TUN is the fix below: then the policy no longer stands in NAT66's way.
    const through = accepted.get(name);
    if (chain.policy !== 'drop' || (through?.has(`in:${options.tun}`) === true && through.has(`out:${options.tun}`))) continue;
    out.push({
      check: 'firewall',
      message: `nftables chain ${name} (hook forward) has policy drop: IPv6 forwarded between the bridges, ${options.tun} and the uplink is dropped unless a rule accepts it; `
        + `sixgate leaves it as it is. Fix: ${managerFix(chain.table, options.tun) || acceptAdvice(options, (m) => `nft insert rule ${name} ${m} accept`)}`,
    });
  }
  for (const { rule } of objects) {
    if (rule === undefined || !forwardChains.has(`${rule.family} ${rule.table} ${rule.chain}`)) continue;
    const verdict = (rule.expr ?? []).find((e) => 'drop' in e || 'reject' in e);
    if (verdict === undefined) continue;
    const matches = (rule.expr ?? []).filter((e) => 'match' in e);
    // An unconditional drop, or one on interfaces sixgate's path crosses.
    const names = matches.map((e) => interfaceMatch(e)?.name);
    if (names.some((n) => n === undefined) || !names.every((n) => ours.has(n!))) continue;
    const name = `${rule.family} ${rule.table} ${rule.chain}`;
    out.push({
      check: 'firewall',
      message: `nftables rule ${name} handle ${rule.handle} drops IPv6 forwarded ${names.length === 0 ? 'on every interface' : `on ${names.join(', ')}`}: sixgate's path crosses it. `
        + `Fix: ${managerFix(rule.table, options.tun) || `nft delete rule ${name} handle ${rule.handle}, or accept sixgate's traffic before it: ${acceptAdvice(options, (m) => `nft insert rule ${name} ${m} accept`)}`}`,
    });
  }
  return out;
}

/** The interface an nft match compares with (iifname/oifname ==), or undefined for any other match. */
function interfaceMatch(e: Record<string, unknown>): { dir: 'in' | 'out'; name: string } | undefined {
  const m = e.match as { op?: string; left?: { meta?: { key?: string } }; right?: unknown } | undefined;
  const key = m?.left?.meta?.key;
  if ((key !== 'iifname' && key !== 'oifname') || m?.op !== '==' || typeof m.right !== 'string') return undefined;
  return { dir: key === 'iifname' ? 'in' : 'out', name: m.right };
}

/** The FORWARD chain of ip6tables-save: its policy, named after who set it (ufw, Docker). */
async function ip6tablesForward(options: DoctorOptions): Promise<Finding[]> {
  const text = await ip6tablesSave('filter');
  return text === undefined ? [] : ip6tablesFindings(text, options);
}

/** Findings in `ip6tables-save -t filter` output (exported for tests of the rule text). */
export function ip6tablesFindings(text: string, options: DoctorOptions): Finding[] {
  if (!/^:FORWARD DROP\b/m.test(text)) return [];
  const uplink = options.uplinks[0] ?? 'UPLINK';
  const accept = acceptAdvice(options, (m) => `ip6tables -I FORWARD ${m.replace(/iifname "([^"]+)"/, '-i $1').replace(/oifname "([^"]+)"/, '-o $1')} -j ACCEPT`);
  let who = 'the ip6tables FORWARD policy is DROP';
  let fix = accept;
  if (/^:ufw6-/m.test(text)) {
    who = 'ufw sets the ip6tables FORWARD policy to DROP (DEFAULT_FORWARD_POLICY="DROP" in /etc/default/ufw)';
    fix = `ufw route allow in on ${options.tun}; ufw route allow out on ${options.tun} (NAT66), and for a routed network ufw route allow in on BRIDGE out on ${uplink}; ufw route allow in on ${uplink} out on BRIDGE`;
  } else if (/^:DOCKER(-FORWARD|-ISOLATION-STAGE-1)? /m.test(text)) {
    who = "Docker's ip6tables (\"ip6tables\": true) sets the FORWARD policy to DROP and accepts only its own bridges' traffic (DOCKER-FORWARD, DOCKER-ISOLATION)";
    fix = `${accept}; or "ip6tables": false in /etc/docker/daemon.json if sixgate does the NAT66`;
  }
  return [{ check: 'firewall', message: `${who}: IPv6 forwarded between the bridges, ${options.tun} and the uplink is dropped unless a rule accepts it; sixgate leaves it as it is. Fix: ${fix}` }];
}

// ------------------------------------------------------------------ ndp

/** Other NDP proxies or IPv6 NATs running in this network namespace. */
function competingDaemons(): Finding[] {
  const fixes: Record<string, string> = {
    ndppd: 'ndppd answers Neighbor Solicitations for the same addresses as sixgate: stop it (systemctl disable --now ndppd); sixgate ndp reads its /etc/ndppd.conf unchanged',
    'docker-ipv6nat': 'docker-ipv6nat writes ip6tables NAT for the same networks as sixgate nat66: stop and remove its container (sixgate ipv6nat takes its flags)',
  };
  let own: string;
  try {
    own = readlinkSync('/proc/self/ns/net');
  } catch {
    return [];
  }
  const out: Finding[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
      const fix = fixes[comm];
      if (fix !== undefined && readlinkSync(`/proc/${pid}/ns/net`) === own) out.push({ check: 'ndp', message: `${comm} (pid ${pid}) is running: ${fix}` });
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return out;
}

async function kernelProxyFindings(): Promise<Finding[]> {
  let entries: { dst?: string; dev?: string }[];
  try {
    entries = await ipJson<{ dst?: string; dev?: string }[]>(['neigh', 'show', 'proxy']);
  } catch {
    return [];
  }
  return entries.filter((e) => e.dst !== undefined && e.dev !== undefined).map((e) => ({
    check: 'ndp',
    message: `the kernel holds a proxy entry for ${e.dst} on ${e.dev} (ip -6 neigh show proxy): with proxy_ndp on it answers beside sixgate, and with its own link-layer address. Fix: ip -6 neigh del proxy ${e.dst} dev ${e.dev}`,
  }));
}

// ------------------------------------------------------------------ bridge

interface BridgeLink {
  ifname: string;
  linkinfo?: { info_data?: { mcast_snooping?: number; mcast_querier?: number } };
}

async function bridgeLinks(): Promise<BridgeLink[]> {
  try {
    return await ipJson<BridgeLink[]>(['-d', 'link', 'show', 'type', 'bridge'], false);
  } catch {
    return [];
  }
}

function snoopingFindings(bridges: readonly BridgeLink[]): Finding[] {
  return bridges.filter((b) => b.linkinfo?.info_data?.mcast_snooping === 1 && b.linkinfo.info_data.mcast_querier !== 1).map((b) => ({
    check: 'bridge',
    message: `bridge ${b.ifname} snoops multicast with no querier: a Neighbor Solicitation to a container's solicited-node group reaches only the ports whose MLD report the bridge saw and still remembers. `
      + `Fix: ip link set dev ${b.ifname} type bridge mcast_snooping 0 (or mcast_querier 1)`,
  }));
}

// ------------------------------------------------------------------ docker

/** How long the Docker check waits for the API before it is skipped. */
const DOCKER_TIMEOUT_MS = 2000;

async function dockerFindings(endpoint: DockerEndpoint | undefined): Promise<Finding[]> {
  if (endpoint === undefined) return [];
  const client = new EngineClient(endpoint);
  const signal = AbortSignal.timeout(DOCKER_TIMEOUT_MS);
  try {
    await client.negotiate(signal);
    const [version, info, networks] = await Promise.all([client.version(signal), client.info(signal), client.listNetworks(signal)]);
    // MASQUERADE rules in ip6tables prove it on, whatever the version suggests (20.10 hides it behind --experimental).
    const ip6tables = (await kernelNatSubnets()).length > 0 || resolveDockerIp6tables(version, info).on;
    const issues: string[] = [];
    if (ip6tables) {
      issues.push(`Docker ${version.Version ?? ''} does IPv6 NAT itself ("ip6tables": true, the default since 27.0): sixgate leaves NAT of its networks alone. `
        + 'Fix: set "ip6tables": false in /etc/docker/daemon.json and restart dockerd if sixgate is to do the NAT66');
    }
    for (const n of networks) {
      const net = classifyNetwork(n, { uplinks: [], dockerIp6tables: ip6tables }, []);
      if (net?.dockerNat === true) {
        issues.push(`network ${net.name}: Docker NATs it itself (gateway mode nat with ip6tables on), so sixgate leaves it alone. `
          + 'Fix: recreate it with -o com.docker.network.bridge.gateway_mode_ipv6=routed (Docker 27+), or set "ip6tables": false in /etc/docker/daemon.json');
      }
    }
    return issues.map((message) => ({ check: 'docker', message }));
  } catch {
    return []; // no Docker here, or it does not answer: nothing to say about it
  }
}
