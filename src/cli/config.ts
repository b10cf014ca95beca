// `sixgate config check FILE`: validates a service configuration file
// against the schema. Exit 0 when valid, 2 with one line naming
// file:line:column and the key when not. `sixgate config options` prints the
// table of keys, flags and environment variables.
import type { Command } from 'commander';
import { ConfigError } from '../errors.js';
import { readConfigFile } from '../config/load.js';
import { OPTIONS } from '../config/options.js';

export function registerConfig(program: Command): void {
  const config = program.command('config').description('service configuration: check a file, list the options');
  config
    .command('check <file>')
    .description('validate a sixgate.yaml (exit 0 valid, 2 invalid with the key and line)')
    .action((file: string) => {
      try {
        const values = readConfigFile(file);
        process.stdout.write(`${file}: valid (${Object.keys(values).length} keys set)\n`);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        process.stderr.write(`${err.message}\n`);
        process.exitCode = 2;
      }
    });
  config
    .command('options')
    .description('print every option: YAML key, flag, environment variable, default')
    .action(() => {
      const rows = OPTIONS.map((o) => `${o.key}\t${o.flag}\t${o.env}\t${o.defaultText}\t${o.description}`);
      process.stdout.write(`key\tflag\tenv\tdefault\tdescription\n${rows.join('\n')}\n`);
    });
}
