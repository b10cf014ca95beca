// The counts behind the per-network and per-container series
// (src/service/workload-metrics.ts): per network (Nat66.netCounters,
// netDrops, the sessions of its external addresses) and per inside address
// (the connection table's host records). One engine gives its own; the
// packet workers (workers.ts) publish theirs into shared blocks, summed
// when the series are read. Control path.
import { DROP_REASON_COUNT } from '../nat/drop.js';
import { addressWords, networkExternal, type CompiledConfig } from '../nat/engine-config.js';
import { HOST_COUNTER_COUNT } from '../nat/hosts.js';
import type { Nat66 } from '../nat/nat66.js';
import { parseIpv6 } from '../wire/address.js';

/** Values per host: HostCounter's four, then one per drop reason. */
export const HOST_VALUES = HOST_COUNTER_COUNT + DROP_REASON_COUNT;

export interface WorkloadCounts {
  /** The configuration naming the networks and their external addresses. */
  readonly cfg: CompiledConfig;
  /** Per network: HostCounter's four, then drops by reason (Nat66's layouts). */
  readonly netCounters: Float64Array;
  readonly netDrops: Float64Array;
  /** Sessions on a network's external addresses (none for NPTv6, which keeps none). */
  networkSessions(net: number): number;
  /** The counts of `address`'s host record into `out` (HOST_VALUES, zeros for none); its sessions, or -1 when no record has it. */
  readHost(address: string, out: Float64Array): number;
  /** The inside addresses the next reads ask for (the workers publish only those). */
  watch(addresses: readonly string[]): void;
}

export function networkSessions(nat: Nat66, net: number): number {
  let sum = 0;
  for (let i = 0; i < nat.cfg.netExtCount[net]!; i++) sum += nat.table.extSessions[networkExternal(nat.cfg, net, i)]!;
  return sum;
}

/** The host record of the address at words[wo..wo+3]: its counts into out[at..at+HOST_VALUES) (zeros for none); its sessions, or -1 when none. */
export function readHostWords(nat: Nat66, words: Uint32Array, wo: number, out: Float64Array, at: number): number {
  const hosts = nat.table.hosts;
  const host = hosts.find(words, wo);
  if (host === 0) {
    out.fill(0, at, at + HOST_VALUES);
    return -1;
  }
  for (let k = 0; k < HOST_COUNTER_COUNT; k++) out[at + k] = hosts.cnt[host * HOST_COUNTER_COUNT + k]!;
  for (let r = 0; r < DROP_REASON_COUNT; r++) out[at + HOST_COUNTER_COUNT + r] = hosts.drops[host * DROP_REASON_COUNT + r]!;
  return hosts.sessions(host);
}

export function wordsOf(address: string): Uint32Array {
  const words = new Uint32Array(4);
  addressWords(parseIpv6(address), words, 0);
  return words;
}

/** The counts of the engine that translates (the main thread's loop). */
export function engineCounts(nat: Nat66): WorkloadCounts {
  return {
    cfg: nat.cfg, netCounters: nat.netCounters, netDrops: nat.netDrops,
    networkSessions: (net) => networkSessions(nat, net),
    readHost: (address, out) => readHostWords(nat, wordsOf(address), 0, out, 0),
    watch: () => {},
  };
}
