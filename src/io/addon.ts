// Loads the C addon (native/, built by `npm ci` through node-gyp) and gives
// it a type. Everything here returns a count, an fd or a negative errno; the
// wrappers in this directory turn those into counters or NativeIoError.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { AddonLoadError } from '../errors.js';

/** The addon as exported by native/src/*.c (argument order is the C order). */
export interface Addon {
  close(fd: number): number;
  pollStart(fd: number, events: number, callback: (eventsOrErrno: number) => void): object | number;
  pollUpdate(handle: object, events: number): number;
  pollStop(handle: object): number;

  ifIndex(name: string): number;
  ifSetMtu(name: string, mtu: number): number;
  ifSetTxqlen(name: string, qlen: number): number;
  ifSetUp(name: string, up: number): number;
  ifFlags(name: string): number;
  ifHwaddr(name: string, out: Uint8Array): number;
  netnsEnter(path: string): number;
  netnsRestore(fd: number): number;

  tunOpen(name: string, flags: number): { fd: number; name: string; offloads: number } | number;
  tunSetPersist(fd: number, on: number): number;
  tunRead(fd: number, buf: Uint8Array, lens: Int32Array, slotSize: number, headroom: number,
    vnetLen: number, max: number, counters: Float64Array, stamp: Float64Array): number;
  tunWrite(fd: number, buf: Uint8Array, lens: Int32Array, slotSize: number, headroom: number,
    vnetLen: number, start: number, count: number, counters: Float64Array): number;
  uringOpen(): object | number;
  uringClose(handle: object): number;
  tunUringRead(handle: object, fd: number, buf: Uint8Array, lens: Int32Array, slotSize: number, headroom: number,
    vnetLen: number, max: number, counters: Float64Array, stamp: Float64Array): number;
  tunUringWrite(handle: object, fd: number, buf: Uint8Array, lens: Int32Array, slotSize: number, headroom: number,
    vnetLen: number, start: number, count: number, counters: Float64Array): number;

  icmp6Open(ifname: string): number;
  icmp6SetFilter(fd: number, pass: Uint8Array): number;
  icmp6Membership(fd: number, join: number, group: Uint8Array, ifindex: number): number;
  setsockoptInt(fd: number, level: number, name: number, value: number): number;
  icmp6Recv(fd: number, buf: Uint8Array, lens: Int32Array, slotSize: number, headroom: number,
    meta: Int32Array, addr: Uint8Array, max: number, counters: Float64Array): number;
  icmp6Send(fd: number, buf: Uint8Array, lens: Int32Array, slotSize: number, headroom: number,
    meta: Int32Array, addr: Uint8Array, start: number, count: number, counters: Float64Array): number;

  packetOpen(ifindex: number, ethertype: number, filter: Uint8Array | undefined, flags: number): number;
  packetSetFilter(fd: number, filter: Uint8Array): number;
  packetMembership(fd: number, ifindex: number, type: number, add: number): number;
  packetDrops(fd: number): number;
  packetRecv(fd: number, buf: Uint8Array, lens: Int32Array, slotSize: number, headroom: number,
    meta: Int32Array, max: number, counters: Float64Array): number;
  packetSend(fd: number, buf: Uint8Array, lens: Int32Array, slotSize: number, headroom: number,
    start: number, count: number, counters: Float64Array): number;

  bpfProgLoad(type: number, insns: Uint8Array): number;
  bpfVerifierLog(): string;
  bpfTestRun(progFd: number, frame: Uint8Array, out?: Uint8Array, outLength?: Int32Array): number;
  bpfMapCreate(type: number, keySize: number, valueSize: number, maxEntries: number): number;
  bpfTcxAttach(progFd: number, ifindex: number, egress: number): number;
  bpfMapUpdate(fd: number, key: Uint8Array, value: Uint8Array): number;
  bpfMapUpdateMany(fd: number, keys: Uint8Array, values: Uint8Array, keySize: number, valueSize: number, count: number): number;
  bpfMapLookup(fd: number, key: Uint8Array, value: Uint8Array): number;
  bpfMapDelete(fd: number, key: Uint8Array): number;
  bpfMapDump(fd: number, keys: Uint8Array, values: Uint8Array, keySize: number, valueSize: number): number;
  tunSetSteering(tunFd: number, progFd: number): number;
  tunSetQueue(fd: number, attach: number): number;

  stateMap(buffer: ArrayBuffer, fd: number): number;
  stateLock(fd: number): number;
}

// Compiled to dist/src/io/addon.js: the repository
// root is three levels up.
const ADDON_PATH = fileURLToPath(new URL('../../../native/build/Release/sixgate_io.node', import.meta.url));

let loaded: Addon | undefined;

/** The addon, loaded on first use (so modules that only import types never need it). */
export function addon(): Addon {
  if (loaded !== undefined) return loaded;
  try {
    loaded = createRequire(import.meta.url)(ADDON_PATH) as Addon;
  } catch (cause) {
    throw new AddonLoadError(
      `cannot load the native addon ${ADDON_PATH}: rebuild it with \`npm run build:native\` ` +
      '(needs python3, make and gcc) or reinstall with `npm ci`', { cause });
  }
  return loaded;
}
