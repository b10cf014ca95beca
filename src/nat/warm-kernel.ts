// Memory for a large connection table, with the warm-up kernel (warm.wat)
// instantiated over it. WebAssembly memory is page aligned, so every 64-byte
// session record sits in one cache line (a malloc'd ArrayBuffer is only
// 16-byte aligned), and the kernel addresses the table's sections by offset.

import { WARM_WASM } from './warm-wasm.js';

// Node has WebAssembly; TypeScript's ES2022 lib does not describe it (lib.dom does).
declare const WebAssembly: {
  Memory: new (descriptor: { initial: number; maximum: number }) => { readonly buffer: ArrayBuffer };
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: unknown };
};

/** warm.wat's one export; offsets are byte offsets into the table's buffer. */
export type WarmLoads = (n: number, hashes: number, dirs: number, slots: number, idx: number, indexSize: number, rec: number) => number;

const PAGE = 65536;
/** WebAssembly's 32-bit memories end at 4 GiB. */
const MAX_PAGES = 65536;
let compiled: object | undefined;

/** A zeroed buffer of at least `bytes` bytes, and the warm-up kernel bound to it. */
export function kernelMemory(bytes: number): { buffer: ArrayBuffer; warm: WarmLoads } {
  const pages = Math.ceil(bytes / PAGE);
  if (pages > MAX_PAGES) throw new RangeError(`a connection table of ${bytes} bytes is over the 4 GiB a WebAssembly memory can hold`);
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
  compiled ??= new WebAssembly.Module(WARM_WASM);
  const exports = new WebAssembly.Instance(compiled, { env: { memory } }).exports as { warm: WarmLoads };
  return { buffer: memory.buffer, warm: exports.warm };
}
