// eBPF socket-filter programs, assembled here and loaded through bpf(2)
// (native/src/ebpf.c): no clang, no object files. The data path uses one to
// steer a multi-queue TUN's packets to its queues (TUNSETSTEERINGEBPF, see
// src/datapath/queue-steering.ts).
//
// Only what a packet classifier needs: legacy packet loads (LD_ABS: the
// value read big-endian from skb->data + offset lands in r0 in host order;
// a read past the end ends the program with 0), 32-bit ALU, 32-bit
// compare-and-jump (JMP32, Linux 5.1: a 64-bit compare would sign-extend an
// immediate like 0xfd660001), stack stores and loads, a map's fd and helper
// calls (map lookup and update), exit. LD_ABS and calls need the context in
// r6 and clobber r1-r5, so values that must survive them live in r7-r9.
//
// Encoding (struct bpf_insn, 8 bytes): code, dst_reg (low nibble) |
// src_reg (high nibble), a signed 16-bit jump offset, a signed 32-bit immediate.
import { NativeIoError } from '../errors.js';
import { addon } from './addon.js';
import { check, ioError } from './errno.js';
import { FdHandle } from './handle.js';

export type Reg = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10;

// Instruction classes and fields (linux/bpf.h, linux/bpf_common.h).
const LD = 0x00;
const LDX = 0x01;
const STX = 0x03;
const ALU = 0x04;
const JMP = 0x05;
const JMP32 = 0x06;
const ALU64 = 0x07;
const IMM = 0x00;
const ABS = 0x20;
const MEM = 0x60;
const DW = 0x18;
const W = 0x00;
const H = 0x08;
const B = 0x10;
const K = 0x00;
const X = 0x08;
const MOV = 0xb0;
const EXIT = 0x90;
const CALL = 0x80;
const JA = 0x00;
const JEQ = 0x10;
/** ld_imm64's src_reg when its immediate is a map's fd (the kernel puts the map's address there). */
const PSEUDO_MAP_FD = 1;

/** Helper functions (enum bpf_func_id). */
export const Helper = { MAP_LOOKUP_ELEM: 1, MAP_UPDATE_ELEM: 2 } as const;
/** Map types (enum bpf_map_type). */
export const MapType = { LRU_HASH: 9 } as const;
/** The frame pointer: the 512-byte stack is below it. */
export const FP: Reg = 10;

/** ALU operations (BPF_ADD...), for alu32. */
export const AluOp = { ADD: 0x00, SUB: 0x10, MUL: 0x20, DIV: 0x30, OR: 0x40, AND: 0x50, LSH: 0x60, RSH: 0x70, MOD: 0x90, XOR: 0xa0, MOV: 0xb0 } as const;
/** Conditional jumps (BPF_JEQ...), for jmp32. */
export const JmpOp = { JEQ: 0x10, JGT: 0x20, JGE: 0x30, JNE: 0x50, JLT: 0xa0, JLE: 0xb0 } as const;

interface Insn { code: number; dst: number; src: number; off: number | string; imm: number }

/** An eBPF program under construction; jump targets are labels. */
export class EbpfProgram {
  readonly #insns: Insn[] = [];
  readonly #labels = new Map<string, number>();

  get length(): number {
    return this.#insns.length;
  }

  #op(code: number, dst: number, src: number, off: number | string, imm: number): this {
    this.#insns.push({ code, dst, src, off, imm: imm | 0 });
    return this;
  }

  label(name: string): this {
    if (this.#labels.has(name)) throw new Error(`ebpf: label ${name} defined twice`);
    this.#labels.set(name, this.#insns.length);
    return this;
  }

  /** dst = src (64-bit move: r6 = r1 keeps the context pointer). */
  mov64(dst: Reg, src: Reg): this {
    return this.#op(ALU64 | MOV | X, dst, src, 0, 0);
  }

  /** r0 = the 32-bit (size 4), 16-bit (2) or 8-bit (1) big-endian value at packet offset `at`. */
  loadAbs(size: 1 | 2 | 4, at: number): this {
    return this.#op(LD | ABS | (size === 4 ? W : size === 2 ? H : B), 0, 0, 0, at);
  }

  /** dst += imm, 64 bits (a stack address: r2 = r10, r2 += -24). */
  add64(dst: Reg, imm: number): this {
    return this.#op(ALU64 | AluOp.ADD | K, dst, 0, 0, imm);
  }

  /** *(u32 *)(dst + off) = src. */
  store32(dst: Reg, off: number, src: Reg): this {
    return this.#op(STX | MEM | W, dst, src, off, 0);
  }

  /** dst = *(u32 *)(src + off). */
  load32(dst: Reg, src: Reg, off: number): this {
    return this.#op(LDX | MEM | W, dst, src, off, 0);
  }

  /** dst = the map whose fd is `mapFd` (two instruction slots). */
  loadMap(dst: Reg, mapFd: number): this {
    return this.#op(LD | IMM | DW, dst, PSEUDO_MAP_FD, 0, mapFd).#op(0, 0, 0, 0, 0);
  }

  /** r0 = helper(r1..r5); r1-r5 are clobbered. */
  call(helper: number): this {
    return this.#op(JMP | CALL, 0, 0, 0, helper);
  }

  /** if (dst == 0), 64 bits (a null pointer from a map lookup), goto target. */
  jmpIfNull(dst: Reg, target: string): this {
    return this.#op(JMP | JEQ | K, dst, 0, target, 0);
  }

  /** dst = dst OP imm, 32 bits (the upper half is zeroed). */
  alu32(op: number, dst: Reg, imm: number): this {
    return this.#op(ALU | op | K, dst, 0, 0, imm);
  }

  /** dst = dst OP src, 32 bits. */
  alu32Reg(op: number, dst: Reg, src: Reg): this {
    return this.#op(ALU | op | X, dst, src, 0, 0);
  }

  /** if (u32 dst OP imm) goto target. */
  jmp32(op: number, dst: Reg, imm: number, target: string): this {
    return this.#op(JMP32 | op | K, dst, 0, target, imm);
  }

  goto(target: string): this {
    return this.#op(JMP | JA, 0, 0, target, 0);
  }

  /** r0 = value; exit. */
  ret(value: number): this {
    return this.alu32(AluOp.MOV, 0, value).exit();
  }

  exit(): this {
    return this.#op(JMP | EXIT, 0, 0, 0, 0);
  }

  assemble(): Uint8Array {
    const out = new Uint8Array(this.#insns.length * 8);
    const view = new DataView(out.buffer);
    this.#insns.forEach((ins, i) => {
      let off = ins.off;
      if (typeof off === 'string') {
        const at = this.#labels.get(off);
        if (at === undefined) throw new Error(`ebpf: unknown label ${off}`);
        off = at - i - 1;
        if (off < -32768 || off > 32767) throw new Error(`ebpf: jump to ${ins.off} out of range`);
      }
      out[i * 8] = ins.code;
      out[i * 8 + 1] = (ins.src << 4) | ins.dst;
      view.setInt16(i * 8 + 2, off, true);
      view.setInt32(i * 8 + 4, ins.imm, true);
    });
    return out;
  }
}

/** A BPF map; a program that uses it names its fd (EbpfProgram.loadMap) and keeps it alive once loaded. */
export class BpfMap extends FdHandle {
  private constructor(fd: number) {
    super(fd, 'eBPF map');
  }

  static create(type: number, keySize: number, valueSize: number, maxEntries: number): BpfMap {
    return new BpfMap(check(addon().bpfMapCreate(type, keySize, valueSize, maxEntries), 'bpf BPF_MAP_CREATE', 'eBPF map'));
  }
}

/** A loaded BPF_PROG_TYPE_SOCKET_FILTER program. */
export class SocketFilterProgram extends FdHandle {
  private constructor(fd: number) {
    super(fd, 'eBPF program');
  }

  /** Loads the program; a refusal throws NativeIoError with the verifier's reason. */
  static load(program: EbpfProgram | Uint8Array): SocketFilterProgram {
    const insns = program instanceof Uint8Array ? program : program.assemble();
    const fd = addon().bpfLoadSocketFilter(insns);
    if (fd < 0) {
      const err = ioError(fd, 'bpf BPF_PROG_LOAD', 'eBPF program');
      const log = addon().bpfVerifierLog().trim().split('\n').slice(-3).join(' | ');
      throw log === '' ? err : new NativeIoError(err.errno, err.syscall, `${err.message} (verifier: ${log})`);
    }
    return new SocketFilterProgram(fd);
  }

  /**
   * Runs the program once on `packet` (BPF_PROG_TEST_RUN) and returns its
   * return value. The kernel pulls an Ethernet header first, so the program
   * sees what a TUN's steering hook sees: `packet` from its IPv6 header on.
   */
  testRun(packet: Uint8Array): number {
    const frame = new Uint8Array(14 + packet.length);
    frame[12] = 0x86;
    frame[13] = 0xdd;
    frame.set(packet, 14);
    return check(addon().bpfTestRun(this.live('BPF_PROG_TEST_RUN'), frame), 'bpf BPF_PROG_TEST_RUN', this.subject);
  }
}
