// API JSON fixtures shaped like Docker 20.10's answers, shared by the model-level tests.
import { DockerModel, type FeedDelta, type ModelIssue } from '../../src/docker/docker-model.js';
import type { ApiContainerSummary, ApiNetwork } from '../../src/docker/api-types.js';

export const ctx = { uplinks: [{ name: 'eth0', prefixes: ['2001:db8:5::/64'] }], dockerIp6tables: false };
export const NA = 'a'.repeat(64);
export const NB = 'b'.repeat(64);
export const NG = 'c'.repeat(64);
export const C1 = '1'.repeat(64);
export const C2 = '2'.repeat(64);

export const networks: ApiNetwork[] = [
  { Id: NA, Name: 'alpha', Driver: 'bridge', IPAM: { Config: [{ Subnet: '172.18.0.0/16' }, { Subnet: 'fd00:a::/64' }] }, Options: {} },
  { Id: NB, Name: 'beta', Driver: 'bridge', IPAM: { Config: [{ Subnet: 'fd00:b::/64' }] }, Options: {} },
  { Id: NG, Name: 'glob', Driver: 'bridge', IPAM: { Config: [{ Subnet: '2001:db8:5:0:1::/80' }] }, Options: {} },
  { Id: 'd'.repeat(64), Name: 'host', Driver: 'host', IPAM: { Config: [] } },
];

export function summary(id: string, nets: Record<string, [string, string]>, ports: ApiContainerSummary['Ports'] = []): ApiContainerSummary {
  return {
    Id: id, Names: [`/c${id[0]}`], State: 'running', Ports: ports,
    NetworkSettings: { Networks: Object.fromEntries(Object.entries(nets).map(([name, [nid, addr]]) => [name, { NetworkID: nid, GlobalIPv6Address: addr, GlobalIPv6PrefixLen: 64 }])) },
  };
}

export const kinds = (deltas: FeedDelta[]) => deltas.map((d) => {
  switch (d.kind) {
    case 'address-added': case 'address-removed': return `${d.kind} ${d.address.networkName} ${d.address.address}`;
    case 'port-added': case 'port-removed': return `${d.kind} ${d.port.protocol} ${d.port.hostAddress ?? '*'} ${d.port.hostPort}->${d.port.containerAddress} ${d.port.containerPort}`;
    default: return `${d.kind} ${d.network.name}`;
  }
});

export function model(): { m: DockerModel; issues: ModelIssue[] } {
  const issues: ModelIssue[] = [];
  return { m: new DockerModel(ctx, (i) => issues.push(i)), issues };
}
