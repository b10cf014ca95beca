// Every error that is not a dropped packet lives here, with a stable `code`
// that scripts and tests can match on. Dropped packets are never exceptions:
// they are reason codes counted by the engines (see src/wire/error.ts).

export class SixgateError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** An invalid configuration file, flag or value. Nothing on the host has been touched. */
export class ConfigError extends SixgateError {
  readonly file: string | undefined;
  readonly line: number | undefined;
  readonly column: number | undefined;
  constructor(message: string, where: { file?: string; line?: number; column?: number } = {}) {
    const at = where.file === undefined ? '' :
      `${where.file}${where.line === undefined ? '' : `:${where.line}`}${where.column === undefined ? '' : `:${where.column}`}: `;
    super('SIXGATE_ERR_CONFIG', at + message);
    this.file = where.file;
    this.line = where.line;
    this.column = where.column;
  }
}

/** A capture file that cannot be read at all (a bad record inside one is reported per packet instead). */
export class PcapError extends SixgateError {
  constructor(message: string) {
    super('SIXGATE_ERR_PCAP', message);
  }
}

/**
 * A failed system call in the native addon: carries the errno name (`EPERM`),
 * the call that failed and a sentence telling the operator what to do.
 */
export class NativeIoError extends SixgateError {
  readonly errno: string;
  readonly syscall: string;
  constructor(errno: string, syscall: string, message: string) {
    super(`SIXGATE_ERR_IO_${errno}`, message);
    this.errno = errno;
    this.syscall = syscall;
  }
}

/** The native addon is missing or was built for another Node ABI. */
export class AddonLoadError extends SixgateError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SIXGATE_ERR_ADDON', message, options);
  }
}

/**
 * A connection-table snapshot that cannot be restored: wrong magic or version,
 * another geometry or configuration, truncated or corrupted. The live table is untouched.
 */
export class SnapshotError extends SixgateError {
  constructor(message: string) {
    super('SIXGATE_ERR_SNAPSHOT', message);
  }
}

/**
 * The Docker Engine API could not be reached or answered with an error.
 * `reason` says what the operator can do: the socket is missing, permission
 * is denied, the engine refuses connections or answered with an HTTP status.
 */
export class DockerApiError extends SixgateError {
  readonly reason: 'socket-missing' | 'permission-denied' | 'engine-down' | 'http' | 'protocol';
  readonly status: number | undefined;
  constructor(reason: DockerApiError['reason'], message: string, options?: { status?: number; cause?: unknown }) {
    super(`SIXGATE_ERR_DOCKER_${reason.toUpperCase().replace('-', '_')}`, message, options);
    this.reason = reason;
    this.status = options?.status;
  }
}

/** Another sixgate instance holds the single-instance lock. */
export class InstanceLockedError extends SixgateError {
  constructor(message: string) {
    super('SIXGATE_ERR_LOCKED', message);
  }
}

/**
 * The host cannot run the data path as configured: a missing capability,
 * device, sysctl or kernel feature. The message names exactly what to change.
 */
export class HostSetupError extends SixgateError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super('SIXGATE_ERR_HOST_SETUP', problems.length === 1 ? problems[0]! : `host not ready:\n  - ${problems.join('\n  - ')}`);
    this.problems = problems;
  }
}

/**
 * A control-socket request that was refused (`reason` is the protocol's error
 * code: bad-json, too-large, unknown-op, bad-request, busy, ...), or a daemon
 * the CLI could not reach (`reason` no-daemon).
 */
export class ControlError extends SixgateError {
  readonly reason: string;
  constructor(reason: string, message: string) {
    super('SIXGATE_ERR_CONTROL', message);
    this.reason = reason;
  }
}
