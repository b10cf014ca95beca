import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from '../support/paths.js';
import { CHECKED_SCHEMAS, schemaKey } from '../../src/config/yaml.js';
import { VALIDATORS } from '../../src/config/validators.js';

test('every configuration schema has its precompiled validator, what the schema compiles to (npm run build:schemas)', async () => {
  const compiler = await import(pathToFileURL(join(repoRoot, 'scripts', 'compile-schemas.mjs')).href) as {
    TARGET: string; SCHEMA_MODULES: string[]; generated(): Promise<string>;
  };
  for (const module of compiler.SCHEMA_MODULES) await import(pathToFileURL(join(repoRoot, 'dist', module)).href);
  assert.equal(CHECKED_SCHEMAS.length, compiler.SCHEMA_MODULES.length, 'one schema a module');
  for (const schema of CHECKED_SCHEMAS) {
    assert.equal(typeof VALIDATORS[schemaKey(schema)], 'function', `${compiler.TARGET} is stale: run npm run build && npm run build:schemas`);
  }
  assert.equal(readFileSync(join(repoRoot, compiler.TARGET), 'utf8'), await compiler.generated(), `${compiler.TARGET} is stale: run npm run build && npm run build:schemas`);
});

test('a schema key changes with the schema', () => {
  const schema = { type: 'object', properties: { a: { type: 'integer', maximum: 10 } } };
  const changed = { type: 'object', properties: { a: { type: 'integer', maximum: 11 } } };
  assert.equal(schemaKey(schema), schemaKey(structuredClone(schema)));
  assert.notEqual(schemaKey(schema), schemaKey(changed));
});
