// DHCPv6 messages between a client and a server (RFC 8415 §8, §21), as far
// as a prefix-delegation client needs them: the header, options, IA_PD and
// IA Prefix options nested in it, status codes.
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |    msg-type   |               transaction-id                  |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  .                            options                            .
//
// An option is code (2), length (2), data; IA_PD's data is IAID (4), T1 (4),
// T2 (4), then options; an IA Prefix option's is preferred-lifetime (4),
// valid-lifetime (4), prefix-length (1), IPv6-prefix (16), then options.
//
// API: `check(buf, off, len)` gates the header and every option's length,
// inside IA_PD and IA Prefix options too; after it, the accessors and
// `options()` stay in bounds. Builders write into a caller's buffer and
// return the offset after what they wrote.
import { WireError } from './error.js';

/** Header fields. */
export const enum F {
  MSG_TYPE = 0,
  TRANSACTION_ID = 1,
  OPTIONS = 4,
}

/** Option header fields (from the option's start). */
export const enum OptF {
  CODE = 0,
  LENGTH = 2,
  DATA = 4,
}

/** IA_PD data fields (from the data's start). */
export const enum IaPdF {
  IAID = 0,
  T1 = 4,
  T2 = 8,
  OPTIONS = 12,
}

/** IA Prefix data fields (from the data's start). */
export const enum IaPrefixF {
  PREFERRED = 0,
  VALID = 4,
  PREFIX_LENGTH = 8,
  PREFIX = 9,
  OPTIONS = 25,
}

export const HEADER_LEN = F.OPTIONS;

export const MsgType = {
  Solicit: 1, Advertise: 2, Request: 3, Renew: 5, Rebind: 6, Reply: 7, Release: 8,
} as const;

export const Option = {
  ClientId: 1, ServerId: 2, Oro: 6, Preference: 7, ElapsedTime: 8, StatusCode: 13, IaPd: 25, IaPrefix: 26,
} as const;

export const Status = {
  Success: 0, UnspecFail: 1, NoBinding: 3, NoPrefixAvail: 6,
} as const;

/** The UDP ports (RFC 8415 §7.2) and All_DHCP_Relay_Agents_and_Servers (§7.1). */
export const CLIENT_PORT = 546;
export const SERVER_PORT = 547;
export const ALL_SERVERS = 'ff02::1:2';

function u16(buf: Uint8Array, at: number): number {
  return (buf[at]! << 8) | buf[at + 1]!;
}

export function u32(buf: Uint8Array, at: number): number {
  return ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
}

// Options [from, to) tile exactly; IA_PD and IA Prefix options are checked inside too.
function checkOptions(buf: Uint8Array, from: number, to: number): WireError {
  let at = from;
  while (at < to) {
    if (to - at < OptF.DATA) return WireError.Truncated;
    const code = u16(buf, at + OptF.CODE);
    const len = u16(buf, at + OptF.LENGTH);
    const data = at + OptF.DATA;
    if (data + len > to) return WireError.BadOptionLength;
    if (code === Option.IaPd) {
      if (len < IaPdF.OPTIONS) return WireError.BadOptionLength;
      const err = checkOptions(buf, data + IaPdF.OPTIONS, data + len);
      if (err !== WireError.Ok) return err;
    } else if (code === Option.IaPrefix) {
      if (len < IaPrefixF.OPTIONS || buf[data + IaPrefixF.PREFIX_LENGTH]! > 128) return WireError.BadOptionLength;
      const err = checkOptions(buf, data + IaPrefixF.OPTIONS, data + len);
      if (err !== WireError.Ok) return err;
    } else if (code === Option.StatusCode && len < 2) {
      return WireError.BadOptionLength;
    }
    at = data + len;
  }
  return WireError.Ok;
}

/** Gate: the header, and options that tile the message exactly (nested ones too). */
export function check(buf: Uint8Array, off: number, len: number): WireError {
  if (len < HEADER_LEN) return WireError.Truncated;
  return checkOptions(buf, off + F.OPTIONS, off + len);
}

export function msgType(buf: Uint8Array, off: number): number {
  return buf[off + F.MSG_TYPE]!;
}

export function transactionId(buf: Uint8Array, off: number): number {
  return (buf[off + F.TRANSACTION_ID]! << 16) | (buf[off + F.TRANSACTION_ID + 1]! << 8) | buf[off + F.TRANSACTION_ID + 2]!;
}

/** Calls `each(code, dataOffset, dataLength)` for every option in [from, to) (after check). */
export function options(buf: Uint8Array, from: number, to: number, each: (code: number, data: number, len: number) => void): void {
  for (let at = from; at + OptF.DATA <= to;) {
    const len = u16(buf, at + OptF.LENGTH);
    each(u16(buf, at + OptF.CODE), at + OptF.DATA, len);
    at += OptF.DATA + len;
  }
}

/** A status code option's code (its data at `data`). */
export function statusCode(buf: Uint8Array, data: number): number {
  return u16(buf, data);
}

/** Writes the header; returns the offset of the first option. */
export function writeHeader(buf: Uint8Array, off: number, type: number, transactionId: number): number {
  buf[off + F.MSG_TYPE] = type;
  buf[off + F.TRANSACTION_ID] = transactionId >>> 16;
  buf[off + F.TRANSACTION_ID + 1] = transactionId >>> 8;
  buf[off + F.TRANSACTION_ID + 2] = transactionId;
  return off + F.OPTIONS;
}

function put16(buf: Uint8Array, at: number, v: number): void {
  buf[at] = v >>> 8;
  buf[at + 1] = v;
}

function put32(buf: Uint8Array, at: number, v: number): void {
  buf[at] = v >>> 24;
  buf[at + 1] = v >>> 16;
  buf[at + 2] = v >>> 8;
  buf[at + 3] = v;
}

/** Writes an option with `data`; returns the offset after it. */
export function writeOption(buf: Uint8Array, at: number, code: number, data: Uint8Array): number {
  put16(buf, at + OptF.CODE, code);
  put16(buf, at + OptF.LENGTH, data.length);
  buf.set(data, at + OptF.DATA);
  return at + OptF.DATA + data.length;
}

/** Writes an Elapsed Time option (hundredths of a second, 0xffff at most); returns the offset after it. */
export function writeElapsed(buf: Uint8Array, at: number, hundredths: number): number {
  put16(buf, at + OptF.CODE, Option.ElapsedTime);
  put16(buf, at + OptF.LENGTH, 2);
  put16(buf, at + OptF.DATA, Math.min(0xffff, Math.max(0, Math.round(hundredths))));
  return at + OptF.DATA + 2;
}

/** A delegated prefix as an IA Prefix option carries it. */
export interface IaPrefix {
  readonly prefix: Uint8Array;
  readonly length: number;
  readonly preferred: number;
  readonly valid: number;
}

/** Writes an IA_PD option holding `prefixes` (a hint, or the prefixes renewed or released); returns the offset after it. */
export function writeIaPd(buf: Uint8Array, at: number, iaid: number, t1: number, t2: number, prefixes: readonly IaPrefix[]): number {
  const data = at + OptF.DATA;
  put32(buf, data + IaPdF.IAID, iaid);
  put32(buf, data + IaPdF.T1, t1);
  put32(buf, data + IaPdF.T2, t2);
  let p = data + IaPdF.OPTIONS;
  for (const x of prefixes) {
    const d = p + OptF.DATA;
    put16(buf, p + OptF.CODE, Option.IaPrefix);
    put16(buf, p + OptF.LENGTH, IaPrefixF.OPTIONS);
    put32(buf, d + IaPrefixF.PREFERRED, x.preferred);
    put32(buf, d + IaPrefixF.VALID, x.valid);
    buf[d + IaPrefixF.PREFIX_LENGTH] = x.length;
    buf.set(x.prefix.subarray(0, 16), d + IaPrefixF.PREFIX);
    p = d + IaPrefixF.OPTIONS;
  }
  put16(buf, at + OptF.CODE, Option.IaPd);
  put16(buf, at + OptF.LENGTH, p - data);
  return p;
}
