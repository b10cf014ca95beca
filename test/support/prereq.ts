// Prerequisites for suites that need root, a kernel feature or a Debian tool.
// Locally a missing prerequisite skips the suite with the reason; in CI
// (CI=true) it fails, so a suite can never silently stop running there.
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';

const inCi = process.env.CI === 'true' || process.env.CI === '1';

/** Returns a reason string when `tools` (commands on PATH) or root are missing, else undefined. */
export function missing(req: { root?: boolean; tools?: string[]; files?: string[] }): string | undefined {
  if (req.root && process.getuid?.() !== 0) return 'needs root';
  for (const tool of req.tools ?? []) {
    try {
      execFileSync('sh', ['-c', `command -v "$1"`, 'sh', tool], { stdio: 'ignore' });
    } catch {
      return `needs ${tool} on PATH (apt-get install it; .ci/run does)`;
    }
  }
  for (const file of req.files ?? []) {
    try {
      accessSync(file, constants.R_OK);
    } catch {
      return `needs ${file}`;
    }
  }
  return undefined;
}

/**
 * Options for `describe`/`test`: `{ skip: reason }` locally, and in CI a
 * thrown error at load time so the run fails loudly.
 */
export function requires(req: { root?: boolean; tools?: string[]; files?: string[] }): { skip?: string } {
  const reason = missing(req);
  if (reason === undefined) return {};
  if (inCi) throw new Error(`prerequisite missing in CI: ${reason}`);
  return { skip: reason };
}
