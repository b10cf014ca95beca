// The multi-queue TUN's steering program: which worker (queue) reads each
// packet the kernel routes into the TUN, so that both directions of a
// connection meet the one engine shard that holds it (src/datapath/workers.ts).
// An eBPF socket filter built from the NAT configuration (src/io/ebpf.ts),
// attached with TUNSETSTEERINGEBPF; the kernel takes its return value modulo
// the number of queues. It sees the packet from its IPv6 header on.
//
// The rules, first match wins:
//  1. To an external address of a masquerading network (inbound, or a
//     hairpin from inside): by the destination port (TCP, UDP, SCTP; the
//     echo identifier for ICMPv6 echo; for an ICMPv6 error, the source port or
//     identifier of the packet it quotes, which is ours as translated). A
//     published port goes to its container's worker (rule 2's hash of the
//     inside address); a port of the network's range to the worker whose
//     slice it is in (each engine hands out only its slice, shardSlice);
//     anything else (a port nobody owns: refused statelessly) to worker 0.
//  2. From an inside subnet (outbound): by a hash of the source address only,
//     not its port, so a container's every flow, its ICMPv6 echo, its
//     fragments (later ones carry no port) and the ICMPv6 errors it sends
//     all meet the engine that holds its sessions and its quota.
//  3. Anything else (inbound to an NPTv6 prefix: stateless): by a hash of
//     the destination address.
// What cannot be placed by the packet alone: a later fragment of an inbound
// datagram carries no port. The program remembers where the first fragment
// went (an LRU hash map, fragmentSteering) and sends the later ones there;
// one that comes before its first fragment goes to worker 0 and is lost
// unless worker 0 holds the flow. An unsolicited packet to a port no worker
// owns also goes to worker 0, which refuses it statelessly. A hairpinned connection lives on the
// worker of its destination port, so its mapping may differ from the one the
// same inside port has towards the internet (endpoint-independent mapping
// holds per worker).
import { EbpfProgram, AluOp, BpfMap, FP, Helper, JmpOp, MapType, SocketFilterProgram } from '../io/ebpf.js';
import { addressWords, ICMP_ID_RANGE, maskWords, type NatConfig, type PublishedPort } from '../nat/engine-config.js';
import { parseIpv6, parseIpv6Prefix } from '../wire/address.js';

// IPv6 header offsets (the packet starts at 0).
const NEXT_HEADER = 6;
const SRC = 8;
const DST = 24;
const L4 = 40;
const FRAGMENT_HEADER_LEN = 8;
const ICMP_HEADER_LEN = 8;
const IPV6_HEADER_LEN = 40;

const PROTO_TCP = 6;
const PROTO_UDP = 17;
const PROTO_SCTP = 132;
const PROTO_FRAGMENT = 44;
const PROTO_ICMPV6 = 58;
const ECHO_REQUEST = 128;
const ECHO_REPLY = 129;
/** ICMPv6 error types (1..4) quote the packet that caused them. */
const LAST_ERROR_TYPE = 4;

const PORT_PROTOCOLS: Readonly<Record<PublishedPort['protocol'], number>> = { tcp: PROTO_TCP, udp: PROTO_UDP, sctp: PROTO_SCTP };
const HASH_MULTIPLIER = 0x9e3779b1;

/**
 * Rule 2's worker of an inside address (four big-endian words), as the
 * program computes it: a multiplicative hash, scaled to the worker count
 * from its top 16 bits (the well-mixed ones).
 */
export function workerOfAddress(words: Uint32Array, at: number, workers: number): number {
  return ((Math.imul((words[at] ^ words[at + 1] ^ words[at + 2] ^ words[at + 3]) >>> 0, HASH_MULTIPLIER) >>> 16) * workers) >>> 16;
}

interface External {
  words: Uint32Array;
  lo: number;
  hi: number;
  published: Array<{ protocol: number; port: number; worker: number }>;
}

function words(text: string): Uint32Array {
  const w = new Uint32Array(4);
  addressWords(parseIpv6(text), w, 0);
  return w;
}

/** The masquerading networks' external addresses, each with its network's port range and the published ports it answers. */
function externalsOf(config: NatConfig, workers: number): External[] {
  const out: External[] = [];
  for (const net of config.networks) {
    if ((net.mode ?? 'masquerade') !== 'masquerade') continue;
    const [lo, hi] = net.portRange ?? [1024, 65535];
    for (const address of [...net.externalAddresses ?? [], ...net.drainingAddresses ?? []]) {
      const w = words(address);
      const published = (config.published ?? [])
        .filter((p) => p.externalAddress === undefined || p.externalAddress === '::' || words(p.externalAddress).every((x, i) => x === w[i]))
        .map((p) => ({ protocol: PORT_PROTOCOLS[p.protocol], port: p.externalPort, worker: workerOfAddress(words(p.insideAddress), 0, workers) }));
      out.push({ words: w, lo, hi, published });
    }
  }
  return out;
}

/**
 * Jumps to `target` when the four words at `at` are `w` (under `mask`, when
 * given), else falls through. Uses r0 (LD_ABS's result).
 */
function matchAddress(p: EbpfProgram, at: number, w: Uint32Array, mask: Uint32Array | undefined, target: string, miss: string): void {
  for (let i = 0; i < 4; i++) {
    const m = mask === undefined ? 0xffffffff : mask[i];
    if (m === 0) continue;
    p.loadAbs(4, at + 4 * i);
    if (m !== 0xffffffff) p.alu32(AluOp.AND, 0, m);
    p.jmp32(JmpOp.JNE, 0, w[i], miss);
  }
  p.goto(target);
}

/** r7 = hash of the address at `at`, then the worker it names; exit. */
function hashAddress(p: EbpfProgram, at: number, workers: number): void {
  p.loadAbs(4, at).alu32Reg(AluOp.MOV, 7, 0);
  for (let i = 1; i < 4; i++) p.loadAbs(4, at + 4 * i).alu32Reg(AluOp.XOR, 7, 0);
  p.alu32(AluOp.MUL, 7, HASH_MULTIPLIER).alu32(AluOp.RSH, 7, 16).alu32(AluOp.MUL, 7, workers).alu32(AluOp.RSH, 7, 16).alu32Reg(AluOp.MOV, 0, 7).exit();
}

/** r0 = the worker owning port r8 in [lo, hi] split `workers` ways, then `done`. Outside the range: worker 0. */
function portOwner(p: EbpfProgram, lo: number, hi: number, workers: number, tag: string, done: (p: EbpfProgram) => void = exit): void {
  const size = Math.ceil((hi - lo + 1) / workers);
  p.jmp32(JmpOp.JLT, 8, lo, `nobody-${tag}`).jmp32(JmpOp.JGT, 8, hi, `nobody-${tag}`)
    .alu32(AluOp.SUB, 8, lo).alu32(AluOp.DIV, 8, size).alu32Reg(AluOp.MOV, 0, 8);
  done(p);
  p.label(`nobody-${tag}`).ret(0);
}

const exit = (p: EbpfProgram): void => void p.exit();
const remember = (p: EbpfProgram): void => void p.goto('remember');

/** The worker of a port r8 of protocol r9 to external address `e`: a published port's container's, else the slice's. Then `done`. */
function portWorker(p: EbpfProgram, e: External, workers: number, tag: string, done: (p: EbpfProgram) => void): void {
  e.published.forEach((pub, i) => {
    p.jmp32(JmpOp.JNE, 8, pub.port, `pub${tag}-${i}`).jmp32(JmpOp.JNE, 9, pub.protocol, `pub${tag}-${i}`).alu32(AluOp.MOV, 0, pub.worker);
    done(p);
    p.label(`pub${tag}-${i}`);
  });
  portOwner(p, e.lo, e.hi, workers, tag, done);
}

// Stack: the fragment key (source address, identification) and the worker stored for it.
const KEY_AT = -24;
const VALUE_AT = -4;
const KEY_BYTES = 20;
/** Inbound datagrams in fragments whose worker is remembered at once (least recently used go first). */
const FRAGMENT_FLOWS = 4096;

/** The fragment key of this packet (source address, the Fragment header's identification) at r10 + KEY_AT. */
function fragmentKey(p: EbpfProgram): void {
  for (let i = 0; i < 4; i++) p.loadAbs(4, SRC + 4 * i).stx(4, FP, KEY_AT + 4 * i, 0);
  p.loadAbs(4, L4 + 4).stx(4, FP, KEY_AT + 16, 0);
}

/**
 * An inbound datagram's later fragments carry no port: the first one's
 * worker (r0 at `remember`) is stored in `map` under the fragment key, and a
 * later one ('later-fragment') goes where it says (worker 0 when the first
 * has not come: the fragment is lost unless worker 0 holds the flow).
 */
function fragmentSteering(p: EbpfProgram, map: BpfMap): void {
  p.label('remember').alu32Reg(AluOp.MOV, 7, 0);
  fragmentKey(p);
  p.stx(4, FP, VALUE_AT, 7).loadMap(1, map.fd).mov64(2, FP).add64(2, KEY_AT).mov64(3, FP).add64(3, VALUE_AT).alu32(AluOp.MOV, 4, 0)
    .call(Helper.MAP_UPDATE_ELEM).alu32Reg(AluOp.MOV, 0, 7).exit();
  p.label('later-fragment');
  fragmentKey(p);
  p.loadMap(1, map.fd).mov64(2, FP).add64(2, KEY_AT).call(Helper.MAP_LOOKUP_ELEM).jmp(JmpOp.JEQ, 0, 0, 'unplaced')
    .ldx(4, 0, 0, 0).exit()
    .label('unplaced').ret(0);
}

/**
 * The steering program for `workers` engines running `config`. Registers:
 * r6 the context (LD_ABS needs it), r8 the port or identifier steered by,
 * r9 its protocol.
 */
export function steeringProgram(config: NatConfig, workers: number, fragments: BpfMap): EbpfProgram {
  const p = new EbpfProgram();
  p.mov64(6, 1);
  const externals = externalsOf(config, workers);
  // Rule 1: the destination is an external address.
  externals.forEach((e, k) => {
    matchAddress(p, DST, e.words, undefined, `ext${k}`, `not-ext${k}`);
    p.label(`not-ext${k}`);
  });
  // Rule 2: the source is inside.
  const subnets = config.networks.flatMap((n) => n.insideSubnets);
  subnets.forEach((text, k) => {
    const prefix = parseIpv6Prefix(text);
    const w = new Uint32Array(8);
    addressWords(prefix.address, w, 0);
    maskWords(prefix.length, w, 4);
    for (let i = 0; i < 4; i++) w[i] = (w[i] & w[4 + i]) >>> 0;
    matchAddress(p, SRC, w.subarray(0, 4), w.subarray(4), 'from-inside', `not-inside${k}`);
    p.label(`not-inside${k}`);
  });
  // Rule 3.
  hashAddress(p, DST, workers);
  if (subnets.length > 0) {
    p.label('from-inside');
    hashAddress(p, SRC, workers);
  }
  // Rule 1, per external address: find the port (r8) and its protocol (r9).
  externals.forEach((e, k) => {
    const t = `${k}`;
    p.label(`ext${t}`).loadAbs(1, NEXT_HEADER).alu32Reg(AluOp.MOV, 9, 0);
    portAt(p, L4, t);
    p.jmp32(JmpOp.JNE, 9, PROTO_FRAGMENT, `icmp${t}`)
      // A fragment: only the first (offset 0) carries the port.
      .loadAbs(2, L4 + 2).alu32(AluOp.AND, 0, 0xfff8).jmp32(JmpOp.JNE, 0, 0, 'later-fragment')
      .loadAbs(1, L4).alu32Reg(AluOp.MOV, 9, 0);
    portAt(p, L4 + FRAGMENT_HEADER_LEN, `${t}f`);
    p.ret(0);
    p.label(`port${t}f`);
    portWorker(p, e, workers, `${t}f`, remember);
    // ICMPv6: an echo's identifier; an error's quoted packet (ours as translated: its source port).
    const quoted = L4 + ICMP_HEADER_LEN;
    p.label(`icmp${t}`).jmp32(JmpOp.JNE, 9, PROTO_ICMPV6, `nobody-${t}`)
      .loadAbs(1, L4).jmp32(JmpOp.JEQ, 0, ECHO_REQUEST, `echo${t}`).jmp32(JmpOp.JEQ, 0, ECHO_REPLY, `echo${t}`)
      .jmp32(JmpOp.JGT, 0, LAST_ERROR_TYPE, `nobody-${t}`)
      .loadAbs(1, quoted + NEXT_HEADER).alu32Reg(AluOp.MOV, 9, 0)
      .jmp32(JmpOp.JEQ, 9, PROTO_ICMPV6, `quoted-echo${t}`);
    portAt(p, quoted + IPV6_HEADER_LEN, `${t}q`, 0);
    p.ret(0)
      .label(`quoted-echo${t}`).loadAbs(2, quoted + IPV6_HEADER_LEN + 4).alu32Reg(AluOp.MOV, 8, 0).goto(`id${t}`)
      .label(`echo${t}`).loadAbs(2, L4 + 4).alu32Reg(AluOp.MOV, 8, 0)
      .label(`id${t}`);
    portOwner(p, ICMP_ID_RANGE[0], ICMP_ID_RANGE[1], workers, `id${t}`);
    p.label(`port${t}q`).goto(`port${t}`).label(`port${t}`);
    portWorker(p, e, workers, t, exit);
  });
  if (externals.length > 0) fragmentSteering(p, fragments);
  return p;
}

/**
 * For TCP, UDP or SCTP in r9: r8 = the port at `at` + `offset` (the
 * destination's 2 by default, 0 for a quoted packet's source), then on to
 * `port<tag>`; any other protocol falls through.
 */
function portAt(p: EbpfProgram, at: number, tag: string, offset = 2): void {
  for (const proto of [PROTO_TCP, PROTO_UDP, PROTO_SCTP]) p.jmp32(JmpOp.JEQ, 9, proto, `l4${tag}`);
  p.goto(`not-l4${tag}`)
    .label(`l4${tag}`).loadAbs(2, at + offset).alu32Reg(AluOp.MOV, 8, 0).goto(`port${tag}`)
    .label(`not-l4${tag}`);
}

/** Loads the steering program for `workers` engines running `config` (with a map of its own, which it keeps alive). */
export function loadSteering(config: NatConfig, workers: number): SocketFilterProgram {
  const fragments = BpfMap.create(MapType.LRU_HASH, KEY_BYTES, 4, FRAGMENT_FLOWS);
  try {
    return SocketFilterProgram.load(steeringProgram(config, workers, fragments));
  } finally {
    fragments.close();
  }
}
