// The in-kernel NDP responder: a tc program on an uplink's ingress (tcx)
// that answers a Neighbor Solicitation for one of the exact addresses the
// proxy answers unconditionally (the priority filter's targets) by turning
// the frame into the engine's Neighbor Advertisement in place and sending it
// back out of the same device, in softirq: no wake-up, no scheduler between
// the router and its answer, whatever else keeps the CPUs busy.
//
// Only the common case, fully validated, is answered here; the answer is
// byte for byte the one the engine builds (src/ndp/emit.ts answer(), checked
// by test/proxy/ndp-responder.test.ts):
//   Ethernet (no VLAN tag) | IPv6 (payload 32, next header ICMPv6, hop
//   limit 255, no extension header) | NS (code 0, checksum correct) |
//   exactly one option: the SLLA; the frame exactly 86 bytes; a unicast
//   source (not DAD); the destination the target's solicited-node group or
//   the target itself.
// The NA has the same size, so nothing moves: Ethernet to the SLLA from the
// uplink's MAC, IPv6 from the target (or the uplink's link-local address)
// to the solicitor, type 136 with R as configured, S=1, O=0, the TLLA the
// uplink's MAC, traffic class and flow label 0 (ndisc6 and other raw-socket
// senders get a flow label from the kernel). The IPv6 packet's one's-
// complement sum changes only by that first word (the ICMPv6 checksum
// balances the rest), which bpf_csum_update adds to a CHECKSUM_COMPLETE skb.
//
// Everything else goes on untouched (TcxVerdict.NEXT) to the proxy's packet
// sockets, which answer, count or drop it as before: DAD, other options,
// extension headers, a bad checksum, targets not in the map. The sockets are
// bound to ETH_P_IPV6, delivered after tc ingress, so a frame the program
// redirects never reaches them: no NS is answered twice. (ETH_P_ALL taps
// such as tcpdump see the NS before tc and the NA on its way out.)
//
// The targets map: 16-byte address -> Target below. The program counts into
// the entry (atomic adds): `answered`, and `passed` for an NS to the target
// it left to user space. The wiring folds `answered` into the engine's
// counters (ndp-service.ts), so an operator sees these answers as others.
import { endianness } from 'node:os';
import { BpfMap, EbpfProgram, FP, Helper, JmpOp, AluOp, MapType, SkBuff, TcProgram, TcxVerdict, type TcxLink } from '../io/ebpf.js';
import { isMulticast } from '../wire/address.js';

/** A targets map entry: counters first (8-byte aligned for the atomic adds), then the answer's facts. */
export const Target = {
  ANSWERED: 0,
  PASSED: 8,
  /** The uplink's MAC: the Ethernet source and the TLLA. */
  MAC: 16,
  /** NaFlag.Router | NaFlag.Solicited, as the engine sets them. */
  FLAGS: 22,
  /** 1: answer from LINK_LOCAL (naSource link-local), 0: from the target. */
  FROM_LINK_LOCAL: 23,
  LINK_LOCAL: 24,
  SIZE: 40,
} as const;

/** What the engine answers a target with. */
export interface TargetAnswer {
  readonly mac: Uint8Array;
  readonly flags: number;
  /** The NA's source when not the target. */
  readonly linkLocal: Uint8Array | null;
}

/** Exact targets per uplink in the kernel (a preallocated hash: about 0.5 MB); more are answered from user space. */
export const MAX_TARGETS = 4096;

// Frame offsets: Ethernet 0, IPv6 14, ICMPv6 54, the option 78.
const ETH_DST = 0;
const ETH_SRC = 6;
const ETH_TYPE = 12;
const IP_FIRST_WORD = 14;
const IP_PAYLOAD_LEN = 18;
const IP_NEXT_HEADER = 20;
const IP_HOP_LIMIT = 21;
const IP_SRC = 22;
const IP_DST = 38;
const ICMP = 54;
const ICMP_CODE = 55;
const ICMP_CHECKSUM = 56;
const NA_FLAGS = 58;
const TARGET = 62;
const OPTION = 78;
const OPTION_MAC = 80;
const FRAME_LEN = 86;
/** The checksummed bytes: source and destination (pseudo header), then the ICMPv6 message. */
const SUMMED_LEN = FRAME_LEN - IP_SRC;

// Multi-byte fields compare as loaded: in memory order, read little-endian.
const LE_ETH_P_IPV6 = 0xdd86;
/** 60 00 00 00: version 6, traffic class 0, flow label 0. */
const LE_VERSION_ONLY = 0x00000060;
/** 00 20: 32 bytes of ICMPv6. */
const LE_PAYLOAD_32 = 0x2000;
/** Option type 1 (SLLA), length 1 (8 bytes). */
const LE_SLLA_OPTION = 0x0101;
/** Option type 2 (TLLA), length 1. */
const LE_TLLA_OPTION = 0x0102;
/** Type 136 (NA), code 0. */
const LE_NA_TYPE = 0x0088;
/** ff02:0000:0000:0000 */
const LE_SOLICITED_HIGH = 0x02ff;
/** 0000:0001 of ff02::1:ffXX:XXXX; the last word is ff and the target's low 24 bits. */
const LE_SOLICITED_WORD3 = 0x01000000;
/**
 * The rest of the pseudo header, the upper-layer length (32) and the next
 * header (58), as a 16-bit sum of little-endian words: 0x20 and 0x3a each in
 * the high byte.
 */
const LE_PSEUDO_REST = 0x2000 + 0x3a00;
const NS_TYPE = 135;
const ICMPV6 = 58;

/** Builds the program for one uplink's targets map. Assumes a little-endian host (x86, arm64). */
export function ndpResponderProgram(targets: BpfMap): EbpfProgram {
  const p = new EbpfProgram();
  const skb = 6;
  const data = 7;
  const end = 8;
  const entry = 9;
  p.mov64(skb, 1)
    .ldx(4, data, skb, SkBuff.data)
    .ldx(4, end, skb, SkBuff.dataEnd)
    .mov64(2, data).add64(2, OPTION).jmpReg(JmpOp.JGT, 2, end, 'next')
    .ldx(2, 2, data, ETH_TYPE).jmp32(JmpOp.JNE, 2, LE_ETH_P_IPV6, 'next')
    .ldx(1, 2, data, IP_NEXT_HEADER).jmp32(JmpOp.JNE, 2, ICMPV6, 'next')
    .ldx(1, 2, data, ICMP).jmp32(JmpOp.JNE, 2, NS_TYPE, 'next')
    // Ours? (A flood of other targets ends here.)
    .loadMap(1, targets.fd)
    .mov64(2, data).add64(2, TARGET)
    .call(Helper.MAP_LOOKUP_ELEM)
    .jmp(JmpOp.JEQ, 0, 0, 'next')
    .mov64(entry, 0)
    // The case answered here, and nothing else.
    .mov64(2, data).add64(2, FRAME_LEN).jmpReg(JmpOp.JGT, 2, end, 'passed')
    .ldx(4, 2, skb, SkBuff.len).jmp32(JmpOp.JNE, 2, FRAME_LEN, 'passed')
    // A tag the driver took off belongs to a VLAN device above this one, which the proxy does not serve.
    .ldx(4, 2, skb, SkBuff.vlanPresent).jmp32(JmpOp.JNE, 2, 0, 'passed')
    .ldx(1, 2, data, IP_FIRST_WORD).alu32(AluOp.AND, 2, 0xf0).jmp32(JmpOp.JNE, 2, 0x60, 'passed')
    .ldx(2, 2, data, IP_PAYLOAD_LEN).jmp32(JmpOp.JNE, 2, LE_PAYLOAD_32, 'passed')
    .ldx(1, 2, data, IP_HOP_LIMIT).jmp32(JmpOp.JNE, 2, 255, 'passed')
    .ldx(1, 2, data, ICMP_CODE).jmp32(JmpOp.JNE, 2, 0, 'passed')
    .ldx(2, 2, data, OPTION).jmp32(JmpOp.JNE, 2, LE_SLLA_OPTION, 'passed')
    // A unicast solicitor: not multicast, not unspecified (DAD).
    .ldx(1, 2, data, IP_SRC).jmp32(JmpOp.JEQ, 2, 0xff, 'passed')
    .ldx(8, 2, data, IP_SRC).ldx(8, 3, data, IP_SRC + 8).alu64Reg(AluOp.OR, 2, 3).jmp(JmpOp.JEQ, 2, 0, 'passed')
    // To the target itself...
    .ldx(8, 2, data, IP_DST).ldx(8, 3, data, TARGET).jmpReg(JmpOp.JNE, 2, 3, 'solicited')
    .ldx(8, 2, data, IP_DST + 8).ldx(8, 3, data, TARGET + 8).jmpReg(JmpOp.JEQ, 2, 3, 'addressed')
    // ...or to its solicited-node group, ff02::1:ff00:0/104 and the target's low 24 bits.
    .label('solicited')
    .ldx(8, 2, data, IP_DST).jmp(JmpOp.JNE, 2, LE_SOLICITED_HIGH, 'passed')
    .ldx(4, 2, data, IP_DST + 8).jmp32(JmpOp.JNE, 2, LE_SOLICITED_WORD3, 'passed')
    .ldx(4, 2, data, IP_DST + 12).ldx(4, 3, data, TARGET + 12)
    .alu32(AluOp.AND, 3, 0xffffff00).alu32(AluOp.OR, 3, 0xff)
    .jmp32Reg(JmpOp.JNE, 2, 3, 'passed')
    .label('addressed');
  sumMessage(p, data);
  p.jmp32(JmpOp.JNE, 0, 0xffff, 'passed');

  // The answer, in place. Version 6, traffic class and flow label 0: the skb's sum follows.
  p.st(4, FP, -8, LE_VERSION_ONLY)
    .mov64(1, data).add64(1, IP_FIRST_WORD).alu64(AluOp.MOV, 2, 4)
    .mov64(3, FP).add64(3, -8).alu64(AluOp.MOV, 4, 4).alu64(AluOp.MOV, 5, 0)
    .call(Helper.CSUM_DIFF)
    .mov64(1, skb).alu32Reg(AluOp.MOV, 2, 0)
    .call(Helper.CSUM_UPDATE)
    .st(4, data, IP_FIRST_WORD, LE_VERSION_ONLY);
  // The destination first: the source is overwritten next.
  p.ldx(8, 2, data, IP_SRC).stx(8, data, IP_DST, 2)
    .ldx(8, 2, data, IP_SRC + 8).stx(8, data, IP_DST + 8, 2)
    .ldx(1, 2, entry, Target.FROM_LINK_LOCAL).jmp32(JmpOp.JEQ, 2, 0, 'from-target')
    .ldx(8, 2, entry, Target.LINK_LOCAL).stx(8, data, IP_SRC, 2)
    .ldx(8, 2, entry, Target.LINK_LOCAL + 8).stx(8, data, IP_SRC + 8, 2)
    .goto('source-set')
    .label('from-target')
    .ldx(8, 2, data, TARGET).stx(8, data, IP_SRC, 2)
    .ldx(8, 2, data, TARGET + 8).stx(8, data, IP_SRC + 8, 2)
    .label('source-set')
    // Ethernet: to the solicitor's SLLA, from the uplink.
    .ldx(4, 2, data, OPTION_MAC).stx(4, data, ETH_DST, 2)
    .ldx(2, 2, data, OPTION_MAC + 4).stx(2, data, ETH_DST + 4, 2)
    .ldx(4, 2, entry, Target.MAC).stx(4, data, ETH_SRC, 2)
    .ldx(2, 2, entry, Target.MAC + 4).stx(2, data, ETH_SRC + 4, 2)
    // NA, flags, reserved, the TLLA.
    .st(2, data, ICMP, LE_NA_TYPE)
    .st(2, data, ICMP_CHECKSUM, 0)
    .ldx(1, 2, entry, Target.FLAGS).stx(1, data, NA_FLAGS, 2)
    .st(1, data, NA_FLAGS + 1, 0)
    .st(2, data, NA_FLAGS + 2, 0)
    .st(2, data, OPTION, LE_TLLA_OPTION)
    .ldx(4, 2, entry, Target.MAC).stx(4, data, OPTION_MAC, 2)
    .ldx(2, 2, entry, Target.MAC + 4).stx(2, data, OPTION_MAC + 4, 2);
  sumMessage(p, data);
  p.alu32(AluOp.XOR, 0, 0xffff).stx(2, data, ICMP_CHECKSUM, 0)
    .alu64(AluOp.MOV, 2, 1).atomicAdd64(entry, Target.ANSWERED, 2)
    // Out of the device it came in on.
    .ldx(4, 1, skb, SkBuff.ifindex)
    .alu64(AluOp.MOV, 2, 0)
    .call(Helper.REDIRECT)
    .exit()
    .label('passed')
    .alu64(AluOp.MOV, 2, 1).atomicAdd64(entry, Target.PASSED, 2)
    .label('next')
    .ret(TcxVerdict.NEXT);
  return p;
}

/**
 * r0 = the ICMPv6 checksum sum of the frame at `data` (pseudo header and
 * message), folded to 16 bits: 0xffff when the checksum field is right.
 * Clobbers r1-r5.
 */
function sumMessage(p: EbpfProgram, data: 7): void {
  p.alu64(AluOp.MOV, 1, 0).alu64(AluOp.MOV, 2, 0)
    .mov64(3, data).add64(3, IP_SRC)
    .alu64(AluOp.MOV, 4, SUMMED_LEN).alu64(AluOp.MOV, 5, 0)
    .call(Helper.CSUM_DIFF)
    // A 32-bit partial sum (older kernels) or one already folded to 16 bits (6.13+): fold either.
    .alu32Reg(AluOp.MOV, 0, 0)
    .alu64(AluOp.ADD, 0, LE_PSEUDO_REST);
  for (let i = 0; i < 3; i++) {
    p.mov64(1, 0).alu64(AluOp.RSH, 1, 16).alu64(AluOp.AND, 0, 0xffff).alu64Reg(AluOp.ADD, 0, 1);
  }
}

/** What the kernel did for one uplink since it was loaded. */
export interface ResponderStats {
  /** NS answered in the kernel. */
  readonly answered: number;
  /** NS for the targets in the map now that it left to user space (DAD, other options, extension headers...). */
  readonly passed: number;
  /** Targets in the map. */
  readonly targets: number;
  /** Exact targets beyond MAX_TARGETS, answered from user space only. */
  readonly omitted: number;
}

/**
 * One uplink's responder: the program, its targets map and the tcx link
 * while attached. Control path only: sync() after the exact set changes,
 * fold() now and then to credit the kernel's answers.
 */
export class NdpResponder {
  /** Answers already credited by fold(), per target (hex). */
  readonly #credited = new Map<string, number>();
  #link: TcxLink | null = null;
  #answered = 0;
  #omitted = 0;

  private constructor(readonly ifindex: number, private readonly targets: BpfMap, private readonly program: TcProgram) {}

  /** Loads the program for the uplink `ifindex` (not attached yet). Throws NativeIoError when the kernel refuses it, Error on a big-endian host. */
  static load(ifindex: number): NdpResponder {
    if (endianness() !== 'LE') throw new Error('the program reads fields in little-endian order; this host is big-endian');
    const targets = BpfMap.create(MapType.HASH, 16, Target.SIZE, MAX_TARGETS, 'NDP responder targets');
    try {
      return new NdpResponder(ifindex, targets, TcProgram.load(ndpResponderProgram(targets), 'NDP responder'));
    } catch (err) {
      targets.close();
      throw err;
    }
  }

  get attached(): boolean {
    return this.#link !== null;
  }

  /** Starts answering on the uplink's ingress. Throws NativeIoError (no tcx before Linux 6.6). */
  attach(): void {
    this.#link ??= this.program.attach(this.ifindex, 'ingress');
  }

  /** Leaves every NS to user space again. */
  detach(): void {
    this.#link?.close();
    this.#link = null;
  }

  /**
   * Makes the map hold `addresses` (multicast ones never: the engine drops
   * such NS), each answered as `answer` says. `credit` receives the answers
   * of entries about to be replaced or removed, as fold() would.
   */
  sync(addresses: readonly Uint8Array[], answer: TargetAnswer, credit: (target: Uint8Array, answers: number) => void): void {
    this.fold(credit);
    const value = new Uint8Array(Target.SIZE);
    value.set(answer.mac.subarray(0, 6), Target.MAC);
    value[Target.FLAGS] = answer.flags;
    if (answer.linkLocal !== null) {
      value[Target.FROM_LINK_LOCAL] = 1;
      value.set(answer.linkLocal.subarray(0, 16), Target.LINK_LOCAL);
    }
    const wanted = new Map<string, Uint8Array>();
    for (const a of addresses) if (!isMulticast(a, 0) && wanted.size < MAX_TARGETS) wanted.set(hex(a), a);
    this.#omitted = addresses.filter((a) => !isMulticast(a, 0)).length - wanted.size;
    const { keys, values, count } = this.#dump();
    for (let i = 0; i < count; i++) {
      const key = keys.subarray(i * 16, i * 16 + 16);
      const id = hex(key);
      const same = wanted.has(id) && Buffer.compare(values.subarray(i * Target.SIZE + Target.MAC, (i + 1) * Target.SIZE), value.subarray(Target.MAC)) === 0;
      if (same) {
        wanted.delete(id);
        continue;
      }
      // Gone, or answered otherwise now: its count starts again at 0 with the new entry.
      this.targets.delete(key);
      this.#credited.delete(id);
    }
    // The new ones in one call (a burst of containers starting).
    const newKeys = new Uint8Array(wanted.size * 16);
    const newValues = new Uint8Array(wanted.size * Target.SIZE);
    [...wanted.values()].forEach((a, i) => {
      newKeys.set(a.subarray(0, 16), i * 16);
      newValues.set(value, i * Target.SIZE);
    });
    const written = this.targets.updateMany(newKeys, newValues, wanted.size);
    [...wanted.keys()].slice(0, written).forEach((id) => this.#credited.set(id, 0));
  }

  /** Stops answering `target` at once (a withdrawn address), its last answers credited. */
  forget(target: Uint8Array, credit: (target: Uint8Array, answers: number) => void): void {
    const value = new Uint8Array(Target.SIZE);
    if (!this.targets.lookup(target, value)) return;
    this.targets.delete(target);
    const id = hex(target);
    const delta = Number(new DataView(value.buffer).getBigUint64(Target.ANSWERED, true)) - (this.#credited.get(id) ?? 0);
    if (delta > 0) {
      credit(target.slice(0, 16), delta);
      this.#answered += delta;
    }
    this.#credited.delete(id);
  }

  /** Credits the answers made since the last fold, per target; the totals since load. */
  fold(credit: (target: Uint8Array, answers: number) => void): ResponderStats {
    const { keys, values, count } = this.#dump();
    const view = new DataView(values.buffer, values.byteOffset, values.byteLength);
    let passed = 0;
    for (let i = 0; i < count; i++) {
      const key = keys.subarray(i * 16, i * 16 + 16);
      const id = hex(key);
      const answered = Number(view.getBigUint64(i * Target.SIZE + Target.ANSWERED, true));
      passed += Number(view.getBigUint64(i * Target.SIZE + Target.PASSED, true));
      const delta = answered - (this.#credited.get(id) ?? 0);
      if (delta > 0) {
        credit(key.slice(), delta);
        this.#answered += delta;
      }
      this.#credited.set(id, answered);
    }
    return { answered: this.#answered, passed, targets: count, omitted: this.#omitted };
  }

  /** Runs the program once on an Ethernet frame (BPF_PROG_TEST_RUN): its verdict and the frame it left. */
  testRun(frame: Uint8Array): { verdict: number; frame: Uint8Array } {
    return this.program.testRun(frame);
  }

  close(): void {
    this.detach();
    this.program.close();
    this.targets.close();
  }

  #dump(): { keys: Uint8Array; values: Uint8Array; count: number } {
    const room = this.#credited.size + 1;
    const keys = new Uint8Array(room * 16);
    const values = new Uint8Array(room * Target.SIZE);
    return { keys, values, count: this.targets.dump(keys, values) };
  }
}

function hex(a: Uint8Array): string {
  return Buffer.from(a.buffer, a.byteOffset, 16).toString('hex');
}
