#!/usr/bin/env node
// The `sixgate` executable. Signal handling comes first: ./signals.js is the
// first module evaluated and its handlers are in place before the program
// (commander, pino, the native addon...) is even read from disk, which the
// dynamic import below defers. See signals.ts for why.
import { exitIfRouted } from './signals.js';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// Run only as the program (also through the /usr/bin/sixgate symlink), never
// because another module imported this one: a stray import must not start a daemon.
function isEntryPoint(): boolean {
  try {
    return realpathSync(process.argv[1] ?? '') === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  const { buildProgram } = await import('./program.js');
  await (await buildProgram(process.argv)).parseAsync(process.argv);
  exitIfRouted();
}
