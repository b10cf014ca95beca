// The NAT66 fast path's map: what the kernel half (offload-program.ts, a tc
// program on the bridges' and the uplink's ingress) and the user-space half
// (offload.ts, fed by the engine) agree on. One entry per direction of an
// offloaded session, keyed by the packet as it arrives, valued by what it
// becomes; the program adds to the entry's counters, which the user-space
// half folds into the session (and its expiry) once a second.
//
// Key (KEY_SIZE bytes), everything as on the wire (network order):
//
//    0      1      2      3
//   +------+------+------+------+
//   | role | next | 0    | 0    |   role: Role.Inside (from a bridge) or Role.Outside (from the uplink)
//   +------+------+------+------+   next: the IPv6 next header, TCP or UDP (no extension headers)
//   | source address (16)       |
//   | destination address (16)  |
//   | src port    | dst port    |
//   +-------------+-------------+
//
// Value (VALUE_SIZE bytes):
//
//   | new source address (16)   |
//   | new destination address (16)
//   | new src port| new dst port|
//   | out ifindex (host order)  |   where the translated packet leaves (bpf_redirect_neigh)
//   | tag (host order)          |   the user-space half's own: worker << 24 | slot
//   | in ifindex (host order)   |   the only device the packet may arrive on
//   | packets (u64, host order) |   added to by the program
//   | bytes (u64, host order)   |   added to by the program (skb->len, Ethernet header included)
//
// The role is a constant of each loaded program (one for the bridges, one
// for the uplink), so an outbound key can never match on the uplink nor an
// inbound one on a bridge; the in ifindex pins an outbound entry to its
// network's bridge, so a container on another network cannot have packets
// forged with a victim's addresses and ports translated (the slow path's
// policy rule, `from SUBNET iif BRIDGE`, would not take them either).

export const KEY_SIZE = 40;
export const VALUE_SIZE = 64;

export const Key = { ROLE: 0, NEXT_HEADER: 1, SRC: 4, DST: 20, SRC_PORT: 36, DST_PORT: 38 } as const;
export const Value = { SRC: 0, DST: 16, SRC_PORT: 32, DST_PORT: 34, OUT_IFINDEX: 36, TAG: 40, IN_IFINDEX: 44, PACKETS: 48, BYTES: 56 } as const;

/** Which devices a program sits on: the inside (Docker bridges) or the outside (the uplink). */
export const Role = { Inside: 1, Outside: 2 } as const;
export type Role = (typeof Role)[keyof typeof Role];
