// Published ports: static inbound mappings (external address, port, protocol)
// → (container address, port), the NAT side of `docker run -p`.
//
// The control plane adds and removes them (these calls validate, may
// allocate and may scan the table); the packet path only reads the
// port-owner word (OWNER_PUBLISHED | slot) and the slot's inside address and
// port. A published port takes its external port away from dynamic
// mappings: adding one over a live dynamic mapping ends that mapping's
// sessions. Removing one ends the sessions it opened. `reconcile` moves to
// a new list after a reconfiguration, touching only the entries that changed.

import { ConfigError } from '../errors.js';
import { parseIpv6 } from '../wire/address.js';
import { ConnTable, R, REC_WORDS, Flag, OWNER_PUBLISHED } from './table.js';
import {
  addressWords, externalIndexOf, networkExternal, networkOf, protoClassOf, MODE_NPTV6,
  type CompiledConfig, type PublishedPort,
} from './engine-config.js';

const PORTS_PER_CLASS = ConnTable.PORTS_PER_CLASS;

/** One (external address index, protocol class, port) → (inside address, port) entry; a port on "::" makes one per external address. */
export interface PublishedEntry {
  readonly ext: number;
  readonly pc: number;
  readonly port: number;
  readonly insideWords: Uint32Array;
  readonly insidePort: number;
}

/**
 * The entries a list of published ports makes under a configuration.
 * Validates everything (ConfigError) and changes nothing, so a
 * reconfiguration can check its published ports before it starts.
 */
export function publishedEntries(cfg: CompiledConfig, list: readonly PublishedPort[]): PublishedEntry[] {
  const out: PublishedEntry[] = [];
  const seen = new Set<string>();
  for (const p of list) {
    const { pc, exts, insideWords } = resolvePublished(cfg, p);
    for (const ext of exts) {
      const key = `${ext}/${pc}/${p.externalPort}`;
      if (seen.has(key)) throw new ConfigError(`${p.protocol} port ${p.externalPort} is published twice on the same external address`);
      seen.add(key);
      out.push({ ext, pc, port: p.externalPort, insideWords, insidePort: p.insidePort });
    }
  }
  return out;
}

function resolvePublished(cfg: CompiledConfig, p: PublishedPort): { pc: number; exts: number[]; insideWords: Uint32Array } {
  if (p === null || typeof p !== 'object') throw new ConfigError('a published port must be an object');
  const pc = protoClassOf(p.protocol);
  for (const [name, v] of [['externalPort', p.externalPort], ['insidePort', p.insidePort]] as const) {
    if (!Number.isInteger(v) || v < 1 || v > 65535) throw new ConfigError(`published port ${name} must be 1..65535, got ${String(v)}`);
  }
  if (typeof p.insideAddress !== 'string') throw new ConfigError('published port insideAddress must be a string');
  const insideWords = new Uint32Array(4);
  addressWords(parseIpv6(p.insideAddress), insideWords, 0);
  const net = networkOf(cfg, insideWords, 0);
  if (net < 0) throw new ConfigError(`published port inside address ${p.insideAddress} is in no NAT network`);
  if (cfg.netMode[net] === MODE_NPTV6) {
    throw new ConfigError(`published port inside address ${p.insideAddress} is in an nptv6 network, where every port is reachable`);
  }
  const exts: number[] = [];
  if (p.externalAddress === undefined || p.externalAddress === '::') {
    for (let i = 0; i < cfg.netExtCount[net]; i++) exts.push(networkExternal(cfg, net, i));
  } else {
    const w = new Uint32Array(4);
    addressWords(parseIpv6(p.externalAddress), w, 0);
    const idx = externalIndexOf(cfg, w, 0);
    if (idx < 0) throw new ConfigError(`published port external address ${p.externalAddress} is not an external address of any network`);
    exts.push(idx);
  }
  return { pc, exts, insideWords };
}

export class PublishedPorts {
  private readonly cfg: CompiledConfig;
  private readonly table: ConnTable;
  private insideAddr = new Uint32Array(64);
  private inside = new Uint16Array(16);
  private extIdx = new Int32Array(16);
  private extPort = new Uint16Array(16);
  private pc = new Uint8Array(16);
  private live = new Uint8Array(16);
  private slots = 0;

  constructor(cfg: CompiledConfig, table: ConnTable) {
    this.cfg = cfg;
    this.table = table;
  }

  /** Inside address words of a slot into out[0..3] (packet path). */
  insideWords(slot: number, out: Uint32Array): void {
    const a = this.insideAddr;
    const b = slot * 4;
    out[0] = a[b]; out[1] = a[b + 1]; out[2] = a[b + 2]; out[3] = a[b + 3];
  }

  /** Inside port of a slot (packet path). */
  insidePort(slot: number): number {
    return this.inside[slot];
  }

  /** Number of (external address, port, protocol) entries in force. */
  get size(): number {
    let n = 0;
    for (let s = 0; s < this.slots; s++) n += this.live[s];
    return n;
  }

  /** Publish a port. Throws ConfigError when invalid or already published. */
  add(p: PublishedPort): void {
    const { pc, exts, insideWords } = resolvePublished(this.cfg, p);
    const t = this.table;
    for (const e of exts) {
      if (t.portOwner(e, pc, p.externalPort) & OWNER_PUBLISHED) {
        throw new ConfigError(`${p.protocol} port ${p.externalPort} is already published on that external address`);
      }
    }
    for (const ext of exts) this.install({ ext, pc, port: p.externalPort, insideWords, insidePort: p.insidePort });
  }

  // Take the entry's port (ending the dynamic mapping that held it); returns the sessions ended.
  private install(e: PublishedEntry): number {
    const t = this.table;
    const owner = t.portOwner(e.ext, e.pc, e.port);
    const ended = owner !== 0 ? this.endMapping(owner) : 0;
    const slot = this.takeSlot();
    this.insideAddr.set(e.insideWords, slot * 4);
    this.inside[slot] = e.insidePort;
    this.extIdx[slot] = e.ext;
    this.extPort[slot] = e.port;
    this.pc[slot] = e.pc;
    this.live[slot] = 1;
    t.owner[((e.ext << 2) | e.pc) * PORTS_PER_CLASS + e.port] = (OWNER_PUBLISHED | slot) >>> 0;
    return ended;
  }

  /**
   * Move to `wanted` (publishedEntries under the configuration now in
   * force): entries no longer wanted are withdrawn, without touching their
   * sessions (the engine's sweep ends those: owns() says no), new ones are
   * installed, the rest stay as they are. Returns the counts, and the
   * dynamic sessions ended because a new entry took their port.
   */
  reconcile(wanted: readonly PublishedEntry[]): { added: number; removed: number; ended: number } {
    const t = this.table;
    const keep = new Set<string>();
    const key = (ext: number, pc: number, port: number, w: Uint32Array, o: number, insidePort: number): string =>
      `${ext}/${pc}/${port}/${w[o]}:${w[o + 1]}:${w[o + 2]}:${w[o + 3]}/${insidePort}`;
    for (const e of wanted) keep.add(key(e.ext, e.pc, e.port, e.insideWords, 0, e.insidePort));
    const have = new Set<string>();
    let removed = 0;
    for (let s = 0; s < this.slots; s++) {
      if (this.live[s] === 0) continue;
      const k = key(this.extIdx[s], this.pc[s], this.extPort[s], this.insideAddr, s * 4, this.inside[s]);
      if (keep.has(k)) { have.add(k); continue; }
      this.live[s] = 0;
      const at = ((this.extIdx[s] << 2) | this.pc[s]) * PORTS_PER_CLASS + this.extPort[s];
      if (t.owner[at] === ((OWNER_PUBLISHED | s) >>> 0)) t.owner[at] = 0;
      removed++;
    }
    let added = 0;
    let ended = 0;
    for (const e of wanted) {
      if (have.has(key(e.ext, e.pc, e.port, e.insideWords, 0, e.insidePort))) continue;
      ended += this.install(e);
      added++;
    }
    return { added, removed, ended };
  }

  /**
   * Whether the session record at rec[o..] belongs to a published port in
   * force (its port, inside address and port), on external address `ext`.
   */
  owns(rec: Uint32Array, o: number, ext: number): boolean {
    const pc = (rec[o + R.META] >>> 12) & 0xf;
    const owner = this.table.portOwner(ext, pc, rec[o + R.EXT] >>> 16);
    if ((owner & OWNER_PUBLISHED) === 0) return false;
    const s = owner & ~OWNER_PUBLISHED;
    const a = this.insideAddr;
    return this.live[s] === 1 && this.inside[s] === rec[o + R.PORTS] >>> 16 && a[s * 4] === rec[o + R.IN_ADDR] &&
      a[s * 4 + 1] === rec[o + R.IN_ADDR + 1] && a[s * 4 + 2] === rec[o + R.IN_ADDR + 2] && a[s * 4 + 3] === rec[o + R.IN_ADDR + 3];
  }

  /** Withdraw a port (matched by protocol, external address and port); ends its sessions. Returns entries removed. */
  remove(p: PublishedPort): number {
    const { pc, exts } = resolvePublished(this.cfg, p);
    const t = this.table;
    let removed = 0;
    for (const e of exts) {
      const at = ((e << 2) | pc) * PORTS_PER_CLASS + p.externalPort;
      const owner = t.owner[at];
      if ((owner & OWNER_PUBLISHED) === 0) continue;
      const slot = owner & ~OWNER_PUBLISHED;
      this.live[slot] = 0;
      t.owner[at] = 0;
      removed++;
      const ext = ((p.externalPort << 16) | e) >>> 0;
      const rec = t.rec;
      for (let id = 1; id <= t.capacity; id++) {
        const o = id * REC_WORDS;
        const meta = rec[o + R.META];
        if ((meta & Flag.PUBLISHED) !== 0 && rec[o + R.EXT] === ext && ((meta >>> 12) & 0xf) === pc) t.remove(id);
      }
    }
    return removed;
  }

  /** Re-mark every live slot in the owner array (after the table was cleared or restored). */
  markAll(): void {
    const t = this.table;
    for (let s = 0; s < this.slots; s++) {
      if (this.live[s] === 0) continue;
      t.owner[((this.extIdx[s] << 2) | this.pc[s]) * PORTS_PER_CLASS + this.extPort[s]] = (OWNER_PUBLISHED | s) >>> 0;
    }
  }

  // End every session of the dynamic mapping whose anchor is `anchor`; returns how many.
  private endMapping(anchor: number): number {
    const t = this.table;
    const ids: number[] = [];
    let id = anchor;
    do {
      ids.push(id);
      id = t.mappingNext(id);
    } while (id !== anchor && id !== 0 && ids.length <= t.capacity);
    for (const x of ids) t.remove(x);
    return ids.length;
  }

  private takeSlot(): number {
    for (let s = 0; s < this.slots; s++) if (this.live[s] === 0) return s;
    if (this.slots === this.live.length) {
      const n = this.live.length * 2;
      const grow = <T extends Uint8Array | Uint16Array | Int32Array | Uint32Array>(a: T, size: number): T => {
        const b = new (a.constructor as new (n: number) => T)(size);
        b.set(a);
        return b;
      };
      this.insideAddr = grow(this.insideAddr, n * 4);
      this.inside = grow(this.inside, n);
      this.extIdx = grow(this.extIdx, n);
      this.extPort = grow(this.extPort, n);
      this.pc = grow(this.pc, n);
      this.live = grow(this.live, n);
    }
    return this.slots++;
  }
}
