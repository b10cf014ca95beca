// The one YAML + JSON Schema loader behind both configuration files (the
// service's sixgate.yaml, src/config/load.ts, and `sixgate nat`'s data-path
// file, src/datapath/nat-file.ts): YAML parsed with its positions kept (JSON
// is YAML too), validated by ajv against the caller's schema, and every
// problem turned into a ConfigError at the key's file:line:column.
//
// The schemas' validators are compiled at build time (validators.ts, made by
// `npm run build:schemas`): loading ajv and compiling a schema took a tenth
// of a second of every start. A schema changed since is compiled here.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Document, LineCounter, Node } from 'yaml';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { ConfigError } from '../errors.js';
import { VALIDATORS } from './validators.js';

/** The options every schema is compiled with (here and by scripts/compile-schemas.mjs). */
export const AJV_OPTIONS = { allErrors: true, strict: true } as const;

/** What a precompiled validator is found by: a hash (FNV-1a) of the schema's JSON text. */
export function schemaKey(schema: object): string {
  const text = JSON.stringify(schema);
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16).padStart(8, '0') + text.length.toString(16);
}

function compileSchema(schema: object): ValidateFunction {
  const precompiled = VALIDATORS[schemaKey(schema)] as ValidateFunction | undefined;
  if (precompiled !== undefined) return precompiled;
  // ajv ships CommonJS with its class on `default`.
  const Ajv = (createRequire(import.meta.url)('ajv') as { default: new (o: object) => { compile(s: object): ValidateFunction } }).default;
  return new Ajv(AJV_OPTIONS).compile(schema);
}

export type KeyPath = readonly (string | number)[];
export interface Where {
  readonly file: string;
  readonly line?: number;
  readonly column?: number;
}

/** Reads a configuration file; a file that cannot be read is a ConfigError naming it and the errno. */
export function readConfigText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read the configuration: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { file });
  }
}

// The YAML library, loaded on the first parse: its seventy-odd modules were
// a tenth of a restart, which `sixgate nat` spares when its file is unchanged
// (nat-file.ts). CommonJS, so it loads synchronously.
let library: typeof import('yaml') | undefined;
function yaml(): typeof import('yaml') {
  library ??= createRequire(import.meta.url)('yaml') as typeof import('yaml');
  return library;
}

/** A parsed YAML file: its plain value, and where each key or value sits in the text. */
export class YamlFile {
  private constructor(
    readonly file: string,
    /** The plain JavaScript value (undefined for an empty file). */
    readonly value: unknown,
    private readonly doc: Document.Parsed,
    private readonly lines: LineCounter,
  ) {}

  /** Parses `text` (the content of `file`); a YAML syntax error is a ConfigError at its position. */
  static parse(text: string, file: string): YamlFile {
    const lines = new (yaml().LineCounter)();
    const doc = yaml().parseDocument(text, { lineCounter: lines, prettyErrors: false });
    if (doc.errors.length > 0) {
      const err = doc.errors[0]!;
      const pos = lines.linePos(err.pos[0]);
      throw new ConfigError(`YAML: ${err.message.split('\n')[0]}`, { file, line: pos.line, column: pos.col });
    }
    return new YamlFile(file, doc.toJS() as unknown, doc, lines);
  }

  /** Where the value at `path` sits: the deepest node found on the way (its key when the value is empty). */
  where(path: KeyPath): Where {
    let node: unknown = this.doc.contents;
    let last: unknown = node;
    const { isMap, isSeq } = yaml();
    for (const part of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => keyText(p.key) === String(part));
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
    return this.at(last);
  }

  /** Where the key `key` of the mapping at `path` sits (an unknown key is pointed at, not its value). */
  whereKey(path: KeyPath, key: string): Where {
    const { isMap, isSeq } = yaml();
    let node: unknown = this.doc.contents;
    for (const part of path) node = isMap(node) ? node.get(part, true) : isSeq(node) ? node.items[Number(part)] : undefined;
    const pair = isMap(node) ? node.items.find((p) => keyText(p.key) === key) : undefined;
    return pair === undefined ? this.where(path) : this.at(pair.key);
  }

  private at(node: unknown): Where {
    const range = (node as Node | null | undefined)?.range;
    if (range === undefined || range === null) return { file: this.file };
    const pos = this.lines.linePos(range[0]);
    return { file: this.file, line: pos.line, column: pos.col };
  }
}

function keyText(key: unknown): string {
  return yaml().isScalar(key) ? String(key.value) : String(key);
}

/** A schema's check, and the schema's key (what its precompiled validator and anything derived from a check are found by). */
export interface SchemaCheck {
  (yaml: YamlFile, value: unknown): void;
  readonly key: string;
}

/** Every schema a checker was made for, in the order the modules made them (what `npm run build:schemas` compiles). */
export const CHECKED_SCHEMAS: object[] = [];

/**
 * Checks a value against a JSON schema (precompiled, or compiled on first use) and throws a
 * ConfigError at the offending key for the most telling problem: an unknown
 * key first, then a failed `oneOf` (its branches' own errors say less), then
 * the first one. `oneOf` words the oneOf case for this schema; `suggest`
 * may add a hint to an unknown key's message.
 */
export function schemaChecker(schema: object, wording: { oneOf?: string; suggest?: (key: string) => string } = {}): SchemaCheck {
  CHECKED_SCHEMAS.push(schema);
  let validate: ValidateFunction | undefined;
  const check = (yaml: YamlFile, value: unknown): void => {
    validate ??= compileSchema(schema);
    if (validate(value)) return;
    const errors = validate.errors ?? [];
    const e = errors.find((x) => x.keyword === 'additionalProperties') ?? errors.find((x) => x.keyword === 'oneOf') ?? errors[0]!;
    const path = e.instancePath.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~')).map((p) => (/^\d+$/.test(p) ? Number(p) : p));
    const prefix = path.length === 0 ? '' : `${path.join('.')}: `;
    switch (e.keyword) {
      case 'additionalProperties': {
        const key = (e.params as { additionalProperty: string }).additionalProperty;
        throw new ConfigError(`${prefix}unknown key "${key}"${wording.suggest?.(key) ?? ''}`, yaml.whereKey(path, key));
      }
      case 'required':
        throw new ConfigError(`${prefix}missing key "${(e.params as { missingProperty: string }).missingProperty}"`, yaml.where(path));
      default:
        throw new ConfigError(`${prefix}${describe(e, wording.oneOf ?? 'has the wrong form')}`, yaml.where(path));
    }
  };
  return Object.assign(check, { key: schemaKey(schema) });
}

function describe(e: ErrorObject, oneOfMessage: string): string {
  switch (e.keyword) {
    case 'enum': return `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'type': return `must be ${(e.params as { type: string }).type}`;
    case 'pattern': return 'has the wrong form';
    case 'oneOf': return oneOfMessage;
    default: return e.message ?? e.keyword;
  }
}
