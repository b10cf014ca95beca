// `npm run bench -- NAME [args]`: runs bench/NAME.ts, which exports
// `async function run(args: string[])`. Benchmarks live here, never in tests:
// their figures depend on the machine, their allocation checks do not.
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface BenchModule {
  run(args: string[]): Promise<void>;
}

const here = fileURLToPath(new URL('.', import.meta.url));

function available(): string[] {
  return readdirSync(here)
    .filter(f => f.endsWith('.js') && f !== 'main.js')
    .map(f => f.slice(0, -'.js'.length))
    .sort();
}

const [name, ...args] = process.argv.slice(2);
const names = available();
if (name === undefined || !names.includes(name)) {
  process.stderr.write(`${name === undefined ? 'no benchmark named' : `unknown benchmark "${name}"`}; available: ${names.join(', ')}\n` +
    'usage: npm run bench -- NAME [args]\n');
  process.exitCode = 2;
} else {
  const mod = (await import(`./${name}.js`)) as BenchModule;
  await mod.run(args);
}
