// Small numeric vocabularies shared by the NAT66 table and translator.
import { describeCodes } from '../wire/names.js';

/** Protocol classes: each has its own external port space (ICMPv6 echo identifiers count as ports). */
export const ProtoClass = {
  Tcp: 0,
  Udp: 1,
  Icmp: 2,
  Sctp: 3,
} as const;
export type ProtoClass = (typeof ProtoClass)[keyof typeof ProtoClass];

/**
 * TCP session states after RFC 6146 §3.5.2 (inside = "V6", outside = "V4").
 * SYN seen in both directions makes a session established, which is what
 * lets a simultaneous open (RFC 5382 REQ-2) through.
 */
export const TcpState = {
  None: 0,
  /** Inside sent a SYN, no SYN back yet. */
  SynOut: 1,
  /** Outside sent a SYN (published port or full-cone mapping), no SYN back yet. */
  SynIn: 2,
  Established: 3,
  /** Inside sent a FIN. */
  FinOut: 4,
  /** Outside sent a FIN. */
  FinIn: 5,
  /** FIN in both directions: transitory timer. */
  FinBoth: 6,
  /** After a RST, or picked up mid-stream: transitory until a non-RST packet re-establishes it. */
  Trans: 7,
} as const;
export type TcpState = (typeof TcpState)[keyof typeof TcpState];

export const TCP_STATE_NAMES: readonly string[] = [
  'none', 'syn-out', 'syn-in', 'established', 'fin-out', 'fin-in', 'fin-both', 'transitory',
];

export const PROTO_CLASS_NAMES: readonly string[] = ['tcp', 'udp', 'icmpv6', 'sctp'];

/** What a translate call did with the packet: >= 0 is kept, < 0 is -(drop reason). */
export const Verdict = {
  /** Rewritten in place; send it on. */
  Forward: 0,
  /** A non-first fragment that arrived before its first fragment: copied into the hold buffer. */
  Held: 1,
  /** Rewritten in place and addressed back into an inside network (hairpinning, RFC 4787 REQ-9). */
  Hairpin: 2,
  /**
   * Replaced in place by a reply to its sender (a TCP RST or an ICMPv6
   * error, refuse.ts), of another length (Nat66.replyLength; in a batch,
   * lengths[i]): send it back into the TUN as a plain, fully checksummed packet.
   */
  Reply: 3,
} as const;

/** Engine counters (besides drops), indexed by these codes; what each counts is its help text in NAT_COUNTERS below. */
export const NatCounter = {
  OutPackets: 0,
  OutBytes: 1,
  InPackets: 2,
  InBytes: 3,
  Hairpin: 4,
  SessionsCreated: 5,
  SessionsExpired: 6,
  SessionsReclaimed: 7,
  IcmpErrorsOut: 8,
  IcmpErrorsIn: 9,
  NptOut: 10,
  NptIn: 11,
  FragmentsFollowed: 12,
  FragmentsHeld: 13,
  FragmentsReleased: 14,
  EarlyDrops: 15,
  AddressQuotaHits: 16,
  NetworkQuotaHits: 17,
  PortsReclaimed: 18,
  RstSent: 19,
  UnreachableSent: 20,
  RefusalsRateLimited: 21,
} as const;
// Each counter's name and one-line help: the one place they are written.
const NAT_COUNTERS = describeCodes(NatCounter, {
  OutPackets: ['out-packets', 'Packets translated outbound (inside to outside, hairpin included).'],
  OutBytes: ['out-bytes', 'Bytes of the packets translated outbound.'],
  InPackets: ['in-packets', 'Packets translated inbound (outside to inside).'],
  InBytes: ['in-bytes', 'Bytes of the packets translated inbound.'],
  Hairpin: ['hairpin', 'Packets from an inside network to an external address of this NAT, sent back inside (RFC 4787 REQ-9).'],
  SessionsCreated: ['sessions-created', 'Sessions opened.'],
  SessionsExpired: ['sessions-expired', 'Sessions removed when their timer ran out.'],
  SessionsReclaimed: ['sessions-reclaimed', 'Idle sessions reclaimed to make room in a full table.'],
  IcmpErrorsOut: ['icmp-errors-out', 'ICMPv6 errors translated outbound, embedded packet included.'],
  IcmpErrorsIn: ['icmp-errors-in', 'ICMPv6 errors translated inbound, embedded packet included.'],
  NptOut: ['npt-out', 'Packets translated outbound by NPTv6 prefix translation (stateless).'],
  NptIn: ['npt-in', 'Packets translated inbound by NPTv6 prefix translation (stateless).'],
  FragmentsFollowed: ['fragments-followed', "Non-first fragments translated with their first fragment's session."],
  FragmentsHeld: ['fragments-held', 'Non-first fragments that came before their first fragment, held until it comes.'],
  FragmentsReleased: ['fragments-released', 'Held fragments released once their first fragment came.'],
  EarlyDrops: ['early-drops', 'Unreplied sessions evicted to make room in a full table.'],
  AddressQuotaHits: ['address-quota-hits', 'A new session found its inside address at its quota (its own stalest unreplied session made room, or it was dropped).'],
  NetworkQuotaHits: ['network-quota-hits', "Like address-quota-hits, for the network's quota."],
  PortsReclaimed: ['ports-reclaimed', 'External ports freed for a new mapping from an exhausted pool (unreplied, then idle mappings).'],
  RstSent: ['rst-sent', 'TCP RSTs sent for SYNs to an unpublished port of an external address (refuse.ts).'],
  UnreachableSent: ['unreachable-sent', 'ICMPv6 port unreachable sent for other packets to an unpublished port.'],
  RefusalsRateLimited: ['refusal-rate-limited', 'Refusals not sent: over the rate limit (RFC 4443 section 2.4).'],
});
export const NAT_COUNTER_NAMES: readonly string[] = NAT_COUNTERS.names;
export const NAT_COUNTER_HELP: readonly string[] = NAT_COUNTERS.help;

/** Which way a packet crosses the NAT: out of an inside network, or in from the world. */
export const Direction = { Out: 0, In: 1 } as const;
