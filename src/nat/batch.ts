// Batched lookups for a large table (style.md §11: collect the keys of a
// batch and look them up together).
//
// At a million sessions nearly every lookup misses the caches and the TLB,
// and one packet's misses are dependent (hash → index slot → record), so
// translating packet after packet pays them in series. The warmer hashes the
// whole batch first, then loads the index slots, then the records they name,
// each in a tiny loop of independent loads the CPU keeps in flight together;
// the translation that follows finds them in cache. Below WARM_MIN_SESSIONS
// the table is cache-resident and the extra hashing would only cost.

import { Protocol } from '../wire/ipv6.js';
import type { ConnTable } from './table.js';
import { ProtoClass, Direction } from './types.js';
import { externalIndexOf, type CompiledConfig } from './config.js';
import { readAddress } from './csum.js';

/** From this many sessions on, translateBatch warms every packet's lookup first. */
export const WARM_MIN_SESSIONS = 65_536;
/** Packets of one batch that get warmed (the rest are translated cold). */
const WARM_MAX = 256;
const ICMP_ECHO_REQUEST = 128;
const ICMP_ECHO_REPLY = 129;

export class BatchWarmer {
  /**
   * The batch's lookup hashes (0: none computed); the translation reuses
   * them. Int32: a uint32 above 2^31 is a heap number once it leaves the
   * array (a field, an argument), and every such number is an allocation.
   */
  readonly hashes = new Int32Array(WARM_MAX);
  private readonly slots = new Uint32Array(WARM_MAX);
  private readonly dst = new Uint32Array(4);
  /** The warm loads' sum, kept so the loads cannot be optimised away. */
  sink = 0;

  /** Warm the first min(count, 256) packets' lookups; returns how many hashes are in `hashes`. */
  warm(table: ConnTable, cfg: CompiledConfig, buf: Uint8Array, offsets: Int32Array, lengths: Int32Array,
    count: number, dir: number): number {
    const n = Math.min(count, WARM_MAX);
    const hashes = this.hashes;
    for (let i = 0; i < n; i++) hashes[i] = this.hash(table, cfg, buf, offsets[i], lengths[i], dir);
    table.indexSlots(hashes, this.slots, n, dir === Direction.Out);
    this.sink = table.touchRecords(this.slots, n);
    return n;
  }

  // The hash of the lookup a packet will do (0 for packets with extension
  // headers or anything unusual: it then just warms slot 0, harmlessly).
  private hash(t: ConnTable, cfg: CompiledConfig, buf: Uint8Array, off: number, len: number, dir: number): number {
    if (len < 48) return 0;
    const next = buf[off + 6];
    const l4 = off + 40;
    let pc: number;
    if (next === Protocol.Tcp) pc = ProtoClass.Tcp;
    else if (next === Protocol.Udp) pc = ProtoClass.Udp;
    else if (next === Protocol.Icmpv6 && (buf[l4] === ICMP_ECHO_REQUEST || buf[l4] === ICMP_ECHO_REPLY)) pc = ProtoClass.Icmp;
    else return 0;
    // Source port and destination port, or the echo identifier and 0.
    const a = pc === ProtoClass.Icmp ? (buf[l4 + 4] << 8) | buf[l4 + 5] : (buf[l4] << 8) | buf[l4 + 1];
    const b = pc === ProtoClass.Icmp ? 0 : (buf[l4 + 2] << 8) | buf[l4 + 3];
    const k = t.key;
    if (dir === Direction.Out) {
      readAddress(buf, off + 8, k, 0);
      readAddress(buf, off + 24, k, 4);
      return t.hashInsideKey(pc, a, b);
    }
    readAddress(buf, off + 24, this.dst, 0);
    const extIdx = externalIndexOf(cfg, this.dst, 0);
    if (extIdx < 0) return 0;
    readAddress(buf, off + 8, k, 4);
    return pc === ProtoClass.Icmp ? t.hashOutsideKey(pc, extIdx, a, 0) : t.hashOutsideKey(pc, extIdx, b, a);
  }
}
