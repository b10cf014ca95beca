// ndppd.conf, read unchanged (the 0.2.x grammar, keywords up to the 0.2.6
// feature set), but strictly: where ndppd silently ignores an unknown key or
// reads a typo as "no"/0, this parser stops with a ConfigError naming
// file:line:column. Nothing else in sixgate reads this file format.
//
//   route-ttl 30000                 # top level: route-ttl, address-ttl, proxy
//   proxy eth0 {                    # proxy: router timeout ttl deadtime retries
//     router yes                    #   keepalive autowire promiscuous rule
//     rule 2001:db8::/64 {          # rule: exactly one of static | iface IF | auto,
//       auto                        #   plus autovia
//     }
//   }
//
// Lexical rules kept from ndppd's conf.cc: comments are `#`, `//` (to end of
// line) and `/* */`; a key is [A-Za-z0-9_-]+ optionally followed by `=`; its
// value is a quoted string or a bare token on the same line; a `{ }` block may
// follow the value, even on the next line. `;` is accepted as a statement end
// (not as a comment: ndppd reads what follows it as the next statement).
// As ndppd, a file without a proxy section (a placeholder) is valid and idle.
import { Address6 } from 'ip-address';
import { ConfigError } from '../errors.js';

export type RuleMethod = 'static' | 'iface' | 'auto';

export interface RuleConfig {
  /** Canonical text, e.g. `2001:db8::/64` (what logs and metrics show). */
  readonly text: string;
  /** 16 bytes; bits past `prefixLength` are kept as written (ndppd masks on compare). */
  readonly prefix: Uint8Array;
  readonly prefixLength: number;
  readonly method: RuleMethod;
  /** The inner interface of an `iface` rule, otherwise null. */
  readonly iface: string | null;
  readonly autovia: boolean;
  readonly line: number;
  readonly column: number;
}

/** How a proxy behaves on its uplink: the ndppd `proxy` block's settings the engine runs on too. */
export interface ProxyBehaviour {
  readonly router: boolean;
  readonly timeout: number;
  readonly ttl: number;
  readonly deadtime: number;
  readonly retries: number;
  readonly keepalive: boolean;
  readonly autowire: boolean;
}

export interface ProxyConfig extends ProxyBehaviour {
  readonly iface: string;
  readonly promiscuous: boolean;
  readonly rules: readonly RuleConfig[];
  readonly line: number;
  readonly column: number;
}

/** Something ndppd accepts that is probably a mistake; the CLI logs these. */
export interface ConfigWarning {
  readonly message: string;
  readonly line: number;
  readonly column: number;
}

export interface NdppdConfig {
  readonly file: string;
  readonly routeTtl: number;
  readonly addressTtl: number;
  readonly proxies: readonly ProxyConfig[];
  readonly warnings: readonly ConfigWarning[];
}

/** ndppd's defaults (ndppd.cc and proxy.cc, 0.2.x master). */
export const NDPPD_DEFAULTS = {
  routeTtl: 30000,
  addressTtl: 30000,
  router: true,
  timeout: 500,
  ttl: 30000,
  retries: 3,
  keepalive: true,
  autowire: false,
  promiscuous: false,
  autovia: false,
} as const;

const MAX_MS = 2 ** 31 - 1;
const MAX_RETRIES = 100;

// ---------------------------------------------------------------- tokenizer

const enum Tok { Word, String, Open, Close, Equals, Semi, End }

interface Token {
  readonly kind: Tok;
  readonly text: string;
  readonly line: number;
  readonly column: number;
  /** A line break lies between the previous token and this one. */
  readonly newlineBefore: boolean;
}

const isBareChar = (c: string): boolean =>
  c > ' ' && c <= '~' && c !== '{' && c !== '}' && c !== ';' && c !== '=' && c !== '"' && c !== "'";

function tokenize(text: string, file: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  let newlineBefore = true;
  const fail = (message: string, at: number, atLine = line, atLineStart = lineStart): never => {
    throw new ConfigError(message, { file, line: atLine, column: at - atLineStart + 1 });
  };
  while (i < text.length) {
    const c = text[i]!;
    if (c === '\n') {
      i++;
      line++;
      lineStart = i;
      newlineBefore = true;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v') {
      i++;
      continue;
    }
    if (c === '#' || (c === '/' && text[i + 1] === '/')) {
      while (i < text.length && text[i] !== '\n') i++;
      continue;
    }
    if (c === '/' && text[i + 1] === '*') {
      const startLine = line;
      const startLineStart = lineStart;
      const start = i;
      i += 2;
      while (i < text.length && !(text[i] === '*' && text[i + 1] === '/')) {
        if (text[i] === '\n') {
          line++;
          lineStart = i + 1;
          newlineBefore = true;
        }
        i++;
      }
      if (i >= text.length) fail('unterminated /* comment', start, startLine, startLineStart);
      i += 2;
      continue;
    }
    const column = i - lineStart + 1;
    const push = (kind: Tok, tokenText: string): void => {
      tokens.push({ kind, text: tokenText, line, column, newlineBefore });
      newlineBefore = false;
    };
    if (c === '{') { push(Tok.Open, c); i++; continue; }
    if (c === '}') { push(Tok.Close, c); i++; continue; }
    if (c === '=') { push(Tok.Equals, c); i++; continue; }
    if (c === ';') {
      // ndppd ends a statement at ';' and reads the rest of the line as another one,
      // so `; text` is no comment there: say so rather than "unknown option 'text'".
      const eol = text.indexOf('\n', i);
      const rest = text.slice(i + 1, eol < 0 ? text.length : eol).trim();
      if (newlineBefore && rest !== '') fail("';' does not start a comment in ndppd.conf (ndppd reads the rest of the line as a statement): use '#' or '//'", i);
      push(Tok.Semi, c); i++; continue;
    }
    if (c === '"' || c === "'") {
      const end = text.indexOf(c, i + 1);
      const eol = text.indexOf('\n', i + 1);
      if (end < 0 || (eol >= 0 && eol < end)) fail('unterminated quoted string', i);
      push(Tok.String, text.slice(i + 1, end));
      i = end + 1;
      continue;
    }
    if (!isBareChar(c)) fail(`unexpected character ${JSON.stringify(c)}`, i);
    const start = i;
    while (i < text.length && isBareChar(text[i]!)) i++;
    push(Tok.Word, text.slice(start, i));
  }
  tokens.push({ kind: Tok.End, text: '', line, column: i - lineStart + 1, newlineBefore: true });
  return tokens;
}

// ------------------------------------------------------------------- parser

/** One `key [=] [value] [{ ... }]` statement, before its meaning is checked. */
interface Statement {
  readonly key: Token;
  readonly value: Token | null;
  readonly block: Statement[] | null;
  readonly blockOpen: Token | null;
}

const KEY = /^[A-Za-z0-9_-]+$/;

function parseStatements(tokens: Token[], file: string): Statement[] {
  let pos = 0;
  const err = (message: string, at: Token): never => {
    throw new ConfigError(message, { file, line: at.line, column: at.column });
  };
  const describe = (t: Token): string => (t.kind === Tok.End ? 'end of file' : `'${t.text}'`);

  const block = (nested: Token | null): Statement[] => {
    const out: Statement[] = [];
    for (;;) {
      const t = tokens[pos]!;
      if (t.kind === Tok.Semi) { pos++; continue; }
      if (t.kind === Tok.End) {
        if (nested !== null) err(`'{' opened at ${nested.line}:${nested.column} is never closed`, t);
        return out;
      }
      if (t.kind === Tok.Close) {
        if (nested === null) err("'}' without a matching '{'", t);
        pos++;
        return out;
      }
      if (t.kind !== Tok.Word || !KEY.test(t.text)) err(`expected a keyword, found ${describe(t)}`, t);
      pos++;
      if (tokens[pos]!.kind === Tok.Equals && !tokens[pos]!.newlineBefore) pos++;
      let value: Token | null = null;
      const v = tokens[pos]!;
      if ((v.kind === Tok.Word || v.kind === Tok.String) && !v.newlineBefore) {
        value = v;
        pos++;
      }
      let inner: Statement[] | null = null;
      let blockOpen: Token | null = null;
      if (tokens[pos]!.kind === Tok.Open) {
        blockOpen = tokens[pos]!;
        pos++;
        inner = block(blockOpen);
      }
      const next = tokens[pos]!;
      if (!next.newlineBefore && next.kind !== Tok.Semi && next.kind !== Tok.Close && next.kind !== Tok.End) {
        err(`expected the end of the '${t.text}' statement, found ${describe(next)}`, next);
      }
      out.push({ key: t, value, block: inner, blockOpen });
    }
  };
  return block(null);
}

// --------------------------------------------------------------- semantics

class Reader {
  readonly warnings: ConfigWarning[] = [];
  constructor(readonly file: string) {}

  fail(message: string, at: Token): never {
    throw new ConfigError(message, { file: this.file, line: at.line, column: at.column });
  }

  warn(message: string, at: Token): void {
    this.warnAt(message, at.line, at.column);
  }

  warnAt(message: string, line: number, column: number): void {
    this.warnings.push({ message, line, column });
  }

  /** Rejects a repeated scalar key: ndppd would silently take one of them. */
  once(seen: Map<string, Token>, s: Statement): void {
    const first = seen.get(s.key.text);
    if (first !== undefined) this.fail(`'${s.key.text}' given twice (first at ${first.line}:${first.column})`, s.key);
    seen.set(s.key.text, s.key);
  }

  noBlock(s: Statement): void {
    if (s.blockOpen !== null) this.fail(`'${s.key.text}' does not take a { } block`, s.blockOpen);
  }

  value(s: Statement, what: string): Token {
    if (s.value === null) this.fail(`'${s.key.text}' needs ${what}`, s.key);
    return s.value;
  }

  bool(s: Statement): boolean {
    this.noBlock(s);
    const v = this.value(s, 'a value: yes or no');
    switch (v.text.toLowerCase()) {
      case 'yes': case 'true': return true;
      case 'no': case 'false': return false;
      default: return this.fail(`'${s.key.text}' must be yes or no (or true/false), not '${v.text}'`, v);
    }
  }

  int(s: Statement, min: number, max: number, unit: string): number {
    this.noBlock(s);
    const v = this.value(s, `a number of ${unit}`);
    if (!/^[0-9]+$/.test(v.text)) this.fail(`'${s.key.text}' must be a whole number of ${unit}, not '${v.text}'`, v);
    const n = Number(v.text);
    if (n < min || n > max) this.fail(`'${s.key.text}' must be between ${min} and ${max} ${unit}, not ${v.text}`, v);
    return n;
  }

  ifname(s: Statement, v: Token): string {
    // IFNAMSIZ is 16 including the NUL; '/' and whitespace are refused by the kernel.
    if (v.text.length === 0 || v.text.length > 15 || /[\s/:]/.test(v.text)) {
      this.fail(`'${s.key.text}' needs an interface name (1 to 15 characters, no '/', ':' or spaces), not '${v.text}'`, v);
    }
    return v.text;
  }

  flag(s: Statement): void {
    this.noBlock(s);
    if (s.value !== null) this.fail(`'${s.key.text}' takes no value`, s.value);
  }
}

function parseRule(r: Reader, s: Statement): RuleConfig {
  const v = r.value(s, 'an address, ADDR or ADDR/LEN');
  const slash = v.text.indexOf('/');
  const addrText = slash < 0 ? v.text : v.text.slice(0, slash);
  let prefixLength = 128;
  if (slash >= 0) {
    const lenText = v.text.slice(slash + 1);
    if (!/^[0-9]{1,3}$/.test(lenText) || Number(lenText) > 128) {
      r.fail(`prefix length must be 0 to 128, not '${lenText}'`, v);
    }
    prefixLength = Number(lenText);
  }
  let parsed: Address6;
  try {
    if (addrText.includes('%')) throw new Error('zone');
    parsed = new Address6(addrText);
  } catch {
    return r.fail(`'${v.text}' is not an IPv6 address or prefix`, v);
  }
  const bytes = parsed.toUnsignedByteArray();
  const prefix = new Uint8Array(16);
  prefix.set(bytes, 16 - bytes.length);
  if ((prefix[0]! & 0xff) === 0xff) r.fail(`'${v.text}' is a multicast address: neighbour solicitations never target one`, v);

  let method: RuleMethod | null = null;
  let methodAt: Token | null = null;
  let iface: string | null = null;
  let autovia: boolean = NDPPD_DEFAULTS.autovia;
  const seen = new Map<string, Token>();
  for (const c of s.block ?? []) {
    switch (c.key.text) {
      case 'static':
      case 'auto':
      case 'iface': {
        if (methodAt !== null) {
          r.fail(`a rule takes one of static, iface or auto; '${methodAt.text}' is already given at ${methodAt.line}:${methodAt.column}`, c.key);
        }
        method = c.key.text;
        methodAt = c.key;
        if (method === 'iface') {
          r.noBlock(c);
          iface = r.ifname(c, r.value(c, 'an interface name'));
        } else {
          r.flag(c);
        }
        break;
      }
      case 'autovia':
        r.once(seen, c);
        autovia = r.bool(c);
        break;
      default:
        r.fail(`unknown rule option '${c.key.text}' (expected static, iface, auto or autovia)`, c.key);
    }
  }
  if (method === null) {
    // ndppd 0.2.5 refuses it too ("You must specify either 'iface', 'auto' or 'static'").
    return r.fail(`rule ${v.text} names no method: add one of static, iface <interface> or auto inside its { } (ndppd refuses it too)`, s.key);
  }
  if (method === 'static' && prefixLength <= 120) {
    r.warn(`static rule ${v.text} answers for every address in a /${prefixLength} without checking anything is there`, s.key);
  }
  if (autovia && method !== 'iface') r.warn(`autovia only has an effect on iface rules`, s.key);
  for (let bit = prefixLength; bit < 128; bit++) {
    if ((prefix[bit >> 3]! >> (7 - (bit & 7))) & 1) {
      r.warn(`${v.text} has bits set past /${prefixLength}; they are ignored when matching`, v);
      break;
    }
  }
  return {
    text: `${parsed.correctForm()}/${prefixLength}`,
    prefix,
    prefixLength,
    method,
    iface,
    autovia,
    line: s.key.line,
    column: s.key.column,
  };
}

function parseProxy(r: Reader, s: Statement): ProxyConfig {
  const iface = r.ifname(s, r.value(s, 'an interface name'));
  if (s.block === null) r.fail(`'proxy ${iface}' needs a { } block with at least one rule`, s.key);
  const seen = new Map<string, Token>();
  let router: boolean = NDPPD_DEFAULTS.router;
  let timeout: number = NDPPD_DEFAULTS.timeout;
  let ttl: number = NDPPD_DEFAULTS.ttl;
  let deadtime: number | null = null;
  let retries: number = NDPPD_DEFAULTS.retries;
  let keepalive: boolean = NDPPD_DEFAULTS.keepalive;
  let autowire: boolean = NDPPD_DEFAULTS.autowire;
  let promiscuous: boolean = NDPPD_DEFAULTS.promiscuous;
  const rules: RuleConfig[] = [];
  for (const c of s.block) {
    if (c.key.text !== 'rule') r.once(seen, c);
    switch (c.key.text) {
      case 'router': router = r.bool(c); break;
      case 'timeout': timeout = r.int(c, 1, MAX_MS, 'milliseconds'); break;
      case 'ttl': ttl = r.int(c, 1, MAX_MS, 'milliseconds'); break;
      case 'deadtime': deadtime = r.int(c, 1, MAX_MS, 'milliseconds'); break;
      case 'retries': retries = r.int(c, 0, MAX_RETRIES, 'retries'); break;
      case 'keepalive': keepalive = r.bool(c); break;
      case 'autowire': autowire = r.bool(c); break;
      case 'promiscuous': promiscuous = r.bool(c); break;
      case 'rule': rules.push(parseRule(r, c)); break;
      default:
        r.fail(`unknown proxy option '${c.key.text}' (expected router, timeout, ttl, deadtime, retries, keepalive, autowire, promiscuous or rule)`, c.key);
    }
  }
  if (rules.length === 0) r.warn(`proxy ${iface} has no rules: it will answer nothing`, s.key);
  if (autowire && !rules.some((x) => x.method !== 'static')) {
    r.warn(`autowire only has an effect on iface and auto rules`, seen.get('autowire')!);
  }
  return {
    iface, router, timeout, ttl, deadtime: deadtime ?? ttl, retries, keepalive, autowire, promiscuous, rules,
    line: s.key.line, column: s.key.column,
  };
}

/** Parses ndppd.conf text; `file` only labels errors and warnings. Throws ConfigError. */
export function parseNdppdConfig(text: string, file = 'ndppd.conf'): NdppdConfig {
  const r = new Reader(file);
  const statements = parseStatements(tokenize(text, file), file);
  const seen = new Map<string, Token>();
  const proxyAt = new Map<string, Token>();
  let routeTtl: number = NDPPD_DEFAULTS.routeTtl;
  let addressTtl: number = NDPPD_DEFAULTS.addressTtl;
  const proxies: ProxyConfig[] = [];
  for (const s of statements) {
    switch (s.key.text) {
      case 'route-ttl': r.once(seen, s); routeTtl = r.int(s, 1, MAX_MS, 'milliseconds'); break;
      case 'address-ttl': r.once(seen, s); addressTtl = r.int(s, 1, MAX_MS, 'milliseconds'); break;
      case 'proxy': {
        const p = parseProxy(r, s);
        const first = proxyAt.get(p.iface);
        // ndppd lets two blocks share one socket and half-merges them; say so instead.
        if (first !== undefined) r.fail(`a second proxy for ${p.iface} (the first is at ${first.line}:${first.column}); merge the rules into one block`, s.key);
        proxyAt.set(p.iface, s.key);
        proxies.push(p);
        break;
      }
      default:
        r.fail(`unknown option '${s.key.text}' (expected route-ttl, address-ttl or proxy)`, s.key);
    }
  }
  // ndppd runs idle on such a file, and deployments keep one as a placeholder.
  if (proxies.length === 0) r.warnAt('no proxy section: answering nothing until one is added (then SIGHUP)', 1, 1);
  return { file, routeTtl, addressTtl, proxies, warnings: r.warnings };
}
