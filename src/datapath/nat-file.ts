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
//   publishOnHostAddresses: true       # optional: "" and "::" also on the uplink's own addresses
//
// Validated with a JSON schema by the shared loader (src/config/yaml.ts); an
// error names the key path and the file:line:column where it sits.
//
// A start (readDatapathConfigAt) reuses the last parse when the text is the
// same: the result is kept beside the state file with the text's SHA-256
// (`<stateFile>.config.json`), so a restart loads no YAML parser.
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import { tryParseIpv6 } from '../wire/address.js';
import { readConfigText, schemaChecker, YamlFile } from '../config/yaml.js';
import { IFNAME_PATTERN, IPV6_ADDRESS_PATTERN, IPV6_PREFIX_PATTERN } from '../config/options.js';
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

const prefix = { type: 'string', pattern: IPV6_PREFIX_PATTERN };
const address = { type: 'string', pattern: IPV6_ADDRESS_PATTERN };
const port = { type: 'integer', minimum: 1, maximum: 65535 };
const ifname = { type: 'string', pattern: IFNAME_PATTERN };

/** The file's JSON Schema; its descriptions are the text of sixgate-nat.yaml(5) (src/cli/man.ts). */
export const NAT_FILE_SCHEMA = {
  description: 'The file sixgate nat reads (-c, default /etc/sixgate/nat.yaml): the NAT66 data path without Docker, '
    + 'its networks and published ports written out by hand, YAML or JSON. sixgate nat --check validates it; '
    + 'an unknown key or a value of the wrong form is an error naming the key and its line. SIGHUP re-reads it.',
  type: 'object',
  additionalProperties: false,
  required: ['uplink', 'networks'],
  properties: {
    uplink: { ...ifname, description: 'The interface facing the world, whose prefix dedicated external addresses come from.' },
    tun: { ...ifname, description: 'The TUN interface of the data path (default sixgate0).' },
    stateFile: { type: 'string', minLength: 1, description: 'The file the connection table lives in (mapped), kept across restarts and crashes; --state-file overrides it.' },
    capacity: { type: 'integer', minimum: 1024, maximum: 16777215, description: 'Sessions the connection table holds.' },
    addressQuota: { type: 'integer', minimum: 1, maximum: 16777215, description: 'Sessions one container address may hold.' },
    networkQuota: { type: 'integer', minimum: 1, maximum: 16777215, description: 'Sessions one network may hold.' },
    dhcpv6Pd: { type: 'boolean', description: 'Ask the uplink\'s router for a delegated prefix (DHCPv6-PD, RFC 8415) and map externalPrefix: auto networks into it.' },
    refuse: { enum: REFUSE_MODES, description: 'Packets to an unpublished port of an external address: reply as a closed port does (TCP RST, ICMPv6 port unreachable) or drop silently (default reply).' },
    hostPortRange: { type: 'array', items: port, minItems: 2, maxItems: 2, description: 'The host ports sixgate owns in host-address mode, [low, high] (default [61000, 61999]).' },
    throwPrefixes: { type: 'array', items: prefix, description: 'Destinations the networks reach untranslated (other local or routed prefixes).' },
    ipv4Map: { type: 'object', additionalProperties: address, description: 'IPv4 host address of a published port to the IPv6 external address it is published on.' },
    publishOnHostAddresses: { type: 'boolean', description: 'Published ports with no host address also answer on every global address of the uplink, ahead of the host\'s own sockets (tc steering); sixgate run always does.' },
    networks: {
      description: 'The NAT66 networks.',
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'bridge', 'subnets'],
        properties: {
          name: { type: 'string', minLength: 1, description: 'The network\'s name, in logs and counters.' },
          bridge: { ...ifname, description: 'The bridge its containers sit on.' },
          subnets: { type: 'array', items: prefix, minItems: 1, description: 'Its inside (ULA) prefixes.' },
          mode: { enum: ['masquerade', 'nptv6'], description: 'Stateful NAT66 (masquerade, the default) or stateless prefix translation (nptv6, needs externalPrefix).' },
          addressMode: { enum: ['auto', 'dedicated', 'host'], description: 'External address: dedicated (from the uplink prefix), the host\'s own, or auto.' },
          externalAddresses: { type: 'array', items: address, description: 'The external addresses to use (Docker\'s host_ipv6).' },
          externalPrefix: { type: 'string', pattern: '^([0-9A-Fa-f:.]+/[0-9]{1,3}|auto)$', description: 'The outside prefix of an nptv6 network, or auto: derived from the current upstream prefix (a delegated /64, else a range of the on-link prefix).' },
          filtering: { enum: ['address-and-port-dependent', 'endpoint-independent'], description: 'Which inbound packets a mapping lets in (RFC 4787; default address-and-port-dependent).' },
          portRange: { type: 'array', items: port, minItems: 2, maxItems: 2, description: 'External ports of its mappings, [low, high].' },
        },
      },
    },
    published: {
      description: 'Published ports.',
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['protocol', 'hostPort', 'containerAddress', 'containerPort'],
        properties: {
          protocol: { enum: ['tcp', 'udp', 'sctp'], description: 'The transport protocol.' },
          hostIp: { type: 'string', description: 'The host address it is published on ("::" or absent: every external address).' },
          hostPort: { ...port, description: 'The external port.' },
          containerAddress: { ...address, description: 'The container\'s inside address.' },
          containerPort: { ...port, description: 'The container\'s port.' },
        },
      },
    },
  },
} as const;

const checkSchema = schemaChecker(NAT_FILE_SCHEMA);

/** Parses and validates config text; `file` names it in errors. */
export function parseDatapathConfig(text: string, file = '<config>'): DatapathFileConfig {
  const yaml = YamlFile.parse(text, file);
  checkSchema(yaml, yaml.value);
  const v = yaml.value as {
    uplink: string; tun?: string; stateFile?: string; dhcpv6Pd?: boolean; capacity?: number; addressQuota?: number; networkQuota?: number; refuse?: RefuseMode; hostPortRange?: [number, number]; throwPrefixes?: string[];
    ipv4Map?: Record<string, string>; publishOnHostAddresses?: boolean; networks: DatapathModel['networks']; published?: Array<DatapathModel['published'][number] & { hostIp?: string }>;
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
    ...(v.publishOnHostAddresses !== undefined ? { publishOnHostAddresses: v.publishOnHostAddresses } : {}),
  };
  return { model, ...(v.stateFile !== undefined ? { stateFile: v.stateFile } : {}), ...(v.dhcpv6Pd === true ? { dhcpv6Pd: true } : {}), ...natOptions(v) };
}

export function readDatapathConfig(file: string): DatapathFileConfig {
  return parseDatapathConfig(readConfigText(file), file);
}

/** Where the last parse of a file whose connection table lives in `stateFile` is kept. */
export function parseCacheFile(stateFile: string): string {
  return `${stateFile}.config.json`;
}

// What a kept parse is valid for: this text, under this schema and this format.
function parseKey(text: string): string {
  return createHash('sha256').update(`1\0${checkSchema.key}\0${text}`).digest('hex');
}

/**
 * readDatapathConfig for a start: when the file's text is the one parsed
 * last time, that parse (kept beside the state file) without parsing again.
 * `stateFile` is the one a flag names; else the text's own top-level
 * `stateFile:` line says where to look (a wrong guess only misses: a kept
 * parse is used only for exactly the text it came from). A fresh parse is
 * kept for the next start; a cache that cannot be read or written is
 * ignored.
 */
export function readDatapathConfigAt(file: string, stateFile?: string): DatapathFileConfig {
  const text = readConfigText(file);
  const key = parseKey(text);
  const named = stateFile ?? /^stateFile:[ \t]*(["']?)(\S+?)\1[ \t]*$/m.exec(text)?.[2];
  if (named !== undefined) {
    try {
      const kept = JSON.parse(readFileSync(parseCacheFile(named), 'utf8')) as { key?: unknown; config?: DatapathFileConfig };
      if (kept.key === key && kept.config !== undefined) return kept.config;
    } catch {
      // None kept, or unreadable: parse.
    }
  }
  const config = parseDatapathConfig(text, file);
  const at = stateFile ?? config.stateFile;
  if (at !== undefined) {
    const cache = parseCacheFile(at);
    try {
      writeFileSync(`${cache}.new`, JSON.stringify({ key, config }), { mode: 0o600 });
      renameSync(`${cache}.new`, cache);
    } catch {
      // Only the next start's parse is at stake.
    }
  }
  return config;
}
