// Snapshot, restore and adoption of the connection table, so sessions
// survive a restart.
//
// One format: the table's whole flat buffer, its meta words as the header.
// A snapshot is a copy of it, with a checksum over everything but the
// checksum word (in-process, when a configuration change builds a new
// table). A state file is the buffer itself: the wiring maps the file over
// the table's memory (src/io/statefile.ts), so it holds the live table at
// every moment and outlives a crash; it carries no checksum, since a crash
// can stop any write half way.
//
// Restore and adoption trust only the records and host addresses: after the
// header, geometry, fingerprint (and checksum or boot id) checks they
// rebuild every index, ring, wheel and free list from the records
// (rebuildTable), dropping records that do not add up. A bad snapshot or
// file is a SnapshotError; a bad snapshot leaves the live table as it was.
//
// Expiry ticks are rebased: the time between snapshot (or the last tick the
// crashed process saw) and restore does not count against a session, so a
// quick restart keeps every live connection.

import { SnapshotError } from '../errors.js';
import { ConnTable, REC_WORDS, R, Flag, OWNER_PUBLISHED, SNAPSHOT_MAGIC, SNAPSHOT_VERSION, FAST_PATH_FLAGS } from './table.js';
import { ProtoClass, TcpState } from './types.js';

const META = ConnTable.META;

function checksumWords(words: Uint32Array, skip: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < words.length; i++) {
    if (i !== skip) h = Math.imul(h ^ words[i], 0x01000193);
  }
  return h >>> 0;
}

/** Copy of the table as it is at `tick`, checksummed. Control-plane call: allocates the copy. */
export function snapshotTable(table: ConnTable, tick: number): Uint8Array {
  const out = new Uint8Array(table.byteLength);
  out.set(new Uint8Array(table.buffer, 0, table.byteLength));
  const words = new Uint32Array(out.buffer, 0, out.byteLength >>> 2);
  words[META.SNAPSHOT_TICK] = tick >>> 0;
  words[META.CHECKSUM] = checksumWords(words, META.CHECKSUM);
  return out;
}

/**
 * Replace the table's contents with a snapshot taken by snapshotTable.
 * `markPublished` re-marks the current published ports (see ConnTable.rebuild).
 * Returns how many records were dropped as inconsistent with the current
 * configuration. Throws SnapshotError without touching the table when the
 * snapshot is from another version, geometry or configuration, or damaged.
 */
export function restoreTable(table: ConnTable, snapshot: Uint8Array, tick: number, markPublished: () => void,
  keep: (rec: Uint32Array, o: number, meta: number) => boolean = () => true): number {
  if (!(snapshot instanceof Uint8Array)) throw new SnapshotError('snapshot must be a Uint8Array');
  if (snapshot.byteLength < 256) throw new SnapshotError(`snapshot is ${snapshot.byteLength} bytes, shorter than its header`);
  // Work on an aligned private copy: the input may sit at any byte offset.
  const copy = new Uint8Array(snapshot.byteLength);
  copy.set(snapshot);
  const words = new Uint32Array(copy.buffer, 0, copy.byteLength >>> 2);
  checkHeader(words, table, 'snapshot');
  if (snapshot.byteLength !== table.byteLength) {
    throw new SnapshotError(`snapshot is ${snapshot.byteLength} bytes, expected ${table.byteLength}`);
  }
  const sum = checksumWords(words, META.CHECKSUM);
  if (sum !== words[META.CHECKSUM]) throw new SnapshotError('snapshot checksum mismatch: the file is damaged');

  new Uint8Array(table.buffer, 0, table.byteLength).set(copy);
  return rebaseAndRebuild(table, tick, tick - words[META.SNAPSHOT_TICK], markPublished, keep);
}

/**
 * Whether a state file whose first META_WORDS words are `header` can be
 * adopted by `table` at `tick` on the boot `bootId`: same format, version,
 * geometry and configuration fingerprint, written on this boot (ticks from
 * another boot mean nothing on this clock) and not ahead of this clock.
 * Throws SnapshotError saying what does not fit.
 */
export function checkStateHeader(header: Uint32Array, table: ConnTable, tick: number, bootId: Uint32Array): void {
  checkHeader(header, table, 'state file');
  for (let i = 0; i < 4; i++) {
    if (header[META.BOOT_ID + i] !== bootId[i]) {
      throw new SnapshotError('state file was written before the last reboot: its connections are gone');
    }
  }
  if (header[META.TICK_STARTED] !== 0 && header[META.LAST_TICK] > tick) {
    throw new SnapshotError(`state file's clock (tick ${header[META.LAST_TICK]}) is ahead of this boot's (tick ${tick}): damaged`);
  }
}

/**
 * Take over the table a previous process left in the table's own memory (a
 * state file whose header checkStateHeader accepted, mapped over it):
 * rebase expiries from the last tick that process saw and rebuild
 * everything else from the records (see rebuildTable). Returns how many
 * records were dropped.
 */
export function adoptTable(table: ConnTable, tick: number, markPublished: () => void,
  keep: (rec: Uint32Array, o: number, meta: number) => boolean = () => true): number {
  const m = table.meta;
  const last = m[META.TICK_STARTED] === 0 ? tick : Math.min(m[META.LAST_TICK], tick);
  return rebaseAndRebuild(table, tick, tick - last, markPublished, keep);
}

/** The header checks restore and adoption share: format, version, geometry, configuration. */
function checkHeader(words: Uint32Array, table: ConnTable, what: string): void {
  if (words[META.MAGIC] !== SNAPSHOT_MAGIC) {
    throw new SnapshotError(`not a sixgate NAT ${what} (magic 0x${words[META.MAGIC].toString(16)})`);
  }
  if (words[META.VERSION] !== SNAPSHOT_VERSION) {
    throw new SnapshotError(`${what} version ${words[META.VERSION]} is not supported (expected ${SNAPSHOT_VERSION})`);
  }
  const expect: Array<[number, number, string]> = [
    [META.CAPACITY, table.capacity, 'capacity'],
    [META.INDEX_SIZE, table.indexSize, 'index size'],
    [META.WHEEL_SIZE, table.wheelSize, 'wheel size'],
    [META.EXT_COUNT, table.externalCount, 'external address count'],
    [META.HOST_CAPACITY, table.hostCapacity, 'host capacity'],
    [META.HOST_INDEX_SIZE, table.hostIndexSize, 'host index size'],
    [META.BYTE_LENGTH, table.byteLength, 'byte length'],
  ];
  for (const [at, want, name] of expect) {
    if (words[at] !== want) throw new SnapshotError(`${what} ${name} is ${words[at]}, this table has ${want}`);
  }
  if (words[META.FINGERPRINT] !== table.fingerprint) {
    throw new SnapshotError(`${what} was written with other external addresses or networks; refusing to map its sessions`);
  }
}

// Shift every live expiry by `delta` ticks, drop the ones already dead at
// `tick`, restart the wheel at `tick` and rebuild from the records.
function rebaseAndRebuild(table: ConnTable, tick: number, delta: number, markPublished: () => void,
  keep: (rec: Uint32Array, o: number, meta: number) => boolean): number {
  const m = table.meta;
  m[META.LAST_TICK] = tick >>> 0;
  m[META.TICK_STARTED] = 1;
  m[META.CHECKSUM] = 0;
  m[META.SNAPSHOT_TICK] = 0;
  return rebuildTable(table, tick, delta, markPublished, keep);
}

/**
 * Rebuild every derived structure (indexes, mapping rings, port owners,
 * wheel, host index and reference counts, free lists) from the records and
 * host addresses alone, dropping any record that is inconsistent, so a
 * damaged snapshot can never corrupt an index or make a list loop.
 * `markPublished` runs once the port owners are cleared and must mark the
 * current published ports; sessions that disagree with them are dropped,
 * and so are those `keep(rec, offset, meta)` refuses (the engine checks the
 * inside address still belongs to the external address's network; `meta`
 * is the record's META word, which is zero while it is being checked).
 * Every expiry is first shifted by `delta` ticks; sessions already dead at
 * `tick` are left out, as free.
 * Returns the number of records dropped.
 *
 * One pass over the records (a restart waits for it: 100k sessions in a
 * 262k table): each is rebased, checked, relinked in place and, if free,
 * chained into the free list in id order.
 */
export function rebuildTable(table: ConnTable, tick: number, delta: number, markPublished: () => void,
  keep: (rec: Uint32Array, o: number, meta: number) => boolean = () => true): number {
  const rec = table.rec;
  const hosts = table.hosts;
  const freeNext = table.wNext;
  table.clearDerived();
  markPublished();
  hosts.rebuild();
  const k = table.key;
  let dropped = 0;
  let freeTail = 0;
  for (let id = 1; id <= table.capacity; id++) {
    const o = id * REC_WORDS;
    // A fast-path mark names a map entry of the process that wrote it: not this one's.
    const meta = (rec[o + R.META] & ~FAST_PATH_FLAGS) >>> 0;
    let ok = (meta & Flag.LIVE) !== 0;
    if (!ok) {
      // A free record needs only META clear (insert writes every word); leaving
      // the rest spares a write to each page of a mapped table.
      if (meta !== 0) rec[o + R.META] = 0;
    } else {
      rec[o + R.META] = 0;
      const expiry = rec[o + R.EXPIRY] + delta;
      // Already dead: left out rather than linked behind the wheel (not a drop).
      if (expiry <= tick) ok = false;
      // Saturate rather than wrap into the past (the engine's keep caps a damaged one at its timeout).
      else if (delta !== 0) rec[o + R.EXPIRY] = Math.min(expiry, 0xffffffff);
    }
    if (ok) {
      const anchor = checkRecord(table, rec, o, meta, k, keep);
      if (anchor >= 0) {
        rec[o + R.META] = meta;
        table.relink(id, (meta >>> 12) & 0xf, rec[o + R.EXT] & 0xffff, rec[o + R.EXT] >>> 16, meta >>> 16, meta & 0xff & ~Flag.LIVE,
          rec[o + R.EXPIRY], anchor);
        continue;
      }
      rec.fill(0, o, o + REC_WORDS);
      dropped++;
    }
    if (freeTail === 0) table.meta[META.FREE_HEAD] = id;
    else freeNext[freeTail] = id;
    freeTail = id;
  }
  if (freeTail === 0) table.meta[META.FREE_HEAD] = 0;
  else freeNext[freeTail] = 0;
  return dropped;
}

// Whether the live record at `o` (META cleared while checked; `meta` its
// value) adds up: fields in range, its host live with its address, `keep`
// agreeing, neither key taken by a record kept before it, and its external
// port owned as its flags say. -1 when not; else the mapping it joins (0:
// published, or a mapping of its own). Leaves its key in `k`.
function checkRecord(table: ConnTable, rec: Uint32Array, o: number, meta: number, k: Uint32Array,
  keep: (rec: Uint32Array, o: number, meta: number) => boolean): number {
  const hosts = table.hosts;
  const pc = (meta >>> 12) & 0xf;
  const state = (meta >>> 8) & 0xf;
  const host = meta >>> 16;
  const flags = meta & 0xff & ~Flag.LIVE;
  const extIdx = rec[o + R.EXT] & 0xffff;
  const extPort = rec[o + R.EXT] >>> 16;
  const inPort = rec[o + R.PORTS] >>> 16;
  const remPort = rec[o + R.PORTS] & 0xffff;
  if (!(pc <= ProtoClass.Sctp && state <= TcpState.Trans && (pc === ProtoClass.Tcp || state === TcpState.None) &&
    extIdx < table.externalCount && host >= 1 && host <= table.hostCapacity &&
    hosts.live(host) && hosts.hasAddress(host, rec, o) && (flags & ~(Flag.PUBLISHED | Flag.INBOUND | Flag.REPLIED)) === 0 &&
    keep(rec, o, meta))) {
    return -1;
  }
  for (let w = 0; w < 8; w++) k[w] = rec[o + w];
  if (table.findInside(pc, inPort, remPort) !== 0 || table.findOutside(pc, extIdx, extPort, remPort) !== 0) return -1;
  const owner = table.portOwner(extIdx, pc, extPort);
  const published = (owner & OWNER_PUBLISHED) !== 0;
  if (flags & Flag.PUBLISHED) return published ? 0 : -1;
  if (published) return -1;
  const anchor = table.findMapping(pc, inPort);
  if (anchor !== 0) return rec[anchor * REC_WORDS + R.EXT] === rec[o + R.EXT] ? anchor : -1;
  return owner === 0 ? 0 : -1;
}
