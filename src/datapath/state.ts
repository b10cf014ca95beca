// The connection table's state file (src/io/statefile.ts) as the data path
// uses it: adopted at start when it fits, moved with the table when the table
// is rebuilt. The service uses it for its one table and each packet worker
// (workers.ts) for its shard's.
import { setFlagsFromString } from 'node:v8';
import type { Logger } from 'pino';
import { NativeIoError, SnapshotError } from '../errors.js';
import { StateFile } from '../io/statefile.js';
import { monotonicMs } from '../io/ring.js';
import type { Nat66 } from '../nat/nat66.js';
import { META_WORDS } from '../nat/layout.js';

/** What these functions log through: a pino logger, or a worker's stand-in that sends the lines to the main thread. */
export type StateLog = Pick<Logger, 'info' | 'warn'>;

/** Bytes of the table's header (its meta words), what a state file is checked by before it is mapped. */
const TABLE_HEADER_BYTES = META_WORDS * 4;

/**
 * nat.adopt(now), its code compiled with feedback vectors from the first
 * call: the rebuild runs once, cold, over every record while the restart
 * waits, and with V8's default (feedback only after a function has run a
 * while) its optimized code was thrown away again and again for lack of
 * feedback (a quarter of the adoption's time at 100,000 sessions).
 */
function adoptCold(nat: Nat66, now: number): number {
  setFlagsFromString('--no-lazy-feedback-allocation');
  try {
    return nat.adopt(now);
  } finally {
    setFlagsFromString('--lazy-feedback-allocation');
  }
}

/**
 * Opens the state file and maps it over the engine's table: adopted when
 * its header fits this table, configuration and boot (the sessions are
 * then rebuilt from their records, see Nat66.adopt), otherwise replaced by
 * the fresh table with one log line saying why. Returns the open file and
 * how many sessions were adopted. A file another process holds is an
 * error; one that cannot be used (permissions, a full disk) is a warning,
 * and the table runs in memory only.
 */
export function adoptState(nat: Nat66, path: string | undefined, boot: Uint32Array | undefined, log: StateLog): { state: StateFile | undefined; restored: number } {
  if (path === undefined || boot === undefined) return { state: undefined, restored: 0 };
  let file: StateFile;
  try {
    file = StateFile.open(path);
  } catch (err) {
    return { state: unbacked(err, path, log), restored: 0 };
  }
  try {
    const memory = nat.table.buffer;
    const size = file.size;
    let problem: string | undefined;
    if (size === memory.byteLength) {
      const now = monotonicMs();
      try {
        nat.checkState(file.header(TABLE_HEADER_BYTES), now, boot);
      } catch (err) {
        if (!(err instanceof SnapshotError)) throw err;
        problem = err.message;
      }
      if (problem === undefined) {
        file.mapOver(memory);
        const dropped = adoptCold(nat, now);
        log.info({ file: file.path, sessions: nat.table.count, dropped }, 'connection table restored');
        return { state: file, restored: nat.table.count };
      }
    } else if (size !== 0) {
      problem = `state file is ${size} bytes, this table needs ${memory.byteLength} (truncated, or another capacity or network count)`;
    }
    if (problem !== undefined) log.warn({ file: file.path, reason: problem }, 'state file discarded; starting with an empty table');
    nat.table.bootId = boot;
    return { state: StateFile.create(path, memory, file), restored: 0 };
  } catch (err) {
    file.close();
    return { state: unbacked(err, path, log), restored: 0 };
  }
}

/** A rebuilt table (maybe another size) goes to a new file renamed over the old one; returns it (none when that failed). */
export function moveState(fresh: Nat66, state: StateFile | undefined, boot: Uint32Array, log: StateLog): StateFile | undefined {
  if (state === undefined) return undefined;
  fresh.table.bootId = boot;
  const path = state.path;
  try {
    return StateFile.create(path, fresh.table.buffer, state);
  } catch (err) {
    state.close();
    return unbacked(err, path, log);
  }
}

/**
 * A state file that cannot be used: another process's (EAGAIN) is an error,
 * as two daemons must never share a table; any other I/O error is logged
 * once and the table runs in memory only.
 */
function unbacked(err: unknown, file: string, log: StateLog): undefined {
  if (!(err instanceof NativeIoError) || err.errno === 'EAGAIN') throw err;
  log.warn({ file, err: err.message }, 'state file unusable: connections will not survive a restart');
  return undefined;
}
