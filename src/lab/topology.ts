// The lab's network, the same for both engines:
//
//                 ┌ web    fd6c:6162:1::/64 (ULA, NAT66; web publishes 8080 → 80)
//   containers ───┤ client fd6c:6162:1::/64 (ULA, the hairpin and outbound NAT client)
//                 └ glob1  2001:db8:1:0:d0c::/80 (global, inside the uplink prefix: NDP-proxied)
//        │
//   sglab-host ─ up0 ══ down0 ─ sglab-router ─ out0 ══ eth0 ─ sglab-internet
//   2001:db8:1::2/64      2001:db8:1::1     2001:db8:2::1        2001:db8:2::2
//        │
//        └ lan0 ══ lan0 (a second LAN, 2001:db8:3::/64: host ::2, router ::1)
//            └ macvlan lan1 2001:db8:3:0:1::/80 of the LAN's own prefix (Docker engine
//              only: the host reaches it through sixgate's shim)
//
// sglab-host plays the Docker host: sixgate runs there (and dockerd, with
// the Docker engine). The router knows nothing of the ULA network and finds
// every address of 2001:db8:1::/64 by NDP only, so the NAT's external address
// and the global container are reachable exactly when sixgate answers for
// them. Documentation prefix and a ULA of the lab's own; forwarding is
// switched on inside sglab-host and sglab-router only.
import { pickDedicated } from '../datapath/resolve.js';
import { formatIpv6, parseIpv6, parseIpv6Prefix } from '../wire/address.js';
import { Lab, type Netns } from './netns.js';
import { labNsName } from './state.js';

export const ADDR = {
  uplinkPrefix: '2001:db8:1::/64',
  host: '2001:db8:1::2',
  router: '2001:db8:1::1',
  routerOut: '2001:db8:2::1',
  internet: '2001:db8:2::2',
  /** "lab" in the ULA global ID. */
  ula: 'fd6c:6162:1::/64',
  ulaGateway: 'fd6c:6162:1::1',
  global: '2001:db8:1:0:d0c::/80',
  globalGateway: '2001:db8:1:0:d0c::1',
  lanPrefix: '2001:db8:3::/64',
  lanHost: '2001:db8:3::2',
  lanRouter: '2001:db8:3::1',
  /** Where Docker picks the macvlan container's address. */
  lanRange: '2001:db8:3:0:1::/80',
  /** The Docker engine's default bridge (unused by the checks, kept off the others). */
  dockerDefault: 'fd6c:6162:d0c::/64',
} as const;

/** Network names, as Docker knows them (the external address is derived from the ULA one's). */
export const NET = { ula: 'ula', global: 'glob', lan: 'lan' } as const;
export const UPLINK = 'up0';
/** The second LAN's link, parent of the macvlan network. */
export const LAN_LINK = 'lan0';
export const PUBLISHED_PORT = 8080;
export const WEB_PORT = 80;

/** The external address sixgate picks for the ULA network (derived from its name, as `auto` does). */
export function externalAddress(): string {
  const p = parseIpv6Prefix(ADDR.uplinkPrefix);
  return formatIpv6(pickDedicated(p.address, p.length, NET.ula, [parseIpv6(ADDR.host)]), 0);
}

/** A container as the checks see it: where its network stack is and its address. */
export interface LabContainer {
  readonly name: string;
  /** A namespace path for nsenter --net (/run/netns/... or /proc/PID/ns/net). */
  readonly netns: string;
  readonly address: string;
}

export interface LabContainers {
  readonly web: LabContainer;
  readonly client: LabContainer;
  readonly glob1: LabContainer;
  /** The macvlan container (Docker engine only). */
  readonly lan1?: LabContainer;
}

export interface Upstream {
  readonly lab: Lab;
  readonly router: Netns;
  readonly internet: Netns;
}

/** A lab with fixed sglab-<role> namespace names (cleanup is `sixgate lab --down`'s). */
export function newLab(): Lab {
  return new Lab({ name: labNsName });
}

/** Wires `host`'s uplink to the router and the internet namespace. */
export function buildUpstream(lab: Lab, host: Netns): Upstream {
  const router = lab.ns('router');
  const internet = lab.ns('internet');
  lab.veth(host, UPLINK, router, 'down0');
  lab.addr(host, UPLINK, `${ADDR.host}/64`);
  lab.addr(router, 'down0', `${ADDR.router}/64`);
  host.ip('-6', 'route', 'add', 'default', 'via', ADDR.router);
  lab.veth(router, 'out0', internet, 'eth0');
  lab.addr(router, 'out0', `${ADDR.routerOut}/64`);
  lab.addr(internet, 'eth0', `${ADDR.internet}/64`);
  internet.ip('-6', 'route', 'add', 'default', 'via', ADDR.routerOut);
  lab.veth(host, LAN_LINK, router, LAN_LINK);
  lab.addr(host, LAN_LINK, `${ADDR.lanHost}/64`);
  lab.addr(router, LAN_LINK, `${ADDR.lanRouter}/64`);
  host.sysctl('net.ipv6.conf.all.forwarding', '1');
  router.sysctl('net.ipv6.conf.all.forwarding', '1');
  return { lab, router, internet };
}
