// Moving live sessions from one connection table into another: what a
// change of geometry (capacity, host capacity, more external addresses than
// the table has room for) does instead of starting empty.
//
// A pure copy, table to table: the caller makes the new table (in memory or
// in a mapping of its own) and sets up its port owners (published ports)
// first. Every live session of `from` is inserted into `to` as a new
// session with the same key, external address and port, TCP state, expiry
// and counters (and its inside address's counters), so its translation does not change; a mapping's sessions
// join one mapping again. Sessions `keep` refuses, already expired, or that
// do not fit (a smaller table, a full host table, a port now published) are
// left behind and counted.

import { ConnTable, REC_WORDS, R, Flag, OWNER_PUBLISHED, FAST_PATH_FLAGS } from './table.js';
import { DROP_REASON_COUNT } from './drop.js';

export interface Migration {
  /** Sessions now in `to`. */
  readonly moved: number;
  /** Live sessions left behind (refused by keep, or no room). */
  readonly dropped: number;
}

/**
 * Copy the live sessions of `from` into `to` (see the file comment). `tick`
 * is the current tick: `to`'s clock starts there if it has not, and sessions
 * due by then are not moved. `extMap[i]` is the index in `to` of `from`'s
 * external address i (-1: gone); `keep(rec, o, ext)` gets that new index.
 * Control plane: O(capacity).
 */
export function migrateSessions(from: ConnTable, to: ConnTable, tick: number, extMap: Int32Array,
  keep: (rec: Uint32Array, o: number, ext: number) => boolean): Migration {
  to.startClock(tick);
  const rec = from.rec;
  const k = to.key;
  let moved = 0;
  let dropped = 0;
  for (let id = 1; id <= from.capacity; id++) {
    const o = id * REC_WORDS;
    const meta = rec[o + R.META];
    if ((meta & Flag.LIVE) === 0 || rec[o + R.EXPIRY] <= tick) continue;
    const pc = (meta >>> 12) & 0xf;
    const oldExt = rec[o + R.EXT] & 0xffff;
    const extIdx = oldExt < extMap.length ? extMap[oldExt] : -1;
    const extPort = rec[o + R.EXT] >>> 16;
    const inPort = rec[o + R.PORTS] >>> 16;
    const remPort = rec[o + R.PORTS] & 0xffff;
    // The fast path's mark stays behind: the new table's sessions are offered anew.
    const flags = meta & 0xff & ~(Flag.LIVE | FAST_PATH_FLAGS);
    if (extIdx < 0 || extIdx >= to.externalCount || !keep(rec, o, extIdx) || to.count >= to.capacity) { dropped++; continue; }
    for (let w = 0; w < 8; w++) k[w] = rec[o + w];
    const host = to.acquireHost();
    if (host === 0 || to.findInside(pc, inPort, remPort) !== 0 || to.findOutside(pc, extIdx, extPort, remPort) !== 0) { dropped++; continue; }
    const owner = to.portOwner(extIdx, pc, extPort);
    let anchor = 0;
    if ((flags & Flag.PUBLISHED) !== 0) {
      if ((owner & OWNER_PUBLISHED) === 0) { dropped++; continue; }
    } else {
      if ((owner & OWNER_PUBLISHED) !== 0) { dropped++; continue; }
      anchor = to.findMapping(pc, inPort);
      // Sessions of one mapping share its external address and port; anything else is not a mapping of ours.
      if (anchor !== 0 ? to.rec[anchor * REC_WORDS + R.EXT] !== ((extPort << 16 | extIdx) >>> 0) : owner !== 0) { dropped++; continue; }
    }
    // An inside address's counters move with its first session.
    if (to.hosts.sessions(host) === 0) {
      const old = meta >>> 16;
      to.hostCnt.set(from.hostCnt.subarray(old * 4, old * 4 + 4), host * 4);
      to.hosts.drops.set(from.hosts.drops.subarray(old * DROP_REASON_COUNT, (old + 1) * DROP_REASON_COUNT), host * DROP_REASON_COUNT);
    }
    const nid = to.insert(pc, inPort, remPort, extIdx, extPort, host, flags, (meta >>> 8) & 0xf, rec[o + R.EXPIRY], anchor);
    if (nid === 0) { dropped++; continue; }
    const n = nid * REC_WORDS;
    for (let w = R.PKTS_OUT; w <= R.BYTES_IN; w++) to.rec[n + w] = rec[o + w];
    to.bytesHi[nid * 2] = from.bytesHi[id * 2];
    to.bytesHi[nid * 2 + 1] = from.bytesHi[id * 2 + 1];
    moved++;
  }
  return { moved, dropped };
}
