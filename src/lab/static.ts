// The lab without Docker: containers are plain namespaces on two bridges in
// sglab-host, and sixgate runs from static files, exactly as a user without
// the Docker feed would run it:
//   sixgate nat -c nat.yaml      NAT66 for the ULA network, port 8080 published
//   sixgate ndp -c ndppd.conf    NDP proxy for the global network (an `auto` rule)
// Needs nothing but iproute2, util-linux (nsenter) and sixgate itself.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Lab, Netns } from './netns.js';
import { LAB_DIR, type LabDir } from './state.js';
import { ADDR, NET, PUBLISHED_PORT, UPLINK, WEB_PORT, type LabContainers } from './topology.js';

export const STATIC_ADDR = {
  web: 'fd6c:6162:1::2',
  client: 'fd6c:6162:1::3',
  glob1: '2001:db8:1:0:d0c::2',
} as const;

export interface Runner {
  /** node, for sixgate and the probes. */
  readonly node: string;
  /** dist/src/cli/main.js */
  readonly cli: string;
  /** dist/src/lab/probe.js */
  readonly probe: string;
}

export function natYaml(): string {
  return `# sixgate lab: NAT66 for the ULA network (sixgate nat -c ${join(LAB_DIR, 'nat.yaml')})
uplink: ${UPLINK}
networks:
  - { name: ${NET.ula}, bridge: br-ula, subnets: [${ADDR.ula}] }
published:
  - { protocol: tcp, hostIp: "::", hostPort: ${PUBLISHED_PORT}, containerAddress: "${STATIC_ADDR.web}", containerPort: ${WEB_PORT} }
`;
}

export function ndppdConf(): string {
  return `# sixgate lab: NDP proxy for the global network (sixgate ndp -c ${join(LAB_DIR, 'ndppd.conf')})
proxy ${UPLINK} {
  rule ${ADDR.global} {
    auto
  }
}
`;
}

/** Builds the container namespaces and bridges in `host`, starts sixgate nat + ndp and the web servers. */
export async function startStatic(lab: Lab, host: Netns, dir: LabDir, run: Runner): Promise<LabContainers> {
  const web = lab.ns('web');
  const client = lab.ns('client');
  const glob1 = lab.ns('glob1');
  lab.veth(web, 'eth0', host, 'vweb');
  lab.veth(client, 'eth0', host, 'vclient');
  lab.veth(glob1, 'eth0', host, 'vglob1');
  lab.bridge(host, 'br-ula', ['vweb', 'vclient']);
  lab.bridge(host, 'br-glob', ['vglob1']);
  lab.addr(host, 'br-ula', `${ADDR.ulaGateway}/64`);
  lab.addr(host, 'br-glob', `${ADDR.globalGateway}/80`);
  for (const [ns, addr, len, gw] of [
    [web, STATIC_ADDR.web, 64, ADDR.ulaGateway],
    [client, STATIC_ADDR.client, 64, ADDR.ulaGateway],
    [glob1, STATIC_ADDR.glob1, 80, ADDR.globalGateway],
  ] as const) {
    lab.addr(ns, 'eth0', `${addr}/${len}`);
    ns.ip('-6', 'route', 'add', 'default', 'via', gw);
  }
  const natFile = join(LAB_DIR, 'nat.yaml');
  const ndpFile = join(LAB_DIR, 'ndppd.conf');
  writeFileSync(natFile, natYaml());
  writeFileSync(ndpFile, ndppdConf());
  // Two daemons: a control socket each (sixgate status -s ...), never the host's.
  dir.spawn('sixgate-nat', host, run.node, [run.cli, 'nat', '-c', natFile, '--cleanup', '--control-socket', join(LAB_DIR, 'nat.sock')]);
  dir.spawn('sixgate-ndp', host, run.node, [run.cli, 'ndp', '-c', ndpFile, '--control-socket', join(LAB_DIR, 'ndp.sock')]);
  dir.spawn('web', web, run.node, [run.probe, 'serve', String(WEB_PORT)]);
  dir.spawn('glob1', glob1, run.node, [run.probe, 'serve', String(WEB_PORT)]);
  await Promise.all([
    dir.waitLog('sixgate-nat', /nat66 data path running/, 15_000),
    dir.waitLog('sixgate-ndp', /sixgate ndp running/, 15_000),
    dir.waitLog('web', /ready/, 10_000),
    dir.waitLog('glob1', /ready/, 10_000),
  ]);
  return {
    web: { name: 'web', netns: web.path, address: STATIC_ADDR.web },
    client: { name: 'client', netns: client.path, address: STATIC_ADDR.client },
    glob1: { name: 'glob1', netns: glob1.path, address: STATIC_ADDR.glob1 },
  };
}
