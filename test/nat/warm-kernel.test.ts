import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from '../support/paths.js';

interface Kernel { wat: string; ts: string; name: string }

test('the embedded WebAssembly kernels are what their .wat sources assemble to (npm run build:wasm)', async () => {
  const assembler = await import(pathToFileURL(join(repoRoot, 'scripts', 'assemble-wasm.mjs')).href) as {
    KERNELS: Kernel[]; generated(kernel: Kernel): Promise<string>;
  };
  assert.ok(assembler.KERNELS.length > 0);
  for (const kernel of assembler.KERNELS) {
    assert.equal(readFileSync(join(repoRoot, kernel.ts), 'utf8'), await assembler.generated(kernel), `${kernel.ts} is stale: run npm run build:wasm`);
  }
});
