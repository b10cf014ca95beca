// Adapters from the feed to the two engines, so wiring the service is a few
// lines: the NDP proxy follows address deltas incrementally; the NAT66
// configuration is small and compiled as a whole, so it is rebuilt from the
// snapshot after any batch that touches it.
import type { NatNetwork, PublishedPort as NatPublishedPort } from '../nat/config.js';
import type { DockerNetwork } from './classify.js';
import type { FeedDelta } from './model.js';
import type { FeedSnapshot } from './feed.js';

/** What the NDP side needs: answer (or stop answering) for an address on an uplink. */
export interface NdpSink {
  add(uplink: string, address: string): void;
  remove(uplink: string, address: string): void;
}

/**
 * Applies the address deltas of ndp subnets to `sink` (removals first, as the
 * batch orders them). Returns how many calls were made.
 */
export function applyNdpDeltas(deltas: readonly FeedDelta[], sink: NdpSink): number {
  let calls = 0;
  for (const d of deltas) {
    if (d.kind !== 'address-added' && d.kind !== 'address-removed') continue;
    const a = d.address;
    if (a.service !== 'ndp' || a.uplink === undefined) continue;
    if (d.kind === 'address-added') sink.add(a.uplink, a.address);
    else sink.remove(a.uplink, a.address);
    calls++;
  }
  return calls;
}

/** Whether a batch changes anything the NAT66 configuration is made of. */
export function touchesNat(deltas: readonly FeedDelta[]): boolean {
  const natty = (n: DockerNetwork): boolean => n.subnets.some((s) => s.service === 'nat66' || s.service === 'nptv6');
  return deltas.some((d) => {
    switch (d.kind) {
      case 'port-added':
      case 'port-removed':
        return d.port.service === 'nat66';
      case 'network-added':
      case 'network-removed':
        return natty(d.network);
      case 'network-changed':
        return natty(d.network) || natty(d.previous);
      default:
        return false;
    }
  });
}

export interface NatView {
  networks: NatNetwork[];
  published: NatPublishedPort[];
}

/**
 * The NAT66 networks and published ports (src/nat/config.ts shapes) for the
 * model: one masquerade network per Docker network with nat66 subnets, one
 * nptv6 network per NPTv6 subnet ("<name>/nptv6"). `externalAddresses` gives a
 * masquerade network its source addresses (the service knows the uplink's);
 * a network's com.docker.network.host_ipv6 comes first when it is set.
 */
export function natView(snapshot: FeedSnapshot, externalAddresses: (net: DockerNetwork) => string[]): NatView {
  const networks: NatNetwork[] = [];
  for (const net of snapshot.networks) {
    const nat66 = net.subnets.filter((s) => s.service === 'nat66').map((s) => s.prefix);
    if (nat66.length > 0) {
      const ext = externalAddresses(net);
      networks.push({
        name: net.name,
        insideSubnets: nat66,
        mode: 'masquerade',
        externalAddresses: net.snatAddress === null ? ext : [net.snatAddress, ...ext.filter((a) => a !== net.snatAddress)],
      });
    }
    for (const s of net.subnets) {
      if (s.service !== 'nptv6' || s.externalPrefix === undefined) continue;
      networks.push({ name: `${net.name}/nptv6`, insideSubnets: [s.prefix], mode: 'nptv6', externalPrefix: s.externalPrefix });
    }
  }
  const published: NatPublishedPort[] = [];
  for (const p of snapshot.ports) {
    if (p.service !== 'nat66') continue;
    published.push({
      protocol: p.protocol,
      ...(p.hostAddress === null ? {} : { externalAddress: p.hostAddress }),
      externalPort: p.hostPort,
      insideAddress: p.containerAddress,
      insidePort: p.containerPort,
    });
  }
  return { networks, published };
}
