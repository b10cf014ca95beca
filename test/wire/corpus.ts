// Shared test helpers for test/wire: the third-party captures as IPv6
// packets (link header stripped by src/pcap), and hex fixtures.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { readCapture } from '../../src/pcap/reader.js';
import { ipOffset } from '../../src/pcap/linktype.js';
import { capturesDir } from '../support/paths.js';

export interface CorpusPacket {
  file: string;
  index: number;
  /** The whole captured frame. */
  data: Uint8Array;
  /** Offset of the IP header in data, or negative when the frame carries no IP. */
  ipOff: number;
  /** Captured bytes from ipOff on. */
  ipLen: number;
}

/** Every capture file name in test/fixtures/captures. */
export function corpusFiles(): string[] {
  return readdirSync(capturesDir).filter((f) => f.endsWith('.pcap') || f.endsWith('.pcapng')).sort();
}

/** The packets of one capture, framed down to IP. */
export function loadPcap(file: string): CorpusPacket[] {
  const capture = readCapture(new Uint8Array(readFileSync(join(capturesDir, file))));
  const out: CorpusPacket[] = [];
  let index = 0;
  for (const p of capture.packets) {
    const ipOff = ipOffset(p.linktype, p.data);
    out.push({ file, index: index++, data: p.data, ipOff, ipLen: ipOff < 0 ? 0 : p.data.length - ipOff });
  }
  return out;
}

/** Bytes from a hex string; whitespace and '|' separators are ignored. */
export function hex(text: string): Uint8Array {
  const clean = text.replace(/[\s|]/g, '');
  if (clean.length % 2 !== 0) throw new Error('odd hex length');
  return Uint8Array.from({ length: clean.length / 2 }, (_, i) => parseInt(clean.slice(2 * i, 2 * i + 2), 16));
}

/** A copy of `bytes` placed at `at` inside a buffer of 0xff padding, to catch absolute/relative offset mix-ups. */
export function placed(bytes: Uint8Array, at: number, tail = 0): Uint8Array {
  const buf = new Uint8Array(at + bytes.length + tail).fill(0xff);
  buf.set(bytes, at);
  return buf;
}

/** Deterministic PRNG (mulberry32), so sweeps and fuzz runs are reproducible. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
