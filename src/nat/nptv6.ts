// IPv6-to-IPv6 Network Prefix Translation (RFC 6296): stateless, 1:1 and
// checksum-neutral.
//
// Replacing the inside prefix by the external one changes the one's-complement
// sum of the address by (sum(external) - sum(internal)). RFC 6296 §3.2
// cancels that by adding the opposite amount to one 16-bit word of the same
// address, so the address's sum -- and with it every pseudo-header and every
// checksum covering the address, including the ones over an ICMPv6 error's
// quoted packet -- stays what it was. No L4 byte is touched.
//
// Which word absorbs the adjustment (RFC 6296 §3.4, §3.5):
//   prefix /48 or shorter: word 3 (bits 48..63, the subnet ID);
//   prefix /49../64:       the first of words 4..7 that is not 0xFFFF; when
//                          all four are 0xFFFF the address cannot be mapped;
//   prefix /65../112:      the same rule over the words wholly after the
//                          prefix (RFC 6296 stops at /64; a range of an
//                          on-link /64 needs a longer prefix, and any word
//                          outside the prefix keeps the sum the same).
// A sum of 0xFFFF is written as 0x0000 (the two zeros of one's complement),
// which is why the inside subnet ID 0xFFFF must not be used with /48.

function onesAdd(a: number, b: number): number {
  const s = a + b;
  return (s & 0xffff) + (s >>> 16);
}

function wordSum(w: Uint32Array, o: number): number {
  let s = 0;
  for (let i = 0; i < 4; i++) s = onesAdd(onesAdd(s, w[o + i] >>> 16), w[o + i] & 0xffff);
  return s;
}

/**
 * The value added (one's complement) to the adjusting word when going inside
 * → external: sum(inside prefix) - sum(external prefix). Inbound adds its
 * complement. Prefix words must already be masked.
 */
export function nptAdjustment(inside: Uint32Array, external: Uint32Array, o: number): number {
  return onesAdd(wordSum(inside, o), ~wordSum(external, o) & 0xffff) & 0xffff;
}

/**
 * Rewrite the address at buf[at..at+16) from one prefix to the other in
 * place: outbound replaces `from` = inside by `to` = external with `adjust`;
 * inbound passes the external/inside arrays and the complemented adjustment.
 * Returns false (and leaves the address alone) when no word can take the
 * adjustment.
 */
export function nptRewrite(buf: Uint8Array, at: number, to: Uint32Array, mask: Uint32Array, o: number,
  prefixLength: number, adjust: number): boolean {
  let wordAt = at + 6;
  if (prefixLength > 48) {
    wordAt = -1;
    for (let k = prefixLength > 64 ? ((prefixLength + 15) >>> 4) << 1 : 8; k < 16; k += 2) {
      if (buf[at + k] !== 0xff || buf[at + k + 1] !== 0xff) { wordAt = at + k; break; }
    }
    if (wordAt < 0) return false;
  }
  for (let i = 0; i < 4; i++) {
    const m = mask[o + i];
    if (m === 0) break;
    const p = at + 4 * i;
    const old = ((buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]) >>> 0;
    const w = ((old & ~m) | to[o + i]) >>> 0;
    buf[p] = w >>> 24;
    buf[p + 1] = w >>> 16;
    buf[p + 2] = w >>> 8;
    buf[p + 3] = w;
  }
  let v = onesAdd((buf[wordAt] << 8) | buf[wordAt + 1], adjust);
  if (v === 0xffff) v = 0;
  buf[wordAt] = v >> 8;
  buf[wordAt + 1] = v;
  return true;
}

/** Whether the address words w[o..o+3] lie in the prefix p[po..po+3] under mask m[po..po+3]. */
export function inPrefix(w: Uint32Array, o: number, p: Uint32Array, m: Uint32Array, po: number): boolean {
  return ((w[o] & m[po]) >>> 0) === p[po] && ((w[o + 1] & m[po + 1]) >>> 0) === p[po + 1] &&
    ((w[o + 2] & m[po + 2]) >>> 0) === p[po + 2] && ((w[o + 3] & m[po + 3]) >>> 0) === p[po + 3];
}
