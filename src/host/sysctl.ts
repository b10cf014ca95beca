// Sysctls through /proc/sys of the calling process's network namespace
// (net.* are per namespace). Keys in dotted form; interface names with dots
// are written with '/' already, as sysctl(8) does.
import { readFileSync, writeFileSync } from 'node:fs';

function pathOf(key: string): string {
  if (!/^[a-z0-9_.\/-]+$/i.test(key) || key.includes('..')) throw new RangeError(`bad sysctl key ${key}`);
  return `/proc/sys/${key.replace(/\./g, '/')}`;
}

/** The value with surrounding whitespace trimmed, or undefined when the key does not exist. */
export function readSysctl(key: string): string | undefined {
  const path = pathOf(key);
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

export function writeSysctl(key: string, value: string): void {
  writeFileSync(pathOf(key), value + '\n');
}

/** Parses "a-b,c,d-e" (ip_local_reserved_ports) into [lo, hi] pairs. */
export function parsePortList(text: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const part of text.split(',')) {
    const p = part.trim();
    if (p === '') continue;
    const [a, b] = p.split('-');
    const lo = Number(a);
    const hi = b === undefined ? lo : Number(b);
    if (Number.isInteger(lo) && Number.isInteger(hi) && lo <= hi) out.push([lo, hi]);
  }
  return out;
}

/** Formats [lo, hi] pairs back into the sysctl's list form (merged and sorted). */
export function formatPortList(ranges: ReadonlyArray<readonly [number, number]>): string {
  const sorted = [...ranges].sort((x, y) => x[0] - y[0]);
  const merged: Array<[number, number]> = [];
  for (const [lo, hi] of sorted) {
    const last = merged[merged.length - 1];
    if (last !== undefined && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
    else merged.push([lo, hi]);
  }
  return merged.map(([lo, hi]) => (lo === hi ? `${lo}` : `${lo}-${hi}`)).join(',');
}

/** Whether [lo, hi] lies entirely within the listed ranges. */
export function coversRange(ranges: ReadonlyArray<readonly [number, number]>, lo: number, hi: number): boolean {
  let next = lo;
  for (const [a, b] of [...ranges].sort((x, y) => x[0] - y[0])) {
    if (a > next) break;
    if (b >= next) next = b + 1;
    if (next > hi) return true;
  }
  return next > hi;
}
