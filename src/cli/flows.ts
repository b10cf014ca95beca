// `sixgate flows [-o table|json] [--container NAME] [--proto P] [--port N]`:
// the NAT66 sessions of the running daemon, as `conntrack -L` lists them:
// protocol, state, the inside, outside (external) and remote endpoints, the
// time left before expiry, packets and bytes per direction, the container.
// The daemon walks its table in slices between batches of packets and
// streams them; this prints each slice as it comes, so a million sessions
// list in constant memory on both sides. --watch prints sessions opening,
// changing TCP state and closing, as `conntrack -E` does.
import { Option, type Command } from 'commander';
import { addClientOptions, ask, type ClientOptions } from './control-client.js';
import type { FlowEvent, FlowView } from '../service/inspect.js';
import { PROTO_CLASS_NAMES } from '../nat/types.js';

interface FlowsOptions extends ClientOptions {
  container?: string;
  proto?: string;
  port?: string;
  watch?: boolean;
}

// path: "fast" while the kernel's fast path translates the session's packets, "tun" otherwise.
const HEADER = ['proto', 'state', 'inside', 'outside', 'remote', 'expires', 'pkts out', 'bytes out', 'pkts in', 'bytes in', 'path', 'container'];
const WIDTHS = [6, 11, 30, 30, 30, 7, 8, 11, 8, 11, 4, 0];

function row(cells: readonly string[]): string {
  return cells.map((c, i) => (WIDTHS[i] === 0 ? c : c.padEnd(WIDTHS[i]!))).join(' ').trimEnd();
}

export function formatFlow(f: FlowView): string {
  return row([f.protocol, f.protocol === 'tcp' ? f.state : '-', `[${f.inside}]:${f.insidePort}`, `[${f.external}]:${f.externalPort}`,
    `[${f.remote}]:${f.remotePort}`, `${Math.max(0, Math.round(f.expiresInMs / 1000))}s`,
    String(f.packetsOut), String(f.bytesOut), String(f.packetsIn), String(f.bytesIn), f.fastPath === true ? 'fast' : 'tun', f.container ?? '-']);
}

export function registerFlows(program: Command): void {
  addClientOptions(program
    .command('flows')
    .description('the NAT66 sessions of the running daemon, as conntrack -L shows them'))
    .option('--container <name>', 'only the sessions of this container (name or id prefix; sixgate run)')
    .addOption(new Option('--proto <protocol>', 'only this protocol').choices(PROTO_CLASS_NAMES))
    .option('--port <n>', 'only sessions with this port on any side (inside, outside or remote)')
    .option('--watch', 'print sessions as they open, change TCP state and close (conntrack -E; looks once a second) until Ctrl-C')
    .action(async (opts: FlowsOptions) => {
      const body: { op: string; [key: string]: unknown } = { op: 'flows' };
      if (opts.container !== undefined) body.container = opts.container;
      if (opts.proto !== undefined) body.proto = opts.proto;
      if (opts.port !== undefined) {
        const port = Number(opts.port);
        if (!Number.isInteger(port) || port < 0 || port > 65535) {
          process.stderr.write(`sixgate: --port must be an integer in 0..65535, not ${JSON.stringify(opts.port)}\n`);
          process.exitCode = 2;
          return;
        }
        body.port = port;
      }
      if (opts.watch === true) {
        await watch(opts, body);
        return;
      }
      const json = opts.output === 'json';
      let first = true;
      // The header once the daemon answered, so a refusal prints nothing on stdout.
      let started = false;
      const write = (text: string): void => {
        if (!started) process.stdout.write(json ? '[' : `${row(HEADER)}\n`);
        started = true;
        process.stdout.write(text);
      };
      const count = await ask(opts, body, (part) => {
        const flows = part as FlowView[];
        if (json) {
          write(flows.map((f, i) => `${first && i === 0 ? '\n' : ',\n'}${JSON.stringify(f)}`).join(''));
          first &&= flows.length === 0;
        } else {
          write(`${flows.map(formatFlow).join('\n')}\n`);
        }
      });
      if (count === undefined) return;
      write(json ? `${first ? '' : '\n'}]\n` : `${count as number} session${count === 1 ? '' : 's'}\n`);
    });
}

/** `--watch`: one line per event (`-o json`: one JSON object a line), until Ctrl-C. */
async function watch(opts: FlowsOptions, body: { op: string; [key: string]: unknown }): Promise<void> {
  const json = opts.output === 'json';
  let started = false;
  await ask(opts, { ...body, op: 'flows-watch' }, (part) => {
    if (!started && !json) process.stdout.write(`${'event'.padEnd(9)} ${row(HEADER)}\n`);
    started = true;
    for (const e of part as FlowEvent[]) {
      process.stdout.write(json ? `${JSON.stringify(e)}\n` : `${`[${e.event.toUpperCase()}]`.padEnd(9)} ${formatFlow(e)}\n`);
    }
  }, { timeoutMs: 0 });
}
