// Running host tools without a shell: every command is execFile with an
// argument array, so no interface name, address or config value is ever
// parsed by a shell. `ip` changes go through `ip -batch -` so a whole
// reconfiguration costs one process, and `-force` lets the batch carry on
// past a line that fails (an idempotent delete of something already gone).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

export class HostCommandError extends Error {
  readonly stderr: string;
  constructor(message: string, stderr: string) {
    super(message);
    this.stderr = stderr;
  }
}

/** Runs `cmd args` (stdin = `input`), resolves stdout; rejects with stderr on a non-zero exit. */
export function run(cmd: string, args: readonly string[], input?: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err !== null) reject(new HostCommandError(`${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}`, stderr));
      else resolve(stdout);
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/**
 * Whether `tool` is an executable file on PATH (startup checks only). Looked
 * up in the file system, as execFile will: a shell's `command -v` cost a
 * process on every check, on the restart's critical path.
 */
export function hasTool(tool: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const path = join(dir, tool);
    try {
      accessSync(path, constants.X_OK);
      if (statSync(path).isFile()) return true;
    } catch {
      // Not in this directory.
    }
  }
  return false;
}

/**
 * Interface names end up as words of `ip`/`tc` batch lines: anything but a
 * plain kernel name (1-15 bytes, no whitespace or '/') could split or add a
 * command, so it is refused before a line is built.
 */
export function assertIfname(name: string): string {
  if (typeof name !== 'string' || !/^[^\s/:]{1,15}$/.test(name) || name === '.' || name === '..') {
    throw new RangeError(`not a valid interface name: ${JSON.stringify(name)}`);
  }
  return name;
}

export interface BatchResult {
  /** Lines the kernel refused, with ip's message (only with `force`). */
  failed: string[];
}

/**
 * Runs `ip [-6] [-force] -batch -` with `lines` (each one `ip` command
 * without the leading "ip"). Without `force` the first failing line rejects.
 * With `force`, failures are collected from stderr and returned.
 */
export async function ipBatch(lines: readonly string[], options: { family6?: boolean; force?: boolean } = {}): Promise<BatchResult> {
  if (lines.length === 0) return { failed: [] };
  for (const line of lines) {
    if (line.includes('\n')) throw new RangeError(`ip batch line contains a newline: ${JSON.stringify(line)}`);
  }
  const args = [...(options.family6 ?? true ? ['-6'] : []), ...(options.force ? ['-force'] : []), '-batch', '-'];
  try {
    await run('ip', args, lines.join('\n') + '\n');
    return { failed: [] };
  } catch (err) {
    if (!options.force || !(err instanceof HostCommandError)) throw err;
    // "Command failed -:3" names the 1-based line of each failure.
    const failed: string[] = [];
    for (const m of err.stderr.matchAll(/Command failed -:(\d+)/g)) {
      const line = lines[Number(m[1]) - 1];
      if (line !== undefined) failed.push(line);
    }
    // No line named (ip missing, killed by the timeout): nothing is known to have run.
    if (failed.length === 0) throw err;
    return { failed };
  }
}

/** `ip -j [-6] args...` parsed; an empty answer is []. */
export async function ipJson<T = unknown>(args: readonly string[], family6 = true): Promise<T> {
  const out = await run('ip', ['-j', ...(family6 ? ['-6'] : []), ...args]);
  const text = out.trim();
  return (text === '' ? [] : JSON.parse(text)) as T;
}

/**
 * Calls `onEvent` (debounced) when `ip -6 monitor route` (or `address`)
 * prints a line `wanted` accepts. One child process, never keeping the loop
 * alive; returns the stop function.
 */
export function monitorRoutes(wanted: (line: string) => boolean, onEvent: () => void, debounceMs: number, object: 'route' | 'address' = 'route'): () => void {
  let child: ChildProcess | undefined = spawn('ip', ['-6', 'monitor', object], { stdio: ['ignore', 'pipe', 'ignore'] });
  let timer: NodeJS.Timeout | undefined;
  let partial = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    if (timer !== undefined || !lines.some(wanted)) return;
    timer = setTimeout(() => {
      timer = undefined;
      onEvent();
    }, debounceMs);
  });
  child.on('error', () => { child = undefined; });
  child.unref();
  (child.stdout as unknown as { unref?: () => void } | null)?.unref?.();
  return () => {
    if (timer !== undefined) clearTimeout(timer);
    child?.kill();
    child = undefined;
  };
}
