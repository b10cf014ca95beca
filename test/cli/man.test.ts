// The manual pages in man/ are what `npm run man` makes from the program
// now (src/cli/man.ts), so a change to a command, an option or a schema
// that is not followed by `npm run man` fails here; and each page formats
// without a warning from groff, and every command and option is in it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { manPages } from '../../src/cli/man.js';
import { buildProgram } from '../../src/cli/program.js';
import { OPTIONS } from '../../src/config/options.js';
import { NAT_FILE_SCHEMA } from '../../src/datapath/nat-file.js';
import { repoRoot } from '../support/paths.js';
import { requires } from '../support/prereq.js';

const manDir = join(repoRoot, 'man');
const pages = await manPages();

test('the committed pages are what `npm run man` makes now; package.json lists them (npm installs them)', () => {
  assert.deepEqual(readdirSync(manDir).sort(), [...pages.keys()].sort());
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { man: string[] };
  assert.deepEqual(pkg.man.map((p) => p.replace('./man/', '')).sort(), [...pages.keys()].sort());
  for (const [name, text] of pages) assert.equal(readFileSync(join(manDir, name), 'utf8'), text, `man/${name} is stale: run \`npm run build && npm run man\``);
});

/** A page as man shows it, hyphenation and justification off so words can be searched. */
function render(name: string): string {
  const r = spawnSync('groff', ['-man', '-Tutf8', '-ww', '-rHY=0', '-dAD=l', '-rLL=200n', join(manDir, name)], { encoding: 'utf8', env: { ...process.env, GROFF_NO_SGR: '1' } });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '', `groff warnings for ${name}`);
  return r.stdout.replace(/.\x08/g, '');
}

test('sixgate(8): every command, subcommand and option of the program', requires({ tools: ['groff'] }), async () => {
  const text = render('sixgate.8');
  const walk = (command: Awaited<ReturnType<typeof buildProgram>>, path: string): void => {
    for (const sub of command.commands.filter((c) => c.name() !== 'help')) {
      assert.ok(text.includes(`${path} ${sub.name()}`), `${path} ${sub.name()} is missing`);
      for (const option of sub.options) {
        if (option.long !== '--help') assert.ok(text.includes(option.flags), `${path} ${sub.name()} ${option.flags} is missing`);
      }
      walk(sub, `${path} ${sub.name()}`);
    }
  };
  walk(await buildProgram([]), 'sixgate');
  for (const section of ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'COMMANDS', 'FILES', 'EXIT STATUS', 'SEE ALSO']) assert.match(text, new RegExp(`^${section}$`, 'm'));
});

test('sixgate.yaml(5): every option with its flag and variable; sixgate-nat.yaml(5): every key of the schema', requires({ tools: ['groff'] }), () => {
  const service = render('sixgate.yaml.5');
  for (const o of OPTIONS) {
    assert.match(service, new RegExp(`^ {7}${o.key}\\b`, 'm'), o.key);
    assert.ok(service.includes(o.env) && service.includes(o.flag.split(' ')[0]!), o.key);
  }
  const nat = render('sixgate-nat.yaml.5');
  const keys = (schema: { properties?: object }): string[] => Object.entries(schema.properties ?? {})
    .flatMap(([key, p]: [string, { items?: { properties?: object } }]) => [key, ...keys(p.items ?? {})]);
  for (const key of keys(NAT_FILE_SCHEMA)) assert.match(nat, new RegExp(`^ {7}${key}\\b`, 'm'), key);
});

test('the units\' Documentation= name these pages', () => {
  for (const unit of ['sixgate.service', 'sixgate-ndp.service']) {
    const docs = /^Documentation=(.*)$/m.exec(readFileSync(join(repoRoot, 'systemd', unit), 'utf8'))?.[1] ?? '';
    assert.ok(docs.split(' ').includes('man:sixgate(8)'), unit);
  }
  assert.match(readFileSync(join(repoRoot, 'systemd', 'sixgate.service'), 'utf8'), /^Documentation=.*man:sixgate\.yaml\(5\)/m);
});
