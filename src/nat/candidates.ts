// The engine's side of the NAT66 fast path (src/datapath/offload.ts): which
// sessions could be finished in the kernel from now on. The translator
// appends a session's id here when a packet of it went through the plain
// masquerade path and the session is settled (TCP established, UDP
// answered), and marks the session (Flag.OFFERED in its record, in the
// cache line the packet has just used) so it is offered once; the offload
// layer takes the ids after each wake-up, writes the session's map entries
// and clears the mark when it demotes the session (Nat66.unmark).
// Preallocated: an offer is a bit test, a store and a bit set.

/** Session ids collected between two reads by the offload layer; beyond that they are only counted (offered again by their next packet). */
export const CANDIDATE_RING = 256;

export class OffloadCandidates {
  /** Off (no offload layer, a capture running, its share of the map full): the translator offers nothing. */
  enabled = false;
  readonly ids = new Uint32Array(CANDIDATE_RING);
  count = 0;
  /** Offers that found the ring full. */
  missed = 0;
}
