// Is an address already in use on a link? A Duplicate Address Detection
// probe (RFC 4862 §5.4: a Neighbor Solicitation from the unspecified
// address to the target's solicited-node group) sent on an interface, and
// the Neighbor Advertisements that answer it, each with the MAC it came from.
//
// Used before sixgate routes to (or answers for) a container address that
// lies in a LAN's own prefix: Docker hands macvlan containers addresses of
// the LAN blindly, with DAD off in the container, so a clash with another
// host on the link is silent until both break. The container itself answers
// the probe too (Linux answers a DAD probe for an address it holds); an
// answer from any other MAC is the conflict. Control path: one socket per
// probe, allocations are fine.
import { randomBytes } from 'node:crypto';
import { PacketSocket, PacketRing, icmp6Filter, Icmp6Type, hwaddr, ETH_P_IPV6 } from '../io/index.js';
import { writeHeader as writeEthernet, HEADER_LEN as ETH_LEN, srcOffset } from '../wire/ethernet.js';
import { writeMulticastMac, writeSolicitedNode, equalAddress, formatMac, parseIpv6 } from '../wire/address.js';
import { buildNs } from '../wire/ndp-build.js';
import { parseNd } from '../wire/ndp.js';

const UNSPECIFIED = new Uint8Array(16);

export interface ProbeOptions {
  /** The interface to probe on (a shim, or the parent itself). */
  readonly ifname: string;
  /** The address whose holders are sought. */
  readonly target: string;
  /** How long to collect answers. RFC 4862's RetransTimer is 1 s; 300 ms covers a LAN. */
  readonly waitMs?: number;
}

/** The MACs ("02:42:…", lower case) of every node that answered the probe for `target`. */
export async function probeHolders(options: ProbeOptions): Promise<string[]> {
  const target = parseIpv6(options.target);
  const sock = PacketSocket.open({ ifname: options.ifname, filter: icmp6Filter({ types: [Icmp6Type.NA], requireHopLimit255: true }), allmulti: true });
  const ring = new PacketRing({ slots: 16, slotSize: 2048 });
  const holders = new Set<string>();
  try {
    sock.onReadable(() => {
      const n = sock.recv(ring);
      for (let i = 0; i < n; i++) {
        const off = ring.offset(i);
        const na = parseNd(ring.buf, off + ETH_LEN, ring.lens[i]! - ETH_LEN);
        if (typeof na !== 'object' || na.kind !== 'na' || !equalAddress(na.target, 0, target, 0)) continue;
        holders.add(formatMac(ring.buf, off + srcOffset(0)));
      }
    });
    const frame = new Uint8Array(ETH_LEN + 40 + 24 + 8);
    const group = new Uint8Array(16);
    writeSolicitedNode(target, 0, group, 0);
    const dstMac = new Uint8Array(6);
    writeMulticastMac(group, 0, dstMac, 0);
    writeEthernet(frame, 0, dstMac, 0, hwaddr(options.ifname), 0, ETH_P_IPV6);
    // A nonce (RFC 7527) lets the other side tell our probe from its own looped-back one.
    const len = buildNs(frame, ETH_LEN, UNSPECIFIED, 0, group, 0, target, 0, null, 0, randomBytes(6), 0);
    ring.buf.set(frame.subarray(0, ETH_LEN + len), ring.offset(0));
    ring.lens[0] = ETH_LEN + len;
    sock.send(ring, 0, 1);
    await new Promise((resolve) => setTimeout(resolve, options.waitMs ?? 300));
  } finally {
    sock.close();
  }
  return [...holders].sort();
}
