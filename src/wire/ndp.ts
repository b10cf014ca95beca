// Neighbor Discovery message bodies (RFC 4861 §4), laid over ICMPv6 offsets.
//
//  Router Solicitation (133)          Router Advertisement (134)
//  | Type | Code |   Checksum   |     | Type | Code |   Checksum   |
//  |          Reserved          |     | CurHL|M|O|H|Prf|Rsv| Router Lifetime |
//  | Options ...                      |          Reachable Time            |
//                                     |          Retrans Timer             |
//                                     | Options ...
//  Neighbor Solicitation (135)        Neighbor Advertisement (136)
//  | Type | Code |   Checksum   |     | Type | Code |   Checksum   |
//  |          Reserved          |     |R|S|O|      Reserved        |
//  |  Target Address (16 bytes) |     |  Target Address (16 bytes) |
//  | Options ...                      | Options ...
//
//  Redirect (137): Reserved(4), Target Address(16), Destination Address(16), Options.
//
// API:
//  - hot path: `check(buf, icmpOff, icmpLen)` (type, code, length,
//    options), then `validate(buf, ipOff, chain)` adds the IPv6-level rules
//    of RFC 4861 (hop limit 255, checksum, no fragments, address rules).
//    Both return a WireError and allocate nothing; after Ok the accessors
//    and ndp-option.findOption over [optionsOffset, icmpOff+icmpLen) are safe.
//  - control plane / decode: `parseNd(buf, off, len)` takes a whole IPv6
//    packet and returns a plain-value NdRepr (copies) or the WireError.

import { WireError } from './error.js';
import { F as ICMP, IcmpType } from './icmpv6.js';
import { F as IP, Protocol, hopLimit } from './ipv6.js';
import { Ipv6Chain, walkChain } from './ipv6-ext.js';
import { verifyL4Checksum } from './checksum.js';
import { isLinkLocal, isMulticast, isSolicitedNodeMulticast, isUnspecified, equalAddress } from './address.js';
import {
  OptionType, checkOptions, findOption, linkAddrOffset, mtu as optionMtu, optionLength,
  prefixFlags, prefixLength, preferredLifetime, validLifetime, prefixOffset, F as OPT, UNIT,
} from './ndp-option.js';

export const F = {
  /** RA: current hop limit, flags, router lifetime, timers. */
  RA_CUR_HOP_LIMIT: 4,
  RA_FLAGS: 5,
  RA_ROUTER_LIFETIME: 6,
  RA_REACHABLE_TIME: 8,
  RA_RETRANS_TIMER: 12,
  /** NA: R/S/O flags. */
  NA_FLAGS: 4,
  /** NS, NA, Redirect: the target address. */
  TARGET: 8,
  /** Redirect: the destination address. */
  DESTINATION: 24,
} as const;

/** Message lengths before options (the minimum ICMPv6 length of each type). */
export const RS_LEN = 8;
export const RA_LEN = F.RA_RETRANS_TIMER + 4;
export const NS_LEN = F.TARGET + 16;
export const NA_LEN = NS_LEN;
export const REDIRECT_LEN = F.DESTINATION + 16;
/** RFC 4861: ND packets must arrive with hop limit 255, proving they were not routed. */
export const ND_HOP_LIMIT = 255;

export const NaFlag = {
  Router: 0x80,
  Solicited: 0x40,
  Override: 0x20,
} as const;

export const RaFlag = {
  Managed: 0x80,
  Other: 0x40,
  HomeAgent: 0x20,
} as const;

/** Whether `type` is one of the five ND messages. */
export function isNdType(type: number): boolean {
  return type >= IcmpType.RouterSolicitation && type <= IcmpType.Redirect;
}

/** Length of the fixed body of ND message `type` (where its options start), or -1. */
export function bodyLength(type: number): number {
  switch (type) {
    case IcmpType.RouterSolicitation: return RS_LEN;
    case IcmpType.RouterAdvertisement: return RA_LEN;
    case IcmpType.NeighborSolicitation: return NS_LEN;
    case IcmpType.NeighborAdvertisement: return NA_LEN;
    case IcmpType.Redirect: return REDIRECT_LEN;
    default: return -1;
  }
}

/** Where the options of the checked ND message at icmpOff start. */
export function optionsOffset(buf: Uint8Array, icmpOff: number): number {
  return icmpOff + bodyLength(buf[icmpOff + ICMP.TYPE]);
}

/** Gate for an ND message on its own (e.g. from a raw ICMPv6 socket): type, code 0, length, options. */
export function check(buf: Uint8Array, icmpOff: number, icmpLen: number): WireError {
  if (icmpLen < 4) return WireError.Truncated;
  const body = bodyLength(buf[icmpOff + ICMP.TYPE]);
  if (body < 0) return WireError.BadType;
  if (buf[icmpOff + ICMP.CODE] !== 0) return WireError.BadCode;
  if (icmpLen < body) return WireError.Truncated;
  return checkOptions(buf, icmpOff + body, icmpOff + icmpLen);
}

/**
 * RFC 4861 address and option rules (§6.1, §7.1, §8.1) for a checked message,
 * given the packet's source and destination addresses (in `addrs`).
 */
export function checkAddresses(
  buf: Uint8Array, icmpOff: number, icmpLen: number,
  addrs: Uint8Array, srcOff: number, dstOff: number,
): WireError {
  const type = buf[icmpOff + ICMP.TYPE];
  const end = icmpOff + icmpLen;
  const opts = icmpOff + bodyLength(type);
  const unspecifiedSrc = isUnspecified(addrs, srcOff);
  switch (type) {
    case IcmpType.RouterSolicitation:
      if (unspecifiedSrc && findOption(buf, opts, end, OptionType.SourceLinkAddr) >= 0) return WireError.BadOption;
      return WireError.Ok;
    case IcmpType.RouterAdvertisement:
      return isLinkLocal(addrs, srcOff) ? WireError.Ok : WireError.BadAddress;
    case IcmpType.NeighborSolicitation:
      if (isMulticast(buf, icmpOff + F.TARGET)) return WireError.BadAddress;
      if (unspecifiedSrc) {
        // Duplicate Address Detection: must go to the solicited-node group and carry no SLLA.
        if (!isSolicitedNodeMulticast(addrs, dstOff)) return WireError.BadAddress;
        if (findOption(buf, opts, end, OptionType.SourceLinkAddr) >= 0) return WireError.BadOption;
      }
      return WireError.Ok;
    case IcmpType.NeighborAdvertisement:
      if (isMulticast(buf, icmpOff + F.TARGET)) return WireError.BadAddress;
      if (isMulticast(addrs, dstOff) && (buf[icmpOff + F.NA_FLAGS] & NaFlag.Solicited) !== 0) return WireError.BadAddress;
      return WireError.Ok;
    case IcmpType.Redirect:
      if (!isLinkLocal(addrs, srcOff)) return WireError.BadAddress;
      if (isMulticast(buf, icmpOff + F.DESTINATION)) return WireError.BadAddress;
      if (!isLinkLocal(buf, icmpOff + F.TARGET) && !equalAddress(buf, icmpOff + F.TARGET, buf, icmpOff + F.DESTINATION)) {
        return WireError.BadAddress;
      }
      return WireError.Ok;
    default:
      return WireError.BadType;
  }
}

/**
 * Full RFC 4861 receive validation of the ND message in the IPv6 packet at
 * ipOff, whose chain walkChain has filled (Ok). Cheap checks run before the
 * checksum.
 */
export function validate(buf: Uint8Array, ipOff: number, chain: Ipv6Chain): WireError {
  // RFC 6980: ND must never be fragmented, atomic fragments included.
  if (chain.fragmentHeaderOffset >= 0) return WireError.Fragmented;
  if (chain.protocol !== Protocol.Icmpv6) return WireError.BadType;
  const icmpOff = chain.l4Offset;
  const icmpLen = chain.l4Length;
  let err = check(buf, icmpOff, icmpLen);
  if (err !== WireError.Ok) return err;
  if (hopLimit(buf, ipOff) !== ND_HOP_LIMIT) return WireError.BadHopLimit;
  err = checkAddresses(buf, icmpOff, icmpLen, buf, ipOff + IP.SRC, ipOff + IP.DST);
  if (err !== WireError.Ok) return err;
  return verifyL4Checksum(buf, ipOff, icmpOff, icmpLen, Protocol.Icmpv6) ? WireError.Ok : WireError.BadChecksum;
}

export function targetOffset(icmpOff: number): number {
  return icmpOff + F.TARGET;
}

export function destinationOffset(icmpOff: number): number {
  return icmpOff + F.DESTINATION;
}

export function naFlags(buf: Uint8Array, icmpOff: number): number {
  return buf[icmpOff + F.NA_FLAGS] & 0xe0;
}

export function raCurHopLimit(buf: Uint8Array, icmpOff: number): number {
  return buf[icmpOff + F.RA_CUR_HOP_LIMIT];
}

export function raFlags(buf: Uint8Array, icmpOff: number): number {
  return buf[icmpOff + F.RA_FLAGS];
}

/** Router lifetime in seconds; 0 means "not a default router". */
export function raRouterLifetime(buf: Uint8Array, icmpOff: number): number {
  return (buf[icmpOff + F.RA_ROUTER_LIFETIME] << 8) | buf[icmpOff + F.RA_ROUTER_LIFETIME + 1];
}

function u32(buf: Uint8Array, at: number): number {
  return ((buf[at] << 24) | (buf[at + 1] << 16) | (buf[at + 2] << 8) | buf[at + 3]) >>> 0;
}

export function raReachableTime(buf: Uint8Array, icmpOff: number): number {
  return u32(buf, icmpOff + F.RA_REACHABLE_TIME);
}

export function raRetransTimer(buf: Uint8Array, icmpOff: number): number {
  return u32(buf, icmpOff + F.RA_RETRANS_TIMER);
}

// ---- control-plane value form --------------------------------------------

export interface NdPrefix {
  prefix: Uint8Array;
  length: number;
  onLink: boolean;
  autonomous: boolean;
  validLifetime: number;
  preferredLifetime: number;
}

export interface NdOptions {
  sourceLinkAddr?: Uint8Array;
  targetLinkAddr?: Uint8Array;
  mtu?: number;
  nonce?: Uint8Array;
  /** The quoted packet bytes of a Redirected Header option. */
  redirectedHeader?: Uint8Array;
  prefixes: NdPrefix[];
  /** Types of options that were skipped because they are not interpreted here. */
  unknown: number[];
}

interface NdCommon {
  src: Uint8Array;
  dst: Uint8Array;
  hopLimit: number;
  options: NdOptions;
}

export type NdRepr =
  | (NdCommon & { kind: 'rs' })
  | (NdCommon & {
    kind: 'ra';
    curHopLimit: number;
    managed: boolean;
    other: boolean;
    /** Raw flags byte (M, O, H, preference bits). */
    flags: number;
    /** Default router preference (RFC 4191 §2.2); 'reserved' (binary 10) is to be read as medium. */
    preference: 'high' | 'medium' | 'low' | 'reserved';
    routerLifetime: number;
    reachableTime: number;
    retransTimer: number;
  })
  | (NdCommon & { kind: 'ns'; target: Uint8Array })
  | (NdCommon & { kind: 'na'; target: Uint8Array; router: boolean; solicited: boolean; override: boolean })
  | (NdCommon & { kind: 'redirect'; target: Uint8Array; destination: Uint8Array });

const PREFERENCES = ['medium', 'high', 'reserved', 'low'] as const;

function copyOut(buf: Uint8Array, at: number, len: number): Uint8Array {
  return buf.slice(at, at + len);
}

function parseOptions(buf: Uint8Array, pos: number, end: number): NdOptions {
  const options: NdOptions = { prefixes: [], unknown: [] };
  // Duplicates: the first occurrence wins, as in Linux ndisc_parse_options.
  while (pos < end) {
    const len = optionLength(buf, pos);
    switch (buf[pos + OPT.TYPE]) {
      case OptionType.SourceLinkAddr:
        options.sourceLinkAddr ??= copyOut(buf, linkAddrOffset(pos), len - 2);
        break;
      case OptionType.TargetLinkAddr:
        options.targetLinkAddr ??= copyOut(buf, linkAddrOffset(pos), len - 2);
        break;
      case OptionType.Mtu:
        options.mtu ??= optionMtu(buf, pos);
        break;
      case OptionType.Nonce:
        options.nonce ??= copyOut(buf, pos + OPT.NONCE, len - OPT.NONCE);
        break;
      case OptionType.RedirectedHeader:
        options.redirectedHeader ??= copyOut(buf, pos + OPT.REDIRECTED, len - OPT.REDIRECTED);
        break;
      case OptionType.PrefixInformation: {
        const flags = prefixFlags(buf, pos);
        options.prefixes.push({
          prefix: copyOut(buf, prefixOffset(pos), 16),
          length: prefixLength(buf, pos),
          onLink: (flags & 0x80) !== 0,
          autonomous: (flags & 0x40) !== 0,
          validLifetime: validLifetime(buf, pos),
          preferredLifetime: preferredLifetime(buf, pos),
        });
        break;
      }
      default:
        options.unknown.push(buf[pos + OPT.TYPE]);
    }
    pos += len > 0 ? len : UNIT;
  }
  return options;
}

/**
 * Parse and fully validate the ND message in the IPv6 packet at `off`
 * (`len` captured bytes). Allocates: control plane and decode only.
 */
export function parseNd(buf: Uint8Array, off: number, len: number): NdRepr | WireError {
  const chain = new Ipv6Chain();
  let err = walkChain(buf, off, len, chain);
  if (err !== WireError.Ok) return err;
  err = validate(buf, off, chain);
  if (err !== WireError.Ok) return err;
  const icmpOff = chain.l4Offset;
  const type = buf[icmpOff + ICMP.TYPE];
  const common: NdCommon = {
    src: copyOut(buf, off + IP.SRC, 16),
    dst: copyOut(buf, off + IP.DST, 16),
    hopLimit: hopLimit(buf, off),
    options: parseOptions(buf, icmpOff + bodyLength(type), icmpOff + chain.l4Length),
  };
  switch (type) {
    case IcmpType.RouterSolicitation:
      return { kind: 'rs', ...common };
    case IcmpType.RouterAdvertisement: {
      const flags = raFlags(buf, icmpOff);
      return {
        kind: 'ra', ...common,
        curHopLimit: raCurHopLimit(buf, icmpOff),
        managed: (flags & RaFlag.Managed) !== 0,
        other: (flags & RaFlag.Other) !== 0,
        flags,
        preference: PREFERENCES[(flags >> 3) & 3],
        routerLifetime: raRouterLifetime(buf, icmpOff),
        reachableTime: raReachableTime(buf, icmpOff),
        retransTimer: raRetransTimer(buf, icmpOff),
      };
    }
    case IcmpType.NeighborSolicitation:
      return { kind: 'ns', ...common, target: copyOut(buf, icmpOff + F.TARGET, 16) };
    case IcmpType.NeighborAdvertisement: {
      const flags = naFlags(buf, icmpOff);
      return {
        kind: 'na', ...common,
        target: copyOut(buf, icmpOff + F.TARGET, 16),
        router: (flags & NaFlag.Router) !== 0,
        solicited: (flags & NaFlag.Solicited) !== 0,
        override: (flags & NaFlag.Override) !== 0,
      };
    }
    default:
      return {
        kind: 'redirect', ...common,
        target: copyOut(buf, icmpOff + F.TARGET, 16),
        destination: copyOut(buf, icmpOff + F.DESTINATION, 16),
      };
  }
}
