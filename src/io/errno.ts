// Negative errnos from the addon become NativeIoError with the errno name and
// a sentence telling the operator what to do. Policy lives here, not in C.
import { getSystemErrorMap } from 'node:util';
import { NativeIoError } from '../errors.js';

const systemErrors = getSystemErrorMap();
// Linux errnos the addon can return that libuv's table lacks.
const LINUX_ONLY = new Map<number, [string, string]>([
  [-77, ['EBADFD', 'file descriptor in bad state']],
]);

function describe(negErrno: number): [string, string] | undefined {
  return systemErrors.get(negErrno) ?? LINUX_ONLY.get(negErrno);
}

/** `EPERM` for -1, `E123` for an errno neither Node nor this file knows. */
export function errnoName(negErrno: number): string {
  return describe(negErrno)?.[0] ?? `E${-negErrno}`;
}

const CAPS = 'sixgate needs CAP_NET_ADMIN and CAP_NET_RAW: run it as root, or grant them ' +
  '(systemd AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW; docker --cap-add NET_ADMIN --cap-add NET_RAW)';

const BPF_CAPS = 'eBPF programs (the NAT66 fast path, answers to neighbour solicitations in the kernel, the workers\' ' +
  'queue steering) need CAP_BPF as well (Linux 5.8+; systemd: CAP_BPF in CapabilityBoundingSet and AmbientCapabilities; ' +
  'docker --cap-add BPF)';

/** What the operator should do, by syscall context and errno; undefined when nothing useful is known. */
function hint(name: string, syscall: string, subject: string): string | undefined {
  switch (name) {
    case 'EPERM':
    case 'EACCES':
      // The verifier refuses a program with EACCES; EPERM is a missing capability.
      if (syscall.startsWith('bpf ')) return name === 'EPERM' ? BPF_CAPS : undefined;
      return CAPS;
    case 'ENOENT':
      if (syscall.startsWith('open /dev/net/tun')) {
        return '/dev/net/tun is missing: run the container with --device /dev/net/tun or --privileged ' +
          '(on a bare host: modprobe tun)';
      }
      return undefined;
    case 'ENODEV':
    case 'ENXIO':
      return `there is no interface ${subject} in this network namespace (check the name with \`ip link\`)`;
    case 'EBUSY':
      if (syscall.startsWith('open /dev/net/tun')) {
        return `${subject} already exists with other flags (TAP, multi-queue or vnet header) or is attached ` +
          'to another process: pick another name or open it with matching options';
      }
      return undefined;
    case 'EINVAL':
      if (syscall.startsWith('open /dev/net/tun')) {
        return `${subject} exists but is not a TUN device, or the name is invalid`;
      }
      return undefined;
    case 'EBADF':
      return `${subject} is closed; open it again`;
    case 'EBADFD':
      return `the interface ${subject} was deleted while open; open it again`;
    case 'EADDRNOTAVAIL':
      return `the address is not configured on ${subject}`;
    case 'EAGAIN':
      if (syscall === 'lock') return 'another sixgate process is using this state file: stop it or give this one its own --state-file';
      return undefined;
    case 'EMFILE':
    case 'ENFILE':
      return 'out of file descriptors: raise LimitNOFILE / ulimit -n';
    case 'ENETDOWN':
    case 'EIO':
      return `${subject} is down: bring the link up`;
    default:
      return undefined;
  }
}

/** A NativeIoError for a negative errno `rc` returned by `syscall` on `subject` (an interface or socket name). */
export function ioError(rc: number, syscall: string, subject: string): NativeIoError {
  const name = errnoName(rc);
  const text = describe(rc)?.[1] ?? 'unknown error';
  const todo = hint(name, syscall, subject);
  return new NativeIoError(name, syscall, `${syscall} (${subject}) failed: ${name} (${text})` + (todo ? `: ${todo}` : ''));
}

/** Throws unless `rc` is a success (>= 0); returns it for chaining. */
export function check(rc: number, syscall: string, subject: string): number {
  if (rc < 0) throw ioError(rc, syscall, subject);
  return rc;
}

/** The error a closed handle raises, before any syscall is made with a stale fd number. */
export function closedError(syscall: string, subject: string): NativeIoError {
  return new NativeIoError('EBADF', syscall, `${syscall} (${subject}) failed: ${subject} is closed`);
}
