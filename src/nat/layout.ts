// Where each section of the connection table's flat buffer lives (see the
// layout table at the top of table.ts), computed from the geometry alone so
// the table and anyone handing it a buffer agree on the size.

import { HostTable } from './hosts.js';
import { WHEEL_SIZE } from './wheel.js';

/** Words of one session record. */
export const REC_WORDS = 16;
/** Words of the meta header. */
export const META_WORDS = 64;
const ID_BITS = 24;
/** Largest capacity: ids must fit the 24 bits an index slot keeps beside its 8-bit tag. */
export const MAX_CAPACITY = (1 << ID_BITS) - 1;
/** Ports per (external address, protocol class) in the port-owner array. */
export const PORTS_PER_CLASS = 65536;
/**
 * From this many sessions on, a batch warms its lookups first (batch.ts);
 * tables that can hold this many live in WebAssembly memory with the
 * warm-up kernel (warm-kernel.ts).
 */
export const WARM_MIN_SESSIONS = 65_536;
/** Packets of one batch that get warmed (the rest are translated cold). */
export const WARM_MAX = 256;

export interface TableGeometry {
  /** Sessions the table holds (default 262,144; at most 16,777,215). */
  capacity: number;
  /** External addresses across all masquerading networks (sizes the port-owner array). */
  externalCount: number;
  /** Inside addresses with their own counters (default capacity / 64, at least 1,024, at most 65,535). */
  hostCapacity?: number;
}

export function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

// Arithmetic, not bit masks: a table can pass 2 GiB, beyond 32-bit integers.
function align64(n: number): number {
  return Math.ceil(n / 64) * 64;
}

/** Where each section of the flat buffer starts, for a validated geometry. */
export function layoutOf(geometry: TableGeometry) {
  const capacity = geometry.capacity;
  if (!Number.isInteger(capacity) || capacity < 1 || capacity > MAX_CAPACITY) {
    throw new RangeError(`table capacity must be an integer in 1..${MAX_CAPACITY}, got ${capacity}`);
  }
  const ext = geometry.externalCount;
  if (!Number.isInteger(ext) || ext < 0 || ext > 65535) throw new RangeError(`externalCount out of range: ${ext}`);
  const hosts = geometry.hostCapacity ?? Math.min(65535, Math.max(1024, capacity >>> 6));
  if (!Number.isInteger(hosts) || hosts < 1 || hosts > 65535) throw new RangeError(`hostCapacity must be in 1..65535, got ${hosts}`);
  // Linear probing stays short up to a load of about 0.6. At least 16 slots
  // (64 bytes), so idxOut starts right where idxIn ends (warm.wat finds it there).
  const indexSize = Math.max(16, nextPow2(Math.ceil(capacity / 0.6)));
  const hostGeometry = HostTable.geometry(hosts);
  const n1 = capacity + 1;
  let at = 0;
  const take = (bytes: number): number => { const o = at; at = align64(at + bytes); return o; };
  const offsets = {
    meta: take(META_WORDS * 4),
    rec: take(n1 * REC_WORDS * 4),
    bytesHi: take(n1 * 2 * 4),
    mapLink: take(n1 * 2 * 4),
    unreplied: take(n1 * 2 * 4),
    hostUnreplied: take(n1 * 2 * 4),
    wNext: take((n1 + WHEEL_SIZE) * 4),
    wPrev: take((n1 + WHEEL_SIZE) * 4),
    idxIn: take(indexSize * 4),
    idxOut: take(indexSize * 4),
    idxMap: take(indexSize * 4),
    owner: take(ext * 4 * PORTS_PER_CLASS * 4),
    extSessions: take(ext * 4),
    hostRec: take(hostGeometry.recBytes),
    hostCnt: take(hostGeometry.cntBytes),
    hostIdx: take(hostGeometry.idxBytes),
    // The warm-up kernel's arguments and results (hashes, slots, directions).
    warmHashes: take(WARM_MAX * 4),
    warmSlots: take(WARM_MAX * 4),
    warmDirs: take(WARM_MAX),
  };
  return { capacity, ext, hosts, indexSize, hostGeometry, offsets, byteLength: at };
}

