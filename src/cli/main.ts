#!/usr/bin/env node
// The `sixgate` command. Each subcommand lives in its own module and adds
// itself to the program through a `register*` function.
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { registerDecode } from './decode.js';
import { registerHealth } from './health.js';
import { registerNdp } from './ndp.js';
import { registerNat } from './nat.js';
import { registerRun } from './run.js';
import { registerIpv6nat } from './ipv6nat.js';
import { registerConfig } from './config.js';
import { registerLab } from './lab.js';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

export function buildProgram(): Command {
  const program = new Command('sixgate')
    .description('Userspace IPv6 data plane for Docker hosts: NDP proxy and stateful NAT66')
    .version(pkg.version, '-V, --version', 'print the version and exit')
    .showHelpAfterError();
  registerDecode(program);
  registerHealth(program);
  registerNdp(program);
  registerNat(program);
  registerRun(program);
  registerIpv6nat(program);
  registerConfig(program);
  registerLab(program);
  return program;
}

await buildProgram().parseAsync(process.argv);
