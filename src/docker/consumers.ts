// Adapters from the feed to the two engines (and the macvlan/ipvlan shims): the NDP proxy follows address
// deltas incrementally; the NAT66 side is small and compiled as a whole (by
// src/service/docker-to-nat.ts) after any batch that `touchesNat`.
import type { DockerNetwork } from './classify.js';
import type { FeedDelta } from './docker-model.js';

/** What the NDP side needs: answer (or stop answering) for an address on an uplink. */
export interface NdpSink {
  add(uplink: string, address: string): void;
  remove(uplink: string, address: string): void;
}

/**
 * Applies the address deltas of ndp subnets to `sink` (removals first, as the
 * batch orders them). Returns how many calls were made.
 */
export function applyNdpDeltas(deltas: readonly FeedDelta[], sink: NdpSink): number {
  let calls = 0;
  for (const d of deltas) {
    if (d.kind !== 'address-added' && d.kind !== 'address-removed') continue;
    const a = d.address;
    if (a.service !== 'ndp' || a.uplink === undefined) continue;
    if (d.kind === 'address-added') sink.add(a.uplink, a.address);
    else sink.remove(a.uplink, a.address);
    calls++;
  }
  return calls;
}

/** Whether a batch changes anything the NAT66 configuration is made of. */
export function touchesNat(deltas: readonly FeedDelta[]): boolean {
  const natty = (n: DockerNetwork): boolean => n.subnets.some((s) => s.service === 'nat66' || s.service === 'nptv6');
  return deltas.some((d) => {
    switch (d.kind) {
      case 'port-added':
      case 'port-removed':
        return d.port.service === 'nat66';
      case 'network-added':
      case 'network-removed':
        return natty(d.network);
      case 'network-changed':
        return natty(d.network) || natty(d.previous);
      default:
        return false;
    }
  });
}

/** Whether a batch changes anything a shim is made of. */
export function touchesShims(deltas: readonly FeedDelta[]): boolean {
  return deltas.some((d) => {
    switch (d.kind) {
      case 'network-added':
      case 'network-removed':
        return d.network.driver !== 'bridge';
      case 'network-changed':
        return d.network.driver !== 'bridge' || d.previous.driver !== 'bridge';
      case 'address-added':
      case 'address-removed':
        return d.address.service === 'shim';
      default:
        return false;
    }
  });
}
