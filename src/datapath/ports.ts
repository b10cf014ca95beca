// Host-address mode owns a range of the host's ports. The host's own
// connections must never pick one of them as an ephemeral port (they would
// collide with translated flows), so the range goes into
// net.ipv4.ip_local_reserved_ports, which applies to IPv6 sockets too.
import type { Logger } from 'pino';
import { coversRange, formatPortList, parsePortList, readSysctl, writeSysctl } from '../host/sysctl.js';

const RESERVED = 'net.ipv4.ip_local_reserved_ports';

export function reservePorts(range: readonly [number, number], log: Logger): void {
  const current = parsePortList(readSysctl(RESERVED) ?? '');
  if (coversRange(current, range[0], range[1])) return;
  writeSysctl(RESERVED, formatPortList([...current, [range[0], range[1]]]));
  const eph = (readSysctl('net.ipv4.ip_local_port_range') ?? '').split(/\s+/).map(Number);
  log.info({ range, ephemeral: eph }, 'host-mode port range reserved from the host\'s ephemeral ports');
}

/** Removes exactly `range` from the reserved list (other entries stay). */
export function releasePorts(range: readonly [number, number]): void {
  const text = readSysctl(RESERVED);
  if (text === undefined) return;
  const out: Array<[number, number]> = [];
  for (const [lo, hi] of parsePortList(text)) {
    if (hi < range[0] || lo > range[1]) { out.push([lo, hi]); continue; }
    if (lo < range[0]) out.push([lo, range[0] - 1]);
    if (hi > range[1]) out.push([range[1] + 1, hi]);
  }
  writeSysctl(RESERVED, formatPortList(out));
}
