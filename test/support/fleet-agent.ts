// A fleet host for the tests and the bench: the real FleetAgent of
// `sixgate run --fleet`, run as its own process (inside a host's namespace)
// with its options as one JSON argument. Prints "held <sub-prefix>" once
// its lease is held and its routes are in place; SIGTERM stops it keeping
// lease and routes, SIGINT stops it with --cleanup's release.
import { createLogger } from '../../src/log.js';
import { FleetAgent, type FleetOptions } from '../../src/service/fleet.js';

// `node --test dist/test/` runs every file of the tree, this one too: without its argument it is
// not a host to start, and does nothing.
const arg = process.argv[2];
if (arg !== undefined) {
  const options = JSON.parse(arg) as Omit<FleetOptions, 'log'>;
  const agent = await FleetAgent.create({ ...options, log: createLogger({ level: 'warn', destination: process.stderr }) });
  process.once('SIGTERM', () => void agent.stop(false).then(() => process.exit(0)));
  process.once('SIGINT', () => void agent.stop(true).then(() => process.exit(0)));
  const subprefix = await agent.start();
  process.stdout.write(`held ${subprefix}\n`);
}
