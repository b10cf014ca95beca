// `npm run man`: writes the manual pages (roff) to man/ from the built
// program (dist/, so run `npm run build` first). What they are made of:
// src/cli/man.ts. test/cli/man.test.ts checks the committed pages are current.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { manPages } from '../dist/src/cli/man.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'man');
mkdirSync(dir, { recursive: true });
for (const [name, text] of await manPages()) {
  writeFileSync(join(dir, name), text);
  process.stdout.write(`${join('man', name)}\n`);
}
