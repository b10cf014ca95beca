// Captures loaded once into one preallocated ring, the shape the data plane
// reads from a TUN: one Uint8Array of fixed-size slots holding bare IPv6
// packets, and an Int32Array of their lengths. Benches then replay the ring
// as often as they need without touching the files or allocating.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readCapture } from '../../src/pcap/reader.js';
import { ipOffset, linkEtherType } from '../../src/pcap/linktype.js';
import { EtherType } from '../../src/wire/ethernet.js';
import * as ipv6 from '../../src/wire/ipv6.js';
import { capturesDir } from '../../test/support/paths.js';

export class PacketRing {
  /** Slot i holds packet i at byte i * slotSize. */
  readonly buf: Uint8Array;
  readonly lens: Int32Array;
  readonly slotSize: number;
  readonly count: number;
  /** Frames left out because they carry no IPv6 header (IPv4, ARP, an unknown link type). */
  readonly skipped: number;

  constructor(packets: Uint8Array[], skipped: number) {
    const longest = packets.reduce((max, p) => Math.max(max, p.length), 0);
    // Cache-line aligned slots, like the native rings.
    this.slotSize = Math.max(64, Math.ceil(longest / 64) * 64);
    this.count = packets.length;
    this.skipped = skipped;
    this.buf = new Uint8Array(this.slotSize * this.count);
    this.lens = new Int32Array(this.count);
    packets.forEach((p, i) => {
      this.buf.set(p, i * this.slotSize);
      this.lens[i] = p.length;
    });
  }
}

/**
 * Loads the IPv6 packets of the named captures (file names in the test
 * captures folder, or paths), link headers stripped and Ethernet padding cut
 * off, in file order.
 */
export function loadRing(files: string[]): PacketRing {
  const packets: Uint8Array[] = [];
  let skipped = 0;
  for (const file of files) {
    const capture = readCapture(readFileSync(file.includes('/') ? file : join(capturesDir, file)));
    for (const p of capture.packets) {
      const at = ipOffset(p.linktype, p.data);
      if (at < 0 || linkEtherType(p.linktype, p.data) !== EtherType.Ipv6) {
        skipped++;
        continue;
      }
      let ip = p.data.subarray(at);
      // A TUN hands over the packet alone; an Ethernet capture may add padding after it.
      if (ip.length >= ipv6.HEADER_LEN && ipv6.version(ip, 0) === 6) {
        ip = ip.subarray(0, Math.min(ip.length, ipv6.packetLength(ip, 0)));
      }
      packets.push(ip);
    }
    if (capture.error !== undefined) throw capture.error;
  }
  return new PacketRing(packets, skipped);
}
