// Classic BPF programs for AF_PACKET sockets (packet.ts), built in TS and
// handed to the kernel as struct sock_filter[] (8 bytes each, host order).
// The kernel runs them on every frame of the interface before anything is
// queued for us, so unwanted traffic costs no wake-up.
//
// Offsets are from the start of the Ethernet frame:
//   12 ethertype   14 IPv6 header: 20 next header, 21 hop limit
//   54 first header after IPv6: ICMPv6 type, or an extension header whose
//      next header (54) and length (55) lead to the next one; X holds how
//      far past 54 the walk has come.
//   62 an NS's target, when the NS follows the IPv6 header directly.
import { ETH_P_IPV6 } from './packet.js';

// struct sock_filter opcodes (linux/bpf_common.h).
const LD_W_ABS = 0x20;
const LD_H_ABS = 0x28;
const LD_B_ABS = 0x30;
const LD_B_IND = 0x50;
const LD_H_IND = 0x48;
const LDX_IMM = 0x01;
const LDX_MEM = 0x61;
const ST = 0x02;
const ALU_ADD_K = 0x04;
const ALU_ADD_X = 0x0c;
const ALU_AND_K = 0x54;
const ALU_LSH_K = 0x64;
const TXA = 0x87;
const JA = 0x05;
const JEQ_K = 0x15;
const JGT_K = 0x25;
const RET_K = 0x06;

const ETH_TYPE = 12;
const IP6_NEXT_HEADER = 20;
const IP6_HOP_LIMIT = 21;
const AFTER_IP6 = 54;
const NS_TARGET = AFTER_IP6 + 8;
const NH_HOP_BY_HOP = 0;
const NH_ROUTING = 43;
const NH_FRAGMENT = 44;
const NH_AH = 51;
const NH_ICMPV6 = 58;
const NH_DEST_OPTS = 60;
/** Extension headers walked in the kernel; a longer chain is passed whole for the engine to walk. */
const WALKED_HEADERS = 2;
/** Whole frames: the snap length returned by "accept". */
const ACCEPT_LEN = 0x40000;
/** The kernel's limit on a classic BPF program (BPF_MAXINSNS). */
export const MAX_INSNS = 4096;
/** The longest conditional jump (jt and jf are 8 bits). */
const MAX_JUMP = 255;

export const Icmp6Type = { RS: 133, RA: 134, NS: 135, NA: 136, REDIRECT: 137 } as const;

type Target = string | number;
interface Insn { code: number; jt: Target; jf: Target; k: number | string }

/** A tiny assembler: jump targets are labels (strings) or 0 for "next". */
class Program {
  readonly insns: Insn[] = [];
  readonly labels = new Map<string, number>();
  op(code: number, k: number | string = 0, jt: Target = 0, jf: Target = 0): this {
    this.insns.push({ code, jt, jf, k });
    return this;
  }
  label(name: string): this {
    this.labels.set(name, this.insns.length);
    return this;
  }
  /** Offset from instruction `from` to `t`: at most MAX_JUMP for jt/jf, any forward distance for JA's k. */
  #rel(from: number, t: Target, max = MAX_JUMP): number {
    if (typeof t === 'number') return t;
    const at = this.labels.get(t);
    if (at === undefined) throw new Error(`bpf: unknown label ${t}`);
    const off = at - from - 1;
    if (off < 0 || off > max) throw new Error(`bpf: jump to ${t} out of range`);
    return off;
  }
  assemble(): Uint8Array {
    const out = new Uint8Array(this.insns.length * 8);
    const view = new DataView(out.buffer);
    const little = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
    this.insns.forEach((ins, i) => {
      const k = typeof ins.k === 'string' ? this.#rel(i, ins.k, Number.MAX_SAFE_INTEGER) : ins.k;
      view.setUint16(i * 8, ins.code, little);
      out[i * 8 + 2] = this.#rel(i, ins.jt);
      out[i * 8 + 3] = this.#rel(i, ins.jf);
      view.setUint32(i * 8 + 4, k >>> 0, little);
    });
    return out;
  }
}

export interface Icmp6FilterOptions {
  /** ICMPv6 types to accept (default NS and NA). */
  types?: readonly number[];
  /** Drop in the kernel unless the IPv6 hop limit is 255 (RFC 4861 §7.1.1 for NDP). */
  requireHopLimit255?: boolean;
}

/**
 * IPv6 frames carrying ICMPv6 of the given types, directly after the IPv6
 * header or after extension headers, as a host's own stack accepts them
 * (RFC 8200: a Destination Options or Hop-by-Hop header before an NS is
 * legal and the kernel answers such an NS). The filter walks up to
 * WALKED_HEADERS Hop-by-Hop, Routing, Destination Options and first-fragment
 * headers; a chain that goes on longer (or has an AH) is passed whole, so the
 * engine walks it and answers or counts it. The engine drops fragmented ND
 * (RFC 6980) with its own counted reason, which is why first fragments pass;
 * a later fragment carries no ICMPv6 header to recognise and stays out.
 */
export function icmp6Filter(options: Icmp6FilterOptions = {}): Uint8Array {
  const p = new Program();
  icmp6Walk(p, options);
  return p.assemble();
}

// The body of icmp6Filter, emitted into p; it ends every path with a return.
function icmp6Walk(p: Program, options: Icmp6FilterOptions): void {
  const types = options.types ?? [Icmp6Type.NS, Icmp6Type.NA];
  if (types.length === 0 || types.length > 32) throw new RangeError('icmp6Filter: 1..32 types');
  p.op(LD_H_ABS, ETH_TYPE).op(JEQ_K, ETH_P_IPV6, 0, 'drop');
  if (options.requireHopLimit255) p.op(LD_B_ABS, IP6_HOP_LIMIT).op(JEQ_K, 255, 0, 'drop');
  p.op(LDX_IMM, 0).op(LD_B_ABS, IP6_NEXT_HEADER);
  // Each step: A holds the next header, X the offset of that header past AFTER_IP6.
  for (let step = 1; step <= WALKED_HEADERS; step++) {
    const next = `step${step + 1}`;
    p.label(`step${step}`)
      .op(JEQ_K, NH_ICMPV6, 'type', 0)
      .op(JEQ_K, NH_HOP_BY_HOP, `options${step}`, 0)
      .op(JEQ_K, NH_DEST_OPTS, `options${step}`, 0)
      .op(JEQ_K, NH_ROUTING, `options${step}`, 0)
      .op(JEQ_K, NH_FRAGMENT, `fragment${step}`, 0)
      .op(JEQ_K, NH_AH, 'accept', 'drop')
      // Hop-by-Hop, Routing, Destination Options: (length + 1) * 8 bytes.
      .label(`options${step}`)
      .op(LD_B_IND, AFTER_IP6 + 1).op(ALU_ADD_K, 1).op(ALU_LSH_K, 3).op(ALU_ADD_X).op(ST, 0)
      .op(LD_B_IND, AFTER_IP6).op(LDX_MEM, 0).op(JA, next)
      // Fragment: 8 bytes; only the first fragment (offset 0) goes on to an ICMPv6 header.
      .label(`fragment${step}`)
      .op(LD_H_IND, AFTER_IP6 + 2).op(ALU_AND_K, 0xfff8).op(JEQ_K, 0, 0, 'drop')
      .op(TXA).op(ALU_ADD_K, 8).op(ST, 0)
      .op(LD_B_IND, AFTER_IP6).op(LDX_MEM, 0).op(JA, next);
  }
  p.label(`step${WALKED_HEADERS + 1}`)
    .op(JEQ_K, NH_ICMPV6, 'type', 0)
    .op(JEQ_K, NH_HOP_BY_HOP, 'accept', 0)
    .op(JEQ_K, NH_DEST_OPTS, 'accept', 0)
    .op(JEQ_K, NH_ROUTING, 'accept', 0)
    .op(JEQ_K, NH_FRAGMENT, 'accept', 0)
    .op(JEQ_K, NH_AH, 'accept', 'drop')
    .label('type').op(LD_B_IND, AFTER_IP6);
  types.forEach((t, i) => {
    if (!Number.isInteger(t) || t < 0 || t > 255) throw new RangeError(`ICMPv6 type out of range: ${t}`);
    p.op(JEQ_K, t, 'accept', i === types.length - 1 ? 'drop' : 0);
  });
  p.label('drop').op(RET_K, 0).label('accept').op(RET_K, ACCEPT_LEN);
}

/**
 * Two filters that split one uplink's NS between two sockets, so that NS
 * for the addresses the host answers at once never queue behind a flood of
 * NS for other targets (a flood of random targets under a prefix rule, say):
 * `priority` passes only NS directly after the IPv6 header (as every host
 * sends them) whose target is one of `targets`; `rest` is icmp6Filter(rest)
 * without those same frames, so each frame reaches exactly one socket.
 * NS behind extension headers always take the `rest` path.
 */
export interface NsTargetFilters {
  readonly priority: Uint8Array;
  readonly rest: Uint8Array;
  /**
   * How the kernel matches a target: all 128 bits, or only the low 32 bits
   * when that many exact comparisons would not fit in the bound (a target
   * sharing its low 32 bits with one of ours then takes the priority path
   * too; the engine answers or drops it there as it would on the other).
   */
  readonly match: 'exact' | 'low-32';
  /** Targets left out (even the low 32 bits of all did not fit): the engine still answers them, from the `rest` socket. */
  readonly omitted: number;
}

/**
 * `maxInsns`: a bound below MAX_INSNS for a kernel that refuses long
 * programs (ENOMEM: a socket's filters are charged to net.core.optmem_max).
 * With no targets the pair is small and always built: `priority` passes
 * nothing and `rest` every NS.
 */
export function nsTargetFilters(targets: readonly Uint8Array[], rest: Icmp6FilterOptions, maxInsns = MAX_INSNS): NsTargetFilters {
  // null: does not fit (too long, or a leaf's jumps out of reach: hundreds of targets of one /64 sharing their low word).
  const build = (match: 'exact' | 'low-32', count: number): NsTargetFilters | null => {
    const groups = targetGroups(targets.slice(0, count), match);
    if (groups.some((g) => g.lows.some((l) => (l.thirds?.length ?? 0) >= MAX_JUMP))) return null;
    const priority = new Program();
    targetMatch(priority, groups, (p) => p.op(RET_K, ACCEPT_LEN), (p) => p.op(RET_K, 0));
    const others = new Program();
    targetMatch(others, groups, (p) => p.op(RET_K, 0), (p) => p.op(JA, 'walk'));
    icmp6Walk(others.label('walk'), rest);
    if (others.insns.length > maxInsns && count > 0) return null;
    return { priority: priority.assemble(), rest: others.assemble(), match, omitted: targets.length - count };
  };
  const exact = build('exact', targets.length);
  if (exact !== null) return exact;
  // Fewer and fewer targets, in the order given, until the program fits.
  for (let count = targets.length; ; count = Math.floor(count * 0.9)) {
    const f = build('low-32', count);
    if (f !== null) return f;
  }
}

/**
 * Targets grouped by their /64 (all in one group, prefix not compared, for
 * 'low-32'); in a group, by their low 32-bit word, sorted, each with the
 * third words of the targets that end in it (null for 'low-32').
 */
interface TargetGroup {
  /** The first two 32-bit words, or null when they are not compared. */
  readonly prefix: readonly [number, number] | null;
  readonly lows: readonly { readonly low: number; readonly thirds: readonly number[] | null }[];
}

function targetGroups(targets: readonly Uint8Array[], match: 'exact' | 'low-32'): TargetGroup[] {
  const byPrefix = new Map<string, { prefix: [number, number] | null; lows: Map<number, Set<number>> }>();
  for (const t of targets) {
    const prefix: [number, number] | null = match === 'exact' ? [word32(t, 0), word32(t, 4)] : null;
    const key = prefix?.join(',') ?? '';
    const group = byPrefix.get(key) ?? { prefix, lows: new Map<number, Set<number>>() };
    byPrefix.set(key, group);
    const low = word32(t, 12);
    const thirds = group.lows.get(low) ?? new Set<number>();
    group.lows.set(low, thirds.add(word32(t, 8)));
  }
  return [...byPrefix.values()].map((g) => ({
    prefix: g.prefix,
    lows: [...g.lows].sort(([a], [b]) => a - b).map(([low, thirds]) => ({ low, thirds: match === 'exact' ? [...thirds] : null })),
  }));
}

function word32(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

/** Emits one instruction (a return, or a JA): the jump offsets around it count on one. */
type Terminal = (p: Program) => void;

/**
 * Emits: a direct NS whose target is in `groups` ends in `hit`, every other
 * frame in `miss`.
 * Per group the /64 is compared, then the low word by a binary search
 * (JGT), then the third word: a frame costs about log2(targets) comparisons
 * and a target about 6 instructions (3 for 'low-32').
 */
function targetMatch(p: Program, groups: readonly TargetGroup[], hit: Terminal, miss: Terminal): void {
  let labels = 0;
  // `jeq k` that falls through on a match and ends in `miss` otherwise (miss may be far away: no jf to it).
  const expect = (k: number, notIt: Terminal): void => {
    p.op(JEQ_K, k, 1, 0);
    notIt(p);
  };
  p.op(LD_H_ABS, ETH_TYPE);
  expect(ETH_P_IPV6, miss);
  p.op(LD_B_ABS, IP6_NEXT_HEADER);
  expect(NH_ICMPV6, miss);
  p.op(LD_B_ABS, AFTER_IP6);
  expect(Icmp6Type.NS, miss);
  type Lows = TargetGroup['lows'];
  const leafSize = (lows: Lows, i: number): number => {
    const thirds = lows[i]!.thirds;
    return thirds === null ? 3 : 4 + thirds.length;
  };
  const leaf = (lows: Lows, i: number, notHere: Terminal): void => {
    const { low, thirds } = lows[i]!;
    if (thirds === null) {
      p.op(JEQ_K, low, 0, 1);
      hit(p);
      notHere(p);
      return;
    }
    // The low word, then each third word: a match jumps to `hit` at the end, none falls through to `notHere`.
    p.op(JEQ_K, low, 0, thirds.length + 1).op(LD_W_ABS, NS_TARGET + 8);
    thirds.forEach((w, j) => p.op(JEQ_K, w, thirds.length - j, 0));
    notHere(p);
    hit(p);
  };
  // A node is 1 instruction, plus a JA when its right half is out of a conditional jump's reach.
  const size = (lows: Lows, lo: number, hi: number): number => {
    if (lo === hi) return leafSize(lows, lo);
    const mid = (lo + hi + 1) >> 1;
    const left = size(lows, lo, mid - 1);
    return 1 + (left > MAX_JUMP ? 1 : 0) + left + size(lows, mid, hi);
  };
  const search = (lows: Lows, lo: number, hi: number, notHere: Terminal): void => {
    if (lo === hi) return leaf(lows, lo, notHere);
    const mid = (lo + hi + 1) >> 1;
    const right = `right${labels++}`;
    if (size(lows, lo, mid - 1) <= MAX_JUMP) p.op(JGT_K, lows[mid - 1]!.low, right, 0);
    else p.op(JGT_K, lows[mid - 1]!.low, 0, 1).op(JA, right);
    search(lows, lo, mid - 1, notHere);
    p.label(right);
    search(lows, mid, hi, notHere);
  };
  if (groups.length === 0) miss(p);
  groups.forEach((g, i) => {
    const last = i === groups.length - 1;
    const next = `group${i + 1}`;
    // A target not in this group may be in the next one; not in the last, it is a miss.
    const notHere: Terminal = last ? miss : (q) => q.op(JA, next);
    g.prefix?.forEach((w, j) => {
      p.op(LD_W_ABS, NS_TARGET + 4 * j);
      expect(w, notHere);
    });
    p.op(LD_W_ABS, NS_TARGET + 12);
    search(g.lows, 0, g.lows.length - 1, notHere);
    if (!last) p.label(next);
  });
}
