// How sixgate marks what it installs on the host, so cleanup and adoption
// after a crash find exactly its own rules and routes and nothing else:
// a routing table of its own, a band of rule priorities, and a routing
// protocol number (`proto`) on every route and rule. The numbers sit in
// ranges no distribution or Docker uses (rt_protos and rt_tables reserve
// nothing there; Docker and systemd-networkd use priorities below 1000 or
// 32765+).

/** `ip rule ... lookup TABLE`: the table whose default route is the TUN. */
export const SIXGATE_TABLE = 6646;
/** Priority of sixgate's policy rules (all of them; they never overlap). */
export const SIXGATE_RULE_PRIORITY = 6646;
/** `proto` of every route and rule sixgate installs (iproute2 shows it as a number). */
export const SIXGATE_PROTO = 166;
/** tc filter priority of host-address steering filters (pref on the uplink's ingress). */
export const SIXGATE_TC_PRIORITY = 6646;
