// A command run to completion from a test: its exit code and output, killed
// with SIGKILL if it overruns.
import { spawn } from 'node:child_process';

export interface Run { code: number | null; stdout: string; stderr: string }

export interface RunOptions {
  /** SIGKILL after this long (default 60 s). */
  timeoutMs?: number;
  /** The child's whole environment (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /** Run as this uid (and the same gid). */
  uid?: number;
}

export function runProcess(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<Run> {
  const { timeoutMs = 60_000, env, uid } = options;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env, ...(uid === undefined ? {} : { uid, gid: uid }),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (err) => { clearTimeout(timer); reject(err); });
    child.once('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

/** This process's environment with sixgate logging JSON lines (on stderr), for tests that read its log fields. */
export function jsonLogs(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, SIXGATE_LOG_FORMAT: 'json' };
}
