// `sixgate ndp sessions [-o table|json]`: the running NDP proxy's sessions
// (ndppd's session list: the targets of iface/auto rules being verified or
// verified), with their state, the rule that made each one and its age.
// A subcommand of `sixgate ndp`, which without one is the daemon.
import { Command } from 'commander';
import { addClientOptions, ask, columns, duration, type ClientOptions } from './control-client.js';
import type { NdpSessionView } from '../service/inspect.js';

export function ndpSessionsCommand(): Command {
  return addClientOptions(new Command('sessions')
    .description('list the running NDP proxy\'s sessions (target, state, rule, age), like ndppd\'s'))
    .action(async (opts: ClientOptions) => {
      const sessions = await ask(opts, { op: 'ndp-sessions' }) as NdpSessionView[] | undefined;
      if (sessions === undefined) return;
      if (opts.output === 'json') {
        process.stdout.write(`${JSON.stringify(sessions, null, 2)}\n`);
        return;
      }
      const rows = sessions.map((s) => [s.uplink, s.target, s.state, s.rule, duration(s.ageMs), duration(s.expiresInMs)]);
      process.stdout.write(`${columns([['uplink', 'target', 'state', 'rule', 'age', 'expires in'], ...rows])}\n${sessions.length} session${sessions.length === 1 ? '' : 's'}\n`);
    });
}
