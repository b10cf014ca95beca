// The service's options, declared once: each has a YAML key, a flag, an
// environment variable and a JSON schema. The flag table of `sixgate run`,
// the env lookup, the file schema and the README table are all made from
// this list, so the four can never drift apart.
//
// Precedence, per option: flag > SIXGATE_* environment > file > default.
import { LOG_FORMATS, type LogFormat } from '../log.js';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

export interface ServiceConfig {
  /** The interface facing the world; undefined = the device of the IPv6 default route. */
  uplink?: string;
  /** At start, seconds to wait for the uplink (or the default route) to appear; 0 = fail at once. */
  waitUplink: number;
  /** unix:///path or tcp://host:port; undefined = DOCKER_HOST & co. (default unix:///var/run/docker.sock). */
  dockerHost?: string;
  /** Whether dockerd does IPv6 NAT itself (then sixgate leaves those networks alone). */
  dockerIp6tables: 'auto' | 'on' | 'off';
  /** NDP proxy for containers of global networks inside the uplink's on-link prefix. */
  ndp: boolean;
  /** NS for exact addresses answered by a tc program on the uplink: 'auto' = where the kernel takes it. */
  ndpKernelAnswers: 'auto' | 'off';
  /** NAT66 for ULA networks. */
  nat66: boolean;
  /** External address choice for masquerading networks. */
  addressMode: 'auto' | 'dedicated' | 'host';
  tun: string;
  /** Host-address mode: the host's ports sixgate owns. */
  hostPortRange: [number, number];
  /** NAT connection table capacity (sessions); undefined = engine default. */
  capacity?: number;
  /** NAT sessions one inside (container) address / one network may hold; undefined = engine default. */
  addressQuota?: number;
  networkQuota?: number;
  /** Packets to an unpublished port of an external address: answered like a closed port (RST / ICMPv6 port unreachable), or dropped. */
  refuse: 'reply' | 'silent';
  /** NAT66 packet workers: 1 = the loop on the main thread; more = a multi-queue TUN, one worker thread and table shard per queue. */
  workers: number;
  /** The NAT66 fast path for established flows (tc programs): auto = on when the kernel takes them. */
  offload: 'auto' | 'off';
  /** The file the connection table lives in (mapped), kept across restarts and crashes. */
  stateFile?: string;
  /** Status file read by `sixgate health`. */
  statusFile: string;
  /** Unix socket `sixgate status`, `flows` and `counters --live` ask the daemon through. */
  controlSocket: string;
  /** Prometheus endpoint "[addr]:port"; undefined = off. */
  metricsListen?: string;
  /** On exit, remove routes, rules, steering and the TUN. */
  cleanup: boolean;
  logLevel: LogLevel;
  /** Lines on stderr: text (one event a line) or pino's JSON. */
  logFormat: LogFormat;
  /** Cap of the reconnect backoff to the Docker engine. */
  retryMaxMs: number;
  /** Destinations NAT66 networks reach untranslated (other local or routed prefixes). */
  throwPrefixes: string[];
  /** IPv4 HostIp of a published port → the IPv6 external address it is published on (docker-ipv6nat #48). */
  ipv4Map: Record<string, string>;
  /** Ask the uplink's router for a delegated prefix (DHCPv6-PD) for the networks labelled sixgate.nptv6=auto. */
  dhcpv6Pd: boolean;
  /** Fleet mode: etcd endpoints "etcd://host:2379,..."; undefined = a single host. */
  fleet?: string;
  /** Fleet mode: the prefix the hosts share, and the length of each host's lease ("/64" or 64). */
  fleetPrefix?: string;
  fleetSize?: string | number;
  /** Fleet mode: the lease's TTL in seconds (a dead host's routes go this long after its death). */
  fleetTtl: number;
  /** Fleet mode: this host's name in its lease; undefined = the hostname. */
  fleetHost?: string;
  /** Fleet mode: the address the other hosts route this host's lease via; undefined = the uplink's first global address. */
  fleetAddress?: string;
  /** Fleet mode: PEM files of etcd's CA and of this host's client certificate and key. */
  fleetCa?: string;
  fleetCert?: string;
  fleetKey?: string;
  /** Fleet mode: the Docker network on the lease, created if missing, else checked; undefined = not managed. */
  fleetNetwork?: string;
  /** Fleet mode: driver options of the network sixgate creates ("com.docker.network.bridge.name=..."). */
  fleetNetworkOptions: Record<string, string>;
}

/** 'list': comma-separated as a flag or variable, a sequence in the file; 'map': "k=v,k=v", a mapping in the file. */
export type OptionKind = 'string' | 'boolean' | 'integer' | 'enum' | 'range' | 'list' | 'map';

export interface OptionSpec {
  readonly key: keyof ServiceConfig;
  readonly kind: OptionKind;
  /** Commander flag text, e.g. "--uplink <ifname>". Booleans get a --no-x twin. */
  readonly flag: string;
  readonly env: string;
  readonly schema: Record<string, unknown>;
  readonly description: string;
  readonly values?: readonly string[];
  /** Shown in help and the README; `default` below is what applies. */
  readonly defaultText: string;
}

/** A Linux interface name (IFNAMSIZ less the NUL). */
export const IFNAME_PATTERN = '^[^\\s/]{1,15}$';
const ifname = { type: 'string', pattern: IFNAME_PATTERN };
const port = { type: 'integer', minimum: 1, maximum: 65535 };
/** The form only; load.ts checks each address parses. */
export const IPV6_PREFIX_PATTERN = '^[0-9A-Fa-f:.]+/[0-9]{1,3}$';
export const IPV6_ADDRESS_PATTERN = '^[0-9A-Fa-f:.]+$';
export const IPV4_ADDRESS_PATTERN = '^[0-9]{1,3}(\\.[0-9]{1,3}){3}$';

function envName(key: string): string {
  return `SIXGATE_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

function spec(key: keyof ServiceConfig, kind: OptionKind, flag: string, schema: Record<string, unknown>, description: string,
  defaultText: string, values?: readonly string[]): OptionSpec {
  return { key, kind, flag, env: envName(key), schema, description, defaultText, ...(values ? { values } : {}) };
}

export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];

export const OPTIONS: readonly OptionSpec[] = [
  spec('uplink', 'string', '--uplink <ifname>', ifname, 'interface facing the world', 'device of the IPv6 default route'),
  spec('waitUplink', 'integer', '--wait-uplink <seconds>', { type: 'integer', minimum: 0, maximum: 3600 },
    'at start, wait this long for the uplink (or the IPv6 default route naming it) to appear, for boot ordering; then exit 1', '0: exit at once'),
  spec('dockerHost', 'string', '--docker-host <url>', { type: 'string', pattern: '^(unix://|tcp://|https?://|/)' },
    'Docker Engine API endpoint', '$DOCKER_HOST, else unix:///var/run/docker.sock'),
  spec('dockerIp6tables', 'enum', '--docker-ip6tables <mode>', { enum: ['auto', 'on', 'off'] },
    'whether dockerd does IPv6 NAT itself (its networks are then left alone)', 'auto', ['auto', 'on', 'off']),
  spec('ndp', 'boolean', '--ndp', { type: 'boolean' }, 'NDP proxy for containers of global networks on the uplink prefix', 'true'),
  spec('ndpKernelAnswers', 'enum', '--ndp-kernel-answers <mode>', { enum: ['auto', 'off'] },
    'answer NS for container and external addresses in the kernel (a tc program on the uplink), off while debug logs or a full capture watch the proxy', 'auto', ['auto', 'off']),
  spec('nat66', 'boolean', '--nat66', { type: 'boolean' }, 'NAT66 for ULA networks', 'true'),
  spec('addressMode', 'enum', '--address-mode <mode>', { enum: ['auto', 'dedicated', 'host'] },
    'external addresses of NAT66 networks: dedicated (from the uplink prefix) or the host address', 'auto',
    ['auto', 'dedicated', 'host']),
  spec('tun', 'string', '--tun <name>', ifname, 'TUN interface of the NAT66 data path', 'sixgate0'),
  spec('hostPortRange', 'range', '--host-port-range <lo-hi>',
    { oneOf: [{ type: 'string', pattern: '^[0-9]{1,5}-[0-9]{1,5}$' }, { type: 'array', items: port, minItems: 2, maxItems: 2 }] },
    'host ports sixgate owns in host-address mode', '61000-61999'),
  spec('capacity', 'integer', '--capacity <sessions>', { type: 'integer', minimum: 1024, maximum: 16777215 },
    'NAT66 connection table size', 'engine default'),
  spec('addressQuota', 'integer', '--address-quota <sessions>', { type: 'integer', minimum: 1, maximum: 16777215 },
    'NAT66 sessions one container address may hold', 'a quarter of the capacity, at least 1,024'),
  spec('networkQuota', 'integer', '--network-quota <sessions>', { type: 'integer', minimum: 1, maximum: 16777215 },
    'NAT66 sessions one network may hold', '3/4 of the capacity with two NAT networks or more, else no limit'),
  spec('refuse', 'enum', '--refuse <mode>', { enum: ['reply', 'silent'] },
    'packets to an unpublished port of an external address: reply as a closed port does (TCP RST, ICMPv6 port unreachable; rate-limited) or drop silently',
    'reply', ['reply', 'silent']),
  spec('workers', 'integer', '--workers <n>', { type: 'integer', minimum: 1, maximum: 64 },
    'NAT66 packet workers: more than 1 runs one thread per queue of a multi-queue TUN, each with a shard of the connection table (and a state file of its own)', '1'),
  spec('offload', 'enum', '--offload <mode>', { enum: ['auto', 'off'] },
    "NAT66 fast path: established TCP and answered UDP flows translated in the kernel's tc hooks, bypassing the TUN (auto: on when the kernel takes the programs, Linux 6.6+)",
    'auto', ['auto', 'off']),
  spec('stateFile', 'string', '--state-file <file>', { type: 'string', minLength: 1 },
    'file the connection table lives in (mapped), kept across restarts and crashes', 'none'),
  spec('statusFile', 'string', '--status-file <file>', { type: 'string', minLength: 1 },
    'status file read by `sixgate health`', '/run/sixgate/status.json'),
  spec('controlSocket', 'string', '--control-socket <path>', { type: 'string', minLength: 1 },
    'unix socket (mode 0660) sixgate status, flows and counters --live read the daemon through', '/run/sixgate/control.sock'),
  spec('metricsListen', 'string', '--metrics-listen <[addr]:port>', { type: 'string', pattern: '^(\\[[0-9A-Fa-f:.]+\\]|[0-9.]+|[A-Za-z0-9.-]+)?:[0-9]{1,5}$' },
    'serve Prometheus metrics on this address', 'off'),
  spec('cleanup', 'boolean', '--cleanup', { type: 'boolean' }, 'on exit remove routes, rules, steering and the TUN', 'false'),
  spec('logLevel', 'enum', '--log-level <level>', { enum: LOG_LEVELS }, 'log level', 'info', LOG_LEVELS),
  spec('logFormat', 'enum', '--log-format <format>', { enum: LOG_FORMATS },
    'logs on stderr as text lines or as JSON (with journald priorities under systemd either way)', 'text', LOG_FORMATS),
  spec('retryMaxMs', 'integer', '--retry-max-ms <ms>', { type: 'integer', minimum: 100, maximum: 600000 },
    'longest wait between attempts to reach the Docker engine', '10000'),
  spec('throwPrefixes', 'list', '--throw-prefixes <prefix,...>',
    { oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string', pattern: IPV6_PREFIX_PATTERN } }] },
    'destinations NAT66 networks reach untranslated (other local or routed prefixes)', 'none'),
  spec('ipv4Map', 'map', '--ipv4-map <v4=v6,...>',
    { oneOf: [{ type: 'string' }, { type: 'object', propertyNames: { pattern: IPV4_ADDRESS_PATTERN }, additionalProperties: { type: 'string', pattern: IPV6_ADDRESS_PATTERN } }] },
    'ports published on an IPv4 host address are published on this IPv6 external address', 'none'),
  spec('dhcpv6Pd', 'boolean', '--dhcpv6-pd', { type: 'boolean' },
    'ask the uplink\'s router for a prefix (DHCPv6 prefix delegation) and map sixgate.nptv6=auto networks to /64s of it; the lease is kept beside the state file', 'false'),
  spec('fleet', 'string', '--fleet <etcd://host:2379,...>', { type: 'string', pattern: '^(etcds?|https?)://' },
    'fleet mode: lease a sub-prefix of --fleet-prefix from this etcd cluster and route to the other hosts\' leases', 'off'),
  spec('fleetPrefix', 'string', '--fleet-prefix <prefix>', { type: 'string', pattern: IPV6_PREFIX_PATTERN },
    'fleet mode: the prefix the hosts share', 'none'),
  spec('fleetSize', 'string', '--fleet-size </N>', { oneOf: [{ type: 'string', pattern: '^/?[0-9]{1,3}$' }, { type: 'integer', minimum: 1, maximum: 128 }] },
    'fleet mode: the length of each host\'s sub-prefix', 'none'),
  spec('fleetTtl', 'integer', '--fleet-ttl <seconds>', { type: 'integer', minimum: 2, maximum: 3600 },
    'fleet mode: TTL of the lease (kept alive every third of it); a dead host\'s routes go after it', '10'),
  spec('fleetHost', 'string', '--fleet-host <name>', { type: 'string', minLength: 1, maxLength: 253 },
    'fleet mode: this host\'s name in its lease (a restart re-claims the lease by it)', 'the hostname'),
  spec('fleetAddress', 'string', '--fleet-address <address>', { type: 'string', pattern: IPV6_ADDRESS_PATTERN },
    'fleet mode: the address the other hosts route this host\'s lease via', 'the uplink\'s first global address'),
  spec('fleetCa', 'string', '--fleet-ca <file>', { type: 'string', minLength: 1 }, 'fleet mode: PEM file of the CA of etcd\'s certificate (TLS)', 'none'),
  spec('fleetCert', 'string', '--fleet-cert <file>', { type: 'string', minLength: 1 }, 'fleet mode: PEM file of this host\'s etcd client certificate', 'none'),
  spec('fleetKey', 'string', '--fleet-key <file>', { type: 'string', minLength: 1 }, 'fleet mode: PEM file of the client certificate\'s key', 'none'),
  spec('fleetNetwork', 'string', '--fleet-network <name>', { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' },
    'fleet mode: the Docker network on this host\'s lease: created if missing, else checked (a mismatch is reported with the fix)', 'not managed'),
  spec('fleetNetworkOptions', 'map', '--fleet-network-options <k=v,...>',
    { oneOf: [{ type: 'string' }, { type: 'object', additionalProperties: { type: 'string' } }] },
    'fleet mode: driver options of the network sixgate creates', 'none'),
];

/**
 * Options a SIGHUP cannot change in a running daemon (they shape the feed,
 * the TUN, the loggers or the process's endpoints): a new value is reported
 * and waits for a restart. The others apply at once; the engine's (capacity,
 * quotas, refuse) with the resync that follows, a new capacity moving the
 * sessions into a new table as `sixgate nat` does.
 */
export const RESTART_OPTIONS: ReadonlyArray<keyof ServiceConfig> = [
  'uplink', 'waitUplink', 'dockerHost', 'dockerIp6tables', 'ndp', 'ndpKernelAnswers', 'nat66', 'tun', 'workers', 'offload', 'stateFile', 'statusFile', 'controlSocket', 'metricsListen', 'logLevel', 'logFormat', 'retryMaxMs', 'dhcpv6Pd',
  'fleet', 'fleetPrefix', 'fleetSize', 'fleetTtl', 'fleetHost', 'fleetAddress', 'fleetCa', 'fleetCert', 'fleetKey', 'fleetNetwork', 'fleetNetworkOptions',
];

export const DEFAULTS: ServiceConfig = {
  waitUplink: 0,
  dockerIp6tables: 'auto',
  ndp: true,
  ndpKernelAnswers: 'auto',
  nat66: true,
  addressMode: 'auto',
  tun: 'sixgate0',
  hostPortRange: [61000, 61999],
  refuse: 'reply',
  workers: 1,
  offload: 'auto',
  statusFile: '/run/sixgate/status.json',
  controlSocket: '/run/sixgate/control.sock',
  cleanup: false,
  logLevel: 'info',
  logFormat: 'text',
  retryMaxMs: 10_000,
  throwPrefixes: [],
  ipv4Map: {},
  dhcpv6Pd: false,
  fleetTtl: 10,
  fleetNetworkOptions: {},
};

/** The schema of the YAML file: every option, nothing else. */
export const FILE_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: Object.fromEntries(OPTIONS.map((o) => [o.key, o.schema])),
} as const;

/** Camel-case key → the option. */
export const OPTION_BY_KEY: ReadonlyMap<string, OptionSpec> = new Map(OPTIONS.map((o) => [o.key, o]));

/** Commander's attribute name for a flag ("--docker-host <url>" → "dockerHost"). */
export function attributeOf(o: OptionSpec): string {
  const long = /--([a-z0-9-]+)/.exec(o.flag)![1]!;
  return long.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}
