// The Docker feed's snapshot → the NAT66 data path's model (pure). One
// masquerading network per Docker network with nat66 subnets, one NPTv6
// network per NPTv6 subnet, and every published port whose container
// address sits in a nat66 subnet, on every address of the host as well
// (as docker-ipv6nat and Docker's ip6tables publish them). Networks whose choices cannot be made on
// this host (e.g. dedicated mode on an uplink with only a /128) are left
// out one by one, each with a reason, so one bad network never stops the
// others (filterResolvable).
import { ConfigError } from '../errors.js';
import type { FeedSnapshot } from '../docker/index.js';
import type { DatapathModel, NetworkModel, PublishedModel } from '../datapath/nat-model.js';
import { resolveModel, type HostFacts } from '../datapath/resolve.js';
import type { ServiceConfig } from '../config/options.js';

export function datapathModel(snapshot: FeedSnapshot, uplink: string,
  config: Pick<ServiceConfig, 'addressMode' | 'tun' | 'hostPortRange'> & Partial<Pick<ServiceConfig, 'throwPrefixes' | 'ipv4Map'>>): DatapathModel {
  const networks: NetworkModel[] = [];
  for (const net of snapshot.networks) {
    const nat66 = net.subnets.filter((s) => s.service === 'nat66').map((s) => s.prefix);
    if (nat66.length > 0) {
      networks.push({
        name: net.name, bridge: net.bridge, subnets: nat66, mode: 'masquerade',
        addressMode: config.addressMode,
        ...(net.snatAddress === null ? {} : { externalAddresses: [net.snatAddress] }),
      });
    }
    for (const s of net.subnets) {
      if (s.service !== 'nptv6' || s.externalPrefix === undefined) continue;
      networks.push({ name: `${net.name}/nptv6:${s.prefix}`, bridge: net.bridge, subnets: [s.prefix], mode: 'nptv6', externalPrefix: s.externalPrefix });
    }
  }
  const published: PublishedModel[] = [];
  for (const p of snapshot.ports) {
    if (p.service !== 'nat66') continue;
    published.push({ protocol: p.protocol, hostIp: p.hostAddress ?? '::', hostPort: p.hostPort, containerAddress: p.containerAddress, containerPort: p.containerPort });
  }
  // Every Docker bridge: a container on two networks may send a NAT'd network's replies through the other one.
  const replyBridges = [...new Set(snapshot.networks.map((n) => n.bridge))].sort();
  return {
    uplink, tun: config.tun, networks, published, publishOnHostAddresses: true, hostPortRange: config.hostPortRange, replyBridges,
    ...(config.throwPrefixes === undefined || config.throwPrefixes.length === 0 ? {} : { throwPrefixes: config.throwPrefixes }),
    ...(config.ipv4Map === undefined || Object.keys(config.ipv4Map).length === 0 ? {} : { ipv4Map: config.ipv4Map }),
  };
}

/**
 * The model without the networks that cannot be resolved on this host
 * (checked one at a time, in order, so conflicts between networks are
 * caught too), and the reason for each one left out.
 */
export function filterResolvable(model: DatapathModel, facts: HostFacts): { model: DatapathModel; skipped: Array<{ network: string; reason: string }> } {
  const kept: NetworkModel[] = [];
  const skipped: Array<{ network: string; reason: string }> = [];
  for (const n of model.networks) {
    try {
      resolveModel({ ...model, networks: [...kept, n], published: [] }, facts);
      kept.push(n);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      skipped.push({ network: n.name, reason: err.message });
    }
  }
  return { model: { ...model, networks: kept }, skipped };
}

/** A stable text of the model, to skip applying what is already in force. */
export function modelKey(model: DatapathModel): string {
  return JSON.stringify([{ ...model, published: undefined }, [...model.published].map((p) => JSON.stringify(p)).sort()]);
}
