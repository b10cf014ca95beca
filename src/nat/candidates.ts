// The engine's side of the NAT66 fast path (src/datapath/offload.ts): which
// sessions could be finished in the kernel from now on. The translator
// appends a session's id here when a packet of it went through the plain
// masquerade path and the session is settled (TCP established, UDP
// answered); the offload layer takes the ids after each wake-up, writes the
// session's map entries and keeps the session marked while they are there,
// so a marked session is never offered again. Preallocated: an offer is a
// mark test and a store.

/** Session ids collected between two reads by the offload layer; beyond that they are only counted (offered again by their next packet). */
export const CANDIDATE_RING = 256;

export class OffloadCandidates {
  /** Off (no offload layer, a capture running): the translator offers nothing. */
  enabled = false;
  readonly ids = new Uint32Array(CANDIDATE_RING);
  count = 0;
  /** Offers that found the ring full. */
  missed = 0;
  /** Per session id: 1 while it is offered or offloaded (the offload layer clears it when it demotes the session). */
  readonly marks: Uint8Array;

  constructor(capacity: number) {
    this.marks = new Uint8Array(capacity + 1);
  }

  /** Offers session `id` unless it is marked (already offered or offloaded). */
  offer(id: number): void {
    if (this.marks[id] !== 0) return;
    if (this.count === this.ids.length) {
      this.missed++;
      return;
    }
    this.marks[id] = 1;
    this.ids[this.count++] = id;
  }
}
