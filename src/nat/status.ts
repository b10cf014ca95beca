// Status views of the NAT66 table for the CLI and metrics: plain objects,
// built on demand by control-plane calls (these allocate; the packet path
// never calls them).

import { formatIpv6 } from '../wire/address.js';
import { ConnTable, R, REC_WORDS, Flag } from './table.js';
import { PROTO_CLASS_NAMES, TCP_STATE_NAMES } from './types.js';
import { TICK_MS } from './engine-config.js';
import { writeAddressWords } from '../wire/checksum.js';
import { NatDrop } from './drop.js';
import type { Nat66 } from './nat66.js';

export interface SessionInfo {
  id: number;
  protocol: string;
  state: string;
  inside: string;
  insidePort: number;
  external: string;
  externalPort: number;
  remote: string;
  remotePort: number;
  published: boolean;
  /** Its packets are translated by the kernel's fast path now (src/datapath/offload.ts). */
  fastPath: boolean;
  expiresInMs: number;
  packetsOut: number;
  packetsIn: number;
  bytesOut: number;
  bytesIn: number;
}

export interface HostInfo {
  address: string;
  sessions: number;
  packetsOut: number;
  packetsIn: number;
  bytesOut: number;
  bytesIn: number;
}

/** Live sessions (at most `limit`), with their counters and remaining lifetime at `tick`. */
export function listSessions(t: ConnTable, extWords: Uint32Array, tick: number, limit = Infinity): SessionInfo[] {
  const out: SessionInfo[] = [];
  for (let id = 1; id <= t.capacity && out.length < limit; id = sessionSlice(t, extWords, tick, id, 4096, out));
  return out.length > limit ? out.slice(0, limit) : out;
}

/**
 * Appends the live sessions among records [from, from + span) that `keep`
 * accepts (it reads the record at `rec[o]`, before any text is made) to
 * `out`; returns the first record of the next slice (past t.capacity: the
 * walk is over). A big table is listed in slices between event-loop turns,
 * so a listing never holds up the packets.
 */
export function sessionSlice(t: ConnTable, extWords: Uint32Array, tick: number, from: number, span: number, out: SessionInfo[],
  keep?: (rec: Uint32Array, o: number) => boolean): number {
  const rec = t.rec;
  const word = new Uint8Array(16);
  const text = (w: Uint32Array, o: number): string => {
    writeAddressWords(word, 0, w, o);
    return formatIpv6(word, 0);
  };
  const end = Math.min(t.capacity + 1, from + span);
  for (let id = Math.max(1, from); id < end; id++) {
    const o = id * REC_WORDS;
    const meta = rec[o + R.META];
    if ((meta & Flag.LIVE) === 0 || (keep !== undefined && !keep(rec, o))) continue;
    const ext = rec[o + R.EXT];
    out.push({
      id,
      protocol: PROTO_CLASS_NAMES[(meta >>> 12) & 0xf],
      state: TCP_STATE_NAMES[(meta >>> 8) & 0xf],
      inside: text(rec, o + R.IN_ADDR),
      insidePort: rec[o + R.PORTS] >>> 16,
      external: text(extWords, (ext & 0xffff) * 4),
      externalPort: ext >>> 16,
      remote: text(rec, o + R.REM_ADDR),
      remotePort: rec[o + R.PORTS] & 0xffff,
      published: (meta & Flag.PUBLISHED) !== 0,
      fastPath: (meta & Flag.OFFLOADED) !== 0,
      expiresInMs: (rec[o + R.EXPIRY] - tick) * TICK_MS,
      packetsOut: rec[o + R.PKTS_OUT],
      packetsIn: rec[o + R.PKTS_IN],
      bytesOut: t.sessionBytes(id, 0),
      bytesIn: t.sessionBytes(id, 1),
    });
  }
  return end;
}

/** Every inside address the table holds, with its session count and counters. */
export function listHosts(t: ConnTable): HostInfo[] {
  const out: HostInfo[] = [];
  const word = new Uint8Array(16);
  const hosts = t.hosts;
  for (let h = 1; h <= hosts.capacity; h++) {
    if (!hosts.live(h)) continue;
    writeAddressWords(word, 0, hosts.rec, hosts.addressOffset(h));
    const c = hosts.cnt;
    out.push({
      address: formatIpv6(word, 0), sessions: hosts.sessions(h),
      packetsOut: c[h * 4], packetsIn: c[h * 4 + 1], bytesOut: c[h * 4 + 2], bytesIn: c[h * 4 + 3],
    });
  }
  return out;
}

/** The sessions opened since the last call (Sessions.noteCreated, for -v) and how many more its ring missed; empties the ring. */
export function takeOpenedSessions(nat: Nat66): { opened: SessionInfo[]; missed: number } {
  const s = nat.sessions;
  const opened: SessionInfo[] = [];
  for (let i = 0; i < s.createdCount; i++) sessionSlice(nat.table, nat.cfg.extWords, nat.tick, s.created[i]!, 1, opened);
  const missed = s.createdMissed;
  s.createdCount = 0;
  s.createdMissed = 0;
  return { opened, missed };
}

/** The last session quota an address hit: the address, its network, which quota and its limit. */
export interface QuotaHit {
  readonly address: string;
  readonly network: string | undefined;
  readonly perAddress: boolean;
  readonly limit: number;
}

export function lastQuotaHit(nat: Nat66): QuotaHit {
  const s = nat.sessions;
  const bytes = new Uint8Array(16);
  const view = new DataView(bytes.buffer);
  s.quotaAddress.forEach((w, i) => view.setUint32(i * 4, w));
  const perAddress = s.quotaKind === NatDrop.AddressQuota;
  return { address: formatIpv6(bytes, 0), network: nat.cfg.netNames[s.quotaNetwork], perAddress, limit: perAddress ? s.addressQuota : s.networkQuota };
}
