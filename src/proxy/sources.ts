// What the one NDP service of a host answers for, by source. Several parts
// of sixgate feed it: the Docker feed (container addresses), the NAT66 data
// path (dedicated external addresses, NPTv6 external prefixes) and, for
// `sixgate ndp`, ndppd.conf. Each source keeps its own claims, so a source
// that withdraws an address leaves it answered while another still claims
// it, and a reload of one source's rules leaves the others' in place.
//
// The sources outlive the service they feed: a service started late (the
// uplink missing at first) or started again reads everything from here.
import type { NdppdConfig, ProxyConfig, RuleConfig } from '../ndp/ndppd-conf.js';
import { NDPPD_DEFAULTS } from '../ndp/ndppd-conf.js';
import { formatIpv6, parseIpv6, parseIpv6Prefix } from '../wire/address.js';

/** The service an NdpSources feeds (NdpService). */
export interface SourcesListener {
  /** `address` became claimed on `uplink` (by its first source). */
  added(uplink: string, address: Uint8Array): void;
  /** The last claim on `address` was withdrawn. */
  removed(uplink: string, address: Uint8Array): void;
  /** The prefixes some source answers for changed: reconfigure (resolves once applied or handed to recovery). */
  prefixesChanged(): Promise<void>;
}

/** How long an uplink made from sources keeps a target nobody answered (ms): shorter than ndppd's default. */
const DEADTIME_MS = 10_000;

export class NdpSources {
  /** "uplink address" -> the sources claiming it. */
  private readonly claims = new Map<string, Set<string>>();
  /** source -> uplink -> prefixes, in the order given. */
  private readonly prefixes = new Map<string, Map<string, readonly string[]>>();
  private listener: SourcesListener | undefined;

  /** Only one service listens; a second attach replaces the first. */
  attach(listener: SourcesListener): void {
    this.listener = listener;
  }

  detach(listener: SourcesListener): void {
    if (this.listener === listener) this.listener = undefined;
  }

  /** `source` claims `address` on `uplink`. True when nobody claimed it before (it is answered from now). */
  add(source: string, uplink: string, address: Uint8Array): boolean {
    const key = `${uplink} ${formatIpv6(address, 0)}`;
    const held = this.claims.get(key);
    if (held !== undefined) {
      held.add(source);
      return false;
    }
    this.claims.set(key, new Set([source]));
    this.listener?.added(uplink, address);
    return true;
  }

  /** `source` withdraws its claim. True when it was the last one (the address is no longer answered). */
  remove(source: string, uplink: string, address: Uint8Array): boolean {
    const key = `${uplink} ${formatIpv6(address, 0)}`;
    const held = this.claims.get(key);
    if (held === undefined || !held.delete(source) || held.size > 0) return false;
    this.claims.delete(key);
    this.listener?.removed(uplink, address);
    return true;
  }

  /** Makes `addresses` the whole of `source`'s claims on `uplink`; counts what it added and withdrew. */
  setAddresses(source: string, uplink: string, addresses: readonly string[]): { added: number; removed: number } {
    const want = new Set(addresses.map((a) => formatIpv6(parseIpv6(a), 0)));
    let added = 0;
    let removed = 0;
    for (const [key, held] of [...this.claims]) {
      const space = key.indexOf(' ');
      const address = key.slice(space + 1);
      if (key.slice(0, space) === uplink && held.has(source) && !want.has(address)) {
        this.remove(source, uplink, parseIpv6(address));
        removed++;
      }
    }
    for (const address of want) {
      if (this.claims.get(`${uplink} ${address}`)?.has(source) === true) continue;
      this.add(source, uplink, parseIpv6(address));
      added++;
    }
    return { added, removed };
  }

  /** Makes `prefixes` (static rules) the whole of `source`'s prefixes on `uplink`; resolves once the service applied them. */
  async setPrefixes(source: string, uplink: string, prefixes: readonly string[]): Promise<void> {
    const mine = this.prefixes.get(source) ?? new Map<string, readonly string[]>();
    if ((mine.get(uplink) ?? []).join() === prefixes.join()) return;
    if (prefixes.length > 0) mine.set(uplink, [...prefixes]);
    else mine.delete(uplink);
    this.prefixes.set(source, mine);
    await this.listener?.prefixesChanged();
  }

  /** Every address claimed on `uplink`. */
  addressesOf(uplink: string): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (const key of this.claims.keys()) {
      const space = key.indexOf(' ');
      if (key.slice(0, space) === uplink) out.push(parseIpv6(key.slice(space + 1)));
    }
    return out;
  }

  /** How many addresses `source` claims (on every uplink). */
  countOf(source: string): number {
    let n = 0;
    for (const held of this.claims.values()) if (held.has(source)) n++;
    return n;
  }

  /** Uplinks some source claims an address or a prefix on. */
  uplinks(): Set<string> {
    const out = new Set<string>();
    for (const key of this.claims.keys()) out.add(key.slice(0, key.indexOf(' ')));
    for (const byUplink of this.prefixes.values()) for (const uplink of byUplink.keys()) out.add(uplink);
    return out;
  }

  /**
   * `base` (ndppd.conf, or an uplink with no rules) with the sources' prefixes
   * appended to their uplinks as static rules, and an uplink added for every
   * uplink only the sources name. ndppd.conf's rules come first: they win.
   */
  configWith(base: NdppdConfig): NdppdConfig {
    const proxies: ProxyConfig[] = base.proxies.map((p) => ({ ...p, rules: [...p.rules] }));
    for (const uplink of this.uplinks()) {
      let proxy = proxies.find((p) => p.iface === uplink);
      if (proxy === undefined) {
        proxy = uplinkProxy(uplink, []);
        proxies.push(proxy);
      }
      const rules = proxy.rules as RuleConfig[];
      for (const byUplink of this.prefixes.values()) {
        for (const text of byUplink.get(uplink) ?? []) {
          const rule = staticRule(text);
          if (!rules.some((r) => r.method === 'static' && r.text === rule.text)) rules.push(rule);
        }
      }
    }
    return { ...base, proxies };
  }
}

/** A proxy on `uplink` answering `prefixes` as static rules, with ndppd's defaults otherwise. */
export function uplinkProxy(uplink: string, prefixes: readonly string[]): ProxyConfig {
  return {
    iface: uplink, router: NDPPD_DEFAULTS.router, timeout: NDPPD_DEFAULTS.timeout, ttl: NDPPD_DEFAULTS.ttl,
    deadtime: DEADTIME_MS, retries: NDPPD_DEFAULTS.retries, keepalive: NDPPD_DEFAULTS.keepalive,
    autowire: false, promiscuous: false, rules: prefixes.map(staticRule), line: 0, column: 0,
  };
}

/** A configuration with one proxy on `uplink` (see uplinkProxy); `file` names it in errors. */
export function uplinkConfig(uplink: string, prefixes: readonly string[], file: string): NdppdConfig {
  return {
    file, routeTtl: NDPPD_DEFAULTS.routeTtl, addressTtl: NDPPD_DEFAULTS.addressTtl,
    proxies: [uplinkProxy(uplink, prefixes)], warnings: [],
  };
}

/** A configuration with no proxy: the service answers only what its sources claim. */
export function sourcesOnlyConfig(file: string): NdppdConfig {
  return { file, routeTtl: NDPPD_DEFAULTS.routeTtl, addressTtl: NDPPD_DEFAULTS.addressTtl, proxies: [], warnings: [] };
}

function staticRule(text: string): RuleConfig {
  const p = parseIpv6Prefix(text);
  return {
    text: `${formatIpv6(p.address, 0)}/${p.length}`, prefix: p.address, prefixLength: p.length,
    method: 'static', iface: null, autovia: false, line: 0, column: 0,
  };
}
