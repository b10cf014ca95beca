// Locations the tests share, computed from this file so they hold both from
// the TypeScript sources (test/support) and the compiled output (dist/test/support).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

function findRepoRoot(): string {
  // Walk up to the first package.json: one level more when running from dist/.
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
  return dir;
}

/** The repository root (the directory holding package.json). */
export const repoRoot: string = findRepoRoot();
/** The test captures (README.md gives each file's origin and licence; tcpdump's decodes in decoded/). */
export const capturesDir: string = join(repoRoot, 'test', 'fixtures', 'captures');
