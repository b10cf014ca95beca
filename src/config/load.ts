// Reading the service configuration: the YAML file (validated against the
// schema made from options.ts, each error pointing at the key's
// file:line:column), SIXGATE_* variables and flags, merged with
// flag > env > file > default.
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import { tryParseIpv6 } from '../wire/address.js';
import {
  DEFAULTS, FILE_SCHEMA, OPTIONS, OPTION_BY_KEY, IPV4_ADDRESS_PATTERN, IPV6_PREFIX_PATTERN,
  type OptionSpec, type ServiceConfig,
} from './options.js';
import { readConfigText, schemaChecker, YamlFile } from './yaml.js';

const checkSchema = schemaChecker(FILE_SCHEMA, { oneOf: 'must be "lo-hi" or [lo, hi]', suggest });

/** The default file, read when it exists; a file named explicitly must exist. */
export const DEFAULT_CONFIG_FILE = '/etc/sixgate/sixgate.yaml';

export type ConfigLayer = Partial<ServiceConfig>;

/** Where a value came from, for `config check` and the start-up log line. */
export type Source = 'flag' | 'env' | 'file' | 'default';

export interface LoadedConfig {
  readonly config: ServiceConfig;
  readonly sources: Readonly<Record<string, Source>>;
  /** The file read, if any. */
  readonly file?: string;
}

/** Parses and validates `text` (the content of `file`); throws ConfigError at the first problem's key and line. */
export function parseConfigText(text: string, file: string): ConfigLayer {
  const yaml = YamlFile.parse(text, file);
  const value: unknown = yaml.value ?? {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError('the file must be a mapping of option: value', { file, line: 1, column: 1 });
  }
  checkSchema(yaml, value);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const o = OPTION_BY_KEY.get(k)!;
    try {
      out[k] = o.kind === 'range' ? parseRange(v) : o.kind === 'list' ? parseList(v) : o.kind === 'map' ? parseMap(v) : v;
    } catch (err) {
      throw new ConfigError(`${k}: ${(err as Error).message}`, yaml.where([k]));
    }
  }
  return out as ConfigLayer;
}

function suggest(key: string): string {
  const lower = key.toLowerCase().replace(/[-_]/g, '');
  const hit = OPTIONS.find((o) => o.key.toLowerCase() === lower);
  return hit === undefined ? '' : ` (did you mean "${hit.key}"?)`;
}

function parseRange(v: unknown): [number, number] {
  const pair = typeof v === 'string' ? v.split('-').map(Number) : (v as number[]);
  const [lo, hi] = pair as [number, number];
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 1 || hi > 65535 || lo > hi) {
    throw new Error(`port range must be lo-hi within 1-65535, lo <= hi (got ${JSON.stringify(v)})`);
  }
  return [lo, hi];
}

function ipv6(text: string, what: string): string {
  if (tryParseIpv6(text) === undefined) throw new Error(`${JSON.stringify(text)} is not ${what}`);
  return text;
}

/** IPv6 prefixes, as a sequence or "a,b" text. */
function parseList(v: unknown): string[] {
  const items = typeof v === 'string' ? v.split(',').map((x) => x.trim()).filter((x) => x !== '') : (v as string[]);
  return items.map((p) => {
    if (!new RegExp(IPV6_PREFIX_PATTERN).test(p) || Number(p.split('/')[1]) > 128) throw new Error(`${JSON.stringify(p)} is not an IPv6 prefix`);
    ipv6(p.split('/')[0]!, 'an IPv6 prefix');
    return p;
  });
}

/** IPv4 → IPv6 address pairs, as a mapping or "v4=v6,v4=v6" text. */
function parseMap(v: unknown): Record<string, string> {
  const pairs = typeof v === 'string'
    ? v.split(',').map((x) => x.trim()).filter((x) => x !== '').map((x) => {
      const at = x.indexOf('=');
      if (at < 0) throw new Error(`${JSON.stringify(x)} is not v4=v6`);
      return [x.slice(0, at), x.slice(at + 1)] as const;
    })
    : Object.entries(v as Record<string, string>);
  const out: Record<string, string> = {};
  for (const [v4, v6] of pairs) {
    if (!new RegExp(IPV4_ADDRESS_PATTERN).test(v4) || v4.split('.').some((b) => Number(b) > 255)) throw new Error(`${JSON.stringify(v4)} is not an IPv4 address`);
    out[v4] = ipv6(v6, 'an IPv6 address');
  }
  return out;
}

/** Reads a config file; throws ConfigError (naming the file) when it cannot be read or is invalid. */
export function readConfigFile(file: string): ConfigLayer {
  return parseConfigText(readConfigText(file), file);
}

/** One option's text (flag or environment) → its value; throws ConfigError naming `where`. */
export function parseOptionText(o: OptionSpec, text: string, where: string): unknown {
  switch (o.kind) {
    case 'boolean': {
      if (/^(1|true|yes|on)$/i.test(text)) return true;
      if (/^(0|false|no|off)$/i.test(text)) return false;
      throw new ConfigError(`${where}: expected true or false, got ${JSON.stringify(text)}`);
    }
    case 'integer': {
      const n = Number(text);
      const s = o.schema as { minimum?: number; maximum?: number };
      if (!/^\d+$/.test(text) || n < (s.minimum ?? 0) || n > (s.maximum ?? Number.MAX_SAFE_INTEGER)) {
        throw new ConfigError(`${where}: expected an integer in ${s.minimum ?? 0}..${s.maximum ?? '∞'}, got ${JSON.stringify(text)}`);
      }
      return n;
    }
    case 'enum':
      if (!o.values!.includes(text)) throw new ConfigError(`${where}: expected one of ${o.values!.join(', ')}, got ${JSON.stringify(text)}`);
      return text;
    case 'range':
    case 'list':
    case 'map':
      try {
        return o.kind === 'range' ? parseRange(text) : o.kind === 'list' ? parseList(text) : parseMap(text);
      } catch (err) {
        throw new ConfigError(`${where}: ${(err as Error).message}`);
      }
    case 'string': {
      const pattern = (o.schema as { pattern?: string }).pattern;
      if (text === '' || (pattern !== undefined && !new RegExp(pattern).test(text))) {
        throw new ConfigError(`${where}: ${JSON.stringify(text)} has the wrong form`);
      }
      return text;
    }
  }
}

/** SIXGATE_* variables present in `env`, parsed. */
export function envOverrides(env: NodeJS.ProcessEnv): ConfigLayer {
  const out: Record<string, unknown> = {};
  for (const o of OPTIONS) {
    const text = env[o.env];
    if (text === undefined || text === '') continue;
    out[o.key] = parseOptionText(o, text, o.env);
  }
  return out as ConfigLayer;
}

export interface LoadOptions {
  /** Values given as flags (already parsed). */
  flags: ConfigLayer;
  env?: NodeJS.ProcessEnv;
  /** --config; undefined = SIXGATE_CONFIG, else the default file if it exists. */
  configFile?: string;
  /** Do not read any file (the ipv6nat entry point). */
  noFile?: boolean;
}

/** Merges flag > env > file > default. Throws ConfigError. */
export function loadServiceConfig(options: LoadOptions): LoadedConfig {
  const env = options.env ?? process.env;
  let file: string | undefined;
  let fromFile: ConfigLayer = {};
  if (!options.noFile) {
    const named = options.configFile ?? (env.SIXGATE_CONFIG !== undefined && env.SIXGATE_CONFIG !== '' ? env.SIXGATE_CONFIG : undefined);
    if (named !== undefined) {
      file = named;
      fromFile = readConfigFile(named);
    } else {
      try {
        fromFile = parseConfigText(readFileSync(DEFAULT_CONFIG_FILE, 'utf8'), DEFAULT_CONFIG_FILE);
        file = DEFAULT_CONFIG_FILE;
      } catch (err) {
        if (err instanceof ConfigError) throw err;
        // No default file: defaults, env and flags only.
      }
    }
  }
  const fromEnv = envOverrides(env);
  const config: Record<string, unknown> = { ...DEFAULTS };
  const sources: Record<string, Source> = {};
  for (const o of OPTIONS) {
    const layers: Array<[Source, ConfigLayer]> = [['flag', options.flags], ['env', fromEnv], ['file', fromFile]];
    const hit = layers.find(([, l]) => l[o.key] !== undefined);
    if (hit !== undefined) {
      config[o.key] = hit[1][o.key];
      sources[o.key] = hit[0];
    } else if (config[o.key] !== undefined) {
      sources[o.key] = 'default';
    }
  }
  return { config: config as unknown as ServiceConfig, sources, ...(file === undefined ? {} : { file }) };
}
