// The static data-path config file of `sixgate nat` (YAML or JSON, YAML
// being a superset), until the Docker feed fills the same DatapathModel. Its
// documentation lives here, in the schema: each key's `description`, the
// example below and natFileFormat(), which `sixgate help nat` prints and
// docs/nat-config.md carries (a test holds the two the same).
//
// Validated with the JSON schema by the shared loader (src/config/yaml.ts); an
// error names the key path and the file:line:column where it sits.
import { ConfigError } from '../errors.js';
import { tryParseIpv6 } from '../wire/address.js';
import { readConfigText, schemaChecker, YamlFile } from '../config/yaml.js';
import type { DatapathModel } from './nat-model.js';
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
const portRange = { type: 'array', items: port, minItems: 2, maxItems: 2 };

/** The file's JSON schema; every key's `description` is its documentation. */
export const NAT_FILE_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['uplink', 'networks'],
  properties: {
    uplink: { ...ifname, description: 'interface facing the world: external addresses are answered for (NDP) and routed there' },
    tun: { ...ifname, description: 'TUN device of the data path (default sixgate0)' },
    stateFile: { type: 'string', minLength: 1, description: 'file the connection table lives in (mapped), so connections survive a restart or a crash (default: none, memory only)' },
    capacity: { type: 'integer', minimum: 1024, maximum: 16777215, description: 'sessions the connection table holds (default 262144)' },
    addressQuota: { type: 'integer', minimum: 1, maximum: 16777215, description: 'sessions one container address may hold (default a quarter of capacity, at least 1024)' },
    networkQuota: { type: 'integer', minimum: 1, maximum: 16777215, description: 'sessions one network may hold (default 3/4 of capacity with two NAT networks or more)' },
    refuse: { enum: REFUSE_MODES, description: 'packets to an unpublished port of an external address: reply as a closed port (TCP RST, ICMPv6 port unreachable) or silent (drop)' },
    hostPortRange: { ...portRange, description: '[low, high]: host ports sixgate owns in host-address mode (default [61000, 61999])' },
    throwPrefixes: { type: 'array', items: prefix, description: 'destinations the networks reach untranslated (other local or routed prefixes)' },
    ipv4Map: { type: 'object', additionalProperties: address, description: 'IPv4 host address of a published port: the IPv6 external address it is published on' },
    networks: {
      type: 'array',
      description: 'the container networks to translate, one entry each',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'bridge', 'subnets'],
        properties: {
          name: { type: 'string', minLength: 1, description: 'a name for logs, status and metrics' },
          bridge: { ...ifname, description: 'the bridge the containers are on' },
          subnets: { type: 'array', items: prefix, minItems: 1, description: 'inside prefixes (ULA)' },
          mode: { enum: ['masquerade', 'nptv6'], description: 'masquerade (stateful NAT66, the default) or nptv6 (stateless prefix translation, RFC 6296)' },
          addressMode: { enum: ['auto', 'dedicated', 'host'], description: 'masquerade: dedicated addresses from the uplink prefix, or the host address (auto: dedicated when the uplink has an on-link prefix)' },
          externalAddresses: { type: 'array', items: address, description: 'masquerade: the external addresses (default: chosen by addressMode)' },
          externalPrefix: { ...prefix, description: 'nptv6 (required there): the outside prefix, as long as the inside one' },
          filtering: { enum: ['address-and-port-dependent', 'endpoint-independent'], description: 'who may send back through a mapping (default address-and-port-dependent, RFC 4787)' },
          portRange: { ...portRange, description: '[low, high]: external ports for this network\'s mappings' },
        },
      },
    },
    published: {
      type: 'array',
      description: 'published ports: outside host port to a container port',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['protocol', 'hostPort', 'containerAddress', 'containerPort'],
        properties: {
          protocol: { enum: ['tcp', 'udp', 'sctp'], description: 'the protocol' },
          hostIp: { type: 'string', description: 'the external address it is published on ("", "::" or 0.0.0.0: every one; an IPv4 one through ipv4Map)' },
          hostPort: { ...port, description: 'the port outside' },
          containerAddress: { ...address, description: 'the container\'s inside address' },
          containerPort: { ...port, description: 'the port inside' },
        },
      },
    },
  },
} as const;

/** A complete file, as `sixgate help nat` and docs/nat-config.md show it (a test parses it). */
export const NAT_FILE_EXAMPLE = `uplink: eth0
stateFile: /var/lib/sixgate/nat.snapshot
networks:
  - name: web
    bridge: br-web
    subnets: [fd66:1::/64]
    externalAddresses: [2001:db8:1::66]
  - name: lab
    bridge: br-lab
    subnets: [fd66:2::/64]
    mode: nptv6
    externalPrefix: 2001:db8:66::/64
published:
  - { protocol: tcp, hostIp: "::", hostPort: 8080, containerAddress: "fd66:1::2", containerPort: 80 }
`;

interface SchemaNode {
  readonly type?: string;
  readonly enum?: readonly string[];
  readonly description?: string;
  readonly required?: readonly string[];
  readonly properties?: Record<string, SchemaNode>;
  readonly items?: SchemaNode;
}

/** One line per key, nested keys indented: `name (required)  what it is`, from the schema. */
export function natFileFormat(): string {
  const lines: string[] = [];
  const walk = (node: SchemaNode, indent: string): void => {
    for (const [key, child] of Object.entries(node.properties ?? {})) {
      const list = child.type === 'array' && child.items?.properties !== undefined;
      const name = `${indent}${key}${list ? '[]' : ''}${node.required?.includes(key) ? ' (required)' : ''}`;
      const values = child.enum === undefined ? '' : `${child.enum.join(' | ')}: `;
      lines.push(`${name.padEnd(30)} ${values}${child.description ?? ''}`.trimEnd());
      if (list) walk(child.items!, `${indent}  `);
    }
  };
  walk(NAT_FILE_SCHEMA as SchemaNode, '');
  return lines.join('\n');
}

const checkSchema = schemaChecker(NAT_FILE_SCHEMA);

/** Parses and validates config text; `file` names it in errors. */
export function parseDatapathConfig(text: string, file = '<config>'): DatapathFileConfig {
  const yaml = YamlFile.parse(text, file);
  checkSchema(yaml, yaml.value);
  const v = yaml.value as {
    uplink: string; tun?: string; stateFile?: string; capacity?: number; addressQuota?: number; networkQuota?: number; refuse?: RefuseMode; hostPortRange?: [number, number]; throwPrefixes?: string[];
    ipv4Map?: Record<string, string>; networks: DatapathModel['networks']; published?: Array<DatapathModel['published'][number] & { hostIp?: string }>;
  };
  // Addresses the pattern lets through but that are not IPv6.
  const checkAddr = (text: string, path: (string | number)[]): void => {
    if (tryParseIpv6(text.split('/')[0]!) === undefined) throw new ConfigError(`${path.join('.')}: ${JSON.stringify(text)} is not an IPv6 address`, yaml.where(path));
  };
  v.networks.forEach((n, i) => {
    n.subnets.forEach((s, j) => checkAddr(s, ['networks', i, 'subnets', j]));
    (n.externalAddresses ?? []).forEach((s, j) => checkAddr(s, ['networks', i, 'externalAddresses', j]));
    if (n.externalPrefix !== undefined) checkAddr(n.externalPrefix, ['networks', i, 'externalPrefix']);
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
  return { model, ...(v.stateFile !== undefined ? { stateFile: v.stateFile } : {}), ...natOptions(v) };
}

export function readDatapathConfig(file: string): DatapathFileConfig {
  return parseDatapathConfig(readConfigText(file), file);
}
