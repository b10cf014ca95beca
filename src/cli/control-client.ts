// What the control-socket clients (`sixgate status`, `flows`, `ndp sessions`,
// `counters --live`) share: the --socket and -o options, asking the daemon,
// printing columns, and turning a refusal into one line on stderr and exit 1.
import { Option, type Command } from 'commander';
import { DEFAULT_CONTROL_SOCKET, request, type ControlClientOptions } from '../service/control.js';
import { SixgateError } from '../errors.js';

export interface ClientOptions {
  socket: string;
  output: 'table' | 'json';
}

/** -s/--socket (default: SIXGATE_CONTROL_SOCKET, else the daemons' default). */
export function addSocketOption(cmd: Command): Command {
  return cmd.option('-s, --socket <path>', 'control socket of the daemon [env SIXGATE_CONTROL_SOCKET]', process.env.SIXGATE_CONTROL_SOCKET ?? DEFAULT_CONTROL_SOCKET);
}

/** -s/--socket and -o table|json. */
export function addClientOptions(cmd: Command): Command {
  return addSocketOption(cmd)
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'));
}

/** Asks the daemon; a refusal or no daemon is one line on stderr and exit status 1. */
export async function ask(opts: Pick<ClientOptions, 'socket'>, body: { op: string; [key: string]: unknown }, onPart?: (part: unknown[]) => void,
  options?: ControlClientOptions): Promise<unknown> {
  // `sixgate flows | head`: a reader that has seen enough ends the listing quietly.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  try {
    return await request(opts.socket, body, onPart, options);
  } catch (err) {
    process.stderr.write(`sixgate: ${err instanceof SixgateError ? err.message : String(err)}\n`);
    process.exitCode = 1;
    return undefined;
  }
}

/** Rows as left-aligned columns, two spaces apart. */
export function columns(rows: readonly (readonly string[])[], indent = ''): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((cell, i) => { widths[i] = Math.max(widths[i] ?? 0, cell.length); });
  return rows.map((r) => indent + r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n');
}

/** "3.2 s", "4 min", "2 h": a duration for people. */
export function duration(ms: number): string {
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(s < 36_000 ? 1 : 0)} h`;
}
