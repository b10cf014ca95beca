// Small numeric vocabularies shared by the NAT66 table and translator.

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

/** Engine counters (besides drops), indexed by these codes. */
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
  /** Unreplied sessions evicted to make room in a full table. */
  EarlyDrops: 15,
  /** A new session found its inside address at its quota (its own stalest unreplied session made room, or it was dropped). */
  AddressQuotaHits: 16,
  /** The same for a network's quota. */
  NetworkQuotaHits: 17,
  /** External ports freed for a new mapping from an exhausted pool (unreplied, then idle mappings). */
  PortsReclaimed: 18,
  /** TCP RSTs sent for SYNs to nothing (refuse.ts). */
  RstSent: 19,
  /** ICMPv6 port unreachable sent for other packets to nothing. */
  UnreachableSent: 20,
  /** Refusals not sent: over the rate limit. */
  RefusalsRateLimited: 21,
} as const;
export const NAT_COUNTER_NAMES: readonly string[] = [
  'out-packets', 'out-bytes', 'in-packets', 'in-bytes', 'hairpin', 'sessions-created', 'sessions-expired',
  'sessions-reclaimed', 'icmp-errors-out', 'icmp-errors-in', 'npt-out', 'npt-in', 'fragments-followed',
  'fragments-held', 'fragments-released', 'early-drops', 'address-quota-hits', 'network-quota-hits', 'ports-reclaimed',
  'rst-sent', 'unreachable-sent', 'refusal-rate-limited',
];

/** Which way a packet crosses the NAT: out of an inside network, or in from the world. */
export const Direction = { Out: 0, In: 1 } as const;
