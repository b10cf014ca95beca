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
import { ETH_P_IPV6 } from './packet.js';

// struct sock_filter opcodes (linux/bpf_common.h).
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
const RET_K = 0x06;

const ETH_TYPE = 12;
const IP6_NEXT_HEADER = 20;
const IP6_HOP_LIMIT = 21;
const AFTER_IP6 = 54;
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
  #rel(from: number, t: Target): number {
    if (typeof t === 'number') return t;
    const at = this.labels.get(t);
    if (at === undefined) throw new Error(`bpf: unknown label ${t}`);
    const off = at - from - 1;
    if (off < 0 || off > 255) throw new Error(`bpf: jump to ${t} out of range`);
    return off;
  }
  assemble(): Uint8Array {
    const out = new Uint8Array(this.insns.length * 8);
    const view = new DataView(out.buffer);
    const little = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
    this.insns.forEach((ins, i) => {
      const k = typeof ins.k === 'string' ? this.#rel(i, ins.k) : ins.k;
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
  const types = options.types ?? [Icmp6Type.NS, Icmp6Type.NA];
  if (types.length === 0 || types.length > 32) throw new RangeError('icmp6Filter: 1..32 types');
  const p = new Program();
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
  return p.assemble();
}
