// Ethernet II frames as read from a packet socket, with at most one 802.1Q tag.
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                    Destination MAC (6 bytes)                  |
//  +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                               |                               |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//  |                      Source MAC (6 bytes)                     |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |           EtherType           |   (802.1Q: TPID 0x8100, then TCI, then EtherType)
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// API: `check(buf, off, len)` gates the header (and the VLAN tag when the
// TPID says there is one); afterwards `etherType`, `headerLength`, `vlanId`
// and the MAC offsets are in bounds. `checkIpv6` additionally insists on
// EtherType 0x86dd, which is what the data plane wants from a packet socket.
// `writeHeader` / `writeVlanHeader` emit every byte of a header and return
// its length, so a frame is built as header + IPv6 packet at off + length.

import { WireError } from './error.js';

export const F = {
  DST: 0,
  SRC: 6,
  ETHERTYPE: 12,
  /** With an 802.1Q tag, ETHERTYPE holds the TPID, then the TCI, then the real EtherType. */
  VLAN_TCI: 14,
  VLAN_ETHERTYPE: 16,
} as const;

export const HEADER_LEN = F.ETHERTYPE + 2;
export const VLAN_HEADER_LEN = F.VLAN_ETHERTYPE + 2;
export const MAC_LEN = 6;

export const EtherType = {
  Ipv4: 0x0800,
  Arp: 0x0806,
  Vlan: 0x8100,
  Ipv6: 0x86dd,
} as const;

/** Gate: the Ethernet header (plus an 802.1Q tag if present) fits in `len` bytes. */
export function check(buf: Uint8Array, off: number, len: number): WireError {
  if (len < HEADER_LEN) return WireError.Truncated;
  if (outerType(buf, off) === EtherType.Vlan && len < VLAN_HEADER_LEN) return WireError.Truncated;
  return WireError.Ok;
}

/** Gate for the data plane: a well-formed header whose payload is IPv6. */
export function checkIpv6(buf: Uint8Array, off: number, len: number): WireError {
  const err = check(buf, off, len);
  if (err !== WireError.Ok) return err;
  return etherType(buf, off) === EtherType.Ipv6 ? WireError.Ok : WireError.NotIpv6;
}

function outerType(buf: Uint8Array, off: number): number {
  return (buf[off + F.ETHERTYPE] << 8) | buf[off + F.ETHERTYPE + 1];
}

/** The payload's EtherType, looking through one 802.1Q tag. */
export function etherType(buf: Uint8Array, off: number): number {
  const outer = outerType(buf, off);
  if (outer !== EtherType.Vlan) return outer;
  return (buf[off + F.VLAN_ETHERTYPE] << 8) | buf[off + F.VLAN_ETHERTYPE + 1];
}

/** 14, or 18 with an 802.1Q tag: the payload starts at off + headerLength. */
export function headerLength(buf: Uint8Array, off: number): number {
  return outerType(buf, off) === EtherType.Vlan ? VLAN_HEADER_LEN : HEADER_LEN;
}

/** The 12-bit VLAN id, or -1 for an untagged frame. */
export function vlanId(buf: Uint8Array, off: number): number {
  if (outerType(buf, off) !== EtherType.Vlan) return -1;
  return ((buf[off + F.VLAN_TCI] << 8) | buf[off + F.VLAN_TCI + 1]) & 0x0fff;
}

/** The 802.1p priority bits of the tag, or -1 for an untagged frame. */
export function vlanPriority(buf: Uint8Array, off: number): number {
  if (outerType(buf, off) !== EtherType.Vlan) return -1;
  return buf[off + F.VLAN_TCI] >> 5;
}

export function dstOffset(off: number): number {
  return off + F.DST;
}

export function srcOffset(off: number): number {
  return off + F.SRC;
}

/** Whether the destination MAC is a group (multicast or broadcast) address. */
export function isGroupDst(buf: Uint8Array, off: number): boolean {
  return (buf[off + F.DST] & 1) === 1;
}

function copy6(dst: Uint8Array, dstOff: number, src: Uint8Array, srcOff: number): void {
  for (let i = 0; i < MAC_LEN; i++) dst[dstOff + i] = src[srcOff + i];
}

/** Emit an untagged header; returns HEADER_LEN. */
export function writeHeader(
  buf: Uint8Array, off: number,
  dst: Uint8Array, dstOff: number,
  src: Uint8Array, srcOff: number,
  type: number,
): number {
  copy6(buf, off + F.DST, dst, dstOff);
  copy6(buf, off + F.SRC, src, srcOff);
  buf[off + F.ETHERTYPE] = type >> 8;
  buf[off + F.ETHERTYPE + 1] = type;
  return HEADER_LEN;
}

/** Emit a header with one 802.1Q tag (`tci` = priority << 13 | vlan id); returns VLAN_HEADER_LEN. */
export function writeVlanHeader(
  buf: Uint8Array, off: number,
  dst: Uint8Array, dstOff: number,
  src: Uint8Array, srcOff: number,
  tci: number, type: number,
): number {
  copy6(buf, off + F.DST, dst, dstOff);
  copy6(buf, off + F.SRC, src, srcOff);
  buf[off + F.ETHERTYPE] = EtherType.Vlan >> 8;
  buf[off + F.ETHERTYPE + 1] = EtherType.Vlan & 0xff;
  buf[off + F.VLAN_TCI] = tci >> 8;
  buf[off + F.VLAN_TCI + 1] = tci;
  buf[off + F.VLAN_ETHERTYPE] = type >> 8;
  buf[off + F.VLAN_ETHERTYPE + 1] = type;
  return VLAN_HEADER_LEN;
}
