// Builds the addon with node-gyp against the headers of the node that runs
// this script. There is no network for header downloads and npm 11 ignores
// the `nodedir` user config, so the header directory is passed explicitly.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const args = ['rebuild', '--directory', here];

// A distro node (/usr/bin/node) keeps its headers in /usr/include/node; an
// official tarball keeps them in <prefix>/include/node. Either way the prefix
// is two levels above the executable.
const prefix = resolve(process.execPath, '..', '..');
if (existsSync(resolve(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
else if (process.env.npm_config_nodedir) args.push(`--nodedir=${process.env.npm_config_nodedir}`);

// Our devDependency (wherever npm hoisted it), else the node-gyp that npm
// itself ships and names in npm_config_node_gyp for lifecycle scripts.
function findGyp() {
  try {
    return createRequire(resolve(root, 'package.json')).resolve('node-gyp/bin/node-gyp.js');
  } catch {
    const bundled = process.env.npm_config_node_gyp;
    return bundled && existsSync(bundled) ? bundled : undefined;
  }
}
const gyp = findGyp();
if (gyp === undefined) {
  process.stderr.write('sixgate: node-gyp not found; run `npm ci` (it is a devDependency) or install node-gyp\n');
  process.exit(1);
}
const run = spawnSync(process.execPath, [gyp, ...args], { stdio: 'inherit', cwd: here });
if (run.status !== 0) {
  process.stderr.write('sixgate: building the native addon failed; it needs python3, make and a C compiler ' +
    '(apt-get install python3 make gcc) and the Node headers (include/node/node_api.h)\n');
  process.exit(run.status ?? 1);
}
