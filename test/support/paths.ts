// Locations the tests share, computed from this file so they hold both from
// the TypeScript sources (test/support) and the compiled output (dist/test/support).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';

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
/** Reference material shared between projects: /work/shared next to the repo. */
export const sharedDir: string = resolve(repoRoot, '..', 'shared');
/** Third-party captures (README.md and decoded/*.txt inside). */
export const pcapsDir: string = join(sharedDir, 'pcaps');
