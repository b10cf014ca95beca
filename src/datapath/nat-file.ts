// The static data-path config file (YAML or JSON, YAML being a superset),
// until the Docker feed fills the same DatapathModel:
//
//   uplink: eth0
//   tun: sixgate0                      # optional
//   hostPortRange: [61000, 61999]      # optional, host-address mode
//   stateFile: /var/lib/sixgate/nat.snapshot
//   capacity: 262144                   # optional, sessions
//   addressQuota: 65536                # optional, sessions per container address
//   networkQuota: 196608               # optional, sessions per network
//   refuse: reply                      # optional: reply (RST / ICMPv6 port unreachable) | silent
//   dhcpv6Pd: true                     # optional: ask the uplink's router for a prefix (DHCPv6-PD) for nptv6 auto
//   networks:
//     - name: web
//       bridge: br-web
//       subnets: [fd66:1::/64]
//       addressMode: auto              # auto | dedicated | host
//       externalAddresses: [2001:db8:1::66]   # optional (Docker's host_ipv6)
//     - name: lab
//       bridge: br-lab
//       subnets: [fd66:2::/64]
//       mode: nptv6
//       externalPrefix: 2001:db8:66::/64   # or auto: from the upstream prefix (resolve.ts)
//   published:
//     - { protocol: tcp, hostIp: "::", hostPort: 8080, containerAddress: "fd66:1::2", containerPort: 80 }
//
// Validated with a JSON schema by the shared loader (src/config/yaml.ts); an
// error names the key path and the file:line:column where it sits.
import { ConfigError } from '../errors.js';
import { tryParseIpv6 } from '../wire/address.js';
import { readConfigText, schemaChecker, YamlFile } from '../config/yaml.js';
import type { DatapathModel } from './nat-model.js';
import { AUTO_PREFIX } from './resolve.js';
import type { NatConfig } from '../nat/engine-config.js';
import { REFUSE_MODES, type RefuseMode } from '../nat/refuse.js';

export interface DatapathFileConfig {
  readonly model: DatapathModel;
  readonly stateFile?: string;
  /** Sessions the connection table holds (engine default when absent). */
  readonly capacity?: number;
  /** Sessions one inside address / one network may hold (engine defaults when absent). */
  readonly addressQuota?: number;
  readonly networkQuota?: number;
  /** Packets to no mapping: answered like a closed port, or dropped (engine default: reply). */
  readonly refuse?: RefuseMode;
  /** Ask for a delegated prefix (DHCPv6-PD) on the uplink. */
  readonly dhcpv6Pd?: boolean;
}

/** The engine options among a file's or the daemon's settings. */
export function natOptions(c: { capacity?: number; addressQuota?: number; networkQuota?: number; refuse?: RefuseMode }): Partial<NatConfig> {
  return {
    ...(c.capacity !== undefined ? { capacity: c.capacity } : {}),
    ...(c.refuse !== undefined ? { refuse: c.refuse } : {}),
    ...(c.addressQuota !== undefined ? { addressQuota: c.addressQuota } : {}),
    ...(c.networkQuota !== undefined ? { networkQuota: c.networkQuota } : {}),
  };
}

const prefix = { type: 'string', pattern: '^[0-9A-Fa-f:.]+/[0-9]{1,3}$' };
const address = { type: 'string', pattern: '^[0-9A-Fa-f:.]+$' };
const port = { type: 'integer', minimum: 1, maximum: 65535 };
const ifname = { type: 'string', pattern: '^[^\\s/]{1,15}$' };

const SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['uplink', 'networks'],
  properties: {
    uplink: ifname,
    tun: ifname,
    stateFile: { type: 'string', minLength: 1 },
    capacity: { type: 'integer', minimum: 1024, maximum: 16777215 },
    addressQuota: { type: 'integer', minimum: 1, maximum: 16777215 },
    networkQuota: { type: 'integer', minimum: 1, maximum: 16777215 },
    refuse: { enum: REFUSE_MODES },
    dhcpv6Pd: { type: 'boolean' },
    hostPortRange: { type: 'array', items: port, minItems: 2, maxItems: 2 },
    throwPrefixes: { type: 'array', items: prefix },
    ipv4Map: { type: 'object', additionalProperties: address },
    networks: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'bridge', 'subnets'],
        properties: {
          name: { type: 'string', minLength: 1 },
          bridge: ifname,
          subnets: { type: 'array', items: prefix, minItems: 1 },
          mode: { enum: ['masquerade', 'nptv6'] },
          addressMode: { enum: ['auto', 'dedicated', 'host'] },
          externalAddresses: { type: 'array', items: address },
          externalPrefix: { type: 'string', pattern: '^([0-9A-Fa-f:.]+/[0-9]{1,3}|auto)$' },
          filtering: { enum: ['address-and-port-dependent', 'endpoint-independent'] },
          portRange: { type: 'array', items: port, minItems: 2, maxItems: 2 },
        },
      },
    },
    published: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['protocol', 'hostPort', 'containerAddress', 'containerPort'],
        properties: {
          protocol: { enum: ['tcp', 'udp', 'sctp'] },
          hostIp: { type: 'string' },
          hostPort: port,
          containerAddress: address,
          containerPort: port,
        },
      },
    },
  },
} as const;

const checkSchema = schemaChecker(SCHEMA);

/** Parses and validates config text; `file` names it in errors. */
export function parseDatapathConfig(text: string, file = '<config>'): DatapathFileConfig {
  const yaml = YamlFile.parse(text, file);
  checkSchema(yaml, yaml.value);
  const v = yaml.value as {
    uplink: string; tun?: string; stateFile?: string; dhcpv6Pd?: boolean; capacity?: number; addressQuota?: number; networkQuota?: number; refuse?: RefuseMode; hostPortRange?: [number, number]; throwPrefixes?: string[];
    ipv4Map?: Record<string, string>; networks: DatapathModel['networks']; published?: Array<DatapathModel['published'][number] & { hostIp?: string }>;
  };
  // Addresses the pattern lets through but that are not IPv6.
  const checkAddr = (text: string, path: (string | number)[]): void => {
    if (tryParseIpv6(text.split('/')[0]!) === undefined) throw new ConfigError(`${path.join('.')}: ${JSON.stringify(text)} is not an IPv6 address`, yaml.where(path));
  };
  v.networks.forEach((n, i) => {
    n.subnets.forEach((s, j) => checkAddr(s, ['networks', i, 'subnets', j]));
    (n.externalAddresses ?? []).forEach((s, j) => checkAddr(s, ['networks', i, 'externalAddresses', j]));
    if (n.externalPrefix !== undefined && n.externalPrefix !== AUTO_PREFIX) checkAddr(n.externalPrefix, ['networks', i, 'externalPrefix']);
    if ((n.mode ?? 'masquerade') === 'nptv6' && n.externalPrefix === undefined) {
      throw new ConfigError(`networks.${i}: nptv6 needs externalPrefix`, yaml.where(['networks', i]));
    }
  });
  (v.published ?? []).forEach((p, i) => checkAddr(p.containerAddress, ['published', i, 'containerAddress']));
  for (const [path, r] of [[['hostPortRange'], v.hostPortRange], ...v.networks.map((n, i) => [['networks', i, 'portRange'], n.portRange])] as Array<[(string | number)[], readonly number[] | undefined]>) {
    if (r !== undefined && r[0]! > r[1]!) throw new ConfigError(`${path.join('.')}: low port above high port`, yaml.where(path));
  }
  const model: DatapathModel = {
    uplink: v.uplink,
    ...(v.tun !== undefined ? { tun: v.tun } : {}),
    networks: v.networks,
    published: (v.published ?? []).map((p) => ({ ...p, hostIp: p.hostIp ?? '' })),
    ...(v.hostPortRange !== undefined ? { hostPortRange: v.hostPortRange } : {}),
    ...(v.ipv4Map !== undefined ? { ipv4Map: v.ipv4Map } : {}),
    ...(v.throwPrefixes !== undefined ? { throwPrefixes: v.throwPrefixes } : {}),
  };
  return { model, ...(v.stateFile !== undefined ? { stateFile: v.stateFile } : {}), ...(v.dhcpv6Pd === true ? { dhcpv6Pd: true } : {}), ...natOptions(v) };
}

export function readDatapathConfig(file: string): DatapathFileConfig {
  return parseDatapathConfig(readConfigText(file), file);
}
