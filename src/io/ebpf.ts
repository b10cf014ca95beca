// eBPF programs, assembled here and loaded through bpf(2) (native/src/ebpf.c):
// no clang, no object files. The data path uses a socket filter to steer a
// multi-queue TUN's packets to its queues (TUNSETSTEERINGEBPF, see
// src/datapath/queue-steering.ts), and traffic-control programs attached to
// a device's ingress (tcx) for work the kernel can finish in softirq.
//
// Legacy packet loads (LD_ABS: the value read big-endian from skb->data +
// offset lands in r0 in host order; a read past the end ends the program
// with 0), direct packet access for tc programs (skb->data and data_end from
// the context, every access proven in bounds first: memory order, so a
// 16-bit port compares against its bytes read little-endian), 32- and 64-bit
// ALU and jumps (JMP32, Linux 5.1: a 64-bit compare would sign-extend an
// immediate like 0xfd660001), memory loads and stores, atomic adds, maps and
// helper calls, exit. Calls clobber r1-r5 (r0 is the result), so values that
// must survive them live in r6-r9.
//
// Encoding (struct bpf_insn, 8 bytes): code, dst_reg (low nibble) |
// src_reg (high nibble), a signed 16-bit jump offset, a signed 32-bit immediate.
import { NativeIoError } from '../errors.js';
import { addon } from './addon.js';
import { check, errnoName, ioError } from './errno.js';
import { FdHandle } from './handle.js';

export type Reg = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10;

// Instruction classes and fields (linux/bpf.h, linux/bpf_common.h).
const LD = 0x00;
const LDX = 0x01;
const ST = 0x02;
const STX = 0x03;
const ALU = 0x04;
const JMP = 0x05;
const JMP32 = 0x06;
const ALU64 = 0x07;
const IMM = 0x00;
const ABS = 0x20;
const MEM = 0x60;
const ATOMIC = 0xc0;
const END = 0xd0;
/** BPF_END's direction: to big-endian (network order) from this host's. */
const TO_BE = 0x08;
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
/** ld_imm64's src_reg when its immediate is a map's fd (the kernel puts the map's address there). */
const PSEUDO_MAP_FD = 1;

/** Helper functions (enum bpf_func_id). */
export const Helper = {
  MAP_LOOKUP_ELEM: 1, MAP_UPDATE_ELEM: 2, KTIME_GET_NS: 5, SKB_STORE_BYTES: 9, L3_CSUM_REPLACE: 10, L4_CSUM_REPLACE: 11,
  REDIRECT: 23, CSUM_DIFF: 28, SKB_PULL_DATA: 39, CSUM_UPDATE: 40, FIB_LOOKUP: 69, REDIRECT_NEIGH: 152, CHECK_MTU: 163,
} as const;
/** Map types (enum bpf_map_type). */
export const MapType = { HASH: 1, ARRAY: 2, PERCPU_ARRAY: 6, LRU_HASH: 9 } as const;
/** Program types (enum bpf_prog_type). */
export const ProgType = { SOCKET_FILTER: 1, SCHED_CLS: 3 } as const;
/** A tcx program's verdicts: NEXT hands the packet to the next program or the classic tc filters. */
export const TcxVerdict = { NEXT: -1, PASS: 0, DROP: 2, REDIRECT: 7 } as const;
/** Offsets in struct __sk_buff, the context of socket-filter and tc programs. */
export const SkBuff = {
  len: 0, pktType: 4, mark: 8, protocol: 16, vlanPresent: 20, ingressIfindex: 36, ifindex: 40, cb: 48, hash: 68,
  data: 76, dataEnd: 80, gsoSegs: 164, gsoSize: 176,
} as const;
export type Size = 1 | 2 | 4 | 8;
const SIZE_CODE: Record<Size, number> = { 1: B, 2: H, 4: W, 8: DW };
/** The frame pointer: the 512-byte stack is below it. */
export const FP: Reg = 10;

/** ALU operations (BPF_ADD...), for alu32. */
export const AluOp = { ADD: 0x00, SUB: 0x10, MUL: 0x20, DIV: 0x30, OR: 0x40, AND: 0x50, LSH: 0x60, RSH: 0x70, MOD: 0x90, XOR: 0xa0, MOV: 0xb0 } as const;
/** Conditional jumps (BPF_JEQ...), unsigned, for jmp and jmp32; JSET jumps if dst & operand. */
export const JmpOp = { JEQ: 0x10, JGT: 0x20, JGE: 0x30, JSET: 0x40, JNE: 0x50, JLT: 0xa0, JLE: 0xb0 } as const;

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

  /** dst = dst OP imm, 64 bits (imm sign-extended). */
  alu64(op: number, dst: Reg, imm: number): this {
    return this.#op(ALU64 | op | K, dst, 0, 0, imm);
  }

  /** dst = dst OP src, 64 bits. */
  alu64Reg(op: number, dst: Reg, src: Reg): this {
    return this.#op(ALU64 | op | X, dst, src, 0, 0);
  }

  /** dst = the low `bits` of dst swapped to network order (a no-op on a big-endian host). */
  toBigEndian(dst: Reg, bits: 16 | 32 | 64): this {
    return this.#op(ALU | END | TO_BE, dst, 0, 0, bits);
  }

  /** dst = *(size *)(src + off), zero-extended. */
  ldx(size: Size, dst: Reg, src: Reg, off: number): this {
    return this.#op(LDX | MEM | SIZE_CODE[size], dst, src, off, 0);
  }

  /** *(size *)(dst + off) = src. */
  stx(size: Size, dst: Reg, off: number, src: Reg): this {
    return this.#op(STX | MEM | SIZE_CODE[size], dst, src, off, 0);
  }

  /** *(size *)(dst + off) = imm. */
  st(size: Size, dst: Reg, off: number, imm: number): this {
    return this.#op(ST | MEM | SIZE_CODE[size], dst, 0, off, imm);
  }

  /** *(u64 *)(dst + off) += src, atomically (a counter in a map value). */
  atomicAdd64(dst: Reg, off: number, src: Reg): this {
    return this.#op(STX | ATOMIC | DW, dst, src, off, AluOp.ADD);
  }

  /** dst = the map whose fd is `mapFd` (two instruction slots). */
  loadMap(dst: Reg, mapFd: number): this {
    return this.#op(LD | IMM | DW, dst, PSEUDO_MAP_FD, 0, mapFd).#op(0, 0, 0, 0, 0);
  }

  /** r0 = helper(r1..r5); r1-r5 are clobbered. */
  call(helper: number): this {
    return this.#op(JMP | CALL, 0, 0, 0, helper);
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

  /** if (u32 dst OP u32 src) goto target. */
  jmp32Reg(op: number, dst: Reg, src: Reg, target: string): this {
    return this.#op(JMP32 | op | X, dst, src, target, 0);
  }

  /** if (dst OP imm) goto target, 64 bits (imm sign-extended). */
  jmp(op: number, dst: Reg, imm: number, target: string): this {
    return this.#op(JMP | op | K, dst, 0, target, imm);
  }

  /** if (dst OP src) goto target, 64 bits (packet bounds: data + n > data_end). */
  jmpReg(op: number, dst: Reg, src: Reg, target: string): this {
    return this.#op(JMP | op | X, dst, src, target, 0);
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
  private constructor(fd: number, readonly keySize: number, readonly valueSize: number, readonly maxEntries: number, subject: string) {
    super(fd, subject);
  }

  /** `name` says what the map holds in errors ("NDP targets"). */
  static create(type: number, keySize: number, valueSize: number, maxEntries: number, name = 'eBPF map'): BpfMap {
    const fd = check(addon().bpfMapCreate(type, keySize, valueSize, maxEntries), 'bpf BPF_MAP_CREATE', name);
    return new BpfMap(fd, keySize, valueSize, maxEntries, name);
  }

  /**
   * The map whose fd another part of this process created and owns (a
   * worker_thread using the main thread's map: a descriptor is good in every
   * thread). Never close the borrowed handle; the owner's close ends the map.
   */
  static borrow(fd: number, keySize: number, valueSize: number, maxEntries: number, name = 'eBPF map'): BpfMap {
    return new BpfMap(fd, keySize, valueSize, maxEntries, name);
  }

  /** The kernel reads keySize (and valueSize) bytes whatever the array's length: a shorter one is a programming error. */
  #sized(key: Uint8Array, value?: Uint8Array): void {
    if (key.length < this.keySize || (value !== undefined && value.length < this.valueSize)) {
      throw new RangeError(`${this.subject}: keys are ${this.keySize} bytes, values ${this.valueSize}`);
    }
  }

  /** Writes one entry; false when the map is full (E2BIG), other refusals throw. */
  update(key: Uint8Array, value: Uint8Array): boolean {
    this.#sized(key, value);
    const r = addon().bpfMapUpdate(this.live('BPF_MAP_UPDATE_ELEM'), key, value);
    if (errnoName(r) === 'E2BIG') return false;
    check(r, 'bpf BPF_MAP_UPDATE_ELEM', this.subject);
    return true;
  }

  /**
   * Writes the first `count` records of `keys` and `values` (keySize and
   * valueSize bytes each) in one call: how many were written (fewer when the
   * map filled up).
   */
  updateMany(keys: Uint8Array, values: Uint8Array, count: number): number {
    if (count === 0) return 0;
    const r = addon().bpfMapUpdateMany(this.live('BPF_MAP_UPDATE_ELEM'), keys, values, this.keySize, this.valueSize, count);
    return errnoName(r) === 'E2BIG' ? 0 : check(r, 'bpf BPF_MAP_UPDATE_ELEM', this.subject);
  }

  /** Reads one entry into `value`; false when the key is absent. */
  lookup(key: Uint8Array, value: Uint8Array): boolean {
    this.#sized(key, value);
    const r = addon().bpfMapLookup(this.live('BPF_MAP_LOOKUP_ELEM'), key, value);
    if (errnoName(r) === 'ENOENT') return false;
    check(r, 'bpf BPF_MAP_LOOKUP_ELEM', this.subject);
    return true;
  }

  /** Deletes one entry; false when it was absent. */
  delete(key: Uint8Array): boolean {
    this.#sized(key);
    const r = addon().bpfMapDelete(this.live('BPF_MAP_DELETE_ELEM'), key);
    if (errnoName(r) === 'ENOENT') return false;
    check(r, 'bpf BPF_MAP_DELETE_ELEM', this.subject);
    return true;
  }

  /** Copies entries (as many as fit in `keys` and `values`) and returns how many; the order is the map's. */
  dump(keys: Uint8Array, values: Uint8Array): number {
    return check(addon().bpfMapDump(this.live('BPF_MAP_LOOKUP_BATCH'), keys, values, this.keySize, this.valueSize), 'bpf BPF_MAP_LOOKUP_BATCH', this.subject);
  }
}


/** Loads `program` as `type`; a refusal throws NativeIoError with the verifier's reason. */
function load(type: number, program: EbpfProgram | Uint8Array): number {
  const insns = program instanceof Uint8Array ? program : program.assemble();
  const fd = addon().bpfProgLoad(type, insns);
  if (fd < 0) {
    const err = ioError(fd, 'bpf BPF_PROG_LOAD', 'eBPF program');
    const log = addon().bpfVerifierLog().trim().split('\n').slice(-3).join(' | ');
    throw log === '' ? err : new NativeIoError(err.errno, err.syscall, `${err.message} (verifier: ${log})`);
  }
  return fd;
}

/** A loaded BPF_PROG_TYPE_SOCKET_FILTER program. */
export class SocketFilterProgram extends FdHandle {
  private constructor(fd: number) {
    super(fd, 'eBPF program');
  }

  static load(program: EbpfProgram | Uint8Array): SocketFilterProgram {
    return new SocketFilterProgram(load(ProgType.SOCKET_FILTER, program));
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

/** A loaded traffic-control program (BPF_PROG_TYPE_SCHED_CLS), attached to devices through tcx links. */
export class TcProgram extends FdHandle {
  private constructor(fd: number, subject: string) {
    super(fd, subject);
  }

  /** `name` says what the program is in errors ("NDP responder"). */
  static load(program: EbpfProgram | Uint8Array, name = 'tc eBPF program'): TcProgram {
    return new TcProgram(load(ProgType.SCHED_CLS, program), name);
  }

  /** Attaches the program to `ifindex`'s ingress or egress, ahead of its classic tc filters, until the link is closed. */
  attach(ifindex: number, direction: 'ingress' | 'egress'): TcxLink {
    return TcxLink.create(this.live('BPF_LINK_CREATE'), ifindex, direction, this.subject);
  }

  /**
   * Runs the program once on an Ethernet `frame` (BPF_PROG_TEST_RUN): its
   * verdict as a signed number (TcxVerdict) and the frame as it left it.
   */
  testRun(frame: Uint8Array): { verdict: number; frame: Uint8Array } {
    const out = new Uint8Array(frame.length + 256);
    const length = new Int32Array(1);
    const verdict = check(addon().bpfTestRun(this.live('BPF_PROG_TEST_RUN'), frame, out, length), 'bpf BPF_PROG_TEST_RUN', this.subject);
    return { verdict: verdict | 0, frame: out.subarray(0, length[0]) };
  }
}

/** A program attached to a device's ingress or egress; closing it (or the process ending) detaches it. */
export class TcxLink extends FdHandle {
  private constructor(fd: number, subject: string) {
    super(fd, subject);
  }

  static create(progFd: number, ifindex: number, direction: 'ingress' | 'egress', subject: string): TcxLink {
    const what = `${subject} on ifindex ${ifindex} ${direction}`;
    return new TcxLink(check(addon().bpfTcxAttach(progFd, ifindex, direction === 'egress' ? 1 : 0), 'bpf BPF_LINK_CREATE', what), what);
  }
}
