// `sixgate decode FILE`: one tcpdump-like line per captured packet, decoded
// with the same src/wire gates the data plane uses, so the verdict printed
// (checksum, reason code) is the verdict sixgate would reach. This is a
// debugging tool, not the packet path: it builds strings freely.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { readCapture, type CapturePacket } from '../pcap/reader.js';
import { ipOffset, linkEtherType, linkErrorName } from '../pcap/linktype.js';
import { EtherType } from '../wire/ethernet.js';
import { WireError, wireErrorName } from '../wire/error.js';
import * as ipv6 from '../wire/ipv6.js';
import { Protocol } from '../wire/ipv6.js';
import { Ipv6Chain, walkChain, F as EXT, FRAGMENT_HEADER_LEN } from '../wire/ipv6-ext.js';
import * as tcp from '../wire/tcp.js';
import * as udp from '../wire/udp.js';
import * as icmpv6 from '../wire/icmpv6.js';
import { IcmpType } from '../wire/icmpv6.js';
import { checksumFieldOffset, computeL4Checksum, fold, pseudoHeaderSum, verifyL4Checksum } from '../wire/checksum.js';
import { formatIpv6, formatMac } from '../wire/address.js';
import * as ndp from '../wire/ndp.js';
import { NaFlag, RaFlag } from '../wire/ndp.js';
import { checkOptions, findOption, linkAddrOffset, OptionType } from '../wire/ndp-option.js';
import { PcapError } from '../errors.js';

export interface DecodeOptions {
  /** Start each line with the capture time (UTC, HH:MM:SS.ffffff); default true. */
  time?: boolean;
}

export interface DecodeResult {
  packets: number;
  /** Why reading stopped before the end of the file (a bad record), if it did. */
  error: PcapError | undefined;
}

/** Decodes a capture held in memory, handing each line to `write`. Throws PcapError only for a file that is not a capture. */
export function decodeCapture(bytes: Uint8Array, write: (line: string) => void, opts: DecodeOptions = {}): DecodeResult {
  const capture = readCapture(bytes);
  let packets = 0;
  for (const packet of capture.packets) {
    write(formatPacket(packet, opts));
    // A pcapng comment (sixgate capture's drop reason) on its own line, as tcpdump -v shows options.
    if (packet.comment !== undefined) write(`    comment: ${packet.comment}`);
    packets++;
  }
  return { packets, error: capture.error };
}

/** One line (no newline) for one captured packet; never throws on packet contents. */
export function formatPacket(packet: CapturePacket, opts: DecodeOptions = {}): string {
  const time = opts.time ?? true ? `${formatTime(packet.tsNs)} ` : '';
  const { data, linktype } = packet;
  const at = ipOffset(linktype, data);
  if (at < 0) {
    const type = linkEtherType(linktype, data);
    return type >= 0
      ? `${time}${etherTypeName(type)} (not decoded), length ${packet.origlen}`
      : `${time}[${linkErrorName(at)}], length ${packet.origlen}`;
  }
  if (linkEtherType(linktype, data) === EtherType.Ipv4) return `${time}IP (not decoded), length ${packet.origlen}`;
  // A packet cut by the capture's snaplen was whole on the wire: decode what
  // is there instead of calling its payload length a lie.
  return time + formatIpv6Packet(data, at, data.length - at, packet.caplen < packet.origlen);
}

const chain = new Ipv6Chain();

/** Tunnels inside tunnels are followed this deep; a crafted 256 KiB packet could otherwise nest thousands. */
const MAX_TUNNEL_DEPTH = 4;

function formatIpv6Packet(buf: Uint8Array, off: number, len: number, snapped: boolean, depth = 0): string {
  const err = walkChain(buf, off, len, chain, snapped, true);
  if (len < ipv6.HEADER_LEN || ipv6.version(buf, off) !== 6) {
    return `IP6 [${wireErrorName(err === WireError.Ok ? WireError.Truncated : err)}], length ${len}`;
  }
  const src = formatIpv6(buf, ipv6.srcOffset(off));
  const dst = formatIpv6(buf, ipv6.dstOffset(off));
  const exts = extensionNames(buf, off);
  const head = (srcPort: string, dstPort: string) => `IP6 ${src}${srcPort} > ${dst}${dstPort}: ${exts}`;
  if (err !== WireError.Ok) return `${head('', '')}[${wireErrorName(err)}], length ${len}`;

  const { protocol, l4Offset: l4, l4Length: l4Len } = chain;
  if (chain.isFragment && chain.fragmentOffset !== 0) {
    return `${head('', '')}${protocolName(protocol)} fragment data, length ${l4Len}`;
  }
  // The checksum covers the whole datagram: a first fragment or a cut capture cannot be verified.
  const verifiable = !chain.isFragment && !chain.truncated;
  switch (protocol) {
    case Protocol.Tcp: {
      const bad = tcp.check(buf, l4, l4Len);
      if (bad !== WireError.Ok) return `${head('', '')}TCP [${wireErrorName(bad)}], length ${l4Len}`;
      const payload = l4Len - tcp.headerLength(buf, l4);
      return `${head(`.${tcp.srcPort(buf, l4)}`, `.${tcp.dstPort(buf, l4)}`)}TCP, Flags [${tcpFlags(tcp.flags(buf, l4))}], ` +
        `seq ${tcp.seqNumber(buf, l4)}, ack ${tcp.ackNumber(buf, l4)}, win ${tcp.window(buf, l4)}, length ${payload}` +
        checksumVerdict(buf, off, l4, l4Len, protocol, verifiable);
    }
    case Protocol.Udp: {
      const bad = checkUdp(buf, l4, l4Len);
      if (bad !== WireError.Ok) return `${head('', '')}UDP [${wireErrorName(bad)}], length ${l4Len}`;
      return `${head(`.${udp.srcPort(buf, l4)}`, `.${udp.dstPort(buf, l4)}`)}UDP, length ${udpLength(buf, l4) - udp.HEADER_LEN}` +
        checksumVerdict(buf, off, l4, l4Len, protocol, verifiable);
    }
    case Protocol.Icmpv6: {
      const bad = icmpv6.check(buf, l4, l4Len);
      if (bad !== WireError.Ok) return `${head('', '')}ICMP6 [${wireErrorName(bad)}], length ${l4Len}`;
      return `${head('', '')}ICMP6, ${describeIcmpv6(buf, l4, l4Len)}` + checksumVerdict(buf, off, l4, l4Len, protocol, verifiable) +
        ndVerdict(buf, off);
    }
    case Protocol.Ipv6:
      if (depth === MAX_TUNNEL_DEPTH) return `${head('', '')}IP6-in-IP6 (nested too deep to decode), length ${l4Len}`;
      // The inner walk reuses `chain`: everything needed from the outer one is already in `head`.
      return `${head('', '')}IP6-in-IP6: ${formatIpv6Packet(buf, l4, l4Len, snapped, depth + 1)}`;
    case Protocol.NoNextHeader:
      return `${head('', '')}no next header, length ${l4Len}`;
    default:
      return `${head('', '')}${protocolName(protocol)}, length ${l4Len}`;
  }
}

/**
 * The UDP gate for what a capture holds. In a first fragment or a packet cut
 * by the snaplen the length field counts bytes that are not here, so only
 * its lower bound can be checked; a jumbogram's is 0 (RFC 2675 §4).
 */
function checkUdp(buf: Uint8Array, l4: number, l4Len: number): WireError {
  if (l4Len < udp.HEADER_LEN) return WireError.Truncated;
  if (isJumboUdp(buf, l4)) return WireError.Ok;
  if (chain.isFragment || chain.truncated) return udp.length(buf, l4) < udp.HEADER_LEN ? WireError.BadLength : WireError.Ok;
  return udp.check(buf, l4, l4Len);
}

/** Header plus data of a datagram checkUdp passed: a jumbogram's is what its IPv6 header says is left. */
function udpLength(buf: Uint8Array, l4: number): number {
  return isJumboUdp(buf, l4) ? chain.payloadEnd - l4 : udp.length(buf, l4);
}

function isJumboUdp(buf: Uint8Array, l4: number): boolean {
  return chain.jumboLength !== 0 && udp.length(buf, l4) === 0;
}

function checksumVerdict(buf: Uint8Array, ipOff: number, l4: number, l4Len: number, protocol: number, verifiable: boolean): string {
  if (!verifiable) return ', sum unverified';
  // With a Routing header still to be processed, the pseudo-header holds the final destination.
  const dstOff = chain.pseudoDstOffset;
  if (verifyL4Checksum(buf, ipOff, l4, l4Len, protocol, dstOff)) return ', sum ok';
  const at = l4 + checksumFieldOffset(protocol);
  const field = (buf[at] << 8) | buf[at + 1];
  // Checksum offload (TSO/GSO, a TUN with IFF_VNET_HDR): the field holds only
  // the pseudo-header sum and the NIC or kernel finishes it on the way out.
  if (field === fold(pseudoHeaderSum(buf, ipv6.srcOffset(ipOff), dstOff, l4Len, protocol))) {
    return `, partial sum 0x${hex4(field)} (offload, not yet complete)`;
  }
  return `, bad sum 0x${hex4(field)} (should be 0x${hex4(computeL4Checksum(buf, ipOff, l4, l4Len, protocol, dstOff))})`;
}

/** RFC 4861 receive validation for ND messages (other than the checksum, printed already), as ` [reason]`. */
function ndVerdict(buf: Uint8Array, ipOff: number): string {
  if (!ndp.isNdType(icmpv6.type(buf, chain.l4Offset))) return '';
  const err = ndp.validate(buf, ipOff, chain);
  return err === WireError.Ok || err === WireError.BadChecksum ? '' : ` [${wireErrorName(err)}]`;
}

/** The extension headers of a chain walkChain accepted (or walked partly), tcpdump-style, with a trailing space. */
function extensionNames(buf: Uint8Array, off: number): string {
  let out = '';
  let next = ipv6.nextHeader(buf, off);
  let pos = off + ipv6.HEADER_LEN;
  for (let i = 0; i < chain.headerCount; i++) {
    if (next === Protocol.Fragment) {
      const word = (buf[pos + EXT.FRAG_OFFSET_FLAGS] << 8) | buf[pos + EXT.FRAG_OFFSET_FLAGS + 1];
      const id = new DataView(buf.buffer, buf.byteOffset).getUint32(pos + EXT.FRAG_ID);
      out += `frag (0x${id.toString(16).padStart(8, '0')}:${word & 0xfff8}${word & 1 ? '+' : ''}) `;
    } else if (next === Protocol.Routing) {
      out += `RT6 (type=${buf[pos + EXT.ROUTING_TYPE]}, segleft=${buf[pos + EXT.SEGMENTS_LEFT]}) `;
    } else if (next === Protocol.HopByHop && chain.jumboLength !== 0) {
      out += `HBH (jumbo: ${chain.jumboLength}) `;
    } else {
      out += `${protocolName(next)} `;
    }
    const length = next === Protocol.Fragment ? FRAGMENT_HEADER_LEN
      : next === Protocol.Ah ? (buf[pos + EXT.HDR_EXT_LEN] + 2) * 4
      : (buf[pos + EXT.HDR_EXT_LEN] + 1) * 8;
    next = buf[pos + EXT.NEXT_HEADER];
    pos += length;
  }
  return out;
}

function describeIcmpv6(buf: Uint8Array, l4: number, l4Len: number): string {
  const type = icmpv6.type(buf, l4);
  const code = icmpv6.code(buf, l4);
  const name = icmpTypeName(type);
  switch (type) {
    case IcmpType.EchoRequest:
    case IcmpType.EchoReply:
      return `${name}, id ${icmpv6.echoId(buf, l4)}, seq ${icmpv6.echoSeq(buf, l4)}`;
    case IcmpType.PacketTooBig:
      return `${name}, mtu ${icmpv6.mtu(buf, l4)}`;
    case IcmpType.DestinationUnreachable:
      return `${name}, ${DEST_UNREACH_CODES[code] ?? `code ${code}`}`;
    case IcmpType.TimeExceeded:
      return code === 0 ? `${name} in-transit` : code === 1 ? `${name} reassembly` : `${name}, code ${code}`;
    case IcmpType.ParameterProblem:
      return `${name}, ${PARAM_PROBLEM_CODES[code] ?? `code ${code}`}, pointer ${icmpv6.pointer(buf, l4)}`;
    case IcmpType.MldQuery:
      // MLDv2 queries (RFC 3810 §5.1) are at least 28 bytes; MLDv1 ones 24.
      return l4Len >= 28 ? `${name} v2` : name;
    case IcmpType.NeighborSolicitation:
      return l4Len < ndp.NS_LEN ? name : `${name}, who has ${formatIpv6(buf, ndp.targetOffset(l4))}${linkAddresses(buf, l4, l4Len)}`;
    case IcmpType.NeighborAdvertisement:
      return l4Len < ndp.NA_LEN ? name
        : `${name}, tgt is ${formatIpv6(buf, ndp.targetOffset(l4))}, Flags [${naFlagNames(ndp.naFlags(buf, l4))}]${linkAddresses(buf, l4, l4Len)}`;
    case IcmpType.RouterAdvertisement:
      return l4Len < ndp.RA_LEN ? name
        : `${name}, hop limit ${ndp.raCurHopLimit(buf, l4)}, Flags [${raFlagNames(ndp.raFlags(buf, l4))}], ` +
          `router lifetime ${ndp.raRouterLifetime(buf, l4)}s${linkAddresses(buf, l4, l4Len)}`;
    case IcmpType.Redirect:
      return l4Len < ndp.REDIRECT_LEN ? name
        // tcpdump's order: traffic for <destination> should go to <target>.
        : `${name}, ${formatIpv6(buf, ndp.destinationOffset(l4))} to ${formatIpv6(buf, ndp.targetOffset(l4))}${linkAddresses(buf, l4, l4Len)}`;
    default:
      return name;
  }
}

/** The source/target link-address options of a well-formed ND option list, tcpdump's wording. */
function linkAddresses(buf: Uint8Array, l4: number, l4Len: number): string {
  const start = ndp.optionsOffset(buf, l4);
  const end = l4 + l4Len;
  if (checkOptions(buf, start, end) !== WireError.Ok) return '';
  let out = '';
  const slla = findOption(buf, start, end, OptionType.SourceLinkAddr);
  if (slla >= 0) out += `, source link-address ${formatMac(buf, linkAddrOffset(slla))}`;
  const tlla = findOption(buf, start, end, OptionType.TargetLinkAddr);
  if (tlla >= 0) out += `, destination link-address ${formatMac(buf, linkAddrOffset(tlla))}`;
  return out;
}

function naFlagNames(flags: number): string {
  const names: string[] = [];
  if (flags & NaFlag.Router) names.push('router');
  if (flags & NaFlag.Solicited) names.push('solicited');
  if (flags & NaFlag.Override) names.push('override');
  return names.length === 0 ? 'none' : names.join(', ');
}

function raFlagNames(flags: number): string {
  const names: string[] = [];
  if (flags & RaFlag.Managed) names.push('managed');
  if (flags & RaFlag.Other) names.push('other stateful');
  if (flags & RaFlag.HomeAgent) names.push('home agent');
  return names.length === 0 ? 'none' : names.join(', ');
}

const DEST_UNREACH_CODES: readonly string[] = [
  'no route', 'administratively prohibited', 'beyond scope', 'unreachable address', 'unreachable port',
  'source address failed policy', 'reject route',
];
const PARAM_PROBLEM_CODES: readonly string[] = [
  'erroneous header field', 'unrecognized next header', 'unrecognized option', 'incomplete header chain',
];

/** tcpdump's names for ICMPv6 types (print-icmp6.c). */
export function icmpTypeName(type: number): string {
  switch (type) {
    case IcmpType.DestinationUnreachable: return 'destination unreachable';
    case IcmpType.PacketTooBig: return 'packet too big';
    case IcmpType.TimeExceeded: return 'time exceeded';
    case IcmpType.ParameterProblem: return 'parameter problem';
    case IcmpType.EchoRequest: return 'echo request';
    case IcmpType.EchoReply: return 'echo reply';
    case IcmpType.MldQuery: return 'multicast listener query';
    case IcmpType.MldReport: return 'multicast listener report';
    case IcmpType.MldDone: return 'multicast listener done';
    case IcmpType.RouterSolicitation: return 'router solicitation';
    case IcmpType.RouterAdvertisement: return 'router advertisement';
    case IcmpType.NeighborSolicitation: return 'neighbor solicitation';
    case IcmpType.NeighborAdvertisement: return 'neighbor advertisement';
    case IcmpType.Redirect: return 'redirect';
    case IcmpType.Mldv2Report: return 'multicast listener report v2';
    default: return `type ${type}`;
  }
}

function tcpFlags(bits: number): string {
  let out = '';
  if (bits & tcp.Flag.Fin) out += 'F';
  if (bits & tcp.Flag.Syn) out += 'S';
  if (bits & tcp.Flag.Rst) out += 'R';
  if (bits & tcp.Flag.Psh) out += 'P';
  if (bits & tcp.Flag.Urg) out += 'U';
  if (bits & tcp.Flag.Ece) out += 'E';
  if (bits & tcp.Flag.Cwr) out += 'W';
  if (bits & tcp.Flag.Ack) out += '.';
  return out === '' ? 'none' : out;
}

function protocolName(protocol: number): string {
  switch (protocol) {
    case Protocol.HopByHop: return 'HBH';
    case Protocol.Tcp: return 'TCP';
    case Protocol.Udp: return 'UDP';
    case Protocol.Ipv6: return 'IP6-in-IP6';
    case Protocol.Routing: return 'RT6';
    case Protocol.Fragment: return 'frag';
    case Protocol.Esp: return 'ESP';
    case Protocol.Ah: return 'AH';
    case Protocol.Icmpv6: return 'ICMP6';
    case Protocol.DestinationOptions: return 'DSTOPT';
    case Protocol.Mobility: return 'mobility';
    default: return `proto ${protocol}`;
  }
}

function etherTypeName(type: number): string {
  switch (type) {
    case EtherType.Ipv4: return 'IP';
    case EtherType.Arp: return 'ARP';
    default: return `ethertype 0x${hex4(type)}`;
  }
}

function formatTime(tsNs: bigint): string {
  const sec = Number((tsNs / 1_000_000_000n) % 86400n);
  const us = Number((tsNs % 1_000_000_000n) / 1000n);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(Math.floor(sec / 3600))}:${two(Math.floor(sec / 60) % 60)}:${two(sec % 60)}.${String(us).padStart(6, '0')}`;
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}

export function registerDecode(program: Command): void {
  program
    .command('decode')
    .description('print one tcpdump-like line per packet of a pcap or pcapng file, with sixgate\'s own verdicts')
    .argument('<file>', 'capture file (classic pcap in µs or ns, either byte order, or pcapng)')
    .option('-t, --no-time', 'leave out the capture time')
    .addHelpText('after', `
Link types: Ethernet, Linux cooked (SLL), raw IP (RAW, IPV6), BSD loopback
(NULL, LOOP). As libpcap does, a record longer than the snaplen is cut to it.

Exit status: 0 every record read; 1 the file ends inside a record (the packets
before it are printed); 2 not a capture file, or unreadable.`)
    .action((file: string, options: { time: boolean }) => {
      // `sixgate decode x | head` closes the pipe early: that is not an error.
      process.stdout.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'EPIPE') process.exit(0);
        throw err;
      });
      const unreadable = (err: unknown): void => {
        process.stderr.write(`sixgate decode: ${file}: ${(err as Error).message}\n`);
        process.exitCode = 2;
      };
      let bytes: Uint8Array;
      try {
        // The whole file at once: readFileSync stops at 2 GiB (ERR_FS_FILE_TOO_LARGE), reported like any unreadable file.
        bytes = readFileSync(file);
      } catch (err) {
        return unreadable(err);
      }
      let result: DecodeResult;
      try {
        result = decodeCapture(bytes, (line) => process.stdout.write(line + '\n'), { time: options.time });
      } catch (err) {
        // Only a file that is not a capture ends here; a bug in the decoder should still crash loudly.
        if (!(err instanceof PcapError)) throw err;
        return unreadable(err);
      }
      // A bad record after readable ones (a file cut mid-record): the packets before it were
      // printed, and, as tcpdump does, the exit status says the file was not read to its end.
      if (result.error !== undefined) {
        process.stderr.write(`sixgate decode: ${file}: ${result.error.message}\n`);
        process.exitCode = 1;
      }
    });
}
