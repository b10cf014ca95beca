// The connection table's state file, mapped over the table's own memory so
// the table outlives the process: every write the engine makes lands in the
// page cache, and after a SIGKILL, a crash or an OOM kill the next process
// finds the table as it was a moment before (a power loss loses what the
// kernel had not written back; the boot id in the table's header makes the
// next boot discard it anyway).
//
// The memory must be page aligned and never grow or move: a WebAssembly
// memory with a fixed size (ConnTable's `mappable`). The addon maps the file
// over it with MAP_SHARED | MAP_FIXED; the JavaScript views keep their
// addresses, only the pages behind them change. The file is locked (a POSIX
// record lock, held until the process closes it or ends) while a process
// uses it, so two daemons never share one table.
import { closeSync, constants, fstatSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { addon } from './addon.js';
import { check, ioError } from './errno.js';

// fs calls fail with a SystemError carrying a negative errno; report them like the addon's.
function fsCall<T>(syscall: string, path: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    const errno = (err as { errno?: unknown }).errno;
    if (typeof errno === 'number') throw ioError(errno, syscall, path);
    throw err;
  }
}

export class StateFile {
  readonly path: string;
  #fd: number;

  private constructor(path: string, fd: number) {
    this.path = path;
    this.#fd = fd;
  }

  /**
   * Opens the state file, creating it (and its directory) empty when there
   * is none, and locks it. Throws NativeIoError; EAGAIN means another
   * process holds it.
   */
  static open(path: string): StateFile {
    fsCall('mkdir', dirname(path), () => mkdirSync(dirname(path), { recursive: true }));
    const fd = fsCall('open', path, () => openSync(path, constants.O_RDWR | constants.O_CREAT, 0o600));
    const file = new StateFile(path, fd);
    try {
      check(addon().stateLock(fd), 'lock', path);
    } catch (err) {
      file.close();
      throw err;
    }
    return file;
  }

  /**
   * A new state file holding exactly `buffer`'s bytes, mapped over `buffer`,
   * renamed over `path`; `previous` (the file at `path`, if open) is closed
   * afterwards. The old file's inode lives on under any mapping still using
   * it, so a table that was mapped to it never sees it shrink.
   */
  static create(path: string, buffer: ArrayBuffer, previous?: StateFile): StateFile {
    const tmp = `${path}.new`;
    fsCall('unlink', tmp, () => rmSync(tmp, { force: true }));
    const file = StateFile.open(tmp);
    try {
      const bytes = new Uint8Array(buffer);
      for (let at = 0; at < bytes.byteLength;) {
        at += fsCall('write', tmp, () => writeSync(file.fd, bytes, at, bytes.byteLength - at, at));
      }
      file.mapOver(buffer);
      fsCall('rename', path, () => renameSync(tmp, path));
    } catch (err) {
      file.close();
      throw err;
    }
    previous?.close();
    return new StateFile(path, file.take());
  }

  get fd(): number {
    if (this.#fd < 0) throw ioError(-9, 'state file', this.path);
    return this.#fd;
  }

  get size(): number {
    return fsCall('fstat', this.path, () => fstatSync(this.fd).size);
  }

  /** The first `bytes` bytes (the table's header), as words; zeros past the end of the file. */
  header(bytes: number): Uint32Array {
    const out = new Uint32Array(bytes >>> 2);
    fsCall('read', this.path, () => readSync(this.fd, new Uint8Array(out.buffer), 0, out.byteLength, 0));
    return out;
  }

  /**
   * Maps the file over `buffer` (page aligned, whole pages; the file must be
   * at least as long): from now on the buffer's contents are the file's.
   */
  mapOver(buffer: ArrayBuffer): void {
    check(addon().stateMap(buffer, this.fd), 'mmap', this.path);
  }

  /** Removes the file (the mapping stays valid until the process ends). */
  remove(): void {
    fsCall('unlink', this.path, () => rmSync(this.path, { force: true }));
  }

  /** Closes the descriptor and with it the lock; a mapping stays valid. */
  close(): void {
    if (this.#fd < 0) return;
    closeSync(this.#fd);
    this.#fd = -1;
  }

  private take(): number {
    const fd = this.#fd;
    this.#fd = -1;
    return fd;
  }
}

/**
 * This boot's id (/proc/sys/kernel/random/boot_id) as four words: monotonic
 * ticks in a state file mean something only within the boot that wrote them.
 */
export function bootId(): Uint32Array {
  const path = '/proc/sys/kernel/random/boot_id';
  const text = fsCall('read', path, () => readFileSync(path, 'utf8')).replace(/[^0-9a-f]/gi, '');
  const out = new Uint32Array(4);
  for (let i = 0; i < 4; i++) out[i] = Number.parseInt(text.slice(i * 8, i * 8 + 8), 16) >>> 0;
  return out;
}
