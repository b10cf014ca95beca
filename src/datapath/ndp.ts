// The NDP proxy configuration the data path needs on its uplink: NPTv6
// external prefixes as static rules (the exact external addresses are
// passed separately as /128 addresses, see service.ts). Built in code, the
// same shape ndppd.conf parsing produces.
import type { NdppdConfig, RuleConfig } from '../ndp/config.js';
import { NDPPD_DEFAULTS } from '../ndp/config.js';
import { formatIpv6, parseIpv6Prefix } from '../wire/address.js';

const DEADTIME_MS = 10_000;

export function ndpConfigFor(uplink: string, prefixes: readonly string[]): NdppdConfig {
  const rules: RuleConfig[] = prefixes.map((text) => {
    const p = parseIpv6Prefix(text);
    return {
      text: `${formatIpv6(p.address, 0)}/${p.length}`, prefix: p.address, prefixLength: p.length,
      method: 'static', iface: null, autovia: false, line: 0, column: 0,
    };
  });
  return {
    file: '<sixgate nat66>',
    routeTtl: NDPPD_DEFAULTS.routeTtl,
    addressTtl: NDPPD_DEFAULTS.addressTtl,
    proxies: [{
      iface: uplink, router: NDPPD_DEFAULTS.router, timeout: NDPPD_DEFAULTS.timeout, ttl: NDPPD_DEFAULTS.ttl,
      deadtime: DEADTIME_MS, retries: NDPPD_DEFAULTS.retries, keepalive: NDPPD_DEFAULTS.keepalive,
      autowire: false, promiscuous: false, rules, line: 0, column: 0,
    }],
    warnings: [],
  };
}
