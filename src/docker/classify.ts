// Docker networks → what sixgate does for each of their IPv6 subnets.
//
// Per subnet, in this order (docker-ipv6nat looked at the first ULA subnet
// only, bug B6; here every IPv6 subnet gets a service):
//   internal network                       → none ('internal')
//   label/option sixgate.nptv6=<prefix>    → nptv6 (stateless RFC 6296, same length, at most /112)
//   label/option sixgate.nptv6=auto        → nptv6 of the first ULA subnet to a prefix derived from the
//                                            upstream one, following its changes (datapath/resolve.ts)
//   ULA fc00::/7, masquerade on            → nat66
//   ULA, enable_ip_masquerade=false        → none ('masquerade-off')
//   global, inside an uplink's on-link prefix → ndp (proxy each container address on that uplink)
//   global elsewhere                       → none ('not-on-uplink': routed to the host by someone else)
// and when Docker's own ip6tables NAT serves the network, its nat66/nptv6
// subnets become none ('docker-ip6tables') so the two never fight (bug B5).
//
// Docker 27+ gateway modes (option com.docker.network.bridge.gateway_mode_ipv6):
//   nat, nat-unprotected (28+)  Docker NATs when its ip6tables is on (above);
//                               with it off, sixgate serves the network as usual
//   routed                      Docker does no NAT: global subnets on an uplink
//                               are NDP-proxied, ULA ones NAT'd by sixgate (the
//                               per-network way to hand NAT to sixgate on 27+)
//   isolated (28+, internal)    no gateway on the host at all: none ('gateway-isolated')
//
// macvlan and ipvlan networks (no bridge: containers sit on the parent's link):
//   macvlan (bridge mode), ipvlan l2       → shim: the host reaches them through
//                                            an interface of its own on the parent
//                                            (src/host/shim.ts); label sixgate.shim=off
//                                            opts out ('shim-off')
//   macvlan private/vepa/passthru          → none ('macvlan-mode': a shim cannot reach them)
//   ipvlan l3/l3s, inside an uplink's prefix → ndp, answered on the parent
//   ipvlan l3/l3s elsewhere                → none ('needs-route': the router needs a route)
import { clearHostBits, matchesPrefix, formatIpv6, tryParseIpv6 } from '../wire/address.js';
import { compareApiVersions } from './client.js';
import type { ApiInfo, ApiNetwork, ApiVersion } from './api-types.js';

export type SubnetService = 'nat66' | 'nptv6' | 'ndp' | 'shim' | 'none';

/** The label (or driver option) asking for NPTv6: its value is the external prefix. */
export const NPTV6_LABEL = 'sixgate.nptv6';
/** The label that keeps sixgate from giving a macvlan/ipvlan network a host shim ("off"). */
export const SHIM_LABEL = 'sixgate.shim';

export type NetworkDriver = 'bridge' | 'macvlan' | 'ipvlan';

export const OPT = {
  bridgeName: 'com.docker.network.bridge.name',
  defaultBridge: 'com.docker.network.bridge.default_bridge',
  icc: 'com.docker.network.bridge.enable_icc',
  masquerade: 'com.docker.network.bridge.enable_ip_masquerade',
  hostBindingIpv6: 'com.docker.network.bridge.host_binding_ipv6',
  hostBindingIpv4: 'com.docker.network.bridge.host_binding_ipv4',
  hostIpv6: 'com.docker.network.host_ipv6',
  gatewayModeIpv6: 'com.docker.network.bridge.gateway_mode_ipv6',
} as const;

/** A host interface and the prefixes on its link (input from the service / routes). */
export interface Uplink {
  name: string;
  prefixes: readonly string[];
}

export interface NetworkSubnet {
  /** Canonical text, host bits cleared: "fd00:1::/64". */
  prefix: string;
  length: number;
  service: SubnetService;
  /** Why the service is 'none' (or '' when it is not). */
  reason: string;
  /** ndp: the uplink whose on-link prefix holds the subnet. */
  uplink?: string;
  /** nptv6: the external prefix. */
  externalPrefix?: string;
}

export interface DockerNetwork {
  id: string;
  name: string;
  driver: NetworkDriver;
  /**
   * The host interface the network's containers hang off: the Linux bridge
   * (com.docker.network.bridge.name, else br-<id12>), or a macvlan/ipvlan
   * network's parent (option `parent`).
   */
  bridge: string;
  /** macvlan_mode / ipvlan_mode as Docker applies it ('' for a bridge). */
  driverMode: string;
  internal: boolean;
  icc: boolean;
  masquerade: boolean;
  /** Host address for ports published on ""/0.0.0.0/::; null means every external address. */
  hostBindingIpv6: string | null;
  /** com.docker.network.host_ipv6: the source address to use instead of masquerading. */
  snatAddress: string | null;
  /** IPv6 subnets in IPAM order. */
  subnets: NetworkSubnet[];
  /** Docker's own ip6tables NAT serves this network: sixgate leaves its NAT alone. */
  dockerNat: boolean;
  labels: Record<string, string>;
}

/** The values of com.docker.network.bridge.gateway_mode_ipv6; absent means 'nat'. */
export const GATEWAY_MODES = ['nat', 'nat-unprotected', 'routed', 'isolated'] as const;
export type GatewayMode = typeof GATEWAY_MODES[number];

export interface ClassifyContext {
  uplinks: readonly Uplink[];
  /** Whether dockerd runs with ip6tables on (see resolveDockerIp6tables). */
  dockerIp6tables: boolean;
}

export interface Issue {
  level: 'info' | 'warn';
  msg: string;
}

export type Ip6tablesSetting = 'auto' | 'on' | 'off';

/**
 * Whether dockerd writes its own IPv6 NAT rules. The API does not expose the
 * daemon's `ip6tables` setting, so this infers it: Docker 27+ has it on by
 * default; 20.10–26 only allow it on an experimental daemon, which alone does
 * not prove it is on (assumed off, with a warning). `setting` overrides.
 */
export function resolveDockerIp6tables(version: ApiVersion, info: ApiInfo, setting: Ip6tablesSetting = 'auto'): { on: boolean; issue?: Issue } {
  if (setting !== 'auto') return { on: setting === 'on' };
  const major = Number(/^(\d+)\./.exec(version.Version ?? info.ServerVersion ?? '')?.[1] ?? 'NaN');
  const api = version.ApiVersion ?? '';
  if (major >= 27 || (Number.isNaN(major) && api !== '' && compareApiVersions(api, '1.46') >= 0)) {
    return {
      on: true,
      issue: { level: 'warn', msg: `Docker ${version.Version ?? api} does IPv6 NAT itself (ip6tables is on by default since 27.0): sixgate leaves NAT of its networks alone; set "ip6tables": false in daemon.json (and tell sixgate with --docker-ip6tables off) to let sixgate serve them` },
    };
  }
  if (info.ExperimentalBuild === true) {
    return {
      on: false,
      issue: { level: 'warn', msg: `Docker ${version.Version ?? ''} runs experimental, where "ip6tables": true is possible and invisible to the API: assuming it is off; if daemon.json sets it, pass --docker-ip6tables on` },
    };
  }
  return { on: false };
}

/** The IPv6 gateway mode; an unknown value is read as Docker's default, 'nat', with a line. */
function readGatewayMode(value: string | undefined, name: string, issues: Issue[]): GatewayMode {
  if (value === undefined || value === '') return 'nat';
  const known = GATEWAY_MODES.find((m) => m === value);
  if (known !== undefined) return known;
  issues.push({ level: 'warn', msg: `network ${name}: ${OPT.gatewayModeIpv6}=${JSON.stringify(value)} is not a gateway mode this sixgate knows (${GATEWAY_MODES.join(', ')}): treated as nat` });
  return 'nat';
}

/** ParseBool as Go's strconv does it; `fallback` when absent or not a boolean. */
function optBool(options: Record<string, string>, key: string, fallback: boolean, issues: Issue[]): boolean {
  const v = options[key];
  if (v === undefined || v === '') return fallback;
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(v)) return false;
  issues.push({ level: 'warn', msg: `option ${key}=${JSON.stringify(v)} is not a boolean: using ${fallback}` });
  return fallback;
}

/** "2001:db8::5/64" → address bytes with host bits cleared and the length; undefined if not IPv6. */
export function parsePrefix(text: string): { bytes: Uint8Array; length: number; text: string } | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const addr = tryParseIpv6(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (addr === undefined || !/^\d{1,3}$/.test(lenText) || Number(lenText) > 128) return undefined;
  const length = Number(lenText);
  const bytes = clearHostBits(addr, length);
  return { bytes, length, text: `${formatIpv6(bytes, 0)}/${length}` };
}

/** Canonical RFC 5952 text of an IPv6 address, or undefined. */
export function canonicalAddress(text: string): string | undefined {
  const a = tryParseIpv6(text);
  return a === undefined ? undefined : formatIpv6(a, 0);
}

/** Whether `inner` lies within `outer` (same or longer prefix, same leading bits). */
export function prefixWithin(inner: { bytes: Uint8Array; length: number }, outer: { bytes: Uint8Array; length: number }): boolean {
  return inner.length >= outer.length && matchesPrefix(inner.bytes, 0, outer.bytes, 0, outer.length);
}

const ULA = { bytes: Uint8Array.of(0xfc, ...new Array<number>(15).fill(0)), length: 7 };
/** Longest subnet that still holds a gateway and one container. */
const LONGEST_USABLE = 126;
/** RFC 6296 translation in the NAT engine works on /112 or shorter (nat/nptv6.ts). */
const LONGEST_NPTV6 = 112;
/** The label value asking for an external prefix derived from the upstream one. */
const NPTV6_AUTO = 'auto';

function classifySubnet(p: { bytes: Uint8Array; length: number; text: string },
  net: { internal: boolean; masquerade: boolean; gatewayMode: GatewayMode; nptv6?: string },
  ctx: ClassifyContext, issues: Issue[], nptv6Used: { done: boolean }): NetworkSubnet {
  const none = (reason: string): NetworkSubnet => ({ prefix: p.text, length: p.length, service: 'none', reason });
  if (p.length > LONGEST_USABLE) {
    issues.push({ level: 'warn', msg: `subnet ${p.text} is too small (longer than /${LONGEST_USABLE}): ignored` });
    return none('too-small');
  }
  if (net.internal) return none('internal');
  if (net.gatewayMode === 'isolated') return none('gateway-isolated');
  if (net.nptv6 === NPTV6_AUTO && !nptv6Used.done && prefixWithin(p, ULA)) {
    nptv6Used.done = true;
    if (p.length <= LONGEST_NPTV6) return { prefix: p.text, length: p.length, service: 'nptv6', reason: '', externalPrefix: NPTV6_AUTO };
    issues.push({ level: 'warn', msg: `subnet ${p.text} is too small for NPTv6 (needs /${LONGEST_NPTV6} or shorter): NPTv6 off` });
  } else if (net.nptv6 !== undefined && net.nptv6 !== NPTV6_AUTO && !nptv6Used.done) {
    const ext = parsePrefix(net.nptv6.includes('/') ? net.nptv6 : `${net.nptv6}/${p.length}`);
    if (ext === undefined) {
      nptv6Used.done = true;
      issues.push({ level: 'warn', msg: `${NPTV6_LABEL}=${JSON.stringify(net.nptv6)} is not an IPv6 prefix: NPTv6 off` });
    } else if (ext.length === p.length) {
      nptv6Used.done = true;
      if (p.length > LONGEST_NPTV6) {
        issues.push({ level: 'warn', msg: `subnet ${p.text} is too small for NPTv6 (needs /${LONGEST_NPTV6} or shorter): NPTv6 off` });
      } else {
        return { prefix: p.text, length: p.length, service: 'nptv6', reason: '', externalPrefix: ext.text };
      }
    }
  }
  if (prefixWithin(p, ULA)) return net.masquerade ? { prefix: p.text, length: p.length, service: 'nat66', reason: '' } : none('masquerade-off');
  for (const uplink of ctx.uplinks) {
    for (const text of uplink.prefixes) {
      const onLink = parsePrefix(text);
      if (onLink !== undefined && prefixWithin(p, onLink)) {
        return { prefix: p.text, length: p.length, service: 'ndp', reason: '', uplink: uplink.name };
      }
    }
  }
  return none('not-on-uplink');
}

/**
 * A Docker network as the model keeps it, or undefined when sixgate has
 * nothing to do with it (not a bridge, or no IPv6 subnet); `issues` receives
 * the lines worth logging either way.
 */
export function classifyNetwork(raw: ApiNetwork, ctx: ClassifyContext, issues: Issue[]): DockerNetwork | undefined {
  const id = raw.Id ?? '';
  const name = raw.Name ?? id.slice(0, 12);
  const v6: Array<{ bytes: Uint8Array; length: number; text: string }> = [];
  for (const cfg of raw.IPAM?.Config ?? []) {
    const p = cfg.Subnet === undefined ? undefined : parsePrefix(cfg.Subnet);
    if (p !== undefined) v6.push(p);
  }
  const driver = DRIVERS.find((d) => d === raw.Driver);
  if (driver === undefined) {
    if (v6.length > 0) issues.push({ level: 'info', msg: `network ${name} (driver ${raw.Driver ?? '?'}) has IPv6 but sixgate serves ${DRIVERS.join(', ')} networks only: ignored` });
    return undefined;
  }
  const options = raw.Options ?? {};
  const labels = raw.Labels ?? {};
  if (v6.length === 0) {
    issues.push({ level: 'info', msg: `network ${name} has no IPv6 subnet: ignored (create it with --ipv6 --subnet <prefix>)` });
    return undefined;
  }
  const internal = raw.Internal === true;
  if (driver !== 'bridge') return classifyLinkNetwork(raw, driver, v6, ctx, issues);
  const masquerade = optBool(options, OPT.masquerade, true, issues);
  const icc = optBool(options, OPT.icc, true, issues);
  const isDefault = optBool(options, OPT.defaultBridge, false, issues);
  const bridge = options[OPT.bridgeName] ?? (isDefault ? 'docker0' : `br-${id.slice(0, 12)}`);

  let hostBindingIpv6: string | null = null;
  const binding = options[OPT.hostBindingIpv6] ?? (options[OPT.hostBindingIpv4]?.includes(':') ? options[OPT.hostBindingIpv4] : undefined);
  if (binding !== undefined && binding !== '') {
    const canon = canonicalAddress(binding);
    if (canon === undefined) issues.push({ level: 'warn', msg: `network ${name}: host binding ${JSON.stringify(binding)} is not an IPv6 address: using every address` });
    else if (canon !== '::') hostBindingIpv6 = canon;
  }
  let snatAddress: string | null = null;
  if (options[OPT.hostIpv6] !== undefined && options[OPT.hostIpv6] !== '') {
    snatAddress = canonicalAddress(options[OPT.hostIpv6]) ?? null;
    if (snatAddress === null) issues.push({ level: 'warn', msg: `network ${name}: ${OPT.hostIpv6}=${JSON.stringify(options[OPT.hostIpv6])} is not an IPv6 address: masquerading instead` });
  }
  const gatewayMode = readGatewayMode(options[OPT.gatewayModeIpv6], name, issues);
  const dockerNat = ctx.dockerIp6tables && !internal && (gatewayMode === 'nat' || gatewayMode === 'nat-unprotected');
  const nptv6 = labels[NPTV6_LABEL] ?? options[NPTV6_LABEL];

  const subnetIssues: Issue[] = [];
  const nptv6Used = { done: false };
  const subnets = v6.map((p) => {
    const s = classifySubnet(p, { internal, masquerade, gatewayMode, nptv6 }, ctx, subnetIssues, nptv6Used);
    if (dockerNat && (s.service === 'nat66' || s.service === 'nptv6')) {
      return { prefix: s.prefix, length: s.length, service: 'none' as const, reason: 'docker-ip6tables' };
    }
    return s;
  });
  if (nptv6 !== undefined && !nptv6Used.done) {
    subnetIssues.push({ level: 'warn', msg: `${NPTV6_LABEL}=${nptv6}: ${nptv6 === NPTV6_AUTO ? 'no ULA IPv6 subnet' : 'no IPv6 subnet of the same length'}: NPTv6 off` });
  }
  for (const issue of subnetIssues) issues.push({ level: issue.level, msg: `network ${name}: ${issue.msg}` });
  if (dockerNat && subnets.some((s) => s.reason === 'docker-ip6tables')) {
    issues.push({ level: 'warn', msg: `network ${name}: Docker's own ip6tables NAT serves it: sixgate leaves its NAT alone` });
  }
  return { id, name, driver, bridge, driverMode: '', internal, icc, masquerade, hostBindingIpv6, snatAddress, subnets, dockerNat, labels: { ...labels } };
}

const DRIVERS: readonly NetworkDriver[] = ['bridge', 'macvlan', 'ipvlan'];

/**
 * A macvlan or ipvlan network. Docker's defaults: macvlan_mode bridge,
 * ipvlan_mode l2; no `parent` means Docker made a dummy parent (an internal
 * network: nothing to reach).
 */
function classifyLinkNetwork(raw: ApiNetwork, driver: 'macvlan' | 'ipvlan', v6: ReadonlyArray<{ bytes: Uint8Array; length: number; text: string }>,
  ctx: ClassifyContext, issues: Issue[]): DockerNetwork {
  const id = raw.Id ?? '';
  const name = raw.Name ?? id.slice(0, 12);
  const options = raw.Options ?? {};
  const labels = raw.Labels ?? {};
  const parent = options.parent ?? '';
  const driverMode = driver === 'macvlan' ? options.macvlan_mode || 'bridge' : options.ipvlan_mode || 'l2';
  const internal = raw.Internal === true || parent === '';
  const shimOff = (labels[SHIM_LABEL] ?? options[SHIM_LABEL]) === 'off';
  const subnets = v6.map((p): NetworkSubnet => {
    const none = (reason: string): NetworkSubnet => ({ prefix: p.text, length: p.length, service: 'none', reason });
    if (internal) return none('internal');
    if (driverMode === 'l3' || driverMode === 'l3s') {
      const uplink = ctx.uplinks.find((u) => u.name === parent && u.prefixes.some((t) => {
        const onLink = parsePrefix(t);
        return onLink !== undefined && prefixWithin(p, onLink);
      }));
      if (uplink !== undefined) return { prefix: p.text, length: p.length, service: 'ndp', reason: '', uplink: uplink.name };
      issues.push({ level: 'warn', msg: `network ${name}: ipvlan ${driverMode} subnet ${p.text} is not inside an on-link prefix of an uplink sixgate answers on: the upstream router needs a route to it (ip -6 route add ${p.text} via <this host's address on ${parent}>)` });
      return none('needs-route');
    }
    if (driver === 'macvlan' && driverMode !== 'bridge') {
      issues.push({ level: 'info', msg: `network ${name}: macvlan mode ${driverMode} keeps its containers from the host's shim (only bridge mode reaches them): no shim` });
      return none('macvlan-mode');
    }
    return shimOff ? none('shim-off') : { prefix: p.text, length: p.length, service: 'shim', reason: '' };
  });
  return {
    id, name, driver, bridge: parent, driverMode, internal, icc: true, masquerade: false, hostBindingIpv6: null,
    snatAddress: null, subnets, dockerNat: false, labels: { ...labels },
  };
}

/** The subnet of `net` holding `address`, if any. */
export function subnetOf(net: DockerNetwork, address: string): NetworkSubnet | undefined {
  const a = tryParseIpv6(address);
  if (a === undefined) return undefined;
  for (const s of net.subnets) {
    const p = parsePrefix(s.prefix);
    if (p !== undefined && matchesPrefix(a, 0, p.bytes, 0, p.length)) return s;
  }
  return undefined;
}
