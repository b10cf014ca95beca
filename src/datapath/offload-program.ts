// The NAT66 fast path's kernel half: a tc program on a device's ingress
// (the Docker bridges: Role.Inside; the uplink: Role.Outside) that
// translates the packets of offloaded sessions in softirq and sends them
// straight out of the device they leave by, the TUN and sixgate's process
// out of their path. offload.ts decides which sessions are offloaded and
// writes their entries (offload-layout.ts); this program only follows them.
//
// Per packet, in order; anything that fails a step goes on untouched
// (TcxVerdict.NEXT), to the policy routing and the TUN, where the engine
// handles it as before:
//   1. IPv6, with its headers (Ethernet, IPv6, a UDP header or a TCP
//      header up to its checksum) in the linear part; the next header TCP or
//      UDP (no extension headers, so no fragments); a TCP segment without SYN, FIN or RST
//      (the engine sees every change of a connection's state); a UDP
//      checksum that is not zero; a hop limit above 1 (the kernel answers
//      the last hop's Time Exceeded).
//   2. The key (role, next header, addresses, ports) found in the map, and
//      the packet arrived on the entry's device.
//   3. What the packet becomes fits the out device's MTU (bpf_check_mtu:
//      a GSO super-packet by its segments), else the slow path answers
//      Packet Too Big.
// Then: the checksum corrected for the new addresses (pseudo-header: with
// a partial checksum, as the kernel will finish it) and ports, the new
// addresses and ports written, the hop limit decremented, the entry's
// counters added to, and the packet redirected to the out device with its
// Ethernet header filled from the neighbour table (bpf_redirect_neigh).
//
// Like an nftables flowtable, an offloaded packet skips the host's netfilter
// FORWARD chain: a connection is checked there once, while its first packets
// take the slow path.
import { EbpfProgram, AluOp, FP, Helper, JmpOp, SkBuff, TcxVerdict, type BpfMap, type Reg } from '../io/ebpf.js';
import { EtherType, HEADER_LEN as ETH_HEADER_LEN } from '../wire/ethernet.js';
import { F as IP_F, HEADER_LEN as IP_HEADER_LEN, Protocol } from '../wire/ipv6.js';
import { F as TCP_F, Flag as TcpFlag } from '../wire/tcp.js';
import { F as UDP_F, HEADER_LEN as UDP_HEADER_LEN } from '../wire/udp.js';
import { Key, KEY_SIZE, Value, type Role } from './offload-layout.js';

// Frame offsets: Ethernet, then IPv6, then TCP or UDP.
const IP = ETH_HEADER_LEN;
const IP_NEXT_HEADER = IP + IP_F.NEXT_HEADER;
const IP_HOP_LIMIT = IP + IP_F.HOP_LIMIT;
const IP_SRC = IP + IP_F.SRC;
const L4 = IP + IP_HEADER_LEN;
const TCP_FLAGS = L4 + TCP_F.FLAGS;
const TCP_CHECKSUM = L4 + TCP_F.CHECKSUM;
const UDP_CHECKSUM = L4 + UDP_F.CHECKSUM;
/** What must be linear: Ethernet + IPv6 + the UDP header, or the TCP header up to its checksum. */
const LINEAR_UDP = L4 + UDP_HEADER_LEN;
const LINEAR_TCP = TCP_CHECKSUM + 2;

const TCP_SYN_FIN_RST = TcpFlag.Syn | TcpFlag.Fin | TcpFlag.Rst;

// bpf_l4_csum_replace's flags (linux/bpf.h).
const F_PSEUDO_HDR = 0x10;
const F_MARK_MANGLED_0 = 0x20;

// The stack, below the frame pointer.
const KEY = -KEY_SIZE;
/** The L4 checksum's offset and the csum_replace flags for it (two u32). */
const CSUM_AT = KEY - 8;
const CSUM_FLAGS = KEY - 4;
/** bpf_check_mtu's in/out length. */
const MTU = KEY - 12;
/** The hop limit, decremented, for bpf_skb_store_bytes. */
const HOP_LIMIT = KEY - 16;

/** A 16-bit wire field as a load in memory order reads it on this host. */
function memoryOrder16(value: number): number {
  const bytes = new Uint8Array([value >> 8, value & 0xff]);
  return new Uint16Array(bytes.buffer)[0]!;
}

/** r0 = bpf_csum_diff(old bytes on the stack at `stackAt`, new ones in the entry's value (r7) at `valueAt`). */
function csumDiff(p: EbpfProgram, stackAt: number, valueAt: number, len: number): EbpfProgram {
  return p.mov64(1, FP).add64(1, stackAt)
    .alu64(AluOp.MOV, 2, len)
    .mov64(3, 7).add64(3, valueAt)
    .alu64(AluOp.MOV, 4, len)
    .alu64(AluOp.MOV, 5, 0)
    .call(Helper.CSUM_DIFF);
}

/** bpf_l4_csum_replace(skb, the L4 checksum, 0, the difference in `diff`, its flags | `flags`); a refusal drops. */
function l4CsumReplace(p: EbpfProgram, diff: Reg, flags: number): EbpfProgram {
  p.mov64(1, 6)
    .ldx(4, 2, FP, CSUM_AT)
    .alu64(AluOp.MOV, 3, 0)
    .mov64(4, diff)
    .ldx(4, 5, FP, CSUM_FLAGS);
  if (flags !== 0) p.alu64(AluOp.OR, 5, flags);
  return p.call(Helper.L4_CSUM_REPLACE).jmp32(JmpOp.JNE, 0, 0, 'shot');
}

/** bpf_skb_store_bytes(skb, `at`, `len` bytes from `from` + `fromAt`); a refusal drops. */
function storeBytes(p: EbpfProgram, at: number, from: Reg, fromAt: number, len: number): EbpfProgram {
  return p.mov64(1, 6)
    .alu64(AluOp.MOV, 2, at)
    .mov64(3, from).add64(3, fromAt)
    .alu64(AluOp.MOV, 4, len)
    .alu64(AluOp.MOV, 5, 0)
    .call(Helper.SKB_STORE_BYTES)
    .jmp32(JmpOp.JNE, 0, 0, 'shot');
}

/** The fast path for devices of `role`, looking packets up in `map`. */
export function offloadProgram(role: Role, map: BpfMap): EbpfProgram {
  const p = new EbpfProgram();
  p.mov64(6, 1)
    .ldx(4, 0, 6, SkBuff.protocol)
    .jmp32(JmpOp.JNE, 0, memoryOrder16(EtherType.Ipv6), 'next')
    .ldx(4, 2, 6, SkBuff.data)
    .ldx(4, 3, 6, SkBuff.dataEnd)
    .mov64(4, 2).add64(4, LINEAR_UDP)
    .jmpReg(JmpOp.JGT, 4, 3, 'next')
    // Version 6, TCP without SYN/FIN/RST or UDP with a checksum.
    .ldx(1, 0, 2, IP)
    .alu32(AluOp.RSH, 0, 4)
    .jmp32(JmpOp.JNE, 0, 6, 'next')
    .ldx(1, 0, 2, IP_NEXT_HEADER)
    .jmp32(JmpOp.JEQ, 0, Protocol.Udp, 'udp')
    .jmp32(JmpOp.JNE, 0, Protocol.Tcp, 'next')
    .mov64(4, 2).add64(4, LINEAR_TCP)
    .jmpReg(JmpOp.JGT, 4, 3, 'next')
    .ldx(1, 1, 2, TCP_FLAGS)
    .jmp32(JmpOp.JSET, 1, TCP_SYN_FIN_RST, 'next')
    .st(4, FP, CSUM_AT, TCP_CHECKSUM)
    .st(4, FP, CSUM_FLAGS, 0)
    .goto('hop-limit')
    .label('udp')
    .ldx(2, 1, 2, UDP_CHECKSUM)
    .jmp32(JmpOp.JEQ, 1, 0, 'next')
    .st(4, FP, CSUM_AT, UDP_CHECKSUM)
    .st(4, FP, CSUM_FLAGS, F_MARK_MANGLED_0)
    .label('hop-limit')
    .ldx(1, 1, 2, IP_HOP_LIMIT)
    .jmp32(JmpOp.JLE, 1, 1, 'next')
    .alu32(AluOp.SUB, 1, 1)
    .stx(1, FP, HOP_LIMIT, 1)
    // The key: role, next header, 0, 0, the addresses and ports as they are.
    .st(1, FP, KEY + Key.ROLE, role)
    .stx(1, FP, KEY + Key.NEXT_HEADER, 0)
    .st(2, FP, KEY + 2, 0);
  for (let i = 0; i < 36; i += 4) p.ldx(4, 1, 2, IP_SRC + i).stx(4, FP, KEY + Key.SRC + i, 1);
  p.loadMap(1, map.fd)
    .mov64(2, FP).add64(2, KEY)
    .call(Helper.MAP_LOOKUP_ELEM)
    .jmp(JmpOp.JEQ, 0, 0, 'next')
    .mov64(7, 0)
    .ldx(4, 1, 7, Value.IN_IFINDEX)
    .ldx(4, 2, 6, SkBuff.ifindex)
    .jmp32Reg(JmpOp.JNE, 1, 2, 'next')
    // Fits the out device (len_diff 0: the addresses change, not the length).
    .st(4, FP, MTU, 0)
    .mov64(1, 6)
    .ldx(4, 2, 7, Value.OUT_IFINDEX)
    .mov64(3, FP).add64(3, MTU)
    .alu64(AluOp.MOV, 4, 0)
    .alu64(AluOp.MOV, 5, 0)
    .call(Helper.CHECK_MTU)
    .jmp32(JmpOp.JNE, 0, 0, 'next');
  // Checksum differences: the addresses (pseudo-header), then the ports.
  csumDiff(p, KEY + Key.SRC, Value.SRC, 32).mov64(8, 0);
  csumDiff(p, KEY + Key.SRC_PORT, Value.SRC_PORT, 4).mov64(9, 0);
  l4CsumReplace(p, 8, F_PSEUDO_HDR);
  l4CsumReplace(p, 9, 0);
  // The new addresses and ports, the hop limit.
  storeBytes(p, IP_SRC, 7, Value.SRC, 32);
  storeBytes(p, L4, 7, Value.SRC_PORT, 4);
  storeBytes(p, IP_HOP_LIMIT, FP, HOP_LIMIT, 1);
  // Counted, then out.
  p.alu64(AluOp.MOV, 1, 1)
    .atomicAdd64(7, Value.PACKETS, 1)
    .ldx(4, 1, 6, SkBuff.len)
    .atomicAdd64(7, Value.BYTES, 1)
    .ldx(4, 1, 7, Value.OUT_IFINDEX)
    .alu64(AluOp.MOV, 2, 0)
    .alu64(AluOp.MOV, 3, 0)
    .alu64(AluOp.MOV, 4, 0)
    .call(Helper.REDIRECT_NEIGH)
    .exit()
    .label('next')
    .ret(TcxVerdict.NEXT)
    // Half rewritten (a helper refused: no memory to unshare the packet): dropped, never sent wrong.
    .label('shot')
    .ret(TcxVerdict.DROP);
  return p;
}
