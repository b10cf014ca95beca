// Writing the engine's frames into its output queue: solicited and DAD
// answers, announcements, probes to inner interfaces, and route changes.
// Every frame is whole (Ethernet + IPv6 + ICMPv6 with checksum) and built in
// its queue slot, so nothing is allocated; when the queue is full the frame is
// dropped and counted, never grown.
import { buildNa, buildNs } from '../wire/ndp-build.js';
import { NaFlag } from '../wire/ndp.js';
import { writeHeader as writeEthernet, EtherType } from '../wire/ethernet.js';
import { writeMulticastMac, writeSolicitedNode } from '../wire/address.js';
import { NdpActions, ActionKind, SendPurpose, IP_OFFSET } from './actions.js';
import { NdpCounters, NdpDrop, NdpEvent, MAX_INTERFACES } from './counters.js';

/** What an uplink's answers need from its configuration. */
export interface AnswerFrom {
  readonly iface: number;
  /** NaFlag.Router or 0. */
  readonly flags: number;
  /** Answer from the uplink's link-local address instead of the target. */
  readonly fromLinkLocal: boolean;
}

/** The per-interface facts frames are built from (engine.ts InterfaceInfo). */
export interface FrameSource {
  readonly mac: Uint8Array;
  readonly linkLocal: Uint8Array | null;
}

const ALL_NODES = Uint8Array.of(0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1);
const ALL_NODES_MAC = Uint8Array.of(0x33, 0x33, 0, 0, 0, 1);

export class Emitter {
  private readonly group = new Uint8Array(16);
  private readonly groupMac = new Uint8Array(6);

  constructor(
    private readonly actions: NdpActions,
    private readonly counters: NdpCounters,
    /** Shared with the engine: interface id -> facts, filled by setInterface(). */
    private readonly ifaces: readonly (FrameSource | undefined)[],
  ) {}

  /** An NS for `target` out of every inner interface in `mask` (bit i = interface i). */
  probe(mask: number, target: Uint8Array): void {
    writeSolicitedNode(target, 0, this.group, 0);
    writeMulticastMac(this.group, 0, this.groupMac, 0);
    for (let id = 0; id < MAX_INTERFACES; id++) {
      if ((mask & (1 << id)) === 0) continue;
      const info = this.ifaces[id];
      if (info === undefined || info.linkLocal === null) {
        this.counters.drop(id, NdpDrop.NoProbeSource);
        continue;
      }
      const i = this.actions.claim(ActionKind.Send, id, true);
      if (i < 0) {
        this.counters.drop(id, NdpDrop.QueueFull);
        continue;
      }
      const o = this.actions.offset(i);
      const b = this.actions.bytes;
      writeEthernet(b, o, this.groupMac, 0, info.mac, 0, EtherType.Ipv6);
      const len = buildNs(b, o + IP_OFFSET, info.linkLocal, 0, this.group, 0, target, 0, info.mac, 0);
      this.actions.frameLength[i] = IP_OFFSET + len;
      this.actions.purpose[i] = SendPurpose.Probe;
      this.counters.event(id, NdpEvent.ProbeSent);
    }
  }

  /**
   * Queues an NA for the target at tb[tOff] answering the solicitor at
   * sb[sOff] (MAC at mb[mOff]; ignored for DAD). DAD answers go to
   * all-nodes with S=0. False when the queue had no room (counted).
   */
  answer(
    up: AnswerFrom, tb: Uint8Array, tOff: number, sb: Uint8Array, sOff: number, mb: Uint8Array, mOff: number,
    dad: boolean, bulk: boolean,
  ): boolean {
    const i = this.actions.claim(ActionKind.Send, up.iface, bulk);
    if (i < 0) {
      this.counters.drop(up.iface, NdpDrop.QueueFull);
      return false;
    }
    const info = this.ifaces[up.iface]!;
    const o = this.actions.offset(i);
    const b = this.actions.bytes;
    let dst = sb;
    let dOff = sOff;
    let flags = up.flags | NaFlag.Solicited;
    if (dad) {
      dst = ALL_NODES;
      dOff = 0;
      mb = ALL_NODES_MAC;
      mOff = 0;
      flags = up.flags;
    }
    writeEthernet(b, o, mb, mOff, info.mac, 0, EtherType.Ipv6);
    const ll = up.fromLinkLocal ? info.linkLocal : null;
    const len = buildNa(b, o + IP_OFFSET, ll ?? tb, ll === null ? tOff : 0, dst, dOff, tb, tOff, flags, info.mac, 0);
    this.actions.frameLength[i] = IP_OFFSET + len;
    this.actions.purpose[i] = dad ? SendPurpose.Defend : SendPurpose.Answer;
    this.counters.event(up.iface, dad ? NdpEvent.DadDefended : NdpEvent.AdvertSent);
    return true;
  }

  /**
   * One unsolicited NA to ff02::1 for a newly answered address. O=1 here
   * (RFC 4861 §7.2.8 allows it for unsolicited proxy NAs): the point is to
   * replace a stale cache entry on the router, e.g. a container moved hosts.
   */
  announce(up: AnswerFrom, addr: Uint8Array, off: number): void {
    const i = this.actions.claim(ActionKind.Send, up.iface, false);
    if (i < 0) {
      this.counters.drop(up.iface, NdpDrop.QueueFull);
      return;
    }
    const info = this.ifaces[up.iface]!;
    const o = this.actions.offset(i);
    const b = this.actions.bytes;
    writeEthernet(b, o, ALL_NODES_MAC, 0, info.mac, 0, EtherType.Ipv6);
    const ll = up.fromLinkLocal ? info.linkLocal : null;
    const len = buildNa(b, o + IP_OFFSET, ll ?? addr, ll === null ? off : 0, ALL_NODES, 0, addr, off,
      up.flags | NaFlag.Override, info.mac, 0);
    this.actions.frameLength[i] = IP_OFFSET + len;
    this.actions.purpose[i] = SendPurpose.Announce;
    this.counters.event(up.iface, NdpEvent.Announced);
  }

  /** Queues a route change for `target` through `iface` (next hop at via[viaOff] when via is not null). */
  route(kind: number, iface: number, target: Uint8Array, via: Uint8Array | null, viaOff: number): boolean {
    const i = this.actions.claim(kind, iface, false);
    if (i < 0) {
      this.counters.drop(iface, NdpDrop.QueueFull);
      return false;
    }
    const o = this.actions.offset(i);
    const b = this.actions.bytes;
    for (let k = 0; k < 16; k++) b[o + k] = target[k]!;
    if (via !== null) {
      for (let k = 0; k < 16; k++) b[o + 16 + k] = via[viaOff + k]!;
      this.actions.hasVia[i] = 1;
    }
    return true;
  }
}
