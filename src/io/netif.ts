// Interface settings through ioctl (no `ip` subprocess) and per-thread
// network namespace switching. All of these act on the calling thread's
// network namespace.
import { addon } from './addon.js';
import { check } from './errno.js';

const IFNAMSIZ = 16;

/** Throws a RangeError for a name the kernel cannot hold (empty, > 15 bytes, '/', whitespace). */
export function checkIfname(name: string): void {
  if (name.length === 0 || Buffer.byteLength(name) >= IFNAMSIZ || /[\s/:]/.test(name) || name === '.' || name === '..') {
    throw new RangeError(`invalid interface name ${JSON.stringify(name)} (1..15 bytes, no '/', ':' or spaces)`);
  }
}

export function ifIndex(name: string): number {
  checkIfname(name);
  return check(addon().ifIndex(name), 'if_nametoindex', name);
}

/** The index of device `name`, or 0 when there is none (0 is no device's index). */
export function ifIndexOrZero(name: string): number {
  try {
    return ifIndex(name);
  } catch {
    return 0;
  }
}

export function setMtu(name: string, mtu: number): void {
  checkIfname(name);
  check(addon().ifSetMtu(name, mtu), 'ioctl SIOCSIFMTU', name);
}

export function setTxqueuelen(name: string, qlen: number): void {
  checkIfname(name);
  check(addon().ifSetTxqlen(name, qlen), 'ioctl SIOCSIFTXQLEN', name);
}

export function setUp(name: string, up = true): void {
  checkIfname(name);
  check(addon().ifSetUp(name, up ? 1 : 0), 'ioctl SIOCSIFFLAGS', name);
}

export const IFF_UP = 0x1;
export const IFF_PROMISC = 0x100;
export const IFF_ALLMULTI = 0x200;

/** The IFF_* flags (SIOCGIFFLAGS). */
export function ifFlags(name: string): number {
  checkIfname(name);
  return check(addon().ifFlags(name), 'ioctl SIOCGIFFLAGS', name);
}

/** The 6-byte hardware address (SIOCGIFHWADDR). */
export function hwaddr(name: string): Uint8Array {
  checkIfname(name);
  const out = new Uint8Array(6);
  check(addon().ifHwaddr(name, out), 'ioctl SIOCGIFHWADDR', name);
  return out;
}

/**
 * Moves the calling thread into the network namespace at `path`
 * (e.g. /run/netns/NAME) and returns a function that moves it back.
 * Sockets and TUNs opened in between stay in that namespace after the return.
 * Only this thread moves: other threads (workers, the libuv pool) do not.
 */
export function enterNetns(path: string): () => void {
  const prev = check(addon().netnsEnter(path), 'setns', path);
  let restored = false;
  return () => {
    if (restored) return;
    restored = true;
    check(addon().netnsRestore(prev), 'setns (restore)', path);
  };
}

/** Runs `fn` with the calling thread in the namespace at `path`, then moves back (also on a throw). */
export function withNetns<T>(path: string, fn: () => T): T {
  const restore = enterNetns(path);
  try {
    return fn();
  } finally {
    restore();
  }
}
