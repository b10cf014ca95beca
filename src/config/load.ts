// Reading the service configuration: the YAML file (validated against the
// schema made from options.ts, each error pointing at the key's
// file:line:column), SIXGATE_* variables and flags, merged with
// flag > env > file > default.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { LineCounter, parseDocument, isMap, isSeq, isScalar, type Node } from 'yaml';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { ConfigError } from '../errors.js';
import { tryParseIpv6 } from '../wire/address.js';
import {
  DEFAULTS, FILE_SCHEMA, OPTIONS, OPTION_BY_KEY, IPV4_ADDRESS_PATTERN, IPV6_PREFIX_PATTERN,
  type OptionSpec, type ServiceConfig,
} from './options.js';

const require = createRequire(import.meta.url);
// ajv ships CommonJS with its class on `default`.
const Ajv = (require('ajv') as { default: new (o: object) => { compile(s: object): ValidateFunction } }).default;

let validator: ValidateFunction | undefined;
function validate(): ValidateFunction {
  validator ??= new Ajv({ allErrors: true, strict: true }).compile(FILE_SCHEMA);
  return validator;
}

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

function locate(doc: ReturnType<typeof parseDocument>, counter: LineCounter, path: readonly (string | number)[]): { line?: number; column?: number } {
  let node: unknown = doc.contents;
  let last: unknown = node;
  for (const part of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(part));
      if (pair === undefined) break;
      last = pair.value ?? pair.key;
      node = pair.value;
    } else if (isSeq(node)) {
      node = node.items[Number(part)];
      if (node === undefined) break;
      last = node;
    } else {
      break;
    }
  }
  const range = (last as Node | null)?.range;
  if (range === undefined || range === null) return {};
  const pos = counter.linePos(range[0]);
  return { line: pos.line, column: pos.col };
}

/** Where the key itself sits (for unknown keys, so the message points at the key, not the value). */
function locateKey(doc: ReturnType<typeof parseDocument>, counter: LineCounter, key: string): { line?: number; column?: number } {
  const root = doc.contents;
  if (!isMap(root)) return {};
  const pair = root.items.find((p) => isScalar(p.key) && String(p.key.value) === key);
  const range = (pair?.key as Node | undefined)?.range;
  if (range === undefined || range === null) return {};
  const pos = counter.linePos(range[0]);
  return { line: pos.line, column: pos.col };
}

function describe(e: ErrorObject): string {
  switch (e.keyword) {
    case 'enum': return `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'type': return `must be ${(e.params as { type: string }).type}`;
    case 'pattern': return 'has the wrong form';
    case 'oneOf': return 'must be "lo-hi" or [lo, hi]';
    default: return e.message ?? e.keyword;
  }
}

/** Parses and validates `text` (the content of `file`); throws ConfigError at the first problem's key and line. */
export function parseConfigText(text: string, file: string): ConfigLayer {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false });
  if (doc.errors.length > 0) {
    const err = doc.errors[0]!;
    const pos = counter.linePos(err.pos[0]);
    throw new ConfigError(`YAML: ${err.message.split('\n')[0]}`, { file, line: pos.line, column: pos.col });
  }
  const value: unknown = doc.toJS() ?? {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError('the file must be a mapping of option: value', { file, line: 1, column: 1 });
  }
  const check = validate();
  if (!check(value)) {
    // Prefer the most specific error (ajv reports oneOf's branches and then oneOf itself).
    const errors = check.errors ?? [];
    const e = errors.find((x) => x.keyword === 'additionalProperties') ?? errors.find((x) => x.keyword === 'oneOf') ?? errors[0]!;
    const path = e.instancePath.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
    if (e.keyword === 'additionalProperties') {
      const key = (e.params as { additionalProperty: string }).additionalProperty;
      throw new ConfigError(`unknown key "${key}"${suggest(key)}`, { file, ...locateKey(doc, counter, key) });
    }
    const key = path.join('.');
    throw new ConfigError(`${key}: ${describe(e)}`, { file, ...locate(doc, counter, path) });
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const o = OPTION_BY_KEY.get(k)!;
    try {
      out[k] = o.kind === 'range' ? parseRange(v) : o.kind === 'list' ? parseList(v) : o.kind === 'map' ? parseMap(v) : v;
    } catch (err) {
      throw new ConfigError(`${k}: ${(err as Error).message}`, { file, ...locate(doc, counter, [k]) });
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
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read the configuration: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { file });
  }
  return parseConfigText(text, file);
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
