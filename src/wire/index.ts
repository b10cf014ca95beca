// The wire layer: zero-copy views over Uint8Array packets (see each file's
// header for its RFC diagram and contract). Files that share names (F,
// HEADER_LEN, check, ...) are exported as namespaces; cross-cutting helpers
// (reason codes, checksums, addresses, the chain walk, builders) are flat.
// The field tables of IPv6, TCP, UDP, SCTP and ICMPv6 (F), TCP's Flag and
// IcmpType are const enums: tsc writes their numbers into the code that uses
// them, so a header offset costs the engines' hot paths nothing (a property
// of an imported object measured ~9 ns per NAT66 packet); they have no
// run-time object.
//
//   import { ipv6, tcp, walkChain, Ipv6Chain, WireError } from '../wire/index.js';

export * from './error.js';
export * from './checksum.js';
export * from './address.js';
export { Ipv6Chain, walkChain, isExtensionHeader, hasActiveRoutingType0, RoutingType } from './ipv6-ext.js';
export { buildNs, buildNa, ndLength } from './ndp-build.js';
export { parseNd, type NdRepr, type NdOptions, type NdPrefix } from './ndp.js';
export { Protocol } from './ipv6.js';
export { IcmpType } from './icmpv6.js';
export { EtherType } from './ethernet.js';
export { OptionType } from './ndp-option.js';
export * as ethernet from './ethernet.js';
export * as ipv6 from './ipv6.js';
export * as ipv6Ext from './ipv6-ext.js';
export * as tcp from './tcp.js';
export * as udp from './udp.js';
export * as sctp from './sctp.js';
export * as icmpv6 from './icmpv6.js';
export * as ndp from './ndp.js';
export * as ndpOption from './ndp-option.js';
