// The layer rule of docs/architecture.md, enforced on every import in src/:
// a directory imports its own files, src/errors.ts, and only the directories
// its row below allows. A directory missing from the table fails the test, so
// a new one has to be placed in a layer (and in the doc) before it can land.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';
import { repoRoot } from './support/paths.js';

// Pure layers: no Node built-in at all, so no I/O can creep in through one.
const PURE = ['wire', 'ndp', 'nat', 'dhcp6'];
const BELOW_CONTROL = ['wire', 'pcap', 'ndp', 'nat', 'dhcp6', 'io'];
const CONTROL = ['host', 'docker', 'config', 'fleet', 'log'];

interface Layer {
  readonly layer: string;
  readonly may: readonly string[];
}

/** Directory of src/ -> its layer and what it may import ('log' is src/log.ts; src/errors.ts is allowed everywhere). */
const LAYERS: Readonly<Record<string, Layer>> = {
  wire: { layer: '1. wire', may: [] },
  pcap: { layer: '1. pcap', may: ['wire'] },
  ndp: { layer: '2. engines', may: ['wire'] },
  nat: { layer: '2. engines', may: ['wire'] },
  dhcp6: { layer: '2. engines', may: ['wire'] },
  io: { layer: '3. io', may: ['wire'] },
  host: { layer: '4. control', may: [...BELOW_CONTROL, 'log'] },
  docker: { layer: '4. control', may: [...BELOW_CONTROL, 'log'] },
  config: { layer: '4. control', may: [...BELOW_CONTROL, 'log'] },
  fleet: { layer: '4. control', may: [...BELOW_CONTROL, 'log'] },
  proxy: { layer: '5. wiring', may: [...BELOW_CONTROL, ...CONTROL] },
  datapath: { layer: '5. wiring', may: [...BELOW_CONTROL, ...CONTROL, 'proxy'] },
  service: { layer: '6. service', may: [...BELOW_CONTROL, ...CONTROL, 'proxy', 'datapath'] },
  lab: { layer: '6. service', may: [...BELOW_CONTROL, ...CONTROL, 'proxy', 'datapath'] },
  cli: { layer: '6. CLI', may: [...BELOW_CONTROL, ...CONTROL, 'proxy', 'datapath', 'service', 'lab'] },
};

const SRC = join(repoRoot, 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []);
}

/** 'ndp' for src/ndp/x.ts, 'errors' for src/errors.ts, undefined outside src/. */
function unitOf(path: string): string | undefined {
  const rel = relative(SRC, path);
  if (rel.startsWith('..')) return undefined;
  const parts = rel.split(sep);
  return parts.length === 1 ? parts[0]!.replace(/\.[jt]s$/, '') : parts[0];
}

/** Every import, re-export and dynamic import of `text` (a file at `path`) that the layer rule forbids. */
function violations(path: string, text: string): string[] {
  const from = unitOf(path)!;
  const row = LAYERS[from];
  const where = relative(repoRoot, path);
  const out: string[] = [];
  for (const { fileName: spec } of ts.preProcessFile(text, true, true).importedFiles) {
    if (spec.startsWith('.')) {
      const to = unitOf(resolve(dirname(path), spec));
      if (to === from || to === 'errors') continue;
      if (row === undefined) {
        // src/errors.ts and src/log.ts are below everything: they import no other part of sixgate.
        out.push(`${where}: imports ${spec} (src/${from}.ts is cross-cutting and imports nothing from src/)`);
      } else if (to === undefined || !row.may.includes(to)) {
        out.push(`${where}: imports ${spec} (${from}, layer ${row.layer}, may import ${row.may.join(', ') || 'only itself'})`);
      }
    } else if (PURE.includes(from) && isBuiltin(spec)) {
      out.push(`${where}: imports ${spec} (layer ${row!.layer} is pure: no Node built-ins)`);
    }
  }
  return out;
}

test('every directory of src/ has a row in the layer table, and docs/architecture.md names it', () => {
  const doc = readFileSync(join(repoRoot, 'docs', 'architecture.md'), 'utf8');
  const dirs = readdirSync(SRC, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  assert.deepEqual(dirs.filter((d) => LAYERS[d] === undefined), [], 'directories without a layer');
  assert.deepEqual(dirs.filter((d) => !doc.includes(`src/${d}/`)), [], 'directories docs/architecture.md does not place');
  assert.deepEqual(readdirSync(SRC).filter((f) => f.endsWith('.ts')).sort(), ['errors.ts', 'log.ts']);
});

test('no file in src/ imports across the layer rule', () => {
  const files = sourceFiles(SRC);
  assert.ok(files.length > 50, `only ${files.length} files found under ${SRC}`);
  const found = files.flatMap((f) => violations(f, readFileSync(f, 'utf8')));
  assert.equal(found.length, 0, `imports against docs/architecture.md:\n  ${found.join('\n  ')}`);
});

test('the checker sees imports, type imports, re-exports and dynamic imports', () => {
  const at = join(SRC, 'ndp', 'x.ts');
  const text = [
    "import { run } from '../host/run.js';",
    "import type { PacketSocket } from '../io/packet.js';",
    "export { Nat66 } from '../nat/nat66.js';",
    "const m = await import('../cli/main.js');",
    "import { readFile } from 'node:fs/promises';",
    "import { spawn } from 'child_process';",
    "import { F } from '../wire/ipv6.js';",
    "import { ConfigError } from '../errors.js';",
    "import { Address6 } from 'ip-address';",
    "import { NdpEngine } from './engine.js';",
  ].join('\n');
  assert.deepEqual(violations(at, text).map((v) => v.split(' (')[0]), [
    'src/ndp/x.ts: imports ../host/run.js',
    'src/ndp/x.ts: imports ../io/packet.js',
    'src/ndp/x.ts: imports ../nat/nat66.js',
    'src/ndp/x.ts: imports ../cli/main.js',
    'src/ndp/x.ts: imports node:fs/promises',
    'src/ndp/x.ts: imports child_process',
  ]);
  assert.deepEqual(violations(join(SRC, 'log.ts'), "import { NdpEngine } from './ndp/engine.js';").length, 1);
});
