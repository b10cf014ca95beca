import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from '../support/paths.js';
import { schemaKey } from '../../src/config/yaml.js';
import { VALIDATORS } from '../../src/config/validators.js';
import { FILE_SCHEMA } from '../../src/config/options.js';
import { NAT_FILE_SCHEMA } from '../../src/datapath/nat-file.js';

test('the precompiled schema validators are what the schemas compile to (npm run build:schemas)', async () => {
  const compiler = await import(pathToFileURL(join(repoRoot, 'scripts', 'compile-schemas.mjs')).href) as {
    TARGET: string; generated(): Promise<string>;
  };
  for (const schema of [FILE_SCHEMA, NAT_FILE_SCHEMA]) {
    assert.equal(typeof VALIDATORS[schemaKey(schema)], 'function', `${compiler.TARGET} is stale: run npm run build:schemas`);
  }
  assert.equal(readFileSync(join(repoRoot, compiler.TARGET), 'utf8'), await compiler.generated(), `${compiler.TARGET} is stale: run npm run build:schemas`);
});

test('a schema key changes with the schema', () => {
  const schema = { type: 'object', properties: { a: { type: 'integer', maximum: 10 } } };
  const changed = { type: 'object', properties: { a: { type: 'integer', maximum: 11 } } };
  assert.equal(schemaKey(schema), schemaKey(structuredClone(schema)));
  assert.notEqual(schemaKey(schema), schemaKey(changed));
});
